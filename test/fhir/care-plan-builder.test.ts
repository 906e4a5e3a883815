import type {
  Bundle,
  CarePlan,
  CarePlanActivity,
  Extension,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
} from '@medplum/fhirtypes';
import type { Episode } from '../../src/dialog';
import {
  buildCarePlan,
  CARE_PLAN_IDENTIFIER_SYSTEM,
  extractedIdentifier,
  extractObservations,
  sessionTransaction,
  type CarePlanInput,
  type CarePlanResult,
} from '../../src/fhir';
import { errorsOf } from './helpers';
import { journey, journeyResponses } from './journey';

const steps = journey();
const responses = journeyResponses();
const PLAN_ID = '5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const community: Episode = {
  setting: 'community',
  start: '2025-09-09T09:00:00+01:00',
  timeZone: 'Europe/London',
};
const ward: Episode = {
  setting: 'inpatient',
  start: '2025-10-20T22:40:00+01:00',
  timeZone: 'Europe/London',
};
const episodes: Record<string, Episode> = {
  'qr-01-community-start': community,
  'qr-02-admission': ward,
  'qr-03-inpatient-review': ward,
  'qr-04-discharge': { ...ward, end: '2025-12-09T11:30:00+00:00' },
  'qr-04b-community-start': { ...community, start: '2025-12-09T11:30:00+00:00' },
};

function response(id: string): QuestionnaireResponse {
  const found = responses.find((r) => r.id === id);
  if (!found) throw new Error(`no example ${id}`);
  return found;
}

function examplePlan(step: string): CarePlan {
  const plan = steps.find((s) => s.step === step)?.carePlan;
  if (!plan) throw new Error(`no plan at step ${step}`);
  return plan;
}

function built(result: CarePlanResult): Extract<CarePlanResult, { ok: true }> {
  if (!result.ok) throw new Error(JSON.stringify(result.outcome));
  return result;
}

function build(id: string, existing?: CarePlan, more: Partial<CarePlanInput> = {}) {
  const qr = response(id);
  const episode = episodes[id];
  return built(
    buildCarePlan({
      response: qr,
      ...(existing ? { existing } : {}),
      history: responses.slice(0, responses.indexOf(qr)),
      ...(episode ? { episode } : {}),
      newPlanIdentifier: () => PLAN_ID,
      ...more,
    }),
  );
}

const statusOf = (plan: CarePlan, what: string): string | undefined =>
  plan.activity?.find((a) => a.detail?.description === what)?.detail?.status;

const reviewDue = (plan: CarePlan): { due: string | undefined; setting: string | undefined }[] =>
  (plan.extension ?? [])
    .filter((e) => e.url.endsWith('/dialog-review-due'))
    .map((e) => ({
      due: e.extension?.find((x) => x.url === 'due')?.valueDateTime?.slice(0, 10),
      setting: e.extension?.find((x) => x.url === 'setting')?.valueCoding?.code,
    }));

describe('the journey, session by session, from no plan', () => {
  const plans: CarePlan[] = [];
  const results = responses.map((qr) => {
    const result = build(qr.id ?? '', plans[plans.length - 1]);
    plans.push(result.carePlan);
    return result;
  });
  const [first, second, third, fourth, fifth] = results;
  if (!first || !second || !third || !fourth || !fifth) throw new Error('five sessions');

  it('makes one plan with its business identifier, kept ever after', () => {
    for (const plan of plans)
      expect(plan.identifier).toEqual([{ system: CARE_PLAN_IDENTIFIER_SYSTEM, value: PLAN_ID }]);
  });

  it('validates every plan and goal', () => {
    for (const result of results) {
      expect(errorsOf(result.carePlan)).toEqual([]);
      for (const goal of result.goals) expect(errorsOf(goal)).toEqual([]);
    }
  });

  it('sets a goal per discussed item and an activity per agreed action', () => {
    expect(results.map((r) => r.goals.length)).toEqual([3, 0, 1, 1, 0]);
    expect(first.carePlan.goal).toHaveLength(3);
    const sleep = first.carePlan.activity?.[0];
    expect(sleep?.detail).toEqual({
      code: {
        coding: [
          {
            system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-plan-sections',
            code: 'agreed-action',
            display: 'Action agreed in a DIALOG+ session',
          },
        ],
      },
      goal: [first.carePlan.goal?.[0]],
      status: 'not-started',
      scheduledPeriod: { end: '2025-09-30' },
      performer: [{ display: 'Megan' }],
      description:
        'Try the wind-down routine from the sleep guide every night and note how it goes',
    });
    expect(fifth.carePlan.activity?.filter((a) => a.id?.startsWith('action-'))).toHaveLength(9);
  });

  it('records the review of last time’s actions as the example plans do', () => {
    const v3 = examplePlan('03');
    for (const what of [
      'Try the wind-down routine from the sleep guide every night and note how it goes',
      'Refer Megan to the psychology team for talking therapy',
      'Send Jess a message to suggest meeting for a coffee',
      'Book an appointment with the welfare rights adviser to help with the PIP claim',
    ])
      expect(statusOf(third.carePlan, what)).toBe(statusOf(v3, what));
    // "Not done" leaves a not-started action not started.
    expect(
      statusOf(
        third.carePlan,
        'Go to the Thursday walking group at the Hub, with Sam the first time',
      ),
    ).toBe('not-started');
    expect(statusOf(fourth.carePlan, 'Join the ward gym sessions on Tuesdays and Thursdays')).toBe(
      'completed',
    );
  });

  it('keeps the review due of each setting from nextDue, and drops it when the episode ends', () => {
    expect(reviewDue(first.carePlan)).toEqual([{ due: '2026-03-16', setting: 'community' }]);
    // 28 days after the admission rating: the example plan's date.
    expect(reviewDue(second.carePlan)).toContainEqual({ due: '2025-11-19', setting: 'inpatient' });
    expect(reviewDue(examplePlan('02'))).toEqual([{ due: '2025-11-19', setting: 'inpatient' }]);
    expect(reviewDue(third.carePlan)).toContainEqual({ due: '2025-12-16', setting: 'inpatient' });
    expect(reviewDue(fourth.carePlan).map((d) => d.setting)).not.toContain('inpatient');
    // The reused discharge rating starts the new community episode: 6 months on.
    expect(reviewDue(fifth.carePlan)).toEqual([{ due: '2026-06-09', setting: 'community' }]);
  });

  it('links each response and its means, once', () => {
    const infos = fifth.carePlan.supportingInfo ?? [];
    const responsesLinked = infos.filter((i) => i.reference?.startsWith('QuestionnaireResponse/'));
    expect(responsesLinked.map((r) => r.reference)).toEqual(
      responses.map((r) => `QuestionnaireResponse/${r.id}`),
    );
    // Two means for each of the four sessions with their own ratings (the reused one has none).
    expect(infos.length - responsesLinked.length).toBe(8);
  });

  it('is idempotent: the same session again changes nothing', () => {
    expect(build('qr-03-inpatient-review', third.carePlan).carePlan).toEqual(third.carePlan);
  });
});

describe('updating a plan others also write', () => {
  const v2 = examplePlan('02');
  const result = build('qr-03-inpatient-review', v2);
  const plan = result.carePlan;

  it('keeps every activity it held, in order, changing only reviewed statuses', () => {
    const before = v2.activity ?? [];
    const after = plan.activity ?? [];
    expect(after.slice(0, before.length).map((a) => a.id)).toEqual(before.map((a) => a.id));
    before.forEach((activity, i) => {
      const now = after[i] as CarePlanActivity;
      expect({ ...now, detail: { ...now.detail, status: activity.detail?.status } }).toEqual(
        activity,
      );
    });
    // The walking group was paused by the ward; "not done" does not unpause it (as in v3).
    expect(
      statusOf(plan, 'Go to the Thursday walking group at the Hub, with Sam the first time'),
    ).toBe('on-hold');
    expect(after.length).toBe(before.length + 2);
  });

  it('keeps extensions, notes, goals, contributors and identity', () => {
    const notReviewDue = (e: Extension): boolean => !e.url.endsWith('/dialog-review-due');
    expect(plan.extension?.filter(notReviewDue)).toEqual(v2.extension?.filter(notReviewDue));
    expect(plan.note).toEqual(v2.note);
    expect(plan.goal?.slice(0, 3)).toEqual(v2.goal);
    expect(plan.contributor).toEqual(v2.contributor);
    for (const key of [
      'id',
      'meta',
      'identifier',
      'title',
      'description',
      'period',
      'created',
      'author',
    ] as const)
      expect(plan[key]).toEqual(v2[key]);
    expect(errorsOf(plan)).toEqual([]);
  });

  it('updates the plan where it is, only if it is unchanged since it was read', () => {
    const entry = result.entries[result.entries.length - 1];
    expect(entry?.request).toEqual({
      method: 'PUT',
      url: 'CarePlan/care-plan-megan-price',
      ifMatch: 'W/"2"',
    });
  });

  it('keeps foreign activities and extensions, even ones it does not know', () => {
    const foreign: CarePlan = {
      ...v2,
      extension: [
        ...(v2.extension ?? []),
        { url: 'https://other-trust.example/fhir/StructureDefinition/bed', valueString: 'Bay 4' },
      ],
      activity: [
        ...(v2.activity ?? []),
        {
          id: 'other-trust-activity',
          extension: [{ url: 'https://other-trust.example/fhir/ext/key', valueString: 'k1' }],
          detail: {
            code: {
              coding: [
                {
                  system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-plan-sections',
                  code: 'visits',
                },
              ],
            },
            status: 'in-progress',
            description: 'Visits on Sundays',
          },
        },
        {
          // An action another system copied from session 03 by hand, with its own id.
          id: 'copied-by-hand',
          detail: {
            code: {
              coding: [
                {
                  system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-plan-sections',
                  code: 'agreed-action',
                },
              ],
            },
            status: 'scheduled',
            description: 'Join the ward gym sessions on Tuesdays and Thursdays',
          },
        },
      ],
      goal: [...(v2.goal ?? []), { reference: 'Goal/other-trust-goal' }],
      note: [...(v2.note ?? []), { text: 'Written by the other trust' }],
    };
    const merged = build('qr-03-inpatient-review', foreign).carePlan;
    expect(merged.extension).toContainEqual(foreign.extension?.[foreign.extension.length - 1]);
    for (const activity of foreign.activity ?? [])
      expect(merged.activity).toContainEqual(
        activity.detail?.description ===
          'Go to the Thursday walking group at the Hub, with Sam the first time'
          ? activity
          : expect.objectContaining({ id: activity.id }),
      );
    expect(merged.activity?.find((a) => a.id === 'other-trust-activity')).toEqual(
      foreign.activity?.find((a) => a.id === 'other-trust-activity'),
    );
    expect(merged.goal).toContainEqual({ reference: 'Goal/other-trust-goal' });
    expect(merged.note).toEqual(foreign.note);
    expect(errorsOf(merged)).toEqual([]);
  });

  it('adds its identifier and category to a plan that lacks them, keeping theirs', () => {
    const theirs: CarePlan = {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      subject: { reference: 'Patient/megan-price' },
      identifier: [{ system: 'https://other-trust.example/plans', value: '77' }],
      category: [{ text: 'Community care plan' }],
    };
    const result = build('qr-01-community-start', theirs);
    const plan = result.carePlan;
    const [, ours] = plan.identifier ?? [];
    expect(plan.identifier).toEqual([
      { system: 'https://other-trust.example/plans', value: '77' },
      { system: CARE_PLAN_IDENTIFIER_SYSTEM, value: expect.stringMatching(UUID) },
    ]);
    // Derived from their identifier, not made up: every build from their plan adds the same one.
    expect(ours?.value).not.toBe(PLAN_ID);
    expect(build('qr-01-community-start', theirs).carePlan.identifier).toEqual(plan.identifier);
    // Without an id it is found by the identifier it already has, so no second plan is made.
    expect(result.entries[result.entries.length - 1]?.request).toEqual({
      method: 'PUT',
      url: 'CarePlan?identifier=https://other-trust.example/plans|77',
    });
    expect(plan.category?.[0]).toEqual({ text: 'Community care plan' });
    expect(errorsOf(plan)).toEqual([]);
  });

  describe('a plan another system created, without a dialog-fhir identifier', () => {
    const ward: CarePlan = {
      resourceType: 'CarePlan',
      id: 'ward-plan-7',
      meta: { versionId: '3' },
      status: 'active',
      intent: 'plan',
      subject: { reference: 'Patient/megan-price' },
    };
    const first = build('qr-02-admission', ward);
    const [ours] = first.carePlan.identifier ?? [];

    it('is updated where it is, by its id and version', () => {
      expect(first.entries[first.entries.length - 1]?.request).toEqual({
        method: 'PUT',
        url: 'CarePlan/ward-plan-7',
        ifMatch: 'W/"3"',
      });
      expect(first.carePlan.id).toBe('ward-plan-7');
      expect(errorsOf(first.carePlan)).toEqual([]);
    });

    it('gets one business identifier, the same each time, kept once stored', () => {
      expect(first.carePlan.identifier).toEqual([
        { system: CARE_PLAN_IDENTIFIER_SYSTEM, value: expect.stringMatching(UUID) },
      ]);
      expect(ours?.value).not.toBe(PLAN_ID);
      // Built again from the same plan (a retry after a version clash): the same identifier.
      expect(build('qr-02-admission', ward).carePlan.identifier).toEqual([ours]);
      // As stored: the next session keeps it, and still writes by id.
      const stored = { ...first.carePlan, meta: { ...first.carePlan.meta, versionId: '4' } };
      const next = build('qr-03-inpatient-review', stored);
      expect(next.carePlan.identifier).toEqual([ours]);
      expect(next.entries[next.entries.length - 1]?.request).toEqual({
        method: 'PUT',
        url: 'CarePlan/ward-plan-7',
        ifMatch: 'W/"4"',
      });
    });

    it('is refused when it has neither an id nor an identifier to be found by', () => {
      const anonymous: CarePlan = { ...ward };
      delete anonymous.id;
      const result = buildCarePlan({ response: response('qr-02-admission'), existing: anonymous });
      expect(!result.ok && result.outcome.issue.map((i) => i.expression?.[0])).toEqual([
        'CarePlan.id',
      ]);
    });
  });
});

describe('performers and refusals', () => {
  it('resolves who does an action when it can, else keeps it as text', () => {
    const plan = build('qr-01-community-start', undefined, {
      performers: (who) =>
        who === 'Megan'
          ? [{ reference: 'Patient/megan-price', display: 'Megan Price' }]
          : undefined,
    }).carePlan;
    const performers = plan.activity?.map((a) => a.detail?.performer);
    expect(performers?.[0]).toEqual([{ reference: 'Patient/megan-price', display: 'Megan Price' }]);
    expect(performers?.[1]).toEqual([{ display: 'Sam Whitfield' }]);
  });

  it('refuses a session in progress, and a session about someone else', () => {
    const draft = { ...response('qr-01-community-start'), status: 'in-progress' as const };
    const inProgress = buildCarePlan({ response: draft });
    expect(!inProgress.ok && inProgress.outcome.issue[0]?.expression).toEqual([
      'QuestionnaireResponse.status',
    ]);
    const other = { ...examplePlan('02'), subject: { reference: 'Patient/someone-else' } };
    const mismatch = buildCarePlan({
      response: response('qr-03-inpatient-review'),
      existing: other,
    });
    expect(!mismatch.ok && mismatch.outcome.issue[0]?.expression).toEqual(['CarePlan.subject']);
  });

  it('says when a reviewed action is not in the plan', () => {
    const result = build('qr-03-inpatient-review', examplePlan('01'), {});
    expect(result.issues).toEqual([]);
    const bare: CarePlan = { ...examplePlan('01'), activity: [] };
    const missing = build('qr-03-inpatient-review', bare);
    expect(missing.issues.map((i) => i.code)).toEqual(Array(5).fill('not-found'));
  });

  it('names the reviewed action at its real place, after an item that is not read', () => {
    const qr = structuredClone(response('qr-03-inpatient-review'));
    const group = qr.item?.find((i) => i.linkId === 'previous-actions');
    if (!group?.item) throw new Error('the review has actions to review');
    // An action without `what` (only a status): not read, but it still takes a place.
    group.item.unshift({
      linkId: 'previous-action',
      item: [{ linkId: 'previous-action.status', answer: [{ valueString: 'done' }] }],
    });
    const bare: CarePlan = { ...examplePlan('01'), activity: [] };
    const missing = build('qr-03-inpatient-review', bare, { response: qr });
    const itemAt = (path: string): QuestionnaireResponseItem | undefined => {
      let node: { item?: QuestionnaireResponseItem[] } | undefined = qr;
      for (const [, i] of path.matchAll(/\.item\[(\d+)\]/g)) node = node?.item?.[Number(i)];
      return node as QuestionnaireResponseItem | undefined;
    };
    const named = missing.issues.map((i) => {
      const item = itemAt(i.expression?.[0] ?? '');
      return item?.item?.find((c) => c.linkId === 'previous-action.what')?.answer?.[0]?.valueString;
    });
    const reviewed = group.item.flatMap((a) =>
      a.item?.some((c) => c.linkId === 'previous-action.status')
        ? (a.item.find((c) => c.linkId === 'previous-action.what')?.answer ?? []).map(
            (x) => x.valueString,
          )
        : [],
    );
    expect(named).toHaveLength(5);
    expect(named).toEqual(reviewed);
  });
});

describe('the history it is given', () => {
  it('reads it by the same rule as $extract: DIALOG responses of this person only, reporting the rest', () => {
    const other = {
      ...response('qr-01-community-start'),
      questionnaire: 'https://example.org/Questionnaire/phq-9',
    };
    const result = build('qr-02-admission', examplePlan('01'), { history: [other] });
    expect(result.issues.map((i) => [i.severity, i.expression?.[0], i.diagnostics])).toEqual([
      [
        'information',
        'history[0]',
        'An earlier response is left out: it does not answer the DIALOG Questionnaire',
      ],
    ]);
  });

  it('takes a plan whose subject is written as an absolute reference to the same person', () => {
    const absolute: CarePlan = {
      ...examplePlan('02'),
      subject: { reference: 'https://ehr.westmere.example/fhir/Patient/megan-price' },
    };
    expect(build('qr-03-inpatient-review', absolute).carePlan.subject).toEqual(absolute.subject);
  });

  it('points a goal of a reused rating at the Observation the reused rating was extracted as', () => {
    const reused = structuredClone(response('qr-04b-community-start'));
    const discussion = reused.item?.find((i) => i.linkId === 'discussion');
    const mental = {
      linkId: 'discussed-item',
      item: [
        {
          linkId: 'discussed-item.concept',
          answer: [
            {
              valueCoding: {
                system: 'http://snomed.info/sct',
                code: '1037651000000100',
              },
            },
          ],
        },
      ],
    };
    if (discussion) discussion.item = [...(discussion.item ?? []), mental];
    else reused.item = [...(reused.item ?? []), { linkId: 'discussion', item: [mental] }];
    const result = build('qr-04b-community-start', examplePlan('04'), { response: reused });
    const [goal] = result.goals;
    // Nothing is extracted from the reuse: no urn:uuid in this transaction could resolve.
    expect(goal?.addresses).toEqual([
      {
        type: 'Observation',
        identifier: extractedIdentifier(
          'QuestionnaireResponse/qr-04-discharge',
          'mental-health.score',
        ),
      },
    ]);
  });
});

describe('one transaction per session', () => {
  it('resolves every urn:uuid the plan and goals use within the bundle', () => {
    const qr = response('qr-03-inpatient-review');
    const history = responses.slice(0, 2);
    const extracted = extractObservations(qr, { history });
    if (!extracted.ok) throw new Error('extracts');
    const plan = build('qr-03-inpatient-review', examplePlan('02'));
    const bundle: Bundle = sessionTransaction(extracted.bundle, plan);
    const fullUrls = new Set((bundle.entry ?? []).map((e) => e.fullUrl));
    const urns = JSON.stringify(bundle).match(/"reference":"urn:uuid:[0-9a-f-]+"/g) ?? [];
    expect(urns.length).toBeGreaterThan(0);
    for (const urn of urns) expect(fullUrls).toContain(urn.slice('"reference":"'.length, -1));
    expect(errorsOf(bundle)).toEqual([]);
    const goals = (bundle.entry ?? []).filter((e) => e.resource?.resourceType === 'Goal');
    expect(goals.map((g) => g.request?.method)).toEqual(['POST']);
    expect(goals[0]?.request?.ifNoneExist).toMatch(
      /^identifier=https:\/\/dialog-fhir.org\/fhir\/sid\/dialog-goal\|/,
    );
  });
});
