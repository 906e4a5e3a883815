/**
 * What the service needs to know about the caller, whatever authenticated them (a SMART bearer
 * token, or nobody when AUTH=off). `src/api/access.ts` builds one per request from `src/auth`.
 */
import type { Reference, Resource } from '@medplum/fhirtypes';

/** The FHIR interactions scopes are about (SMART v2: c r u d s). */
export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

export interface Access {
  /** Throws a 403 OperationOutcome when the caller may not do this to this type. */
  check(interaction: Interaction, type: string): void;
  /** The person the caller is confined to (patient scopes, a carer), as a Patient id. */
  readonly patient?: string;
  /** Whether a resource belongs to `patient` (always true without a patient context). */
  inCompartment(resource: Resource): boolean;
  /** Who is acting, for Provenance and AuditEvent. */
  readonly agent: Reference;
}
