/**
 * Never lose an edit to a Goal: the Goals that move with the plan are merged three ways at the
 * receiving side, not overwritten (src/transfer/shared-merge.ts). Two instances over HTTP: the
 * community team rewords a Goal while the ward records how far it has got and adds a note — both
 * survive the handover back, and the merge is in Provenance; both rewording it differently keeps
 * the receiver's wording in place and the other in a resolve-plan-conflict Task (raised once
 * however often it is sent); and the same through a plan-sync pull.
 */
import { Writable } from 'node:stream';
import type { Goal, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import winston from 'winston';
import { openFhirServerStore, type FhirStore } from '../../src/store';
import { PlanSync } from '../../src/transfer/plan-sync';
import { writeMergedResources } from '../../src/transfer/shared-merge';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { fhir, freePort, startService, type Json, type TestService } from '../support/service';
import {
  all,
  community,
  FAST,
  peersFor,
  submit,
  transfer,
  trusts,
  ward,
  type Trusts,
} from './two-trusts';

const PERSON = 'megan-price';
const GOAL_SYSTEM = 'https://dialog-fhir.org/fhir/sid/dialog-goal';

const quiet = winston.createLogger({
  transports: [
    new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, done) => done() }) }),
  ],
});

/** The Goals of the service, by business identifier value (exactly one each). */
async function goals(service: TestService): Promise<Map<string, Goal>> {
  const found = (await all(service, 'Goal')) as Goal[];
  const byKey = new Map<string, Goal>();
  for (const goal of found) {
    const key = goal.identifier?.find((i) => i.system === GOAL_SYSTEM)?.value ?? `id|${goal.id}`;
    expect(byKey.has(key)).toBe(false);
    byKey.set(key, goal);
  }
  return byKey;
}

/** Edits one Goal as a clinician would: read, change, PUT with If-Match. */
async function editGoal(
  service: TestService,
  key: string,
  change: (goal: Goal) => Goal,
): Promise<Goal> {
  const goal = (await goals(service)).get(key);
  expect(goal).toBeDefined();
  const res = await fhir(service.base, 'PUT', `/fhir/Goal/${goal?.id}`, change(goal as Goal), {
    'if-match': `W/"${goal?.meta?.versionId ?? ''}"`,
  });
  expect(res.status).toBe(200);
  return res.body as Goal;
}

function described(text: string): (goal: Goal) => Goal {
  return (goal) => ({ ...goal, description: { text } });
}

function improving(goal: Goal): Goal {
  return {
    ...goal,
    achievementStatus: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/goal-achievement',
          code: 'improving',
          display: 'Improving',
        },
      ],
    },
    note: [
      ...(goal.note ?? []),
      { time: '2025-10-24T10:00:00+01:00', text: 'Ward: walked to the shop with a nurse' },
    ],
  };
}

async function conflictTasks(service: TestService): Promise<Task[]> {
  return ((await all(service, 'Task')) as Task[]).filter((t) =>
    t.code?.coding?.some((c) => c.code === 'resolve-plan-conflict'),
  );
}

async function goalMerges(service: TestService, goal: Goal): Promise<Json[]> {
  return (await all(service, 'Provenance', `&target=Goal/${goal.id}`)).filter((p: Json) =>
    /^(Handover|Plan sync): .*Goal.* merged/.test(String(p.activity?.text ?? '')),
  );
}

describe('Goals edited on both sides are merged, not overwritten', () => {
  let t: Trusts | undefined;
  afterEach(async () => {
    await t?.community.close();
    await t?.ward.close();
    t = undefined;
  });

  /** A person with a plan and Goals at the community, handed over to the ward; a Goal's key. */
  async function admitted(): Promise<{ t: Trusts; key: string; wardPatient: string }> {
    const trusts2 = await trusts();
    t = trusts2;
    await trusts2.community.store.update(journeyPatient());
    await submit(trusts2.community, journeyResponses()[0] as QuestionnaireResponse, PERSON);
    expect((await transfer(trusts2.community, PERSON, 'ward', 'admission')).status).toBe(
      'completed',
    );
    const atCommunity = await goals(trusts2.community);
    const atWard = await goals(trusts2.ward);
    expect([...atWard.keys()].sort()).toEqual([...atCommunity.keys()].sort());
    const key = [...atCommunity.keys()].sort()[0] ?? '';
    expect(key).not.toBe('');
    const [patient] = await all(trusts2.ward, 'Patient');
    return { t: trusts2, key, wardPatient: String(patient?.id) };
  }

  it('on handover: the community’s new wording and the ward’s progress and note both survive, the merge in Provenance', async () => {
    const { t, key, wardPatient } = await admitted();
    await editGoal(t.community, key, described('Community: go to the allotment twice a week'));
    await editGoal(t.ward, key, improving);

    expect((await transfer(t.ward, wardPatient, 'community', 'discharge')).status).toBe(
      'completed',
    );
    const goal = (await goals(t.community)).get(key) as Goal;
    expect(goal.description.text).toBe('Community: go to the allotment twice a week');
    expect(goal.achievementStatus?.coding?.[0]?.code).toBe('improving');
    expect((goal.note ?? []).map((n) => n.text)).toEqual(['Ward: walked to the shop with a nurse']);
    expect(await conflictTasks(t.community)).toEqual([]);
    const merges = await goalMerges(t.community, goal);
    expect(merges).toHaveLength(1);
    expect(merges[0]?.activity?.text).toBe('Handover: Goal merged');

    // Sent again: nothing changes, no second merge.
    const version = goal.meta?.versionId;
    expect((await transfer(t.ward, wardPatient, 'community', 'discharge')).status).toBe(
      'completed',
    );
    expect((await goals(t.community)).get(key)?.meta?.versionId).toBe(version);
    expect(await goalMerges(t.community, goal)).toHaveLength(1);

    // And onwards to the ward again: the ward's copy has both edits too, still one of each Goal.
    expect((await transfer(t.community, PERSON, 'ward', 'admission')).status).toBe('completed');
    const there = (await goals(t.ward)).get(key) as Goal;
    expect(there.description.text).toBe('Community: go to the allotment twice a week');
    expect(there.achievementStatus?.coding?.[0]?.code).toBe('improving');
    expect((await goals(t.ward)).size).toBe((await goals(t.community)).size);
  }, 60_000);

  it('on handover: both reword the same Goal: the receiver’s wording stays, the other is in a conflict Task, raised once', async () => {
    const { t, key, wardPatient } = await admitted();
    await editGoal(t.community, key, described('Community: allotment twice a week'));
    await editGoal(t.ward, key, (g) => improving(described('Ward: walk every day')(g)));

    expect((await transfer(t.ward, wardPatient, 'community', 'discharge')).status).toBe(
      'completed',
    );
    const goal = (await goals(t.community)).get(key) as Goal;
    expect(goal.description.text).toBe('Community: allotment twice a week');
    // The part only the ward changed still merges.
    expect(goal.achievementStatus?.coding?.[0]?.code).toBe('improving');
    const conflicts = await conflictTasks(t.community);
    expect(conflicts).toHaveLength(1);
    const conflict = conflicts[0] as Task;
    expect(conflict.status).toBe('requested');
    expect(conflict.focus?.reference).toBe(`Goal/${goal.id}`);
    expect(conflict.for?.reference).toBe(goal.subject.reference);
    const inputs = new Map((conflict.input ?? []).map((i) => [i.type.text, i.valueString]));
    expect(inputs.get('part')).toBe('Goal.description');
    expect(inputs.get('the sending system’s version')).toContain('Ward: walk every day');
    expect(inputs.get('this system’s version')).toContain('Community: allotment twice a week');
    expect((await goalMerges(t.community, goal))[0]?.activity?.text).toBe(
      'Handover: Goal merged; 1 conflicting change(s) kept for a clinician to resolve',
    );

    // Sent again: the same conflict is not raised twice.
    expect((await transfer(t.ward, wardPatient, 'community', 'discharge')).status).toBe(
      'completed',
    );
    expect(await conflictTasks(t.community)).toHaveLength(1);

    // A clinician resolves it through the API: the ward's wording, then the Task completed.
    await editGoal(t.community, key, described('Ward: walk every day'));
    const done = await fhir(
      t.community.base,
      'PUT',
      `/fhir/Task/${conflict.id}`,
      { ...conflict, status: 'completed' },
      { 'if-match': `W/"${conflict.meta?.versionId ?? ''}"` },
    );
    expect(done.status).toBe(200);
    // Sent again: the two sides agree now; nothing is raised again or overwritten.
    expect((await transfer(t.ward, wardPatient, 'community', 'discharge')).status).toBe(
      'completed',
    );
    const resolved = await conflictTasks(t.community);
    expect(resolved.map((c) => c.status)).toEqual(['completed']);
    expect((await goals(t.community)).get(key)?.description.text).toBe('Ward: walk every day');
  }, 60_000);

  it('a carer (RelatedPerson, no business identifier) edited on both sides keeps both edits when it goes home', async () => {
    const t2 = await trusts();
    t = t2;
    await t2.community.store.update(journeyPatient());
    await submit(t2.community, journeyResponses()[0] as QuestionnaireResponse, PERSON);
    const carer = await fhir(t2.community.base, 'PUT', '/fhir/RelatedPerson/hannah-price', {
      resourceType: 'RelatedPerson',
      id: 'hannah-price',
      patient: { reference: `Patient/${PERSON}` },
      name: [{ given: ['Hannah'], family: 'Price' }],
      telecom: [{ system: 'phone', value: '07700 900123' }],
    });
    expect([200, 201]).toContain(carer.status);
    expect((await transfer(t2.community, PERSON, 'ward', 'admission')).status).toBe('completed');
    const [atWard] = (await all(t2.ward, 'RelatedPerson')) as Json[];
    expect(atWard).toBeDefined();

    // The ward adds her e-mail; the community records that she is now the person's sister.
    const wardEdit = await fhir(
      t2.ward.base,
      'PUT',
      `/fhir/RelatedPerson/${atWard.id}`,
      { ...atWard, telecom: [...atWard.telecom, { system: 'email', value: 'hannah@example.org' }] },
      { 'if-match': `W/"${atWard.meta.versionId}"` },
    );
    expect(wardEdit.status).toBe(200);
    const mine = (await fhir(t2.community.base, 'GET', '/fhir/RelatedPerson/hannah-price')).body;
    const sister = {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'SIS' }],
    };
    const communityEdit = await fhir(
      t2.community.base,
      'PUT',
      '/fhir/RelatedPerson/hannah-price',
      { ...mine, relationship: [sister] },
      { 'if-match': `W/"${mine.meta.versionId}"` },
    );
    expect(communityEdit.status).toBe(200);

    const [wardPatient] = await all(t2.ward, 'Patient');
    expect(
      (await transfer(t2.ward, String(wardPatient?.id), 'community', 'discharge')).status,
    ).toBe('completed');
    const home = (await all(t2.community, 'RelatedPerson')) as Json[];
    expect(home.map((r) => r.id)).toEqual(['hannah-price']);
    expect(home[0].relationship).toEqual([sister]);
    expect(home[0].telecom.map((c: Json) => c.value)).toEqual([
      '07700 900123',
      'hannah@example.org',
    ]);
    expect(await conflictTasks(t2.community)).toEqual([]);
  }, 60_000);

  it('on a plan-sync pull: a Goal edited on each side keeps both edits', async () => {
    const { t, key } = await admitted();
    const sync = new PlanSync({
      store: t.community.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger: quiet,
    });
    await editGoal(t.community, key, described('Community: allotment on Saturdays'));
    await editGoal(t.ward, key, improving);

    await sync.poll('ward');
    const goal = (await goals(t.community)).get(key) as Goal;
    expect(goal.description.text).toBe('Community: allotment on Saturdays');
    expect(goal.achievementStatus?.coding?.[0]?.code).toBe('improving');
    expect((goal.note ?? []).map((n) => n.text)).toEqual(['Ward: walked to the shop with a nurse']);
    expect(await conflictTasks(t.community)).toEqual([]);
    expect(await goalMerges(t.community, goal)).toHaveLength(1);

    // The ward records further progress: the next pull takes it without a false conflict.
    await editGoal(t.ward, key, (g) => ({
      ...g,
      achievementStatus: { coding: [{ ...g.achievementStatus?.coding?.[0], code: 'achieved' }] },
    }));
    expect((await sync.poll('ward')).pulled).toBe(1);
    const again = (await goals(t.community)).get(key) as Goal;
    expect(again.achievementStatus?.coding?.[0]?.code).toBe('achieved');
    expect(again.description.text).toBe('Community: allotment on Saturdays');
    expect(await conflictTasks(t.community)).toEqual([]);
    // Settled: another pull writes nothing.
    await sync.poll('ward');
    expect((await goals(t.community)).get(key)?.meta?.versionId).toBe(again.meta?.versionId);

    // The ward moves it on again, then pulls from the community for the first time: it takes
    // the community's wording against the version of its own the community merged (not the
    // older one it was handed), so its own newer status is no conflict.
    await editGoal(t.ward, key, (g) => ({
      ...g,
      achievementStatus: { coding: [{ ...g.achievementStatus?.coding?.[0], code: 'sustaining' }] },
    }));
    const back = new PlanSync({
      store: t.ward.store,
      peers: peersFor(ward, t.wardUrl, community, t.communityUrl),
      logger: quiet,
    });
    await back.poll('community');
    const atWard = (await goals(t.ward)).get(key) as Goal;
    expect(atWard.description.text).toBe('Community: allotment on Saturdays');
    expect(atWard.achievementStatus?.coding?.[0]?.code).toBe('sustaining');
    expect(await conflictTasks(t.ward)).toEqual([]);
    // Each pulls from the other until nothing changes: both hold the same, no conflicts.
    await sync.poll('ward');
    await back.poll('community');
    const [c1, w1] = [(await goals(t.community)).get(key), (await goals(t.ward)).get(key)];
    expect(c1?.achievementStatus?.coding?.[0]?.code).toBe('sustaining');
    await sync.poll('ward');
    await back.poll('community');
    expect((await goals(t.community)).get(key)?.meta?.versionId).toBe(c1?.meta?.versionId);
    expect((await goals(t.ward)).get(key)?.meta?.versionId).toBe(w1?.meta?.versionId);
    expect(await conflictTasks(t.community)).toEqual([]);
    expect(await conflictTasks(t.ward)).toEqual([]);
  }, 60_000);

  it('a handover after a pull merges against the version the pull merged: no false conflict', async () => {
    const { t, key } = await admitted();
    const sync = new PlanSync({
      store: t.community.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger: quiet,
    });
    await editGoal(t.community, key, described('Community: allotment in the spring'));
    await editGoal(t.ward, key, improving);
    await sync.poll('ward');
    // The ward moves it on; the community, holding the ward's earlier status, hands over again.
    await editGoal(t.ward, key, (g) => ({
      ...g,
      achievementStatus: { coding: [{ ...g.achievementStatus?.coding?.[0], code: 'achieved' }] },
    }));
    expect((await transfer(t.community, PERSON, 'ward', 'transfer')).status).toBe('completed');
    const goal = (await goals(t.ward)).get(key) as Goal;
    expect(goal.description.text).toBe('Community: allotment in the spring');
    expect(goal.achievementStatus?.coding?.[0]?.code).toBe('achieved');
    expect(await conflictTasks(t.ward)).toEqual([]);
  }, 60_000);

  it('on handover to Medplum’s fhir-router: a Goal edited there and here keeps both edits', async () => {
    const router = await startFhirRouterServer();
    const routerUrl = router.baseUrl.replace(/\/$/, '');
    const pc = await freePort();
    const c = await startService({
      port: pc,
      peers: peersFor(community, `http://127.0.0.1:${pc}/fhir`, ward, routerUrl),
      delivery: FAST,
    });
    try {
      await c.store.update(journeyPatient());
      await submit(c, journeyResponses()[0] as QuestionnaireResponse, PERSON);
      expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');
      const key = [...(await goals(c)).keys()].sort()[0] ?? '';
      const atRouter = async (): Promise<Goal[]> => {
        const found = (await fetch(`${routerUrl}/Goal?identifier=${GOAL_SYSTEM}|${key}`).then((r) =>
          r.json(),
        )) as { entry?: { resource: Goal }[] };
        return (found.entry ?? []).map((e) => e.resource);
      };
      const [theirs] = await atRouter();
      expect(theirs).toBeDefined();
      const put = await fetch(`${routerUrl}/Goal/${theirs?.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(improving(theirs as Goal)),
      });
      expect(put.status).toBe(200);
      await editGoal(c, key, described('Community: allotment with Hannah'));

      expect((await transfer(c, PERSON, 'ward', 'transfer')).status).toBe('completed');
      const after = await atRouter();
      expect(after).toHaveLength(1);
      expect(after[0]?.description.text).toBe('Community: allotment with Hannah');
      expect(after[0]?.achievementStatus?.coding?.[0]?.code).toBe('improving');
      expect((after[0]?.note ?? []).map((n) => n.text)).toEqual([
        'Ward: walked to the shop with a nurse',
      ]);
    } finally {
      await c.close();
      await router.close();
    }
  }, 60_000);

  it('a clinician’s edit between the merge’s read and its write (412) is merged too, not overwritten', async () => {
    const port = await freePort();
    const service = await startService({ port });
    try {
      await service.store.update(journeyPatient());
      await submit(service, journeyResponses()[0] as QuestionnaireResponse, PERSON);
      const [key, agreed] = [...(await goals(service)).entries()].sort()[0] ?? [];
      expect(agreed).toBeDefined();
      const http = openFhirServerStore({ baseUrl: `${service.base}/fhir`, retries: 0 });
      let raced = 0;
      // The first write is preceded by a clinician's edit of the same Goal (over HTTP).
      const racing: FhirStore = new Proxy(http, {
        get(target, name, receiver) {
          if (name !== 'transaction') return Reflect.get(target, name, receiver) as unknown;
          return async (bundle: Parameters<FhirStore['transaction']>[0]) => {
            if (raced++ === 0) await editGoal(service, key ?? '', improving);
            return target.transaction(bundle);
          };
        },
      });
      const report = await writeMergedResources(
        racing,
        [
          {
            type: 'Goal',
            id: agreed?.id ?? '',
            incoming: described('Community: allotment on Sundays')(agreed as Goal),
            current: agreed as Goal,
            base: () => Promise.resolve(agreed),
          },
        ],
        { now: () => new Date(), keepMark: 'incoming', activity: 'Handover' },
      );
      expect(raced).toBe(2); // refused once (412), merged again and written
      expect(report).toEqual({ written: 1, conflicts: 0 });
      const goal = (await goals(service)).get(key ?? '') as Goal;
      expect(goal.description.text).toBe('Community: allotment on Sundays');
      expect(goal.achievementStatus?.coding?.[0]?.code).toBe('improving');
      expect((goal.note ?? []).map((n) => n.text)).toEqual([
        'Ward: walked to the shop with a nurse',
      ]);
      await http.close();
    } finally {
      await service.close();
    }
  }, 60_000);
});
