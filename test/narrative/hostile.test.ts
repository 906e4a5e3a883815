import type {
  Bundle,
  CarePlan,
  Goal,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Resource,
} from '@medplum/fhirtypes';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { narrativeOf, withNarrative, type NarrativeContext } from '../../src/narrative';
import { createValidator, hasErrors } from '../../src/validation';
import { EXAMPLES_DIR } from '../support/examples';
import { checkNarrative, elementNames, plainText, sayings, withoutNonXml } from './xhtml-check';

const journey = [
  '01-community-start',
  '02-admission',
  '03-inpatient-review',
  '04-discharge',
].flatMap((step) =>
  (
    (JSON.parse(readFileSync(join(EXAMPLES_DIR, 'journey', `${step}.json`), 'utf8')) as Bundle)
      .entry ?? []
  ).map((e) => e.resource as Resource),
);
const byRef = new Map(journey.map((r) => [`${r.resourceType}/${r.id}`, r]));
const pick = <T extends Resource>(ref: string): T => structuredClone(byRef.get(ref) as T);

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' onmouseover='alert(1)",
  'Tom & Jerry &amp; &lt;b&gt; &#60;script&#62;',
  '<![CDATA[ ]]> <!-- comment --> <?xml version="1.0"?>',
  '<a href="javascript:alert(1)">click</a><style>body{}</style>',
  'Zoë, Siân and Łukasz — 日本語, عربي, \u202Eevil\u202C, emoji 🧠👩🏽‍⚕️',
];
const ALL_HOSTILE = HOSTILE.join(' | ');

/** The journey plan and its goal, with hostile text everywhere a person or system can type. */
function hostilePlan(text: string): { plan: CarePlan; goal: Goal; context: NarrativeContext } {
  const plan = pick<CarePlan>('CarePlan/care-plan-megan-price');
  plan.title = text;
  plan.description = text;
  plan.note = [{ time: '2025-11-18T15:00:00+00:00', text }];
  for (const activity of plan.activity ?? []) {
    if (!activity.detail) continue;
    activity.detail.description = text;
    activity.detail.scheduledString = text;
    activity.detail.performer = [{ display: text }];
    activity.detail.statusReason = { text };
  }
  for (const e of plan.extension ?? []) {
    for (const part of e.extension ?? []) {
      if (part.valueReference) part.valueReference.display = text;
      if (part.valueString !== undefined) part.valueString = text;
      if (part.valueCoding) part.valueCoding.display = text;
    }
    if (e.valueReference) e.valueReference.display = text;
  }
  const goal = pick<Goal>('Goal/goal-03-physical-health');
  goal.description = { text };
  goal.note = [{ text }];
  goal.target = [{ measure: { text: 'Weight' }, detailString: text, dueDate: '2026-01-31' }];
  for (const e of goal.extension ?? [])
    for (const part of e.extension ?? [])
      if (part.valueString !== undefined) part.valueString = text;
  const practitioner = pick<Resource>('Practitioner/sam-whitfield');
  if (practitioner.resourceType === 'Practitioner') {
    practitioner.name = [{ text }];
    practitioner.telecom = [{ system: 'phone', value: text }];
  }
  const resources = new Map<string, Resource>([
    ['Goal/goal-03-physical-health', goal],
    ['Practitioner/sam-whitfield', practitioner],
  ]);
  const context: NarrativeContext = {
    resolve: (ref) => resources.get(ref) ?? byRef.get(ref),
    latest: hostileResponse(text),
  };
  return { plan, goal, context };
}

function rewriteStrings(
  items: readonly QuestionnaireResponseItem[] | undefined,
  text: string,
): void {
  for (const item of items ?? []) {
    // previous-action.status is one of its answer options, not free text.
    if (item.linkId === 'previous-action.status') continue;
    for (const answer of item.answer ?? [])
      if (answer.valueString !== undefined) answer.valueString = text;
    rewriteStrings(item.item, text);
  }
}

function hostileResponse(text: string): QuestionnaireResponse {
  const response = pick<QuestionnaireResponse>('QuestionnaireResponse/qr-03-inpatient-review');
  rewriteStrings(response.item, text);
  response.author = { reference: 'Practitioner/priya-nair', display: text };
  return response;
}

/** Every element and attribute allowed, no markup from the text, and the text all there. */
function expectInert(div: string, text: string): void {
  const tree = checkNarrative(div);
  const names = elementNames(tree);
  for (const bad of ['script', 'img', 'style', 'a', 'iframe']) expect(names).not.toContain(bad);
  expect(plainText(tree)).toContain(withoutNonXml(text).trim());
}

describe('hostile text stays text', () => {
  it.each(HOSTILE)('in a care plan, a goal and a response: %s', (text) => {
    const { plan, goal, context } = hostilePlan(text);
    for (const resource of [plan, goal, context.latest as QuestionnaireResponse]) {
      const narrative = narrativeOf(resource, context);
      expectInert(narrative?.div ?? '', text);
    }
  });

  it('is escaped as XML requires', () => {
    const { goal } = hostilePlan(ALL_HOSTILE);
    const div = narrativeOf(goal)?.div ?? '';
    expect(div).not.toMatch(/<(?:script|img|style|a\b|!--|!\[CDATA|\?xml)/i);
    expect(div).not.toMatch(/<[a-z][^>]*\s(?:on\w+|href|src)\s*=/i);
    expect(div).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(div).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(div).toContain('Tom &amp; Jerry &amp;amp; &amp;lt;b&amp;gt;');
    expect(div).toContain('🧠👩🏽‍⚕️');
  });

  it('and the resources still validate, with the whole context', () => {
    const validator = createValidator();
    const { plan, goal, context } = hostilePlan(ALL_HOSTILE);
    for (const resource of [plan, goal, context.latest as QuestionnaireResponse]) {
      const outcome = validator.validate(withNarrative(resource, context));
      expect(hasErrors(outcome) ? outcome.issue : []).toEqual([]);
    }
  });

  it('never produces markup from any text in any field (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), (text) => {
        const { plan, goal, context } = hostilePlan(text);
        for (const resource of [plan, goal, context.latest as QuestionnaireResponse]) {
          const div = narrativeOf(resource, context)?.div ?? '';
          const names = elementNames(checkNarrative(div));
          expect(names).not.toContain('script');
          expect(names).not.toContain('img');
          expect(names).not.toContain('a');
        }
        // The goal's words come back exactly (less what XML cannot hold).
        const said = sayings(narrativeOf(goal)?.div ?? '');
        const expected = withoutNonXml(text).replace(/\s+/g, ' ').trim();
        expect(said).toContain(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('dates', () => {
  it('are read at the offset the value carries, whatever the machine zone', () => {
    const goal = pick<Goal>('Goal/goal-03-physical-health');
    goal.note = [{ time: '2025-09-30T23:30:00-05:00', text: 'late' }];
    const plan = pick<CarePlan>('CarePlan/care-plan-megan-price');
    plan.note = [
      { time: '2025-09-30T23:30:00-05:00', text: 'late' },
      { time: '2026-03-29T00:30:00+00:00', text: 'clocks go forward' },
    ];
    const text = sayings(narrativeOf(plan)?.div ?? '');
    expect(text).toContain('30 September 2025 at 11:30pm: late');
    expect(text).toContain('29 March 2026 at 12:30am: clocks go forward');
  });
});
