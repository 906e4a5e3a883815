/**
 * Never lose an edit, beyond the plan itself: the Goals, carers (RelatedPerson) and Consent that
 * move with the plan are edited on both sides too (the community team rewords a Goal while the
 * ward records how far it has got), so they are merged three ways the way the plan is
 * (plan-three-way-merge.ts `mergeResources`), not overwritten.
 *
 * How, wherever one side's copies come into the other's store (a handover's receipt, deliver.ts;
 * a plan-sync pull, plan-sync.ts):
 * 1. The bundle only creates them where that store has none yet (`sharedCreatedOnly`: `POST` with
 *    `If-None-Exist` on the business identifier, or on `_id` for one going home), so what refers
 *    to them resolves and nothing the store holds is overwritten.
 * 2. Each one the store held already is read, merged three ways with the incoming version against
 *    a base — the version both last agreed on, which the caller finds (`SharedItem.base`) — and
 *    written back with `If-Match`, all in one transaction with a Provenance of the merge and, for
 *    each part both sides changed differently, a `resolve-plan-conflict` Task focused on that
 *    resource (its other version is in the Task; the store's version stays in place). A 412
 *    reads and merges again (3 times). Nothing is written when the merge leaves them as they are.
 *
 * The origin mark (`dialog-handover-origin`, `<sender>/<Type>/<id>/_history/<version>`) says which
 * version of the sender's a received copy came from; it is what later merges find their base by.
 * It is not merged as a part: a handover's receipt keeps the sender's mark, a pull keeps the
 * store's own (so two systems pulling from each other settle). A pull that changes a copy also
 * marks it with the peer's version it merged (`dialog-merged-from`), so the peer pulling back
 * merges against that version of its own rather than an older one (no false conflict).
 */
import type {
  Bundle,
  BundleEntry,
  Extension,
  Provenance,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { DIALOG_NAMESPACE, uuidV5 } from '../fhir/stable-id';
import { statusOf } from '../service/outcomes';
import type { FhirStore } from '../store/fhir-store';
import { mergeResources, sameContent, type PlanConflict } from './plan-three-way-merge';

/** The resources beside the plan that both systems edit and that are merged, not overwritten. */
export const SHARED_TYPES = ['Goal', 'RelatedPerson', 'Consent'] as const;
export type SharedType = (typeof SHARED_TYPES)[number];

export function isShared(type: string | undefined): type is SharedType {
  return (SHARED_TYPES as readonly string[]).includes(type ?? '');
}

/** Where a plan (or a resource beside it) was last sent from: the sender's version of it. */
export const HANDOVER_ORIGIN_EXTENSION =
  'https://dialog-fhir.org/fhir/StructureDefinition/dialog-handover-origin';

export const CONFLICT_CODE = {
  system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-task',
  code: 'resolve-plan-conflict',
};
export const CONFLICT_IDENTIFIER_SYSTEM = 'https://dialog-fhir.org/fhir/sid/plan-conflict';

const PLAN_RACE_ATTEMPTS = 3;

/**
 * On a copy a pull merged into: the other side's version it merged (`<peer>/<Type>/<id>/_history/
 * <version>`), written only when the merge changed the copy. The peer, pulling back, finds in it
 * the last version of its own both sides hold: the base of its merge.
 */
export const MERGED_FROM_EXTENSION =
  'https://dialog-fhir.org/fhir/StructureDefinition/dialog-merged-from';

/** The resource's origin mark (or, with `url`, its merged-from mark), if any. */
export function markOf(
  resource: Resource,
  url: string = HANDOVER_ORIGIN_EXTENSION,
): Extension | undefined {
  return (resource as { extension?: Extension[] }).extension?.find((e) => e.url === url);
}

/** The resource with `mark` as its only origin mark (none when `mark` is undefined). */
export function withMark<T extends Resource>(
  resource: T,
  mark: Extension | undefined,
  url: string = HANDOVER_ORIGIN_EXTENSION,
): T {
  const { extension, ...rest } = resource as T & { extension?: Extension[] };
  const kept = (extension ?? []).filter((e) => e.url !== url);
  const all = mark ? [...kept, mark] : kept;
  return (all.length > 0 ? { ...rest, extension: all } : rest) as T;
}

/** The resource without either mark: what is merged. */
export function unmarked<T extends Resource>(resource: T): T {
  return withMark(withMark(resource, undefined), undefined, MERGED_FROM_EXTENSION);
}

/** The resource marked with the version of it that leaves `selfBaseUrl`. */
export function withOriginMark<T extends Resource>(resource: T, selfBaseUrl: string): T {
  const type = resource.resourceType;
  return withMark(resource, {
    url: HANDOVER_ORIGIN_EXTENSION,
    // A URI, not a Reference: handover bundles rewrite references, and this must stay as sent.
    valueUri: `${selfBaseUrl}/${type}/${resource.id ?? ''}/_history/${resource.meta?.versionId ?? ''}`,
  });
}

/** The sender's resource a mark names, when the sender is `baseUrl`: its type, id and version. */
export function markedVersion(
  resource: Resource | undefined,
  baseUrl: string,
  url: string = HANDOVER_ORIGIN_EXTENSION,
): { readonly id: string; readonly versionId: string } | undefined {
  const uri = resource ? markOf(resource, url)?.valueUri : undefined;
  const prefix = `${baseUrl}/${resource?.resourceType ?? ''}/`;
  if (!uri?.startsWith(prefix)) return undefined;
  const match = /^([A-Za-z0-9\-.]{1,64})\/_history\/([A-Za-z0-9\-.]{1,64})$/.exec(
    uri.slice(prefix.length),
  );
  return match?.[1] && match[2] ? { id: match[1], versionId: match[2] } : undefined;
}

/**
 * Step 1's bundle with the shared resources only created where the store has none (see the
 * header); also gives the index of each shared entry.
 */
export function sharedCreatedOnly(bundle: Bundle): { bundle: Bundle; shared: number[] } {
  const shared: number[] = [];
  const entry = (bundle.entry ?? []).map((e, i) => {
    const type = e.resource?.resourceType;
    if (!isShared(type) || e.request?.method !== 'PUT') return e;
    shared.push(i);
    const url = e.request.url;
    const condition = url.includes('?')
      ? url.slice(url.indexOf('?') + 1)
      : `_id=${url.slice(url.indexOf('/') + 1)}`;
    return { ...e, request: { method: 'POST' as const, url: type, ifNoneExist: condition } };
  });
  return { bundle: { ...bundle, entry }, shared };
}

/** The store's id of what entry `index` of a transaction wrote or matched, from its response. */
export function appliedId(applied: Bundle, index: number): string | undefined {
  const location = applied.entry?.[index]?.response?.location ?? '';
  return /[A-Z][A-Za-z]+\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(location)?.[1];
}

/** The resource entry `index` of a transaction answered with, when it is that resource's version. */
export function appliedResource(applied: Bundle, index: number): Resource | undefined {
  const entry = applied.entry?.[index];
  const resource = entry?.resource;
  const id = appliedId(applied, index);
  return resource?.id === id && resource?.meta?.versionId ? resource : undefined;
}

/** Whether entry `index` of a transaction created its resource (rather than finding one). */
export function appliedCreated(applied: Bundle, index: number): boolean {
  return (applied.entry?.[index]?.response?.status ?? '').startsWith('201');
}

export interface SharedItem {
  readonly type: SharedType;
  /** Its id in the store merged into. */
  readonly id: string;
  /** The other side's version, in the store's terms (references to the store's resources). */
  readonly incoming: Resource;
  /**
   * The store's current version as a transaction just answered it (saves a read; read again
   * after a 412).
   */
  readonly current?: Resource;
  /** The version both last agreed on, in the store's terms, given the store's current one. */
  readonly base: (current: Resource) => Promise<Resource | undefined>;
  /** A pull: the other side's version merged, recorded when the merge writes (see above). */
  readonly mergedFrom?: string;
}

export interface SharedMergeOptions {
  readonly now: () => Date;
  /** Whose origin mark the merged resource keeps (see the header). */
  readonly keepMark: 'incoming' | 'current';
  /** Who merged, for the Provenance (e.g. 'Handover', 'Plan sync'). */
  readonly activity: string;
}

export interface SharedMergeReport {
  /** Resources written (changed by the merge). */
  readonly written: number;
  readonly conflicts: number;
}

/**
 * Step 2 (see the header): each item merged into the store's current version and written with
 * If-Match, in one transaction with its Provenance and conflict Tasks; again after a 412.
 */
export async function writeMergedResources(
  store: FhirStore,
  items: readonly SharedItem[],
  options: SharedMergeOptions,
): Promise<SharedMergeReport> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await mergeAndWrite(store, items, options, attempt === 1);
    } catch (err) {
      if (statusOf(err) !== 412 || attempt >= PLAN_RACE_ATTEMPTS) throw err;
    }
  }
}

/**
 * The store's current version of each item, by `Type/id`: as the transaction answered it, else
 * (after a 412) read again — one read each, within the scopes a handover already needs.
 */
async function currentVersions(
  store: FhirStore,
  items: readonly SharedItem[],
  trustGiven: boolean,
): Promise<Map<string, Resource>> {
  const found = new Map<string, Resource>();
  for (const item of items) {
    const current =
      trustGiven && item.current
        ? item.current
        : ((await store.read(item.type, item.id).catch((err: unknown) => {
            if (statusOf(err) === 404 || statusOf(err) === 410) return undefined;
            throw err;
          })) as Resource | undefined);
    if (current) found.set(`${item.type}/${item.id}`, current);
  }
  return found;
}

async function mergeAndWrite(
  store: FhirStore,
  items: readonly SharedItem[],
  options: SharedMergeOptions,
  trustGiven: boolean,
): Promise<SharedMergeReport> {
  const now = options.now();
  const currents = await currentVersions(store, items, trustGiven);
  const writes: BundleEntry[] = [];
  const tasks: BundleEntry[] = [];
  const targets: { reference: string }[] = [];
  const subjects = new Set<string>();
  let conflictCount = 0;
  for (const item of items) {
    const current = currents.get(`${item.type}/${item.id}`);
    if (!current) continue; // gone since step 1: nothing of the store's to keep
    const base = await item.base(current);
    const { merged, conflicts } = mergeResources<Resource>({
      ...(base ? { base: unmarked(base) } : {}),
      local: unmarked(item.incoming),
      remote: unmarked(current),
    });
    const mark = markOf(options.keepMark === 'incoming' ? item.incoming : current);
    let result = withMark(
      withMark(merged, mark),
      markOf(current, MERGED_FROM_EXTENSION),
      MERGED_FROM_EXTENSION,
    );
    if (conflicts.length === 0 && sameContent(result, current)) continue;
    if (item.mergedFrom)
      result = withMark(
        result,
        { url: MERGED_FROM_EXTENSION, valueUri: item.mergedFrom },
        MERGED_FROM_EXTENSION,
      );
    const fullUrl = `urn:uuid:${uuidV5(`shared-merge|${item.type}/${item.id}`, DIALOG_NAMESPACE)}`;
    writes.push({
      fullUrl,
      resource: { ...result, id: item.id },
      request: {
        method: 'PUT',
        url: `${item.type}/${item.id}`,
        ifMatch: `W/"${current.meta?.versionId ?? ''}"`,
      },
    });
    targets.push({ reference: fullUrl });
    const subject = subjectOf(current);
    if (subject) subjects.add(subject);
    tasks.push(
      ...conflictTaskEntries({
        focus: fullUrl,
        ...(subject ? { subject } : {}),
        identity: `${item.type}|${identityOf(current)}`,
        conflicts,
        now,
      }),
    );
    conflictCount += conflicts.length;
  }
  if (writes.length === 0) return { written: 0, conflicts: 0 };
  const types = [...new Set(items.map((i) => i.type))].join(', ');
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [...targets, ...[...subjects].map((reference) => ({ reference }))],
    recorded: now.toISOString(),
    activity: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' },
      ],
      text:
        conflictCount > 0
          ? `${options.activity}: ${types} merged; ${conflictCount} conflicting change(s) kept for a clinician to resolve`
          : `${options.activity}: ${types} merged`,
    },
    agent: [{ who: { display: `dialog-fhir ${options.activity.toLowerCase()}` } }],
  };
  await store.transaction({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      ...writes,
      { resource: provenance, request: { method: 'POST', url: 'Provenance' } },
      ...tasks,
    ],
  });
  return { written: writes.length, conflicts: conflictCount };
}

function subjectOf(resource: Resource): string | undefined {
  const r = resource as { subject?: { reference?: string }; patient?: { reference?: string } };
  return r.subject?.reference ?? r.patient?.reference;
}

/** The business identifier the resource is known by (else its id): names its conflicts. */
function identityOf(resource: Resource): string {
  const ids = (resource as { identifier?: { system?: string; value?: string }[] }).identifier;
  const first = Array.isArray(ids) ? ids.find((i) => i.value) : undefined;
  return first ? `${first.system ?? ''}|${first.value ?? ''}` : (resource.id ?? '');
}

/** A side's version of a conflicting part as a Task input (none when that side has none). */
function version(text: string, value: unknown): NonNullable<Task['input']> {
  return value === undefined ? [] : [{ type: { text }, valueString: JSON.stringify(value) }];
}

/**
 * One Task per conflict, for a clinician of the store written to to resolve (see README): the
 * part, the sending system's version, this system's (left in place) and the one both last agreed
 * on. Created once per part and sending version, however often the same merge runs.
 */
export function conflictTaskEntries(input: {
  readonly focus: string;
  readonly subject?: string;
  /** What names the merged resource everywhere (its business identifier). */
  readonly identity: string;
  readonly conflicts: readonly PlanConflict[];
  readonly now: Date;
}): BundleEntry[] {
  return input.conflicts.map((conflict) => {
    const key = uuidV5(
      `conflict|${input.identity}|${conflict.part}|${JSON.stringify(conflict.local)}`,
      DIALOG_NAMESPACE,
    );
    const task: Task = {
      resourceType: 'Task',
      identifier: [{ system: CONFLICT_IDENTIFIER_SYSTEM, value: key }],
      status: 'requested',
      intent: 'order',
      code: { coding: [CONFLICT_CODE], text: 'Resolve a conflicting change to the care plan' },
      description: conflict.message,
      focus: { reference: input.focus },
      ...(input.subject ? { for: { reference: input.subject } } : {}),
      authoredOn: input.now.toISOString(),
      input: [
        { type: { text: 'part' }, valueString: conflict.part },
        ...version('the sending system’s version', conflict.local),
        ...version('this system’s version', conflict.remote),
        ...version('the version both last agreed on', conflict.base),
      ],
    };
    return {
      resource: task,
      request: {
        method: 'POST',
        url: 'Task',
        ifNoneExist: `identifier=${CONFLICT_IDENTIFIER_SYSTEM}|${key}`,
      },
    };
  });
}
