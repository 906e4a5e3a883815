/**
 * The HTTP façade: FHIR R4 JSON at /fhir, native formats at /native, health at /healthz and
 * /readyz. Express is a thin shell: FHIR rules live in src/service, storage in src/store, access
 * in src/auth. Order of the middleware matters and is the order a request meets it:
 * security headers → request id and log line → health and metadata (no auth) → rate limit →
 * caching rules → audit trail → authentication → query check → routes (/fhir: fhir-api.ts) →
 * 404 → errors as OperationOutcomes.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type winston from 'winston';
import { FhirService } from '../service/fhir-service';
import { NarratingStore } from '../service/narrating-store';
import { fault } from '../service/outcomes';
import { timeOrderedId, type FhirStore } from '../store';
import type { Validator } from '../validation';
import { authenticateRequests, type Authenticate } from './access';
import { AuditTrail } from './audit-trail';
import { authOffAccess } from './bearer-access';
import { cachingRules } from './caching';
import { capabilityStatement } from './capability-statement';
import { errorHandler } from './errors';
import { checkNativeQuery } from './query-parameters';
import { fhirApi } from './fhir-api';
import { inTurn } from './in-turn';
import { nativeRoutes } from './native-routes';
import { sendFhir } from './http';
import { rateLimiter } from './rate-limit';
import { uiRoutes } from '../ui';
import { HandoverDeliverer, type DelivererOptions } from '../transfer/deliver';
import { Transfers } from '../transfer/handover';
import type { Peers } from '../transfer/peers';
import { Draining } from './draining';
import { noteMount, requestLog } from './request-log';

export { BODY_LIMIT_BYTES } from './body';

export interface AppOptions {
  readonly validator: Validator;
  readonly store: FhirStore;
  readonly logger: winston.Logger;
  /** How callers are authenticated; undefined means AUTH=off (every request allowed). */
  readonly authenticate?: Authenticate;
  /** Requests per minute per caller before 429; 0 turns the limit off. */
  readonly rateLimitPerMinute?: number;
  /** The public address links are written with (BASE_URL); else each request's Host (http.ts). */
  readonly baseUrl?: string;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** The systems plans are handed over with (PEERS_FILE); without them $transfer is refused. */
  readonly peers?: Peers;
  /** How handovers are delivered (tests shorten the backoff); the loop starts with the app. */
  readonly delivery?: Omit<DelivererOptions, 'store' | 'peers' | 'logger'>;
}

export interface App {
  readonly express: express.Express;
  readonly service: FhirService;
  /** The handover deliverer, when peers are configured. */
  readonly deliverer?: HandoverDeliverer;
  /**
   * Begins a graceful stop (draining.ts): requests being answered close their connection with
   * their response, later ones are a 503, and /readyz says "stopping".
   */
  stopTaking(): void;
  /** Stops delivering and writes what the audit trail still holds (call before closing the store). */
  close(): Promise<void>;
}

/** How long `close` waits for a handover under way before writing the audit trail regardless. */
const DELIVERY_STOP_MS = 5000;

export function createApp(options: AppOptions): App {
  const now = options.now ?? (() => new Date());
  const service = new FhirService({
    // Every resource the service writes gets its narrative on the way in.
    store: new NarratingStore(options.store),
    validator: options.validator,
    now,
    // Time-ordered, so the store's B-trees grow at their ends (src/store/time-ordered-id.ts).
    newId: options.newId ?? (() => timeOrderedId()),
  });
  const app = express();
  app.disable('x-powered-by');
  // In FHIR an ETag names a version (sent back in If-Match): Express's hash of the body on a
  // search Bundle or a carer's view would look like one. Routes set the version's own.
  app.set('etag', false);
  app.set('query parser', 'simple');
  if (options.baseUrl !== undefined) app.locals.baseUrl = options.baseUrl;
  // helmet's defaults, but for `upgrade-insecure-requests`: over plain HTTP on any address but
  // loopback (the image's port 8080 without a TLS proxy) it sent /ui's style sheet and forms to
  // https, which is not there. Over HTTPS, HSTS keeps the browser there.
  const draining = new Draining();
  // One layer: every request meets these three (in-turn.ts says why they are not three layers).
  app.use(
    inTurn(
      helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }),
      requestLog(options.logger),
      draining.middleware(),
    ),
  );
  healthRoutes(app, options, draining);
  const auth = options.authenticate ? 'jwt' : 'off';
  app.get('/fhir/metadata', cachingRules, (_req, res) => {
    sendFhir(
      res,
      200,
      capabilityStatement(options.validator.package, auth, now(), {
        peers: options.peers !== undefined,
      }),
    );
  });
  const perMinute = options.rateLimitPerMinute ?? 0;
  if (perMinute > 0) app.use(rateLimiter(perMinute, { authOff: !options.authenticate }));
  // Audited before authentication, so refused logins are audited too.
  const audit = new AuditTrail(options.store, options.logger, now);
  const authenticate = options.authenticate ?? (() => Promise.resolve(authOffAccess()));
  const deliverer = options.peers
    ? new HandoverDeliverer({
        store: options.store,
        peers: options.peers,
        logger: options.logger,
        now,
        ...options.delivery,
      })
    : undefined;
  const transfers = options.peers
    ? new Transfers(service, options.peers, now, () => deliverer?.kick())
    : undefined;
  app.use('/fhir', fhirApi({ service, now, audit, authenticate, transfers, deliverer }));
  // Parameters an endpoint does not take are a 400, never ignored (query-parameters.ts).
  app.use(
    '/native',
    inTurn(cachingRules, audit.middleware(), authenticateRequests(authenticate), checkNativeQuery),
    noteMount,
    nativeRoutes(service, transfers),
  );
  const ui = uiRoutes({ service, now, ...(options.authenticate ? { authenticate } : {}) });
  app.use('/ui', inTurn(cachingRules, audit.middleware()), noteMount, ui);
  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(fault(404, 'not-found', 'No such endpoint', 'Resource'));
  });
  app.use(errorHandler(options.logger));
  deliverer?.start();
  return {
    express: app,
    service,
    ...(deliverer ? { deliverer } : {}),
    stopTaking: () => draining.stop(),
    close: async () => {
      // A delivery waiting on a slow peer must not keep the audit trail from being written
      // before the orchestrator's kill: it is given DELIVERY_STOP_MS (its Task stays due).
      if (deliverer) {
        let timer: NodeJS.Timeout | undefined;
        const waited = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, DELIVERY_STOP_MS);
        });
        await Promise.race([deliverer.stop(), waited]);
        clearTimeout(timer);
      }
      await audit.close();
    },
  };
}

function healthRoutes(app: express.Express, options: AppOptions, draining: Draining): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready: not stopping (App.stopTaking) and the store answers now (its file; its FHIR server).
  app.get('/readyz', (_req, res, next) => {
    const stopping = draining.stopped;
    const storeReady = stopping ? Promise.resolve(false) : options.store.ready();
    storeReady.then((answers) => {
      const ready = !stopping && answers;
      res.status(ready ? 200 : 503).json({
        status: ready ? 'ready' : 'not ready',
        ...(ready ? {} : { reason: stopping ? 'stopping' : 'the store does not answer' }),
        package: `${options.validator.package.name}#${options.validator.package.version}`,
      });
    }, next);
  });
}
