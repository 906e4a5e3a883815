import type {
  Bundle,
  CarePlan,
  Goal,
  Narrative,
  Observation,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { narrativeOf, withNarrative, type NarrativeContext } from '../../src/narrative';
import { createValidator, hasErrors } from '../../src/validation';
import { EXAMPLES_DIR, validExamples } from '../support/examples';
import { checkNarrative, sayings } from './xhtml-check';

/** A resource that may carry a narrative. */
type DomainResource = Resource & { text?: Narrative };

const STEPS = ['01-community-start', '02-admission', '03-inpatient-review', '04-discharge'];

function bundle(step: string): Resource[] {
  const b = JSON.parse(
    readFileSync(join(EXAMPLES_DIR, 'journey', `${step}.json`), 'utf8'),
  ) as Bundle;
  return (b.entry ?? []).map((e) => e.resource as Resource);
}

const byStep = new Map(STEPS.map((s) => [s, bundle(s)]));
const all = STEPS.flatMap((s) => byStep.get(s) ?? []);
/** The latest version of each resource the journey holds (the plan is rewritten each step). */
const latest = new Map(all.map((r) => [`${r.resourceType}/${r.id}`, r]));
const resolve = (reference: string): Resource | undefined => latest.get(reference);

function find<T extends Resource>(step: string, id: string): T {
  const found = byStep.get(step)?.find((r) => r.id === id);
  if (!found) throw new Error(`${step} has no ${id}`);
  return found as T;
}

function says(resource: Resource, context?: NarrativeContext): string {
  const narrative = narrativeOf(resource, context);
  if (!narrative) throw new Error(`no narrative for ${resource.resourceType}/${resource.id}`);
  expect(narrative.status).toBe('generated');
  return sayings(narrative.div);
}

const WRITTEN = new Set(['QuestionnaireResponse', 'Observation', 'Goal', 'CarePlan']);
const validator = createValidator();

describe('every resource the service writes gets a narrative that still validates', () => {
  const examples = validExamples();
  it.each(examples.map((e) => [e.name, e.resource] as const))('%s', (_name, resource) => {
    const context: NarrativeContext = { resolve };
    const written = withNarrative(resource, context);
    if (!WRITTEN.has(resource.resourceType)) {
      expect(written).toBe(resource);
      return;
    }
    expect(written).not.toBe(resource);
    expect((resource as DomainResource).text).toBeUndefined(); // the input is not changed
    const text = (written as DomainResource).text;
    expect(text?.status).toBe('generated');
    checkNarrative(text?.div ?? '');
    expect(sayings(text?.div ?? '')).not.toBe('');
    const outcome = validator.validate(written);
    expect(hasErrors(outcome) ? outcome.issue : []).toEqual([]);
  });

  it('is deterministic and replaces an earlier generated text', () => {
    const plan = find<CarePlan>('03-inpatient-review', 'care-plan-megan-price');
    const once = withNarrative(plan, { resolve });
    const twice = withNarrative(once, { resolve });
    expect(twice.text).toEqual(once.text);
  });
});

describe('the DIALOG session narrative', () => {
  const review = find<QuestionnaireResponse>('03-inpatient-review', 'qr-03-inpatient-review');
  const admission = find<QuestionnaireResponse>('02-admission', 'qr-02-admission');

  it('gives when, where, who, the ratings with their labels in SNOMED order, and help wanted', () => {
    const text = says(review);
    expect(text).toContain('DIALOG+ session, 18 November 2025 at 2pm');
    expect(text).toContain('Review, Inpatient mental health service.');
    expect(text).toContain('Rated by Megan Price; recorded by Priya Nair.');
    expect(text).toContain('Mental health 4 (in the middle) Yes');
    expect(text).toContain('Job situation 3 (fairly dissatisfied) Not recorded');
    expect(text).toContain('Relationship with partner/family 6 (very satisfied) No');
    expect(text).toContain('Meetings with mental health professionals 6 (very satisfied) No');
    const order = [
      'Mental health',
      'Physical health',
      'Job situation',
      'Accommodation',
      'Leisure activities',
      'Friendships',
      'Relationship with partner/family',
      'Personal safety',
      'Medication',
      'Practical help received',
      'Meetings with mental health professionals',
    ].map((label) => text.indexOf(`${label} `));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] ?? 0)))).toBe(true);
    expect(text).toContain('Average of the 8 life areas (subjective quality of life) 4.25');
  });

  it('reviews last time first, then the chosen areas, the four steps and the actions', () => {
    const text = says(review);
    const reviewed = text.indexOf('Actions agreed last time');
    expect(reviewed).toBeGreaterThan(-1);
    expect(reviewed).toBeLessThan(text.indexOf('Ratings'));
    expect(text).toContain(
      'Try the wind-down routine from the sleep guide every night and note how it goes: partly done',
    );
    expect(text).toContain('Chosen to discuss Physical health.');
    for (const step of [
      'Understanding',
      'Looking forward',
      'Exploring options',
      'Agreeing actions',
    ])
      expect(text).toContain(step);
    expect(text).toContain(
      'Refer Megan to the dietitian about weight gain since starting her new medication (Priya Nair, by 25 November 2025)',
    );
  });

  it('says what changed since last time when given the rating before', () => {
    const text = says(review, { previous: admission });
    expect(text).toContain(
      'Mental health 4 (in the middle) Yes 2 (very dissatisfied) +2: Reliable improvement',
    );
    expect(text).toContain(
      'Accommodation 5 (fairly satisfied) No 5 (fairly satisfied) 0: No reliable change',
    );
    expect(text).toContain('2.67 (incomplete) +1.58: Reliable improvement');
  });

  it('reads dates at the offset they carry', () => {
    expect(says(admission)).toContain('22 October 2025 at 10:15am');
  });

  it('says when ratings were reused, and why', () => {
    const reused = find<QuestionnaireResponse>('04-discharge', 'qr-04b-community-start');
    const text = says(reused);
    expect(text).toContain('These ratings are reused from an earlier rating');
    expect(text).toContain(
      'End of care with the service (episode end), Inpatient mental health service',
    );
  });

  it('says why DIALOG was not rated, and when a response is still in progress', () => {
    const examples = validExamples();
    const notRated = examples.find((e) => e.resource.id === 'qr-valid-not-rated')?.resource;
    const inProgress = examples.find((e) => e.resource.id === 'qr-valid-in-progress')?.resource;
    expect(says(notRated as Resource)).toContain(
      'DIALOG was not rated at this time: Could not understand the questions at that time.',
    );
    expect(says(notRated as Resource)).toContain('Priya will check again tomorrow morning');
    expect(says(inProgress as Resource)).toContain('In progress: not all answers are in yet');
  });
});

describe('the Observation narratives', () => {
  it('an item score: the rating with its label, when and where', () => {
    const text = says(find<Observation>('03-inpatient-review', 'obs-03-mental-health-score'));
    expect(text).toContain('DIALOG rating: Mental health');
    expect(text).toContain('4 (in the middle)');
    expect(text).toContain(
      'Rated on 18 November 2025 at 2pm. Review, Inpatient mental health service.',
    );
  });

  it('more help wanted', () => {
    const text = says(find<Observation>('03-inpatient-review', 'obs-03-mental-health-help'));
    expect(text).toContain('More help wanted with Mental health Yes');
  });

  it('a mean: the value, how it reads, how many areas, and whether incomplete', () => {
    const text = says(find<Observation>('03-inpatient-review', 'obs-03-sqol'));
    expect(text).toContain(
      'Average of the 8 life areas (subjective quality of life) 4.25 (satisfied on average)',
    );
    expect(text).toContain('Worked out from 8 areas rated.');
    expect(text).not.toContain('Incomplete');
    const admissionMean = says(find<Observation>('02-admission', 'obs-02-sqol'));
    expect(admissionMean).toContain('Incomplete');
  });

  it('a paired change: from → to, the difference and the reliable change words', () => {
    const item = says(find<Observation>('03-inpatient-review', 'obs-03-mental-health-change'));
    expect(item).toContain('Change in Mental health');
    expect(item).toContain('Reliable improvement');
    expect(item).toContain('From 2 (very dissatisfied) to 4 (in the middle).');
    expect(item).toContain('Difference: +2.');
    expect(item).toContain('Between the ratings of 22 October 2025 and 18 November 2025.');
    const mean = says(find<Observation>('03-inpatient-review', 'obs-03-sqol-change'));
    expect(mean).toContain('From 2.67 to 4.25.');
    expect(mean).toContain('Difference: +1.58.');
    expect(mean).toContain('At least one of the two averages is incomplete');
  });

  it('reliable deterioration and no reliable change are named as such', () => {
    const changes = all.filter(
      (r): r is Observation => r.resourceType === 'Observation' && (r.id ?? '').endsWith('-change'),
    );
    const words = new Set(
      changes.map((o) => o.interpretation?.[0]?.coding?.[0]?.code).filter(Boolean),
    );
    expect(words.has('no-reliable-change')).toBe(true);
    for (const o of changes) {
      const code = o.interpretation?.[0]?.coding?.[0]?.code;
      const expected = {
        'reliable-improvement': 'Reliable improvement',
        'reliable-deterioration': 'Reliable deterioration',
        'no-reliable-change': 'No reliable change',
      }[code ?? 'no-reliable-change'];
      expect(says(o)).toContain(expected);
    }
    const worse: Observation = {
      ...find<Observation>('03-inpatient-review', 'obs-03-mental-health-change'),
      valueQuantity: { value: -2, unit: 'score' },
      interpretation: [
        {
          coding: [
            {
              system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-change-interpretation',
              code: 'reliable-deterioration',
            },
          ],
        },
      ],
    };
    expect(says(worse)).toContain('Reliable deterioration');
    expect(says(worse)).toContain('Difference: -2.');
  });

  it('gives no narrative to Observations of other kinds', () => {
    const other: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      valueQuantity: { value: 70 },
    };
    expect(narrativeOf(other)).toBeUndefined();
    expect(withNarrative(other)).toBe(other);
  });
});

describe('the Goal narrative', () => {
  it('the area, the person’s words, status, dates and the DIALOG+ steps', () => {
    const text = says(find<Goal>('03-inpatient-review', 'goal-03-physical-health'));
    expect(text).toContain('Goal: Physical health');
    expect(text).toContain('Feel fitter and stop putting on weight before I go home.');
    expect(text).toContain('Status: Being worked on; In Progress');
    expect(text).toContain('Set on 18 November 2025.');
    expect(text).toContain('In the words of Megan Price.');
    expect(text).toContain('Agreeing actions Join the ward gym sessions');
  });

  it('a target with its due date', () => {
    const goal: Goal = {
      ...find<Goal>('04-discharge', 'goal-04-job-situation'),
      target: [{ dueDate: '2026-04-01', detailString: 'two days a week' }],
    };
    expect(says(goal)).toContain('Target: two days a week, by 1 April 2026');
  });
});

describe('the CarePlan narrative', () => {
  const plan1 = find<CarePlan>('01-community-start', 'care-plan-megan-price');
  const plan3 = find<CarePlan>('03-inpatient-review', 'care-plan-megan-price');
  const plan4 = find<CarePlan>('04-discharge', 'care-plan-megan-price');
  const changes = (byStep.get('03-inpatient-review') ?? []).filter(
    (r): r is Observation => r.resourceType === 'Observation' && (r.id ?? '').endsWith('-change'),
  );
  const context: NarrativeContext = {
    resolve,
    latest: find<QuestionnaireResponse>('03-inpatient-review', 'qr-03-inpatient-review'),
    previous: find<QuestionnaireResponse>('02-admission', 'qr-02-admission'),
    changes,
  };

  it('the key worker and how to reach them, the service that holds the plan, the reviews', () => {
    const text = says(plan3, context);
    expect(text).toContain('Key worker Sam Whitfield (Registered Mental Health Nurse');
    expect(text).toContain(
      'How to reach them: Phone: 01632 960118; Email: sam.whitfield@northbrook.example.',
    );
    expect(text).toContain(
      'Service responsible for the plan Larch Ward, Westmere Hospital (Inpatient mental health service), since 20 October 2025.',
    );
    expect(text).toContain(
      'Before that: Northbrook Community Mental Health Team (Community mental health service), from 9 September 2025 to 20 October 2025',
    );
    expect(text).toContain(
      'Review dates Review, Inpatient mental health service: due 16 December 2025',
    );
  });

  it('without resolve, the names the references display', () => {
    const text = says(plan3);
    expect(text).toContain('Key worker Sam Whitfield');
    expect(text).not.toContain('How to reach them: Phone: 01632 960118');
    expect(text).toContain('Goal/goal-01-mental-health');
  });

  it('the latest ratings with labels, what changed since last time and over the episode', () => {
    const text = says(plan3, context);
    expect(text).toContain('Latest DIALOG ratings (18 November 2025)');
    expect(text).toContain(
      'Mental health 4 (in the middle) Yes 2 (very dissatisfied) +2: Reliable improvement',
    );
    expect(text).toContain('Chosen to discuss: Physical health.');
    expect(text).toContain('Change over this episode of care');
    expect(text).toContain(
      'Between the first and the latest rating, from 22 October 2025 to 18 November 2025.',
    );
    expect(text).toContain(
      'Personal safety 2 (very dissatisfied) 5 (fairly satisfied) +3 Reliable improvement',
    );
    expect(text).toContain(
      'Average of the 8 life areas (subjective quality of life) 2.67 4.25 +1.58 Reliable improvement (incomplete average)',
    );
  });

  it('goals, and actions with owners, dates and statuses', () => {
    const text = says(plan3, context);
    expect(text).toContain(
      'Physical health: “Feel fitter and stop putting on weight before I go home.” (Being worked on, set on 18 November 2025)',
    );
    expect(text).toContain(
      'Refer Megan to the dietitian about weight gain since starting her new medication Priya Nair 25 November 2025 Not started Physical health',
    );
    expect(text).toContain(
      'Go to the Thursday walking group at the Hub, with Sam the first time Megan Price and Sam Whitfield 2 October 2025 On hold: Paused while Megan is in hospital Friendships',
    );
    expect(text.indexOf('Still to do')).toBeLessThan(text.indexOf('Done or closed'));
    expect(text).toContain(
      'Refer Megan to the psychology team for talking therapy Sam Whitfield 26 September 2025 Done',
    );
  });

  it('the safety plan, carers and what is shared with them, and how the plan is sent', () => {
    const text = says(plan3, context);
    expect(text).toContain("Safety plan Megan's safety plan. Warning signs");
    expect(text).toContain('Hannah Price (Sister and carer)');
    expect(text).toContain(
      'Shared with them, as the person agreed: the care plan, agreed actions and the safety plan.',
    );
    expect(text).toContain('How to reach them: Phone: 07700 900412.');
    expect(text).toContain('Megan Price would like the plan by email.');
  });

  it('the hospital sections while in hospital: Mental Health Act, leave, visits, observations', () => {
    const text = says(plan3, context);
    expect(text).toContain('In hospital');
    expect(text).toContain('Mental Health Act status: Informal (voluntary)');
    expect(text).toContain('Mental Health Act status: Section 2 (assessment) (ended)');
    expect(text.indexOf('Informal (voluntary)')).toBeLessThan(
      text.indexOf('Section 2 (assessment) (ended)'),
    );
    expect(text).toContain('When: from 20 October 2025 to 17 November 2025');
    expect(text).toContain('Leave As an informal patient Megan can leave the ward.');
    expect(text).toContain('Visits Hannah and friends can visit');
    expect(text).toContain('When: Every day, 2pm to 8pm');
    expect(text).toContain('Nursing observations General observations');
    expect(text).toContain('How often: once every hour, since 12 November 2025');
  });

  it('after discharge the hospital sections read as ended; a community plan has none', () => {
    const text4 = says(plan4, { resolve });
    expect(text4).toContain('Hospital stay (ended)');
    expect(text4).toContain('Review, Community mental health service: due 9 March 2026');
    expect(text4).toContain('Thursdays, starting again on 8 January 2026');
    const text1 = says(plan1, { resolve });
    expect(text1).not.toContain('In hospital');
    expect(text1).not.toContain('Hospital stay');
    expect(text1).not.toContain('Mental Health Act');
  });
});
