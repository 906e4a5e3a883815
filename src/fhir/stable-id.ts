/**
 * Stable identities for what dialog-fhir derives from a response, so that doing it again finds
 * the same resources instead of adding copies: name-based (version 5) UUIDs, the business
 * identifiers built from them, and the conditional-update requests that use those identifiers.
 *
 * A response is known by its business identifier when it has one (the same in every system it
 * moves to), else by its logical id.
 */
import { createHash } from 'node:crypto';
import type { BundleEntryRequest, Identifier, QuestionnaireResponse } from '@medplum/fhirtypes';
import { BASE } from './canonical';

/** RFC 4122 name-based UUID (SHA-1, version 5). */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** RFC 4122's namespace for URLs. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
/** The namespace of every UUID dialog-fhir derives: v5 of the package's canonical base. */
export const DIALOG_NAMESPACE = uuidV5(BASE, URL_NAMESPACE);

export const EXTRACTED_OBSERVATION_SYSTEM = `${BASE}/sid/extracted-observation`;
export const DIALOG_GOAL_SYSTEM = `${BASE}/sid/dialog-goal`;

/**
 * The identity of a response: `identifier.system|identifier.value`, else
 * `QuestionnaireResponse/<id>`; undefined when it has neither (it cannot be found again).
 */
export function responseKey(response: QuestionnaireResponse): string | undefined {
  const { identifier, id } = response;
  if (identifier?.system && identifier.value) return `${identifier.system}|${identifier.value}`;
  return id ? `QuestionnaireResponse/${id}` : undefined;
}

/** A stable identifier in `system` for one part (a linkId, a measure) of what a response gave. */
export function derivedIdentifier(system: string, key: string, part: string): Identifier {
  return { system, value: uuidV5(`${system}|${key}#${part}`, DIALOG_NAMESPACE) };
}

/** The urn:uuid a transaction entry for that identifier uses as its fullUrl. */
export function fullUrlOf(identifier: Identifier): string {
  return `urn:uuid:${identifier.value ?? ''}`;
}

/** Escapes a query value, leaving `:` and `/` readable (they are allowed in a query). */
function queryValue(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
}

/** `Type?identifier=system|value`, for conditional updates and conditional references. */
export function conditionalUrl(type: string, identifier: Identifier): string {
  const { system = '', value = '' } = identifier;
  return `${type}?identifier=${queryValue(system)}|${queryValue(value)}`;
}

/** Create-or-update by business identifier: doing it twice leaves one resource. */
export function conditionalPut(type: string, identifier: Identifier): BundleEntryRequest {
  return { method: 'PUT', url: conditionalUrl(type, identifier) };
}
