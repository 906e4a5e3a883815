import type { Resource } from '@medplum/fhirtypes';
import {
  inPatientCompartment,
  patientSearch,
  patientSearchParameter,
  referencesResource,
} from '../../src/auth';
import { searchParametersFor } from '../../src/store/search-parameters';

const BASE = 'https://dialog.trust.example/fhir';
const ref = (reference: string): { reference: string } => ({ reference });

/** name, resource, in p1's compartment (with our base configured) */
const CASES: [string, Resource, boolean][] = [
  ['the Patient itself', { resourceType: 'Patient', id: 'p1' }, true],
  ['another Patient', { resourceType: 'Patient', id: 'p2' }, false],
  ['a Patient without id', { resourceType: 'Patient' }, false],
  [
    'QuestionnaireResponse.subject relative',
    { resourceType: 'QuestionnaireResponse', status: 'completed', subject: ref('Patient/p1') },
    true,
  ],
  [
    'QuestionnaireResponse.subject with a version',
    {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: ref('Patient/p1/_history/3'),
    },
    true,
  ],
  [
    'QuestionnaireResponse of another patient',
    { resourceType: 'QuestionnaireResponse', status: 'completed', subject: ref('Patient/p2') },
    false,
  ],
  [
    'an id that only starts the same',
    { resourceType: 'QuestionnaireResponse', status: 'completed', subject: ref('Patient/p10') },
    false,
  ],
  [
    'QuestionnaireResponse authored (not about) the person',
    {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      author: ref('Patient/p1'),
      subject: ref('Patient/p2'),
    },
    false,
  ],
  [
    'Observation.subject absolute on our base',
    { resourceType: 'Observation', status: 'final', code: {}, subject: ref(`${BASE}/Patient/p1`) },
    true,
  ],
  [
    'Observation.subject absolute on another server',
    {
      resourceType: 'Observation',
      status: 'final',
      code: {},
      subject: ref('https://other.example/fhir/Patient/p1'),
    },
    false,
  ],
  [
    'Observation.subject by identifier only',
    {
      resourceType: 'Observation',
      status: 'final',
      code: {},
      subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9000000009' } },
    },
    false,
  ],
  [
    'Observation about a Group named p1',
    { resourceType: 'Observation', status: 'final', code: {}, subject: ref('Group/p1') },
    false,
  ],
  [
    'CarePlan.subject',
    { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: ref('Patient/p1') },
    true,
  ],
  [
    'Goal.subject',
    {
      resourceType: 'Goal',
      lifecycleStatus: 'active',
      description: {},
      subject: ref('Patient/p1'),
    },
    true,
  ],
  [
    'Task.for',
    { resourceType: 'Task', status: 'requested', intent: 'order', for: ref('Patient/p1') },
    true,
  ],
  [
    'Task for someone else, owned by nobody',
    { resourceType: 'Task', status: 'requested', intent: 'order', for: ref('Patient/p2') },
    false,
  ],
  [
    'Provenance targeting the Patient',
    {
      resourceType: 'Provenance',
      recorded: '2025-01-01T00:00:00Z',
      agent: [],
      target: [ref('QuestionnaireResponse/q1'), ref('Patient/p1')],
    },
    true,
  ],
  [
    'Provenance targeting only the person’s other resources',
    {
      resourceType: 'Provenance',
      recorded: '2025-01-01T00:00:00Z',
      agent: [],
      target: [ref('QuestionnaireResponse/q1')],
    },
    false,
  ],
  [
    'AuditEvent with the person as an entity',
    {
      resourceType: 'AuditEvent',
      type: {},
      recorded: '2025-01-01T00:00:00Z',
      agent: [],
      source: { observer: {} },
      entity: [{ what: ref('CarePlan/c1') }, { what: ref('Patient/p1') }],
    },
    true,
  ],
  [
    'AuditEvent with the person only as agent',
    {
      resourceType: 'AuditEvent',
      type: {},
      recorded: '2025-01-01T00:00:00Z',
      agent: [{ who: ref('Patient/p1'), requestor: true }],
      source: { observer: {} },
    },
    false,
  ],
  ['RelatedPerson.patient', { resourceType: 'RelatedPerson', patient: ref('Patient/p1') }, true],
  [
    'Consent.patient',
    {
      resourceType: 'Consent',
      status: 'active',
      scope: {},
      category: [],
      patient: ref('Patient/p1'),
    },
    true,
  ],
  ['a type without a compartment rule', { resourceType: 'Organization', id: 'p1' }, false],
  [
    'Questionnaire (a definition, not patient data)',
    { resourceType: 'Questionnaire', status: 'active', id: 'p1' },
    false,
  ],
];

describe('inPatientCompartment', () => {
  it.each(CASES)('%s', (_name, resource, expected) => {
    expect(inPatientCompartment(resource, 'p1', { baseUrls: [BASE] })).toBe(expected);
  });

  it('absolute references count only with the server’s base configured', () => {
    const obs: Resource = {
      resourceType: 'Observation',
      status: 'final',
      code: {},
      subject: ref(`${BASE}/Patient/p1`),
    };
    expect(inPatientCompartment(obs, 'p1')).toBe(false);
    expect(inPatientCompartment(obs, 'p1', { baseUrls: [`${BASE}/`] })).toBe(true);
  });
});

describe('referencesResource', () => {
  it.each([
    ['RelatedPerson/rp1', true],
    ['RelatedPerson/rp1/_history/1', true],
    ['RelatedPerson/rp2', false],
    ['Patient/rp1', false],
    ['#rp1', false],
    ['urn:uuid:3f1e1f0e-0000-4000-8000-000000000000', false],
    [`${BASE}/RelatedPerson/rp1`, true],
    [`${BASE}x/RelatedPerson/rp1`, false],
  ])('%s → %s', (reference, expected) => {
    expect(referencesResource(reference, 'RelatedPerson', 'rp1', { baseUrls: [BASE] })).toBe(
      expected,
    );
  });
});

describe('patientSearchParameter', () => {
  const TYPES = [
    'Patient',
    'QuestionnaireResponse',
    'Observation',
    'CarePlan',
    'Goal',
    'Task',
    'Provenance',
    'AuditEvent',
    'RelatedPerson',
    'Consent',
  ];

  it.each(TYPES)('%s has a parameter the store supports', (type) => {
    const name = patientSearchParameter(type);
    expect(name).toBeDefined();
    expect(searchParametersFor(type).map((p) => p.name)).toContain(name);
  });

  it('none for types without patient data', () => {
    expect(patientSearchParameter('Questionnaire')).toBeUndefined();
    expect(patientSearchParameter('Organization')).toBeUndefined();
  });

  it('gives the value to pin with', () => {
    expect(patientSearch('Patient', 'p1')).toEqual({ name: '_id', value: 'p1' });
    expect(patientSearch('CarePlan', 'p1')).toEqual({ name: 'patient', value: 'Patient/p1' });
    expect(patientSearch('Questionnaire', 'p1')).toBeUndefined();
  });
});
