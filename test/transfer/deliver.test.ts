/**
 * src/transfer/deliver.ts `writeMergedPlan`: the plan written at the destination carries exactly
 * one `dialog-handover-origin`, the sender's, even when no version both sides agreed on is known
 * (the merge alone would keep the destination's old mark beside the new one). On a real embedded
 * store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CarePlan } from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../../src/fhir';
import { HANDOVER_ORIGIN_EXTENSION, writeMergedPlan } from '../../src/transfer/deliver';
import { EmbeddedStore } from '../../src/store';

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
