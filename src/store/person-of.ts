/**
 * Who a record is about, and the rule that a stored record stays with that person: an update
 * that names another person (or no one) where the stored version names one would move a rating,
 * a goal or a plan into someone else's record, leaving the first person's plan pointing at it.
 * The embedded store refuses such a write inside the transaction that would make it (so no path —
 * an update, a conditional entry of a handover, plan sync — and no race gets past it); the
 * service checks the same rule before writing, for every store (src/service/references.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { conflict } from './outcomes';

/** The resource types about one person, and the element that says who. */
const PERSON_OF: Readonly<Record<string, string>> = {
  QuestionnaireResponse: 'subject',
  Observation: 'subject',
  CarePlan: 'subject',
  Goal: 'subject',
  Task: 'for',
  RelatedPerson: 'patient',
  Consent: 'patient',
  Encounter: 'subject',
};

/** The element that says who a resource of this type is about (`subject`, `for`, `patient`). */
export function personElement(type: string): string | undefined {
  return PERSON_OF[type];
}

/** The reference, as written, of the element that says who the resource is about, if any. */
export function personReference(resource: Resource): string | undefined {
  const element = PERSON_OF[resource.resourceType];
  if (!element) return undefined;
  const reference = (resource as unknown as Record<string, { reference?: unknown } | undefined>)[
    element
  ]?.reference;
  return typeof reference === 'string' ? reference : undefined;
}

/**
 * The person the stored version is about, when an update would change it: `subject` (or `for`,
 * `patient`) of `current` as written, if `resource` names anyone else or no one. Undefined when
 * the update keeps the person, when nothing is stored, or when the stored version names no one
 * (giving an unassigned record its person is not a move). References are compared as written,
 * but for a version (`Patient/a/_history/2` is Patient/a).
 */
export function movedFrom(current: Resource | undefined, resource: Resource): string | undefined {
  if (!current) return undefined;
  const before = personReference(current);
  if (before === undefined) return undefined;
  const after = personReference(resource);
  return after !== undefined && sameResource(before, after) ? undefined : before;
}

/** Two references to one resource: the same text, or one naming a version of the other. */
function sameResource(a: string, b: string): boolean {
  const unversioned = (r: string): string => r.replace(/\/_history\/[^/]+$/, '');
  return unversioned(a) === unversioned(b);
}

/**
 * Refuses (409 conflict) an update that would move a stored record to another person
 * (`movedFrom`). `where` is the resource's FHIRPath (inside a Bundle for a transaction entry).
 */
export function checkKeepsPerson(
  current: Resource | undefined,
  resource: Resource,
  where: string = resource.resourceType,
): void {
  const before = movedFrom(current, resource);
  if (before === undefined) return;
  const type = resource.resourceType;
  throw conflict(
    `This ${type} is stored for ${before}: an update cannot move it to another person. Write it as a new ${type} for the right person`,
    `${where}.${personElement(type) ?? 'subject'}`,
  );
}
