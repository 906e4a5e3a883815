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
import type { PlainReference } from './item-observations';

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

/**
 * A reference to the response: by its logical id when it has one, else by its business
 * identifier (a logical reference).
 */
export function responseReference(response: QuestionnaireResponse): PlainReference {
  if (response.id) return { reference: `QuestionnaireResponse/${response.id}` };
  return { type: 'QuestionnaireResponse', identifier: { ...response.identifier } };
}

/** `[base/]Type/id[/_history/v]`: a literal reference to a resource (FHIR R4 3.1.0.1.1). */
const LITERAL_REFERENCE =
  /^(?:(https?:\/\/\S+)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * Two literal references name the same resource: the same type and id, written relative
 * (`Patient/1`) or absolute (`https://host/fhir/Patient/1`), with or without a version. Two
 * absolute references must also share their base (two servers' `Patient/1` are not one person).
 * References in any other form (urn:uuid, fragments) are the same only when equal.
 */
export function sameResource(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  const x = LITERAL_REFERENCE.exec(a);
  const y = LITERAL_REFERENCE.exec(b);
  if (!x || !y || x[2] !== y[2] || x[3] !== y[3]) return false;
  return x[1] === undefined || y[1] === undefined || x[1] === y[1];
}

/** `QuestionnaireResponse/<id>` for a reference to a response in any literal form; else as given. */
export function responseKeyOf(reference: string): string {
  const match = LITERAL_REFERENCE.exec(reference);
  return match?.[2] === 'QuestionnaireResponse' ? `QuestionnaireResponse/${match[3]}` : reference;
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
