/**
 * Stable identities for what dialog-fhir derives from a response, so that doing it again finds
 * the same resources instead of adding copies: name-based (version 5) UUIDs, the business
 * identifiers built from them, and the conditional-update requests that use those identifiers.
 *
 * A response is known by its business identifier when it has one (the same in every system it
 * moves to), else by its logical id.
 */
import type { BundleEntryRequest, Identifier, QuestionnaireResponse } from '@medplum/fhirtypes';
import { BASE } from './canonical';
import type { PlainReference } from './item-observations';
import { Uuid5Prefix, uuidBytes } from './sha1';

/** One hasher per namespace (its bytes ready), kept for the few namespaces in use. */
const namespaces = new Map<string, Uuid5Prefix>();

/** RFC 4122 name-based UUID (SHA-1, version 5), hashed by sha1.ts. */
export function uuidV5(name: string, namespace: string): string {
  let hasher = namespaces.get(namespace);
  if (!hasher) {
    hasher = new Uuid5Prefix(uuidBytes(namespace), '');
    if (namespaces.size > 64) namespaces.clear();
    namespaces.set(namespace, hasher);
  }
  return hasher.uuid(name);
}

/** RFC 4122's namespace for URLs. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
/** The namespace of every UUID dialog-fhir derives: v5 of the package's canonical base. */
export const DIALOG_NAMESPACE = uuidV5(BASE, URL_NAMESPACE);
const DIALOG_NAMESPACE_BYTES = uuidBytes(DIALOG_NAMESPACE);

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

/**
 * The hashed prefixes `<system>|<key>#` of the last few responses: one response derives many
 * identifiers (one per part), and each then hashes only its part.
 */
const prefixes = new Map<string, Uuid5Prefix>();

/** The UUID `derivedIdentifier(system, key, part)` has as its value. */
export function derivedUuid(system: string, key: string, part: string): string {
  const prefix = `${system}|${key}#`;
  let hashed = prefixes.get(prefix);
  if (!hashed) {
    hashed = new Uuid5Prefix(DIALOG_NAMESPACE_BYTES, prefix);
    if (prefixes.size >= 16) prefixes.clear();
    prefixes.set(prefix, hashed);
  }
  return hashed.uuid(part);
}

/**
 * The UUIDs `derivedIdentifier(system, key, part)` gives for one system and key, by part (the
 * part as text, or as its UTF-8 bytes): the prefix hashed once.
 */
export function derivedUuids(system: string, key: string): Uuid5Prefix {
  return new Uuid5Prefix(DIALOG_NAMESPACE_BYTES, `${system}|${key}#`);
}

/** A stable identifier in `system` for one part (a linkId, a measure) of what a response gave. */
export function derivedIdentifier(system: string, key: string, part: string): Identifier {
  return { system, value: derivedUuid(system, key, part) };
}

/** The urn:uuid a transaction entry for that identifier uses as its fullUrl. */
export function fullUrlOf(identifier: Identifier): string {
  return `urn:uuid:${identifier.value ?? ''}`;
}

/** Escapes a query value, leaving `:` and `/` readable (they are allowed in a query). */
function queryValue(value: string): string {
  // What encodeURIComponent leaves as it is, and `:` and `/`: nothing to escape.
  if (UNESCAPED.test(value)) return value;
  return encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
}

const UNESCAPED = /^[A-Za-z0-9\-_.!~*'():/]*$/;

/**
 * A token search value `system|value` with FHIR's search escapes (`\\`, `\,`, `\|`, `\$`), so
 * an identifier holding a comma or a bar is searched as itself: unescaped, `mrn|X9,12345` would
 * also match `12345` in any system — someone else's record.
 */
export function tokenSearch(system: string, value: string): string {
  return `${searchEscaped(system)}|${searchEscaped(value)}`;
}

function searchEscaped(text: string): string {
  return text.replace(/[\\,|$]/g, (c) => `\\${c}`);
}

/** `Type?identifier=system|value`, for conditional updates and conditional references. */
export function conditionalUrl(type: string, identifier: Identifier): string {
  const { system = '', value = '' } = identifier;
  return `${type}?identifier=${queryValue(searchEscaped(system))}|${queryValue(searchEscaped(value))}`;
}

/** Create-or-update by business identifier: doing it twice leaves one resource. */
export function conditionalPut(type: string, identifier: Identifier): BundleEntryRequest {
  return { method: 'PUT', url: conditionalUrl(type, identifier) };
}
