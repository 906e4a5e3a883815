/**
 * One server of the API benchmark (bench/api.ts), run as a child process (fork of the
 * tsc-compiled file) so the load generator and each server have their own event loop and their
 * own peak RSS. `node dist-bench/bench/api-server.js <kind>` with the options as JSON in
 * `BENCH_SERVER`:
 * - `dialog-embedded`: dialog-fhir over the embedded store (a real SQLite file in `dataDir`);
 * - `dialog-fhir-server`: dialog-fhir over the fhir-server store pointing at `storeUrl`;
 * - `fhir-router`: Medplum's fhir-router over its in-memory repository behind Express
 *   (test/support/fhir-router-server.ts), as the baseline and as the fhir-server store's server.
 * dialog-fhir runs as `dialog-fhir serve` would (createApp, winston JSON request log to stdout,
 * which the parent sends to /dev/null; AuditEvents written in batches), with the rate limit off
 * and, when `auth` is `jwt`, bearer JWTs verified against the dev key as `serve` does.
 *
 * Messages: the child sends `{ type: 'ready', base, token? }` once listening; the parent sends
 * `{ type: 'gc' }` (answered `{ type: 'gc-done', cpuUs }`, cpuUs the process's CPU time) before
 * each timed window and `{ type: 'profile-start' }` / `{ type: 'profile-stop', file }` (a CPU profile of one window),
 * `{ type: 'idle' }` (answered `{ type: 'idle-now', cpuUs }` once no request is being answered) and
 * `{ type: 'stop' }`, answered `{ type: 'stopped', maxRssKb, cpuUserMs, cpuSystemMs }` just
 * before the child exits.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/api/app';
import type { Authenticate } from '../src/api/access';
import { createLogger } from '../src/api/logger';
import { bearerAuthenticate } from '../src/api/bearer-access';
import {
  createTokenVerifier,
  DEV_AUDIENCE,
  DEV_ISSUER,
  loadDevKey,
  mintDevToken,
} from '../src/auth';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../src/store';
import { createValidator } from '../src/validation';
import { startFhirRouterServer } from '../test/support/fhir-router-server';

export type ServerKind = 'dialog-embedded' | 'dialog-fhir-server' | 'fhir-router';

export interface ServerOptions {
  /** DATA_DIR of dialog-fhir (the SQLite file and the dev signing key). */
  readonly dataDir?: string;
  /** The FHIR base the fhir-server store uses. */
  readonly storeUrl?: string;
  readonly auth?: 'jwt' | 'off';
}

export type ServerMessage =
  | { type: 'ready'; base: string; token?: string }
  | { type: 'gc-done'; cpuUs: number }
  | { type: 'idle-now'; cpuUs: number }
  | { type: 'profiling' }
  | { type: 'profile-written'; file: string }
  | { type: 'stopped'; maxRssKb: number; cpuUserMs: number; cpuSystemMs: number };

export type ParentMessage =
  | { type: 'gc' }
  | { type: 'idle' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };

/** The clinician the benchmark's token names (user/ scopes: not confined to one person). */
export const BENCH_PRACTITIONER = 'Practitioner/sam-whitfield';

/**
 * Bearer JWTs as `dialog-fhir serve` verifies them with the dev key (src/api/bearer-access.ts,
 * src/auth: ES256 signature, issuer, audience, expiry, scopes per interaction), and a clinician's
 * token for the load generator.
 */
async function devAuthentication(
  dataDir: string,
  store: FhirStore,
): Promise<{ authenticate: Authenticate; token: string }> {
  const key = await loadDevKey(dataDir);
  const verifier = createTokenVerifier({
    issuer: DEV_ISSUER,
    audience: DEV_AUDIENCE,
    keys: key.jwks,
  });
  const token = await mintDevToken(key, {
    scopes: ['user/*.cruds'],
    fhirUser: BENCH_PRACTITIONER,
    expiresIn: 3600,
  });
  return { authenticate: bearerAuthenticate(verifier, store, () => new Date()), token };
}

async function startDialog(
  kind: 'dialog-embedded' | 'dialog-fhir-server',
  options: ServerOptions,
): Promise<{ base: string; token?: string; close: () => Promise<void> }> {
  const dataDir = options.dataDir;
  if (!dataDir) throw new Error('dataDir is required');
  let store: FhirStore;
  if (kind === 'dialog-embedded') store = EmbeddedStore.open({ dataDir });
  else {
    if (!options.storeUrl) throw new Error('storeUrl is required');
    store = openFhirServerStore({ baseUrl: options.storeUrl });
  }
  const auth = options.auth === 'jwt' ? await devAuthentication(dataDir, store) : undefined;
  const app = createApp({
    validator: createValidator(),
    store,
    logger: createLogger('info'),
    rateLimitPerMinute: 0,
    ...(auth ? { authenticate: auth.authenticate } : {}),
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.express.listen(0, '127.0.0.1', () => resolve(s));
  });
  countRequests(server);
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/fhir/`,
    ...(auth ? { token: auth.token } : {}),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await app.close();
      await store.close();
    },
  };
}

/**
 * Requests this process is still answering: the load generator stops at the end of a window but
 * the server may still be working on what it had taken; the parent waits for that (`idle`).
 * Counted for dialog-fhir only: test/support/fhir-router-server.ts does not hand out its `Server`
 * (the baseline answers in milliseconds, and the fhir-server store's server is idle when the
 * dialog-fhir in front of it is).
 */
let inFlight = 0;
let whenIdle: (() => void)[] = [];

function countRequests(server: Server): void {
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      inFlight--;
      if (inFlight > 0) return;
      const waiting = whenIdle;
      whenIdle = [];
      for (const f of waiting) f();
    };
    // Not on 'close': a client that went away (the window closed) leaves the work running;
    // the handler still ends the response when it is done.
    res.once('finish', finish);
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      finish();
      return end(...args);
    }) as ServerResponse['end'];
  });
}

/**
 * The process's CPU time so far, every thread (user + system, µs): the parent takes the
 * difference over a window, per request answered. Unlike throughput, this hardly moves when
 * other processes share the machine's cores.
 */
function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function main(): Promise<void> {
  const kind = process.argv[2] as ServerKind;
  const options = JSON.parse(process.env.BENCH_SERVER ?? '{}') as ServerOptions;
  let started: { base: string; token?: string; close: () => Promise<void> };
  if (kind === 'fhir-router') {
    const router = await startFhirRouterServer();
    started = { base: router.baseUrl, close: () => router.close() };
  } else if (kind === 'dialog-embedded' || kind === 'dialog-fhir-server') {
    started = await startDialog(kind, options);
  } else throw new Error(`unknown server kind ${String(kind)}`);

  const send = (message: ServerMessage): void => {
    process.send?.(message);
  };
  let stopping = false;
  /** CPU profile of a window only (bench/api.ts --profile), not of start-up and seeding. */
  const profiler = new Session();
  // The parent gone (crashed or killed): do not linger.
  process.on('disconnect', () => {
    if (!stopping) process.exit(1);
  });
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'profile-start') {
      profiler.connect();
      profiler.post('Profiler.enable', () =>
        profiler.post('Profiler.start', () => send({ type: 'profiling' })),
      );
    } else if (message.type === 'profile-stop') {
      profiler.post('Profiler.stop', (err, result) => {
        if (!err) writeFileSync(message.file, JSON.stringify(result.profile));
        profiler.disconnect();
        send({ type: 'profile-written', file: message.file });
      });
    } else if (message.type === 'idle') {
      if (inFlight === 0) send({ type: 'idle-now', cpuUs: cpuUs() });
      else whenIdle.push(() => send({ type: 'idle-now', cpuUs: cpuUs() }));
    } else if (message.type === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      send({ type: 'gc-done', cpuUs: cpuUs() });
    } else if (message.type === 'stop') {
      stopping = true;
      void started.close().finally(() => {
        const usage = process.resourceUsage();
        send({
          type: 'stopped',
          maxRssKb: usage.maxRSS,
          cpuUserMs: usage.userCPUTime / 1000,
          cpuSystemMs: usage.systemCPUTime / 1000,
        });
        process.disconnect?.();
        // Let the profile (node --cpu-prof) be written on the way out.
        setImmediate(() => process.exit(0));
      });
    }
  });
  send({ type: 'ready', base: started.base, ...(started.token ? { token: started.token } : {}) });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
