/**
 * Sending the plan after discharge by e-mail, through a real SMTP server on loopback
 * (smtp-server; what arrives is parsed with mailparser), from one embedded store holding the
 * journey at discharge and the Tasks the discharge writes: everyone named with an e-mail address
 * gets exactly one mail; a carer without consent gets nothing, a carer with it only what is
 * shared; no address, or a permanent refusal (550), fails the Task with a reason a person can
 * read; a temporary one (451, nothing listening, no STARTTLS when it is required) is retried and
 * ends in one mail, or fails after the last attempt; two distributors at once send each plan
 * once; the loop logs no one and stops between sends. A real discharge between two instances over
 * HTTP is in plan-mail-discharge.test.ts.
 */
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { CarePlan, Practitioner, RelatedPerson, Task } from '@medplum/fhirtypes';
import { readConfig } from '../../src/cli/config';
import { Extensions } from '../../src/fhir';
import {
  PLAN_SEND_SYSTEM,
  PlanDistributor,
  planSendEntries,
  type DistributorOptions,
} from '../../src/transfer/plan-distribution';
import { MAIL_CHANNEL, PlanMailer, bestEmail, smtpFailure } from '../../src/transfer/plan-mail';
import { journeyStore, PLAN_ID, type OpenStore } from '../letter/journey-store';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { community, peersFor, ward } from './two-trusts';
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
import { journeyResources } from '../letter/journey-store';

/** Tom, a second carer Megan has not agreed to share with. */
const TOM: RelatedPerson = {
  resourceType: 'RelatedPerson',
  id: 'tom-price',
  patient: { reference: 'Patient/megan-price' },
  name: [{ family: 'Price', given: ['Tom'] }],
  telecom: [{ system: 'email', value: 'tom.price@example.org' }],
};
const withTom = (plan: CarePlan): CarePlan => ({
  ...plan,
  extension: [
    ...(plan.extension ?? []),
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
});

function to(received: readonly Received[], address: string): Received[] {
  return received.filter((r) => r.to.includes(address));
}

function bodyOf(r: Received | undefined): string {
  return `${r?.mail.text ?? ''}\n${typeof r?.mail.html === 'string' ? r.mail.html : ''}`;
}

const recipientOf = (t: Task): string => t.restriction?.recipient?.[0]?.reference ?? '';

function freePortNobodyListensOn(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

// ---- one store, a discharge's Tasks written as the handover writes them --------------------------

describe('sending the plan by e-mail from one store', () => {
  let open: OpenStore | undefined;
  let smtp: TestSmtp | undefined;
  let mailer: PlanMailer | undefined;
  afterEach(async () => {
    mailer?.close();
    mailer = undefined;
    await smtp?.close();
    smtp = undefined;
    await open?.close();
    open = undefined;
  });

  /** The journey at discharge, Hannah with an address, Tom named too, and the Tasks written. */
  async function discharged(
    change: (plan: CarePlan) => CarePlan = (plan) => plan,
  ): Promise<{ store: OpenStore['store']; tasks: Task[] }> {
    const resources = journeyResources('04');
    open = await journeyStore('04', [HANNAH_WITH_EMAIL(resources), TOM]);
    const store = open.store;
    const patient = await store.read('Patient', 'megan-price');
    await store.update({
      ...patient,
      generalPractitioner: [
        { reference: 'Organization/willow-surgery', display: 'Willow Surgery' },
      ],
    });
    const plan = (await store.update(change(withTom(await store.read('CarePlan', PLAN_ID)))))
      .resource;
    const now = new Date();
    const entry = await planSendEntries(store, {
      plan,
      patientId: 'megan-price',
      dischargedAt: now.toISOString(),
      from: { ...ward, baseUrl: 'http://127.0.0.1:1/fhir' },
      now,
    });
    await store.transaction({ resourceType: 'Bundle', type: 'transaction', entry });
    const found = await store.search(
      'Task',
      { identifier: `${PLAN_SEND_SYSTEM}|` },
      { count: 100 },
    );
    return { store, tasks: found.resources as Task[] };
  }

  function distributor(store: OpenStore['store'], more: Partial<DistributorOptions> = {}) {
    return new PlanDistributor({ store, retryMs: 0, random: () => 0, ...more });
  }

  async function tasksOf(store: OpenStore['store']): Promise<Task[]> {
    const found = await store.search(
      'Task',
      { identifier: `${PLAN_SEND_SYSTEM}|` },
      { count: 100 },
    );
    return found.resources as Task[];
  }

  it('a carer with consent gets only what is shared; a carer without it gets nothing', async () => {
    const { store, tasks } = await discharged();
    expect(tasks.map(recipientOf)).not.toContain('RelatedPerson/tom-price');
    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    await distributor(store).sendDue(mailer.send);
    expect(smtp.attempts).not.toContain('tom.price@example.org');
    expect(to(smtp.received, 'tom.price@example.org')).toHaveLength(0);

    const [toSam] = to(smtp.received, SAM);
    const [toHannah] = to(smtp.received, HANNAH);
    expect(to(smtp.received, SAM)).toHaveLength(1);
    expect(to(smtp.received, HANNAH)).toHaveLength(1);
    // Megan shares her actions and safety plan with Hannah; not her ratings or her goals.
    for (const shared of ['Visit Megan at home within 72 hours of discharge', 'Warning signs'])
      for (const mail of [toSam, toHannah]) expect(bodyOf(mail)).toContain(shared);
    for (const notShared of ['How you rated your life and care', 'Feel like myself again']) {
      expect(bodyOf(toSam)).toContain(notShared);
      expect(bodyOf(toHannah)).not.toContain(notShared);
    }
    expect(toHannah?.mail.text).toMatch(/only what they chose to share with you/);
    expect(toHannah?.mail.text).toMatch(/have not been shared/);
    expect(toSam?.mail.text).toMatch(/named in it as their key worker/);
    expect(toSam?.mail.subject).toBe('DIALOG care plan after discharge');
    expect(to(smtp.received, MEGAN)[0]?.mail.subject).toBe('Your DIALOG care plan');
    for (const r of smtp.received) {
      expect(SUBJECTS).toContain(r.mail.subject);
      for (const id of IDENTIFIERS) expect(r.mail.subject).not.toMatch(id);
    }
  });

  it('no address: the Task fails saying so, and nothing is sent to anyone for it', async () => {
    const { store } = await discharged();
    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    const report = await distributor(store).sendDue(mailer.send);
    expect(report).toEqual({ sent: 3, cancelled: 0, retrying: 0, failed: 2, overdue: 0 });
    const after = await tasksOf(store);
    const gp = after.find((t) => recipientOf(t) === 'Organization/willow-surgery');
    const priya = after.find((t) => recipientOf(t) === 'Practitioner/priya-nair');
    expect(gp?.status).toBe('failed');
    expect(gp?.statusReason?.text).toMatch(/^No e-mail address for Willow Surgery \(GP\)/);
    for (const sent of after.filter((t) => t.status === 'completed'))
      expect(sent.output?.find((o) => o.type.text === 'sent by')?.valueString).toBe(MAIL_CHANNEL);
    expect(priya?.status).toBe('failed');
    expect(priya?.statusReason?.text).toMatch(
      /^No e-mail address for Priya Nair \(care team\).*Practitioner\/priya-nair/,
    );
    expect(smtp.received).toHaveLength(3);
    // Failed Tasks are not tried again.
    expect(await distributor(store).sendDue(mailer.send)).toEqual({
      sent: 0,
      cancelled: 0,
      retrying: 0,
      failed: 0,
      overdue: 0,
    });
    expect(smtp.received).toHaveLength(3);

    // Someone adds Priya's address and sets her Task back to requested: it is sent, once.
    const nurse = await store.read('Practitioner', 'priya-nair');
    await store.update({
      ...nurse,
      telecom: [
        ...(nurse.telecom ?? []),
        { system: 'email', value: 'priya.nair@westmere.example' },
      ],
    });
    if (!priya) throw new Error('no Task for Priya');
    await store.update({ ...priya, status: 'requested' });
    expect((await distributor(store, { maxAttempts: 1 }).sendDue(mailer.send)).sent).toBe(1);
    expect(to(smtp.received, 'priya.nair@westmere.example')).toHaveLength(1);
    const resent = (await tasksOf(store)).find((t) => recipientOf(t) === 'Practitioner/priya-nair');
    expect(resent?.status).toBe('completed');
    expect(resent?.statusReason).toBeUndefined();
  });

  it('the person who asked for a text message is not e-mailed; the Task says so', async () => {
    const { store } = await discharged((plan) => ({
      ...plan,
      extension: (plan.extension ?? []).map((e) =>
        e.url === Extensions.deliveryPreference
          ? { ...e, valueCoding: { ...e.valueCoding, code: 'sms', display: 'SMS' } }
          : e,
      ),
    }));
    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    await distributor(store).sendDue(mailer.send);
    const toMegan = (await tasksOf(store)).find((t) => recipientOf(t) === 'Patient/megan-price');
    expect(toMegan?.status).toBe('failed');
    expect(toMegan?.statusReason?.text).toMatch(
      /^Megan Price asked to get the plan by text message, not by e-mail/,
    );
    expect(to(smtp.received, MEGAN)).toHaveLength(0);
    expect(to(smtp.received, SAM)).toHaveLength(1);
  });

  it('STARTTLS required (the default) and the server does not offer it: nothing goes in clear', async () => {
    const { store } = await discharged();
    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: true }, from: FROM });
    const report = await distributor(store).sendDue(mailer.send);
    expect(report).toEqual({ sent: 0, cancelled: 0, retrying: 3, failed: 2, overdue: 0 });
    expect(smtp.received).toHaveLength(0);
    expect(smtp.attempts).toHaveLength(0);
    const waiting = (await tasksOf(store)).filter((t) => t.status === 'accepted');
    for (const t of waiting)
      expect(t.extension?.[0]?.extension?.find((e) => e.url === 'lastError')?.valueString).toMatch(
        /refused this service's secure connection.*PLAN_MAIL_REQUIRE_TLS/,
      );
  });

  it('451 then accepted: retried, and one mail; 550: failed with the reason', async () => {
    const { store } = await discharged();
    smtp = await smtpServer({
      refuse: (address, attempt) =>
        address === MEGAN && attempt === 1 ? 451 : address === SAM ? 550 : undefined,
    });
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    const first = await distributor(store).sendDue(mailer.send);
    expect(first).toEqual({ sent: 1, cancelled: 0, retrying: 1, failed: 3, overdue: 0 });
    const waiting = (await tasksOf(store)).find((t) => recipientOf(t) === 'Patient/megan-price');
    expect(waiting?.status).toBe('accepted');
    expect(waiting?.businessStatus?.text).toBe('waiting to retry');
    expect(to(smtp.received, MEGAN)).toHaveLength(0);

    const second = await distributor(store).sendDue(mailer.send);
    expect(second).toEqual({ sent: 1, cancelled: 0, retrying: 0, failed: 0, overdue: 0 });
    expect(to(smtp.received, MEGAN)).toHaveLength(1);
    expect(smtp.attempts.filter((a) => a === MEGAN)).toHaveLength(2);

    const after = await tasksOf(store);
    const toMegan = after.find((t) => recipientOf(t) === 'Patient/megan-price');
    expect(toMegan?.status).toBe('completed');
    const toSam = after.find((t) => recipientOf(t) === 'Practitioner/sam-whitfield');
    expect(toSam?.status).toBe('failed');
    expect(toSam?.statusReason?.text).toMatch(
      /^The mail server refused the plan for Sam Whitfield \(key worker\): 550 5\.1\.1 Mailbox unavailable/,
    );
    expect(to(smtp.received, SAM)).toHaveLength(0);
    expect(smtp.attempts.filter((a) => a === SAM)).toHaveLength(1);
  });

  it('temporary failures that never end fail the Task after the last attempt', async () => {
    const { store } = await discharged();
    smtp = await smtpServer({ refuse: (address) => (address === MEGAN ? 451 : undefined) });
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    const sending = distributor(store, { maxAttempts: 3 });
    for (let i = 0; i < 3; i++) await sending.sendDue(mailer.send);
    const toMegan = (await tasksOf(store)).find((t) => recipientOf(t) === 'Patient/megan-price');
    expect(toMegan?.status).toBe('failed');
    expect(toMegan?.statusReason?.text).toMatch(
      /^Not sent after 3 attempts; the last one: the mail server asked to try later: 451/,
    );
    expect(smtp.attempts.filter((a) => a === MEGAN)).toHaveLength(3);
    expect(to(smtp.received, MEGAN)).toHaveLength(0);
  });

  it('nothing listening: retried later, then sent once the server is there', async () => {
    const { store } = await discharged();
    const port = await freePortNobodyListensOn();
    const down = new PlanMailer({
      store,
      smtp: { url: `smtp://127.0.0.1:${port}`, requireTls: false },
      from: FROM,
    });
    const first = await distributor(store).sendDue(down.send);
    down.close();
    expect(first).toEqual({ sent: 0, cancelled: 0, retrying: 3, failed: 2, overdue: 0 });
    const waiting = (await tasksOf(store)).filter((t) => t.status === 'accepted');
    expect(waiting).toHaveLength(3);
    const reasons = waiting.map(
      (t) => t.extension?.[0]?.extension?.find((e) => e.url === 'lastError')?.valueString,
    );
    for (const r of reasons)
      expect(r).toMatch(/^Not sent yet: the mail server could not be reached/);

    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    expect(await distributor(store).sendDue(mailer.send)).toEqual({
      sent: 3,
      cancelled: 0,
      retrying: 0,
      failed: 0,
      overdue: 0,
    });
    for (const address of [MEGAN, SAM, HANNAH]) expect(to(smtp.received, address)).toHaveLength(1);
  });

  it('two distributors at once, then again: each plan is sent once', async () => {
    const { store } = await discharged();
    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    const send = mailer.send;
    const reports = await Promise.all([
      distributor(store).sendDue(send),
      distributor(store).sendDue(send),
      distributor(store).sendDue(send),
    ]);
    const total = reports.reduce((sum, r) => sum + r.sent, 0);
    expect(total).toBe(3);
    expect(reports.reduce((sum, r) => sum + r.failed, 0)).toBe(2);
    expect(await distributor(store).sendDue(send)).toEqual({
      sent: 0,
      cancelled: 0,
      retrying: 0,
      failed: 0,
      overdue: 0,
    });
    expect(smtp.received).toHaveLength(3);
    for (const address of [MEGAN, SAM, HANNAH]) expect(to(smtp.received, address)).toHaveLength(1);
    const ids = smtp.received.map((r) => r.mail.messageId);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids)
      expect(id).toMatch(/^<plan-send\.[0-9a-f-]{36}@trust\.example\.nhs\.uk>$/);
  });

  it('reads the address of someone whose record is at a peer (a FHIR server) from the peer', async () => {
    const peer = await startFhirRouterServer();
    try {
      const remote = await peer.repo.createResource<Practitioner>({
        resourceType: 'Practitioner',
        name: [{ given: ['Ada'], family: 'Okafor' }],
        telecom: [{ system: 'email', value: 'ada.okafor@community.example', use: 'work' }],
      });
      const base = peer.baseUrl.replace(/\/$/, '');
      const { store } = await discharged((plan) => ({
        ...plan,
        extension: (plan.extension ?? []).map((e) =>
          e.url === Extensions.keyWorker
            ? { ...e, valueReference: { reference: `${base}/Practitioner/${remote.id ?? ''}` } }
            : e,
        ),
      }));
      smtp = await smtpServer();
      const peers = peersFor(ward, 'http://127.0.0.1:1/fhir', community, base);
      mailer = new PlanMailer({
        store,
        smtp: { url: smtp.url, requireTls: false },
        from: FROM,
        peers,
      });
      await distributor(store).sendDue(mailer.send);
      expect(to(smtp.received, 'ada.okafor@community.example')).toHaveLength(1);
      // Without the peer configured, the reference leads nowhere: failed, saying so.
      const toAda = (await tasksOf(store)).find((t) => recipientOf(t).startsWith(base));
      expect(toAda?.status).toBe('completed');
      await store.update({ ...toAda, status: 'requested' } as Task);
      const alone = new PlanMailer({
        store,
        smtp: { url: smtp.url, requireTls: false },
        from: FROM,
      });
      expect((await distributor(store).sendDue(alone.send)).failed).toBe(1);
      const after = (await tasksOf(store)).find((t) => recipientOf(t).startsWith(base));
      expect(after?.statusReason?.text).toMatch(
        /^No e-mail address for http:\/\/127\.0\.0\.1:\d+\/fhir\/R4\/Practitioner\/\S+ \(key worker\): .* in this system/,
      );
      expect(to(smtp.received, 'ada.okafor@community.example')).toHaveLength(1);
    } finally {
      await peer.close();
    }
  });

  it('the loop: sends what is due, logs only counts, and on stop starts nothing more', async () => {
    const { store } = await discharged();
    smtp = await smtpServer();
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    const lines: string[] = [];
    const logger = winston.createLogger({
      format: winston.format.json(),
      transports: [
        new winston.transports.Stream({
          stream: new Writable({
            write(chunk: Buffer, _encoding, done) {
              lines.push(chunk.toString('utf8'));
              done();
            },
          }),
        }),
      ],
    });
    const send = mailer.send;
    let stopping: Promise<void> | undefined;
    let calls = 0;
    const loop = distributor(store).start(
      async (delivery) => {
        calls++;
        const sent = await send(delivery);
        stopping ??= loop.stop(); // stop asked while the first send is in progress
        return sent;
      },
      60_000,
      logger,
    );
    for (let i = 0; i < 300 && !stopping; i++) await new Promise((r) => setTimeout(r, 20));
    await stopping;
    expect(calls).toBe(1);
    expect(smtp.received).toHaveLength(1);
    const statuses = (await tasksOf(store)).map((t) => t.status).sort();
    expect(statuses.filter((s) => s === 'completed')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'requested')).toHaveLength(4);
    expect(lines.join('')).toMatch(/"message":"plan sending".*"sent":1/);
    for (const personal of ['megan', 'Megan', 'Price', 'example', 'Whitfield'])
      expect(lines.join('')).not.toContain(personal);
  });

  it('logs in with the credentials in the URL', async () => {
    const { store } = await discharged();
    smtp = await smtpServer({ login: { user: 'dialog.plans@nhs.net', pass: 'p@ss:word/1' } });
    mailer = new PlanMailer({ store, smtp: { url: smtp.url, requireTls: false }, from: FROM });
    expect((await distributor(store).sendDue(mailer.send)).sent).toBe(3);
    for (const r of smtp.received) expect(r.user).toBe('dialog.plans@nhs.net');
    // A wrong password is this service's setting to fix: retried, not failed.
    await smtp.close();
    const wrong = await smtpServer({ login: { user: 'dialog.plans@nhs.net', pass: 'other' } });
    smtp = wrong;
    const url = wrong.url.replace(/:[^:@/]*@/, ':p%40ss%3Aword%2F1@');
    const badLogin = new PlanMailer({ store, smtp: { url, requireTls: false }, from: FROM });
    const tasks = await tasksOf(store);
    const one = tasks.find((t) => recipientOf(t) === 'Patient/megan-price');
    if (!one) throw new Error('no Task for Megan');
    // Send Megan's again (as someone would through the API) through the wrong login.
    await store.update({ ...one, status: 'requested' });
    const report = await distributor(store).sendDue(badLogin.send);
    badLogin.close();
    expect(report).toEqual({ sent: 0, cancelled: 0, retrying: 1, failed: 0, overdue: 0 });
    expect(wrong.received).toHaveLength(0);
  });
});

// ---- pieces ----------------------------------------------------------------------------------

describe('plan mail settings and rules', () => {
  const base = {
    PLAN_MAIL_SMTP_URL: 'smtp://u%40nhs.net:secret@send.nhs.net:587',
    PLAN_MAIL_FROM: 'dialog.plans@nhs.net',
  };

  it('reads the settings, STARTTLS required by default', () => {
    expect(readConfig(base).planMail).toEqual({
      smtpUrl: base.PLAN_MAIL_SMTP_URL,
      from: 'dialog.plans@nhs.net',
      requireTls: true,
      pollMs: 60_000,
    });
    expect(
      readConfig({ ...base, PLAN_MAIL_REQUIRE_TLS: 'false', PLAN_MAIL_POLL_SECONDS: '5' }).planMail,
    ).toMatchObject({ requireTls: false, pollMs: 5000 });
    expect(readConfig({}).planMail).toBeUndefined();
  });

  it('refuses each bad setting clearly, never echoing the password', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { ...base, PLAN_MAIL_SMTP_URL: 'http://u:secret@send.nhs.net' },
        /PLAN_MAIL_SMTP_URL must be smtp:\/\/ \(STARTTLS\) or smtps:\/\/ \(TLS\) \(got "http:"\)/,
      ],
      [
        { ...base, PLAN_MAIL_SMTP_URL: 'send.nhs.net secret' },
        /PLAN_MAIL_SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/,
      ],
      [
        { ...base, PLAN_MAIL_SMTP_URL: 'smtp://u:secret@send.nhs.net/x?y=1' },
        /takes no path or query/,
      ],
      [{ ...base, PLAN_MAIL_FROM: '' }, /PLAN_MAIL_FROM must be set with PLAN_MAIL_SMTP_URL/],
      [{ ...base, PLAN_MAIL_FROM: 'not an address' }, /PLAN_MAIL_FROM must be an e-mail address/],
      [
        { ...base, PLAN_MAIL_REQUIRE_TLS: 'yes' },
        /PLAN_MAIL_REQUIRE_TLS must be "true" or "false"/,
      ],
      [
        { ...base, PLAN_MAIL_POLL_SECONDS: '0' },
        /PLAN_MAIL_POLL_SECONDS must be a whole number from 1/,
      ],
      [
        { PLAN_MAIL_FROM: 'dialog.plans@nhs.net' },
        /PLAN_MAIL_FROM set but PLAN_MAIL_SMTP_URL is not/,
      ],
    ];
    for (const [env, message] of cases) {
      let error: unknown;
      try {
        readConfig(env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('secret');
    }
  });

  it('picks a usable address: work first for clinicians, home for people; ended ones never', () => {
    const telecom = [
      { system: 'email' as const, value: 'old@example.org', use: 'old' as const },
      { system: 'email' as const, value: 'ended@example.org', period: { end: '2020-01-01' } },
      { system: 'email' as const, value: 'home@example.org', use: 'home' as const },
      { system: 'email' as const, value: 'work@example.org', use: 'work' as const },
      { system: 'phone' as const, value: '01632 960000', use: 'work' as const },
    ];
    expect(bestEmail(telecom, true)).toBe('work@example.org');
    expect(bestEmail(telecom, false)).toBe('home@example.org');
    expect(bestEmail(telecom.slice(0, 2), false)).toBeUndefined();
    expect(bestEmail([{ system: 'email', value: 'not an address' }], false)).toBeUndefined();
  });

  it('tells permanent refusals from temporary ones', () => {
    expect(smtpFailure({ responseCode: 550, response: '550 no' }, 'X (GP)').name).toBe(
      'PlanNotSendable',
    );
    expect(smtpFailure({ responseCode: 554, response: '554 no' }, 'X (GP)').name).toBe(
      'PlanNotSendable',
    );
    for (const temporary of [
      { responseCode: 451, response: '451 later' },
      { responseCode: 421, response: '421 closing' },
      { responseCode: 503, response: '503 bad sequence', permanent: false },
      { code: 'ECONNECTION' },
      { code: 'ETIMEDOUT' },
      { code: 'EAUTH', responseCode: 535, response: '535 bad login', permanent: true },
      { code: 'ETLS' },
    ])
      expect(smtpFailure(temporary, 'X (GP)').name).toBe('Error');
  });
});
