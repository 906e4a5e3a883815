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
 * - PLAN_MAIL_SMTP_URL: sending the plan after discharge by e-mail (src/transfer/plan-mail.ts):
 *   `smtp://user:password@host:587` (STARTTLS) or `smtps://…:465` (TLS), credentials URL-encoded;
 *   with it PLAN_MAIL_FROM (the sender address, required), PLAN_MAIL_REQUIRE_TLS (`true`, the
 *   default: an `smtp://` server must upgrade with STARTTLS; `false` only for a relay on this
 *   host) and PLAN_MAIL_POLL_SECONDS (60): how often due send-plan Tasks are looked for. Unset:
 *   plan sending is off, and the Tasks wait for an integration to complete them through the API
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
  /** The service's public address (BASE_URL), for the links it writes; else from each request. */
  readonly baseUrl?: string;
  /** How often peers are polled for changes to shared plans, in ms (absent: not polled). */
  readonly syncPollMs?: number;
  /** Sending the plan after discharge by e-mail (absent: off). */
  readonly planMail?: PlanMailConfig;
  /** LOG_LEVEL: one of winston's levels (`info` unless set). */
  readonly logLevel?: LogLevel;
}

/** winston's levels, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface PlanMailConfig {
  /** smtp:// or smtps://, with credentials if the server needs a login (a secret: never logged). */
  readonly smtpUrl: string;
  readonly from: string;
  readonly requireTls: boolean;
  readonly pollMs: number;
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
    ...baseUrl(env),
    ...logLevel(env),
    ...syncPoll(env),
    ...planMail(env),
  };
}

/** LOG_LEVEL: an unknown level would make winston log nothing at all, AUTH=off warning included. */
function logLevel(env: NodeJS.ProcessEnv): { logLevel?: LogLevel } {
  const text = env.LOG_LEVEL;
  if (text === undefined || text === '') return {};
  const level = LOG_LEVELS.find((l) => l === text.trim().toLowerCase());
  if (!level)
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${text}")`);
  return { logLevel: level };
}

/**
 * BASE_URL: where callers reach this service (`https://dialog.trust.nhs.uk`, or with a path
 * prefix a proxy adds). Locations, `fullUrl`s and paging links are built from it; without it,
 * from each request's Host header, which a client chooses (behind a proxy or a cache that
 * passes Host on, a forged Host would be written into links others receive).
 */
function baseUrl(env: NodeJS.ProcessEnv): { baseUrl?: string } {
  const text = env.BASE_URL;
  if (text === undefined || text === '') return {};
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username)
    throw new ConfigError(
      `BASE_URL must be the service's public http(s) address without query, fragment or credentials, e.g. https://dialog.trust.nhs.uk (got ${JSON.stringify(text)})`,
    );
  return { baseUrl: url.href.replace(/\/+$/, '') };
}

const PLAN_MAIL_SETTINGS = ['PLAN_MAIL_FROM', 'PLAN_MAIL_REQUIRE_TLS', 'PLAN_MAIL_POLL_SECONDS'];
const EXAMPLE_SMTP_URL = 'smtp://user%40nhs.net:password@send.nhs.net:587';
/** An address, or `Name <address>`. */
const MAILBOX = /^(?:[^<>@]*<[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)$/;

function planMail(env: NodeJS.ProcessEnv): { planMail?: PlanMailConfig } {
  const text = env.PLAN_MAIL_SMTP_URL;
  if (!text) {
    const stray = PLAN_MAIL_SETTINGS.filter((n) => env[n]);
    if (stray.length > 0)
      throw new ConfigError(
        `${stray.join(', ')} set but PLAN_MAIL_SMTP_URL is not: set PLAN_MAIL_SMTP_URL to send plans by e-mail, or leave them all unset`,
      );
    return {};
  }
  // The URL may hold a password: errors name only its parts that are not secret.
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `PLAN_MAIL_SMTP_URL must be an smtp:// or smtps:// URL, e.g. ${EXAMPLE_SMTP_URL} (credentials URL-encoded)`,
    );
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new ConfigError(
      `PLAN_MAIL_SMTP_URL must be smtp:// (STARTTLS) or smtps:// (TLS) (got "${url.protocol}")`,
    );
  if (!url.hostname)
    throw new ConfigError(`PLAN_MAIL_SMTP_URL names no host, e.g. ${EXAMPLE_SMTP_URL}`);
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash)
    throw new ConfigError(
      'PLAN_MAIL_SMTP_URL takes no path or query: only smtp(s)://[user:password@]host[:port]',
    );
  if (url.password && !url.username)
    throw new ConfigError('PLAN_MAIL_SMTP_URL has a password but no user name');
  const from = env.PLAN_MAIL_FROM ?? '';
  if (!MAILBOX.test(from.trim()))
    throw new ConfigError(
      from
        ? `PLAN_MAIL_FROM must be an e-mail address or "Name <address>" (got "${from}")`
        : 'PLAN_MAIL_FROM must be set with PLAN_MAIL_SMTP_URL: the address plans are sent from, e.g. "DIALOG care plans <dialog.plans@nhs.net>"',
    );
  const tls = env.PLAN_MAIL_REQUIRE_TLS ?? 'true';
  if (tls !== 'true' && tls !== 'false')
    throw new ConfigError(`PLAN_MAIL_REQUIRE_TLS must be "true" or "false" (got "${tls}")`);
  const seconds = wholeNumber(env, 'PLAN_MAIL_POLL_SECONDS', '60', 86_400);
  if (seconds < 1)
    throw new ConfigError(
      'PLAN_MAIL_POLL_SECONDS must be a whole number from 1 to 86400 (got "0")',
    );
  return {
    planMail: {
      smtpUrl: text,
      from: from.trim(),
      requireTls: tls === 'true',
      pollMs: seconds * 1000,
    },
  };
}

function syncPoll(env: NodeJS.ProcessEnv): { syncPollMs?: number } {
  const seconds = wholeNumber(env, 'SYNC_POLL_SECONDS', '0', 86_400);
  return seconds > 0 ? { syncPollMs: seconds * 1000 } : {};
}
