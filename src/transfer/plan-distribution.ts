/**
 * On discharge the plan goes to everyone named in it within 24 hours (issue 5): the person, their
 * key worker, their GP (`Patient.generalPractitioner`), the care team named in the plan (its
 * `careTeam`, and the clinicians among its `contributor`s and `author`) and the carers in its
 * `dialog-carer` entries — a carer only when the person's Consent lets them see the plan (the same
 * rule as the API's, src/auth/consent.ts); a carer without it gets nothing.
 *
 * Each recipient is one `Task` (the record and the delivery hook, in the same outbox as handovers):
 * code `send-plan`, focus the plan, for the person, `restriction.recipient` the recipient and
 * `restriction.period.end` the due-by (discharge + 24 h), written in the same transaction as the
 * discharge itself. They are listed by `GET /fhir/Task?identifier=<PLAN_SEND_SYSTEM>|` and go
 * requested → accepted (being sent) → completed (sent), or cancelled when a carer's consent was
 * withdrawn before sending. Their identifiers come from the plan, the discharge (the moment the
 * receiving service's responsibility began) and the recipient, and they are created
 * conditionally, so a repeated discharge never makes a second one.
 *
 * Sending: `PlanDistributor.sendDue` with a `PlanSender` claims each due Task with `If-Match` and
 * a lease (two distributors never send the same Task), hands the sender the plan as that
 * recipient may see it (a carer: only what the Consent shares, and a `viewer` for everything else
 * the sender reads) and records the outcome: completed (sent), retried later with exponential
 * backoff when the sender rejects (up to `maxAttempts`, then failed), or failed at once with the
 * sender's reason when it throws `PlanNotSendable` (no address, refused for good). A failed Task
 * is the dead letter (`GET /fhir/Task?status=failed`); setting it back to `requested` through the
 * API sends it again. `serve` runs this every PLAN_MAIL_POLL_SECONDS with the e-mail sender
 * (plan-mail.ts) when PLAN_MAIL_SMTP_URL is set; otherwise an integration completes the Tasks
 * through the API once it has sent the plan by its own means.
 */
import type {
  BundleEntry,
  CarePlan,
  Consent,
  Extension,
  Patient,
  Reference,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import type winston from 'winston';
import { consentView, type AccessContext } from '../auth';
import { BASE, CARE_PLAN_IDENTIFIER_SYSTEM, DIALOG_NAMESPACE, Extensions, uuidV5 } from '../fhir';
import type { Viewer } from '../letter/plan-view';
import { statusOf } from '../service/outcomes';
import type { FhirStore } from '../store';
import type { SystemIdentity } from './peers';
import { claimed, deliveryState, failed, keepLease, retrying, withDelivery } from './transfer-task';

export const PLAN_SEND_SYSTEM = `${BASE}/sid/plan-send`;
export const PLAN_SEND_CODE = { system: `${BASE}/CodeSystem/dialog-task`, code: 'send-plan' };
/** Within this long of discharge. */
export const PLAN_SEND_WINDOW_MS = 24 * 60 * 60 * 1000;

export type RecipientRole = 'person' | 'key worker' | 'GP' | 'care team' | 'carer';

export interface PlanRecipient {
  readonly recipient: Reference;
  readonly role: RecipientRole;
}

export interface Recipients {
  readonly recipients: readonly PlanRecipient[];
  /** Carers named in the plan whom the person's Consent does not let see it. */
  readonly withheld: readonly Reference[];
}

const CLINICIANS = new Set(['Practitioner', 'PractitionerRole', 'CareTeam', 'Organization']);
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

function typeOf(reference: Reference | undefined): string | undefined {
  return RELATIVE.exec(reference?.reference ?? '')?.[1] ?? undefined;
}

function part(extension: Extension, url: string): Extension | undefined {
  return extension.extension?.find((e) => e.url === url);
}

/** What a carer may see of the plan now, under the person's Consents (undefined: nothing). */
export function carerView(
  plan: CarePlan,
  carer: string,
  consents: readonly Consent[],
  now: Date,
): CarePlan | undefined {
  return carerViewer(plan, carer, consents, now)(plan);
}

/** A carer's view of any of the person's resources (undefined: not shared), as the API's. */
export function carerViewer(
  plan: CarePlan,
  carer: string,
  consents: readonly Consent[],
  now: Date,
): Viewer {
  const patient = RELATIVE.exec(plan.subject?.reference ?? '')?.[2];
  if (!patient || !carer.startsWith('RelatedPerson/')) return () => undefined;
  const ctx: AccessContext = {
    mode: 'jwt',
    subject: carer,
    fhirUser: carer,
    patient,
    scopes: [],
    ignoredScopes: [],
    role: 'carer',
  };
  const view = consentView(ctx, consents, now);
  return <T extends Resource>(resource: T): T | undefined => view(resource) as T | undefined;
}

/** Everything as stored: the view of the person and the clinicians the plan names. */
const WHOLE: Viewer = (resource) => resource;

async function consentsOf(store: FhirStore, patient: string): Promise<Consent[]> {
  const found = await store.search('Consent', { patient, status: 'active' }, { count: 1000 });
  return found.resources as Consent[];
}

/** Everyone the plan names who should get it, and the carers withheld for want of consent. */
export async function planRecipients(
  store: FhirStore,
  plan: CarePlan,
  now: Date,
): Promise<Recipients> {
  const subject = plan.subject?.reference ?? '';
  const patientId = RELATIVE.exec(subject)?.[2];
  const patient = patientId
    ? ((await store.read('Patient', patientId).catch(() => undefined)) as Patient | undefined)
    : undefined;
  const named: PlanRecipient[] = [];
  const add = (recipient: Reference | undefined, role: RecipientRole): void => {
    if (recipient?.reference) named.push({ recipient, role });
  };
  add(plan.subject, 'person');
  add(plan.extension?.find((e) => e.url === Extensions.keyWorker)?.valueReference, 'key worker');
  for (const gp of patient?.generalPractitioner ?? []) add(gp, 'GP');
  for (const team of [...(plan.careTeam ?? []), ...(plan.author ? [plan.author] : [])])
    add(team, 'care team');
  for (const contributor of plan.contributor ?? [])
    if (CLINICIANS.has(typeOf(contributor) ?? '')) add(contributor, 'care team');
  for (const entry of plan.extension ?? [])
    if (entry.url === Extensions.carer) add(part(entry, 'carer')?.valueReference, 'carer');
  const consents = patientId ? await consentsOf(store, subject) : [];
  const seen = new Set<string>();
  const recipients: PlanRecipient[] = [];
  const withheld: Reference[] = [];
  for (const r of named) {
    const reference = r.recipient.reference ?? '';
    if (seen.has(reference)) continue;
    seen.add(reference);
    const type = typeOf(r.recipient);
    if (type === 'Patient' && reference !== subject) continue;
    // Anyone named who is a relative or friend is a carer: the Consent decides, whatever the role.
    if (type === 'RelatedPerson' || r.role === 'carer') {
      if (carerView(plan, reference, consents, now)) recipients.push({ ...r, role: 'carer' });
      else withheld.push(r.recipient);
      continue;
    }
    recipients.push(r);
  }
  return { recipients, withheld };
}

export interface Discharge {
  /** The plan as it is after the discharge. */
  readonly plan: CarePlan;
  readonly patientId: string;
  /** When the receiving service's responsibility began (the discharge), a FHIR dateTime. */
  readonly dischargedAt: string;
  readonly from: SystemIdentity;
  readonly now: Date;
}

/** The key of one recipient's Task for one discharge of one plan. */
export function planSendKey(plan: CarePlan, dischargedAt: string, recipient: string): string {
  const id = plan.identifier?.find((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM)?.value ?? '';
  return uuidV5(
    `plan-send|${id || (plan.id ?? '')}|${Date.parse(dischargedAt)}|${recipient}`,
    DIALOG_NAMESPACE,
  );
}

/** One recipient's Task (see the header). */
export function planSendTask(discharge: Discharge, r: PlanRecipient): Task {
  const key = planSendKey(discharge.plan, discharge.dischargedAt, r.recipient.reference ?? '');
  const at = discharge.now.toISOString();
  const dueBy = new Date(Date.parse(discharge.dischargedAt) + PLAN_SEND_WINDOW_MS).toISOString();
  const who = r.recipient.display ?? r.recipient.reference ?? '';
  return withDelivery(
    {
      resourceType: 'Task',
      identifier: [{ system: PLAN_SEND_SYSTEM, value: key }],
      status: 'requested',
      intent: 'order',
      priority: 'urgent',
      code: { coding: [PLAN_SEND_CODE], text: 'Send the care plan after discharge' },
      description: `Send the care plan to ${who} (${r.role}) within 24 hours of discharge`,
      businessStatus: { text: 'waiting to be sent' },
      focus: { reference: `CarePlan/${discharge.plan.id ?? ''}` },
      for: { reference: `Patient/${discharge.patientId}` },
      authoredOn: at,
      lastModified: at,
      requester: { ...discharge.from.organization } as NonNullable<Task['requester']>,
      restriction: {
        period: { start: discharge.dischargedAt, end: dueBy },
        recipient: [
          r.recipient as NonNullable<NonNullable<Task['restriction']>['recipient']>[number],
        ],
      },
      input: [{ type: { text: 'recipient role' }, valueString: r.role }],
    },
    {
      destination: r.recipient.reference ?? '',
      attempts: 0,
      nextAttemptAt: discharge.now.getTime(),
    },
  );
}

/**
 * The transaction entries that record the plan's sending on discharge: one conditional create
 * per recipient (none again for a discharge already recorded).
 */
export async function planSendEntries(
  store: FhirStore,
  discharge: Discharge,
): Promise<BundleEntry[]> {
  const { recipients } = await planRecipients(store, discharge.plan, discharge.now);
  return recipients.map((r) => {
    const task = planSendTask(discharge, r);
    const key = task.identifier?.[0]?.value ?? '';
    return {
      resource: task,
      request: {
        method: 'POST',
        url: 'Task',
        ifNoneExist: `identifier=${PLAN_SEND_SYSTEM}|${key}`,
      },
    };
  });
}

/** The moment the service now responsible for the plan took it on (the open period's start). */
export function responsibleSince(plan: CarePlan): string | undefined {
  const open = (plan.extension ?? []).find(
    (e) =>
      e.url === Extensions.responsibleService &&
      !e.extension?.find((p) => p.url === 'period')?.valuePeriod?.end,
  );
  return open?.extension?.find((p) => p.url === 'period')?.valuePeriod?.start;
}

// ---- sending --------------------------------------------------------------------------------

export interface PlanDelivery {
  readonly recipient: Reference;
  readonly role: RecipientRole;
  /** The plan as this recipient may see it (a carer: only what the Consent shares). */
  readonly plan: CarePlan;
  /** This recipient's view of anything else the sender reads about the person (as the API's). */
  readonly viewer: Viewer;
  readonly task: Task;
}

/**
 * Sends one recipient the plan; resolves to how (e.g. `nhsmail`). Rejects with `PlanNotSendable`
 * when trying again cannot help (the Task fails with its message), with anything else to retry.
 */
export type PlanSender = (delivery: PlanDelivery) => Promise<{ readonly channel: string }>;

/**
 * The plan cannot be sent to this recipient by this sender, and trying again will not change
 * that (no address, refused for good). The message is the Task's reason, for a person to read.
 */
export class PlanNotSendable extends Error {
  override readonly name = 'PlanNotSendable';
}

export interface DistributorOptions {
  readonly store: FhirStore;
  readonly now?: () => Date;
  /**
   * How long a claim holds (default 60 s). While a send runs its lease is renewed (every third of
   * it), so a slow SMTP server does not let another distributor send the same plan again.
   */
  readonly leaseMs?: number;
  /** The longest one send keeps its claim by renewing (default 10 leases): then it is presumed stuck. */
  readonly maxLeaseHoldMs?: number;
  /** Where a failed lease renewal is reported (Task id and error only); default: not reported. */
  readonly logger?: winston.Logger;
  /** First retry delay after a failed send, doubled per attempt (default 60 s). */
  readonly retryMs?: number;
  /** Longest delay between attempts (default 1 h). */
  readonly maxDelayMs?: number;
  /** Attempts before the Task fails for good (default 10: about four hours at the defaults). */
  readonly maxAttempts?: number;
  readonly random?: () => number;
}

export interface SendReport {
  readonly sent: number;
  readonly cancelled: number;
  readonly retrying: number;
  readonly failed: number;
  /** Tasks found past their 24-hour window and raised to `priority: asap` in this pass. */
  readonly overdue: number;
}

export interface SendingLoop {
  /** Stops once the send in progress (if any) finishes; no further one is started. */
  stop(): Promise<void>;
}

export class PlanDistributor {
  private readonly now: () => Date;

  constructor(private readonly options: DistributorOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Runs `sendDue` now and then every `everyMs` until stopped; without a sender (no channel is
   * configured: an integration completes the Tasks through the API), only marks overdue Tasks.
   * Logs only counts, and a failed pass's error name: nothing about the people the plans go to.
   */
  start(sender: PlanSender | undefined, everyMs: number, logger: winston.Logger): SendingLoop {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    const stopping = new AbortController();
    const pass = async (): Promise<void> => {
      try {
        const report = sender
          ? await this.sendDue(sender, stopping.signal)
          : { sent: 0, cancelled: 0, retrying: 0, failed: 0, overdue: await this.markOverdue() };
        if (Object.values(report).some((n) => n > 0)) logger.info('plan sending', { ...report });
      } catch (err) {
        logger.error('plan sending pass failed', {
          error: err instanceof Error ? err.name : 'unknown',
          status: statusOf(err),
        });
      }
    };
    const schedule = (ms: number): void => {
      timer = setTimeout(() => {
        running = pass().finally(() => {
          if (!stopped) schedule(everyMs);
        });
      }, ms);
      timer.unref();
    };
    schedule(0);
    return {
      stop: async () => {
        stopped = true;
        stopping.abort();
        if (timer) clearTimeout(timer);
        await running;
      },
    };
  }

  /**
   * Sends every due plan Task once through `sender`; Tasks another holds are left alone. Once
   * `signal` aborts, no further Task is started (the one being sent finishes).
   */
  async sendDue(sender: PlanSender, signal?: AbortSignal): Promise<SendReport> {
    const report = { sent: 0, cancelled: 0, retrying: 0, failed: 0, overdue: 0 };
    const now = this.now().getTime();
    for (const found of await this.openTasks()) {
      if (signal?.aborted) break;
      const state = deliveryState(found);
      if (!state || (state.leaseUntil ?? 0) > now) continue;
      const task = await this.withOverdueMarked(found, now);
      if (!task) continue;
      if (task !== found) report.overdue++;
      if (state.nextAttemptAt > now) continue;
      const outcome = await this.attempt(task, sender);
      if (outcome) report[outcome]++;
    }
    return report;
  }

  /**
   * Raises every open plan Task past its 24-hour window (`restriction.period.end`) from `urgent`
   * (as it is made) to `asap`, so a worklist (`Task?priority=asap&status=requested,accepted`)
   * shows the plans not yet sent in time. A Task another sender holds is left for the next pass.
   * Resolves to how many were raised.
   */
  async markOverdue(): Promise<number> {
    const now = this.now().getTime();
    let marked = 0;
    for (const found of await this.openTasks()) {
      if ((deliveryState(found)?.leaseUntil ?? 0) > now) continue;
      const task = await this.withOverdueMarked(found, now);
      if (task && task !== found) marked++;
    }
    return marked;
  }

  private async openTasks(): Promise<Task[]> {
    const found = await this.options.store.search(
      'Task',
      {
        identifier: `${PLAN_SEND_SYSTEM}|`,
        status: 'requested,accepted',
        _sort: '_lastUpdated',
      },
      { count: 1000 },
    );
    return found.resources as Task[];
  }

  /**
   * The Task, raised to asap when it is past its window and was not yet (its new version); the
   * Task as it was otherwise; undefined when someone changed it meanwhile (412: next pass).
   */
  private async withOverdueMarked(task: Task, now: number): Promise<Task | undefined> {
    const end = Date.parse(task.restriction?.period?.end ?? '');
    if (!(end < now) || task.priority === 'asap' || task.priority === 'stat') return task;
    try {
      const written = await this.options.store.update(
        { ...task, priority: 'asap' },
        { ifMatch: task.meta?.versionId ?? '' },
      );
      return written.resource as Task;
    } catch (err) {
      if (statusOf(err) === 412) return undefined;
      throw err;
    }
  }

  private async attempt(task: Task, sender: PlanSender): Promise<keyof SendReport | undefined> {
    const store = this.options.store;
    const leaseMs = this.options.leaseMs ?? 60_000;
    let claim: Task;
    try {
      const written = await store.update(claimed(afresh(task), this.now().getTime(), leaseMs), {
        ifMatch: task.meta?.versionId ?? '',
      });
      claim = written.resource as Task;
    } catch (err) {
      if (statusOf(err) === 412) return undefined;
      throw err;
    }
    const lease = keepLease({
      store,
      claim,
      leaseMs,
      ...(this.options.maxLeaseHoldMs !== undefined
        ? { maxHoldMs: this.options.maxLeaseHoldMs }
        : {}),
      now: this.now,
      ...(this.options.logger ? { logger: this.options.logger } : {}),
      what: 'plan sending',
    });
    let sent: [keyof SendReport, Task];
    let latest: Task | undefined;
    try {
      sent = await this.send(claim, sender);
    } finally {
      latest = await lease.stop();
    }
    // The claim was lost while sending (held past maxLeaseHoldMs): the other one's outcome stands.
    if (!latest) return undefined;
    const [kind, result] = sent;
    try {
      await store.update(result, { ifMatch: latest.meta?.versionId ?? '' });
    } catch (err) {
      if (statusOf(err) === 412) return undefined; // the lease ran out: the other one's stands
      throw err;
    }
    return kind;
  }

  private async send(task: Task, sender: PlanSender): Promise<[keyof SendReport, Task]> {
    const now = this.now();
    const recipient = task.restriction?.recipient?.[0] as Reference | undefined;
    const role = (task.input?.find((i) => i.type.text === 'recipient role')?.valueString ??
      'care team') as RecipientRole;
    try {
      const planId = RELATIVE.exec(task.focus?.reference ?? '')?.[2] ?? '';
      const plan = (await this.options.store.read('CarePlan', planId)) as CarePlan;
      let shown: CarePlan | undefined = plan;
      let viewer = WHOLE;
      if (role === 'carer' || typeOf(recipient) === 'RelatedPerson') {
        const consents = await consentsOf(this.options.store, plan.subject?.reference ?? '');
        viewer = carerViewer(plan, recipient?.reference ?? '', consents, now);
        shown = viewer(plan);
      }
      if (!shown || !recipient)
        return [
          'cancelled',
          closed(task, now, 'cancelled', 'not sent', {
            statusReason: {
              text: 'The person no longer agrees to share the plan with this carer, so it was not sent.',
            },
          }),
        ];
      const { channel } = await sender({ recipient, role, plan: shown, viewer, task });
      return [
        'sent',
        closed(task, now, 'completed', 'sent', {
          output: [
            {
              type: { text: 'the plan as sent' },
              valueReference: {
                reference: `CarePlan/${plan.id ?? ''}/_history/${plan.meta?.versionId ?? ''}`,
              },
            },
            { type: { text: 'sent at' }, valueDateTime: this.now().toISOString() },
            { type: { text: 'sent by' }, valueString: channel },
          ],
        }),
      ];
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const at = this.now().getTime();
      if (err instanceof PlanNotSendable) return ['failed', failed(task, at, message)];
      const attempts = deliveryState(task)?.attempts ?? 1;
      if (attempts >= (this.options.maxAttempts ?? 10))
        return [
          'failed',
          failed(task, at, `Not sent after ${attempts} attempts; the last one: ${message}`),
        ];
      const base = (this.options.retryMs ?? 60_000) * 2 ** Math.max(0, attempts - 1);
      const capped = Math.min(base, this.options.maxDelayMs ?? 3_600_000);
      // Up to a fifth less, so Tasks that failed together do not all come back at once.
      const delay = Math.round(capped * (1 - 0.2 * (this.options.random ?? Math.random)()));
      return ['retrying', retrying(task, at, at + delay, `Not sent yet: ${message}`)];
    }
  }
}

/**
 * A Task set back to `requested` (someone added the missing address and asks for it to be sent
 * again) starts over: its attempts counted from none, the old reason gone. A Task never tried is
 * unchanged; one waiting to retry is `accepted`, not `requested`.
 */
function afresh(task: Task): Task {
  const state = deliveryState(task);
  if (task.status !== 'requested' || !state) return task;
  const rest: Task = { ...task };
  delete rest.statusReason;
  return withDelivery(rest, {
    destination: state.destination,
    attempts: 0,
    nextAttemptAt: state.nextAttemptAt,
  });
}

function closed(
  task: Task,
  now: Date,
  status: 'completed' | 'cancelled',
  business: string,
  rest: Partial<Task>,
): Task {
  const state = deliveryState(task);
  return withDelivery(
    {
      ...task,
      ...rest,
      status,
      businessStatus: { text: business },
      lastModified: now.toISOString(),
    },
    {
      destination: state?.destination ?? '',
      attempts: state?.attempts ?? 0,
      nextAttemptAt: now.getTime(),
    },
  );
}
