/**
 * The one plan follows the person: two instances of this service on loopback (a community trust
 * and an inpatient trust, each with its own embedded store), handing the plan over and back over
 * real HTTP through $transfer; and once with Medplum's fhir-router as the receiving server.
 */
import type { Bundle, CarePlan, QuestionnaireResponse } from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../../src/fhir';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { fhir, freePort, startService, type Json, type TestService } from '../support/service';
import {
  all,
  community,
  FAST,
  NHS,
  responsibleNow,
  submit,
  transfer,
  trusts,
  ward,
} from './two-trusts';

async function pair(): Promise<[TestService, TestService]> {
  const { community: c, ward: w } = await trusts();
  return [c, w];
}

describe('handover between a community and an inpatient system', () => {
  let services: TestService[] = [];
  afterEach(async () => {
    for (const s of services) await s.close();
    services = [];
  });

  it('admission and discharge: one plan, its history, no duplicates, however often it is sent', async () => {
    const [c, w] = await pair();
    services = [c, w];
    const [start, , review, discharge] = journeyResponses();
    await c.store.update(journeyPatient());
    await submit(c, start as QuestionnaireResponse, 'megan-price');

    const admitted = await transfer(c, 'megan-price', 'ward', 'admission');
    expect(admitted.status).toBe('completed');
    expect(admitted.output?.[0]?.valueReference?.reference).toMatch(
      /\/fhir\/CarePlan\/[^/]+\/_history\/\d+$/,
    );

    const [wardPatient] = await all(w, 'Patient', `&identifier=${NHS}`);
    expect(wardPatient).toBeDefined();
    const wardPlans = (await all(w, 'CarePlan')) as CarePlan[];
    expect(wardPlans).toHaveLength(1);
    const plan = wardPlans[0] as CarePlan;
    expect(plan.subject?.reference).toBe(`Patient/${wardPatient.id}`);
    expect(responsibleNow(plan)).toBe('Organization/westmere');
    const sections = (plan.activity ?? []).filter((a) => a.detail?.status === 'not-started');
    expect(sections.length).toBeGreaterThanOrEqual(4);
    expect(await all(w, 'QuestionnaireResponse')).toHaveLength(1);
    const observationsAtWard = (await all(w, 'Observation')).length;
    expect(observationsAtWard).toBe((await all(c, 'Observation')).length);

    // Sent again: nothing is duplicated at the ward.
    const again = await transfer(c, 'megan-price', 'ward', 'admission');
    expect(again.status).toBe('completed');
    expect(await all(w, 'CarePlan')).toHaveLength(1);
    expect(await all(w, 'QuestionnaireResponse')).toHaveLength(1);
    expect(await all(w, 'Observation')).toHaveLength(observationsAtWard);

    // The ward rates, then discharges the person back to the community team.
    await submit(w, review as QuestionnaireResponse, String(wardPatient.id));
    await submit(w, discharge as QuestionnaireResponse, String(wardPatient.id));
    const back = await transfer(w, String(wardPatient.id), 'community', 'discharge');
    expect(back.statusReason?.text).toBeUndefined();
    expect(back.status).toBe('completed');

    const plans = (await all(c, 'CarePlan')) as CarePlan[];
    expect(plans).toHaveLength(1);
    const home = plans[0] as CarePlan;
    expect(home.identifier?.find((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM)?.value).toBe(
      plan.identifier?.find((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM)?.value,
    );
    const conflicts = await all(c, 'Task', '&status=requested');
    expect(conflicts.map((t) => t.description)).toEqual([]);
    expect(responsibleNow(home)).toBe('Organization/northbrook');
    expect(await all(c, 'Patient')).toHaveLength(1);
    expect(await all(c, 'QuestionnaireResponse')).toHaveLength(3);
    const closed = (home.activity ?? []).filter((a) =>
      ['mental-health-act-status', 'leave', 'visits', 'nursing-observations'].includes(
        a.detail?.code?.coding?.[0]?.code ?? '',
      ),
    );
    expect(closed.length).toBeGreaterThanOrEqual(4);
    expect(closed.every((a) => a.detail?.status === 'completed')).toBe(true);
    const summary = await fhir(c.base, 'GET', '/fhir/Patient/megan-price/$dialog-summary');
    expect(summary.body.parameter.filter((p: Json) => p.name === 'rating')).toHaveLength(3);
  }, 60_000);

  it('hands over to Medplum’s fhir-router as the receiving server', async () => {
    const router = await startFhirRouterServer();
    const pc = await freePort();
    const c = await startService({
      port: pc,
      peers: {
        self: { ...community, baseUrl: `http://127.0.0.1:${pc}/fhir` },
        peers: [{ ...ward, baseUrl: router.baseUrl.replace(/\/$/, ''), auth: { type: 'none' } }],
      },
      delivery: FAST,
    });
    services = [c];
    try {
      await c.store.update(journeyPatient());
      await submit(c, journeyResponses()[0] as QuestionnaireResponse, 'megan-price');
      const task = await transfer(c, 'megan-price', 'ward', 'admission');
      expect(task.statusReason?.text).toBeUndefined();
      expect(task.status).toBe('completed');
      const plans = await fetch(`${router.baseUrl.replace(/\/$/, '')}/CarePlan`).then(
        (r) => r.json() as Promise<Bundle>,
      );
      expect(plans.entry).toHaveLength(1);
    } finally {
      await router.close();
    }
  }, 60_000);

  it('a destination that is not configured, or a person without a plan, is refused clearly', async () => {
    const [c, w] = await pair();
    services = [c, w];
    await c.store.update(journeyPatient());
    const unknown = await fhir(c.base, 'POST', '/fhir/Patient/megan-price/$transfer', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'destination', valueString: 'nowhere' },
        { name: 'reason', valueCode: 'admission' },
      ],
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.issue[0].expression[0]).toContain('destination');
    const noPlan = await fhir(c.base, 'POST', '/fhir/Patient/megan-price/$transfer', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'destination', valueString: 'ward' },
        { name: 'reason', valueCode: 'admission' },
      ],
    });
    expect(noPlan.status).toBe(422);
    expect(noPlan.body.issue[0].code).toBe('business-rule');
  });
});
