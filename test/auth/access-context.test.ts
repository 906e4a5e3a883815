import {
  agentReference,
  authOffContext,
  contextFromClaims,
  normaliseFhirUser,
  type Role,
} from '../../src/auth';
import { outcomeOf, summary } from './support';

describe('contextFromClaims: roles', () => {
  /** claims, role, patient context, fhirUser */
  const CASES: [string, Record<string, unknown>, Role, string | undefined, string | undefined][] = [
    [
      'a person (fhirUser Patient) gets their own patient context',
      { fhirUser: 'Patient/p1', scope: 'patient/*.rs' },
      'person',
      'p1',
      'Patient/p1',
    ],
    [
      'a person whose patient claim agrees',
      { fhirUser: 'Patient/p1', patient: 'p1', scope: 'patient/*.rs' },
      'person',
      'p1',
      'Patient/p1',
    ],
    [
      'a carer (RelatedPerson) with the person as patient context',
      { fhirUser: 'RelatedPerson/rp1', patient: 'p1', scope: 'patient/*.rs' },
      'carer',
      'p1',
      'RelatedPerson/rp1',
    ],
    [
      'a clinician (Practitioner)',
      { fhirUser: 'Practitioner/pr1', scope: 'user/*.cruds' },
      'clinician',
      undefined,
      'Practitioner/pr1',
    ],
    [
      'a clinician (PractitionerRole) launched in a patient context',
      { fhirUser: 'PractitionerRole/r1', patient: 'p1', scope: 'patient/*.rs' },
      'clinician',
      'p1',
      'PractitionerRole/r1',
    ],
    [
      'a peer system (Device)',
      { fhirUser: 'Device/peer', scope: 'system/*.cruds' },
      'system',
      undefined,
      'Device/peer',
    ],
    [
      'an absolute fhirUser URL is made relative',
      { fhirUser: 'https://ehr.example/fhir/Practitioner/pr1', scope: 'user/*.rs' },
      'clinician',
      undefined,
      'Practitioner/pr1',
    ],
    [
      'no fhirUser, system/ scopes: a system',
      { scope: 'system/*.cruds' },
      'system',
      undefined,
      undefined,
    ],
    [
      'no fhirUser, user/ scopes: a clinician',
      { scope: 'user/*.rs patient/*.rs' },
      'clinician',
      undefined,
      undefined,
    ],
    [
      'no fhirUser, patient/ scopes only: the person',
      { scope: 'patient/*.rs', patient: 'p1' },
      'person',
      'p1',
      undefined,
    ],
  ];
  it.each(CASES)('%s', (_name, claims, role, patient, fhirUser) => {
    const ctx = contextFromClaims({ sub: 's', ...claims });
    expect(ctx.role).toBe(role);
    expect(ctx.patient).toBe(patient);
    expect(ctx.fhirUser).toBe(fhirUser);
    expect(ctx.mode).toBe('jwt');
  });

  it('reads client_id, or azp, and the scp array', () => {
    expect(contextFromClaims({ sub: 's', scope: '', client_id: 'app' }).clientId).toBe('app');
    const ctx = contextFromClaims({ sub: 's', scp: ['user/*.rs', 'user/X.rs?a=b'], azp: 'other' });
    expect(ctx.clientId).toBe('other');
    expect(ctx.scopes.map((s) => s.text)).toEqual(['user/*.rs']);
    expect(ctx.ignoredScopes).toEqual(['user/X.rs?a=b']);
  });
});

describe('contextFromClaims: 401 for claims that cannot be trusted together', () => {
  const CASES: [string, Record<string, unknown>, string][] = [
    ['no sub', { scope: 'user/*.rs' }, 'token.sub'],
    ['a sub that is not a string', { sub: 7, scope: 'user/*.rs' }, 'token.sub'],
    ['no scope claim', { sub: 's' }, 'token.scope'],
    [
      'a patient claim that is not an id',
      { sub: 's', scope: 'patient/*.rs', patient: 'a b' },
      'token.patient',
    ],
    [
      'a Patient fhirUser with another patient context',
      { sub: 's', scope: 'patient/*.rs', fhirUser: 'Patient/p1', patient: 'p2' },
      'token.patient',
    ],
    [
      'a carer without a patient context',
      { sub: 's', scope: 'patient/*.rs', fhirUser: 'RelatedPerson/rp1' },
      'token.patient',
    ],
    [
      'a fhirUser of another type',
      { sub: 's', scope: 'user/*.rs', fhirUser: 'Person/x' },
      'token.fhirUser',
    ],
    [
      'a fhirUser that is not a reference',
      { sub: 's', scope: 'user/*.rs', fhirUser: 'admin' },
      'token.fhirUser',
    ],
  ];
  it.each(CASES)('%s', async (_name, claims, expression) => {
    const outcome = await outcomeOf(() => contextFromClaims(claims));
    expect(summary(outcome)).toEqual(['unauthorized', 'login', [expression]]);
  });
});

describe('normaliseFhirUser', () => {
  it.each([
    ['Practitioner/a', 'Practitioner/a'],
    ['https://x.example/fhir/Patient/p-1.2', 'Patient/p-1.2'],
    ['Patient/p1/_history/2', undefined],
    ['patient/p1', undefined],
    ['', undefined],
  ])('%s → %s', (value, expected) => {
    expect(normaliseFhirUser(value)).toBe(expected);
  });
});

describe('authOffContext', () => {
  it('is mode off with every permission and no patient context', () => {
    const ctx = authOffContext();
    expect(ctx).toMatchObject({ mode: 'off', role: 'anonymous-dev', subject: 'anonymous-dev' });
    expect(ctx.patient).toBeUndefined();
    expect(ctx.scopes.map((s) => s.text)).toEqual(['system/*.cruds']);
  });
});

describe('agentReference', () => {
  it.each([
    [
      { sub: 'alice@x', fhirUser: 'Practitioner/pr1', client_id: 'ehr', scope: '' },
      { reference: 'Practitioner/pr1' },
    ],
    [
      { sub: 'svc', client_id: 'ward', scope: 'system/*.rs' },
      { identifier: { system: 'urn:ietf:params:oauth:client-id', value: 'ward' } },
    ],
    [{ sub: 'alice@x', scope: '' }, { display: 'unidentified client' }],
  ])('%j → %j', (claims, expected) => {
    expect(agentReference(contextFromClaims(claims))).toEqual(expected);
  });

  it('AUTH=off', () => {
    expect(agentReference(authOffContext())).toEqual({ display: 'anonymous (AUTH=off)' });
  });
});
