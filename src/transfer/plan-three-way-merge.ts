/**
 * Never lose an edit: merging the one care plan when both systems changed it while it was shared.
 *
 * `mergePlans({ base, local, remote })`: `remote` is the destination's current plan, `local` ours,
 * `base` the version both last agreed on (absent at first contact). The plan is cut into parts,
 * each with a stable key, and each part is merged on its own. `mergeResources` applies the same
 * rules to the other resources both systems edit — Goals, carers (RelatedPerson), Consent
 * (shared-merge.ts) — with paths named by their type; the activity copies and the one open
 * responsible service are the plan's alone.
 *
 * | part | key |
 * |---|---|
 * | each activity | its `id`; else its section code + description (+ `#n` for repeats) |
 * | each extension (and modifierExtension) | its URL, plus for repeating ones: a carer by the carer reference, a review due by setting, a responsible service by organisation + period start, a Goal's DIALOG+ step by step code; an extension of unknown URL by its whole content |
 * | each item of another list (goal, addresses, supportingInfo, contributor, careTeam, basedOn, replaces, partOf, category, identifier, instantiates…) | its reference, else its identifier, else its content; the plan's own care-plan identifier by its system alone |
 * | each note | time + text |
 * | each value of a repeating primitive (instantiatesUri…), with its `_x` entry (ids, extensions) | its value; a value-less entry by its `_x` content |
 * | every other element (status, intent, title, description, period, created, author, subject, text, …) | its name |
 *
 * For each key, with b / l / r the part in base / local / remote (possibly absent):
 * - l = r: that (the same change on both sides, or no change).
 * - l = b: r (only the remote changed it, added it or removed it).
 * - r = b: l (only we changed, added or removed it).
 * - otherwise a conflict (`PlanConflict`, with a FHIRPath to the part): the remote's version stays
 *   in place; where both exist, an activity's local version is added alongside it as a copy with a
 *   new stable id and the `dialog-conflicting-copy` extension (naming the activity it differs
 *   from); any other part keeps the remote's version and the local one is in the conflict only
 *   (one of a 0..1 element cannot hold two). Removed on one side and changed on the other: the
 *   changed one is kept. Without a base every part present on both sides with different content
 *   is a conflict, and everything else is a union.
 * After merging, at most one responsible service may be open (dlg-plan-2): a local open service
 * beside the remote's is dropped from the plan and raised as a conflict.
 *
 * The narrative (`text`) is not merged: it is generated from the rest (a receiving dialog-fhir
 * writes a fresh one), so merging it would only raise false conflicts. The merged plan keeps the
 * remote's narrative when the merged content is the remote's, the local one when it is the
 * local's, and none otherwise.
 *
 * Equality is of content (key order ignored). The result is deterministic: when the remote is
 * the base the local plan comes back as it is (and the other way round); otherwise parts follow
 * the remote's order, then what only the local side added, in its order. `id` and `meta` are the
 * remote's (`meta.profile` a union). Merging the result again with the same local and base changes
 * nothing (the copies' ids are derived from their content).
 */
import type { CarePlan, CarePlanActivity, Extension, Resource } from '@medplum/fhirtypes';
import { canonicalJson } from '../fhir/canonical-json';
import { BASE, CARE_PLAN_IDENTIFIER_SYSTEM, Extensions } from '../fhir/canonical';
import { DIALOG_NAMESPACE, uuidV5 } from '../fhir/stable-id';

/** Marks an activity that is the local side's version of one both sides changed differently. */
export const CONFLICTING_COPY_EXTENSION = `${BASE}/StructureDefinition/dialog-conflicting-copy`;

export interface PlanConflict {
  /** FHIRPath to the part in the plan, e.g. `CarePlan.activity.where(id='a1')`. */
  readonly part: string;
  /** The part in the agreed version (absent: it was not there, or there is no base). */
  readonly base?: unknown;
  /** Our version (absent: we removed it). */
  readonly local?: unknown;
  /** The destination's version (absent: it removed it). */
  readonly remote?: unknown;
  /** What happened, for a clinician. */
  readonly message: string;
}

export interface PlanMergeInput {
  readonly base?: CarePlan;
  readonly local: CarePlan;
  readonly remote: CarePlan;
}

export interface PlanMergeResult {
  readonly merged: CarePlan;
  readonly conflicts: PlanConflict[];
}

// ---- content equality -----------------------------------------------------------------------

export { canonicalJson };

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** A FHIRPath string literal. */
function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

// ---- keys -----------------------------------------------------------------------------------

interface Part {
  readonly key: string;
  /** FHIRPath to the part. */
  readonly path: string;
  readonly value: unknown;
}

type Json = Record<string, unknown>;

function subValue(extension: Extension, url: string): Json | undefined {
  return extension.extension?.find((e) => e.url === url) as Json | undefined;
}

function refOf(value: unknown): string | undefined {
  const ref = (value as { reference?: unknown } | undefined)?.reference;
  return typeof ref === 'string' ? ref : undefined;
}

function extensionPart(type: string, list: string, extension: Extension): Omit<Part, 'value'> {
  const url = extension.url;
  const at = `${type}.${list}.where(url = ${literal(url)}`;
  if (url === Extensions.carer) {
    const carer = refOf(subValue(extension, 'carer')?.valueReference) ?? '';
    return {
      key: `${url}|${carer}`,
      path: `${at} and extension.where(url = 'carer').value.reference = ${literal(carer)})`,
    };
  }
  if (url === Extensions.reviewDue) {
    const setting = (subValue(extension, 'setting')?.valueCoding as { code?: string } | undefined)
      ?.code;
    return {
      key: `${url}|${setting ?? ''}`,
      path: `${at} and extension.where(url = 'setting').value.code = ${literal(setting ?? '')})`,
    };
  }
  if (url === Extensions.responsibleService) {
    const org = refOf(subValue(extension, 'organization')?.valueReference) ?? '';
    const start =
      (subValue(extension, 'period')?.valuePeriod as { start?: string } | undefined)?.start ?? '';
    return {
      key: `${url}|${org}|${start}`,
      path: `${at} and extension.where(url = 'organization').value.reference = ${literal(org)} and extension.where(url = 'period').value.start = ${literal(start)})`,
    };
  }
  if (url === Extensions.plusStep) {
    const code = (subValue(extension, 'step')?.valueCoding as { code?: string } | undefined)?.code;
    return {
      key: `${url}|${code ?? ''}`,
      path: `${at} and extension.where(url = 'step').value.code = ${literal(code ?? '')})`,
    };
  }
  if (
    url === Extensions.keyWorker ||
    url === Extensions.deliveryPreference ||
    url === Extensions.measure
  )
    return { key: url, path: `${at})` };
  // Unknown extensions may repeat: each distinct one is a part of its own.
  return { key: `${url}|${canonicalJson(extension)}`, path: `${at})` };
}

function activityPart(activity: CarePlanActivity): Omit<Part, 'value'> {
  if (activity.id)
    return {
      key: `id|${activity.id}`,
      path: `CarePlan.activity.where(id = ${literal(activity.id)})`,
    };
  const coding = activity.detail?.code?.coding?.[0];
  const description = activity.detail?.description ?? '';
  if (coding || description)
    return {
      key: `detail|${coding?.system ?? ''}|${coding?.code ?? ''}|${description}`,
      path: `CarePlan.activity.where(detail.description = ${literal(description)})`,
    };
  const ref = refOf(activity.reference);
  if (ref)
    return {
      key: `reference|${ref}`,
      path: `CarePlan.activity.where(reference.reference = ${literal(ref)})`,
    };
  return { key: `content|${canonicalJson(activity)}`, path: 'CarePlan.activity' };
}

function listItemPart(type: string, list: string, item: unknown): Omit<Part, 'value'> {
  const at = `${type}.${list}`;
  if (typeof item === 'string')
    return { key: `value|${item}`, path: `${at}.where($this = ${literal(item)})` };
  const record = (item ?? {}) as Json;
  const ref = refOf(record);
  if (ref) return { key: `reference|${ref}`, path: `${at}.where(reference = ${literal(ref)})` };
  const identifier = (list === 'identifier' ? record : record.identifier) as Json | undefined;
  const system = typeof identifier?.system === 'string' ? identifier.system : '';
  const value = typeof identifier?.value === 'string' ? identifier.value : '';
  if (list === 'identifier' && system === CARE_PLAN_IDENTIFIER_SYSTEM)
    return { key: 'plan-identifier', path: `${at}.where(system = ${literal(system)})` };
  if (value) {
    const where =
      list === 'identifier'
        ? `system = ${literal(system)} and value = ${literal(value)}`
        : `identifier.system = ${literal(system)} and identifier.value = ${literal(value)}`;
    return { key: `identifier|${system}|${value}`, path: `${at}.where(${where})` };
  }
  return { key: `content|${canonicalJson(item)}`, path: at };
}

function notePart(type: string, note: unknown): Omit<Part, 'value'> {
  const { time, text } = (note ?? {}) as { time?: string; text?: string };
  return {
    key: `${time ?? ''}|${text ?? ''}`,
    path: `${type}.note.where(${time ? `time = @${time} and ` : ''}text = ${literal(text ?? '')})`,
  };
}

/** The parts of one list, keyed; a key repeated within the list gets `#n`. */
function partsOf(type: string, list: string, items: readonly unknown[]): Part[] {
  const seen = new Map<string, number>();
  return items.map((value) => {
    const named = isPair(value)
      ? pairPart(type, list, value)
      : type === 'CarePlan' && list === 'activity'
        ? activityPart(value as CarePlanActivity)
        : list === 'extension' || list === 'modifierExtension'
          ? extensionPart(type, list, value as Extension)
          : list === 'note'
            ? notePart(type, value)
            : listItemPart(type, list, value);
    const n = seen.get(named.key) ?? 0;
    seen.set(named.key, n + 1);
    return n === 0 ? { ...named, value } : { key: `${named.key}#${n}`, path: named.path, value };
  });
}

// ---- repeating primitives and their `_x` -------------------------------------------------------

/**
 * One value of a repeating primitive with its `_x` entry (R4 JSON keeps a value's id and
 * extensions in a parallel `_x` list, `null` on the side that has none): merged as one part, so
 * an extension stays with its value whatever each side added or removed.
 */
interface PrimitivePair {
  readonly '@pair': readonly [unknown, unknown];
}

function isPair(value: unknown): value is PrimitivePair {
  return typeof value === 'object' && value !== null && '@pair' in value;
}

/** A pair is keyed by its value, or by its `_x` entry when it has none. */
function pairPart(type: string, list: string, pair: PrimitivePair): Omit<Part, 'value'> {
  const [value, extra] = pair['@pair'];
  if (typeof value === 'string') return listItemPart(type, list, value);
  if (value !== null) return { key: `value|${canonicalJson(value)}`, path: `${type}.${list}` };
  return { key: `extra|${canonicalJson(extra)}`, path: `${type}.${list}` };
}

/** `x` and `_x` of one side as a list of pairs; undefined when neither is a list. */
function zipPairs(values: unknown, extras: unknown): PrimitivePair[] | undefined {
  const v = asList(values);
  const x = asList(extras);
  if (!v && !x) return undefined;
  const length = Math.max(v?.length ?? 0, x?.length ?? 0);
  return Array.from({ length }, (_, i) => ({ '@pair': [v?.[i] ?? null, x?.[i] ?? null] }));
}

/** The merged pairs back as `x` and `_x` (either left out when it would hold only nulls). */
function unzipPairs(name: string, pairs: readonly unknown[], into: Json): void {
  const both = pairs.filter(isPair).map((p) => p['@pair']);
  const values = both.map(([v]) => v);
  const extras = both.map(([, x]) => x);
  if (values.some((v) => v !== null)) into[name] = values;
  if (extras.some((x) => x !== null)) into[`_${name}`] = extras;
}

/** A conflict over a pair, told in FHIR JSON's terms: the value, with `_value` when it has one. */
function unpairedConflict(conflict: PlanConflict): PlanConflict {
  const unpaired = (part: unknown): unknown => {
    if (!isPair(part)) return part;
    const [value, extra] = part['@pair'];
    return extra === null ? value : { value, _value: extra };
  };
  const { base, local, remote, ...rest } = conflict;
  return {
    ...rest,
    ...(base !== undefined ? { base: unpaired(base) } : {}),
    ...(local !== undefined ? { local: unpaired(local) } : {}),
    ...(remote !== undefined ? { remote: unpaired(remote) } : {}),
  };
}

/** Whether `name` is a repeating primitive some side gives an `_x` list for. */
function hasPairedList(name: string, sides: readonly Json[]): boolean {
  return sides.some((side) => Array.isArray(side[`_${name}`]));
}

// ---- merging --------------------------------------------------------------------------------

/** Elements never merged as parts: identity, server bookkeeping and the generated narrative. */
const NOT_PARTS = new Set(['resourceType', 'id', 'meta', 'text']);

/** What a resource says, without identity, server bookkeeping or the generated narrative. */
export function resourceContent(resource: Resource): unknown {
  const record = resource as unknown as Json;
  return Object.fromEntries(
    Object.keys(record)
      .filter((name) => name === 'resourceType' || !NOT_PARTS.has(name))
      .map((name) => [name, record[name]]),
  );
}

/** Whether two resources say the same (see resourceContent). */
export function sameContent(a: Resource, b: Resource): boolean {
  return same(resourceContent(a), resourceContent(b));
}

/** What a plan says, without identity, server bookkeeping or the generated narrative. */
export function planContent(plan: CarePlan): unknown {
  return resourceContent(plan);
}

/** Whether two plans say the same (see planContent). */
export function samePlanContent(a: CarePlan, b: CarePlan): boolean {
  return sameContent(a, b);
}

function asList(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}

/** What happened to one part; `keep` lists what the merged plan holds for it, in order. */
interface Resolution {
  readonly keep: unknown[];
  readonly conflict?: PlanConflict;
}

function describe(path: string, b: unknown, l: unknown, r: unknown, hasBase: boolean): string {
  if (l === undefined)
    return `${path}: this system removed it while the other changed it; the changed version is kept`;
  if (r === undefined)
    return `${path}: the other system removed it while this system changed it; the changed version is kept`;
  if (!hasBase || b === undefined)
    return `${path}: both systems hold it with different content; the other system's version is kept in place`;
  return `${path}: both systems changed it differently; the other system's version is kept in place`;
}

function conflictOf(
  path: string,
  b: unknown,
  l: unknown,
  r: unknown,
  hasBase: boolean,
): PlanConflict {
  return {
    part: path,
    ...(b !== undefined ? { base: b } : {}),
    ...(l !== undefined ? { local: l } : {}),
    ...(r !== undefined ? { remote: r } : {}),
    message: describe(path, b, l, r, hasBase),
  };
}

/** The local activity as a conflicting copy, beside the remote's version. */
function conflictingCopy(activity: CarePlanActivity, of: string): CarePlanActivity {
  const { extension, ...rest } = activity;
  const id = `conflict-${uuidV5(`activity-copy|${of}|${canonicalJson(activity)}`, DIALOG_NAMESPACE)}`;
  return {
    ...rest,
    id,
    extension: [...(extension ?? []), { url: CONFLICTING_COPY_EXTENSION, valueString: of }],
  };
}

function isActivities(type: string, list: string): boolean {
  return type === 'CarePlan' && list === 'activity';
}

function resolve(
  type: string,
  list: string,
  path: string,
  b: unknown,
  l: unknown,
  r: unknown,
  hasBase: boolean,
): Resolution {
  const present = (v: unknown): unknown[] => (v === undefined ? [] : [v]);
  if (same(l, r)) return { keep: present(l) };
  if (hasBase && same(l, b)) return { keep: present(r) };
  if (hasBase && same(r, b)) return { keep: present(l) };
  if (!hasBase && (l === undefined || r === undefined)) return { keep: present(l ?? r) };
  const conflict = conflictOf(path, b, l, r, hasBase);
  if (l === undefined || r === undefined) return { keep: present(l ?? r), conflict };
  if (isActivities(type, list)) {
    const of = (r as CarePlanActivity).id ?? path;
    return { keep: [r, conflictingCopy(l as CarePlanActivity, of)], conflict };
  }
  return { keep: [r], conflict };
}

function mergeList(
  type: string,
  list: string,
  base: readonly unknown[] | undefined,
  local: readonly unknown[] | undefined,
  remote: readonly unknown[] | undefined,
  hasBase: boolean,
  conflicts: PlanConflict[],
): unknown[] {
  const b = new Map(partsOf(type, list, base ?? []).map((p) => [p.key, p]));
  const lParts = partsOf(type, list, local ?? []);
  const l = new Map(lParts.map((p) => [p.key, p]));
  const rParts = partsOf(type, list, remote ?? []);
  const r = new Map(rParts.map((p) => [p.key, p]));
  // The remote's order, then what only the local side holds, then what only the base held.
  const keys = [
    ...new Set([...rParts.map((p) => p.key), ...lParts.map((p) => p.key), ...b.keys()]),
  ];
  const out: unknown[] = [];
  const ids = new Set<string>();
  for (const key of keys) {
    const path = r.get(key)?.path ?? l.get(key)?.path ?? b.get(key)?.path ?? `${type}.${list}`;
    const { keep, conflict } = resolve(
      type,
      list,
      path,
      b.get(key)?.value,
      l.get(key)?.value,
      r.get(key)?.value,
      hasBase,
    );
    if (conflict) conflicts.push(conflict);
    for (const item of keep) {
      const id = isActivities(type, list) ? (item as CarePlanActivity).id : undefined;
      if (id !== undefined) {
        if (ids.has(id)) continue; // a copy from an earlier merge, already there
        ids.add(id);
      }
      out.push(item);
    }
  }
  return out;
}

function isOpenService(extension: unknown): boolean {
  const e = extension as Extension;
  if (e.url !== Extensions.responsibleService) return false;
  const period = subValue(e, 'period')?.valuePeriod as { end?: string } | undefined;
  return !period?.end;
}

/** dlg-plan-2: one open responsible service; a local one beside the remote's goes to a conflict. */
function oneOpenService(
  extensions: unknown[],
  remote: readonly unknown[] | undefined,
  conflicts: PlanConflict[],
): unknown[] {
  const open = extensions.filter(isOpenService);
  if (open.length <= 1) return extensions;
  const remoteOpen = (remote ?? []).filter(isOpenService).map(canonicalJson);
  if (remoteOpen.length === 0) return extensions;
  return extensions.filter((e) => {
    if (!isOpenService(e) || remoteOpen.includes(canonicalJson(e))) return true;
    const { path } = extensionPart('CarePlan', 'extension', e as Extension);
    conflicts.push({
      part: path,
      local: e,
      message: `${path}: this system made a different service responsible than the other system did; only one can hold the plan, so the other system's is kept`,
    });
    return false;
  });
}

function mergeMeta(local: Resource, remote: Resource): Resource['meta'] {
  if (!remote.meta && !local.meta) return undefined;
  const profile = [...new Set([...(remote.meta?.profile ?? []), ...(local.meta?.profile ?? [])])];
  return { ...remote.meta, ...(profile.length > 0 ? { profile } : {}) };
}

export interface ResourceMergeInput<T extends Resource> {
  readonly base?: T;
  readonly local: T;
  readonly remote: T;
}

export interface ResourceMergeResult<T extends Resource> {
  readonly merged: T;
  readonly conflicts: PlanConflict[];
}

/**
 * The three-way merge of any resource both systems edit (the plan, its Goals, carers, consent),
 * by the rules of the module header: every list item and every other element is a part of its
 * own, merged on its own; overlapping changes keep the remote's version in place and the local
 * one in the conflict (a CarePlan activity: beside it, as a marked copy).
 */
export function mergeResources<T extends Resource>(
  input: ResourceMergeInput<T>,
): ResourceMergeResult<T> {
  const { base, local, remote } = input;
  if (base && sameContent(remote, base)) return { merged: structuredClone(local), conflicts: [] };
  if (base && sameContent(local, base)) return { merged: structuredClone(remote), conflicts: [] };
  const type = remote.resourceType;
  const hasBase = base !== undefined;
  const b = (base ?? {}) as unknown as Json;
  const l = local as unknown as Json;
  const r = remote as unknown as Json;
  const conflicts: PlanConflict[] = [];
  const merged: Json = { resourceType: type };
  if (remote.id !== undefined) merged.id = remote.id;
  const meta = mergeMeta(local, remote);
  if (meta) merged.meta = meta;
  const sides = [b, l, r];
  const all = [...new Set([...Object.keys(r), ...Object.keys(l), ...Object.keys(b)])];
  // An `_x` list is merged with its `x` (as pairs), never on its own.
  const names = [
    ...new Set(
      all.map((k) => (k.startsWith('_') && hasPairedList(k.slice(1), sides) ? k.slice(1) : k)),
    ),
  ].filter((k) => !NOT_PARTS.has(k));
  for (const name of names) {
    if (hasPairedList(name, sides)) {
      const [bp, lp, rp] = sides.map((side) => zipPairs(side[name], side[`_${name}`]));
      const found: PlanConflict[] = [];
      unzipPairs(name, mergeList(type, name, bp, lp, rp, hasBase, found), merged);
      conflicts.push(...found.map(unpairedConflict));
      continue;
    }
    const lists = [b[name], l[name], r[name]].map(asList);
    const isList = [b[name], l[name], r[name]].every((v) => v === undefined || Array.isArray(v));
    if (isList) {
      let list = mergeList(type, name, lists[0], lists[1], lists[2], hasBase, conflicts);
      if (type === 'CarePlan' && name === 'extension')
        list = oneOpenService(list, lists[2], conflicts);
      if (list.length > 0) merged[name] = list;
      continue;
    }
    const { keep, conflict } = resolve(
      type,
      name,
      `${type}.${name}`,
      b[name],
      l[name],
      r[name],
      hasBase,
    );
    if (conflict) conflicts.push(conflict);
    if (keep[0] !== undefined) merged[name] = keep[0];
  }
  const result = merged as unknown as T;
  const text = sameContent(result, remote)
    ? (remote as { text?: unknown }).text
    : sameContent(result, local)
      ? (local as { text?: unknown }).text
      : undefined;
  return { merged: (text ? { ...result, text } : result) as T, conflicts };
}

/** The three-way merge of the one plan (see the module header). */
export function mergePlans(input: PlanMergeInput): PlanMergeResult {
  return mergeResources<CarePlan>(input);
}
