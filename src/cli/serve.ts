/** `dialog-fhir serve`: reads configuration from the environment and starts the HTTP service. */
import type { Server } from 'node:http';
import { createApp } from '../api/app';
import { readConfig } from './config';
import { createValidator } from '../validation';
import { createLogger } from '../api/logger';

export async function runServe(env: NodeJS.ProcessEnv): Promise<Server> {
  const config = readConfig(env);
  const logger = createLogger();
  const app = createApp(createValidator());
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
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
    logger.info('dialog-fhir stopping');
    server.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
