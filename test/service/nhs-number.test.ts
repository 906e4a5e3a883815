/**
 * src/mapping/codes.ts's isNhsNumber, as src/service/nhs-number.ts uses it: an NHS number of one digit ten times (`0000000000`, `1111111111`…)
 * passes modulus 11 but is not a valid NHS number (NHS England): it is refused as a mistyped one
 * is, on Patients (422), in searches (400) and as a session's subject (422), at the identifier's
 * value, without echoing it, and nothing is stored. Over real HTTP, on a real embedded store.
 */
import { isNhsNumber } from '../../src/mapping/codes';
import { newSession } from '../fhir/journey';
import { fhir, startService, type Json, type TestService } from '../support/service';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const REPEATED = Array.from({ length: 10 }, (_, d) => String(d).repeat(10));

/** The modulus-11 check alone (NHS England's algorithm), to show what it lets through. */
function passesModulus11(value: string): boolean {
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(value[i]) * (10 - i);
  const check = (11 - (sum % 11)) % 11;
  return check !== 10 && check === Number(value[9]);
}

describe('isNhsNumber (one rule for the service and the mappers)', () => {
  it.each(REPEATED)('refuses %s, which passes modulus 11', (value) => {
    expect(passesModulus11(value)).toBe(true);
    expect(isNhsNumber(value)).toBe(false);
  });

  it('takes a valid number and refuses a mistyped one', () => {
    expect(isNhsNumber('9992468017')).toBe(true);
    expect(isNhsNumber('9992468071')).toBe(false);
    expect(isNhsNumber('999246801')).toBe(false);
  });
});

describe('repeated-digit NHS numbers over HTTP', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService();
  });
  afterAll(() => service.close());

  function expectRefused(body: Json, expression: string, value: string): void {
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].code).toBe('value');
    expect(body.issue[0].expression).toEqual([expression]);
    expect(JSON.stringify(body)).toMatch(/not all the same/);
    expect(JSON.stringify(body)).not.toContain(value);
  }

  async function total(type: string): Promise<number> {
    return (await fhir(service.base, 'GET', `/fhir/${type}?_count=0`)).body.total as number;
  }

  it.each(['0000000000', '1111111111'])('refuses a Patient with %s (422)', async (value) => {
    const res = await fhir(service.base, 'POST', '/fhir/Patient', {
      resourceType: 'Patient',
      identifier: [
        { system: 'urn:local', value: 'x' },
        { system: NHS, value },
      ],
    });
    expect(res.status).toBe(422);
    expectRefused(res.body, 'Patient.identifier[1].value', value);
    expect(await total('Patient')).toBe(0);
  });

  it('refuses a search for 0000000000 (400)', async () => {
    const res = await fhir(service.base, 'GET', `/fhir/Patient?identifier=${NHS}|0000000000`);
    expect(res.status).toBe(400);
    expectRefused(res.body, 'Patient.identifier', '0000000000');
  });

  it('refuses a session naming its person by 0000000000 (422), storing nothing', async () => {
    const session = newSession('repeated-digits', {
      subject: { identifier: { system: NHS, value: '0000000000' } },
    });
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', session);
    expect(res.status).toBe(422);
    expectRefused(res.body, 'QuestionnaireResponse.subject.identifier.value', '0000000000');
    expect(await total('Patient')).toBe(0);
    expect(await total('QuestionnaireResponse')).toBe(0);
  });
});
