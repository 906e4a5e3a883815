/**
 * A dialog-fhir service on loopback for integration tests: the real app over a real SQLite file
 * in a temporary DATA_DIR, served by Node's HTTP server on a free port. Not a test file itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createApp, type App, type AppOptions } from '../../src/api/app';
import { bearerAuthenticate } from '../../src/api/bearer-access';
import { answerClientErrors } from '../../src/api/client-errors';
import {
  createTokenVerifier,
  DEV_AUDIENCE,
  DEV_ISSUER,
  loadDevKey,
  type DevKey,
} from '../../src/auth';
import { EmbeddedStore, type FhirStore } from '../../src/store';
import { createValidator, type Validator } from '../../src/validation';

let validator: Validator | undefined;
/** One validator for the whole test file: compiling it is the slow part. */
export function sharedValidator(): Validator {
  validator ??= createValidator();
  return validator;
}

export interface TestService {
  readonly base: string;
  readonly store: EmbeddedStore;
  readonly dataDir: string;
  /** What the service logged, one JSON object per line. */
  readonly logs: string[];
  /** The app itself (its service and handover deliverer). */
  readonly app: App;
  close(): Promise<void>;
}

export interface StartOptions extends Partial<Omit<AppOptions, 'store' | 'validator' | 'logger'>> {
  /** A port chosen beforehand (see freePort), when peers must know the address in advance. */
  readonly port?: number;
  /** What the app is given in place of the store itself: a wrapper that misbehaves on cue. */
  readonly wrapStore?: (store: EmbeddedStore) => FhirStore;
}

/** A free loopback port, to give a service whose address others must know before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startService(options: StartOptions = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-api-'));
  const store = EmbeddedStore.open({ dataDir });
  const logs: string[] = [];
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _enc: string, done: () => void) {
            logs.push(chunk.toString('utf8'));
            done();
          },
        }),
      }),
    ],
  });
  const { port: wanted, wrapStore, ...appOptions } = options;
  const app = createApp({
    validator: sharedValidator(),
    store: wrapStore ? wrapStore(store) : store,
    logger,
    ...appOptions,
  });
  const server: Server = app.express.listen(wanted ?? 0, '127.0.0.1');
  answerClientErrors(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    store,
    dataDir,
    logs,
    app,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await app.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A service with AUTH on as `serve` has it without a token issuer: bearer tokens checked against
 * the development key, which the service makes in its own DATA_DIR (so it is loaded once the
 * service has started; mint tokens with `mintDevToken(key, …)`).
 */
export async function startServiceWithDevKey(
  options: Omit<StartOptions, 'authenticate'> = {},
): Promise<{ service: TestService; key: DevKey }> {
  const loaded: { key?: DevKey } = {};
  const service: TestService = await startService({
    ...options,
    authenticate: (req) => {
      const key = loaded.key;
      if (!key) throw new Error('the dev key is not loaded yet');
      const verifier = createTokenVerifier({
        issuer: DEV_ISSUER,
        audience: DEV_AUDIENCE,
        keys: key.jwks,
      });
      return bearerAuthenticate(verifier, service.store, () => new Date())(req);
    },
  });
  const key = await loadDevKey(service.dataDir);
  loaded.key = key;
  return { service, key };
}

export const FHIR_JSON = 'application/fhir+json';

/** Response bodies, read freely by tests (an assertion fails if a path is not there). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function fhir(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': FHIR_JSON } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/**
 * `store` as an app sees it, noting in `calls` the name of every method in `names` it is asked
 * for (to tell, say, whether a history was read whole or by the page).
 */
export function notingCalls(
  store: FhirStore,
  names: readonly string[],
  calls: string[],
): FhirStore {
  return new Proxy(store, {
    get(target, prop) {
      if (typeof prop === 'string' && names.includes(prop)) calls.push(prop);
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}
