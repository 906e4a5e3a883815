/**
 * The directory over real HTTP with real signed tokens: Practitioner, PractitionerRole and
 * Organization are kept and found by clinicians and systems (the people a plan names, and their
 * addresses for sending it), are in no one's patient compartment, and so are refused to a caller
 * confined to a person (403 with an OperationOutcome); invalid ones are a 422 like any resource.
 */
import type { Bundle, CapabilityStatement, Practitioner } from '@medplum/fhirtypes';
import { mintDevToken, type DevKey } from '../../src/auth';
import { fhir, startServiceWithDevKey, type Json, type TestService } from '../support/service';

let service: TestService;
let key: DevKey;
let clinician: string;
let person: string;

const GMC = 'https://fhir.hl7.org.uk/Id/gmc-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

const keyWorker: Practitioner = {
  resourceType: 'Practitioner',
  id: 'sam-whitfield',
  identifier: [{ system: GMC, value: '7654321' }],
  name: [{ family: 'Whitfield', given: ['Sam'] }],
  telecom: [{ system: 'email', value: 'sam.whitfield@nhs.net', use: 'work' }],
};

beforeAll(async () => {
  ({ service, key } = await startServiceWithDevKey());
  clinician = await mintDevToken(key, {
    scopes: ['user/*.cruds'],
    fhirUser: 'Practitioner/sam-whitfield',
  });
  person = await mintDevToken(key, { scopes: ['patient/*.rs'], patient: 'megan-price' });
});
afterAll(() => service.close());

const as = (bearer: string): Record<string, string> => ({ authorization: `Bearer ${bearer}` });

function expectRefusal(res: { status: number; body: Json }, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe(code);
  expect(res.body.issue[0].expression?.length).toBeGreaterThan(0);
}

describe('the directory: Practitioner, PractitionerRole, Organization', () => {
  it('keeps a key worker, a practice and a role, and finds them by identifier and reference', async () => {
    const put = await fhir(
      service.base,
      'PUT',
      '/fhir/Practitioner/sam-whitfield',
      keyWorker,
      as(clinician),
    );
    expect(put.status).toBe(201);
    const practice = await fhir(
      service.base,
      'POST',
      '/fhir/Organization',
      {
        resourceType: 'Organization',
        identifier: [{ system: ODS, value: 'Y01234' }],
        name: 'Riverside Practice',
      },
      as(clinician),
    );
    expect(practice.status).toBe(201);
    const role = await fhir(
      service.base,
      'POST',
      '/fhir/PractitionerRole',
      {
        resourceType: 'PractitionerRole',
        practitioner: { reference: 'Practitioner/sam-whitfield' },
        organization: { reference: `Organization/${String(practice.body.id)}` },
      },
      as(clinician),
    );
    expect(role.status).toBe(201);

    const byGmc = await fhir(
      service.base,
      'GET',
      `/fhir/Practitioner?identifier=${GMC}|7654321`,
      undefined,
      as(clinician),
    );
    expect(byGmc.status).toBe(200);
    const found = (byGmc.body as Bundle).entry?.map((e) => e.resource as Practitioner) ?? [];
    expect(found.map((p) => p.telecom?.[0]?.value)).toEqual(['sam.whitfield@nhs.net']);
    const none = await fhir(
      service.base,
      'GET',
      `/fhir/Practitioner?identifier=${GMC}|1111111`,
      undefined,
      as(clinician),
    );
    expect((none.body as Bundle).total).toBe(0);

    const roles = await fhir(
      service.base,
      'GET',
      '/fhir/PractitionerRole?practitioner=Practitioner/sam-whitfield',
      undefined,
      as(clinician),
    );
    expect((roles.body as Bundle).entry?.map((e) => e.resource?.id)).toEqual([role.body.id]);
    const atPractice = await fhir(
      service.base,
      'GET',
      `/fhir/PractitionerRole?organization=Organization/${String(practice.body.id)}`,
      undefined,
      as(clinician),
    );
    expect((atPractice.body as Bundle).total).toBe(1);
    const byOds = await fhir(
      service.base,
      'GET',
      `/fhir/Organization?identifier=${ODS}|Y01234`,
      undefined,
      as(clinician),
    );
    expect((byOds.body as Bundle).entry?.[0]?.resource?.id).toBe(practice.body.id);
  });

  it('refuses the directory to a caller confined to a person', async () => {
    expectRefusal(
      await fhir(service.base, 'GET', '/fhir/Practitioner/sam-whitfield', undefined, as(person)),
      403,
      'forbidden',
    );
    expectRefusal(
      await fhir(service.base, 'GET', '/fhir/Organization', undefined, as(person)),
      403,
      'forbidden',
    );
    expectRefusal(
      await fhir(
        service.base,
        'PUT',
        '/fhir/Practitioner/sam-whitfield',
        { ...keyWorker, name: [{ family: 'X' }] },
        as(person),
      ),
      403,
      'forbidden',
    );
    const still = await fhir(
      service.base,
      'GET',
      '/fhir/Practitioner/sam-whitfield',
      undefined,
      as(clinician),
    );
    expect((still.body as Practitioner).name?.[0]?.family).toBe('Whitfield');
  });

  it('refuses an invalid record with a 422 naming the element', async () => {
    const res = await fhir(
      service.base,
      'PUT',
      '/fhir/Practitioner/sam-whitfield',
      { ...keyWorker, telecom: [{ system: 'pigeon', value: 'x' }] },
      as(clinician),
    );
    expectRefusal(res, 422, 'code-invalid');
    expect(String(res.body.issue[0].expression[0])).toContain('telecom');
  });

  it('lists the three types, with their search parameters, in the CapabilityStatement', async () => {
    const res = await fhir(service.base, 'GET', '/fhir/metadata');
    const resources = (res.body as CapabilityStatement).rest?.[0]?.resource ?? [];
    const params = (type: string): string[] =>
      resources.find((r) => r.type === type)?.searchParam?.map((p) => p.name) ?? [];
    expect(params('Practitioner')).toContain('identifier');
    expect(params('PractitionerRole')).toEqual(
      expect.arrayContaining(['practitioner', 'organization']),
    );
    expect(params('Organization')).toContain('identifier');
  });
});
