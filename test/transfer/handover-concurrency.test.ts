/**
 * Handovers under concurrency (issue 5 §3, §4), between two real services over HTTP: a deliverer
 * that dies holding a Task (its lease runs out, another completes it; its late outcome is refused),
 * two deliverers racing over the same Tasks (each delivered once), and both trusts editing the one
 * plan while it is shared — different parts merge with no conflict; the same action changed two
 * ways keeps both versions and raises a conflict Task at the destination; every merge has its
 * Provenance.
 */
import type {
  Bundle,
  CarePlan,
  CarePlanActivity,
  Patient,
  QuestionnaireResponse,
  Task,
} from '@medplum/fhirtypes';
import winston from 'winston';
import { HandoverDeliverer } from '../../src/transfer/deliver';
import { CONFLICTING_COPY_EXTENSION } from '../../src/transfer/plan-three-way-merge';
import { deliveryState } from '../../src/transfer/transfer-task';
import { openFhirServerStore, type FhirStore } from '../../src/store';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import type { TestService } from '../support/service';
import {
  all,
  community,
  editPlan,
  expectMirrored,
  mergeProvenance,
  onePlan,
  peersFor,
  requestTransfer,
  settled,
  submit,
  taskOf,
  transfer,
  trusts,
  until,
  ward,
  type Trusts,
} from './two-trusts';

const PERSON = 'megan-price';
const silent = winston.createLogger({ silent: true });
const SECTIONS = 'https://dialog-fhir.org/fhir/CodeSystem/dialog-plan-sections';

/** `store` with every transaction held until `gate` opens (a deliverer stuck or dead mid-send). */
function held(store: FhirStore, gate: Promise<void>): FhirStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'transaction')
        return async (bundle: Bundle) => {
          await gate;
          return target.transaction(bundle);
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

function sectionOf(activity: CarePlanActivity): string | undefined {
  return activity.detail?.code?.coding?.find((c) => c.system === SECTIONS)?.code;
}

function withActivity(
  plan: CarePlan,
  test: (a: CarePlanActivity) => boolean,
  change: (a: CarePlanActivity) => CarePlanActivity,
): CarePlan {
  return { ...plan, activity: (plan.activity ?? []).map((a) => (test(a) ? change(a) : a)) };
}

function describedAs(activity: CarePlanActivity, description: string): CarePlanActivity {
  return { ...activity, detail: { ...activity.detail, status: 'in-progress', description } };
}

/** The Tasks asking a clinician to resolve a conflicting change to the plan. */
async function conflictTasks(service: TestService): Promise<Task[]> {
  return ((await all(service, 'Task')) as Task[]).filter((task) =>
    task.code?.coding?.some((c) => c.code === 'resolve-plan-conflict'),
  );
}

describe('handovers under concurrency', () => {
  let open: TestService[] = [];
  afterEach(async () => {
    for (const s of open) await s.close();
    open = [];
  });

  async function started(): Promise<Trusts> {
    const t = await trusts();
    open.push(t.community, t.ward);
    await t.community.store.update(journeyPatient());
    await submit(t.community, journeyResponses()[0] as QuestionnaireResponse, PERSON);
    return t;
  }

  it('a deliverer that dies mid-delivery: its lease runs out, another completes the Task once', async () => {
    const t = await started();
    const c = t.community;
    await c.app.deliverer?.stop();
    const task = await requestTransfer(c, PERSON, 'ward', 'admission');

    let open_: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open_ = resolve));
    const dying = new HandoverDeliverer({
      store: c.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger: silent,
      leaseMs: 300,
      remoteFor: (peer) => held(openFhirServerStore({ baseUrl: peer.baseUrl, retries: 0 }), gate),
    });
    const stuck = dying.runOnce();
    const claimed = await until(
      () => taskOf(c, task.id ?? ''),
      (x) => x.status === 'accepted',
    );
    expect(deliveryState(claimed)?.leaseUntil).toBeDefined();

    c.app.deliverer?.start(); // the other deliverer: waits out the lease, then takes over
    const done = await settled(c, task);
    expect(done.status).toBe('completed');
    expect(deliveryState(done)?.attempts).toBe(2);

    open_(); // the stuck one wakes up and finishes its attempt: its outcome is refused
    await stuck;
    const after = await taskOf(c, task.id ?? '');
    expect(after.meta?.versionId).toBe(done.meta?.versionId);
    expect(after.status).toBe('completed');
    await expectMirrored(c, t.ward);
  });

  it('two deliverers racing over the same Tasks: each handover delivered exactly once', async () => {
    const t = await trusts();
    open.push(t.community, t.ward);
    const c = t.community;
    await c.app.deliverer?.stop();
    await t.ward.app.deliverer?.stop();
    const [start] = journeyResponses() as QuestionnaireResponse[];
    const people = Array.from({ length: 12 }, (_, i) => `person-${i}`);
    for (const id of people) {
      await c.store.update({
        resourceType: 'Patient',
        id,
        identifier: [{ system: 'https://example.org/mrn', value: id }],
      });
      await submit(
        c,
        {
          ...(start as QuestionnaireResponse),
          id: `start-${id}`,
          identifier: { system: 'https://example.org/sessions', value: `start-${id}` },
        },
        id,
      );
    }
    const tasks: Task[] = [];
    for (const id of people) tasks.push(await requestTransfer(c, id, 'ward', 'admission'));

    const sent = new Map<string, number>();
    const counting = (peer: { baseUrl: string }): FhirStore => {
      const store = openFhirServerStore({ baseUrl: peer.baseUrl, retries: 0 });
      return new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'transaction')
            return (bundle: Bundle) => {
              const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')
                ?.resource as Patient | undefined;
              const key = JSON.stringify(patient?.identifier ?? null);
              if (patient) sent.set(key, (sent.get(key) ?? 0) + 1);
              return target.transaction(bundle);
            };
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        },
      });
    };
    const racer = (): HandoverDeliverer =>
      new HandoverDeliverer({
        store: c.store,
        peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
        logger: silent,
        concurrency: 4,
        remoteFor: counting,
      });
    const drain = async (d: HandoverDeliverer): Promise<number> => {
      let total = 0;
      for (let n = await d.runOnce(); n > 0; n = await d.runOnce()) total += n;
      return total;
    };
    const [a, b] = await Promise.all([drain(racer()), drain(racer())]);
    expect(a + b).toBe(people.length);

    for (const task of tasks) {
      const done = await taskOf(c, task.id ?? '');
      expect(done.status).toBe('completed');
      expect(deliveryState(done)?.attempts).toBe(1);
    }
    expect([...sent.values()]).toEqual(people.map(() => 1));
    expect(await all(t.ward, 'Patient')).toHaveLength(people.length);
    expect(await all(t.ward, 'CarePlan')).toHaveLength(people.length);
    expect(await all(t.ward, 'QuestionnaireResponse')).toHaveLength(people.length);
  });

  it('ward adds nursing observations while the community adds an action: both kept, no conflict, the merge in Provenance', async () => {
    const t = await started();
    const [c, w] = [t.community, t.ward];
    expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');

    await editPlan(w, (p) =>
      withActivity(
        p,
        (a) => sectionOf(a) === 'nursing-observations',
        (a) => describedAs(a, 'Checks every hour overnight for the first three nights.'),
      ),
    );
    await editPlan(c, (p) => ({
      ...p,
      activity: [
        ...(p.activity ?? []),
        {
          id: 'action-call-hannah',
          detail: {
            code: { coding: [{ system: SECTIONS, code: 'agreed-action' }] },
            status: 'not-started',
            description: 'Sam to call Hannah weekly while Megan is on the ward.',
          },
        },
      ],
    }));
    const before = (await mergeProvenance(c)).length;

    const [, , review] = journeyResponses() as QuestionnaireResponse[];
    const [wardPatient] = await all(w, 'Patient');
    await submit(w, review as QuestionnaireResponse, String(wardPatient.id));
    const back = await transfer(w, String(wardPatient.id), 'community', 'discharge');
    expect(back.status).toBe('completed');

    const plan = await onePlan(c);
    const descriptions = (plan.activity ?? []).map((a) => a.detail?.description);
    expect(descriptions).toContain('Sam to call Hannah weekly while Megan is on the ward.');
    expect(descriptions).toContain('Checks every hour overnight for the first three nights.');
    expect(await conflictTasks(c)).toEqual([]);
    expect((plan.activity ?? []).some((a) => a.extension?.length)).toBe(false);
    const merges = await mergeProvenance(c);
    expect(merges.length).toBe(before + 1);
    expect(merges.at(-1)?.activity?.text).toBe('Handover: plans merged');
    expect(merges.at(-1)?.target?.[0]?.reference).toBe(`CarePlan/${plan.id}`);
  });

  it('both change the same action differently: both versions kept, a conflict Task at the destination', async () => {
    const t = await started();
    const [c, w] = [t.community, t.ward];
    expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');
    const sleepId = (await onePlan(c)).activity?.find((a) =>
      a.detail?.description?.startsWith('Try the wind-down routine'),
    )?.id;
    expect(sleepId).toMatch(/^action-/);
    const sleep = (a: CarePlanActivity): boolean => a.id === sleepId;
    await editPlan(c, (p) => withActivity(p, sleep, (a) => describedAs(a, 'Community: sleep')));
    await editPlan(w, (p) => withActivity(p, sleep, (a) => describedAs(a, 'Ward: sleep')));

    const [wardPatient] = await all(w, 'Patient');
    const back = await transfer(w, String(wardPatient.id), 'community', 'discharge');
    expect(back.status).toBe('completed');

    const plan = await onePlan(c);
    const kept = (plan.activity ?? []).filter(
      (a) => sleep(a) || a.extension?.some((e) => e.url === CONFLICTING_COPY_EXTENSION),
    );
    expect(kept.map((a) => a.detail?.description)).toEqual(['Community: sleep', 'Ward: sleep']);
    expect(kept[1]?.extension?.find((e) => e.url === CONFLICTING_COPY_EXTENSION)?.valueString).toBe(
      sleepId,
    );
    const conflicts = await conflictTasks(c);
    expect(conflicts).toHaveLength(1);
    const conflict = conflicts[0] as Task;
    expect(conflict.status).toBe('requested');
    expect(conflict.focus?.reference).toBe(`CarePlan/${plan.id}`);
    expect(conflict.description).toContain(`activity.where(id = '${sleepId ?? ''}')`);
    const inputs = (conflict.input ?? []).map((i) => i.valueString ?? '');
    expect(inputs.some((i) => i.includes('Community: sleep'))).toBe(true);
    expect(inputs.some((i) => i.includes('Ward: sleep'))).toBe(true);
    const merges = await mergeProvenance(c);
    expect(merges.at(-1)?.activity?.text).toBe(
      'Handover: plans merged; 1 conflicting change(s) kept for a clinician to resolve',
    );

    // Sent again: the same conflict is not raised twice, nothing is duplicated.
    expect((await transfer(w, String(wardPatient.id), 'community', 'discharge')).status).toBe(
      'completed',
    );
    expect(await conflictTasks(c)).toHaveLength(1);
    expect(
      ((await onePlan(c)).activity ?? []).filter((a) => a.detail?.description === 'Ward: sleep'),
    ).toHaveLength(1);
  });
});
