/**
 * Configuration from the environment, each setting checked with a clear error.
 * PORT (8080), HOST (0.0.0.0), DATA_DIR (./data), STORE (embedded), AUTH (jwt; `off` only when set).
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly store: 'embedded';
  readonly auth: 'jwt' | 'off';
  /** Requests per minute per caller before 429 (RATE_LIMIT_PER_MINUTE, default 600; 0: off). */
  readonly rateLimitPerMinute: number;
}

export class ConfigError extends Error {}

export function readConfig(env: NodeJS.ProcessEnv): Config {
  const portText = env.PORT ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT must be a whole number from 0 to 65535 (got "${portText}")`);
  }
  const store = env.STORE ?? 'embedded';
  if (store !== 'embedded') {
    throw new ConfigError(
      `STORE must be "embedded" in this version (got "${store}"); a FHIR-server store is planned`,
    );
  }
  const auth = env.AUTH ?? 'jwt';
  if (auth !== 'jwt' && auth !== 'off')
    throw new ConfigError(`AUTH must be "jwt" or "off" (got "${auth}")`);
  const rateText = env.RATE_LIMIT_PER_MINUTE ?? '600';
  if (!/^\d+$/.test(rateText))
    throw new ConfigError(
      `RATE_LIMIT_PER_MINUTE must be a whole number, 0 for no limit (got "${rateText}")`,
    );
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    dataDir: env.DATA_DIR ?? './data',
    store,
    auth,
    rateLimitPerMinute: Number(rateText),
  };
}
