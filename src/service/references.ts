/**
 * A person's record points only into that person's record. A session, score, goal or plan about
 * one person that references another person (a Patient other than its subject), or a stored
 * response, Observation, plan, goal, Task, carer or consent about another person, is refused
 * (422, business-rule, at the reference): it would show one person's data in another's plan, or
 * pair one person's ratings with another's. (Encounters are not followed: see checkSamePerson.)
 *
 * Only literal relative references (`Type/id`) are checked; references to resources that are not
 * stored (yet) are left alone, as FHIR allows — except for a caller confined to one person (a
 * patient token), who may point only to that person's stored records: otherwise the difference
 * between "not stored" (accepted) and "someone else's" (refused) would tell them which ids exist
 * in other people's records. Both are then the same 422. Contained resources are not walked (they
 * have no life of their own); the subject itself is what the others are checked against.
 */
import type { ExtractResource, Resource, ResourceType } from '@medplum/fhirtypes';
import { personElement, personReference, type FhirStore } from '../store';
import { fault, statusOf } from './outcomes';

export { checkKeepsPerson, movedFrom, personElement } from '../store';

/** The types whose references are checked when written through the service. */
const CHECKED = new Set(['QuestionnaireResponse', 'Observation', 'CarePlan', 'Goal']);

const LITERAL = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

interface Found {
  readonly type: string;
  readonly id: string;
  readonly path: string;
}

/** The person a resource is about (`Patient/<id>` → id), when it names one literally. */
export function personOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  const reference = personReference(resource);
  if (reference === undefined) return undefined;
  const match = LITERAL.exec(reference);
  return match?.[1] === 'Patient' ? match[2] : undefined;
}

/** Every literal reference in the resource, with its FHIRPath, outside `contained` and `text`. */
function literalReferences(resource: Resource, skip: string): Found[] {
  const found: Found[] = [];
  const walk = (node: unknown, path: string, depth: number): void => {
    if (depth > 64 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`, depth + 1));
      return;
    }
    const record = node as Record<string, unknown>;
    if (typeof record.reference === 'string') {
      const match = LITERAL.exec(record.reference);
      if (match?.[1] && match[2]) found.push({ type: match[1], id: match[2], path });
    }
    for (const [key, value] of Object.entries(record))
      if (key !== 'reference' && value !== null && typeof value === 'object')
        walk(value, `${path}.${key}`, depth + 1);
  };
  for (const [key, value] of Object.entries(resource))
    if (key !== 'contained' && key !== 'text' && key !== skip)
      walk(value, `${resource.resourceType}.${key}`, 1);
  return found;
}

/**
 * Refuses (throws a 422) a resource about one person that references another person's record.
 * Reads each referenced stored resource of a type about a person, once.
 */
export async function checkSamePerson(
  store: FhirStore,
  resource: Resource,
  options: { readonly confined?: boolean } = {},
): Promise<void> {
  if (!CHECKED.has(resource.resourceType)) return;
  const person = personOf(resource);
  if (person === undefined) return;
  const element = personElement(resource.resourceType) ?? '';
  for (const ref of literalReferences(resource, element)) {
    if (ref.type === 'Patient') {
      if (ref.id !== person) throw elsewhere(ref.path);
      continue;
    }
    // Encounters are not followed: a SMART launch names the EHR's encounter, which is not
    // stored here (a confined caller could never point to one).
    if (personElement(ref.type) === undefined || ref.type === 'Encounter') continue;
    const stored = await storedOrUndefined(store, ref.type as ResourceType, ref.id);
    if (!stored) {
      if (options.confined) throw elsewhere(ref.path);
      continue;
    }
    const theirs = personOf(stored);
    if (theirs !== undefined && theirs !== person) throw elsewhere(ref.path);
  }
}

function elsewhere(path: string) {
  return fault(
    422,
    'business-rule',
    "This references a record that is not this person's: a person's record may point only to their own",
    path,
  );
}

/** The current version, or undefined when there is none (404, 410); other failures propagate. */
export async function storedOrUndefined<K extends ResourceType>(
  store: FhirStore,
  type: K,
  id: string,
): Promise<ExtractResource<K> | undefined> {
  try {
    return await store.read(type, id);
  } catch (err) {
    if (statusOf(err) === 404 || statusOf(err) === 410) return undefined;
    throw err;
  }
}

/**
 * What a condition (`If-None-Exist`, a conditional update's query) matches, read only as far as
 * telling none, one and several apart: at most two resources.
 */
export async function upToTwoMatches<K extends ResourceType>(
  store: FhirStore,
  type: K,
  condition: string,
): Promise<ExtractResource<K>[]> {
  const query = new URLSearchParams(condition);
  query.set('_count', '2');
  return (await store.search(type, query)).resources;
}

/** A condition's text decoded as its search will read it; as it is when not valid encoding. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
