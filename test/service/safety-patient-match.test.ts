/**
 * Clinical safety (CLINICAL_SAFETY.md, hazard H09): a session is never filed against the wrong
 * person. src/service/subject.ts resolves who a session is about: a literal `Patient/<id>` must
 * exist; an NHS number must pass the modulus-11 check digit (so a mistyped digit is refused, not
 * matched to someone else) and is matched to the one Patient holding it; two Patients holding the
 * same NHS number is ambiguous and refused; nothing is matched by name. Refusals store nothing.
 * Over real HTTP, on a real embedded store.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { newSession } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type TestService } from '../support/service';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** Megan's NHS number in the journey (valid), and the same with one digit mistyped. */
const MEGAN_NHS = '9992468017';
const MISTYPED = '9992468071';

let service: TestService;
beforeEach(async () => {
  service = await startService();
  await service.store.update(journeyPatient());
});
afterEach(() => service.close());

function session(subject: QuestionnaireResponse['subject'], value: string): QuestionnaireResponse {
  return newSession(value, subject ? { subject } : {});
}

async function total(type: string): Promise<number> {
  const res = await fhir(service.base, 'GET', `/fhir/${type}?_count=0&_total=accurate`);
  expect(res.status).toBe(200);
  return res.body.total as number;
}

async function counts(): Promise<number[]> {
  return Promise.all(['Patient', 'QuestionnaireResponse', 'Observation', 'CarePlan'].map(total));
}

describe('H09: a session is filed against the right person or refused', () => {
  it('by NHS number: matched to the Patient holding it, no new Patient', async () => {
    expect(journeyPatient().identifier).toContainEqual({ system: NHS, value: MEGAN_NHS });
    const patients = await total('Patient');
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session({ identifier: { system: NHS, value: MEGAN_NHS } }, 'by-nhs'),
    );
    expect(res.status).toBe(201);
    expect(res.body.subject).toEqual({ reference: 'Patient/megan-price' });
    expect(await total('Patient')).toBe(patients);
  });

  it('an NHS number with a wrong check digit: 422, nobody matched or created, nothing stored', async () => {
    const before = await counts();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session({ identifier: { system: NHS, value: MISTYPED } }, 'mistyped'),
    );
    expect(res.status).toBe(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    // The number is not echoed back.
    expect(JSON.stringify(res.body)).not.toContain(MISTYPED);
    expect(await counts()).toEqual(before);
  });

  it('two Patients holding the same NHS number: refused as ambiguous, filed against neither', async () => {
    await service.store.update({ ...journeyPatient(), id: 'megan-duplicate' });
    const before = await counts();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session({ identifier: { system: NHS, value: MEGAN_NHS } }, 'ambiguous'),
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await counts()).toEqual(before);
  });

  it('a Patient/<id> that is not stored: 422 at the subject, nothing stored', async () => {
    const before = await counts();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session({ reference: 'Patient/nobody-here' }, 'no-such'),
    );
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body.issue)).toContain('QuestionnaireResponse.subject');
    expect(await counts()).toEqual(before);
  });

  it('a person named only by name (display): 422, never matched by name', async () => {
    const before = await counts();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session({ display: 'Megan Price' }, 'by-name'),
    );
    expect(res.status).toBe(422);
    expect(await counts()).toEqual(before);
  });
});
