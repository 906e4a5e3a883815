/**
 * Whether a caller may perform an interaction on a type, and within which bounds.
 *
 * The order of checks, each a 403 with the resource type as the expression:
 *   1. scopes: some scope must grant the interaction's permission on the type;
 *   2. carers only read (read, vread, history, search): a carer never writes the person's record
 *      (the DIALOG package says the same of ratings, dlg-qr-3), whatever the token's scopes;
 *   3. confinement: the person and carers are always confined to their patient context; any
 *      other caller is confined when only patient/ scopes grant the interaction (a user/ or
 *      system/ scope that grants it lifts the bound). A confined caller needs a patient context,
 *      reaches only patient-data types (compartment.ts), and reads definitions (Questionnaire...)
 *      unpinned but never writes them;
 *   4. consent: results for a carer pass the person's Consent (consent.ts). Clinicians and
 *      systems are not filtered by Consent: clinical access to the trust's own records follows the
 *      trust's legal basis (direct care), and a person's choice about sharing with carers applies
 *      to carers.
 * AUTH=off passes everything unbounded.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from './access-context';
import {
  DEFINITIONAL_TYPES,
  inPatientCompartment,
  isPatientDataType,
  type ReferenceOptions,
} from './compartment';
import { forbiddenError } from './errors';
import { grantingScopes, type Interaction } from './scopes';

/** What `authorize` allows: the bounds to apply to the interaction. */
export interface AccessDecision {
  /** The person the interaction is confined to (search pinned, resources checked); or none. */
  readonly patient?: string;
  /** Whether results must pass `consentFilter` (carers). */
  readonly consent: boolean;
}

const READS: ReadonlySet<Interaction> = new Set(['read', 'vread', 'history', 'search']);

/** The decision for `interaction` on `resourceType`, or a 403 `OperationOutcomeError`. */
export function authorize(
  ctx: AccessContext,
  interaction: Interaction,
  resourceType: string,
): AccessDecision {
  if (ctx.mode === 'off') return { consent: false };
  const grants = grantingScopes(ctx.scopes, interaction, resourceType);
  if (grants.length === 0) {
    throw forbiddenError(
      `The token's scopes do not allow ${interaction} on ${resourceType}`,
      resourceType,
    );
  }
  const isRead = READS.has(interaction);
  if (ctx.role === 'carer' && !isRead) {
    throw forbiddenError('A carer may read what the person shares, never write', resourceType);
  }
  const confined =
    ctx.role === 'person' || ctx.role === 'carer' || grants.every((s) => s.context === 'patient');
  if (!confined) return { consent: false };
  if (ctx.patient === undefined) {
    throw forbiddenError('patient/ scopes need a patient context in the token', resourceType);
  }
  if (DEFINITIONAL_TYPES.has(resourceType)) {
    if (isRead) return { consent: false };
    throw forbiddenError(
      `${resourceType} is not the person's data: it cannot be written in a patient context`,
      resourceType,
    );
  }
  if (!isPatientDataType(resourceType)) {
    throw forbiddenError(`${resourceType} is outside the patient compartment`, resourceType);
  }
  return { patient: ctx.patient, consent: ctx.role === 'carer' };
}

/**
 * 403 unless `resource` is within the decision's patient: for a read, the resource found; for
 * a create, the body; for an update, both the stored resource and the body. The message names
 * the type only, never the ids involved.
 */
export function checkInCompartment(
  decision: AccessDecision,
  resource: Resource,
  options: ReferenceOptions = {},
): void {
  if (decision.patient === undefined) return;
  if (DEFINITIONAL_TYPES.has(resource.resourceType)) return;
  if (!inPatientCompartment(resource, decision.patient, options)) {
    throw forbiddenError(
      `This ${resource.resourceType} is outside the token's patient context`,
      resource.resourceType,
    );
  }
}

/**
 * The person a caller is confined to whatever it does: the person themselves, a carer, or a
 * caller holding only patient/ scopes. Undefined for callers with any user/ or system/ scope
 * (use `authorize` for the bound of one interaction) and for AUTH=off.
 */
export function compartmentPatient(ctx: AccessContext): string | undefined {
  if (ctx.mode === 'off') return undefined;
  if (ctx.role === 'person' || ctx.role === 'carer') return ctx.patient;
  return ctx.scopes.length > 0 && ctx.scopes.every((s) => s.context === 'patient')
    ? ctx.patient
    : undefined;
}
