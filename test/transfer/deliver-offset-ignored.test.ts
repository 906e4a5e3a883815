/**
 * src/transfer/deliver.ts `dueTasks` with STORE a FHIR server that ignores `_offset` (it answers
 * every page with its first): open handover Tasks are looked through by `_lastUpdated`
 * (last-updated-pages.ts), so due Tasks behind a first page of Tasks waiting to retry are
 * delivered — through a loopback proxy that takes `_offset` out of every request to a real
 * service, and delivered to another real service. A server that also ignores `_lastUpdated`
 * (a loopback model) still has the due Tasks it gives claimed, and is said once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { CarePlan, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import winston from 'winston';
import { openFhirServerStore } from '../../src/store';
import { HandoverDeliverer } from '../../src/transfer/deliver';
import type { Peer, Peers } from '../../src/transfer/peers';
import {
  deliveryState,
  handoverTask,
  TRANSFER_TASK_SYSTEM,
  withDelivery,
} from '../../src/transfer/transfer-task';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { startService } from '../support/service';
import { offsetIgnoringProxy } from './offset-ignoring-proxy';
import { community, onePlan, peersFor, submit, ward } from './two-trusts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const HOUR = 3_600_000;

/** Open handover Tasks t0…t(n-1) to the ward: those in `due` are due, the rest wait to retry. */
function openTasks(n: number, due: ReadonlySet<number>): Task[] {
  return Array.from({ length: n }, (_, i) =>
    withDelivery(
      {
        resourceType: 'Task',
        id: `t${i}`,
        meta: { versionId: '1', lastUpdated: new Date(NOW - HOUR).toISOString() },
        identifier: [{ system: TRANSFER_TASK_SYSTEM, value: `handover-${i}` }],
        status: 'requested',
        intent: 'order',
      },
      { destination: ward.id, attempts: 1, nextAttemptAt: due.has(i) ? NOW - 1 : NOW + HOUR },
    ),
  );
}

/**
 * A FHIR server holding `tasks` that ignores `_offset` and `_lastUpdated` (but not `_count`) and
 * refuses every claim
 * with 412 (another deliverer got there first), so nothing is delivered beyond the claim.
 */
async function offsetIgnoringStore(tasks: Task[]): Promise<{
  base: string;
  claims: string[];
  server: Server;
}> {
  const claims: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/fhir+json');
    if (req.method === 'PUT') {
      claims.push(url.pathname);
      res.statusCode = 412;
      res.end(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'conflict', details: { text: 'Version conflict' } }],
        }),
      );
      return;
    }
    const count = Number(url.searchParams.get('_count') ?? '100');
    res.end(
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'searchset',
        total: tasks.length,
        entry: tasks.slice(0, count).map((resource) => ({ resource })),
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  return { base, claims, server };
}

function recordingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write: (chunk: Buffer, _e, done) => {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    logger: winston.createLogger({ transports: [new winston.transports.Stream({ stream })] }),
    lines,
  };
}

describe('handover delivery over a store that ignores _offset', () => {
  /** Megan's handovers of her plan to the ward, Tasks t<from>…: due at `nextAttemptAt`. */
  function handovers(peers: Peers, plan: CarePlan, from: number, n: number, due: number): Task[] {
    const to = peers.peers[0] as Peer;
    return Array.from({ length: n }, (_, i) => {
      const task = handoverTask({
        id: `t${from + i}`,
        plan,
        patientId: 'megan-price',
        reason: 'admission',
        from: peers.self,
        to,
        now: new Date(due),
      });
      return withDelivery(task, { destination: to.id, attempts: 0, nextAttemptAt: due });
    });
  }

  it('delivers the due Tasks behind a first page of 100 waiting ones, then all 105 once due', async () => {
    const source = await startService();
    const destination = await startService();
    const proxy = await offsetIgnoringProxy(source.base);
    let now = Date.now();
    const store = openFhirServerStore({ baseUrl: proxy.url, retries: 0, timeoutMs: 10_000 });
    const { logger, lines } = recordingLogger();
    const peers = peersFor(community, proxy.url, ward, `${destination.base}/fhir`);
    try {
      await source.store.update(journeyPatient());
      const [start] = journeyResponses();
      await submit(source, start as QuestionnaireResponse, 'megan-price');
      // Each written in one transaction: the 100 waiting share one instant, the 5 due come after.
      const write = (tasks: Task[]) =>
        source.store.transaction({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: tasks.map((resource) => ({
            resource,
            request: { method: 'PUT', url: `Task/${resource.id ?? ''}` },
          })),
        });
      const plan = (await source.store.search('CarePlan', {})).resources[0] as CarePlan;
      await write(handovers(peers, plan, 0, 100, now + 3_600_000));
      await write(handovers(peers, plan, 100, 5, now - 1));
      const deliverer = new HandoverDeliverer({
        store,
        peers,
        logger,
        now: () => new Date(now),
        concurrency: 1,
      });
      const status = async (id: number): Promise<string> =>
        (await source.store.read('Task', `t${id}`)).status;

      expect(await deliverer.runOnce()).toBe(5);
      for (let i = 100; i < 105; i++) expect(await status(i)).toBe('completed');
      for (let i = 0; i < 100; i++) {
        const task = await source.store.read('Task', `t${i}`);
        expect(task.status).toBe('requested');
        expect(deliveryState(task)?.attempts).toBe(0);
      }
      expect(await onePlan(destination)).toMatchObject({ subject: expect.anything() });

      // An hour later the 100 are due too: every one is delivered.
      now += 2 * 3_600_000;
      let attempted = 0;
      for (let n = await deliverer.runOnce(); n > 0; n = await deliverer.runOnce()) attempted += n;
      expect(attempted).toBe(100);
      for (let i = 0; i < 105; i++) expect(await status(i)).toBe('completed');
      // Keyset paging: no page was asked for by _offset, and nothing had to be said about it.
      expect(proxy.requests.filter((r) => r.includes('_offset'))).toEqual([]);
      expect(lines.join('')).not.toMatch(/_offset|_lastUpdated order/);
    } finally {
      await store.close();
      await proxy.close();
      await source.close();
      await destination.close();
    }
  }, 120_000);

  it('at a store that ignores _lastUpdated too, claims the due Tasks it gives, and says so once', async () => {
    // All 150 at one instant: the first page is a tie, read whole (all 150, as this store gives
    // everything but past _count); then `gt` it brings the same Tasks again: out of range.
    const { base, claims, server } = await offsetIgnoringStore(
      openTasks(150, new Set([0, 7, 99, 120])),
    );
    const store = openFhirServerStore({ baseUrl: base, retries: 0, timeoutMs: 5000 });
    const { logger, lines } = recordingLogger();
    const deliverer = new HandoverDeliverer({
      store,
      peers: peersFor(community, 'http://127.0.0.1:1/fhir', ward, 'http://127.0.0.1:2/fhir'),
      logger,
      now: () => new Date(NOW),
    });
    try {
      // Each claim is lost (412), so none is attempted; but they were tried, not a 502 thrown.
      expect(await deliverer.runOnce()).toBe(0);
      expect(claims.sort()).toEqual([
        '/fhir/Task/t0',
        '/fhir/Task/t120',
        '/fhir/Task/t7',
        '/fhir/Task/t99',
      ]);
      expect(await deliverer.runOnce()).toBe(0);
      expect(claims).toHaveLength(8);
      const said = lines.filter((l) => l.includes('_lastUpdated order'));
      expect(said).toHaveLength(1);
      expect(JSON.parse(said[0] ?? '{}')).toMatchObject({ level: 'warn' });
      expect(lines.join('')).not.toMatch(/handover-\d|Task\/t\d/);
    } finally {
      await store.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('another 502 on a later page still fails the pass', async () => {
    // A minute apart (no tie), and its second page — asked for by _lastUpdated — is not JSON.
    const tasks = openTasks(100, new Set([0])).map((t, i) => ({
      ...t,
      meta: { versionId: '1', lastUpdated: new Date(NOW - HOUR + i * 60_000).toISOString() },
    }));
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-type', 'application/fhir+json');
      if (url.searchParams.has('_lastUpdated')) return void res.end('not json');
      res.end(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'searchset',
          total: 150,
          entry: tasks.map((resource) => ({ resource })),
        }),
      );
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
    const store = openFhirServerStore({ baseUrl: base, retries: 0, timeoutMs: 5000 });
    const deliverer = new HandoverDeliverer({
      store,
      peers: peersFor(community, 'http://127.0.0.1:1/fhir', ward, 'http://127.0.0.1:2/fhir'),
      logger: winston.createLogger({ silent: true }),
      now: () => new Date(NOW),
    });
    try {
      await expect(deliverer.runOnce()).rejects.toMatchObject({ status: 502 });
    } finally {
      await store.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
