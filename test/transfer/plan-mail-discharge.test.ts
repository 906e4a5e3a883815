/**
 * The plan e-mailed after a real discharge between two instances over HTTP, through a real SMTP
 * server on loopback: the person and the carer she shares with each get exactly one mail, within
 * the due window, with no one named in the subject; the GP and key worker, whose records are not
 * here, fail with a reason read through the API.
 */
import type { Task } from '@medplum/fhirtypes';
import { PLAN_SEND_SYSTEM, PlanDistributor } from '../../src/transfer/plan-distribution';
import { MAIL_CHANNEL, PlanMailer } from '../../src/transfer/plan-mail';
import { journeyResources } from '../letter/journey-store';
import { fhir, type TestService } from '../support/service';
import {
  FROM,
  HANNAH,
  HANNAH_WITH_EMAIL,
  IDENTIFIERS,
  MEGAN,
  SAM,
  smtpServer,
  SUBJECTS,
  type Received,
  type TestSmtp,
} from './plan-mail-smtp';
import { all, community, NHS, peersFor, transfer, trusts, ward } from './two-trusts';

function to(received: readonly Received[], address: string): Received[] {
  return received.filter((r) => r.to.includes(address));
}

const recipientOf = (t: Task): string => t.restriction?.recipient?.[0]?.reference ?? '';

describe('the plan e-mailed after a discharge between two systems over HTTP', () => {
  let services: TestService[] = [];
  let smtp: TestSmtp | undefined;
  afterEach(async () => {
    for (const s of services) await s.close();
    services = [];
    await smtp?.close();
    smtp = undefined;
  });

  it('everyone named with an address gets one mail in the window; the rest fail visibly', async () => {
    smtp = await smtpServer();
    const t = await trusts();
    services = [t.community, t.ward];
    const resources = journeyResources('01');
    for (const r of resources) await t.community.store.update(r);
    await t.community.store.update(HANNAH_WITH_EMAIL(resources));
    // Her GP is named, but the surgery's record is nowhere: no address for it.
    const megan = await t.community.store.read('Patient', 'megan-price');
    await t.community.store.update({
      ...megan,
      generalPractitioner: [
        { reference: 'Organization/willow-surgery', display: 'Willow Surgery' },
      ],
    });
    const admitted = await transfer(t.community, 'megan-price', 'ward', 'admission');
    // (The reason alongside, so a failure says why.)
    expect([admitted.status, admitted.statusReason?.text]).toEqual(['completed', undefined]);
    const [wardPatient] = await all(t.ward, 'Patient', `&identifier=${NHS}`);
    const wardId = String(wardPatient?.id);
    expect((await transfer(t.ward, wardId, 'community', 'discharge')).status).toBe('completed');
    const tasks = (await all(t.ward, 'Task', `&identifier=${PLAN_SEND_SYSTEM}|`)) as Task[];
    expect(tasks.length).toBeGreaterThan(0);

    const mailer = new PlanMailer({
      store: t.ward.store,
      smtp: { url: smtp.url, requireTls: false },
      from: FROM,
      // The key worker's record stayed at the community system: his address is read there.
      peers: peersFor(ward, t.wardUrl, community, t.communityUrl),
    });
    const report = await new PlanDistributor({ store: t.ward.store }).sendDue(mailer.send);
    mailer.close();

    // Every Task ended: sent, or failed with a reason; none waits, none was silently completed.
    const after = (await all(t.ward, 'Task', `&identifier=${PLAN_SEND_SYSTEM}|`)) as Task[];
    const sent = after.filter((task) => task.status === 'completed');
    const failed = after.filter((task) => task.status === 'failed');
    expect(sent.length + failed.length).toBe(tasks.length);
    expect(report).toEqual({
      sent: sent.length,
      cancelled: 0,
      retrying: 0,
      failed: failed.length,
      overdue: 0,
    });

    // The person, her sister (whom she lets see the plan) and the key worker, whose record
    // stayed at the community system and is read from there (it serves Practitioner): one mail
    // each.
    const toPerson = sent.find((task) => recipientOf(task) === `Patient/${wardId}`);
    expect(toPerson).toBeDefined();
    for (const address of [MEGAN, HANNAH, SAM]) expect(to(smtp.received, address)).toHaveLength(1);
    // One mail per completed Task, each to one address, no more.
    expect(smtp.received).toHaveLength(sent.length);
    for (const r of smtp.received) expect(r.to).toHaveLength(1);
    expect(new Set(smtp.received.map((r) => r.to[0])).size).toBe(smtp.received.length);

    for (const task of sent) {
      expect(task.output?.find((o) => o.type.text === 'sent by')?.valueString).toBe(MAIL_CHANNEL);
      const at = Date.parse(
        task.output?.find((o) => o.type.text === 'sent at')?.valueDateTime ?? '',
      );
      expect(at).toBeGreaterThanOrEqual(Date.parse(task.restriction?.period?.start ?? ''));
      expect(at).toBeLessThanOrEqual(Date.parse(task.restriction?.period?.end ?? ''));
    }
    for (const r of smtp.received) {
      expect(SUBJECTS).toContain(r.mail.subject);
      for (const id of IDENTIFIERS) expect(r.mail.subject).not.toMatch(id);
      expect(r.mail.from?.value).toEqual([
        { name: 'DIALOG care plans', address: 'dialog.plans@trust.example.nhs.uk' },
      ]);
      expect(r.mail.text).toMatch(/Your care and support plan/);
      expect(r.mail.html).toMatch(/<h1>Your care and support plan<\/h1>/);
    }
    expect(to(smtp.received, MEGAN)[0]?.mail.subject).toBe('Your DIALOG care plan');

    // The GP is named, but the surgery's record is nowhere: no address, so failed, with the
    // reason readable through the API.
    const listed = await fhir(
      t.ward.base,
      'GET',
      `/fhir/Task?status=failed&identifier=${PLAN_SEND_SYSTEM}|`,
    );
    expect(listed.status).toBe(200);
    const reasons = ((listed.body as { entry?: { resource: Task }[] }).entry ?? [])
      .map((e) => e.resource.statusReason?.text ?? '')
      .sort();
    expect(reasons).toHaveLength(failed.length);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^No e-mail address for Willow Surgery \(GP\)/);
  }, 50_000);
});
