/**
 * src/transfer/handover-bundle.ts `gatherHandover` pages by `_lastUpdated` (last-updated-pages.ts),
 * not `_offset`: a person with more than one search page (1000) of Observations is handed over
 * whole from a store — a FHIR server behind a loopback proxy that strips `_offset` — to a real
 * ward service (before: the store's second page was its first again, a 502, retried for ever).
 * And on an embedded store with a set clock: a resource updated while the person is gathered is
 * in the record once, at its new version, whether it had been read already or not. A server that
 * cannot be walked (it ignores `_lastUpdated` too) fails the gather rather than giving part of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Bundle,
  CarePlan,
  Observation,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import winston from 'winston';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../../src/store';
import { HandoverDeliverer } from '../../src/transfer/deliver';
import { gatherHandover } from '../../src/transfer/handover-bundle';
import type { Peer } from '../../src/transfer/peers';
import { handoverTask, withDelivery } from '../../src/transfer/transfer-task';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { startService, type TestService } from '../support/service';
import { offsetIgnoringProxy } from './offset-ignoring-proxy';
import { community, peersFor, submit, ward } from './two-trusts';

const OBS_SYSTEM = 'https://example.org/fhir/sid/test-observation';

/** Observations `<prefix><from>…` of the person, their identifiers in OBS_SYSTEM. */
function observations(subject: string, prefix: string, from: number, n: number): Observation[] {
  return Array.from({ length: n }, (_, i) => ({
    resourceType: 'Observation',
    id: `${prefix}${from + i}`,
    identifier: [{ system: OBS_SYSTEM, value: `${prefix}${from + i}` }],
    status: 'final',
    code: { text: 'test' },
    subject: { reference: subject },
  }));
}

function transaction(resources: Resource[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource) => ({
      resource,
      request: { method: 'PUT', url: `${resource.resourceType}/${resource.id ?? ''}` },
    })),
  };
}

/** Resolves once the wall clock has moved on a millisecond: the next write is at a new instant. */
async function nextMillisecond(): Promise<void> {
  const at = Date.now();
  while (Date.now() === at) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** Every Observation a service holds (read by `_offset`: the embedded store honours it). */
async function allObservations(service: TestService): Promise<Observation[]> {
  const out: Observation[] = [];
  for (;;) {
    const page = await service.store.search('Observation', {
      _count: '1000',
      _offset: String(out.length),
    });
    out.push(...(page.resources as Observation[]));
    if (page.resources.length < 1000) return out;
  }
}

describe('a handover from a store that ignores _offset', () => {
  it('carries all of a person with more than 1000 Observations to the ward, each once', async () => {
    const source = await startService();
    const destination = await startService();
    const proxy = await offsetIgnoringProxy(source.base);
    const store = openFhirServerStore({ baseUrl: proxy.url, retries: 0, timeoutMs: 30_000 });
    const peers = peersFor(community, proxy.url, ward, `${destination.base}/fhir`);
    try {
      await source.store.update(journeyPatient());
      const [start] = journeyResponses();
      await submit(source, start as QuestionnaireResponse, 'megan-price');
      // 1100 more, 100 a transaction, each at its own instant (as sessions over the years are).
      for (let t = 0; t < 11; t++) {
        await nextMillisecond();
        await source.store.transaction(
          transaction(observations('Patient/megan-price', 'o', t * 100, 100)),
        );
      }
      const held = (
        await source.store.search('Observation', {
          subject: 'Patient/megan-price',
          _count: '1',
        })
      ).total;
      expect(held).toBeGreaterThan(1100);

      const plan = (await source.store.search('CarePlan', {})).resources[0] as CarePlan;
      const task = withDelivery(
        handoverTask({
          id: 'admit',
          plan,
          patientId: 'megan-price',
          reason: 'admission',
          from: peers.self,
          to: peers.peers[0] as Peer,
          now: new Date(),
        }),
        { destination: ward.id, attempts: 0, nextAttemptAt: Date.now() - 1 },
      );
      await source.store.transaction(transaction([task]));
      const deliverer = new HandoverDeliverer({
        store,
        peers,
        logger: winston.createLogger({ silent: true }),
        concurrency: 1,
      });

      expect(await deliverer.runOnce()).toBe(1);
      const sent = await source.store.read('Task', 'admit');
      expect(sent.status).toBe('completed');

      const arrived = await allObservations(destination);
      expect(arrived).toHaveLength(held);
      const ours = arrived
        .flatMap((o) => o.identifier ?? [])
        .filter((i) => i.system === OBS_SYSTEM)
        .map((i) => i.value ?? '');
      expect(new Set(ours)).toEqual(new Set(Array.from({ length: 1100 }, (_, i) => `o${i}`)));
      expect(ours).toHaveLength(1100);
      // Keyset paging: no page of the person was asked for by _offset.
      expect(proxy.requests.filter((r) => r.includes('_offset'))).toEqual([]);
    } finally {
      await store.close();
      await proxy.close();
      await source.close();
      await destination.close();
    }
  }, 120_000);
});

describe('gatherHandover while the person is written to', () => {
  const T0 = Date.parse('2026-05-01T09:00:00Z');
  let dataDir: string;
  let embedded: EmbeddedStore;
  let clock = T0;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-gather-'));
    clock = T0;
    embedded = EmbeddedStore.open({ dataDir, now: () => new Date(clock) });
  });
  afterEach(async () => {
    await embedded.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The store, with `after` run once the first page of Observations has been answered. */
  function withHook(after: () => Promise<void>): FhirStore {
    let done = false;
    return new Proxy(embedded, {
      get(target, prop) {
        if (prop === 'search')
          return async (...args: Parameters<FhirStore['search']>) => {
            const page = await target.search(...args);
            if (args[0] === 'Observation' && !done) {
              done = true;
              await after();
            }
            return page;
          };
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    }) as FhirStore;
  }

  it('holds a resource updated mid-gather once, at its new version, read already or not', async () => {
    await embedded.update({ resourceType: 'Patient', id: 'p' });
    // 1200 at three instants: the first page (1000) ends inside the third.
    for (const [g, prefix] of ['a', 'b', 'c'].entries()) {
      clock = T0 + g;
      await embedded.transaction(transaction(observations('Patient/p', prefix, 0, 400)));
    }
    const changed = async (): Promise<void> => {
      clock = T0 + 10;
      for (const id of ['a0', 'c399']) {
        const obs = await embedded.read('Observation', id);
        await embedded.update({ ...obs, code: { text: 'changed' } });
      }
    };
    const record = await gatherHandover(withHook(changed), 'p');
    const ids = record.observations.map((o) => o.id ?? '');
    expect(ids).toHaveLength(1200);
    expect(new Set(ids).size).toBe(1200);
    for (const id of ['a0', 'c399']) {
      const obs = record.observations.find((o) => o.id === id);
      expect(obs?.meta?.versionId).toBe('2');
      expect(obs?.code.text).toBe('changed');
    }
    expect(record.observations.filter((o) => o.meta?.versionId !== '1')).toHaveLength(2);
  });
});

describe('gatherHandover from a server that ignores _lastUpdated too', () => {
  it('fails (502, at the type) rather than hand over part of the person', async () => {
    // 1000 Observations a minute apart, the same page whatever is asked: the second page, asked
    // for by _lastUpdated=ge<the last instant>, starts before it.
    const page = Array.from({ length: 1000 }, (_, i) => ({
      ...observations('Patient/p', 'o', i, 1)[0],
      meta: {
        versionId: '1',
        lastUpdated: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 60_000).toISOString(),
      },
    }));
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-type', 'application/fhir+json');
      if (url.pathname === '/fhir/Patient/p')
        return void res.end(JSON.stringify({ resourceType: 'Patient', id: 'p' }));
      const entry = url.pathname === '/fhir/Observation' ? page : [];
      res.end(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'searchset',
          total: 1500,
          entry: entry.map((resource) => ({ resource })),
        }),
      );
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
    const store = openFhirServerStore({ baseUrl: base, retries: 0, timeoutMs: 5000 });
    try {
      const failure: unknown = await gatherHandover(store, 'p').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toMatchObject({ status: 502 });
      expect((failure as { outcome?: unknown }).outcome).toMatchObject({
        issue: [{ severity: 'error', code: 'incomplete', expression: ['Observation'] }],
      });
    } finally {
      await store.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
