/**
 * Merging into a resource other systems also write. Everything here adds or updates by a stable
 * key and keeps whatever it does not recognise, in the order it was found: the one care plan is
 * written by several systems, and none of them may lose what another added.
 */
import type { CodeableConcept, Coding, Extension } from '@medplum/fhirtypes';
import type { PlainReference } from './item-observations';
import { sameResource } from './stable-id';

/**
 * Two references name the same resource: the same resource by reference (relative or absolute,
 * stable-id.ts sameResource), or the same business identifier.
 */
export function sameTarget(a: PlainReference, b: PlainReference): boolean {
  if (sameResource(a.reference, b.reference)) return true;
  const x = a.identifier;
  const y = b.identifier;
  return !!x?.value && x.value === y?.value && x.system === y?.system;
}

/** `existing` with each of `added` that it does not already name appended. */
export function withReferences<T extends PlainReference>(
  existing: readonly T[] | undefined,
  added: readonly T[],
): T[] {
  const out = [...(existing ?? [])];
  for (const ref of added) if (!out.some((r) => sameTarget(r, ref))) out.push(ref);
  return out;
}

/** Two parties are the same when their references match, or, without references, their names. */
export function sameParty(a: PlainReference, b: PlainReference): boolean {
  if (a.reference || b.reference) return sameTarget(a, b);
  return !!a.display && a.display === b.display;
}

export function withParties<T extends PlainReference>(
  existing: readonly T[] | undefined,
  added: readonly T[],
): T[] {
  const out = [...(existing ?? [])];
  for (const party of added) if (!out.some((p) => sameParty(p, party))) out.push(party);
  return out;
}

export function hasCoding(concept: CodeableConcept | undefined, coding: Coding): boolean {
  return (concept?.coding ?? []).some((c) => c.system === coding.system && c.code === coding.code);
}

/**
 * Replaces the extensions `owns` picks out with `replacement` (at the first one's place, or at
 * the end), keeping every other extension where it was.
 */
export function replaceExtensions(
  existing: readonly Extension[] | undefined,
  owns: (e: Extension) => boolean,
  replacement: readonly Extension[],
): Extension[] {
  const list = existing ?? [];
  const at = list.findIndex(owns);
  const kept = list.filter((e) => !owns(e));
  if (at < 0) return [...kept, ...replacement];
  const before = list.slice(0, at).filter((e) => !owns(e)).length;
  return [...kept.slice(0, before), ...replacement, ...kept.slice(before)];
}
