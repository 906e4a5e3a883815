/**
 * Clinical safety (CLINICAL_SAFETY.md, hazard H02): a mean worked out from an incomplete rating
 * is never shown as complete. DIALOG (shared/DIALOG.md) allows one of the 11 areas to be missing
 * for a complete rating; with more than one missing, the means are still given — from the areas
 * that were rated — but flagged incomplete wherever they are shown: in
 * `Patient/{id}/$dialog-summary` (src/service/dialog-summary.ts) and in the person's letter
 * (src/letter/letter-content.ts). Over real HTTP, on a real embedded store.
 */
import type { QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type Json, type TestService } from '../support/service';

let service: TestService;
beforeAll(async () => {
  service = await startService();
  await service.store.update(journeyPatient());
});
afterAll(() => service.close());

const LIFE = [
  'mental-health',
  'physical-health',
  'job-situation',
  'accommodation',
  'leisure-activities',
  'friendships',
  'partner-family',
  'personal-safety',
];

/**
 * The journey's first session for `subject` with the scores of the areas `NOT_RATED` taken out
 * (and the means it states: the service works them out), and the life-area scores left.
 */
function withNotRated(
  subject: string,
  NOT_RATED: readonly string[],
): { qr: QuestionnaireResponse; rated: number[] } {
  const { id: _id, meta: _meta, ...first } = journeyResponses()[0] as QuestionnaireResponse;
  void _id;
  void _meta;
  const rated: number[] = [];
  const items = (first.item ?? []).map((group): QuestionnaireResponseItem => {
    if (group.linkId !== 'ratings') return group;
    return {
      ...group,
      item: (group.item ?? [])
        .filter((area) => area.linkId !== 'sqol-mean' && area.linkId !== 'ts-mean')
        .map((area) => {
          const score = area.item?.find((i) => i.linkId === `${area.linkId}.score`);
          const value = score?.answer?.[0]?.valueCoding?.code;
          if (LIFE.includes(area.linkId) && !NOT_RATED.includes(area.linkId) && value)
            rated.push(Number(value));
          if (!NOT_RATED.includes(area.linkId)) return area;
          const { item: parts, ...rest } = area;
          const left = (parts ?? []).filter((i) => i !== score);
          return left.length ? { ...rest, item: left } : rest;
        }),
    };
  });
  return {
    qr: {
      ...first,
      identifier: { system: 'urn:dialog-fhir:test:session', value: subject },
      subject: { reference: `Patient/${subject}` },
      source: { reference: `Patient/${subject}` },
      item: items,
    } as QuestionnaireResponse,
    rated,
  };
}

/** The first rating's parts in the person's $dialog-summary. */
async function summaryOf(subject: string): Promise<(name: string) => Json[]> {
  const summary = await fhir(service.base, 'GET', `/fhir/Patient/${subject}/$dialog-summary`);
  expect(summary.status).toBe(200);
  const ratings = (summary.body.parameter as Json[]).filter((p) => p.name === 'rating');
  expect(ratings).toHaveLength(1);
  return (name) => (ratings[0].part as Json[]).filter((p) => p.name === name);
}

const meanPart = (parts: Json[], name: string): Json =>
  (parts[0].part as Json[]).find((p) => p.name === name);

const CARE = 'some areas were not rated, so read this with care';

async function letterOf(subject: string): Promise<string> {
  const plans = await fhir(service.base, 'GET', `/fhir/CarePlan?subject=Patient/${subject}`);
  expect(plans.body.total).toBe(1);
  const id = plans.body.entry[0].resource.id as string;
  const res = await fetch(`${service.base}/fhir/CarePlan/${id}/$letter?format=html`);
  expect(res.status).toBe(200);
  return res.text();
}

describe('H02: a mean from an incomplete rating is shown as incomplete', () => {
  beforeAll(async () => {
    for (const [id, notRated] of [
      ['two-missing', ['job-situation', 'accommodation']],
      ['one-missing', ['job-situation']],
    ] as const) {
      await service.store.update({ ...journeyPatient(), id, identifier: [] });
      const { qr, rated } = withNotRated(id, notRated);
      expect(rated).toHaveLength(LIFE.length - notRated.length);
      const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', qr);
      expect(res.status).toBe(201);
      scores.set(id, rated);
    }
  });
  const scores = new Map<string, number[]>();

  it('two areas not rated: $dialog-summary gives the means of the rated areas, each complete false', async () => {
    const part = await summaryOf('two-missing');
    const rated = scores.get('two-missing') ?? [];
    const value = meanPart(part('sqol'), 'value')?.valueDecimal as number;
    expect(value).toBeCloseTo(rated.reduce((a, b) => a + b, 0) / rated.length, 2);
    expect(meanPart(part('sqol'), 'complete')?.valueBoolean).toBe(false);
    expect(meanPart(part('ts'), 'complete')?.valueBoolean).toBe(false);
    // The areas left out are not reported with a score.
    expect(part('score')).toHaveLength(9);
  });

  it('one area not rated: still a complete rating (DIALOG allows one missing), complete true', async () => {
    const part = await summaryOf('one-missing');
    expect(meanPart(part('sqol'), 'complete')?.valueBoolean).toBe(true);
    expect(meanPart(part('ts'), 'complete')?.valueBoolean).toBe(true);
    expect(part('score')).toHaveLength(10);
  });

  it('the letter flags both means of the incomplete rating, and neither of the complete one', async () => {
    expect((await letterOf('two-missing')).match(new RegExp(CARE, 'g'))).toHaveLength(2);
    expect(await letterOf('one-missing')).not.toContain(CARE);
  });
});
