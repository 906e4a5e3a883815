/**
 * The caller's `Access` from src/auth: a verified bearer token's context (or AUTH=off's), its
 * scopes checked per interaction, its patient context, and — for a carer — the person's active
 * Consents, read once per request, deciding what the carer sees.
 *
 * Verified tokens are remembered (`VerifiedTokens`): a client sends the same token with every
 * request, and checking its signature each time is most of what a read costs. Only a token that
 * passed every check is kept, under its SHA-256, until its `exp` (never longer than
 * `maxAgeMs`), in a bounded LRU; an expired token is verified again, and so refused. The Consents
 * a carer's view rests on are read per request, never cached.
 */
import { createHash } from 'node:crypto';
import type { Consent, Resource } from '@medplum/fhirtypes';
import {
  agentReference,
  authOffContext,
  authorize,
  compartmentPatient,
  consentTypeShare,
  consentView,
  DEFINITIONAL_TYPES,
  inPatientCompartment,
  requiredConsentSearch,
  type AccessContext,
  type TokenVerifier,
} from '../auth';
import type { Access } from '../service/access';
import type { FhirStore } from '../store';
import type { Authenticate } from './access';

const CONSENT_PAGE = 1000;

export interface TokenCacheOptions {
  /** How many verified tokens are kept (least recently used go first); 0 turns caching off. */
  readonly maxEntries?: number;
  /** The longest a verified token is trusted without checking it again (default 5 minutes). */
  readonly maxAgeMs?: number;
}

const DEFAULT_MAX_ENTRIES = 1000;
const DEFAULT_MAX_AGE_MS = 5 * 60_000;

/** The `exp` of a JWT's payload in epoch milliseconds (read only after it was verified). */
function expiryOf(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp)
      ? claims.exp * 1000
      : undefined;
  } catch {
    return undefined;
  }
}

/** A token verifier that remembers what it verified (see the module comment). */
export class VerifiedTokens implements TokenVerifier {
  private readonly entries = new Map<string, { context: AccessContext; until: number }>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly now: () => Date,
    options: TokenCacheOptions = {},
  ) {
    this.maxEntries = Math.max(0, Math.floor(options.maxEntries ?? DEFAULT_MAX_ENTRIES));
    this.maxAgeMs = Math.max(0, options.maxAgeMs ?? DEFAULT_MAX_AGE_MS);
  }

  /** How many tokens are remembered now. */
  get size(): number {
    return this.entries.size;
  }

  async verify(authorization: string | undefined): Promise<AccessContext> {
    if (this.maxEntries === 0 || authorization === undefined)
      return this.verifier.verify(authorization);
    const key = createHash('sha256').update(authorization).digest('base64');
    const now = this.now().getTime();
    const known = this.entries.get(key);
    if (known) {
      this.entries.delete(key);
      if (known.until > now) {
        this.entries.set(key, known);
        return known.context;
      }
    }
    const context = await this.verifier.verify(authorization);
    const token = /^\S+\s+(\S+)$/.exec(authorization.trim())?.[1] ?? '';
    const expiry = expiryOf(token);
    const until = Math.min(expiry ?? now, this.now().getTime() + this.maxAgeMs);
    if (until > now) {
      this.entries.set(key, { context, until });
      if (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
    }
    return context;
  }
}

export function accessOfContext(
  context: AccessContext,
  view: Access['view'] = (resource) => resource,
  shareOf?: Access['shareOf'],
): Access {
  // Confined to the token's patient whenever any granted scope is a patient/ scope (fail closed:
  // a launch token with patient/ and user/ scopes never reaches beyond its patient).
  const patient =
    compartmentPatient(context) ??
    (context.scopes.some((s) => s.context === 'patient') ? context.patient : undefined);
  return {
    context,
    check: (interaction, type) => {
      authorize(context, interaction, type);
    },
    ...(patient !== undefined ? { patient } : {}),
    inCompartment: (resource: Resource) =>
      patient === undefined ||
      DEFINITIONAL_TYPES.has(resource.resourceType) ||
      inPatientCompartment(resource, patient),
    view,
    ...(shareOf ? { shareOf } : {}),
    agent: agentReference(context),
  };
}

export function authOffAccess(): Access {
  return accessOfContext(authOffContext());
}

/**
 * Authentication by bearer JWT (verified tokens remembered, see `VerifiedTokens`); carers get the
 * person's Consents applied to what they see.
 */
export function bearerAuthenticate(
  verifier: TokenVerifier,
  store: FhirStore,
  now: () => Date,
  cache: TokenCacheOptions = {},
): Authenticate {
  const tokens = new VerifiedTokens(verifier, now, cache);
  return async (req) => {
    const context = await tokens.verify(req.headers.authorization);
    if (context.role !== 'carer' || context.patient === undefined) return accessOfContext(context);
    const { params } = requiredConsentSearch(context.patient);
    const consents = await store.search('Consent', params, { count: CONSENT_PAGE });
    const given = consents.resources as Consent[];
    const at = now();
    const view = consentView(context, given, at);
    return accessOfContext(
      context,
      <T extends Resource>(r: T) => view(r) as T | undefined,
      consentTypeShare(context, given, at),
    );
  };
}
