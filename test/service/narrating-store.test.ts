/**
 * src/service/narrating-store.ts: a CarePlan's narrative names what the plan refers to, found in
 * the store when not in the same write — on a real embedded store. A plan names every Goal it
 * ever had, so they are found by one search by `_id` per type (over the fhir-server store, one
 * request to the server), not read one by one; a store that cannot search has each read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** The store, noting each read and search asked of it; its searches refused when `refuse`. */
function noting(inner: FhirStore, calls: string[], refuse = false): FhirStore {
  return new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const bound = (value as (...a: unknown[]) => Promise<unknown>).bind(target);
      if (prop !== 'read' && prop !== 'search') return bound;
      return (...args: unknown[]) => {
        calls.push(`${prop} ${String(args[0])}`);
        return prop === 'search' && refuse
          ? Promise.reject(new Error('no search here'))
          : bound(...args);
      };
    },
  });
}

async function planNaming(goals: number): Promise<CarePlan> {
  const refs: { reference: string }[] = [];
  for (let n = 1; n <= goals; n++) {
    const written = await store.create<Goal>({
      resourceType: 'Goal',
      lifecycleStatus: 'active',
      description: { text: `Goal number ${n}` },
      subject: { reference: 'Patient/p1' },
    });
    refs.push({ reference: `Goal/${written.resource.id ?? ''}` });
  }
  // And one the store does not hold.
  refs.push({ reference: 'Goal/not-here' });
  return {
    resourceType: 'CarePlan',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p1' },
    goal: refs,
  };
}

describe('NarratingStore: a plan naming many Goals', () => {
  it('names each, found by one search per 100 ids, none read one by one', async () => {
    const plan = await planNaming(130);
    const calls: string[] = [];
    const written = await new NarratingStore(noting(store, calls)).create(plan);
    const div = written.resource.text?.div ?? '';
    for (const n of [1, 64, 130]) expect(div).toContain(`Goal number ${n}`);
    // One the store does not hold is named by its reference.
    expect(div).toContain('<li>Goal/not-here</li>');
    expect(calls).toEqual(['search Goal', 'search Goal']);
  });

  it('with a store that cannot search, reads each instead', async () => {
    const plan = await planNaming(3);
    const calls: string[] = [];
    const written = await new NarratingStore(noting(store, calls, true)).create(plan);
    const div = written.resource.text?.div ?? '';
    for (const n of [1, 2, 3]) expect(div).toContain(`Goal number ${n}`);
    expect(calls.filter((c) => c === 'read Goal')).toHaveLength(4);
  });
});
