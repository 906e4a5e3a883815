/**
 * Who is calling and what they may touch, derived once per request from a verified token's
 * claims (or the AUTH=off stand-in). Everything downstream — authorize, consent, audit — reads
 * only this, never the token.
 */
import type { Reference } from '@medplum/fhirtypes';
import { unauthorizedError } from './errors';
import { parseScopes, type Scope } from './scopes';

/**
 * - person: the person the record is about (fhirUser Patient/<id>, or patient/ scopes only).
 * - carer: a RelatedPerson of the person; sees only what the person's Consent shares.
 * - clinician: Practitioner or PractitionerRole (or user/ scopes without a fhirUser).
 * - system: a peer system or backend service (Device, Organization, or system/ scopes).
 * - anonymous-dev: AUTH=off.
 */
export type Role = 'person' | 'carer' | 'clinician' | 'system' | 'anonymous-dev';

export interface AccessContext {
  readonly mode: 'jwt' | 'off';
  /** The token's `sub` (never written into AuditEvents: it may identify a person). */
  readonly subject: string;
  /** `client_id` or `azp`: the application acting. */
  readonly clientId?: string;
  /** Relative reference to the user's FHIR resource: `Practitioner/x`, `RelatedPerson/z`... */
  readonly fhirUser?: string;
  /** The patient context: the id of the person this session is about. */
  readonly patient?: string;
  readonly scopes: readonly Scope[];
  /** Scopes that were recognised as resource scopes but grant nothing here (for logging). */
  readonly ignoredScopes: readonly string[];
  readonly role: Role;
}

/** A FHIR logical id (R4 `id` datatype). */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** fhirUser types and the role each gives. */
const FHIR_USER_ROLES: Readonly<Record<string, Role>> = {
  Patient: 'person',
  RelatedPerson: 'carer',
  Practitioner: 'clinician',
  PractitionerRole: 'clinician',
  Device: 'system',
  Organization: 'system',
};

/**
 * `Type/id`, or an absolute URL ending in `/Type/id` (SMART's fhirUser is a URL), → `Type/id`.
 * The base is not checked: the claim is signed by a trusted issuer, and ids are compared below.
 */
export function normaliseFhirUser(value: string): string | undefined {
  const match = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(value);
  if (!match?.[1] || !match[2]) return undefined;
  if (value.includes('/_history/')) return undefined;
  return `${match[1]}/${match[2]}`;
}

type Claims = Readonly<Record<string, unknown>>;

function optionalString(claims: Claims, name: string): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw unauthorizedError(`The token's ${name} claim is not a string`, `token.${name}`);
  }
  return value;
}

function scopeClaim(claims: Claims): string | readonly string[] {
  const { scope, scp } = claims;
  if (typeof scope === 'string') return scope;
  if (Array.isArray(scp) && scp.every((s) => typeof s === 'string')) return scp as string[];
  if (typeof scp === 'string') return scp;
  throw unauthorizedError('The token has no scope claim', 'token.scope');
}

function roleFromScopes(scopes: readonly Scope[]): Role {
  if (scopes.some((s) => s.context === 'system')) return 'system';
  if (scopes.some((s) => s.context === 'user')) return 'clinician';
  if (scopes.some((s) => s.context === 'patient')) return 'person';
  return 'system';
}

/**
 * The access context of verified claims. Throws 401 when the claims contradict themselves or
 * lack what a role needs: no `sub`; no scope claim; a `patient` that is not a FHIR id; a
 * fhirUser of a type that has no role here; a Patient fhirUser with another patient context; a
 * carer (RelatedPerson) without a patient context.
 */
export function contextFromClaims(claims: Claims): AccessContext {
  const subject = optionalString(claims, 'sub');
  if (subject === undefined) throw unauthorizedError('The token has no subject', 'token.sub');
  const { scopes, ignored } = parseScopes(scopeClaim(claims));
  const clientId = optionalString(claims, 'client_id') ?? optionalString(claims, 'azp');
  let patient = optionalString(claims, 'patient');
  if (patient !== undefined && !FHIR_ID.test(patient)) {
    throw unauthorizedError('The token patient claim is not a FHIR id', 'token.patient');
  }
  const fhirUserClaim = optionalString(claims, 'fhirUser');
  let fhirUser: string | undefined;
  let role = roleFromScopes(scopes);
  if (fhirUserClaim !== undefined) {
    fhirUser = normaliseFhirUser(fhirUserClaim);
    const type = fhirUser?.split('/')[0];
    const fromUser = type === undefined ? undefined : FHIR_USER_ROLES[type];
    if (fhirUser === undefined || fromUser === undefined) {
      throw unauthorizedError(
        'The token fhirUser is not a Patient, RelatedPerson, Practitioner, PractitionerRole, Device or Organization reference',
        'token.fhirUser',
      );
    }
    role = fromUser;
  }
  if (role === 'person' && fhirUser !== undefined) {
    // A person's own fhirUser is their patient context; a different `patient` claim would let
    // one person act in another's context.
    const own = fhirUser.slice('Patient/'.length);
    if (patient !== undefined && patient !== own) {
      throw unauthorizedError(
        'The token patient claim and fhirUser name different patients',
        'token.patient',
      );
    }
    patient = own;
  }
  if (role === 'carer' && patient === undefined) {
    throw unauthorizedError(
      'A carer token needs a patient claim naming the person cared for',
      'token.patient',
    );
  }
  return {
    mode: 'jwt',
    subject,
    ...(clientId !== undefined ? { clientId } : {}),
    ...(fhirUser !== undefined ? { fhirUser } : {}),
    ...(patient !== undefined ? { patient } : {}),
    scopes,
    ignoredScopes: ignored,
    role,
  };
}

/**
 * AUTH=off: every permission on every type, no patient context, no consent filter. Only ever
 * built when AUTH=off is set explicitly; the server announces it (see dev-key.ts).
 */
export function authOffContext(): AccessContext {
  return {
    mode: 'off',
    subject: 'anonymous-dev',
    scopes: parseScopes('system/*.cruds').scopes,
    ignoredScopes: [],
    role: 'anonymous-dev',
  };
}

/**
 * Who is acting, as a Reference for Provenance.agent.who: the fhirUser, else the client
 * (`client_id` as an identifier), else a fixed display. Never the token's `sub`.
 */
export function agentReference(ctx: AccessContext): Reference {
  if (ctx.mode === 'off') return { display: 'anonymous (AUTH=off)' };
  if (ctx.fhirUser !== undefined) return { reference: ctx.fhirUser };
  if (ctx.clientId !== undefined) {
    return { identifier: { system: 'urn:ietf:params:oauth:client-id', value: ctx.clientId } };
  }
  return { display: 'unidentified client' };
}
