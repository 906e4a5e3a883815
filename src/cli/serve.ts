/**
 * `dialog-fhir serve`: reads configuration from the environment, opens the store, and serves the
 * façade until SIGTERM/SIGINT, then stops taking requests, lets in-flight ones (writes included)
 * finish, and closes the store.
 */
import type { Server } from 'node:http';
import { createApp } from '../api/app';
import { createLogger } from '../api/logger';
import { EmbeddedStore } from '../store';
import { createValidator } from '../validation';
import { readConfig } from './config';

/** How long in-flight requests get to finish on shutdown before connections are cut. */
const DRAIN_MS = 10_000;

export async function runServe(env: NodeJS.ProcessEnv): Promise<Server> {
  const config = readConfig(env);
  const logger = createLogger();
  const store = EmbeddedStore.open({ dataDir: config.dataDir });
  const app = createApp({
    validator: createValidator(),
    store,
    logger,
    rateLimitPerMinute: config.rateLimitPerMinute,
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.express.listen(config.port, config.host, () => resolve(s));
  });
  logger.info('dialog-fhir listening', {
    port: config.port,
    host: config.host,
    store: config.store,
  });
  if (config.auth === 'off') {
    logger.warn(
      'AUTH=off: AUTHENTICATION IS DISABLED. Never run like this with real patient data.',
    );
  }
  const stop = (): void => {
    logger.info('dialog-fhir stopping: finishing in-flight requests');
    const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    force.unref();
    server.close(() => {
      void store.close().then(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
