/**
 * The community server of the crash test (crash.test.ts), run as its own process with
 * `node --import tsx`: what `dialog-fhir serve` (src/cli/serve.ts) runs — the same configuration
 * from the environment (readConfig: PORT, HOST, DATA_DIR, PEERS_FILE, RATE_LIMIT_PER_MINUTE), the
 * embedded store in DATA_DIR, the same app, bearer tokens checked against DATA_DIR's development
 * key — with one difference: the handover deliverer's timings come from the environment
 * (`CRASH_LEASE_MS`, `CRASH_POLL_MS`, `CRASH_BASE_DELAY_MS`, `CRASH_MAX_DELAY_MS`), and so does the
 * store's checkpoint threshold (`CRASH_CHECKPOINT_BYTES`, small so that kills land among
 * checkpoints). `serve` has no setting for them, and its 60 s lease would make a Task claimed at
 * the moment of the kill wait a minute before the restarted server may send it again. Not a test
 * file itself.
 *
 * To restart quickly after a kill, it is started beforehand as a standby: it loads its code and
 * compiles the validator (validating one example response), prints `warm`, and waits for a line on
 * stdin; only then does it open the store in DATA_DIR and listen. Nothing of DATA_DIR is touched
 * before that line, so what it opens is what the killed process left. It has no shutdown path: the
 * test ends it with SIGKILL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { createApp } from '../../src/api/app';
import { bearerAuthenticate } from '../../src/api/bearer-access';
import { createLogger } from '../../src/api/logger';
import { createTokenVerifier, DEV_AUDIENCE, DEV_ISSUER, loadDevKey } from '../../src/auth';
import { readConfig } from '../../src/cli/config';
import { EmbeddedStore } from '../../src/store';
import { readPeersFile } from '../../src/transfer/peers';
import { createValidator } from '../../src/validation';

function positive(name: string, unit: 'ms' | 'bytes' = 'ms'): number {
  const value = Number(process.env[name]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be set (${unit})`);
  return value;
}

/** Resolves at the first line on stdin. */
function go(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      if (chunk.includes('\n')) resolve();
    });
  });
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  if (config.store.kind !== 'embedded' || !config.peersFile)
    throw new Error('the crash server runs the embedded store with a PEERS_FILE');
  const validator = createValidator();
  const example = JSON.parse(
    readFileSync(join(__dirname, '../../examples/journey/01-community-start.json'), 'utf8'),
  ) as Bundle;
  for (const entry of example.entry ?? []) validator.validate(entry.resource);
  process.stdout.write('warm\n');
  await go();
  const store = EmbeddedStore.open({
    dataDir: config.dataDir,
    checkpointBytes: positive('CRASH_CHECKPOINT_BYTES', 'bytes'),
  });
  const key = await loadDevKey(config.dataDir);
  const verifier = createTokenVerifier({
    issuer: DEV_ISSUER,
    audience: DEV_AUDIENCE,
    keys: key.jwks,
  });
  const app = createApp({
    validator,
    store,
    logger: createLogger(),
    rateLimitPerMinute: config.rateLimitPerMinute,
    peers: readPeersFile(config.peersFile),
    authenticate: bearerAuthenticate(verifier, store, () => new Date()),
    delivery: {
      leaseMs: positive('CRASH_LEASE_MS'),
      pollMs: positive('CRASH_POLL_MS'),
      baseDelayMs: positive('CRASH_BASE_DELAY_MS'),
      maxDelayMs: positive('CRASH_MAX_DELAY_MS'),
    },
  });
  app.express.listen(config.port, config.host, () => {
    process.stdout.write('dialog-fhir listening\n');
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
