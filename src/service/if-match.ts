/**
 * `If-Match: *`, one rule for every update (PUT Type/id, conditional PUT Type?search, a PUT entry
 * of a transaction or batch, a DIALOG session): HTTP's (RFC 9110 §13.1.1), "only if a current
 * version exists". With none, the update is a 412 and nothing is written (it would have been a
 * create); with one, the update is made as if If-Match were absent. FHIR's own form,
 * `W/"<versionId>"`, still means "only if this is the current version".
 *
 * `PUT Type/id`: checking and then writing without a condition is exact, because nothing this
 * service serves can be deleted, so a version found stays current or is followed by a newer one.
 * `PUT Type?search` is not: another write can take the one match off the condition between the
 * check and the write, and a conditional update then finding nothing would create. So the match
 * is resolved to its id and version and written as `PUT Type/id` with `If-Match: W/"<version>"`
 * (`soleMatch`): the write lands only on that resource, and only while it is as it was found.
 * When it was changed meanwhile, a `PUT` alone finds its match again (FhirService.updateSoleMatch);
 * a transaction entry is a 412 at the entry, as the transaction is applied by its caller.
 */
import type { Bundle, BundleEntry, Resource, ResourceType } from '@medplum/fhirtypes';
import type { EntryRequest, FhirStore } from '../store';
import { fault, type HttpOutcomeError } from './outcomes';
import { safeDecode, storedOrUndefined, upToTwoMatches } from './references';

/**
 * Whether an If-Match asks only that a current version exist (`*`). Takes anything: a Bundle's
 * `request.ifMatch` is unchecked JSON here, and its faults are reported where entries are parsed.
 */
export function isAnyVersion(ifMatch: unknown): boolean {
  return typeof ifMatch === 'string' && ifMatch.trim() === '*';
}

/** The If-Match to write with: none for `*` (checked by the caller), else as sent. */
export function versionCondition(ifMatch: string | undefined): string | undefined {
  return isAnyVersion(ifMatch) ? undefined : ifMatch;
}

/** The 412 for `If-Match: *` with nothing stored to match. */
export function noCurrentVersion(where: string): HttpOutcomeError {
  return fault(
    412,
    'not-found',
    'If-Match: * asks to update a stored resource, and there is none: nothing was written (send the write without If-Match to create it)',
    where,
  );
}

/** Where a conditional update's parts are, for its faults. */
export interface ConditionPlaces {
  /** The condition (several matches). */
  readonly condition: string;
  /** The If-Match (no match). */
  readonly ifMatch: string;
  /** The body's id (not the match's). */
  readonly id: string;
}

/**
 * The one stored resource `condition` matches now, for `If-Match: *`: none is the 412 for no
 * current version, several the 412 multiple-matches a conditional update answers, and a body id
 * (`bodyId`) that is not the match's a 400, as the stores answer it.
 */
export async function soleMatch(
  store: FhirStore,
  type: ResourceType,
  condition: string,
  where: ConditionPlaces,
  bodyId: string | undefined,
): Promise<Resource & { id: string }> {
  const matches = await upToTwoMatches(store, type, condition);
  if (matches.length > 1)
    throw fault(
      412,
      'multiple-matches',
      'The condition matches more than one resource',
      where.condition,
    );
  const match = matches[0];
  if (match?.id === undefined) throw noCurrentVersion(where.ifMatch);
  if (bodyId !== undefined && bodyId !== match.id)
    throw fault(
      400,
      'invalid',
      'The resource id differs from the resource the condition found',
      where.id,
    );
  return match as Resource & { id: string };
}

/** `W/"<versionId>"` of a stored resource; none when its store keeps no versions. */
export function versionOf(resource: Resource): string | undefined {
  const version = resource.meta?.versionId;
  return version !== undefined ? `W/"${version}"` : undefined;
}

/**
 * The transaction Bundle with `If-Match: *` taken off its `PUT` entries, and those entries'
 * indexes: the entries are then checked as any other (type, scopes), and their targets with
 * `checkAnyVersionTargets` before the write, which gives the Bundle to write.
 */
export function withoutAnyVersion(bundle: Bundle): { bundle: Bundle; anyVersion: number[] } {
  const entries = bundle.entry;
  if (!Array.isArray(entries)) return { bundle, anyVersion: [] };
  const anyVersion: number[] = [];
  const entry = entries.map((e: BundleEntry | undefined, index) => {
    const request = e?.request;
    if (!e || request?.method !== 'PUT' || !isAnyVersion(request.ifMatch)) return e;
    anyVersion.push(index);
    const { ifMatch: _any, ...rest } = request;
    void _any;
    return { ...e, request: rest };
  }) as BundleEntry[];
  return anyVersion.length === 0
    ? { bundle, anyVersion }
    : { bundle: { ...bundle, entry }, anyVersion };
}

/**
 * Each entry at `indexes` (a `PUT` that had `If-Match: *`: the `anyVersion` `withoutAnyVersion`
 * gave with `bundle`) must name a stored resource, by id or by a condition that matches one;
 * else a 412 at its `request.ifMatch`. Resolves to the Bundle to write: `bundle` with each
 * conditional entry pinned to `PUT Type/<id>` with `ifMatch: W/"<version>"` of its match. Should
 * another write change that resource before the transaction is applied, the store answers 412 at
 * the entry and nothing is written, where the condition alone could have matched nothing then
 * and created. The transaction is not tried again here (the caller applies it); a client sees
 * the 412 and may send it again.
 */
export async function checkAnyVersionTargets(
  store: FhirStore,
  bundle: Bundle,
  requests: readonly EntryRequest[],
  indexes: readonly number[],
): Promise<Bundle> {
  if (indexes.length === 0) return bundle;
  const entries = [...(bundle.entry ?? [])];
  for (const request of requests) {
    if (!indexes.includes(request.index)) continue;
    if (request.query === undefined) {
      await checkStored(store, request);
      continue;
    }
    const entry = entries[request.index];
    if (entry) entries[request.index] = await pinned(store, request, entry);
  }
  return { ...bundle, entry: entries };
}

/** A `PUT Type/id` entry's resource must be stored. */
async function checkStored(store: FhirStore, request: EntryRequest): Promise<void> {
  const type = request.type as ResourceType;
  if ((await storedOrUndefined(store, type, request.id ?? '')) === undefined)
    throw noCurrentVersion(`Bundle.entry[${request.index}].request.ifMatch`);
}

/** A conditional `PUT` entry as `PUT Type/<id>` over the version of its one match. */
async function pinned(
  store: FhirStore,
  request: EntryRequest,
  entry: BundleEntry,
): Promise<BundleEntry> {
  const i = request.index;
  // Its match is found before the transaction is applied, when another entry has no id yet.
  if (/urn:(?:uuid|oid):/.test(safeDecode(request.query ?? '')))
    throw fault(
      400,
      'not-supported',
      "An If-Match: * entry's condition cannot name another entry of the transaction: name the person by their own identifier",
      `Bundle.entry[${i}].request.url`,
    );
  const match = await soleMatch(
    store,
    request.type as ResourceType,
    request.query ?? '',
    {
      condition: `Bundle.entry[${i}].request.url`,
      ifMatch: `Bundle.entry[${i}].request.ifMatch`,
      id: `Bundle.entry[${i}].resource.id`,
    },
    request.resource?.id,
  );
  const version = versionOf(match);
  return {
    ...entry,
    ...(entry.resource ? { resource: { ...entry.resource, id: match.id } } : {}),
    request: {
      ...(entry.request ?? { method: 'PUT' }),
      url: `${request.type}/${match.id}`,
      ...(version !== undefined ? { ifMatch: version } : {}),
    },
  };
}
