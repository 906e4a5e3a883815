import type { Observation, Practitioner } from '@medplum/fhirtypes';
import { contextFromClaims } from '../../src/auth';
import { accessOfContext } from '../../src/api/bearer-access';
import { readableView } from '../../src/service/access';

const observation = (patient: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'x' },
  subject: { reference: `Patient/${patient}` },
});
const keyWorker: Practitioner = {
  resourceType: 'Practitioner',
  id: 'sam-whitfield',
  telecom: [{ system: 'phone', value: '01632 960000' }],
};

function viewerFor(scope: string, more: Record<string, string> = {}) {
  return readableView(accessOfContext(contextFromClaims({ sub: 's', scope, ...more })));
}

describe('readableView: what an operation may show of the records a plan points to', () => {
  it('a plan-only token sees no patient data of other types, but the staff the plan names', () => {
    const view = viewerFor('user/CarePlan.rs', { fhirUser: 'Practitioner/p' });
    expect(view(observation('megan-price'))).toBeUndefined();
    expect(view(keyWorker)).toEqual(keyWorker);
  });

  it('the person sees their own records and their key worker, never someone else’s', () => {
    const view = viewerFor('patient/*.rs', { fhirUser: 'Patient/megan-price' });
    expect(view(observation('megan-price'))).toBeDefined();
    expect(view(observation('someone-else'))).toBeUndefined();
    expect(view(keyWorker)?.telecom?.[0]?.value).toBe('01632 960000');
  });
});
