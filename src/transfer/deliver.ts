/**
 * Delivering handovers: a loop that claims due handover Tasks (If-Match on the Task, with a
 * lease), sends each to its destination, and records the outcome on the Task — completed, retried
 * later with exponential backoff and jitter (honouring `Retry-After`), or failed with a reason a
 * person can read once retrying is pointless or has gone on long enough (the dead letter, listed
 * by `GET /fhir/Task?status=failed`).
 *
 * One delivery, in two idempotent steps against the destination (any FHIR R4 server):
 * 1. Everything but the plan, as one transaction Bundle of conditional updates on business
 *    identifiers (handover-bundle.ts): the person, ratings, Observations, Provenance — and the
 *    plan, its Goals, carers and consent only where the destination has none yet (`If-None-Exist`)
 *    — with a Provenance of the handover's receipt (its id derived from the Task). Applying it
 *    again changes nothing. The Goals, carers and consent the destination held already are then
 *    merged three ways there (shared-merge.ts: against the version both last agreed on, found by
 *    their `dialog-handover-origin` marks; written with `If-Match`, a merge Provenance, conflict
 *    Tasks), never overwritten.
 * 2. The plan, which both sides may have edited: the destination's current plan is read, merged
 *    three ways with ours (the base is the version our last completed handover wrote there), and
 *    written with `If-Match`, together with a Provenance of the merge and, where both sides
 *    changed the same part differently, a `Task` asking a clinician to resolve the conflict (both
 *    versions are kept in the plan meanwhile). A 412 — someone edited it between our read and our
 *    write — reads and merges again at once (up to 3 times in one attempt, then the attempt is
 *    retried later). When the merge leaves the destination's plan as it is (a repeat, or a retry
 *    whose earlier write got through but whose answer was lost), nothing is written: no new
 *    version, no second Provenance.
 * The plan goes on its own because its references must name the destination's resources (known
 * after step 1) and because it is the only resource both systems edit.
 *
 * The base of the merge is only trusted when it is what we think it is: the completed Task keeps
 * a digest of the plan's content as the destination answered it, and a version read back later
 * with a different content is not used as the base (a peer that answered 200 and then lost the
 * write may give that version number to someone else's edit; taking it as the agreed version
 * would silently drop that edit); an earlier completed handover's version is used instead, and
 * without any trusted base the merge keeps both sides' differing parts as conflicts — never a
 * lost edit.
 *
 * Faults and how each ends (test/transfer/handover-faults.test.ts): nothing listening, a timeout
 * (`requestTimeoutMs`), 5xx and reset connections retry with backoff until `maxAttempts`, then the
 * Task fails with a reason; 429 waits at least its `Retry-After` (capped at `maxDelayMs`); 412
 * merges again; 4xx a retry cannot cure fails at once. A deliverer that dies holding a Task lets
 * its lease run out and another takes it over; the late one's outcome is refused by If-Match.
 */
import { createHash } from 'node:crypto';
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, BundleEntry, CarePlan, Provenance, Resource, Task } from '@medplum/fhirtypes';
import type winston from 'winston';
import { CARE_PLAN_IDENTIFIER_SYSTEM, DIALOG_NAMESPACE, uuidV5 } from '../fhir';
import { fault, stale, statusOf, type HttpOutcomeError } from '../service/outcomes';
import { openFhirServerStore, type FhirStore } from '../store';
import {
  gatherHandover,
  handoverBundleAndTerms,
  type BundleTerms,
  type HandoverBundleOptions,
  type HandoverRecord,
} from './handover-bundle';
import { byLastUpdated, type WalkEnd } from './last-updated-pages';
import { peerById, type Peer, type Peers } from './peers';
import {
  canonicalJson,
  mergePlans,
  planContent,
  samePlanContent,
  type PlanConflict,
} from './plan-three-way-merge';
import {
  appliedCreated,
  appliedId,
  appliedResource,
  CONFLICT_CODE,
  conflictTaskEntries,
  HANDOVER_ORIGIN_EXTENSION,
  isShared,
  markedVersion,
  MERGED_FROM_EXTENSION,
  sharedCreatedOnly,
  withOriginMark,
  writeMergedResources,
  type SharedItem,
  type SharedType,
} from './shared-merge';
import {
  claimed,
  completed,
  deliveredDigest,
  deliveredPlan,
  deliveryState,
  failed,
  keepLease,
  reasonOf,
  retrying,
  TRANSFER_TASK_SYSTEM,
} from './transfer-task';

/** What anything that talks to peers needs: the deliverer here, plan sync (`plan-sync.ts`). */
export interface PeerLinkOptions {
  readonly store: FhirStore;
  readonly peers: Peers;
  readonly logger: winston.Logger;
  readonly now?: () => Date;
  /** How to reach a peer (default: the fhir-server store adapter, one attempt per call). */
  readonly remoteFor?: (peer: Peer) => FhirStore;
  /** Time allowed for one request to a peer, answer included (default 30 s). */
  readonly requestTimeoutMs?: number;
}

/**
 * How to reach a peer: the caller's `remoteFor`, else the fhir-server store adapter with one
 * attempt per call (the caller retries on its own schedule) and the request timeout.
 */
export function peerStore(options: PeerLinkOptions, peer: Peer): FhirStore {
  if (options.remoteFor) return options.remoteFor(peer);
  return openFhirServerStore({
    baseUrl: peer.baseUrl,
    retries: 0,
    timeoutMs: options.requestTimeoutMs ?? 30_000,
    ...(peer.auth.type === 'bearer' ? { token: peer.auth.token } : {}),
  });
}

export interface DelivererOptions extends PeerLinkOptions {
  /**
   * How long a claim holds (default 60 s). While an attempt runs its lease is renewed (every third
   * of it), so a delivery slower than the lease is not taken over by another deliverer.
   */
  readonly leaseMs?: number;
  /**
   * The longest one attempt keeps its claim by renewing (default 10 leases): an attempt still
   * running then is presumed stuck, its lease runs out and another deliverer may take the Task
   * over (the stuck one's late outcome is refused by If-Match).
   */
  readonly maxLeaseHoldMs?: number;
  /** First retry delay, doubled per attempt, with jitter (default 2 s). */
  readonly baseDelayMs?: number;
  /** Longest delay between attempts (default 10 min). */
  readonly maxDelayMs?: number;
  /** Attempts before the handover fails for good (default 10: about an hour and a half). */
  readonly maxAttempts?: number;
  /** How often due Tasks are looked for when nothing kicks the loop (default 1 s). */
  readonly pollMs?: number;
  /** Deliveries at once (default 8). */
  readonly concurrency?: number;
  readonly random?: () => number;
  /**
   * How often each peer is polled for changes to shared plans (plan-sync.ts, run by this loop);
   * undefined: not polled (a peer's rest-hook notifications are still received).
   */
  readonly syncPollMs?: number;
}

const CLAIM_PAGE = 100;
/** Pages of open handover Tasks looked through per pass for due ones. */
const CLAIM_SCAN_PAGES = 10;
/** Reads and merges again at once after a 412 on the plan, within one attempt. */
const PLAN_RACE_ATTEMPTS = 3;
/** Statuses a handover can no longer succeed from by retrying. */
const PERMANENT = new Set([400, 401, 403, 404, 405, 409, 410, 413, 415, 422]);

export class HandoverDeliverer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly now: () => Date;
  private readonly periodic: (() => Promise<void>)[] = [];
  private readonly stops: (() => void)[] = [];
  /** Whether the store's open Tasks were found not to be readable whole (said once). */
  private misreadSaid = false;

  constructor(readonly options: DelivererOptions) {
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops after the deliveries in progress finish (the other work is told to stop first). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const stop of this.stops) stop();
    await this.running;
  }

  /**
   * Other work this loop runs on every pass (its failures are logged), e.g. plan-sync polls;
   * `stop` tells it to end early when the loop stops (a poll of a large peer can take a while).
   */
  alsoRun(work: () => Promise<void>, stop?: () => void): void {
    this.periodic.push(work);
    if (stop) this.stops.push(stop);
  }

  /** Looks for due Tasks now (after a handover is requested). */
  kick(): void {
    if (!this.stopped && !this.running) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.loop().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.options.pollMs ?? 1000);
      });
    }, ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped && (await this.runOnce()) > 0);
      for (const work of this.periodic) if (!this.stopped) await work();
    } catch (err) {
      this.options.logger.error('handover delivery loop failed', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** One pass: claims what is due and delivers it; resolves to how many were attempted. */
  async runOnce(): Promise<number> {
    const due = await this.dueTasks();
    let next = 0;
    let attempted = 0;
    const worker = async (): Promise<void> => {
      while (next < due.length) {
        const task = due[next++];
        if (task && (await this.attempt(task))) attempted++;
      }
    };
    await Promise.all(Array.from({ length: this.options.concurrency ?? 8 }, worker));
    return attempted;
  }

  /**
   * Open handover Tasks whose next attempt is due and whose lease (if any) has run out, oldest
   * first. Pages on past Tasks waiting to retry or held by another deliverer, so those cannot
   * hide due ones behind them: by keyset on `_lastUpdated` (last-updated-pages.ts), not `_offset`,
   * so a store (a FHIR server) that ignores `_offset` is looked through as far as any other.
   */
  private async dueTasks(): Promise<Task[]> {
    const now = this.now().getTime();
    const due: Task[] = [];
    const end: WalkEnd = {};
    const open = byLastUpdated(
      {
        store: this.options.store,
        type: 'Task',
        params: { identifier: `${TRANSFER_TASK_SYSTEM}|`, status: 'requested,accepted' },
        pageSize: CLAIM_PAGE,
        maxPages: CLAIM_SCAN_PAGES,
        stopped: () => due.length >= CLAIM_PAGE,
      },
      end,
    );
    // A page read at one instant can hold up to 1,000 Tasks: a pass claims CLAIM_PAGE at most,
    // so it stays short and leaves the rest to the next pass (or another deliverer).
    scan: for await (const page of open)
      for (const task of page as Task[]) {
        if (due.length >= CLAIM_PAGE) break scan;
        const state = deliveryState(task);
        if (state && state.nextAttemptAt <= now && (state.leaseUntil ?? 0) <= now) due.push(task);
      }
    if (end.why === 'unordered' || end.why === 'offset-ignored') this.misread(end.why);
    return due;
  }

  /**
   * Says once that the store's open Tasks cannot be looked through whole: the Tasks up to where it
   * could be are still delivered, rather than none on every pass.
   */
  private misread(why: 'unordered' | 'offset-ignored'): void {
    if (this.misreadSaid) return;
    this.misreadSaid = true;
    this.options.logger.warn(
      why === 'offset-ignored'
        ? 'handover delivery: the store ignores _offset and holds more open handover Tasks at one instant than one search gives; each pass looks up to that instant'
        : 'handover delivery: the store answered outside the _lastUpdated order or range asked for; each pass looks up to where it did',
      { page: CLAIM_PAGE },
    );
  }

  /** Claims one Task (false if another deliverer got it first) and delivers it. */
  private async attempt(task: Task): Promise<boolean> {
    const leaseMs = this.options.leaseMs ?? 60_000;
    let claim: Task;
    try {
      const written = await this.options.store.update(
        claimed(task, this.now().getTime(), leaseMs),
        {
          ifMatch: task.meta?.versionId ?? '',
        },
      );
      claim = written.resource as Task;
    } catch (err) {
      if (statusOf(err) === 412) return false;
      throw err;
    }
    const lease = keepLease({
      store: this.options.store,
      claim,
      leaseMs,
      ...(this.options.maxLeaseHoldMs !== undefined
        ? { maxHoldMs: this.options.maxLeaseHoldMs }
        : {}),
      now: this.now,
      logger: this.options.logger,
      what: 'handover',
    });
    const outcome = await this.deliver(claim);
    const current = await lease.stop();
    try {
      // Lost (another deliverer took the Task over): its outcome stands, not ours.
      if (!current) throw stale('The lease was lost', 'Task');
      await this.options.store.update(outcome, { ifMatch: current.meta?.versionId ?? '' });
    } catch (err) {
      // 412: the lease ran out and another deliverer took the Task over; its outcome stands.
      if (statusOf(err) !== 412) throw err;
    }
    this.options.logger.info('handover attempt', {
      task: claim.id,
      destination: deliveryState(claim)?.destination,
      attempt: deliveryState(claim)?.attempts,
      status: outcome.status,
    });
    return true;
  }

  /** The Task as it should be after this attempt. */
  private async deliver(task: Task): Promise<Task> {
    const now = (): number => this.now().getTime();
    const state = deliveryState(task);
    const peer = state ? peerById(this.options.peers, state.destination) : undefined;
    if (!peer)
      return failed(task, now(), 'The destination system is not configured here any more.');
    try {
      const written = await this.send(task, peer);
      return completed(task, now(), written.reference, written.digest);
    } catch (err) {
      return this.afterFailure(task, peer, err);
    }
  }

  private afterFailure(task: Task, peer: Peer, err: unknown): Task {
    const now = this.now().getTime();
    // The peer's own status: a 401/403 there is answered to our callers as a 502 (it is about
    // our credentials, not theirs), but it is no less permanent for the handover.
    const upstream = (err as { upstreamStatus?: unknown } | null)?.upstreamStatus;
    const status = typeof upstream === 'number' ? upstream : statusOf(err);
    const reason = describeFailure(peer, status, err);
    const attempts = deliveryState(task)?.attempts ?? 1;
    if (PERMANENT.has(status)) return failed(task, now, reason);
    if (attempts >= (this.options.maxAttempts ?? 10))
      return failed(task, now, `${reason} Gave up after ${attempts} attempts.`);
    return retrying(task, now, now + this.delay(attempts, err), reason);
  }

  /**
   * Exponential backoff with jitter, at least what the destination's Retry-After asked (a
   * Retry-After beyond `maxDelayMs` is held to it, so a peer cannot park a handover for days).
   */
  private delay(attempts: number, err: unknown): number {
    const base = this.options.baseDelayMs ?? 2000;
    const max = this.options.maxDelayMs ?? 600_000;
    const ceiling = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
    const jittered = ceiling / 2 + (this.options.random ?? Math.random)() * (ceiling / 2);
    const asked = (err as { retryAfterMs?: unknown }).retryAfterMs;
    return Math.max(jittered, typeof asked === 'number' ? Math.min(asked, max) : 0);
  }

  /** Both steps; resolves to the plan's version at the destination and its content digest. */
  private async send(task: Task, peer: Peer): Promise<{ reference: string; digest: string }> {
    const patientId = task.for?.reference?.split('/')[1] ?? '';
    const record = await gatherHandover(this.options.store, patientId).catch((err: unknown) => {
      if (typeof err === 'object' && err !== null) unreadRecords.add(err);
      throw err;
    });
    if (!record.carePlan) throw noPlan();
    const self = this.options.peers.self.baseUrl;
    const terms: HandoverBundleOptions = { sourceBaseUrl: self, destinationBaseUrl: peer.baseUrl };
    // Each resource both sides edit leaves marked with the version of ours it is.
    const { bundle, terms: names } = handoverBundleAndTerms(
      {
        ...record,
        carePlan: withOrigin(record.carePlan, self),
        goals: record.goals.map((r) => withOriginMark(r, self)),
        relatedPersons: record.relatedPersons.map((r) => withOriginMark(r, self)),
        consents: record.consents.map((r) => withOriginMark(r, self)),
      },
      terms,
    );
    const remote = this.remoteFor(peer);
    const planned = planCreatedOnly(bundle);
    const shared = sharedCreatedOnly(planned.bundle);
    const sent = withReceipt({ ...planned, bundle: shared.bundle }, task, this.options.peers);
    const applied = await remote.transaction(sent.bundle);
    await writeMergedResources(
      remote,
      this.sharedItems(record, terms, names, sent.bundle, shared.shared, applied, remote, peer),
      { now: this.now, keepMark: 'incoming', activity: 'Handover' },
    );
    const local = inDestinationTerms(sent.plan, sent.bundle, applied);
    const base = await this.basePlan(task, remote, peer, record.carePlan);
    const written = await this.writePlan(remote, local, base);
    return {
      reference: `${peer.baseUrl}/CarePlan/${written.id ?? ''}/_history/${written.meta?.versionId ?? ''}`,
      digest: planDigest(written),
    };
  }

  private remoteFor(peer: Peer): FhirStore {
    return peerStore(this.options, peer);
  }

  /**
   * The Goals, carers and consent step 1 found at the destination already, to merge there
   * (shared-merge.ts). The base is the latest of: the version of ours the destination's copy holds
   * (its origin mark: what our last handover there sent; its merged-from mark: what its last pull
   * from us merged), put in the destination's terms as this bundle puts ours; and the version of
   * theirs ours holds (our origin or merged-from mark).
   */
  private sharedItems(
    record: HandoverRecord,
    options: HandoverBundleOptions,
    terms: BundleTerms,
    sent: Bundle,
    indices: readonly number[],
    applied: Bundle,
    remote: FhirStore,
    peer: Peer,
  ): SharedItem[] {
    const items: SharedItem[] = [];
    for (const shared of appliedShared(record, terms, sent, indices, applied)) {
      const { type, id, current, origin: ours } = shared;
      if (shared.created) continue;
      items.push({
        type,
        id,
        incoming: shared.incoming,
        ...(current ? { current } : {}),
        base: async (current) => {
          const candidates: { at: string; version: Resource }[] = [];
          // Versions of ours their copy holds: sent by a handover (origin mark) or merged by
          // their pull (merged-from mark) — put in their terms as this bundle puts ours.
          for (const url of [HANDOVER_ORIGIN_EXTENSION, MERGED_FROM_EXTENSION]) {
            const named = markedVersion(current, options.sourceBaseUrl, url);
            if (!named || named.id !== ours.id) continue;
            const version = await this.options.store
              .vread(type, named.id, named.versionId)
              .catch(() => undefined);
            if (version)
              candidates.push({
                at: version.meta?.lastUpdated ?? '',
                version: inDestinationTerms(terms.inBundleTerms(version), sent, applied),
              });
          }
          // Versions of theirs ours holds: handed over to us, or merged by our pull.
          for (const url of [HANDOVER_ORIGIN_EXTENSION, MERGED_FROM_EXTENSION]) {
            const named = markedVersion(ours, peer.baseUrl, url);
            if (!named || named.id !== id) continue;
            const version = await remote
              .vread(type, named.id, named.versionId)
              .catch(() => undefined);
            if (version) candidates.push({ at: version.meta?.lastUpdated ?? '', version });
          }
          return candidates.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0]?.version;
        },
      });
    }
    return items;
  }

  /**
   * The last version both sides agreed on, as the destination holds it: the later of the version
   * our last completed handover wrote there, and the version of theirs our plan came from (its
   * `dialog-handover-origin`, when it came from this peer).
   */
  private async basePlan(
    task: Task,
    remote: FhirStore,
    peer: Peer,
    local: CarePlan,
  ): Promise<CarePlan | undefined> {
    const candidates = [
      await this.lastWritten(task, remote, peer),
      await originAt(local, remote, peer),
    ];
    return candidates
      .filter((c): c is CarePlan => c !== undefined)
      .sort(
        (a, b) => Date.parse(b.meta?.lastUpdated ?? '') - Date.parse(a.meta?.lastUpdated ?? ''),
      )[0];
  }

  /**
   * The plan as our last completed handover to this peer wrote it there, if we can read it and
   * it still says what the destination answered then (see the header: a lost write); else the
   * one the handover before that wrote, and so on.
   */
  private async lastWritten(
    task: Task,
    remote: FhirStore,
    peer: Peer,
  ): Promise<CarePlan | undefined> {
    const earlier = await this.options.store.search(
      'Task',
      { focus: task.focus?.reference ?? '', status: 'completed', _sort: '-_lastUpdated' },
      { count: 20 },
    );
    for (const done of earlier.resources as Task[]) {
      if (deliveryState(done)?.destination !== peer.id) continue;
      const match = /\/CarePlan\/([^/]+)\/_history\/([^/]+)$/.exec(deliveredPlan(done) ?? '');
      if (!match?.[1] || !match[2]) continue;
      const plan = await remote.vread('CarePlan', match[1], match[2]).catch(() => undefined);
      const digest = deliveredDigest(done);
      if (plan && (digest === undefined || planDigest(plan) === digest)) return plan;
      // Not what we wrote: an earlier handover's version is still a version both agreed on.
      this.options.logger.warn('handover base not trusted', {
        task: task.id,
        reason: plan ? 'the version holds other content' : 'the version cannot be read',
      });
    }
    return undefined;
  }

  /** Step 2 (see writeMergedPlan). */
  private writePlan(
    remote: FhirStore,
    local: CarePlan,
    base: CarePlan | undefined,
  ): Promise<CarePlan> {
    return writeMergedPlan(remote, local, base, this.now);
  }
}

/**
 * Step 2: `local` merged three ways into the plan `remote` holds with the same business identifier
 * (against `base`, the version both last agreed on) and written with If-Match, with a Provenance
 * and conflict Tasks; again at once after a 412 (someone edited it between our read and write).
 * Also how a pulled plan is brought into this system's own (plan-sync.ts). Writes nothing when
 * the merge leaves the plan as it is.
 */
export async function writeMergedPlan(
  remote: FhirStore,
  local: CarePlan,
  base: CarePlan | undefined,
  now: () => Date,
): Promise<CarePlan> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await mergeAndWritePlan(remote, local, base, now());
    } catch (err) {
      if (statusOf(err) !== 412 || attempt >= PLAN_RACE_ATTEMPTS) throw err;
    }
  }
}

/** Merge with the destination's plan and write it with If-Match (see the header). */
async function mergeAndWritePlan(
  remote: FhirStore,
  local: CarePlan,
  base: CarePlan | undefined,
  now: Date,
): Promise<CarePlan> {
  const identifier = local.identifier?.find((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM);
  const found = await remote.search('CarePlan', {
    identifier: `${identifier?.system ?? ''}|${identifier?.value ?? ''}`,
  });
  const current = found.resources[0] as CarePlan | undefined;
  const mergeResult = current
    ? mergePlans({ ...(base ? { base } : {}), local, remote: current })
    : { merged: local, conflicts: [] as PlanConflict[] };
  // The written plan came from `local`'s version: that is its one origin mark. (Without a base,
  // the merge would keep the destination's old mark beside it as a part both sides added.)
  const merged = withOriginOf(mergeResult.merged, local);
  const { conflicts } = mergeResult;
  // Nothing to change there (a repeat, or a retry whose earlier write got through): no write.
  if (current?.id && conflicts.length === 0 && samePlanContent(merged, current)) return current;
  const planEntry: BundleEntry = current?.id
    ? {
        fullUrl: 'urn:uuid:00000000-0000-5000-8000-000000000001',
        resource: { ...merged, id: current.id },
        request: {
          method: 'PUT',
          url: `CarePlan/${current.id}`,
          ifMatch: `W/"${current.meta?.versionId ?? ''}"`,
        },
      }
    : {
        fullUrl: 'urn:uuid:00000000-0000-5000-8000-000000000001',
        resource: merged,
        request: {
          method: 'PUT',
          url: `CarePlan?identifier=${encodeURIComponent(`${identifier?.system ?? ''}|${identifier?.value ?? ''}`)}`,
        },
      };
  const result = await remote.transaction({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      planEntry,
      provenanceEntry(merged, conflicts, now),
      ...conflictTasks(merged, conflicts, now),
    ],
  });
  return result.entry?.[0]?.resource as CarePlan;
}

/**
 * Step 1's bundle: the plan only created when the destination has none yet (`If-None-Exist` on
 * its identifier), so what refers to it resolves; an existing plan there is merged in step 2.
 */
export function planCreatedOnly(bundle: Bundle): { bundle: Bundle; plan: CarePlan } {
  let plan: CarePlan | undefined;
  const entry = (bundle.entry ?? []).map((e) => {
    if (e.resource?.resourceType !== 'CarePlan') return e;
    plan = e.resource;
    const condition = (e.request?.url ?? '').split('?')[1];
    if (e.request?.method !== 'PUT' || !condition) return e;
    return { ...e, request: { method: 'POST' as const, url: 'CarePlan', ifNoneExist: condition } };
  });
  if (!plan) throw noPlan();
  return { bundle: { ...bundle, entry }, plan };
}

/**
 * Step 1 also records the handover itself at the destination: a Provenance of the plan's receipt
 * (what was sent, from whom, why), under an id derived from the Task and with the Task's time, so
 * every attempt of one handover writes the same one (a repeat changes nothing).
 */
function withReceipt(
  sent: { bundle: Bundle; plan: CarePlan },
  task: Task,
  peers: Peers,
): { bundle: Bundle; plan: CarePlan } {
  const entries = sent.bundle.entry ?? [];
  const planUrl = entries.find((e) => e.resource?.resourceType === 'CarePlan')?.fullUrl;
  const patientUrl = entries.find((e) => e.resource?.resourceType === 'Patient')?.fullUrl;
  const self = peers.self;
  const org = self.organization.reference ?? '';
  const id = uuidV5(`handover-receipt|${self.baseUrl}|${task.id ?? ''}`, DIALOG_NAMESPACE);
  const reason = reasonOf(task) ?? 'transfer';
  const receipt: Provenance = {
    resourceType: 'Provenance',
    id,
    target: [
      ...(planUrl ? [{ reference: planUrl }] : []),
      ...(patientUrl ? [{ reference: patientUrl }] : []),
    ],
    recorded: task.authoredOn ?? new Date(0).toISOString(),
    activity: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' },
      ],
      text: `Handover (${reason}) received from ${self.organization.display ?? self.id}: the plan, its goals and rating history`,
    },
    agent: [
      {
        who: {
          reference: /^https?:/.test(org) ? org : `${self.baseUrl}/${org}`,
          ...(self.organization.display ? { display: self.organization.display } : {}),
        },
      },
    ],
  };
  return {
    plan: sent.plan,
    bundle: {
      ...sent.bundle,
      entry: [
        ...entries,
        {
          fullUrl: `urn:uuid:${id}`,
          resource: receipt,
          request: { method: 'PUT', url: `Provenance/${id}` },
        },
      ],
    },
  };
}

/** The ids the destination gave each fullUrl of a bundle, per answer (computed once). */
/** A Goal, carer or consent step 1 carried, as the destination applied it. */
export interface AppliedShared {
  readonly type: SharedType;
  /** The destination's id of it. */
  readonly id: string;
  readonly fullUrl: string;
  /** The sender's own resource the entry was built from. */
  readonly origin: Resource;
  /** What was sent, in the destination's terms. */
  readonly incoming: Resource;
  /** The destination's copy as step 1 left it (absent when the answer does not carry it). */
  readonly current?: Resource;
  /** Step 1 created it: the destination had none, so there is nothing to merge. */
  readonly created: boolean;
}

/**
 * The shared entries (`indices`, from sharedCreatedOnly) of step 1's bundle, each with the
 * sender's resource it came from and what the destination made of it: what a handover (here)
 * and a pull (plan-sync.ts) merge afterwards.
 */
export function appliedShared(
  record: HandoverRecord,
  terms: BundleTerms,
  sent: Bundle,
  indices: readonly number[],
  applied: Bundle,
): AppliedShared[] {
  const origins = [...record.goals, ...record.relatedPersons, ...record.consents];
  return indices.flatMap((index) => {
    const entry = sent.entry?.[index];
    const type = entry?.resource?.resourceType;
    const id = appliedId(applied, index);
    const source = terms.sourceOf(entry?.fullUrl ?? '');
    const origin = origins.find((r) => r.resourceType === source?.type && r.id === source?.id);
    if (!entry?.resource || !isShared(type) || !id || !origin) return [];
    const current = appliedResource(applied, index);
    return [
      {
        type,
        id,
        fullUrl: entry.fullUrl ?? '',
        origin,
        incoming: inDestinationTerms(entry.resource, sent, applied),
        ...(current ? { current } : {}),
        created: appliedCreated(applied, index),
      },
    ];
  });
}

/** The destination's ids by fullUrl, per transaction answer (an answer answers one bundle). */
const destinationIds = new WeakMap<Bundle, Map<string, string>>();

/**
 * The plan (or any resource step 1 carried) with its `urn:uuid:` references to what step 1
 * carried replaced by the ids the destination gave them (the transaction-response lists them in
 * request order).
 */
export function inDestinationTerms<T extends Resource>(plan: T, sent: Bundle, applied: Bundle): T {
  let ids = destinationIds.get(applied);
  if (!ids) {
    const found = new Map<string, string>();
    (sent.entry ?? []).forEach((entry, i) => {
      const location = applied.entry?.[i]?.response?.location;
      const match = location
        ? /([A-Z][A-Za-z]+\/[^/]+)(?:\/_history\/[^/]+)?$/.exec(location)
        : null;
      if (entry.fullUrl && match?.[1]) found.set(entry.fullUrl, match[1]);
    });
    destinationIds.set(applied, found);
    ids = found;
  }
  const text = JSON.stringify(plan).replace(
    /"reference":"(urn:uuid:[0-9a-f-]+)"/g,
    (whole, urn: string) => {
      const id = ids.get(urn);
      return id ? `"reference":"${id}"` : whole;
    },
  );
  return JSON.parse(text) as T;
}

function provenanceEntry(
  plan: CarePlan,
  conflicts: readonly PlanConflict[],
  now: Date,
): BundleEntry {
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [
      { reference: 'urn:uuid:00000000-0000-5000-8000-000000000001' },
      ...(plan.subject?.reference ? [{ reference: plan.subject.reference }] : []),
    ],
    recorded: now.toISOString(),
    activity: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' },
      ],
      text:
        conflicts.length > 0
          ? `Handover: plans merged; ${conflicts.length} conflicting change(s) kept for a clinician to resolve`
          : 'Handover: plans merged',
    },
    agent: [{ who: { display: 'dialog-fhir handover' } }],
  };
  return { resource: provenance, request: { method: 'POST', url: 'Provenance' } };
}

export { CONFLICT_CODE };

/** One Task per conflict, for a clinician at the destination to resolve (see README). */
function conflictTasks(
  plan: CarePlan,
  conflicts: readonly PlanConflict[],
  now: Date,
): BundleEntry[] {
  return conflictTaskEntries({
    focus: 'urn:uuid:00000000-0000-5000-8000-000000000001',
    ...(plan.subject?.reference ? { subject: plan.subject.reference } : {}),
    identity: plan.identifier?.[0]?.value ?? '',
    conflicts,
    now,
  });
}

/** Where a plan was last sent from: `<base>/CarePlan/<id>/_history/<version>` of the sender. */
export { HANDOVER_ORIGIN_EXTENSION };

/** The plan marked with the version it leaves from, so the receiver can merge against it later. */
export function withOrigin(plan: CarePlan, selfBaseUrl: string): CarePlan {
  const reference = `${selfBaseUrl}/CarePlan/${plan.id ?? ''}/_history/${plan.meta?.versionId ?? ''}`;
  return {
    ...plan,
    extension: [
      ...(plan.extension ?? []).filter((e) => e.url !== HANDOVER_ORIGIN_EXTENSION),
      // A URI, not a Reference: handover bundles rewrite references, and this must stay as sent.
      { url: HANDOVER_ORIGIN_EXTENSION, valueUri: reference },
    ],
  };
}

/**
 * `plan` carrying `ours`'s origin mark (or none): the mark says which version a copy came from, so
 * a plan holds one, and a peer's mark is never a change to merge.
 */
export function withOriginOf(plan: CarePlan, ours: CarePlan): CarePlan {
  const mark = ours.extension?.find((e) => e.url === HANDOVER_ORIGIN_EXTENSION);
  const rest = (plan.extension ?? []).filter((e) => e.url !== HANDOVER_ORIGIN_EXTENSION);
  const extension = mark ? [...rest, mark] : rest;
  const { extension: _old, ...without } = plan;
  void _old;
  return extension.length > 0 ? { ...without, extension } : without;
}

/** The destination's version our plan came from, when its origin is that destination. */
async function originAt(
  local: CarePlan,
  remote: FhirStore,
  peer: Peer,
): Promise<CarePlan | undefined> {
  const origin = local.extension?.find((e) => e.url === HANDOVER_ORIGIN_EXTENSION)?.valueUri;
  if (!origin?.startsWith(`${peer.baseUrl}/CarePlan/`)) return undefined;
  const match = /\/CarePlan\/([^/]+)\/_history\/([^/]+)$/.exec(origin);
  if (!match?.[1] || !match[2]) return undefined;
  return remote.vread('CarePlan', match[1], match[2]).catch(() => undefined);
}

/** A digest of what a plan says (not its id, versions or narrative). */
export function planDigest(plan: CarePlan): string {
  return createHash('sha256')
    .update(canonicalJson(planContent(plan)))
    .digest('base64url');
}

function noPlan(): HttpOutcomeError {
  return fault(404, 'not-found', 'The person has no DIALOG care plan to hand over', 'CarePlan');
}

/**
 * Errors met reading the person's record here (gatherHandover over this service's own store),
 * not at the destination: a 502 from a store that cannot be read whole is ours to fix, and a
 * message naming the destination sent operators to the wrong system.
 */
const unreadRecords = new WeakSet<object>();

/** Why an attempt failed, in words a person can read (no patient data). */
function describeFailure(peer: Peer, status: number, err: unknown): string {
  const name = peer.organization.display ?? peer.id;
  if (typeof err === 'object' && err !== null && unreadRecords.has(err)) {
    const text = err instanceof OperationOutcomeError ? err.outcome.issue[0]?.details?.text : '';
    return `The person's record could not be read here to send it (${status})${text ? `: ${text}` : ''}.`;
  }
  if (status === 503 || status === 504)
    return `${name}'s system could not be reached or did not answer in time.`;
  if (status === 429) return `${name}'s system asked us to slow down; we will try again.`;
  if (status === 412)
    return `The plan changed at ${name} while we were sending it; we will merge again.`;
  if (status === 401 || status === 403)
    return `${name}'s system did not accept our credentials (${status}). Check the peer's token.`;
  if (
    status === 404 &&
    err instanceof OperationOutcomeError &&
    err.outcome.issue[0]?.expression?.[0] === 'CarePlan'
  )
    return 'The person has no DIALOG care plan to hand over.';
  if (status >= 500) return `${name}'s system had an error (${status}).`;
  const issue = err instanceof OperationOutcomeError ? err.outcome.issue[0] : undefined;
  const where = issue?.expression?.[0] ? ` (at ${issue.expression[0]})` : '';
  return `${name}'s system refused the plan (${status}): ${issue?.details?.text ?? 'no reason given'}${where}`;
}
