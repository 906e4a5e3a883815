/**
 * The audit trail reaching its store (src/api/audit-trail.ts) over real HTTP:
 * - a store that fails for a while (a FHIR server down: 503) gets every event once it is back —
 *   the batch is tried again with backoff, not dropped;
 * - a store that refuses (405) is told once and not hammered;
 * - a dialog-fhir in front of another (the fhir-server store, its token naming
 *   `system/AuditEvent.c`) keeps its whole trail there; without that scope it is refused.
 * Failures are injected by wrapping a real embedded store (fault injection, not a fake store).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { AuditEvent } from '@medplum/fhirtypes';
import { createApp, type App } from '../../src/api/app';
import { mintDevToken } from '../../src/auth';
import { fault } from '../../src/service/outcomes';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../../src/store';
import { sharedValidator, startServiceWithDevKey } from '../support/service';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function capturingLogger(): { logger: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const logger = winston.createLogger({
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger, lines };
}

/** The embedded store, its transactions failing with `status` the first `times` times. */
function failing(
  store: EmbeddedStore,
  status: number,
  times: number,
): FhirStore & { tries: number } {
  const state = { tries: 0 };
  return new Proxy(store as unknown as FhirStore & { tries: number }, {
    get(target, key) {
      if (key === 'tries') return state.tries;
      // No `append`: the trail goes through transactions, as over a FHIR server.
      if (key === 'append') return undefined;
      if (key === 'transaction')
        return (bundle: Parameters<FhirStore['transaction']>[0]) => {
          state.tries++;
          if (state.tries <= times)
            return Promise.reject(fault(status, 'transient', 'the server is down', 'Bundle'));
          return store.transaction(bundle);
        };
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

async function serve(
  store: FhirStore,
  logger: winston.Logger,
): Promise<{ base: string; app: App; server: Server }> {
  const app = createApp({ validator: sharedValidator(), store, logger });
  const server = app.express.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, app, server };
}

async function auditEvents(store: FhirStore): Promise<AuditEvent[]> {
  return (await store.search('AuditEvent', { _count: '100' })).resources;
}

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

function embedded(): EmbeddedStore {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-audit-'));
  dirs.push(dir);
  return EmbeddedStore.open({ dataDir: dir });
}

it('a store down for a while gets every event once it is back (retried, not dropped)', async () => {
  const store = embedded();
  const down = failing(store, 503, 2);
  const { logger, lines } = capturingLogger();
  const { base, app, server } = await serve(down, logger);
  try {
    for (let i = 0; i < 5; i++) expect((await fetch(`${base}/fhir/Patient`)).status).toBe(200);
    await until(async () => (await auditEvents(store)).length >= 5, 10_000);
    expect(await auditEvents(store)).toHaveLength(5);
    expect(down.tries).toBe(3);
    expect(
      lines.filter((l) => l.message === 'audit events not written yet: trying again'),
    ).toHaveLength(2);
    expect(lines.some((l) => l.level === 'error')).toBe(false);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await app.close();
    await store.close();
  }
}, 60_000);

it('a store that refuses the trail (405) is told once, not tried again', async () => {
  const store = embedded();
  const refusing = failing(store, 405, 1_000);
  const { logger, lines } = capturingLogger();
  const { base, app, server } = await serve(refusing, logger);
  try {
    for (let i = 0; i < 3; i++) await fetch(`${base}/fhir/Patient`);
    await until(async () => lines.some((l) => l.level === 'error'), 10_000);
    await new Promise((r) => setTimeout(r, 600));
    expect(refusing.tries).toBe(1);
    expect(lines.filter((l) => l.message === 'audit events could not be written')).toEqual([
      expect.objectContaining({ level: 'error', events: 3 }),
    ]);
    expect(await auditEvents(store)).toHaveLength(0);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await app.close();
    await store.close();
  }
}, 60_000);

it('a dialog-fhir in front of another keeps its trail there when its token names system/AuditEvent.c', async () => {
  const { service: backing, key } = await startServiceWithDevKey();
  const opened: { app: App; server: Server; store: FhirStore }[] = [];
  try {
    const front = async (scopes: string[]) => {
      const token = await mintDevToken(key, { scopes });
      const store = openFhirServerStore({ baseUrl: `${backing.base}/fhir`, token });
      const { logger, lines } = capturingLogger();
      const served = await serve(store, logger);
      opened.push({ ...served, store });
      return { ...served, lines };
    };
    const kept = await front(['system/*.cruds', 'system/AuditEvent.c']);
    for (let i = 0; i < 4; i++) expect((await fetch(`${kept.base}/fhir/Patient`)).status).toBe(200);
    await kept.app.close();
    // The front's own events (its callers: AUTH=off there), beside the backing's events of the
    // front's requests (whose agent is the front's token).
    const fronts = (await auditEvents(backing.store)).filter((e) =>
      e.agent.some((a) => a.who?.identifier?.system === 'urn:dialog-fhir:auth'),
    );
    expect(fronts).toHaveLength(4);
    expect(fronts.every((e) => e.action === 'E')).toBe(true);
    expect(kept.lines.some((l) => l.level === 'error')).toBe(false);

    const refused = await front(['system/*.cruds']);
    await fetch(`${refused.base}/fhir/Patient`);
    await refused.app.close();
    const after = (await auditEvents(backing.store)).filter((e) =>
      e.agent.some((a) => a.who?.identifier?.system === 'urn:dialog-fhir:auth'),
    );
    expect(after).toHaveLength(4);
    expect(refused.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'audit events could not be written' }),
    );
  } finally {
    for (const o of opened) {
      await new Promise((resolve) => o.server.close(resolve));
      await o.store.close();
    }
    await backing.close();
  }
}, 60_000);
