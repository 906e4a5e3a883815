/**
 * src/transfer/deliver.ts `dueTasks` with STORE a FHIR server that ignores `_offset` (it answers
 * every page with its first; the store adapter says so with a 502 marked `offset-ignored` on the
 * second page): each pass still claims the due Tasks its first page holds, and says once that
 * the store ignores `_offset`, instead of failing every pass with the 502. On a loopback server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Task } from '@medplum/fhirtypes';
import winston from 'winston';
import { openFhirServerStore } from '../../src/store';
import { HandoverDeliverer } from '../../src/transfer/deliver';
import { TRANSFER_TASK_SYSTEM, withDelivery } from '../../src/transfer/transfer-task';
import { community, peersFor, ward } from './two-trusts';

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
 * A FHIR server holding `tasks` that ignores `_offset` (but not `_count`) and refuses every claim
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
  it('claims the due Tasks on its first page on every pass, and says once that it ignores _offset', async () => {
    // A full first page (so a second is asked for), with three due Tasks on it.
    const { base, claims, server } = await offsetIgnoringStore(openTasks(150, new Set([0, 7, 99])));
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
      expect(claims.sort()).toEqual(['/fhir/Task/t0', '/fhir/Task/t7', '/fhir/Task/t99']);
      expect(await deliverer.runOnce()).toBe(0);
      expect(claims).toHaveLength(6);
      const said = lines.filter((l) => l.includes('ignores _offset'));
      expect(said).toHaveLength(1);
      expect(JSON.parse(said[0] ?? '{}')).toMatchObject({ level: 'warn' });
      expect(lines.join('')).not.toMatch(/handover-\d|Task\/t\d/);
    } finally {
      await store.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('another 502 on a later page still fails the pass', async () => {
    const tasks = openTasks(100, new Set([0]));
    // Pages honestly by _offset, but its second page is not JSON: the adapter's 502, unmarked.
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-type', 'application/fhir+json');
      if (url.searchParams.has('_offset')) return void res.end('not json');
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
