/**
 * Authentication and authorisation, framework-free: the API calls these per request.
 *
 * The model:
 *   1. `createTokenVerifier(...).verify(req.headers.authorization)` checks a bearer JWT
 *      (asymmetric signature from the issuer's JWKS, issuer, audience, expiry) and derives an
 *      `AccessContext`: who (fhirUser, client), the patient context, SMART scopes and a role
 *      (person, carer, clinician, system). AUTH=off, set explicitly, gives `authOffContext()`.
 *      Failures are 401 OperationOutcomes (code `login`); `wwwAuthenticate(err)` gives the header.
 *   2. `authorize(ctx, interaction, type)` checks the scopes and returns the bounds: the patient
 *      the caller is confined to (pin searches with `patientSearch`, check resources with
 *      `checkInCompartment`) and whether a carer's Consent applies. Refusals are 403s (code
 *      `forbidden`, expression the type).
 *   3. For a carer, fetch the person's Consents (`requiredConsentSearch`) and pass every result
 *      through `consentView` (or `consentFilter`): deny by default, only what the person shares.
 *   4. `auditEvent(...)` for every read and write, refused ones included.
 * Operations are authorised as what they do: `$extract` reads the response and creates
 * Observations; `$populate` reads the Questionnaire and searches the person's responses;
 * `$letter` reads the CarePlan; `$dialog-summary` searches Observations; `$transfer` reads the
 * person's plan and creates a Task; `$validate` touches no stored data. A transaction is
 * authorised entry by entry.
 * A dev signing key (`loadDevKey`, `mintDevToken`) makes local use easy without an identity
 * provider.
 */
export {
  agentReference,
  authOffContext,
  contextFromClaims,
  normaliseFhirUser,
} from './access-context';
export type { AccessContext, Role } from './access-context';
export { auditEvent, OPERATION_SYSTEM, CLIENT_ID_SYSTEM } from './audit-event';
export type { AuditInput, AuditInteraction } from './audit-event';
export { authorize, checkInCompartment, compartmentPatient } from './authorize';
export type { AccessDecision } from './authorize';
export {
  DEFINITIONAL_TYPES,
  inPatientCompartment,
  isPatientDataType,
  patientSearch,
  patientSearchParameter,
  referencesResource,
} from './compartment';
export type { ReferenceOptions } from './compartment';
export {
  consentFilter,
  consentTypeShare,
  consentView,
  inForce,
  requiredConsentSearch,
} from './consent';
export type { TypeShare } from './consent';
export {
  authOffAnnouncement,
  DEV_AUDIENCE,
  DEV_ISSUER,
  DEV_KEY_FILE,
  devTokenAnnouncement,
  loadDevKey,
  mintDevToken,
} from './dev-key';
export type { DevKey, DevTokenAnnouncementInput, DevTokenOptions } from './dev-key';
export { forbiddenError, unauthorizedError, UnauthorizedError, wwwAuthenticate } from './errors';
export {
  allows,
  formatScope,
  grantingScopes,
  parseScope,
  parseScopes,
  PERMISSION_OF,
} from './scopes';
export type { Interaction, ParsedScopes, Permission, Scope, ScopeContext } from './scopes';
export { ALLOWED_ALGORITHMS, bearerToken, createTokenVerifier } from './verify-token';
export type { TokenVerifier, TokenVerifierOptions } from './verify-token';
