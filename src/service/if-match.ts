/**
 * `If-Match: *`, one rule for every update (PUT Type/id, conditional PUT Type?search, a PUT entry
 * of a transaction or batch, a DIALOG session): HTTP's (RFC 9110 §13.1.1), "only if a current
 * version exists". With none, the update is a 412 and nothing is written (it would have been a
 * create); with one, the update is made as if If-Match were absent. FHIR's own form,
 * `W/"<versionId>"`, still means "only if this is the current version".
 *
 * Checking and then writing without a condition is exact here: nothing this service serves can
 * be deleted, so a version found stays current or is followed by a newer one.
 */
import type { Bundle, BundleEntry, ResourceType } from '@medplum/fhirtypes';
import type { EntryRequest, FhirStore } from '../store';
import { fault, type HttpOutcomeError } from './outcomes';
import { storedOrUndefined, upToTwoMatches } from './references';

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

/**
 * The transaction Bundle with `If-Match: *` taken off its `PUT` entries, and those entries'
 * indexes: the entries are then checked as any other (type, scopes), and their targets with
 * `checkAnyVersionTargets` before the write.
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
 * Each entry at `indexes` (a `PUT` that had `If-Match: *`) must name a stored resource, by id or
 * by a condition that matches one; else a 412 at its `request.ifMatch`.
 */
export async function checkAnyVersionTargets(
  store: FhirStore,
  requests: readonly EntryRequest[],
  indexes: readonly number[],
): Promise<void> {
  for (const request of requests)
    if (indexes.includes(request.index) && !(await targetExists(store, request)))
      throw noCurrentVersion(`Bundle.entry[${request.index}].request.ifMatch`);
}

/** Whether a PUT entry (`Type/id` or `Type?search`, its type already checked) names a stored resource. */
async function targetExists(store: FhirStore, request: EntryRequest): Promise<boolean> {
  const type = request.type as ResourceType;
  if (request.query !== undefined)
    return (await upToTwoMatches(store, type, request.query)).length > 0;
  return (await storedOrUndefined(store, type, request.id ?? '')) !== undefined;
}
