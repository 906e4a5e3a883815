/**
 * On discharge the plan goes to everyone named in it within 24 hours: who is named (the person,
 * key worker, GP, care team, carers the person's Consent lets see it — and not a carer without
 * one), one send-plan Task each in the discharging system's outbox with a due-by of discharge +
 * 24 h, none again on a repeated discharge, and a sender hook that completes each once (a carer
 * gets only what the Consent shares; a carer whose consent is withdrawn before sending, nothing).
 * Two instances of this service over HTTP for the discharge itself.
 */
import type { CarePlan, Consent, Patient, Resource, Task } from '@medplum/fhirtypes';
import { Extensions } from '../../src/fhir';
import {
  PLAN_SEND_SYSTEM,
  PlanDistributor,
  planRecipients,
  type PlanDelivery,
} from '../../src/transfer/plan-distribution';
import { journeyResources, journeyStore, PLAN_ID, type OpenStore } from '../letter/journey-store';
import { fhir, type TestService } from '../support/service';
import { all, NHS, onePlan, transfer, trusts, type Trusts } from './two-trusts';

const GP: NonNullable<Patient['generalPractitioner']> = [
  { reference: 'Organization/willow-surgery', display: 'Willow Surgery' },
];
const TOM = {
  resourceType: 'RelatedPerson',
  id: 'tom-price',
  patient: { reference: 'Patient/megan-price' },
  name: [{ family: 'Price', given: ['Tom'] }],
} as const;

/** The journey's person with a GP, and her plan naming a second carer she has not agreed to. */
function withGpAndTom(resources: readonly Resource[]): Resource[] {
  return resources.map((r) => {
    if (r.resourceType === 'Patient') return { ...r, generalPractitioner: GP };
    if (r.resourceType === 'CarePlan')
      return {
        ...r,
        extension: [
          ...(r.extension ?? []),
          {
            url: Extensions.carer,
            extension: [
              {
                url: 'carer',
                valueReference: { reference: 'RelatedPerson/tom-price', display: 'Tom Price' },
              },
            ],
          },
        ],
      };
    return r;
  });
}

function sendTasks(service: TestService, query = ''): Promise<Task[]> {
  return all(service, 'Task', `&identifier=${PLAN_SEND_SYSTEM}|${query}`) as Promise<Task[]>;
}

const recipientOf = (t: Task): string => t.restriction?.recipient?.[0]?.reference ?? '';

describe('who the plan goes to on discharge', () => {
  let open: OpenStore | undefined;
  afterEach(async () => {
    await open?.close();
    open = undefined;
  });

  it('the person, key worker, GP, care team and a consenting carer; not a carer without consent', async () => {
    open = await journeyStore('04', [TOM as unknown as Resource]);
    const store = open.store;
    for (const r of withGpAndTom(journeyResources('04')))
      if (r.resourceType === 'Patient' || (r.resourceType === 'CarePlan' && r.id === PLAN_ID))
        await store.update(r);
    const plan = (await store.read('CarePlan', PLAN_ID)) as CarePlan;
    const { recipients, withheld } = await planRecipients(
      store,
      plan,
      new Date('2025-12-09T12:00:00Z'),
    );
    expect(recipients.map((r) => [r.recipient.reference, r.role])).toEqual([
      ['Patient/megan-price', 'person'],
      ['Practitioner/sam-whitfield', 'key worker'],
      ['Organization/willow-surgery', 'GP'],
      ['Practitioner/priya-nair', 'care team'],
      ['RelatedPerson/hannah-price', 'carer'],
    ]);
    expect(withheld.map((r) => r.reference)).toEqual(['RelatedPerson/tom-price']);

    // Hannah's consent withdrawn: she is withheld too.
    const consent = (await store.read('Consent', 'consent-share-with-hannah')) as Consent;
    await store.update({ ...consent, status: 'inactive' });
    const after = await planRecipients(store, plan, new Date('2025-12-09T12:00:00Z'));
    expect(after.recipients.map((r) => r.recipient.reference)).not.toContain(
      'RelatedPerson/hannah-price',
    );
    expect(after.withheld.map((r) => r.reference)).toEqual([
      'RelatedPerson/hannah-price',
      'RelatedPerson/tom-price',
    ]);
  });
});

describe('sending the plan after a discharge, between two systems over HTTP', () => {
  let services: TestService[] = [];
  afterEach(async () => {
    for (const s of services) await s.close();
    services = [];
  });

  /** Megan admitted from the community to the ward and discharged back: the ward holds her Tasks. */
  async function discharged(): Promise<Trusts> {
    const t = await trusts();
    services = [t.community, t.ward];
    for (const r of journeyResources('01')) await t.community.store.update(r);
    await transfer(t.community, 'megan-price', 'ward', 'admission');
    const [wardPatient] = await all(t.ward, 'Patient', `&identifier=${NHS}`);
    await transfer(t.ward, String(wardPatient?.id), 'community', 'discharge');
    return t;
  }

  it('one Task per recipient due within 24 h, none again on a repeat, each sent once', async () => {
    const t = await trusts();
    services = [t.community, t.ward];
    for (const r of withGpAndTom(journeyResources('01'))) await t.community.store.update(r);
    await t.community.store.update(TOM as unknown as Resource);
    expect((await transfer(t.community, 'megan-price', 'ward', 'admission')).status).toBe(
      'completed',
    );
    // Admission sends nothing to anyone.
    expect(await sendTasks(t.community)).toHaveLength(0);
    expect(await sendTasks(t.ward)).toHaveLength(0);

    const [wardPatient] = await all(t.ward, 'Patient', `&identifier=${NHS}`);
    const wardId = String(wardPatient?.id);
    const discharged = await transfer(t.ward, wardId, 'community', 'discharge');
    expect(discharged.status).toBe('completed');

    const tasks = await sendTasks(t.ward, '&status=requested');
    const wardPlan = await onePlan(t.ward);
    const carers = (wardPlan.extension ?? [])
      .filter((e) => e.url === Extensions.carer)
      .map((e) => e.extension?.find((p) => p.url === 'carer')?.valueReference?.reference ?? '');
    expect(carers).toHaveLength(2);
    const [hannah, tom] = carers;
    // Everyone named but Tom (references to what the handover did not carry stay absolute).
    const wanted = [
      `Patient/${wardId}`,
      'Practitioner/sam-whitfield',
      'Organization/willow-surgery',
      hannah ?? '',
    ];
    expect(tasks).toHaveLength(wanted.length);
    for (const w of wanted)
      expect(tasks.filter((task) => recipientOf(task).endsWith(w))).toHaveLength(1);
    expect(tasks.map(recipientOf)).not.toContain(tom);
    for (const task of tasks) {
      expect(task.focus?.reference).toBe(`CarePlan/${wardPlan.id}`);
      expect(task.for?.reference).toBe(`Patient/${wardId}`);
      const start = Date.parse(task.restriction?.period?.start ?? '');
      const end = Date.parse(task.restriction?.period?.end ?? '');
      expect(end - start).toBe(24 * 60 * 60 * 1000);
      expect(task.restriction?.period?.start).toBe(
        (wardPlan.extension ?? [])
          .filter((e) => e.url === Extensions.responsibleService)
          .map((e) => e.extension?.find((p) => p.url === 'period')?.valuePeriod)
          .find((p) => p && !p.end)?.start,
      );
    }

    // A repeated discharge (a retry) records no second Task for anyone.
    expect((await transfer(t.ward, wardId, 'community', 'discharge')).status).toBe('completed');
    expect(await sendTasks(t.ward)).toHaveLength(tasks.length);

    // Sending: the first attempt to the GP fails and is retried; everyone else gets it once.
    const sent: PlanDelivery[] = [];
    let gpFailures = 0;
    const sender = async (d: PlanDelivery): Promise<{ channel: string }> => {
      if (d.role === 'GP' && gpFailures++ === 0) throw new Error('NHSmail relay unavailable');
      sent.push(d);
      return { channel: 'test-outbox' };
    };
    const distributor = new PlanDistributor({ store: t.ward.store, retryMs: 0 });
    const first = await distributor.sendDue(sender);
    expect(first).toEqual({
      sent: tasks.length - 1,
      cancelled: 0,
      retrying: 1,
      failed: 0,
      overdue: 0,
    });
    const gpTask = (await sendTasks(t.ward, '&status=accepted'))[0];
    expect(gpTask?.businessStatus?.text).toBe('waiting to retry');
    const second = await distributor.sendDue(sender);
    expect(second).toEqual({ sent: 1, cancelled: 0, retrying: 0, failed: 0, overdue: 0 });
    expect(await distributor.sendDue(sender)).toEqual({
      sent: 0,
      cancelled: 0,
      retrying: 0,
      failed: 0,
      overdue: 0,
    });
    expect(sent.map((d) => d.recipient.reference).sort()).toEqual(tasks.map(recipientOf).sort());

    // The carer got only what Megan's Consent shares; everyone else the whole plan.
    const toHannah = sent.find((d) => d.role === 'carer');
    const toKeyWorker = sent.find((d) => d.role === 'key worker');
    expect(toHannah?.plan.activity?.length).toBeLessThan(toKeyWorker?.plan.activity?.length ?? 0);
    const completed = await sendTasks(t.ward, '&status=completed');
    expect(completed).toHaveLength(tasks.length);
    for (const task of completed)
      expect(task.output?.find((o) => o.type.text === 'sent by')?.valueString).toBe('test-outbox');
  });

  it('a send slower than its lease keeps its claim: a second distributor sends that plan no second time', async () => {
    const t = await discharged();
    const tasks = await sendTasks(t.ward, '&status=requested');
    expect(tasks.length).toBeGreaterThan(1);

    const sent: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = async (d: PlanDelivery): Promise<{ channel: string }> => {
      sent.push(d.recipient.reference ?? '');
      if (sent.length === 1) await held; // an SMTP server that takes several leases to answer
      return { channel: 'slow relay' };
    };
    const quick = async (d: PlanDelivery): Promise<{ channel: string }> => {
      sent.push(d.recipient.reference ?? '');
      return { channel: 'quick relay' };
    };
    // Long enough that a loaded machine does not stall a renewal (every third of it) past it.
    const leaseMs = 3_000;
    const first = new PlanDistributor({ store: t.ward.store, leaseMs, retryMs: 0 }).sendDue(slow);
    await new Promise((resolve) => setTimeout(resolve, leaseMs * 2.5));
    const second = await new PlanDistributor({ store: t.ward.store, leaseMs, retryMs: 0 }).sendDue(
      quick,
    );
    expect(second.sent).toBe(tasks.length - 1);
    release();
    expect((await first).sent).toBe(1);
    expect(sent.sort()).toEqual(tasks.map(recipientOf).sort());
    expect(await sendTasks(t.ward, '&status=completed')).toHaveLength(tasks.length);
  });

  it('a plan not sent within 24 hours is raised to priority asap for the worklist, once, and still sent', async () => {
    const t = await discharged();
    const tasks = await sendTasks(t.ward, '&status=requested');
    expect(tasks.length).toBeGreaterThan(0);

    // Within the window nothing is marked; 25 hours on, every open Task is.
    const store = t.ward.store;
    expect(await new PlanDistributor({ store }).markOverdue()).toBe(0);
    const later = (): Date => new Date(Date.now() + 25 * 60 * 60 * 1000);
    const distributor = new PlanDistributor({ store, now: later, retryMs: 0 });
    expect(await distributor.markOverdue()).toBe(tasks.length);
    expect(tasks.every((task) => task.priority === 'urgent')).toBe(true);
    const overdue = await sendTasks(t.ward, '&status=requested,accepted&priority=asap');
    expect(overdue.map(recipientOf).sort()).toEqual(tasks.map(recipientOf).sort());
    expect(await distributor.markOverdue()).toBe(0);

    const report = await distributor.sendDue(async () => ({ channel: 'test-outbox' }));
    expect(report).toEqual({
      sent: tasks.length,
      cancelled: 0,
      retrying: 0,
      failed: 0,
      overdue: 0,
    });
    expect(await sendTasks(t.ward, '&status=completed&priority=asap')).toHaveLength(tasks.length);
  });

  it('a carer whose consent is withdrawn before sending gets nothing; the Task says why', async () => {
    const t = await discharged();
    const [consent] = (await all(t.ward, 'Consent')) as Consent[];
    const res = await fhir(t.ward.base, 'PUT', `/fhir/Consent/${consent?.id}`, {
      ...consent,
      status: 'inactive',
    });
    expect(res.status).toBe(200);
    // An integration that sends by its own means completes a Task through the API.
    const [toPerson] = (await sendTasks(t.ward, '&status=requested')).filter((task) =>
      recipientOf(task).startsWith('Patient/'),
    );
    const done = await fhir(
      t.ward.base,
      'PUT',
      `/fhir/Task/${toPerson?.id}`,
      { ...toPerson, status: 'completed', businessStatus: { text: 'sent' } },
      { 'if-match': `W/"${toPerson?.meta?.versionId}"` },
    );
    expect(done.status).toBe(200);
    const sent: string[] = [];
    const report = await new PlanDistributor({ store: t.ward.store }).sendDue(async (d) => {
      sent.push(d.role);
      return { channel: 'test-outbox' };
    });
    expect(report.cancelled).toBe(1);
    expect(sent).not.toContain('carer');
    expect(sent).not.toContain('person');
    const [cancelled] = await sendTasks(t.ward, '&status=cancelled');
    expect(cancelled?.statusReason?.text).toMatch(/no longer agrees/);
  });
});
