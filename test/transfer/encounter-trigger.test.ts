/**
 * An Encounter starting or ending starts a handover: two instances of this service on loopback,
 * an inpatient Encounter PUT to the community (in-progress: admission to the ward) and then to the
 * ward (finished: discharge back), over real HTTP; once per Encounter however often it is written.
 */
import type { Encounter, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { mintDevToken } from '../../src/auth';
import { encounterHandover } from '../../src/transfer/encounter-trigger';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, startServiceWithDevKey, type TestService } from '../support/service';
import { all, NHS, onePlan, responsibleNow, settled, submit, trusts } from './two-trusts';

function encounter(
  id: string,
  status: Encounter['status'],
  subject: NonNullable<Encounter['subject']>,
): Encounter {
  return {
    resourceType: 'Encounter',
    id,
    status,
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: 'IMP',
      display: 'inpatient encounter',
    },
    subject,
    period: {
      start: '2025-11-03T09:00:00Z',
      ...(status === 'finished' ? { end: '2025-11-20T12:00:00Z' } : {}),
    },
  };
}

function handoverLink(link: string | undefined): string {
  const match =
    /\/fhir\/(Task\/[^>]+)>; rel="https:\/\/dialog-fhir\.org\/fhir\/rel\/handover"/.exec(
      link ?? '',
    );
  expect(match?.[1]).toBeDefined();
  return match?.[1] ?? '';
}

async function handoverTasks(service: TestService): Promise<Task[]> {
  return (await all(
    service,
    'Task',
    '&identifier=https://dialog-fhir.org/fhir/sid/handover-task|',
  )) as Task[];
}

describe('the Encounter trigger', () => {
  let services: TestService[] = [];
  afterEach(async () => {
    for (const s of services) await s.close();
    services = [];
  });

  it('decides from class and status alone', () => {
    const subject = { reference: 'Patient/p' };
    expect(encounterHandover(encounter('e', 'in-progress', subject))?.reason).toBe('admission');
    expect(encounterHandover(encounter('e', 'finished', subject))?.reason).toBe('discharge');
    expect(encounterHandover(encounter('e', 'planned', subject))).toBeUndefined();
    expect(encounterHandover(encounter('e', 'cancelled', subject))).toBeUndefined();
    const outpatient = { ...encounter('e', 'in-progress', subject), class: { code: 'AMB' } };
    expect(encounterHandover(outpatient)).toBeUndefined();
  });

  it('admission on an inpatient Encounter starting, discharge on it ending, each once', async () => {
    const t = await trusts();
    services = [t.community, t.ward];
    const [start, , review] = journeyResponses();
    await t.community.store.update(journeyPatient());
    await submit(t.community, start as QuestionnaireResponse, 'megan-price');

    // Planned: stored, no handover yet.
    const planned = await fhir(
      t.community.base,
      'PUT',
      '/fhir/Encounter/stay-1',
      encounter('stay-1', 'planned', { reference: 'Patient/megan-price' }),
    );
    expect(planned.status).toBe(201);
    expect(planned.headers.get('link')).toBeNull();
    expect(await handoverTasks(t.community)).toHaveLength(0);

    // The stay starts: the community hands the plan to the ward.
    const started = await fhir(
      t.community.base,
      'PUT',
      '/fhir/Encounter/stay-1',
      encounter('stay-1', 'in-progress', { reference: 'Patient/megan-price' }),
    );
    expect(started.status).toBe(200);
    const admissionRef = handoverLink(started.headers.get('link') ?? undefined);
    const admissionRes = await fhir(t.community.base, 'GET', `/fhir/${admissionRef}`);
    const admission = await settled(t.community, admissionRes.body as Task);
    expect(admission.status).toBe('completed');
    expect(admission.reasonCode?.coding?.[0]?.code).toBe('admission');
    expect(admission.reasonReference?.reference).toBe('Encounter/stay-1');
    expect(responsibleNow(await onePlan(t.ward))).toBe('Organization/westmere');

    // The same Encounter written again (a retry): the same Task, no second handover.
    const repeat = await fhir(
      t.community.base,
      'PUT',
      '/fhir/Encounter/stay-1',
      encounter('stay-1', 'in-progress', { reference: 'Patient/megan-price' }),
    );
    expect(repeat.status).toBe(200);
    expect(handoverLink(repeat.headers.get('link') ?? undefined)).toBe(admissionRef);
    expect(await handoverTasks(t.community)).toHaveLength(1);

    // At the ward: a rating, then the stay ends there (the person named by NHS number).
    const [wardPatient] = await all(t.ward, 'Patient', `&identifier=${NHS}`);
    await submit(t.ward, review as QuestionnaireResponse, String(wardPatient?.id));
    const [system = '', value = ''] = NHS.split('|');
    const ended = await fhir(
      t.ward.base,
      'POST',
      '/fhir/Encounter',
      encounter('ignored', 'finished', { identifier: { system, value } }),
    );
    expect(ended.status).toBe(201);
    expect(ended.body.id).not.toBe('ignored');
    const dischargeRef = handoverLink(ended.headers.get('link') ?? undefined);
    const discharge = await settled(
      t.ward,
      (await fhir(t.ward.base, 'GET', `/fhir/${dischargeRef}`)).body as Task,
    );
    expect(discharge.status).toBe('completed');
    expect(discharge.reasonCode?.coding?.[0]?.code).toBe('discharge');
    const home = await onePlan(t.community);
    expect(responsibleNow(home)).toBe('Organization/northbrook');
    expect(await all(t.community, 'QuestionnaireResponse')).toHaveLength(2);

    // The Encounters are stored and readable (the identical repeat made no new version).
    const stay = await fhir(t.community.base, 'GET', '/fhir/Encounter/stay-1/_history');
    expect(stay.status).toBe(200);
    expect(stay.body.entry.map((e: { resource: Encounter }) => e.resource.status)).toEqual([
      'in-progress',
      'planned',
    ]);
    expect((await fhir(t.ward.base, 'GET', `/fhir/Encounter/${ended.body.id}`)).body.status).toBe(
      'finished',
    );
  });

  it('without a plan the Encounter is stored and the refusal says so; writing it again retries', async () => {
    const t = await trusts();
    services = [t.community, t.ward];
    await t.community.store.update(journeyPatient());
    const body = encounter('stay-2', 'in-progress', { reference: 'Patient/megan-price' });
    const refused = await fhir(t.community.base, 'PUT', '/fhir/Encounter/stay-2', body);
    expect(refused.status).toBe(422);
    expect(refused.body.issue[0].details.text).toMatch(
      /^The Encounter is stored .*no DIALOG care plan/,
    );
    expect((await fhir(t.community.base, 'GET', '/fhir/Encounter/stay-2')).status).toBe(200);
    expect(await handoverTasks(t.community)).toHaveLength(0);

    await submit(t.community, journeyResponses()[0] as QuestionnaireResponse, 'megan-price');
    const again = await fhir(t.community.base, 'PUT', '/fhir/Encounter/stay-2', body);
    expect(again.status).toBe(200);
    handoverLink(again.headers.get('link') ?? undefined);
    expect(await handoverTasks(t.community)).toHaveLength(1);
  });

  it('is stored without peers (no handover), refused when invalid, found by _id', async () => {
    const s = await startService();
    services = [s];
    const ok = await fhir(
      s.base,
      'POST',
      '/fhir/Encounter',
      encounter('x', 'in-progress', { reference: 'Patient/anyone' }),
    );
    expect(ok.status).toBe(201);
    expect(ok.headers.get('link')).toBeNull();
    const bad = await fhir(s.base, 'POST', '/fhir/Encounter', {
      resourceType: 'Encounter',
      status: 'not-a-status',
      class: { code: 'IMP' },
    });
    expect(bad.status).toBe(422);
    const found = await fhir(s.base, 'GET', `/fhir/Encounter?_id=${ok.body.id}`);
    expect(found.body.entry).toHaveLength(1);
    // A conditional create is refused, not ignored (which made a duplicate on every retry).
    const conditional = await fhir(
      s.base,
      'POST',
      '/fhir/Encounter',
      encounter('x', 'in-progress', { reference: 'Patient/anyone' }),
      { 'if-none-exist': `_id=${ok.body.id}` },
    );
    expect(conditional.status).toBe(400);
    expect(conditional.body.issue[0].code).toBe('not-supported');
    expect((await fhir(s.base, 'GET', '/fhir/Encounter?_count=0')).body.total).toBe(1);
  });

  it('an update cannot move an Encounter to another person (409, unchanged)', async () => {
    const s = await startService();
    services = [s];
    const body = encounter('stay-m', 'planned', { reference: 'Patient/anyone' });
    expect((await fhir(s.base, 'PUT', '/fhir/Encounter/stay-m', body)).status).toBe(201);
    const moved = await fhir(s.base, 'PUT', '/fhir/Encounter/stay-m', {
      ...body,
      subject: { reference: 'Patient/someone-else' },
    });
    expect(moved.status).toBe(409);
    expect(moved.body.issue[0].expression).toEqual(['Encounter.subject']);
    const stored = await fhir(s.base, 'GET', '/fhir/Encounter/stay-m');
    expect(stored.body.subject.reference).toBe('Patient/anyone');
  });

  it('with AUTH on: a clinician may write Encounters; the person’s own access may not', async () => {
    const { service: s, key } = await startServiceWithDevKey();
    services = [s];
    await s.store.update(journeyPatient());
    const body = encounter('stay-9', 'planned', { reference: 'Patient/megan-price' });
    const bearer = async (options: Parameters<typeof mintDevToken>[1]) => ({
      authorization: `Bearer ${await mintDevToken(key, options)}`,
    });
    const person = await bearer({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' });
    const refused = await fhir(s.base, 'PUT', '/fhir/Encounter/stay-9', body, person);
    expect(refused.status).toBe(403);
    expect((await fhir(s.base, 'GET', '/fhir/Encounter/stay-9', undefined, person)).status).toBe(
      403,
    );
    const readOnly = await bearer({
      scopes: ['user/*.rs'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    expect((await fhir(s.base, 'PUT', '/fhir/Encounter/stay-9', body, readOnly)).status).toBe(403);
    const clinician = await bearer({
      scopes: ['user/*.cruds'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    expect((await fhir(s.base, 'PUT', '/fhir/Encounter/stay-9', body, clinician)).status).toBe(201);
    expect((await fhir(s.base, 'GET', '/fhir/Encounter/stay-9', undefined, clinician)).status).toBe(
      200,
    );
    expect((await fhir(s.base, 'GET', '/fhir/Encounter/stay-9')).status).toBe(401);
  });
});
