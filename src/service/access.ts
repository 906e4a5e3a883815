/**
 * What the service needs to know about the caller, whatever authenticated them (a SMART bearer
 * token, or nobody when AUTH=off). `src/api/bearer-access.ts` builds one per request from
 * `src/auth`.
 */
import type { Reference, Resource } from '@medplum/fhirtypes';
import { DEFINITIONAL_TYPES, type AccessContext, type Interaction, type TypeShare } from '../auth';

/** What a plan names that is no one's patient data: its staff and services, and definitions. */
const STAFF_AND_DEFINITIONS: ReadonlySet<string> = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  ...DEFINITIONAL_TYPES,
]);

export type { Interaction };

export interface Access {
  /** The verified caller (for audit). */
  readonly context: AccessContext;
  /** Throws a 403 OperationOutcome when the caller may not do this to this type. */
  check(interaction: Interaction, type: string): void;
  /** The person the caller is confined to (patient scopes, a carer), as a Patient id. */
  readonly patient?: string;
  /** Whether a resource belongs to `patient` (always true without a patient context). */
  inCompartment(resource: Resource): boolean;
  /**
   * What the caller may see of a stored resource: itself, a reduced copy (a carer sees only what
   * the person's Consent shares), or undefined when nothing of it is shared.
   */
  view<T extends Resource>(resource: T): T | undefined;
  /**
   * For a caller whose view depends on a Consent (a carer): how much of a resource type the view
   * shares, known before reading any (see `TypeShare`). Absent: `view` keeps every resource.
   */
  shareOf?(type: string): TypeShare;
  /** Who is acting, for Provenance. */
  readonly agent: Reference;
}

/**
 * What a caller may see of the records an operation gathers on its behalf (a letter, a chart, the
 * clinician page): nothing of a type its scopes do not let it read, nothing about someone
 * outside its patient context, and of the rest its view (a carer's Consent). A plan read
 * is not a licence to read the ratings, people and goals the plan points to. The staff and
 * services a plan names (Practitioner, Organization: no one's patient data) are shown whatever
 * the scopes, as the key worker's number in the person's own letter always was.
 */
export function readableView(access: Access): <T extends Resource>(resource: T) => T | undefined {
  const readable = new Map<string, boolean>();
  const mayRead = (type: string): boolean => {
    let may = readable.get(type);
    if (may === undefined) {
      try {
        access.check('read', type);
        may = true;
      } catch {
        may = false; // check throws the 403 a read of this type would answer
      }
      readable.set(type, may);
    }
    return may;
  };
  return (resource) => {
    if (STAFF_AND_DEFINITIONS.has(resource.resourceType)) return access.view(resource);
    return mayRead(resource.resourceType) && access.inCompartment(resource)
      ? access.view(resource)
      : undefined;
  };
}
