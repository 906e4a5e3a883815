/**
 * Clinical safety (CLINICAL_SAFETY.md, hazard H03): a carer's rating is never taken as the
 * person's. A DIALOG session whose answers are given by anyone but the person it is about — a
 * carer (RelatedPerson) or another patient — is refused at submission (the DIALOG profile allows
 * only the subject as `source`: dlg-qr-3), with an OperationOutcome naming why, and nothing of it
 * is stored: no response, no Observations, no plan change.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { newSession } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type Json, type TestService } from '../support/service';

let service: TestService;
beforeEach(async () => {
  service = await startService();
  await service.store.update(journeyPatient());
  await service.store.update({
    resourceType: 'RelatedPerson',
    id: 'hannah-price',
    patient: { reference: 'Patient/megan-price' },
    name: [{ given: ['Hannah'], family: 'Price' }],
  });
});
afterEach(() => service.close());

function session(source: string | undefined, value: string): QuestionnaireResponse {
  return newSession(value, source ? { source: { reference: source } } : {});
}

async function stored(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const type of ['QuestionnaireResponse', 'Observation', 'CarePlan', 'Goal', 'Provenance']) {
    const res = await fhir(service.base, 'GET', `/fhir/${type}?_count=0&_total=accurate`);
    expect(res.status).toBe(200);
    out[type] = res.body.total as number;
  }
  return out;
}

const issueText = (body: Json): string =>
  JSON.stringify((body.issue as Json[]).map((i) => [i.code, i.expression, i.diagnostics]));

describe('H03: a rating by anyone but the person is refused, and nothing is stored', () => {
  it('a carer (RelatedPerson) as the source of the answers: 422 at QuestionnaireResponse.source', async () => {
    const before = await stored();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session('RelatedPerson/hannah-price', 'carer-proxy'),
    );
    expect(res.status).toBe(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(issueText(res.body)).toContain('QuestionnaireResponse.source');
    expect(await stored()).toEqual(before);
  });

  it('another patient as the source (dlg-qr-3): 422 naming the rule, nothing stored', async () => {
    await service.store.update({ ...journeyPatient(), id: 'someone-else', identifier: [] });
    const before = await stored();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session('Patient/someone-else', 'other-person-proxy'),
    );
    expect(res.status).toBe(422);
    expect(issueText(res.body)).toContain('dlg-qr-3');
    expect(await stored()).toEqual(before);
  });

  it('the same session with the person as the source is taken (the refusals above are about the source)', async () => {
    const before = await stored();
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session('Patient/megan-price', 'own-rating'),
    );
    expect(res.status).toBe(201);
    expect(res.body.source).toEqual({ reference: 'Patient/megan-price' });
    const after = await stored();
    expect(after.QuestionnaireResponse).toBe((before.QuestionnaireResponse ?? 0) + 1);
    expect(after.Observation).toBeGreaterThan(before.Observation ?? 0);
  });
});
