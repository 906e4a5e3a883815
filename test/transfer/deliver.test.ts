/**
 * src/transfer/deliver.ts, on a real embedded store:
 * - `writeMergedPlan`: the plan written at the destination carries exactly one
 *   `dialog-handover-origin`, the sender's, even when no version both sides agreed on is known
 *   (the merge alone would keep the destination's old mark beside the new one);
 * - `HandoverDeliverer.runOnce`: how many Tasks one pass claims.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CarePlan, Task } from '@medplum/fhirtypes';
import winston from 'winston';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../../src/fhir';
import { stale } from '../../src/service/outcomes';
import {
  HandoverDeliverer,
  HANDOVER_ORIGIN_EXTENSION,
  writeMergedPlan,
} from '../../src/transfer/deliver';
import { TRANSFER_TASK_SYSTEM, withDelivery } from '../../src/transfer/transfer-task';
import { EmbeddedStore, type FhirStore } from '../../src/store';
import { community, peersFor, ward } from './two-trusts';

const IDENTIFIER = { system: CARE_PLAN_IDENTIFIER_SYSTEM, value: 'plan-of-megan' };

function plan(origin: string, activity: string): CarePlan {
  return {
    resourceType: 'CarePlan',
    status: 'active',
    intent: 'plan',
    identifier: [IDENTIFIER],
    subject: { reference: 'Patient/megan-price' },
    extension: [{ url: HANDOVER_ORIGIN_EXTENSION, valueUri: origin }],
    activity: [{ id: activity, detail: { status: 'not-started', description: activity } }],
  };
}

const origins = (stored: CarePlan): (string | undefined)[] =>
  (stored.extension ?? [])
    .filter((e) => e.url === HANDOVER_ORIGIN_EXTENSION)
    .map((e) => e.valueUri);

let dataDir: string;
let store: EmbeddedStore;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-deliver-'));
  store = EmbeddedStore.open({ dataDir });
});
afterEach(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('writeMergedPlan', () => {
  it('without an agreed version, the written plan’s one origin mark is the sender’s', async () => {
    const crisis = 'https://crisis.example/fhir/CarePlan/c1/_history/4';
    const community = 'https://community.example/fhir/CarePlan/p1/_history/7';
    await store.create(plan(crisis, 'crisis-line'));
    const written = await writeMergedPlan(
      store,
      plan(community, 'walk-daily'),
      undefined,
      () => new Date(),
    );
    const stored = await store.read('CarePlan', written.id ?? '');
    expect(origins(stored)).toEqual([community]);
    // The merge itself still ran: both sides' activities are kept.
    expect((stored.activity ?? []).map((a) => a.id).sort()).toEqual(['crisis-line', 'walk-daily']);
  });

  it('a plan new at the destination keeps the sender’s mark', async () => {
    const community = 'https://community.example/fhir/CarePlan/p1/_history/2';
    const written = await writeMergedPlan(
      store,
      plan(community, 'walk-daily'),
      undefined,
      () => new Date(),
    );
    expect(origins(await store.read('CarePlan', written.id ?? ''))).toEqual([community]);
  });
});

describe('HandoverDeliverer.runOnce', () => {
  const NOW = Date.parse('2026-03-01T12:00:00Z');
  const HOUR = 3_600_000;

  it('claims at most 100 Tasks a pass, though one instant holds 300 due behind 100 waiting', async () => {
    await store.close();
    // One clock for every write: all 400 Tasks at one instant, in the order written.
    store = EmbeddedStore.open({ dataDir, now: () => new Date(NOW - HOUR) });
    for (let i = 0; i < 400; i++)
      await store.create(
        withDelivery(
          {
            resourceType: 'Task',
            identifier: [{ system: TRANSFER_TASK_SYSTEM, value: `handover-${i}` }],
            status: 'requested',
            intent: 'order',
          } satisfies Task,
          // The first page (100) waits to retry; the instant read whole brings 300 due.
          { destination: ward.id, attempts: 1, nextAttemptAt: i < 100 ? NOW + HOUR : NOW - 1 },
        ),
      );
    // Every claim is lost to "another deliverer" (412): what a pass tries is what it claims.
    const claims: string[] = [];
    const claimsRefused: FhirStore = Object.create(store, {
      update: {
        value: (task: Task): Promise<never> => {
          claims.push(task.identifier?.[0]?.value ?? '');
          return Promise.reject(stale('Another deliverer claimed it', 'Task'));
        },
      },
    }) as FhirStore;
    const deliverer = new HandoverDeliverer({
      store: claimsRefused,
      peers: peersFor(community, 'http://127.0.0.1:1/fhir', ward, 'http://127.0.0.1:2/fhir'),
      logger: winston.createLogger({ silent: true }),
      now: () => new Date(NOW),
    });
    expect(await deliverer.runOnce()).toBe(0);
    expect(claims).toHaveLength(100);
    expect(new Set(claims).size).toBe(100);
    // The oldest due first: those written first after the waiting ones.
    expect(claims).toContain('handover-100');
  });
});
