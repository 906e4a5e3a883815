import fc from 'fast-check';
import type {
  Observation,
  Questionnaire,
  QuestionnaireResponse,
  Reference,
} from '@medplum/fhirtypes';
import {
  EXTRACTED_OBSERVATION_SYSTEM,
  extractObservations,
  responseKey,
  sessionToResponse,
  type ExtractResult,
} from '../../src/fhir';
import { extractedIdentifier } from '../../src/fhir/item-observations';
import { session } from './arbitraries';
import { errorsOf } from './helpers';
import { journey, journeyResponses } from './journey';

const steps = journey();
const responses = journeyResponses();

function extracted(result: ExtractResult): readonly Observation[] {
  if (!result.ok) throw new Error(JSON.stringify(result.outcome));
  return result.observations;
}

/** What an Observation is about: its code, and for a paired change the measure. */
function measureOf(o: Observation): string {
  const measure = o.extension?.find((e) => e.url.endsWith('/dialog-measure'))?.valueCoding?.code;
  return `${o.code.coding?.[0]?.code ?? ''}${measure ? ` of ${measure}` : ''}`;
}

/** The stable identifier value an example Observation id (obs-02-mental-health-score) stands for. */
function exampleIdentifier(reference: string): string {
  const match = /^Observation\/obs-(\d\d)-(.+)$/.exec(reference);
  const step = steps.find((s) => s.step === match?.[1]);
  const response = step?.responses[0];
  if (!match?.[2] || !response) throw new Error(`not an example Observation: ${reference}`);
  const name = match[2];
  const part = name.endsWith('-score')
    ? `${name.slice(0, -'-score'.length)}.score`
    : `${name}-mean`;
  return extractedIdentifier(`QuestionnaireResponse/${response.id}`, part).value ?? '';
}

/** An Observation without its ids, derivedFrom written as what each source is. */
function comparable(o: Observation, sourceOf: (r: Reference) => string): unknown {
  const copy: Partial<Observation> = { ...o };
  delete copy.id;
  delete copy.identifier;
  return { ...copy, derivedFrom: (o.derivedFrom ?? []).map(sourceOf) };
}

const ourSource = (r: Reference): string => r.identifier?.value ?? r.reference ?? '';
const exampleSource = (r: Reference): string =>
  r.reference?.startsWith('Observation/') ? exampleIdentifier(r.reference) : (r.reference ?? '');

describe('extracting the journey, each response with the earlier ones as history', () => {
  const cases = steps.flatMap((step) => step.responses.map((response) => ({ step, response })));

  it.each(cases.map((c) => [c.response.id, c] as const))(
    '%s gives the Observations of its step',
    (_id, { step, response }) => {
      const history = responses.slice(0, responses.indexOf(response));
      const got = extracted(extractObservations(response, { history }));
      // Its own Observations: the example ids of a step start obs-<step>; a reused rating has none.
      const expected = response.extension?.some((e) => e.url.endsWith('/dialog-reused-rating'))
        ? []
        : step.observations;
      // The examples record no paired change of the means; extraction adds it (see below).
      const itemLevel = got.filter((o) => !/^paired-change of (sqol|ts)-mean$/.test(measureOf(o)));
      expect(itemLevel.map(measureOf).sort()).toEqual(expected.map(measureOf).sort());
      const byMeasure = new Map(itemLevel.map((o) => [measureOf(o), o]));
      for (const example of expected) {
        const ours = byMeasure.get(measureOf(example));
        expect(ours && comparable(ours, ourSource)).toEqual(comparable(example, exampleSource));
      }
      for (const o of got) expect(errorsOf(o)).toEqual([]);
    },
  );

  it('pairs the means too, flagging an incomplete one', () => {
    const [first, second] = responses;
    if (!first || !second) throw new Error('the journey has responses');
    const changes = extracted(extractObservations(second, { history: [first] })).filter((o) =>
      /^paired-change of (sqol|ts)-mean$/.test(measureOf(o)),
    );
    const summary = changes.map((o) => ({
      measure: measureOf(o),
      values: o.component?.map((c) => c.valueQuantity?.value),
      change: o.valueQuantity?.value,
      interpretation: o.interpretation?.[0]?.coding?.[0]?.code,
      complete: o.extension?.find((e) => e.url.endsWith('/dialog-mean-complete'))?.valueBoolean,
    }));
    // 01: SQoL 28/8 = 3.5, TS 12/3 = 4; 02 misses two items: SQoL 16/6, TS 11/3, incomplete.
    expect(summary).toEqual([
      {
        measure: 'paired-change of sqol-mean',
        values: [3.5, 2.67],
        change: -0.83,
        interpretation: 'no-reliable-change',
        complete: false,
      },
      {
        measure: 'paired-change of ts-mean',
        values: [4, 3.67],
        change: -0.33,
        interpretation: 'no-reliable-change',
        complete: false,
      },
    ]);
  });

  it('ignores history authored after the response, and history order', () => {
    const [first, second, ...later] = responses;
    if (!first || !second) throw new Error('the journey has responses');
    const plain = extractObservations(second, { history: [first] });
    expect(extractObservations(second, { history: [...later].reverse().concat(first) })).toEqual(
      plain,
    );
  });
});

describe('the history it is given', () => {
  const [first, second, third] = responses;
  if (!first || !second || !third) throw new Error('the journey has responses');
  const changesOf = (result: ExtractResult): string[] =>
    extracted(result)
      .filter((o) => o.code.coding?.[0]?.code === 'paired-change')
      .map(measureOf);

  it('counts the same person under another reference form (relative or absolute)', () => {
    const absolute = {
      ...second,
      subject: { reference: 'https://ehr.westmere.example/fhir/Patient/megan-price' },
    };
    const result = extractObservations(third, { history: [absolute] });
    expect(changesOf(result)).toEqual(changesOf(extractObservations(third, { history: [second] })));
    expect(changesOf(result).length).toBeGreaterThan(0);
    expect(result.ok && result.issues).toEqual([]);
  });

  it('says, as information, which entries it left out and why', () => {
    const other = { ...second, subject: { reference: 'Patient/someone-else' } };
    const draft = { ...first, status: 'in-progress' as const };
    const result = extractObservations(third, { history: [other, draft] });
    expect(result.ok && result.issues.map((i) => [i.severity, i.expression?.[0]])).toEqual([
      ['information', 'history[0]'],
      ['information', 'history[1]'],
    ]);
  });
});

describe('idempotent transaction', () => {
  const response = responses[2] as QuestionnaireResponse;
  const history = responses.slice(0, 2);

  it('gives the same bundle each time, each entry a conditional update on its identifier', () => {
    const once = extractObservations(response, { history });
    expect(extractObservations(response, { history })).toEqual(once);
    if (!once.ok) throw new Error('extracts');
    expect(once.bundle.type).toBe('transaction');
    for (const entry of once.bundle.entry ?? []) {
      const [identifier] = (entry.resource as Observation).identifier ?? [];
      expect(identifier?.system).toBe(EXTRACTED_OBSERVATION_SYSTEM);
      expect(entry.fullUrl).toBe(`urn:uuid:${identifier?.value}`);
      expect(entry.request).toEqual({
        method: 'PUT',
        url: `Observation?identifier=${EXTRACTED_OBSERVATION_SYSTEM}|${identifier?.value}`,
      });
    }
    expect(errorsOf(once.bundle)).toEqual([]);
  });

  it('gives every Observation of the journey its own identifier', () => {
    const values = responses.flatMap((r, i) =>
      extracted(extractObservations(r, { history: responses.slice(0, i) })).map(
        (o) => o.identifier?.[0]?.value,
      ),
    );
    expect(new Set(values).size).toBe(values.length);
  });

  it('knows a response by its business identifier before its id', () => {
    const identified = {
      ...response,
      identifier: { system: 'https://trust.example/sid/qr', value: 'A1' },
    };
    expect(responseKey(identified)).toBe('https://trust.example/sid/qr|A1');
    const onServerB = { ...identified, id: 'other-server-id' };
    const ids = (r: QuestionnaireResponse): unknown =>
      extracted(extractObservations(r, { history })).map((o) => o.identifier);
    expect(ids(onServerB)).toEqual(ids(identified));
    expect(ids(onServerB)).not.toEqual(ids(response));
  });

  it('points paired change at the earlier Observations by their identifiers', () => {
    const [first] = responses;
    const change = extracted(extractObservations(response, { history })).find(
      (o) => measureOf(o) === 'paired-change of 1037651000000100',
    );
    expect(change?.derivedFrom?.[0]).toEqual({
      type: 'Observation',
      identifier: extractedIdentifier(`QuestionnaireResponse/${first?.id}`, 'mental-health.score'),
    });
    expect(change?.derivedFrom?.[1]?.reference).toMatch(/^urn:uuid:/);
  });
});

describe('what is not extracted', () => {
  const response = responses[0] as QuestionnaireResponse;

  function refusal(result: ExtractResult): unknown {
    if (result.ok) throw new Error('expected a refusal');
    return result.outcome.issue.map((i) => ({ code: i.code, expression: i.expression?.[0] }));
  }

  it('refuses a response still in progress', () => {
    expect(refusal(extractObservations({ ...response, status: 'in-progress' }))).toEqual([
      { code: 'business-rule', expression: 'QuestionnaireResponse.status' },
    ]);
  });

  it('refuses a response that could not be found again (no id, no identifier)', () => {
    const anonymous = { ...response };
    delete anonymous.id;
    expect(refusal(extractObservations(anonymous))).toEqual([
      { code: 'required', expression: 'QuestionnaireResponse.id' },
    ]);
  });

  it('refuses a response to a Questionnaire it does not know', () => {
    const other = { ...response, questionnaire: 'https://example.org/Questionnaire/unknown' };
    expect(refusal(extractObservations(other))).toEqual([
      { code: 'not-found', expression: 'QuestionnaireResponse.questionnaire' },
    ]);
  });

  it('extracts nothing from a rating that reuses another, and says why', () => {
    const reused = responses.find((r) => r.id === 'qr-04b-community-start');
    const result = extractObservations(reused as QuestionnaireResponse, { history: responses });
    expect(result.ok && result.observations).toEqual([]);
    expect(result.ok && result.issues.map((i) => i.severity)).toEqual(['information']);
  });

  it('extracts a not-rated response as nothing but is not refused', () => {
    const notRated = sessionToResponse({
      id: 'nr',
      status: 'completed',
      subject: 'Patient/p',
      authored: '2026-01-01T09:00:00Z',
      scores: {},
      helpWanted: {},
      chosen: [],
      discussed: [],
      previousActions: [],
      notRated: { reason: 'declined' },
    });
    expect(extracted(extractObservations(notRated))).toEqual([]);
  });
});

describe('generated DIALOG responses', () => {
  it('extract into Observations that all validate', () => {
    const completed = session.map((s) => ({ ...s, id: 'generated', status: 'completed' as const }));
    fc.assert(
      fc.property(completed, completed, (earlier, s) => {
        const history = [sessionToResponse({ ...earlier, id: 'earlier', subject: s.subject })];
        const result = extractObservations(sessionToResponse(s), { history });
        for (const o of extracted(result)) expect(errorsOf(o)).toEqual([]);
        const scored = Object.keys(s.scores).length + Object.keys(s.helpWanted).length;
        if (!s.reusedFrom) expect(extracted(result).length).toBeGreaterThanOrEqual(scored);
      }),
      { numRuns: 60 },
    );
  });
});

describe('any Questionnaire (SDC observationExtract)', () => {
  const questionnaire: Questionnaire = {
    resourceType: 'Questionnaire',
    url: 'https://example.org/Questionnaire/wellbeing',
    status: 'active',
    extension: [
      {
        url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract',
        valueBoolean: true,
      },
    ],
    item: [
      {
        linkId: 'g',
        type: 'group',
        item: [
          {
            linkId: 'mood',
            type: 'choice',
            code: [{ system: 'https://example.org/cs', code: 'mood' }],
            answerOption: [
              {
                valueCoding: { system: 'https://example.org/ans', code: 'low' },
                extension: [
                  { url: 'http://hl7.org/fhir/StructureDefinition/itemWeight', valueDecimal: 1.5 },
                ],
              },
              { valueCoding: { system: 'https://example.org/ans', code: 'ok' } },
            ],
          },
          {
            linkId: 'slept',
            type: 'boolean',
            code: [{ system: 'https://example.org/cs', code: 'slept' }],
          },
          {
            linkId: 'hours',
            type: 'decimal',
            code: [{ system: 'https://example.org/cs', code: 'hours' }],
          },
          { linkId: 'note', type: 'string' },
          {
            linkId: 'private',
            type: 'string',
            code: [{ system: 'https://example.org/cs', code: 'private' }],
            extension: [
              {
                url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract',
                valueBoolean: false,
              },
            ],
          },
          {
            linkId: 'since',
            type: 'date',
            code: [{ system: 'https://example.org/cs', code: 'since' }],
          },
        ],
      },
    ],
  };
  const response: QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    id: 'w1',
    questionnaire: 'https://example.org/Questionnaire/wellbeing',
    status: 'completed',
    subject: { reference: 'Patient/p' },
    author: { reference: 'Practitioner/d' },
    authored: '2026-02-01T08:00:00Z',
    item: [
      {
        linkId: 'g',
        item: [
          {
            linkId: 'mood',
            answer: [{ valueCoding: { system: 'https://example.org/ans', code: 'low' } }],
          },
          { linkId: 'slept', answer: [{ valueBoolean: false }] },
          { linkId: 'hours', answer: [{ valueDecimal: 5.5 }] },
          { linkId: 'note', answer: [{ valueString: 'no code: not extracted' }] },
          { linkId: 'private', answer: [{ valueString: 'opted out: not extracted' }] },
          { linkId: 'since', answer: [{ valueDate: '2026-01-20' }] },
        ],
      },
    ],
  };

  it('extracts coded items by type, weighted codes as numbers, and nothing else', () => {
    const observations = extracted(extractObservations(response, { questionnaire }));
    expect(
      observations.map(
        ({ code, valueQuantity, valueBoolean, valueDateTime, valueCodeableConcept }) => ({
          code: code.coding?.[0]?.code,
          ...(valueQuantity ? { valueQuantity } : {}),
          ...(valueBoolean !== undefined ? { valueBoolean } : {}),
          ...(valueDateTime ? { valueDateTime } : {}),
          ...(valueCodeableConcept ? { valueCodeableConcept } : {}),
        }),
      ),
    ).toEqual([
      { code: 'mood', valueQuantity: { value: 1.5 } },
      { code: 'slept', valueBoolean: false },
      { code: 'hours', valueQuantity: { value: 5.5 } },
      { code: 'since', valueDateTime: '2026-01-20' },
    ]);
    const [mood] = observations;
    expect(mood).toMatchObject({
      status: 'final',
      subject: { reference: 'Patient/p' },
      effectiveDateTime: '2026-02-01T08:00:00Z',
      performer: [{ reference: 'Practitioner/d' }],
      derivedFrom: [{ reference: 'QuestionnaireResponse/w1' }],
    });
    expect(mood?.meta).toBeUndefined();
    for (const o of observations) expect(errorsOf(o)).toEqual([]);
  });

  it('records an unweighted code as a CodeableConcept', () => {
    const ok = {
      ...response,
      item: [
        {
          linkId: 'g',
          item: [
            {
              linkId: 'mood',
              answer: [{ valueCoding: { system: 'https://example.org/ans', code: 'ok' } }],
            },
          ],
        },
      ],
    };
    expect(extracted(extractObservations(ok, { questionnaire }))[0]?.valueCodeableConcept).toEqual({
      coding: [{ system: 'https://example.org/ans', code: 'ok' }],
    });
  });
});
