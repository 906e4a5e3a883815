/**
 * A handover is a FHIR `Task`: focus the CarePlan, for the person, requester and owner the two
 * organisations, moving requested → accepted → completed, or failed with a reason a person can
 * read. The Task is also the durable outbox entry (the same in the embedded and fhir-server
 * stores): it is written in the same transaction as the plan change that starts the handover, and
 * a deliverer claims it by updating it with `If-Match` (a lease in `dialog-delivery`), so two
 * deliverers never send the same attempt, and a deliverer that dies lets the lease run out.
 *
 * Delivery state (attempts, next attempt, lease, last error) sits in the `dialog-delivery`
 * extension; it carries no patient data.
 */
import type { CarePlan, Extension, Reference, Task } from '@medplum/fhirtypes';
import type winston from 'winston';
import { BASE } from '../fhir/canonical';
import { statusOf } from '../service/outcomes';
import type { FhirStore } from '../store';
import { organizationOf, type HandoverReason } from './handover-effects';
import type { Peer, SystemIdentity } from './peers';

export const TRANSFER_TASK_SYSTEM = `${BASE}/sid/handover-task`;
export const DELIVERY_EXTENSION = `${BASE}/StructureDefinition/dialog-delivery`;
export const HANDOVER_CODE = { system: `${BASE}/CodeSystem/dialog-task`, code: 'handover' };
export const REASON_SYSTEM = `${BASE}/CodeSystem/dialog-handover-reason`;

export interface DeliveryState {
  readonly destination: string;
  readonly attempts: number;
  /** When the next attempt is due (epoch ms). */
  readonly nextAttemptAt: number;
  /** While claimed: until when (epoch ms). */
  readonly leaseUntil?: number;
  readonly lastError?: string;
}

export interface NewHandover {
  readonly id: string;
  readonly plan: CarePlan;
  readonly patientId: string;
  readonly reason: HandoverReason;
  readonly from: SystemIdentity;
  readonly to: Peer;
  readonly now: Date;
  /** What started it (an Encounter), as the Task's reasonReference. */
  readonly trigger?: Reference;
}

export function handoverTask(input: NewHandover): Task {
  const at = input.now.toISOString();
  return {
    resourceType: 'Task',
    id: input.id,
    identifier: [{ system: TRANSFER_TASK_SYSTEM, value: input.id }],
    status: 'requested',
    intent: 'order',
    code: { coding: [HANDOVER_CODE], text: 'Hand the care plan over' },
    businessStatus: { text: 'waiting to be sent' },
    focus: { reference: `CarePlan/${input.plan.id ?? ''}` },
    for: { reference: `Patient/${input.patientId}` },
    authoredOn: at,
    lastModified: at,
    requester: { ...input.from.organization } as NonNullable<Task['requester']>,
    owner: organizationOf(input.to, input.from) as NonNullable<Task['owner']>,
    reasonCode: { coding: [{ system: REASON_SYSTEM, code: input.reason }] },
    ...(input.trigger ? { reasonReference: input.trigger } : {}),
    extension: [
      deliveryExtension({
        destination: input.to.id,
        attempts: 0,
        nextAttemptAt: input.now.getTime(),
      }),
    ],
  };
}

function deliveryExtension(state: DeliveryState): Extension {
  return {
    url: DELIVERY_EXTENSION,
    extension: [
      { url: 'destination', valueString: state.destination },
      { url: 'attempts', valueInteger: state.attempts },
      { url: 'nextAttempt', valueDateTime: new Date(state.nextAttemptAt).toISOString() },
      ...(state.leaseUntil !== undefined
        ? [{ url: 'leaseUntil', valueDateTime: new Date(state.leaseUntil).toISOString() }]
        : []),
      ...(state.lastError ? [{ url: 'lastError', valueString: state.lastError }] : []),
    ],
  };
}

export function deliveryState(task: Task): DeliveryState | undefined {
  const ext = task.extension?.find((e) => e.url === DELIVERY_EXTENSION);
  const get = (url: string): Extension | undefined => ext?.extension?.find((e) => e.url === url);
  const destination = get('destination')?.valueString;
  if (!ext || !destination) return undefined;
  const lease = get('leaseUntil')?.valueDateTime;
  const lastError = get('lastError')?.valueString;
  return {
    destination,
    attempts: get('attempts')?.valueInteger ?? 0,
    nextAttemptAt: Date.parse(get('nextAttempt')?.valueDateTime ?? '') || 0,
    ...(lease ? { leaseUntil: Date.parse(lease) } : {}),
    ...(lastError ? { lastError } : {}),
  };
}

export function withDelivery(task: Task, state: DeliveryState): Task {
  return {
    ...task,
    extension: [
      ...(task.extension ?? []).filter((e) => e.url !== DELIVERY_EXTENSION),
      deliveryExtension(state),
    ],
  };
}

export function reasonOf(task: Task): HandoverReason | undefined {
  return task.reasonCode?.coding?.find((c) => c.system === REASON_SYSTEM)?.code as
    HandoverReason | undefined;
}

/** Claimed for an attempt: accepted, with the attempt counted and a lease. */
export function claimed(task: Task, now: number, leaseMs: number): Task {
  const state = deliveryState(task);
  return withDelivery(
    {
      ...task,
      status: 'accepted',
      businessStatus: { text: 'sending' },
      lastModified: new Date(now).toISOString(),
    },
    {
      destination: state?.destination ?? '',
      attempts: (state?.attempts ?? 0) + 1,
      nextAttemptAt: now + leaseMs,
      leaseUntil: now + leaseMs,
      ...(state?.lastError ? { lastError: state.lastError } : {}),
    },
  );
}

/** Still being sent: the lease extended from `now` (the attempt took longer than a lease). */
export function renewed(task: Task, now: number, leaseMs: number): Task {
  const state = deliveryState(task);
  return withDelivery(
    { ...task, lastModified: new Date(now).toISOString() },
    {
      destination: state?.destination ?? '',
      attempts: state?.attempts ?? 0,
      nextAttemptAt: now + leaseMs,
      leaseUntil: now + leaseMs,
      ...(state?.lastError ? { lastError: state.lastError } : {}),
    },
  );
}

export interface LeaseOptions {
  readonly store: FhirStore;
  /** The claimed Task (its version is the one the first renewal is written against). */
  readonly claim: Task;
  readonly leaseMs: number;
  /**
   * The longest the claim is held by renewing (default 10 leases): an attempt still running then
   * is presumed stuck.
   */
  readonly maxHoldMs?: number;
  readonly now: () => Date;
  /**
   * Where a renewal that failed other than by losing the claim is reported (the next one tries
   * again), as `<what> lease not renewed` with the Task id and the error; default: not reported.
   */
  readonly logger?: winston.Logger;
  /** What the Task is, for that warning: `handover`, `plan sending`. */
  readonly what: string;
}

/**
 * Renews a claim's lease (every third of it, with `If-Match`) while its attempt runs, so another
 * worker polling meanwhile does not take the Task over. `stop` waits for a renewal in flight and
 * gives the Task's latest version, or undefined when the claim was lost (a 412: the lease ran out
 * and another took it; its outcome stands).
 */
export function keepLease(options: LeaseOptions): { stop(): Promise<Task | undefined> } {
  const { store, leaseMs, now } = options;
  const maxHoldMs = options.maxHoldMs ?? leaseMs * 10;
  const started = now().getTime();
  let current: Task | undefined = options.claim;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async (): Promise<void> => {
    if (!current) return;
    const at = now().getTime();
    if (at + leaseMs > started + maxHoldMs) return clearInterval(timer);
    try {
      const written = await store.update(renewed(current, at, leaseMs), {
        ifMatch: current.meta?.versionId ?? '',
      });
      current = written.resource as Task;
    } catch (err) {
      if (statusOf(err) === 412) current = undefined;
      else
        options.logger?.warn(`${options.what} lease not renewed`, {
          task: options.claim.id,
          error: err instanceof Error ? err.message : String(err),
        });
    }
  };
  const timer = setInterval(
    () => {
      renewing = renewing.then(renew);
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await renewing;
      return current;
    },
  };
}

const DIGEST_OUTPUT = 'the content digest of the plan at the destination';

/**
 * Delivered: completed, with the plan's version at the destination as output, and a digest of
 * what it said then (so the next handover can tell whether that version is still what it wrote).
 */
export function completed(task: Task, now: number, destinationPlan: string, digest?: string): Task {
  const state = deliveryState(task);
  return withDelivery(
    {
      ...task,
      status: 'completed',
      businessStatus: { text: 'delivered' },
      lastModified: new Date(now).toISOString(),
      output: [
        {
          type: { text: 'the plan at the destination' },
          valueReference: { reference: destinationPlan },
        },
        ...(digest ? [{ type: { text: DIGEST_OUTPUT }, valueString: digest }] : []),
      ],
    },
    { destination: state?.destination ?? '', attempts: state?.attempts ?? 0, nextAttemptAt: now },
  );
}

/** An attempt failed but another will be made at `retryAt`. */
export function retrying(task: Task, now: number, retryAt: number, error: string): Task {
  const state = deliveryState(task);
  return withDelivery(
    {
      ...task,
      status: 'accepted',
      businessStatus: { text: 'waiting to retry' },
      lastModified: new Date(now).toISOString(),
    },
    {
      destination: state?.destination ?? '',
      attempts: state?.attempts ?? 0,
      nextAttemptAt: retryAt,
      lastError: error,
    },
  );
}

/** Given up: failed, with the reason in words a person can read (the dead letter). */
export function failed(task: Task, now: number, reason: string): Task {
  const state = deliveryState(task);
  return withDelivery(
    {
      ...task,
      status: 'failed',
      businessStatus: { text: 'not delivered' },
      statusReason: { text: reason },
      lastModified: new Date(now).toISOString(),
    },
    {
      destination: state?.destination ?? '',
      attempts: state?.attempts ?? 0,
      nextAttemptAt: now,
      lastError: reason,
    },
  );
}

/** The reference to the destination's plan version the last completed handover wrote, if any. */
export function deliveredPlan(task: Task): string | undefined {
  return task.output?.find((o) => o.valueReference)?.valueReference?.reference;
}

/** The digest of the plan the last completed handover wrote (see `completed`), if recorded. */
export function deliveredDigest(task: Task): string | undefined {
  return task.output?.find((o) => o.type?.text === DIGEST_OUTPUT)?.valueString;
}
