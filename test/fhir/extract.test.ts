import fc from 'fast-check';
import type {
  Observation,
  Questionnaire,
  QuestionnaireResponse,
  Reference,
} from '@medplum/fhirtypes';
import { itemBySnomed } from '../../src/dialog';
import {
  EXTRACTED_OBSERVATION_SYSTEM,
  extractObservations,
  responseKey,
  responseToSession,
  sessionToResponse,
  type DialogSession,
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

/** A paired change's measure: the item's concept, or the mean. */
function changePart(o: Observation): string {
  const code = o.extension?.find((e) => e.url.endsWith('/dialog-measure'))?.valueCoding?.code ?? '';
  const item = itemBySnomed(code);
  return item ? `${item.concept}.score` : code;
}

/** Each paired change of a result, as `measure ← the journey response its baseline is from`. */
function baselines(result: ExtractResult): Record<string, string> {
  const changes = extracted(result).filter((o) => o.code.coding?.[0]?.code === 'paired-change');
  return Object.fromEntries(
    changes.map((o) => {
      const part = changePart(o);
      const baseline = o.derivedFrom?.[0]?.identifier?.value;
      const from = responses.find(
        (r) => extractedIdentifier(`QuestionnaireResponse/${r.id}`, part).value === baseline,
      );
      return [part.replace(/\.score$/, ''), from?.id ?? '?'];
    }),
  );
}

const isChange = (o: Observation): boolean => o.code.coding?.[0]?.code === 'paired-change';

describe('extracting the journey, each response with the earlier ones as history', () => {
  const cases = steps.flatMap((step) => step.responses.map((response) => ({ step, response })));

  it.each(cases.map((c) => [c.response.id, c] as const))(
    '%s gives the item, mean and paired-change Observations of its step',
    (_id, { step, response }) => {
      const history = responses.slice(0, responses.indexOf(response));
      const got = extracted(extractObservations(response, { history }));
      // Its own Observations: the example ids of a step start obs-<step>; a reused rating has none.
      // The paired changes are within the episode: none at the admission, which starts it.
      const expected = response.extension?.some((e) => e.url.endsWith('/dialog-reused-rating'))
        ? []
        : step.observations;
      expect(got.map(measureOf).sort()).toEqual(expected.map(measureOf).sort());
      const byMeasure = new Map(got.map((o) => [measureOf(o), o]));
      for (const example of expected) {
        const ours = byMeasure.get(measureOf(example));
        expect(ours && comparable(ours, ourSource)).toEqual(comparable(example, exampleSource));
      }
      // A paired change's example id names its measure: obs-<step>-<concept or sqol/ts>-change.
      for (const example of expected.filter(isChange)) {
        const name = changePart(example).replace(/\.score$|-mean$/, '');
        expect(example.id).toBe(`obs-${step.step}-${name}-change`);
      }
      for (const o of got) expect(errorsOf(o)).toEqual([]);
    },
  );

  it('pairs within each episode: admission→review, admission→discharge, never across services', () => {
    const ADMISSION = 'qr-02-admission';
    const REVIEW = 'qr-03-inpatient-review';
    const inAdmission = [
      'mental-health',
      'physical-health',
      'accommodation',
      'leisure-activities',
      'friendships',
      'personal-safety',
      'medication',
      'practical-help',
      'meetings',
    ];
    const fromAdmission = Object.fromEntries(
      [...inAdmission, 'sqol-mean', 'ts-mean'].map((part) => [part, ADMISSION]),
    );
    const results = responses.map((response, i) =>
      extractObservations(response, { history: responses.slice(0, i) }),
    );
    expect(results.map(baselines)).toEqual([
      {}, // the community start: the first rating
      {}, // the admission starts the inpatient episode: not paired with the community rating
      fromAdmission, // the review: job situation and partner/family were not rated at admission
      // The discharge: the first valid score in the episode, the review's for those two items.
      { ...fromAdmission, 'job-situation': REVIEW, 'partner-family': REVIEW },
      {}, // the reused discharge rating: nothing is extracted from it
    ]);
    for (const result of results.slice(0, 4)) expect(result.ok && result.issues).toEqual([]);
  });

  it('pairs the means too, flagging an incomplete one', () => {
    const [first, second, third] = responses;
    if (!first || !second || !third) throw new Error('the journey has responses');
    const changes = extracted(extractObservations(third, { history: [first, second] })).filter(
      (o) => /^paired-change of (sqol|ts)-mean$/.test(measureOf(o)),
    );
    const summary = changes.map((o) => ({
      measure: measureOf(o),
      values: o.component?.map((c) => c.valueQuantity?.value),
      change: o.valueQuantity?.value,
      interpretation: o.interpretation?.[0]?.coding?.[0]?.code,
      complete: o.extension?.find((e) => e.url.endsWith('/dialog-mean-complete'))?.valueBoolean,
    }));
    // 02 misses two items: SQoL 16/6, TS 11/3, incomplete; 03: SQoL 34/8 = 4.25, TS 14/3.
    expect(summary).toEqual([
      {
        measure: 'paired-change of sqol-mean',
        values: [2.67, 4.25],
        change: 1.58,
        interpretation: 'reliable-improvement',
        complete: false,
      },
      {
        measure: 'paired-change of ts-mean',
        values: [3.67, 4.67],
        change: 1,
        interpretation: 'reliable-improvement',
        complete: false,
      },
    ]);
  });

  it('ignores history authored after the response, and history order', () => {
    const [first, second, third, ...later] = responses;
    if (!first || !second || !third) throw new Error('the journey has responses');
    const plain = extractObservations(third, { history: [first, second] });
    expect(
      extractObservations(third, { history: [...later].reverse().concat(second, first) }),
    ).toEqual(plain);
  });
});

describe('the episode a rating is paired within', () => {
  const byId = (id: string): QuestionnaireResponse => {
    const found = responses.find((r) => r.id === id);
    if (!found) throw new Error(`no example ${id}`);
    return found;
  };
  const sessionOf = (response: QuestionnaireResponse): DialogSession => {
    const read = responseToSession(response);
    if (!read.ok) throw new Error(JSON.stringify(read.faults));
    return read.session;
  };
  /** The inpatient review's ratings, made again somewhere else in the journey. */
  const rating = (id: string, authored: string, more: Partial<DialogSession>) =>
    sessionToResponse({
      ...sessionOf(byId('qr-03-inpatient-review')),
      id,
      authored,
      previousActions: [],
      ...more,
    });
  const communityReview = rating('qr-05-community-review', '2026-03-10T10:00:00+00:00', {
    timepoint: 'review',
    setting: 'community',
  });
  const concepts = Object.keys(sessionOf(communityReview).scores);

  it('pairs the next community review with the reused discharge rating, through its Observations', () => {
    const result = extractObservations(communityReview, { history: responses });
    // Every item and both means: the baseline is the discharge rating the community team reused.
    const expected = Object.fromEntries(
      [...concepts, 'sqol-mean', 'ts-mean'].map((p) => [p, 'qr-04-discharge']),
    );
    expect(baselines(result)).toEqual(expected);
    const change = extracted(result).find(isChange);
    expect(change?.effectivePeriod?.start).toBe('2025-12-09T10:00:00+00:00');
    expect(result.ok && result.issues).toEqual([]);
  });

  it('takes the episode start from the caller when given', () => {
    const communityStart = '2025-12-09T11:30:00+00:00';
    const given = extractObservations(communityReview, {
      history: responses,
      episodeStart: communityStart,
    });
    // The reused rating stands for 10:00, before the team took over at 11:30: still the baseline.
    expect(given).toEqual(extractObservations(communityReview, { history: responses }));
    const discharge = byId('qr-04-discharge');
    const wardStart = '2025-10-20T22:40:00+01:00';
    expect(
      baselines(extractObservations(discharge, { history: responses, episodeStart: wardStart })),
    ).toEqual(baselines(extractObservations(discharge, { history: responses })));
    // An episode that started after every earlier rating: nothing to pair with.
    const later = extractObservations(communityReview, {
      history: responses,
      episodeStart: '2026-01-05T09:00:00+00:00',
    });
    expect(baselines(later)).toEqual({});
    expect(later.ok && later.issues).toEqual([]);
  });

  it('pairs nothing, and says so, when the episode cannot be told', () => {
    const noSetting = rating('qr-x', '2026-03-10T10:00:00+00:00', { timepoint: 'review' });
    const unsure = extractObservations(noSetting, { history: responses });
    expect(baselines(unsure)).toEqual({});
    expect(unsure.ok && unsure.issues.map((i) => [i.severity, i.expression?.[0]])).toEqual([
      ['information', 'episodeStart'],
    ]);
    // Readmitted without an admission rating: the last inpatient episode ended at discharge.
    const readmitted = rating('qr-y', '2026-03-10T10:00:00+00:00', {
      timepoint: 'review',
      setting: 'inpatient',
    });
    const ended = extractObservations(readmitted, { history: responses });
    expect(baselines(ended)).toEqual({});
    expect(ended.ok && ended.issues.map((i) => i.diagnostics)).toEqual([
      'No paired change: no episode-start rating in the inpatient setting begins the episode this rating belongs to; give the episode start to pair it',
    ]);
    // Told when the episode started, it takes the caller's word: nothing rated in it yet.
    const told = extractObservations(readmitted, {
      history: responses,
      episodeStart: '2026-02-20T09:00:00+00:00',
    });
    expect(told.ok && told.issues).toEqual([]);
  });

  it('refuses an episode start without time and offset', () => {
    const result = extractObservations(communityReview, { episodeStart: '2025-12-09' });
    expect(!result.ok && result.outcome.issue[0]?.expression).toEqual(['episodeStart']);
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
    const result = extractObservations(third, { history: [other, draft, second] });
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
    const [, admission] = responses;
    const change = extracted(extractObservations(response, { history })).find(
      (o) => measureOf(o) === 'paired-change of 1037651000000100',
    );
    expect(change?.derivedFrom?.[0]).toEqual({
      type: 'Observation',
      identifier: extractedIdentifier(
        `QuestionnaireResponse/${admission?.id}`,
        'mental-health.score',
      ),
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

describe('a response whose person is contained (a native record not yet matched)', () => {
  const NHS = { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' };
  const first = responses[0] as QuestionnaireResponse;
  const native: QuestionnaireResponse = {
    ...first,
    contained: [{ resourceType: 'Patient', id: 'subject', identifier: [NHS] }],
    subject: { reference: '#subject', identifier: NHS, display: 'Price, Megan' },
    source: { reference: '#subject', display: 'Price, Megan' },
  };

  it('names the person on each Observation by identifier, which stands on its own line', () => {
    const observations = extracted(extractObservations(native));
    expect(observations.length).toBeGreaterThan(0);
    const person = { type: 'Patient', identifier: NHS, display: 'Price, Megan' };
    for (const o of observations) {
      expect(o.subject).toEqual(person);
      expect(o.performer ?? [person]).toEqual([person]);
      expect(JSON.stringify(o)).not.toContain('#subject');
    }
  });

  it('keeps a literal subject as it is', () => {
    for (const o of extracted(extractObservations(first)))
      expect(o.subject?.reference).toBe(first.subject?.reference);
  });
});
