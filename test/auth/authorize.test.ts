import { getStatus } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import {
  authOffContext,
  authorize,
  checkInCompartment,
  compartmentPatient,
  contextFromClaims,
  wwwAuthenticate,
  type AccessContext,
  type Interaction,
} from '../../src/auth';
import { outcomeOf, summary } from './support';

const person = contextFromClaims({ sub: 'a', fhirUser: 'Patient/p1', scope: 'patient/*.cruds' });
const personReadOnly = contextFromClaims({
  sub: 'a',
  fhirUser: 'Patient/p1',
  scope: 'patient/*.rs',
});
const carer = contextFromClaims({
  sub: 'b',
  fhirUser: 'RelatedPerson/rp1',
  patient: 'p1',
  scope: 'patient/*.rs',
});
const carerAll = contextFromClaims({
  sub: 'b',
  fhirUser: 'RelatedPerson/rp1',
  patient: 'p1',
  scope: 'patient/*.cruds',
});
const clinician = contextFromClaims({
  sub: 'c',
  fhirUser: 'Practitioner/pr1',
  scope: 'user/*.cruds',
});
const clinicianReader = contextFromClaims({
  sub: 'c',
  fhirUser: 'Practitioner/pr1',
  scope: 'user/CarePlan.rs user/Goal.rs',
});
const launched = contextFromClaims({
  sub: 'c',
  fhirUser: 'Practitioner/pr1',
  patient: 'p2',
  scope: 'patient/*.rs',
});
const peer = contextFromClaims({ sub: 'peer', fhirUser: 'Device/peer', scope: 'system/*.cruds' });
const noContext = contextFromClaims({ sub: 'd', scope: 'patient/*.rs' });
const off = authOffContext();

const CONTEXTS: Record<string, AccessContext> = {
  person,
  personReadOnly,
  carer,
  carerAll,
  clinician,
  clinicianReader,
  launched,
  peer,
  noContext,
  off,
};

/** Outcome per cell: 'open' (no bound), 'p1'/'p2' (confined), 'consent' (confined to p1 + Consent), '403'. */
type Cell = 'open' | 'p1' | 'p2' | 'consent' | '403';

const INTERACTIONS: Interaction[] = ['read', 'search', 'create', 'update', 'delete'];
const TYPES = ['CarePlan', 'QuestionnaireResponse', 'Questionnaire', 'Patient', 'Organization'];

/** Per context and type, the cells for read, search, create, update, delete. */
const MATRIX: Record<string, Record<string, Cell[]>> = {
  person: {
    CarePlan: ['p1', 'p1', 'p1', 'p1', 'p1'],
    QuestionnaireResponse: ['p1', 'p1', 'p1', 'p1', 'p1'],
    Questionnaire: ['open', 'open', '403', '403', '403'],
    Patient: ['p1', 'p1', 'p1', 'p1', 'p1'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  personReadOnly: {
    CarePlan: ['p1', 'p1', '403', '403', '403'],
    QuestionnaireResponse: ['p1', 'p1', '403', '403', '403'],
    Questionnaire: ['open', 'open', '403', '403', '403'],
    Patient: ['p1', 'p1', '403', '403', '403'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  carer: {
    CarePlan: ['consent', 'consent', '403', '403', '403'],
    QuestionnaireResponse: ['consent', 'consent', '403', '403', '403'],
    Questionnaire: ['open', 'open', '403', '403', '403'],
    Patient: ['consent', 'consent', '403', '403', '403'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  carerAll: {
    CarePlan: ['consent', 'consent', '403', '403', '403'],
    QuestionnaireResponse: ['consent', 'consent', '403', '403', '403'],
    Questionnaire: ['open', 'open', '403', '403', '403'],
    Patient: ['consent', 'consent', '403', '403', '403'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  clinician: {
    CarePlan: ['open', 'open', 'open', 'open', 'open'],
    QuestionnaireResponse: ['open', 'open', 'open', 'open', 'open'],
    Questionnaire: ['open', 'open', 'open', 'open', 'open'],
    Patient: ['open', 'open', 'open', 'open', 'open'],
    Organization: ['open', 'open', 'open', 'open', 'open'],
  },
  clinicianReader: {
    CarePlan: ['open', 'open', '403', '403', '403'],
    QuestionnaireResponse: ['403', '403', '403', '403', '403'],
    Questionnaire: ['403', '403', '403', '403', '403'],
    Patient: ['403', '403', '403', '403', '403'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  launched: {
    CarePlan: ['p2', 'p2', '403', '403', '403'],
    QuestionnaireResponse: ['p2', 'p2', '403', '403', '403'],
    Questionnaire: ['open', 'open', '403', '403', '403'],
    Patient: ['p2', 'p2', '403', '403', '403'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  peer: {
    CarePlan: ['open', 'open', 'open', 'open', 'open'],
    QuestionnaireResponse: ['open', 'open', 'open', 'open', 'open'],
    Questionnaire: ['open', 'open', 'open', 'open', 'open'],
    Patient: ['open', 'open', 'open', 'open', 'open'],
    Organization: ['open', 'open', 'open', 'open', 'open'],
  },
  noContext: {
    CarePlan: ['403', '403', '403', '403', '403'],
    QuestionnaireResponse: ['403', '403', '403', '403', '403'],
    Questionnaire: ['403', '403', '403', '403', '403'],
    Patient: ['403', '403', '403', '403', '403'],
    Organization: ['403', '403', '403', '403', '403'],
  },
  off: {
    CarePlan: ['open', 'open', 'open', 'open', 'open'],
    QuestionnaireResponse: ['open', 'open', 'open', 'open', 'open'],
    Questionnaire: ['open', 'open', 'open', 'open', 'open'],
    Patient: ['open', 'open', 'open', 'open', 'open'],
    Organization: ['open', 'open', 'open', 'open', 'open'],
  },
};

const ROWS: [string, string, Interaction, Cell][] = Object.entries(MATRIX).flatMap(
  ([name, byType]) =>
    TYPES.flatMap((type) =>
      INTERACTIONS.map((interaction, i): [string, string, Interaction, Cell] => [
        name,
        type,
        interaction,
        byType[type]?.[i] ?? '403',
      ]),
    ),
);

describe('authorize: roles × types × interactions', () => {
  it.each(ROWS)('%s %s %s → %s', async (name, type, interaction, cell) => {
    const ctx = CONTEXTS[name] as AccessContext;
    if (cell === '403') {
      const outcome = await outcomeOf(() => authorize(ctx, interaction, type));
      expect(summary(outcome)).toEqual(['forbidden', 'forbidden', [type]]);
      expect(getStatus(outcome)).toBe(403);
      return;
    }
    const decision = authorize(ctx, interaction, type);
    expect(decision.patient).toBe(cell === 'open' ? undefined : cell === 'consent' ? 'p1' : cell);
    expect(decision.consent).toBe(cell === 'consent');
  });

  it('every type of the matrix is covered for every context', () => {
    for (const byType of Object.values(MATRIX))
      expect(Object.keys(byType).sort()).toEqual([...TYPES].sort());
  });

  it('explains a scope refusal in the message, with insufficient_scope for WWW-Authenticate', async () => {
    let thrown: unknown;
    try {
      authorize(clinicianReader, 'create', 'CarePlan');
    } catch (err) {
      thrown = err;
    }
    expect(wwwAuthenticate(thrown)).toBe('Bearer realm="dialog-fhir", error="insufficient_scope"');
    const outcome = await outcomeOf(() => authorize(clinicianReader, 'create', 'CarePlan'));
    expect(outcome.issue[0]?.details?.text).toBe(
      "The token's scopes do not allow create on CarePlan",
    );
  });

  it('a carer is told carers only read', async () => {
    const outcome = await outcomeOf(() => authorize(carerAll, 'update', 'CarePlan'));
    expect(outcome.issue[0]?.details?.text).toMatch(/never write/);
  });

  it('a user/ scope granting the interaction lifts the patient bound of patient/ scopes', () => {
    const mixed = contextFromClaims({
      sub: 'c',
      fhirUser: 'Practitioner/pr1',
      patient: 'p2',
      scope: 'patient/*.rs user/CarePlan.rs',
    });
    expect(authorize(mixed, 'read', 'CarePlan')).toEqual({ consent: false });
    expect(authorize(mixed, 'read', 'Goal')).toEqual({ patient: 'p2', consent: false });
  });
});

describe('checkInCompartment', () => {
  const mine: Resource = {
    resourceType: 'CarePlan',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p1' },
  };
  const theirs: Resource = { ...mine, subject: { reference: 'Patient/p2' } };

  it('passes a resource of the person, refuses another person’s with a 403 naming the type only', async () => {
    const decision = authorize(person, 'read', 'CarePlan');
    expect(() => checkInCompartment(decision, mine)).not.toThrow();
    const outcome = await outcomeOf(() => checkInCompartment(decision, theirs));
    expect(summary(outcome)).toEqual(['forbidden', 'forbidden', ['CarePlan']]);
    expect(JSON.stringify(outcome)).not.toContain('p2');
  });

  it('does not bound an unconfined caller', () => {
    expect(() =>
      checkInCompartment(authorize(clinician, 'read', 'CarePlan'), theirs),
    ).not.toThrow();
  });

  it('refuses a confined create of a resource about someone else, or about no one', async () => {
    const decision = authorize(person, 'create', 'QuestionnaireResponse');
    const qr: Resource = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: 'Patient/p2' },
    };
    expect(summary(await outcomeOf(() => checkInCompartment(decision, qr)))[0]).toBe('forbidden');
    const orphan: Resource = { resourceType: 'QuestionnaireResponse', status: 'completed' };
    expect(summary(await outcomeOf(() => checkInCompartment(decision, orphan)))[0]).toBe(
      'forbidden',
    );
  });
});

describe('compartmentPatient', () => {
  it.each([
    ['person', 'p1'],
    ['carer', 'p1'],
    ['launched', 'p2'],
    ['clinician', undefined],
    ['peer', undefined],
    ['off', undefined],
  ])('%s → %s', (name, expected) => {
    expect(compartmentPatient(CONTEXTS[name] as AccessContext)).toBe(expected);
  });
});
