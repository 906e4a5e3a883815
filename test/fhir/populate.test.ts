import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import {
  populateOperation,
  populateResponse,
  readPopulateParameters,
  responseToSession,
  type PopulateRequest,
  type ReuseOffer,
} from '../../src/fhir';
import { errorsOf, omit } from './helpers';
import { journeyResponses } from './journey';

const responses = journeyResponses();
const byId = (id: string): QuestionnaireResponse => {
  const found = responses.find((r) => r.id === id);
  if (!found) throw new Error(`no example ${id}`);
  return found;
};

function sessionOf(response: QuestionnaireResponse) {
  const read = responseToSession(response);
  if (!read.ok) throw new Error(JSON.stringify(read.faults));
  return read.session;
}

const request = (history: QuestionnaireResponse[]): PopulateRequest => ({
  subject: 'Patient/megan-price',
  subjectDisplay: 'Megan Price',
  authored: '2025-11-18T14:00:00+00:00',
  timepoint: 'review',
  setting: 'inpatient',
  author: { reference: 'Practitioner/priya-nair', display: 'Priya Nair' },
  history,
});

describe('populateResponse', () => {
  it('leaves the ratings to be given again, returns the latest beside them, and puts last time’s actions up for review', () => {
    // Before the inpatient review: the admission rating is the latest, but it agreed no actions,
    // so the actions to review are those agreed at the community start (as the review did).
    const result = populateResponse(
      request([byId('qr-02-admission'), byId('qr-01-community-start')]),
    );
    const admission = sessionOf(byId('qr-02-admission'));
    const review = sessionOf(byId('qr-03-inpatient-review'));
    expect(result.session.status).toBe('in-progress');
    // No answer is copied: completed without re-rating, the response has no rating at all.
    expect(result.session.scores).toEqual({});
    expect(result.session.helpWanted).toEqual({});
    expect(result.response.item?.map((i) => i.linkId)).toEqual(['previous-actions']);
    expect(result.previous).toEqual({
      authored: admission.authored,
      scores: admission.scores,
      helpWanted: admission.helpWanted,
    });
    expect(result.session.previousActions).toEqual(
      review.previousActions.map(({ what }) => ({ what })),
    );
    expect(result.issues).toEqual([]);
    expect(errorsOf(result.response)).toEqual([]);
  });

  it('reviews the actions of the latest session that agreed any', () => {
    const history = responses.slice(0, 3);
    const result = populateResponse({ ...request(history), authored: '2025-12-09T10:00:00+00:00' });
    expect(result.session.previousActions.map((a) => a.what)).toEqual(
      sessionOf(byId('qr-04-discharge')).previousActions.map((a) => a.what),
    );
    expect(result.session.scores).toEqual({});
    expect(result.previous?.scores).toEqual(sessionOf(byId('qr-03-inpatient-review')).scores);
  });

  it('starts empty for a person with no earlier ratings, and ignores other people', () => {
    const other = {
      ...byId('qr-01-community-start'),
      subject: { reference: 'Patient/someone-else' },
    };
    const result = populateResponse(request([other]));
    expect(result.session.scores).toEqual({});
    expect(result.previous).toBeUndefined();
    expect(result.session.previousActions).toEqual([]);
    expect(result.response.item).toBeUndefined();
    expect(errorsOf(result.response)).toEqual([]);
  });

  it('finds the person under another reference form, and says what it left out', () => {
    const absolute = {
      ...byId('qr-02-admission'),
      subject: { reference: 'https://ehr.westmere.example/fhir/Patient/megan-price' },
    };
    const other = { ...byId('qr-01-community-start'), subject: { reference: 'Patient/x' } };
    const result = populateResponse(request([other, absolute]));
    expect(result.previous?.scores).toEqual(sessionOf(byId('qr-02-admission')).scores);
    expect(result.issues.map((i) => [i.severity, i.expression?.[0]])).toEqual([
      ['information', 'history[0]'],
    ]);
  });

  it('does not take the previous rating from a response still in progress', () => {
    const draft = { ...byId('qr-03-inpatient-review'), status: 'in-progress' as const };
    const result = populateResponse(request([byId('qr-02-admission'), draft]));
    expect(result.previous?.scores).toEqual(sessionOf(byId('qr-02-admission')).scores);
  });
});

describe('reusing a discharge rating as the next service’s admission rating', () => {
  const discharge = byId('qr-04-discharge');
  const reason =
    'Megan went home from Larch Ward to the Northbrook community team on the same day. With her agreement, her discharge rating was used as her community starting point so she did not have to rate again; the ratings are unchanged and still stand for 9 December 2025, 10:00.';
  const offer = (provider: string): ReuseOffer => ({
    response: discharge,
    source: {
      provider: 'westmere',
      service: 'larch-ward',
      start: '2025-10-20T22:40:00+01:00',
      end: '2025-12-09T11:30:00+00:00',
    },
    target: {
      provider,
      service: 'community-team',
      start: '2025-12-09T11:30:00+00:00',
      setting: 'community',
    },
    reason,
  });
  const communityStart: PopulateRequest = {
    ...request(responses.slice(0, 4)),
    authored: '2025-12-09T12:00:00+00:00',
    timepoint: 'episode-start',
    setting: 'community',
    author: { reference: 'Practitioner/sam-whitfield', display: 'Sam Whitfield' },
  };

  it('within one provider, offers the rating as the example records it (still to be confirmed)', () => {
    const result = populateResponse({ ...communityStart, reuse: offer('westmere') });
    expect(result.reuse?.reason).toBe('discharge-as-admission');
    // The explicit, recorded reuse is the one case where the ratings are copied as answers.
    expect(result.session.scores).toEqual(sessionOf(discharge).scores);
    expect(result.previous).toBeUndefined();
    const example = omit(byId('qr-04b-community-start'), 'id');
    expect({ ...result.response, status: 'completed' }).toEqual(example);
    expect(errorsOf(result.response)).toEqual([]);
  });

  it('across providers, refuses with a readable reason and starts a new rating as usual', () => {
    const result = populateResponse({ ...communityStart, reuse: offer('northbrook') });
    expect(result.reuse).toBeUndefined();
    expect(result.session.reusedFrom).toBeUndefined();
    expect(result.session.authored).toBe(communityStart.authored);
    expect(result.session.scores).toEqual({});
    expect(result.previous?.scores).toEqual(sessionOf(discharge).scores);
    expect(result.issues.map((i) => i.diagnostics)).toEqual([
      'Not reused: rating qr-04-discharge is from provider westmere, not northbrook: reuse is only within one provider',
    ]);
  });

  it('refuses a rating that is not a transition rating', () => {
    const review = { ...offer('westmere'), response: byId('qr-03-inpatient-review') };
    const result = populateResponse({ ...communityStart, reuse: review });
    expect(result.issues[0]?.diagnostics).toMatch(
      /only episode-start and episode-end ratings can be reused/,
    );
  });

  it('writes a reason when none is given', () => {
    const without = omit(offer('westmere'), 'reason');
    const result = populateResponse({ ...communityStart, reuse: without });
    expect(result.session.reusedFrom?.reason).toBe(
      'The discharge rating of larch-ward is used as the admission rating of community-team (same provider, westmere); the ratings are unchanged and still stand for 2025-12-09T10:00:00+00:00.',
    );
  });
});

describe('$populate Parameters', () => {
  const params = {
    resourceType: 'Parameters' as const,
    parameter: [
      {
        name: 'subject',
        valueReference: { reference: 'Patient/megan-price', display: 'Megan Price' },
      },
      {
        name: 'canonical',
        valueCanonical: 'https://dialog-fhir.org/fhir/Questionnaire/dialog|0.1.0',
      },
    ],
  };

  it('reads subject and canonical', () => {
    expect(readPopulateParameters(params)).toEqual({
      ok: true,
      value: {
        subject: 'Patient/megan-price',
        subjectDisplay: 'Megan Price',
        questionnaire: 'https://dialog-fhir.org/fhir/Questionnaire/dialog',
      },
    });
  });

  it('answers with the response as the `response` parameter', () => {
    const context = omit(request(responses.slice(0, 2)), 'subject', 'subjectDisplay');
    const result = populateOperation(params, context);
    if (!result.ok) throw new Error(JSON.stringify(result.outcome));
    expect(result.value.parameter?.map((p) => p.name)).toEqual(['response']);
    const response = result.value.parameter?.[0]?.resource as QuestionnaireResponse;
    expect(response.subject).toEqual({ reference: 'Patient/megan-price', display: 'Megan Price' });
    expect(response.status).toBe('in-progress');
  });

  it('refuses without a subject, or for another Questionnaire, naming the parameter', () => {
    const result = readPopulateParameters({
      resourceType: 'Parameters',
      parameter: [{ name: 'canonical', valueCanonical: 'https://example.org/Questionnaire/phq-9' }],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.outcome.issue.map((i) => [i.code, i.expression?.[0]])).toEqual([
      ['required', "Parameters.parameter.where(name = 'subject')"],
      ['not-supported', "Parameters.parameter.where(name = 'canonical')"],
    ]);
  });

  it('takes the Questionnaire as a resource too', () => {
    const result = readPopulateParameters({
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueReference: { reference: 'Patient/p' } },
        {
          name: 'questionnaire',
          resource: {
            resourceType: 'Questionnaire',
            status: 'active',
            url: 'https://dialog-fhir.org/fhir/Questionnaire/dialog',
          },
        },
      ],
    });
    expect(result.ok && result.value.questionnaire).toBe(
      'https://dialog-fhir.org/fhir/Questionnaire/dialog',
    );
  });
});
