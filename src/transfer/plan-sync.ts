/**
 * Keeping the two systems in step after a handover (issue 5): both keep the one plan (one business
 * identifier) and either may change it, or record sessions against it. This system pulls what a
 * peer changed and brings it into its own copy the way a handover does (deliver.ts): the person's
 * record gathered from the peer as one transaction Bundle of conditional updates on business
 * identifiers (nothing duplicated however often it is pulled), then the plan merged three ways
 * into ours with `If-Match` (changes to different parts merge; both sides changing the same part
 * keep both and raise a conflict Task; a merge Provenance when anything is written).
 *
 * How a change is noticed:
 * - **rest-hook Subscription**, where the peer supports it (its CapabilityStatement lists
 *   `Subscription`): this system asks the peer for one (`CarePlan?identifier=<plan system>|`,
 *   channel rest-hook to `<self>/$plan-sync-notification/<self id>`) and the peer's notifications
 *   (a notification Bundle, a bare CarePlan, or an empty ping) are received by
 *   `POST /fhir/$plan-sync-notification/{peer}` (src/api/plan-sync-routes.ts): the CarePlans it
 *   names as focus are read from the peer and pulled; anything else triggers a poll.
 * - **`_lastUpdated` polling** where it does not: `CarePlan?_lastUpdated=gt<since>` at the peer,
 *   every `pollMs`, a little overlap behind the last change seen (a write that committed late is
 *   not missed; a version already pulled is skipped), paged on by `_lastUpdated` itself, not by
 *   `_offset` (last-updated-pages.ts: every change is read, ties at one instant included).
 *
 * - Goals, carers and consent: `Goal`, `RelatedPerson` and `Consent` `?_lastUpdated=gt<since>` at
 *   the peer on every poll; the plan of each person one of them (in a version not pulled yet) is
 *   about is pulled, even when the plan itself is unchanged.
 *
 * The Goals, carers and consent that come with a pulled plan are merged three ways into ours too
 * (shared-merge.ts), against their version as last pulled (kept with the plan's state), else the
 * version of ours their copy came from (its origin mark), else theirs ours came from.
 *
 * Only plans this system already holds (by business identifier) are pulled: a peer's other plans
 * are not ours to copy. What this system last took from each peer's plan — that version's id and
 * its content in our terms, the base of the next merge — and the since-watermark are kept durably
 * in the store (a `Basic` resource per peer, `Basic/plan-sync-<peer id>`). Before the first pull,
 * the base is the version of our plan the peer's copy came from (its `dialog-handover-origin`);
 * without one, differing parts are kept as conflicts — never a lost edit. The peer's origin mark
 * itself is not taken over (ours stays), so two systems pulling from each other settle without
 * writing new versions back and forth.
 */
import type {
  Basic,
  Bundle,
  CarePlan,
  Extension,
  OperationOutcome,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../fhir';
import { checkBundleKeepsPerson } from '../service/bundles';
import { NarratingStore } from '../service/narrating-store';
import { statusOf } from '../service/outcomes';
import { hasErrors } from '../validation';
import type { FhirStore } from '../store';
import {
  appliedShared,
  HANDOVER_ORIGIN_EXTENSION,
  inDestinationTerms,
  peerStore,
  planCreatedOnly,
  withOriginOf,
  writeMergedPlan,
  type PeerLinkOptions,
} from './deliver';
import {
  gatherHandover,
  handoverBundleAndTerms,
  type BundleTerms,
  type HandoverBundleOptions,
  type HandoverRecord,
} from './handover-bundle';
import { byLastUpdated, type WalkEnd } from './last-updated-pages';
import { peerById, type Peer } from './peers';
import { canonicalJson, samePlanContent } from './plan-three-way-merge';
import {
  markedVersion,
  MERGED_FROM_EXTENSION,
  sharedCreatedOnly,
  SHARED_TYPES,
  unmarked,
  writeMergedResources,
  type SharedItem,
} from './shared-merge';
import { syncRefusalEntry, type SyncFault } from './sync-refusal';

export const SYNC_STATE_EXTENSION =
  'https://dialog-fhir.org/fhir/StructureDefinition/dialog-plan-sync';
export const NOTIFICATION_OPERATION = '$plan-sync-notification';
/** How far behind the last change seen the next poll starts. */
const OVERLAP_MS = 5_000;
/** With a Subscription in place, polls still run this many times less often (a safety net). */
const SUBSCRIBED_POLL_FACTOR = 10;
const PAGE = 100;
/** At most this many pages per search in one poll (100,000 resources): a bound, whatever the peer. */
const MAX_PAGES = 1000;

export interface PlanSyncOptions extends PeerLinkOptions {
  /** How often each peer is polled (undefined: never; the receiver still works). */
  readonly pollMs?: number;
  /**
   * The check every write through this service's API gets (FhirService.validate), applied to each
   * resource of a pulled record: a record holding one it refuses is not pulled (see `pull`).
   */
  readonly validate?: (resource: Resource) => OperationOutcome;
}

interface PlanState {
  readonly identifier: string;
  readonly theirVersion: string;
  /** Their plan as last pulled, in our terms (JSON): the base of the next merge. */
  readonly base: string;
  /** Their Goals, carers and consent as last pulled, in our terms: the bases of the next merges. */
  readonly resources: readonly ResourceState[];
}

interface ResourceState {
  /** `<Type>|<fullUrl>`: the resource as the handover bundle names it (business identifier). */
  readonly key: string;
  /** Their version pulled: `<Type>/<id>/_history/<version>` on their server. */
  readonly theirs: string;
  readonly base: string;
  /** When it was pulled (this system's clock). */
  readonly at: string;
}

/**
 * How far one poll's searches reached. A search cut short (the poll stopped; MAX_PAGES; a peer
 * answering out of `_lastUpdated` order) saw its changes up to `cutAt` only: the watermark may not
 * pass that, or the changes after it (e.g. Goals, while the plans' search reached further) would
 * never be read.
 */
interface Reach {
  cutAt?: number;
}

interface SyncState {
  readonly since?: string;
  readonly plans: readonly PlanState[];
}

export interface PullReport {
  /** Plans of the peer's looked at. */
  readonly seen: number;
  /** Of those, pulled into ours (ours written, or already the same). */
  readonly pulled: number;
}

export class PlanSync {
  private readonly now: () => Date;
  private readonly local: FhirStore;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set by `stop` (the service is stopping): polls end between pages. */
  private stopping = false;
  private readonly nextPoll = new Map<string, number>();
  private readonly subscribed = new Map<string, boolean>();
  /** Peers whose searches could not be read whole (said once each, not on every poll). */
  private readonly misreadSaid = new Set<string>();

  constructor(private readonly options: PlanSyncOptions) {
    this.now = options.now ?? (() => new Date());
    // Plans and sessions pulled carry their narrative, as every write of the service does.
    this.local = new NarratingStore(options.store);
  }

  /** Ends polling: between pages and between peers, the poll under way stops. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * A search at a peer, PAGE resources at a time, oldest change first, by keyset on `_lastUpdated`
   * (last-updated-pages.ts: no `_offset`, so a peer that ignores it is read whole too, and ties at
   * one instant are read whole). It ends after MAX_PAGES, once polling is stopped, or where the
   * peer answers outside the order asked for: then no later than the last instant it read whole
   * (`reach`), so the poll saves its watermark there and the next one reads on from it.
   */
  private async *pages(
    peer: Peer,
    remote: FhirStore,
    type: ResourceType,
    params: Record<string, string>,
    after: number | undefined,
    reach: Reach,
  ): AsyncGenerator<Resource[]> {
    const end: WalkEnd = {};
    yield* byLastUpdated(
      {
        store: remote,
        type,
        params,
        ...(after !== undefined ? { after } : {}),
        pageSize: PAGE,
        maxPages: MAX_PAGES,
        stopped: () => this.stopping,
      },
      end,
    );
    if (end.cutAt === undefined) return;
    reach.cutAt = Math.min(reach.cutAt ?? end.cutAt, end.cutAt);
    if (end.why === 'unordered' || end.why === 'offset-ignored') this.misread(peer, type, end.why);
  }

  /** Says once per peer that its searches cannot be read whole (misconfigured; no patient data). */
  private misread(peer: Peer, type: ResourceType, why: 'unordered' | 'offset-ignored'): void {
    if (this.misreadSaid.has(peer.id)) return;
    this.misreadSaid.add(peer.id);
    this.options.logger.warn(
      why === 'offset-ignored'
        ? 'plan sync: the peer ignores _offset and holds more changes at one instant than one search gives; each poll reads up to that instant'
        : 'plan sync: the peer answered outside the _lastUpdated order or range asked for; each poll reads up to where it did',
      { peer: peer.id, type },
    );
  }

  /** Polls each peer whose turn it is (with `pollMs` set); a peer's failure is logged, not thrown. */
  async pollDue(): Promise<void> {
    const every = this.options.pollMs;
    if (every === undefined) return;
    for (const peer of this.options.peers.peers) {
      if (this.stopping) return;
      const now = this.now().getTime();
      if ((this.nextPoll.get(peer.id) ?? 0) > now) continue;
      try {
        if (!this.subscribed.has(peer.id)) this.subscribed.set(peer.id, await this.subscribe(peer));
        await this.poll(peer.id);
      } catch (err) {
        this.options.logger.warn('plan sync poll failed', {
          peer: peer.id,
          error: err instanceof Error ? err.message : String(err),
        });
      }
      const factor = this.subscribed.get(peer.id) ? SUBSCRIBED_POLL_FACTOR : 1;
      this.nextPoll.set(peer.id, this.now().getTime() + every * factor);
    }
  }

  /** Everything the peer changed since the watermark, pulled (one at a time per system). */
  async poll(peerId: string): Promise<PullReport> {
    const peer = this.peer(peerId);
    return this.serial(() => this.pollNow(peer));
  }

  /**
   * A rest-hook notification from a peer: the CarePlans it names as focus are read there and
   * pulled; a notification naming none (an empty ping, or another resource) polls instead.
   */
  async notified(peerId: string, body: unknown): Promise<PullReport> {
    const peer = this.peer(peerId);
    return this.serial(async () => {
      const ids = focusPlans(body, peer);
      if (ids.length === 0) return this.pollNow(peer);
      const remote = this.remote(peer);
      const state = await this.readState(peer);
      let plans = state.plans;
      let pulled = 0;
      for (const id of ids) {
        const theirs = (await remote.read('CarePlan', id)) as CarePlan;
        const result = await this.pull(peer, remote, theirs, plans);
        if (result) {
          plans = result;
          pulled++;
        }
      }
      await this.writeState(peer, { ...state, plans });
      return { seen: ids.length, pulled };
    });
  }

  /** Whether the peer's CapabilityStatement says it takes Subscriptions (create). */
  async supportsSubscription(peer: Peer): Promise<boolean> {
    const res = await fetch(`${peer.baseUrl}/metadata`, {
      headers: { accept: 'application/fhir+json', ...authHeader(peer) },
      signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
    }).catch(() => undefined);
    if (!res?.ok) return false;
    const statement = (await res.json().catch(() => undefined)) as unknown;
    return subscriptionSupported(statement);
  }

  /** Asks a peer that supports it for a rest-hook Subscription to its plans (once). */
  private async subscribe(peer: Peer): Promise<boolean> {
    if (!(await this.supportsSubscription(peer))) return false;
    const self = this.options.peers.self;
    const endpoint = `${self.baseUrl}/${NOTIFICATION_OPERATION}/${self.id}`;
    // Sent as it is (the store adapter knows no Subscription search parameters for the condition).
    const subscription = {
      resourceType: 'Subscription',
      status: 'requested',
      reason: `Keep ${self.organization.display ?? self.id}'s copy of shared DIALOG care plans in step`,
      criteria: `CarePlan?identifier=${CARE_PLAN_IDENTIFIER_SYSTEM}|`,
      channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json' },
    };
    const res = await fetch(`${peer.baseUrl}/Subscription`, {
      method: 'POST',
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        'if-none-exist': `url=${encodeURIComponent(endpoint)}`,
        ...authHeader(peer),
      },
      body: JSON.stringify(subscription),
      signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${peer.id} refused the Subscription (${res.status})`);
    return true;
  }

  private async pollNow(peer: Peer): Promise<PullReport> {
    const remote = this.remote(peer);
    const state = await this.readState(peer);
    const since = state.since ? new Date(Date.parse(state.since) - OVERLAP_MS) : undefined;
    let plans = state.plans;
    let latest = state.since ? Date.parse(state.since) : 0;
    let seen = 0;
    let pulled = 0;
    /** Their plans looked at, and pulled, in this poll. */
    const looked = new Set<string>();
    const done = new Set<string>();
    const after = since?.getTime();
    const reach: Reach = {};
    const planChanges = { identifier: `${CARE_PLAN_IDENTIFIER_SYSTEM}|` };
    for await (const page of this.pages(peer, remote, 'CarePlan', planChanges, after, reach)) {
      for (const theirs of page as CarePlan[]) {
        seen++;
        looked.add(theirs.id ?? '');
        latest = Math.max(latest, Date.parse(theirs.meta?.lastUpdated ?? '') || 0);
        const result = await this.pull(peer, remote, theirs, plans);
        if (result) {
          plans = result;
          pulled++;
          done.add(theirs.id ?? '');
        }
      }
    }
    // Goals, carers and consent changed there (their plan unchanged): those people's plans again.
    const people = new Set<string>();
    const pulledBefore = new Set(plans.flatMap((p) => p.resources.map((r) => r.theirs)));
    for (const type of SHARED_TYPES)
      for await (const page of this.pages(peer, remote, type, {}, after, reach))
        for (const changed of page) {
          latest = Math.max(latest, Date.parse(changed.meta?.lastUpdated ?? '') || 0);
          const who = personOf(changed);
          if (who && !pulledBefore.has(versionOf(changed))) people.add(who);
        }
    for (const person of people) {
      const found = await remote.search('CarePlan', {
        subject: person,
        identifier: `${CARE_PLAN_IDENTIFIER_SYSTEM}|`,
      });
      for (const theirs of found.resources as CarePlan[]) {
        if (done.has(theirs.id ?? '')) continue;
        done.add(theirs.id ?? '');
        if (!looked.has(theirs.id ?? '')) seen++;
        const result = await this.pull(peer, remote, theirs, plans, true);
        if (result) {
          plans = result;
          pulled++;
        }
      }
    }
    // Not past where a search cut short stopped; never back before the last poll's watermark.
    const watermark = Math.max(
      state.since ? Date.parse(state.since) : 0,
      Math.min(latest, reach.cutAt ?? latest),
    );
    await this.writeState(peer, {
      ...(watermark > 0 ? { since: new Date(watermark).toISOString() } : {}),
      plans,
    });
    return { seen, pulled };
  }

  /**
   * One plan of the peer's brought into ours (see the header); resolves to the new per-plan state,
   * or undefined when it is not a plan we hold, that version was pulled already, or the pull was
   * refused (refusesContent, refuseConflict).
   */
  private async pull(
    peer: Peer,
    remote: FhirStore,
    theirs: CarePlan,
    plans: readonly PlanState[],
    /** Pull even when that version of their plan was pulled (their Goals etc. changed). */
    force = false,
  ): Promise<PlanState[] | undefined> {
    const key = planKey(theirs);
    if (!key) return undefined;
    const ours = (await this.local.search('CarePlan', { identifier: key })).resources[0] as
      CarePlan | undefined;
    if (!ours) return undefined;
    const known = plans.find((p) => p.identifier === key);
    if (!force && known?.theirVersion === theirs.meta?.versionId) return undefined;
    try {
      return await this.bring(peer, remote, theirs, plans, key, ours, known);
    } catch (err) {
      if (!isPersonConflict(err)) throw err;
      await this.refuseConflict(peer, theirs, ours, err);
      return undefined;
    }
  }

  /** The pull's work once the plan is ours and its version is new (see `pull`). */
  private async bring(
    peer: Peer,
    remote: FhirStore,
    theirs: CarePlan,
    plans: readonly PlanState[],
    key: string,
    ours: CarePlan,
    known: PlanState | undefined,
  ): Promise<PlanState[] | undefined> {
    const patientId = /^Patient\/([^/]+)$/.exec(theirs.subject?.reference ?? '')?.[1];
    if (!patientId) return undefined;
    const record = await gatherHandover(remote, patientId);
    const self = this.options.peers.self;
    const terms: HandoverBundleOptions = {
      sourceBaseUrl: peer.baseUrl,
      destinationBaseUrl: self.baseUrl,
    };
    const { bundle, terms: names } = handoverBundleAndTerms({ ...record, carePlan: theirs }, terms);
    if (await this.refusesContent(peer, bundle, theirs, ours)) return undefined;
    const planned = planCreatedOnly(bundle);
    const shared = sharedCreatedOnly(planned.bundle);
    const sent = { ...planned, bundle: shared.bundle };
    // A store that does not refuse a person move itself is checked first, as POST /fhir is.
    if (!this.local.keepsPersons) await checkBundleKeepsPerson(this.local, sent.bundle);
    const applied = await this.local.transaction(sent.bundle);
    const resources = await this.pullShared(
      { ...record, carePlan: theirs },
      terms,
      names,
      sent.bundle,
      shared.shared,
      applied,
      remote,
      known?.resources ?? [],
    );
    const incoming = withOriginOf(inDestinationTerms(sent.plan, sent.bundle, applied), ours);
    const base = known
      ? withOriginOf(JSON.parse(known.base) as CarePlan, ours)
      : await this.originBase(theirs, ours);
    const written = await writeMergedPlan(this.local, incoming, base, this.now);
    this.options.logger.info('plan sync pulled', {
      peer: peer.id,
      theirVersion: theirs.meta?.versionId,
      ourVersion: written.meta?.versionId,
      changed: written.meta?.versionId !== ours.meta?.versionId,
      sameAsTheirs: samePlanContent(written, incoming),
    });
    const next: PlanState = {
      identifier: key,
      theirVersion: theirs.meta?.versionId ?? '',
      base: canonicalJson(incoming),
      resources,
    };
    return [...plans.filter((p) => p.identifier !== key), next];
  }

  /**
   * Whether the pulled record holds a resource this service would refuse from any client (the
   * `validate` option). Then nothing of it is written — the record is one person's, whose parts
   * refer to each other, so it is taken whole or not at all, as a handover received is. The pull
   * is tried again when the peer next changes that plan, its Goals, carers or consent (the poll's
   * watermark moves on; a notification or a forced pull also retries). The log says where
   * (FHIRPath) and why (issue code), never the values, and so does a Task for a clinician beside
   * the person's plan (sync-refusal.ts; one per refused state). The peer's Patient is not checked:
   * we pull only plans we hold, so the person is matched to ours and theirs is never written.
   */
  private async refusesContent(
    peer: Peer,
    bundle: Bundle,
    theirs: CarePlan,
    ours: CarePlan,
  ): Promise<boolean> {
    const validate = this.options.validate;
    const faults = validate ? contentFaults(bundle, validate) : [];
    if (faults.length === 0) return false;
    await this.refuse(peer, theirs, ours, faults, 'the peer’s record does not validate');
    return true;
  }

  /**
   * A pull this store refused as a conflict — a record the peer sends (in the pull's transaction,
   * the merged plan or its Goals, carers and consent) is stored here for another person
   * (person-of.ts) — is refused as invalid content is: a warning and a Task, the rest of the poll
   * going on. The refused write changes nothing (each is all or nothing); what the pull wrote
   * before it stays, as after any pull that fails part way, and the pull is tried again.
   */
  private async refuseConflict(
    peer: Peer,
    theirs: CarePlan,
    ours: CarePlan,
    err: unknown,
  ): Promise<void> {
    // The outcome's message names a Patient id: only its location and code are kept.
    const issue = (err as { outcome?: OperationOutcome }).outcome?.issue?.[0];
    const expression = issue?.expression?.join(' | ') ?? '';
    const resourceType = /^([A-Z][A-Za-z]+)\./.exec(expression)?.[1] ?? 'Bundle';
    const fault: SyncFault = {
      resourceType,
      code: issue?.code ?? 'conflict',
      expression,
      version: `${theirs.id ?? ''}/${theirs.meta?.versionId ?? ''}|${expression}`,
    };
    await this.refuse(peer, theirs, ours, [fault], 'a record it sends is another person’s here');
  }

  /** Logs a refused pull (where and what only, never values) and raises its Task. */
  private async refuse(
    peer: Peer,
    theirs: CarePlan,
    ours: CarePlan,
    faults: SyncFault[],
    why: string,
  ): Promise<void> {
    this.options.logger.warn(`plan sync refused a pull: ${why}`, {
      peer: peer.id,
      faults: faults.slice(0, 10).map(({ version: _version, ...fault }) => fault),
      more: Math.max(0, faults.length - 10),
    });
    const entry = syncRefusalEntry({
      peerId: peer.id,
      planKey: planKey(theirs) ?? '',
      theirs,
      ours,
      faults,
      now: this.now(),
    });
    try {
      await this.local.transaction({ resourceType: 'Bundle', type: 'transaction', entry: [entry] });
    } catch (err) {
      // The pull is refused all the same; the rest of the poll goes on.
      this.options.logger.warn('plan sync could not write the Task for a refused pull', {
        peer: peer.id,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /**
   * Their Goals, carers and consent that we held already, merged into ours (shared-merge.ts)
   * against the version both last agreed on: as we last pulled it, else our version their copy
   * came from (its origin mark names ours), else theirs ours came from (put in our terms).
   * Resolves to what was pulled, the bases of the next merges.
   */
  private async pullShared(
    record: HandoverRecord,
    options: HandoverBundleOptions,
    terms: BundleTerms,
    sent: Bundle,
    indices: readonly number[],
    applied: Bundle,
    remote: FhirStore,
    known: readonly ResourceState[],
  ): Promise<ResourceState[]> {
    const items: SharedItem[] = [];
    const pulled: Omit<ResourceState, 'at'>[] = [];
    for (const shared of appliedShared(record, terms, sent, indices, applied)) {
      const { type, id, current, incoming, origin: their } = shared;
      const key = `${type}|${shared.fullUrl}`;
      pulled.push({ key, theirs: versionOf(their), base: canonicalJson(unmarked(incoming)) });
      if (shared.created) continue;
      const last = known.find((k) => k.key === key);
      items.push({
        type,
        id,
        mergedFrom: `${options.sourceBaseUrl}/${versionOf(their)}`,
        incoming,
        ...(current ? { current } : {}),
        base: async (current) => {
          // Ours as they last merged it (their merged-from mark), or theirs as we last pulled it:
          // whichever is later.
          const merged = markedVersion(
            their,
            options.destinationBaseUrl ?? '',
            MERGED_FROM_EXTENSION,
          );
          const theyMerged =
            merged && merged.id === id
              ? await this.local.vread(type, merged.id, merged.versionId).catch(() => undefined)
              : undefined;
          if (
            theyMerged &&
            (!last || Date.parse(theyMerged.meta?.lastUpdated ?? '') > Date.parse(last.at))
          )
            return theyMerged;
          if (last) return JSON.parse(last.base) as Resource;
          const ours = markedVersion(their, options.destinationBaseUrl ?? '');
          if (ours && ours.id === id)
            return this.local.vread(type, ours.id, ours.versionId).catch(() => undefined);
          const cameFrom = markedVersion(current, options.sourceBaseUrl);
          const version =
            cameFrom && cameFrom.id === their.id
              ? await remote.vread(type, cameFrom.id, cameFrom.versionId).catch(() => undefined)
              : undefined;
          return version
            ? inDestinationTerms(terms.inBundleTerms(version), sent, applied)
            : undefined;
        },
      });
    }
    await writeMergedResources(this.local, items, {
      now: this.now,
      keepMark: 'current',
      activity: 'Plan sync',
    });
    const at = this.now().toISOString();
    return pulled.map((p) => ({ ...p, at }));
  }

  /** Our version the peer's copy came from (its origin mark names our plan), as the first base. */
  private async originBase(theirs: CarePlan, ours: CarePlan): Promise<CarePlan | undefined> {
    const origin = theirs.extension?.find((e) => e.url === HANDOVER_ORIGIN_EXTENSION)?.valueUri;
    const self = this.options.peers.self.baseUrl;
    const match = /\/CarePlan\/([^/]+)\/_history\/([^/]+)$/.exec(origin ?? '');
    if (!origin?.startsWith(`${self}/CarePlan/`) || !match?.[1] || !match[2]) return undefined;
    const version = await this.local.vread('CarePlan', match[1], match[2]).catch(() => undefined);
    return version ? withOriginOf(version as CarePlan, ours) : undefined;
  }

  private peer(peerId: string): Peer {
    const peer = peerById(this.options.peers, peerId);
    if (!peer) throw new UnknownPeerError(peerId);
    return peer;
  }

  private remote(peer: Peer): FhirStore {
    return peerStore(this.options, peer);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readState(peer: Peer): Promise<SyncState & { version?: string }> {
    const stored = (await this.options.store
      .read('Basic', stateId(peer))
      .catch(() => undefined)) as Basic | undefined;
    const ext = stored?.extension?.find((e) => e.url === SYNC_STATE_EXTENSION);
    const since = part(ext, 'since')?.valueInstant;
    const plans = (ext?.extension ?? [])
      .filter((e) => e.url === 'plan')
      .map((e) => ({
        identifier: part(e, 'identifier')?.valueString ?? '',
        theirVersion: part(e, 'theirVersion')?.valueString ?? '',
        base: part(e, 'base')?.valueString ?? '{}',
        resources: (e.extension ?? [])
          .filter((r) => r.url === 'resource')
          .map((r) => ({
            key: part(r, 'key')?.valueString ?? '',
            theirs: part(r, 'theirs')?.valueString ?? '',
            at: part(r, 'at')?.valueInstant ?? new Date(0).toISOString(),
            base: part(r, 'base')?.valueString ?? '{}',
          })),
      }));
    return { ...(since ? { since } : {}), plans };
  }

  private async writeState(peer: Peer, state: SyncState): Promise<void> {
    const basic: Basic = {
      resourceType: 'Basic',
      id: stateId(peer),
      code: { text: `What this system last took from ${peer.id}'s plans (plan sync)` },
      extension: [
        {
          url: SYNC_STATE_EXTENSION,
          extension: [
            { url: 'peer', valueString: peer.id },
            ...(state.since ? [{ url: 'since', valueInstant: state.since }] : []),
            ...state.plans.map((p) => ({
              url: 'plan',
              extension: [
                { url: 'identifier', valueString: p.identifier },
                { url: 'theirVersion', valueString: p.theirVersion },
                { url: 'base', valueString: p.base },
                ...p.resources.map((r) => ({
                  url: 'resource',
                  extension: [
                    { url: 'key', valueString: r.key },
                    { url: 'theirs', valueString: r.theirs },
                    { url: 'at', valueInstant: r.at },
                    { url: 'base', valueString: r.base },
                  ],
                })),
              ],
            })),
          ],
        },
      ],
    };
    await this.options.store.update(basic);
  }
}

export class UnknownPeerError extends Error {
  constructor(readonly peerId: string) {
    super(`No peer system "${peerId}" is configured here`);
  }
}

function stateId(peer: Peer): string {
  return `plan-sync-${peer.id}`.replace(/[^A-Za-z0-9\-.]/g, '-').slice(0, 64);
}

function part(ext: Extension | undefined, url: string): Extension | undefined {
  return ext?.extension?.find((e) => e.url === url);
}

function versionOf(resource: Resource): string {
  return `${resource.resourceType}/${resource.id ?? ''}/_history/${resource.meta?.versionId ?? ''}`;
}

/** The person a Goal, carer or consent is about. */
function personOf(resource: Resource): string | undefined {
  const r = resource as { subject?: { reference?: string }; patient?: { reference?: string } };
  const reference = r.subject?.reference ?? r.patient?.reference;
  return reference && /^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(reference) ? reference : undefined;
}

/** The errors `validate` finds in a pulled record's resources (the peer's Patient aside). */
function contentFaults(
  bundle: Bundle,
  validate: (resource: Resource) => OperationOutcome,
): SyncFault[] {
  const faults: SyncFault[] = [];
  for (const { resource } of bundle.entry ?? []) {
    if (!resource || resource.resourceType === 'Patient') continue;
    const result = validate(resource);
    if (!hasErrors(result)) continue;
    const version = `${resource.resourceType}/${resource.id ?? ''}/${resource.meta?.versionId ?? ''}`;
    for (const issue of result.issue)
      if (issue.severity === 'error' || issue.severity === 'fatal')
        faults.push({
          resourceType: resource.resourceType,
          code: issue.code,
          expression: issue.expression?.join(' | ') ?? '',
          version,
        });
  }
  return faults;
}

/**
 * The store's refusal to move a record to another person (a 409 at the element that says who,
 * person-of.ts), not its other 409s (another process holding the file: those fail the poll, which
 * is tried again).
 */
function isPersonConflict(err: unknown): boolean {
  if (statusOf(err) !== 409) return false;
  const expression = (err as { outcome?: OperationOutcome }).outcome?.issue?.[0]?.expression?.[0];
  return /\.(?:subject|for|patient)$/.test(expression ?? '');
}

function planKey(plan: CarePlan): string | undefined {
  const id = plan.identifier?.find((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM)?.value;
  return id ? `${CARE_PLAN_IDENTIFIER_SYSTEM}|${id}` : undefined;
}

function authHeader(peer: Peer): Record<string, string> {
  return peer.auth.type === 'bearer' ? { authorization: `Bearer ${peer.auth.token}` } : {};
}

/** Whether a CapabilityStatement lists Subscription with create (R4 `rest.resource`). */
export function subscriptionSupported(statement: unknown): boolean {
  const rest = (
    statement as { rest?: { resource?: { type?: string; interaction?: { code?: string }[] }[] }[] }
  )?.rest;
  return (rest ?? []).some((r) =>
    (r.resource ?? []).some(
      (res) =>
        res.type === 'Subscription' && (res.interaction ?? []).some((i) => i.code === 'create'),
    ),
  );
}

/**
 * The ids of the peer's CarePlans a notification names: entries' resources or fullUrls, and
 * R4B/backport `SubscriptionStatus` / `Parameters` notification events' `focus`.
 */
export function focusPlans(body: unknown, peer: Peer): string[] {
  const ids = new Set<string>();
  const add = (reference: string | undefined): void => {
    if (!reference) return;
    const relative = reference.startsWith(`${peer.baseUrl}/`)
      ? reference.slice(peer.baseUrl.length + 1)
      : reference;
    const match = /^CarePlan\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(relative);
    if (match?.[1]) ids.add(match[1]);
  };
  const visit = (resource: Resource | undefined, fullUrl?: string): void => {
    if (!resource) return add(fullUrl);
    if (resource.resourceType === 'CarePlan') return add(`CarePlan/${resource.id ?? ''}`);
    if (resource.resourceType === 'Bundle')
      for (const entry of (resource as Bundle).entry ?? []) visit(entry.resource, entry.fullUrl);
    if (resource.resourceType === 'SubscriptionStatus')
      for (const event of resource.notificationEvent ?? []) add(event.focus?.reference);
    if (resource.resourceType === 'Parameters')
      for (const p of resource.parameter ?? [])
        if (p.name === 'notification-event')
          for (const q of p.part ?? []) if (q.name === 'focus') add(q.valueReference?.reference);
    add(fullUrl);
  };
  if (typeof body === 'object' && body !== null) visit(body as Resource);
  return [...ids];
}
