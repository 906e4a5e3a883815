/**
 * src/service/narrating-store.ts: a CarePlan's narrative names what the plan refers to, read from
 * the store when not in the same write — on a real embedded store, its reads slowed a little to
 * stand for a FHIR server's round trips. A plan names every Goal it ever had, so those are read
 * several at a time (at most 8), not one after another.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CarePlan, Goal } from '@medplum/fhirtypes';
import { NarratingStore } from '../../src/service/narrating-store';
import { EmbeddedStore, type FhirStore } from '../../src/store';

let dataDir: string;
let store: EmbeddedStore;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-narrating-'));
  store = EmbeddedStore.open({ dataDir });
});
afterEach(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The store, each read taking a few milliseconds; the most reads seen under way at once. */
function slowReads(inner: FhirStore): { store: FhirStore; mostAtOnce: () => number } {
  let now = 0;
  let most = 0;
  const slowed = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop !== 'read' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        most = Math.max(most, ++now);
        try {
          await sleep(5);
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          now--;
        }
      };
    },
  });
  return { store: slowed, mostAtOnce: () => most };
}

describe('NarratingStore: a plan naming many Goals', () => {
  it('names each in its narrative, read several at a time (at most 8)', async () => {
    const goals: Goal[] = [];
    for (let n = 1; n <= 20; n++) {
      const written = await store.create<Goal>({
        resourceType: 'Goal',
        lifecycleStatus: 'active',
        description: { text: `Goal number ${n}` },
        subject: { reference: 'Patient/p1' },
      });
      goals.push(written.resource);
    }
    const { store: slowed, mostAtOnce } = slowReads(store);
    const plan: CarePlan = {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      subject: { reference: 'Patient/p1' },
      goal: goals.map((g) => ({ reference: `Goal/${g.id ?? ''}` })),
    };
    const written = await new NarratingStore(slowed).create(plan);
    const div = written.resource.text?.div ?? '';
    for (let n = 1; n <= 20; n++) expect(div).toContain(`Goal number ${n}`);
    expect(mostAtOnce()).toBeGreaterThan(1);
    expect(mostAtOnce()).toBeLessThanOrEqual(8);
  });
});
