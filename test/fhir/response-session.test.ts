import fc from 'fast-check';
import type { QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { responseToSession, sessionToResponse, type DialogSession } from '../../src/fhir';
import { invalidExamples, validExamples } from '../support/examples';
import { session } from './arbitraries';
import { errorsOf } from './helpers';

const responses = validExamples().filter(
  (e) => e.resource.resourceType === 'QuestionnaireResponse',
);

function read(response: QuestionnaireResponse): DialogSession {
  const result = responseToSession(response);
  if (!result.ok) throw new Error(JSON.stringify(result.faults));
  return result.session;
}

describe('the example responses are canonical', () => {
  it('finds the journey and valid responses', () =>
    expect(responses.length).toBeGreaterThanOrEqual(7));

  it.each(responses.map((e) => [e.name, e.resource] as const))(
    '%s comes back unchanged from response → session → response',
    (_name, resource) => {
      expect(sessionToResponse(read(resource as QuestionnaireResponse))).toEqual(resource);
    },
  );
});

describe('session → response → session', () => {
  it('is the identity, and every response written validates', () => {
    fc.assert(
      fc.property(session, (s) => {
        const response = sessionToResponse(s);
        expect(read(response)).toEqual(s);
        expect(errorsOf(response)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('sessionToResponse', () => {
  const base: DialogSession = {
    status: 'completed',
    subject: 'Patient/p1',
    authored: '2026-01-05T10:00:00+00:00',
    scores: { 'mental-health': 3, friendships: 4, medication: 6 },
    helpWanted: { 'mental-health': true },
    chosen: ['friendships'],
    discussed: [],
    previousActions: [],
  };

  it('takes item texts from the Questionnaire and displays from the CodeSystems', () => {
    const response = sessionToResponse({ ...base, timepoint: 'review', setting: 'crisis' });
    const ratings = response.item?.find((i) => i.linkId === 'ratings');
    expect(ratings?.text).toBe('How satisfied are you with …');
    const mental = ratings?.item?.find((i) => i.linkId === 'mental-health')?.item?.[0];
    expect(mental?.text).toBe('How satisfied are you with your mental health?');
    expect(mental?.answer?.[0]?.valueCoding?.display).toBe('fairly dissatisfied');
    expect(response.extension?.map((e) => e.valueCoding?.display)).toEqual([
      'Review',
      'Crisis service',
    ]);
  });

  it('uses the SNOMED displays of the dialog-items ValueSet', () => {
    const response = sessionToResponse({ ...base, chosen: ['practical-help', 'partner-family'] });
    const chosen = response.item
      ?.find((i) => i.linkId === 'discussion')
      ?.item?.find((i) => i.linkId === 'chosen-items');
    expect(chosen?.answer?.map((a) => a.valueCoding?.display)).toEqual([
      'DIALOG patient rated outcome measure item 10 score - how satisfied are you with practical help received',
      'DIALOG patient rated outcome measure item 7 score - how satisfied are you with relationship with partner/family',
    ]);
  });

  it('writes the calculated means rounded to 2 decimals, and none for a group without scores', () => {
    const ratings = sessionToResponse({
      ...base,
      scores: { 'mental-health': 3, friendships: 4, accommodation: 4 },
    }).item?.find((i) => i.linkId === 'ratings');
    const means = ratings?.item?.filter((i) => i.linkId.endsWith('-mean'));
    expect(means).toEqual([
      {
        linkId: 'sqol-mean',
        text: 'Subjective quality of life (mean of the 8 life items)',
        answer: [{ valueDecimal: 3.67 }],
      },
    ]);
  });

  it('carries author and source as given, and writes no source when there is none', () => {
    const withParties = sessionToResponse({
      ...base,
      author: { reference: 'Practitioner/x', display: 'Dr X' },
      source: { reference: 'Patient/p1', display: 'P One' },
    });
    expect(withParties.author).toEqual({ reference: 'Practitioner/x', display: 'Dr X' });
    expect(withParties.source).toEqual({ reference: 'Patient/p1', display: 'P One' });
    expect(sessionToResponse(base).source).toBeUndefined();
  });
});

describe('responseToSession', () => {
  const [first] = responses;
  const qr = first?.resource as QuestionnaireResponse;

  it('reads items by linkId whatever their order', () => {
    // Siblings sorted by linkId (not the form order); repeats keep their order (sort is stable).
    const reorder = (items: QuestionnaireResponseItem[]): QuestionnaireResponseItem[] =>
      [...items]
        .sort((a, b) => a.linkId.localeCompare(b.linkId))
        .map((i) => (i.item ? { ...i, item: reorder(i.item) } : i));
    const reordered = { ...qr, item: reorder(qr.item ?? []) };
    expect(reordered.item.map((i) => i.linkId)).not.toEqual(qr.item?.map((i) => i.linkId));
    expect(read(reordered)).toEqual(read(qr));
  });

  it('refuses a calculated mean that disagrees with the scores, naming where it is', () => {
    const session = read(qr);
    const response = sessionToResponse(session);
    const ratings = response.item?.find((i) => i.linkId === 'ratings');
    const index = ratings?.item?.findIndex((i) => i.linkId === 'sqol-mean') ?? -1;
    const mean = ratings?.item?.[index];
    if (!mean?.answer?.[0]) throw new Error('the example has a calculated SQoL');
    mean.answer[0] = { valueDecimal: 6.5 };
    const result = responseToSession(response);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.faults).toEqual([
      {
        message: 'The calculated sqol-mean does not match the scores',
        expression: `QuestionnaireResponse.item[0].item[${index}].answer[0].value.ofType(decimal)`,
      },
    ]);
  });

  it('refuses answers given only by extensions, which it would otherwise drop, naming each value', () => {
    const response = structuredClone(sessionToResponse(read(qr)));
    const absent = {
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
          valueCode: 'asked-declined',
        },
      ],
    };
    const paths: string[] = [];
    // Every action's text and every help answer: `_value…` in place of the value.
    const strip = (items: QuestionnaireResponseItem[], path: string): void =>
      items.forEach((item, i) => {
        const at = `${path}.item[${i}]`;
        const answer = item.answer?.[0];
        if (answer && item.linkId === 'discussed-item.action.what') {
          item.answer = [{ _valueString: absent } as never];
          paths.push(`${at}.answer[0].value.ofType(string)`);
        }
        if (answer && item.linkId.endsWith('.help')) {
          item.answer = [{ _valueBoolean: absent } as never];
          paths.push(`${at}.answer[0].value.ofType(boolean)`);
        }
        strip(item.item ?? [], at);
      });
    strip(response.item ?? [], 'QuestionnaireResponse');
    expect(paths.length).toBeGreaterThan(3);
    const result = responseToSession(response);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.faults.map((f) => f.expression).sort()).toEqual([...paths].sort());
    expect(result.faults[0]?.message).toMatch(/only extensions, no value/);
  });

  it('accepts a response without the calculated means and writes them back', () => {
    const ratings = qr.item?.find((i) => i.linkId === 'ratings');
    const withoutMeans: QuestionnaireResponse = {
      ...qr,
      item: (qr.item ?? []).map((i) =>
        i === ratings
          ? { ...i, item: (i.item ?? []).filter((c) => !c.linkId.endsWith('-mean')) }
          : i,
      ),
    };
    expect(sessionToResponse(read(withoutMeans))).toEqual(qr);
  });

  it.each(['07', '7.0', '0x7', ' 7', '7 ', '+7', '7e0', ''])(
    'refuses the score code %p (only the scale codes 1–7 as written)',
    (code) => {
      const response = sessionToResponse({
        status: 'completed',
        subject: 'Patient/p1',
        authored: '2026-01-05T10:00:00+00:00',
        scores: { medication: 6 },
        helpWanted: {},
        chosen: [],
        discussed: [],
        previousActions: [],
      });
      const ratings = response.item?.find((i) => i.linkId === 'ratings');
      const medication = ratings?.item?.find((i) => i.linkId === 'medication');
      const answer = medication?.item?.[0]?.answer?.[0];
      if (!answer?.valueCoding) throw new Error('the medication score is written');
      answer.valueCoding = { ...answer.valueCoding, code };
      const result = responseToSession(response);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.faults[0]?.message).toBe('The score for medication is not 1–7');
    },
  );

  it('refuses a score code from another system', () => {
    const response = sessionToResponse({
      status: 'completed',
      subject: 'Patient/p1',
      authored: '2026-01-05T10:00:00+00:00',
      scores: { medication: 6 },
      helpWanted: {},
      chosen: [],
      discussed: [],
      previousActions: [],
    });
    const answer = response.item?.[0]?.item?.[0]?.item?.[0]?.answer?.[0];
    if (!answer?.valueCoding) throw new Error('the medication score is written');
    answer.valueCoding = { system: 'https://example.org/scale', code: '6' };
    expect(responseToSession(response).ok).toBe(false);
  });

  it('names the score at fault in a response scored 8', () => {
    const bad = invalidExamples().find((c) => c.file === 'qr-score-code-8.json');
    const result = responseToSession(bad?.resource as QuestionnaireResponse);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.faults.map((f) => f.expression)).toContain(bad?.expect.expression);
  });
});
