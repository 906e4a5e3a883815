/**
 * Configuration from the environment, each setting checked with a clear error:
 * - PORT (8080), HOST (0.0.0.0), DATA_DIR (./data)
 * - STORE: `embedded` (default; a SQLite file in DATA_DIR) or the base URL of a FHIR R4 server
 *   (`https://…/fhir`), with STORE_TOKEN as its bearer token if it needs one
 * - AUTH: `jwt` (default) or `off` (only when set; announced loudly)
 * - AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS (a JWKS URL or a file): the token issuer. All three,
 *   or none: with none, tokens are verified with the development key in DATA_DIR (and a dev token
 *   is printed at start-up)
 * - RATE_LIMIT_PER_MINUTE (600; 0 turns it off), LOG_LEVEL (info)
 * - PEERS_FILE: the systems plans are handed over with (src/transfer/peers.ts); none: no handover
 * - SYNC_POLL_SECONDS (0: off): how often each peer is polled by `_lastUpdated` for changes to the
 *   plans shared with it (src/transfer/plan-sync.ts); a peer's rest-hook notifications are
 *   received either way
 */
export type StoreConfig =
  | { readonly kind: 'embedded' }
  | { readonly kind: 'fhir-server'; readonly baseUrl: string; readonly token?: string };

export type AuthConfig =
  | { readonly mode: 'off' }
  | { readonly mode: 'dev-key' }
  | {
      readonly mode: 'issuer';
      readonly issuer: string;
      readonly audience: string;
      /** A URL (fetched and cached) or a path to a JWKS file. */
      readonly jwks: string;
    };

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly auth: AuthConfig;
  /** Requests per minute per caller before 429 (0: off). */
  readonly rateLimitPerMinute: number;
  readonly peersFile?: string;
  /** How often peers are polled for changes to shared plans, in ms (absent: not polled). */
  readonly syncPollMs?: number;
}

export class ConfigError extends Error {}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: string, max: number): number {
  const text = env[name] ?? fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > max)
    throw new ConfigError(`${name} must be a whole number from 0 to ${max} (got "${text}")`);
  return value;
}

function readStore(env: NodeJS.ProcessEnv): StoreConfig {
  const store = env.STORE ?? 'embedded';
  if (store === 'embedded') return { kind: 'embedded' };
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new ConfigError(
      `STORE must be "embedded" or the http(s) base URL of a FHIR R4 server (got "${store}")`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`STORE must be an http or https URL (got "${url.protocol}")`);
  return {
    kind: 'fhir-server',
    baseUrl: store,
    ...(env.STORE_TOKEN ? { token: env.STORE_TOKEN } : {}),
  };
}

function readAuth(env: NodeJS.ProcessEnv): AuthConfig {
  const auth = env.AUTH ?? 'jwt';
  if (auth !== 'jwt' && auth !== 'off')
    throw new ConfigError(`AUTH must be "jwt" or "off" (got "${auth}")`);
  if (auth === 'off') return { mode: 'off' };
  const named = ['AUTH_ISSUER', 'AUTH_AUDIENCE', 'AUTH_JWKS'].filter((n) => env[n]);
  if (named.length === 0) return { mode: 'dev-key' };
  if (named.length < 3)
    throw new ConfigError(
      `Set all of AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS, or none of them for the development key (only ${named.join(', ')} set)`,
    );
  return {
    mode: 'issuer',
    issuer: env.AUTH_ISSUER ?? '',
    audience: env.AUTH_AUDIENCE ?? '',
    jwks: env.AUTH_JWKS ?? '',
  };
}

export function readConfig(env: NodeJS.ProcessEnv): Config {
  return {
    port: wholeNumber(env, 'PORT', '8080', 65535),
    host: env.HOST ?? '0.0.0.0',
    dataDir: env.DATA_DIR ?? './data',
    store: readStore(env),
    auth: readAuth(env),
    rateLimitPerMinute: wholeNumber(env, 'RATE_LIMIT_PER_MINUTE', '600', 1_000_000),
    ...(env.PEERS_FILE ? { peersFile: env.PEERS_FILE } : {}),
    ...syncPoll(env),
  };
}

function syncPoll(env: NodeJS.ProcessEnv): { syncPollMs?: number } {
  const seconds = wholeNumber(env, 'SYNC_POLL_SECONDS', '0', 86_400);
  return seconds > 0 ? { syncPollMs: seconds * 1000 } : {};
}
