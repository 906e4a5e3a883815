/**
 * What the store sets (`meta.versionId`, `meta.lastUpdated`) left out of a resource, for "did
 * anything change": the embedded store writes no new version for an unchanged one, and a
 * stored Provenance may be written again only unchanged (src/service/fhir-service.ts).
 */
import type { Resource } from '@medplum/fhirtypes';

/** JSON with keys sorted and undefined dropped: equal content gives equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `meta` without what the store sets (versionId, lastUpdated). */
export function keptMeta(meta: unknown): Record<string, unknown> {
  const kept = { ...((meta ?? {}) as Record<string, unknown>) };
  delete kept.versionId;
  delete kept.lastUpdated;
  return kept;
}

/** A resource without what the store sets, for "did anything change". */
export function contentKey(resource: Record<string, unknown>): string {
  const rest = { ...resource };
  const kept = keptMeta(rest.meta);
  delete rest.meta;
  return canonical(Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest);
}

/** Whether two versions hold the same content, whatever their key order and store-set meta. */
export function sameContent(a: Resource, b: Resource): boolean {
  return (
    contentKey(a as unknown as Record<string, unknown>) ===
    contentKey(b as unknown as Record<string, unknown>)
  );
}
