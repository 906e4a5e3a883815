import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type {
  Bundle,
  CarePlan,
  CarePlanActivity,
  Extension,
  Goal,
  RelatedPerson,
} from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM, CodeSystems, Extensions } from '../../src/fhir/canonical';
import {
  canonicalJson,
  CONFLICTING_COPY_EXTENSION,
  mergePlans,
  mergeResources,
  type PlanConflict,
} from '../../src/transfer/plan-three-way-merge';
import { createValidator } from '../../src/validation';
import { EXAMPLES_DIR } from '../support/examples';

type Status = NonNullable<CarePlanActivity['detail']>['status'];

function activity(
  id: string,
  section: string,
  description: string,
  status: Status = 'not-started',
): CarePlanActivity {
  return {
    id,
    detail: {
      code: { coding: [{ system: CodeSystems.planSections, code: section }] },
      status,
      description,
    },
  };
}
const action = (id: string, status: Status = 'not-started'): CarePlanActivity =>
  activity(id, 'agreed-action', `Action ${id}`, status);

function carer(who: string, involvement = 'visits'): Extension {
  return {
    url: Extensions.carer,
    extension: [
      { url: 'carer', valueReference: { reference: `RelatedPerson/${who}` } },
      { url: 'involvement', valueString: involvement },
    ],
  };
}
function service(org: string, start: string, end?: string): Extension {
  return {
    url: Extensions.responsibleService,
    extension: [
      { url: 'organization', valueReference: { reference: `Organization/${org}` } },
      { url: 'period', valuePeriod: { start, ...(end ? { end } : {}) } },
    ],
  };
}
const keyWorker = (who: string): Extension => ({
  url: Extensions.keyWorker,
  valueReference: { reference: `Practitioner/${who}` },
});

function plan(over: Partial<CarePlan> = {}): CarePlan {
  return {
    resourceType: 'CarePlan',
    identifier: [{ system: CARE_PLAN_IDENTIFIER_SYSTEM, value: 'plan-1' }],
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p' },
    ...over,
  };
}

const base = plan({
  title: 'Plan',
  extension: [keyWorker('sam'), carer('hannah'), service('community', '2025-09-09')],
  goal: [{ reference: 'Goal/g1' }],
  activity: [action('a1'), action('a2'), activity('safety-plan', 'safety-plan', 'Safety plan')],
  note: [{ time: '2025-09-16T16:00:00+01:00', text: 'First session' }],
});

function ids(p: CarePlan): string[] {
  return (p.activity ?? []).map((a) => a.id ?? '');
}
function withActivities(p: CarePlan, f: (a: CarePlanActivity[]) => CarePlanActivity[]): CarePlan {
  return { ...p, activity: f(structuredClone(p.activity ?? [])) };
}
function setStatus(p: CarePlan, id: string, status: Status): CarePlan {
  return withActivities(p, (list) =>
    list.map((a) => (a.id === id ? { ...a, detail: { ...a.detail, status } } : a)),
  );
}

interface Case {
  readonly name: string;
  readonly base?: CarePlan;
  readonly local: CarePlan;
  readonly remote: CarePlan;
  /** Activity ids in the merged plan, in order. */
  readonly activities?: readonly string[];
  /** Conflict parts, in order. */
  readonly conflicts: readonly string[];
  readonly check?: (merged: CarePlan, conflicts: readonly PlanConflict[]) => void;
}

const nursing = activity(
  'nursing-observations',
  'nursing-observations',
  'Hourly checks',
  'in-progress',
);
const cases: Case[] = [
  {
    name: 'the issue: the ward adds nursing observations, the community adds an action',
    base,
    local: withActivities(base, (a) => [...a, action('a3')]),
    remote: withActivities(base, (a) => [...a, nursing]),
    activities: ['a1', 'a2', 'safety-plan', 'nursing-observations', 'a3'],
    conflicts: [],
  },
  {
    name: 'both set the same status on an action: no conflict',
    base,
    local: setStatus(base, 'a1', 'completed'),
    remote: setStatus(base, 'a1', 'completed'),
    activities: ['a1', 'a2', 'safety-plan'],
    conflicts: [],
    check: (m) => expect(m.activity?.[0]?.detail?.status).toBe('completed'),
  },
  {
    name: 'different actions changed on each side',
    base,
    local: setStatus(base, 'a1', 'completed'),
    remote: setStatus(base, 'a2', 'cancelled'),
    activities: ['a1', 'a2', 'safety-plan'],
    conflicts: [],
    check: (m) => {
      expect(m.activity?.[0]?.detail?.status).toBe('completed');
      expect(m.activity?.[1]?.detail?.status).toBe('cancelled');
    },
  },
  {
    name: 'an action removed here and untouched there is removed',
    base,
    local: withActivities(base, (a) => a.filter((x) => x.id !== 'a2')),
    remote: plan({ ...base, title: 'Renamed' }),
    activities: ['a1', 'safety-plan'],
    conflicts: [],
    check: (m) => expect(m.title).toBe('Renamed'),
  },
  {
    name: 'an action removed there and changed here is kept, as a conflict',
    base,
    local: setStatus(base, 'a2', 'in-progress'),
    remote: withActivities(base, (a) => a.filter((x) => x.id !== 'a2')),
    activities: ['a1', 'safety-plan', 'a2'],
    conflicts: ["CarePlan.activity.where(id = 'a2')"],
    check: (m, c) => {
      expect(m.activity?.[2]?.detail?.status).toBe('in-progress');
      expect(c[0]?.remote).toBeUndefined();
      expect(c[0]?.message).toMatch(/removed/);
    },
  },
  {
    name: 'scalars changed on different elements merge',
    base,
    local: { ...base, title: 'Megan’s plan' },
    remote: { ...base, description: 'One plan', status: 'on-hold' },
    conflicts: [],
    check: (m) => {
      expect(m.title).toBe('Megan’s plan');
      expect(m.description).toBe('One plan');
      expect(m.status).toBe('on-hold');
    },
  },
  {
    name: 'the same scalar changed differently: the remote kept, ours in the conflict',
    base,
    local: { ...base, status: 'completed' },
    remote: { ...base, status: 'on-hold' },
    conflicts: ['CarePlan.status'],
    check: (m, c) => {
      expect(m.status).toBe('on-hold');
      expect(c[0]).toMatchObject({ base: 'active', local: 'completed', remote: 'on-hold' });
    },
  },
  {
    name: 'the key worker changed differently: one key worker, the remote’s',
    base,
    local: { ...base, extension: [keyWorker('priya'), ...(base.extension ?? []).slice(1)] },
    remote: { ...base, extension: [keyWorker('alex'), ...(base.extension ?? []).slice(1)] },
    conflicts: [`CarePlan.extension.where(url = '${Extensions.keyWorker}')`],
    check: (m) =>
      expect(m.extension?.filter((e) => e.url === Extensions.keyWorker)).toEqual([
        keyWorker('alex'),
      ]),
  },
  {
    name: 'a carer added on each side: both',
    base,
    local: { ...base, extension: [...(base.extension ?? []), carer('jess')] },
    remote: { ...base, extension: [...(base.extension ?? []), carer('tom')] },
    conflicts: [],
    check: (m) =>
      expect(m.extension?.filter((e) => e.url === Extensions.carer)).toEqual([
        carer('hannah'),
        carer('tom'),
        carer('jess'),
      ]),
  },
  {
    name: 'a handover closes one service and opens the next while the other side adds a goal',
    base,
    local: {
      ...base,
      extension: [
        keyWorker('sam'),
        carer('hannah'),
        service('community', '2025-09-09', '2025-10-20'),
        service('ward', '2025-10-20'),
      ],
    },
    remote: { ...base, goal: [...(base.goal ?? []), { reference: 'Goal/g2' }] },
    conflicts: [],
    check: (m) => {
      expect(m.extension?.slice(2)).toEqual([
        service('community', '2025-09-09', '2025-10-20'),
        service('ward', '2025-10-20'),
      ]);
      expect(m.goal).toEqual([{ reference: 'Goal/g1' }, { reference: 'Goal/g2' }]);
    },
  },
  {
    name: 'each side opens a different service: one stays open, the other is a conflict',
    base,
    local: {
      ...base,
      extension: [
        ...(base.extension ?? []).slice(0, 2),
        service('community', '2025-09-09', 'x'),
        service('ward', 'y'),
      ],
    },
    remote: {
      ...base,
      extension: [
        ...(base.extension ?? []).slice(0, 2),
        service('community', '2025-09-09', 'x'),
        service('crisis', 'z'),
      ],
    },
    conflicts: [
      `CarePlan.extension.where(url = '${Extensions.responsibleService}' and extension.where(url = 'organization').value.reference = 'Organization/ward' and extension.where(url = 'period').value.start = 'y')`,
    ],
    check: (m) =>
      expect(m.extension?.slice(2)).toEqual([
        service('community', '2025-09-09', 'x'),
        service('crisis', 'z'),
      ]),
  },
  {
    name: 'notes and goals are unions',
    base,
    local: {
      ...base,
      note: [...(base.note ?? []), { time: '2025-10-22T12:00:00+01:00', text: 'Admitted' }],
      goal: [{ reference: 'Goal/g1' }, { reference: 'Goal/g3' }],
    },
    remote: {
      ...base,
      note: [...(base.note ?? []), { time: '2025-10-23T12:00:00+01:00', text: 'Ward round' }],
    },
    conflicts: [],
    check: (m) => {
      expect(m.note?.map((n) => n.text)).toEqual(['First session', 'Ward round', 'Admitted']);
      expect(m.goal).toEqual([{ reference: 'Goal/g1' }, { reference: 'Goal/g3' }]);
    },
  },
  {
    name: 'first contact: a union, and what both hold differently is a conflict',
    local: plan({ title: 'Ours', activity: [action('a1', 'completed'), action('a2')] }),
    remote: plan({ title: 'Ours', activity: [action('a1', 'in-progress'), action('b1')] }),
    activities: [
      'a1',
      // the local copy of a1 (id derived from its content)
      expect.stringMatching(/^conflict-[0-9a-f-]{36}$/) as unknown as string,
      'b1',
      'a2',
    ],
    conflicts: ["CarePlan.activity.where(id = 'a1')"],
  },
  {
    name: 'fast-forward: the remote is the base, so the merge is ours',
    base,
    local: withActivities({ ...base, status: 'completed' }, (a) => [action('a9'), ...a.slice(1)]),
    remote: structuredClone(base),
    activities: ['a9', 'a2', 'safety-plan'],
    conflicts: [],
    check: (m) => expect(m.status).toBe('completed'),
  },
];

describe('mergePlans: the table', () => {
  it.each(cases)('$name', (c) => {
    const { merged, conflicts } = mergePlans({
      ...(c.base ? { base: c.base } : {}),
      local: c.local,
      remote: c.remote,
    });
    if (c.activities) expect(ids(merged)).toEqual(c.activities);
    expect(conflicts.map((x) => x.part)).toEqual(c.conflicts);
    c.check?.(merged, conflicts);
    // Merging the result again with the same base and local side changes nothing.
    const again = mergePlans({
      ...(c.base ? { base: c.base } : {}),
      local: c.local,
      remote: merged,
    });
    expect(canonicalJson(again.merged)).toBe(canonicalJson(merged));
  });
});

describe('mergePlans', () => {
  it('both edit the same action’s status differently: a conflict, both versions kept', () => {
    const local = setStatus(base, 'a1', 'completed');
    const remote = setStatus(base, 'a1', 'cancelled');
    const { merged, conflicts } = mergePlans({ base, local, remote });
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({
      part: "CarePlan.activity.where(id = 'a1')",
      base: action('a1'),
      local: action('a1', 'completed'),
      remote: action('a1', 'cancelled'),
    });
    const [kept, copy] = merged.activity ?? [];
    expect(kept).toEqual(action('a1', 'cancelled'));
    expect(copy?.detail).toEqual(action('a1', 'completed').detail);
    expect(copy?.extension).toEqual([{ url: CONFLICTING_COPY_EXTENSION, valueString: 'a1' }]);
    expect(copy?.id).toMatch(/^conflict-/);
    // The same inputs give the same copy id.
    expect(mergePlans({ base, local, remote }).merged).toEqual(merged);
  });

  it('a repeating primitive and its _x merge as pairs: an extension stays with its value', () => {
    const ext = { extension: [{ url: 'urn:note', valueString: 'from the ward' }] };
    const withUris = (uris: string[], extras?: unknown[]): CarePlan =>
      ({
        ...base,
        instantiatesUri: uris,
        ...(extras ? { _instantiatesUri: extras } : {}),
      }) as CarePlan;
    const agreed = withUris(['http://a']);
    const local = withUris(['http://a', 'http://c'], [null, ext]);
    const remote = withUris(['http://a', 'http://d']);
    const { merged, conflicts } = mergePlans({ base: agreed, local, remote });
    expect(conflicts).toEqual([]);
    const json = merged as unknown as Record<string, unknown>;
    expect(json.instantiatesUri).toEqual(['http://a', 'http://d', 'http://c']);
    expect(json._instantiatesUri).toEqual([null, null, ext]);
    // Both sides changed what one value carries: one conflict, told as the value and its _value.
    const otherExt = { extension: [{ url: 'urn:note', valueString: 'from the team' }] };
    const clash = mergePlans({
      base: withUris(['http://a'], [ext]),
      local: withUris(['http://a'], [otherExt]),
      remote: withUris(['http://a']),
    });
    expect(clash.conflicts.map((c) => [c.local, c.remote])).toEqual([
      [{ value: 'http://a', _value: otherExt }, 'http://a'],
    ]);
  });

  it('fast-forward gives exactly our plan', () => {
    const local = withActivities({ ...base, title: 'Ours' }, (a) => [...a.reverse(), action('a4')]);
    expect(mergePlans({ base, local, remote: structuredClone(base) })).toEqual({
      merged: local,
      conflicts: [],
    });
  });

  it('the other way round (local is the base): the remote', () => {
    const remote = setStatus(base, 'a2', 'completed');
    expect(mergePlans({ base, local: structuredClone(base), remote })).toEqual({
      merged: remote,
      conflicts: [],
    });
  });

  it('a merged plan is stable when merged with itself', () => {
    const { merged } = mergePlans({
      base,
      local: setStatus(base, 'a1', 'completed'),
      remote: setStatus(base, 'a1', 'cancelled'),
    });
    expect(mergePlans({ base: merged, local: merged, remote: merged })).toEqual({
      merged,
      conflicts: [],
    });
  });

  it('the journey plan merged with a ward edit and a community edit still validates', () => {
    const bundle = JSON.parse(
      readFileSync(join(EXAMPLES_DIR, 'journey', '04-discharge.json'), 'utf8'),
    ) as Bundle;
    const journeyPlan = bundle.entry?.find((e) => e.resource?.resourceType === 'CarePlan')
      ?.resource as CarePlan;
    const local = setStatus(journeyPlan, 'action-home-visit', 'completed');
    const remote = setStatus(journeyPlan, 'action-home-visit', 'cancelled');
    remote.activity?.push(nursing);
    const { merged, conflicts } = mergePlans({ base: journeyPlan, local, remote });
    expect(conflicts).toHaveLength(1);
    const outcome = createValidator().validate(merged);
    expect(outcome.issue.filter((i) => i.severity === 'error')).toEqual([]);
  });
});

describe('mergePlans: property', () => {
  type Op = 'keep' | 'status' | 'delete';
  const op = fc.constantFrom<Op>('keep', 'status', 'delete');
  const statuses: Status[] = ['not-started', 'scheduled', 'in-progress', 'completed', 'cancelled'];

  it('holds every part that only one side changed, as that side left it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.tuple(op, op, fc.constantFrom(...statuses), fc.constantFrom(...statuses)), {
          minLength: 6,
          maxLength: 6,
        }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.option(fc.constantFrom('Ours', 'Theirs'), { nil: undefined }),
        (n, ops, addLocal, addRemote, title) => {
          const start = plan({ activity: Array.from({ length: n }, (_, i) => action(`a${i}`)) });
          const side = (which: 0 | 1, added: number, prefix: string): CarePlan => {
            const list: CarePlanActivity[] = [];
            (start.activity ?? []).forEach((a, i) => {
              const [lo, ro, ls, rs] = ops[i] ?? ['keep', 'keep', 'completed', 'completed'];
              const o = which === 0 ? lo : ro;
              const s = which === 0 ? ls : rs;
              if (o === 'keep') list.push(a);
              if (o === 'status') list.push({ ...a, detail: { ...a.detail, status: s } });
            });
            for (let k = 0; k < added; k++) list.push(action(`${prefix}${k}`));
            const p: CarePlan = { ...start, activity: list };
            if (which === 0 && title) p.title = title;
            if (list.length === 0) delete p.activity;
            return p;
          };
          const local = side(0, addLocal, 'l');
          const remote = side(1, addRemote, 'r');
          const { merged } = mergePlans({ base: start, local, remote });
          const find = (p: CarePlan, id: string): CarePlanActivity | undefined =>
            p.activity?.find((a) => a.id === id);
          for (const a of start.activity ?? []) {
            const id = a.id ?? '';
            const l = find(local, id);
            const r = find(remote, id);
            const lChanged = canonicalJson(l) !== canonicalJson(a);
            const rChanged = canonicalJson(r) !== canonicalJson(a);
            if (lChanged && !rChanged) expect(find(merged, id)).toEqual(l);
            if (rChanged && !lChanged) expect(find(merged, id)).toEqual(r);
          }
          for (let k = 0; k < addLocal; k++) expect(find(merged, `l${k}`)).toEqual(action(`l${k}`));
          for (let k = 0; k < addRemote; k++)
            expect(find(merged, `r${k}`)).toEqual(action(`r${k}`));
          if (title) expect(merged.title).toBe(title);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('mergeResources: Goals and carers by the same rules', () => {
  const step = (code: string, text: string): Extension => ({
    url: Extensions.plusStep,
    extension: [
      { url: 'step', valueCoding: { system: CodeSystems.steps, code } },
      { url: 'text', valueString: text },
    ],
  });
  const goal = (over: Partial<Goal> = {}): Goal => ({
    resourceType: 'Goal',
    id: 'g1',
    lifecycleStatus: 'active',
    description: { text: 'Sleep better' },
    subject: { reference: 'Patient/p1' },
    extension: [step('understanding', 'Wakes at 3'), step('looking-forward', 'Sleep through')],
    ...over,
  });
  const status = (code: string): NonNullable<Goal['achievementStatus']> => ({
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code }],
  });

  it('merges a reworded Goal with progress and a note made elsewhere', () => {
    const base = goal();
    const local = goal({ achievementStatus: status('improving'), note: [{ text: 'Ward note' }] });
    const remote = goal({ description: { text: 'Sleep through most nights' } });
    const { merged, conflicts } = mergeResources({ base, local, remote });
    expect(conflicts).toEqual([]);
    expect(merged.description.text).toBe('Sleep through most nights');
    expect(merged.achievementStatus).toEqual(status('improving'));
    expect(merged.note).toEqual([{ text: 'Ward note' }]);
  });

  it('keys a Goal’s DIALOG+ steps by step: one side’s new text kept, both changing it a conflict', () => {
    const base = goal();
    const local = goal({
      extension: [step('understanding', 'Wakes at 3'), step('looking-forward', 'Sleep 7 hours')],
    });
    const remote = goal({
      extension: [step('understanding', 'Wakes at 4'), step('looking-forward', 'Sleep through')],
    });
    const one = mergeResources({ base, local, remote });
    expect(one.conflicts).toEqual([]);
    expect(one.merged.extension).toEqual([
      step('understanding', 'Wakes at 4'),
      step('looking-forward', 'Sleep 7 hours'),
    ]);
    const both = mergeResources({
      base,
      local,
      remote: goal({
        extension: [step('understanding', 'Wakes at 3'), step('looking-forward', 'Nap less')],
      }),
    });
    expect(both.conflicts.map((c) => c.part)).toEqual([
      `Goal.extension.where(url = '${Extensions.plusStep}' and extension.where(url = 'step').value.code = 'looking-forward')`,
    ]);
    // The remote's version stays in place; the local one is in the conflict.
    expect(both.merged.extension?.[1]).toEqual(step('looking-forward', 'Nap less'));
    expect(both.conflicts[0]?.local).toEqual(step('looking-forward', 'Sleep 7 hours'));
  });

  it('merges a carer’s new telecom with a new relationship; without a base, differing content is a conflict', () => {
    const carer: RelatedPerson = {
      resourceType: 'RelatedPerson',
      id: 'c1',
      patient: { reference: 'Patient/p1' },
      name: [{ given: ['Hannah'] }],
      telecom: [{ system: 'phone', value: '1' }],
    };
    const local: RelatedPerson = {
      ...carer,
      telecom: [...(carer.telecom ?? []), { system: 'email', value: 'h@x' }],
    };
    const remote = { ...carer, relationship: [{ text: 'sister' }] } as RelatedPerson;
    const { merged, conflicts } = mergeResources<RelatedPerson>({ base: carer, local, remote });
    expect(conflicts).toEqual([]);
    expect(merged.telecom?.map((t) => t.value)).toEqual(['1', 'h@x']);
    expect(merged.relationship).toEqual([{ text: 'sister' }]);
    // Without a base (first contact), differing content is a conflict, never a silent choice.
    const first = mergeResources<RelatedPerson>({
      local: { ...carer, gender: 'female' },
      remote: { ...carer, gender: 'other' },
    });
    expect(first.conflicts.map((c) => c.part)).toEqual(['RelatedPerson.gender']);
    expect(first.merged.gender).toBe('other');
  });
});
