/**
 * `dialog-fhir serve`: reads configuration from the environment, opens the store, sets up
 * authentication, and serves the façade until SIGTERM/SIGINT; then it stops taking requests, lets
 * in-flight ones (writes included) finish, writes the audit trail's last events and closes the
 * store.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { JSONWebKeySet } from 'jose';
import type winston from 'winston';
import type { Authenticate } from '../api/access';
import { createApp } from '../api/app';
import { storeDefinitions } from '../service/definitions';
import { answerClientErrors } from '../api/client-errors';
import { bearerAuthenticate } from '../api/bearer-access';
import { createLogger } from '../api/logger';
import {
  authOffAnnouncement,
  createTokenVerifier,
  DEV_AUDIENCE,
  DEV_ISSUER,
  devTokenAnnouncement,
  loadDevKey,
  mintDevToken,
} from '../auth';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../store';
import { createValidator } from '../validation';
import { readPeersFile, type Peers } from '../transfer/peers';
import { PlanDistributor, type SendingLoop } from '../transfer/plan-distribution';
import { PlanMailer } from '../transfer/plan-mail';
import { ConfigError, readConfig, type Config } from './config';

/**
 * How long in-flight requests get to finish on shutdown before connections are cut: within
 * `docker stop`'s default 10 s, leaving time to write the audit trail and close the store.
 */
const DRAIN_MS = 7_000;
/** How often, with plan sending off, open send-plan Tasks are checked for their 24 hours. */
const OVERDUE_CHECK_MS = 5 * 60_000;
/** The dev token printed at start-up: a system token, valid for a working day. */
const DEV_TOKEN_SCOPES = ['system/*.cruds'];
const DEV_TOKEN_SECONDS = 8 * 3600;
/** Where the dev token is written, in DATA_DIR (mode 0600). */
export const DEV_TOKEN_FILE = 'dev-token.txt';

export async function runServe(env: NodeJS.ProcessEnv): Promise<Server> {
  const config = readConfig(env);
  const logger = createLogger(config.logLevel);
  const store = openStore(config);
  const peers = config.peersFile ? readPeersFile(config.peersFile) : undefined;
  const validator = createValidator();
  await storeDefinitions(store, validator.package).catch((err: unknown) => {
    // A FHIR server that is down now may be up later: the service starts all the same.
    logger.warn('the DIALOG Questionnaire could not be stored; it is written at the next start', {
      error: err instanceof Error ? err.message : String(err),
    });
  });
  const app = createApp({
    validator,
    store,
    logger,
    rateLimitPerMinute: config.rateLimitPerMinute,
    ...(config.baseUrl !== undefined ? { baseUrl: config.baseUrl } : {}),
    ...(peers ? { peers } : {}),
    ...(config.syncPollMs !== undefined ? { delivery: { syncPollMs: config.syncPollMs } } : {}),
    ...(await authentication(config, store, logger)),
  });
  const server = await listen(app.express, config).catch(async (err: unknown) => {
    // Nothing is served: what was opened is closed, and the process ends with the reason.
    await app.close();
    await store.close();
    throw err;
  });
  answerClientErrors(server);
  // Started before "listening" is said: whoever waits for that line (an orchestrator, a test)
  // finds the service whole, plan sending's own start-up line included.
  const sending = planSending(config, store, logger, peers);
  logger.info('dialog-fhir listening', {
    // The port bound (PORT=0 asks the system for a free one).
    port: (server.address() as AddressInfo | null)?.port ?? config.port,
    host: config.host,
    store: config.store.kind,
    auth: config.auth.mode,
  });
  const stop = (): void => {
    app.stopTaking();
    logger.info('dialog-fhir stopping: finishing in-flight requests');
    const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    force.unref();
    server.close(() => {
      void Promise.all([app.close(), sending?.stop()])
        .then(() => store.close())
        .then(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

/** AUTH_JWKS as a file: a JSON Web Key Set, or an error naming the setting. */
async function readJwksFile(file: string): Promise<JSONWebKeySet> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`AUTH_JWKS ${file} cannot be read as JSON: ${why}`);
  }
  if (!Array.isArray((parsed as Partial<JSONWebKeySet> | null)?.keys))
    throw new ConfigError(`AUTH_JWKS ${file} is not a JSON Web Key Set (no "keys" list)`);
  return parsed as JSONWebKeySet;
}

/**
 * Listens on HOST:PORT; a port in use, a host that does not resolve or a port below 1024 without
 * the right is an error naming the setting (Express 5 calls listen's callback on an error too,
 * which was taken for "listening": the service said so and exited 0).
 */
function listen(express: Express, config: Config): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(express);
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${config.host}:${config.port}`;
      const why =
        err.code === 'EADDRINUSE'
          ? `PORT ${config.port} is in use on HOST ${config.host}`
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' || err.code === 'EADDRNOTAVAIL'
            ? `HOST ${config.host} is not an address of this machine`
            : err.code === 'EACCES'
              ? `PORT ${config.port} needs privileges this process does not have`
              : `cannot listen on ${where}: ${err.message}`;
      reject(new Error(why));
    });
    server.listen(config.port, config.host, () => resolve(server));
  });
}

/**
 * Sending the plan after discharge (issue 5): with PLAN_MAIL_SMTP_URL, due send-plan Tasks are
 * e-mailed every PLAN_MAIL_POLL_SECONDS; without it, said once at start-up, and the Tasks wait
 * for an integration to complete them through the API. Logs name no one.
 */
function planSending(
  config: Config,
  store: FhirStore,
  logger: winston.Logger,
  peers: Peers | undefined,
): { stop(): Promise<void> } | undefined {
  const settings = config.planMail;
  if (!settings) {
    logger.info(
      'plan sending is off (PLAN_MAIL_SMTP_URL not set): send-plan Tasks stay requested until an integration completes them through the API',
    );
    // Still, a Task past its 24 hours is raised to priority asap, for the worklist that completes them.
    return new PlanDistributor({ store, logger }).start(undefined, OVERDUE_CHECK_MS, logger);
  }
  const mailer = new PlanMailer({
    store,
    smtp: { url: settings.smtpUrl, requireTls: settings.requireTls },
    from: settings.from,
    ...(peers ? { peers } : {}),
  });
  const loop: SendingLoop = new PlanDistributor({ store, logger }).start(
    mailer.send,
    settings.pollMs,
    logger,
  );
  const url = new URL(settings.smtpUrl);
  logger.info('plan sending is on: by e-mail through SMTP', {
    smtp: `${url.protocol}//${url.host}`,
    requireTls: settings.requireTls,
    everySeconds: settings.pollMs / 1000,
  });
  return {
    stop: async () => {
      await loop.stop();
      mailer.close();
    },
  };
}

function openStore(config: Config): FhirStore {
  if (config.store.kind === 'embedded') {
    try {
      return EmbeddedStore.open({ dataDir: config.dataDir });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`DATA_DIR ${config.dataDir} cannot hold the store: ${why}`);
    }
  }
  return openFhirServerStore({
    baseUrl: config.store.baseUrl,
    ...(config.store.token ? { token: config.store.token } : {}),
  });
}

async function authentication(
  config: Config,
  store: FhirStore,
  logger: winston.Logger,
): Promise<{ authenticate?: Authenticate }> {
  const auth = config.auth;
  if (auth.mode === 'off') {
    logger.warn(authOffAnnouncement());
    return {};
  }
  if (auth.mode === 'issuer') {
    const keys = /^https?:\/\//.test(auth.jwks)
      ? new URL(auth.jwks)
      : await readJwksFile(auth.jwks);
    const verifier = createTokenVerifier({ issuer: auth.issuer, audience: auth.audience, keys });
    return { authenticate: bearerAuthenticate(verifier, store, () => new Date()) };
  }
  const key = await loadDevKey(config.dataDir);
  const verifier = createTokenVerifier({
    issuer: DEV_ISSUER,
    audience: DEV_AUDIENCE,
    keys: key.jwks,
  });
  const token = await mintDevToken(key, {
    scopes: DEV_TOKEN_SCOPES,
    expiresIn: DEV_TOKEN_SECONDS,
  });
  // The token is a credential: it goes to a file only its owner can read, and is printed only to
  // a terminal — never into a log stream (in a container, stdout is the log).
  const tokenFile = join(config.dataDir, DEV_TOKEN_FILE);
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  await chmod(tokenFile, 0o600);
  const announcement = devTokenAnnouncement({
    token,
    key,
    scopes: DEV_TOKEN_SCOPES,
    expiresAt: new Date(Date.now() + DEV_TOKEN_SECONDS * 1000),
    baseUrl: `http://localhost:${config.port}`,
  });
  process.stdout.write(
    process.stdout.isTTY
      ? `${announcement}\nAlso in ${tokenFile}\n`
      : `AUTH=jwt with the development signing key; a dev token is in ${tokenFile}\n`,
  );
  return { authenticate: bearerAuthenticate(verifier, store, () => new Date()) };
}
