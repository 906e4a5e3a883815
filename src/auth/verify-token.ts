/**
 * Bearer token verification: the `Authorization` header → an `AccessContext`, or a 401.
 *
 * Only asymmetric signatures from an allow-list (RS256, ES256, EdDSA by default) are accepted,
 * so neither `alg: none` nor an HMAC "signed" with the public key can pass. Issuer, audience and
 * expiry are required and checked; clock skew is tolerated up to `clockToleranceSeconds`. Error
 * messages say which check failed in general terms, never echo the token or its claims, and the
 * expression names the header or claim (`Authorization`, `token.exp`).
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { error } from '../validation/outcome';
import { contextFromClaims, type AccessContext } from './access-context';
import { unauthorizedError } from './errors';

/** Asymmetric algorithms a token may be signed with; anything else is refused. */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];

/** Longer headers are refused before any parsing (a JWT with ordinary claims is ~1 KB). */
export const MAX_TOKEN_LENGTH = 8192;

export interface TokenVerifierOptions {
  /** The `iss` every token must carry. */
  readonly issuer: string;
  /** The `aud` every token must carry (one of, when the token lists several). */
  readonly audience: string;
  /** Public keys: a JWKS held locally, or the URL of the issuer's JWKS (fetched and cached). */
  readonly keys: JSONWebKeySet | URL;
  /** Clock skew tolerated on `exp` and `nbf`; default 30 s. */
  readonly clockToleranceSeconds?: number;
  /** A subset of ALLOWED_ALGORITHMS; default RS256, ES256, EdDSA. */
  readonly algorithms?: readonly string[];
  /** The time tokens are judged at (tests); default the clock. */
  readonly now?: () => Date;
}

export interface TokenVerifier {
  /** Resolves to the caller's context, or rejects with a 401 `OperationOutcomeError`. */
  verify(authorization: string | undefined): Promise<AccessContext>;
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  const refused = algorithms.filter((a) => !ALLOWED_ALGORITHMS.includes(a));
  if (refused.length > 0 || algorithms.length === 0) {
    throw new Error(`Token algorithms must be a non-empty subset of ${ALLOWED_ALGORITHMS.join()}`);
  }
  const getKey: JWTVerifyGetKey =
    options.keys instanceof URL
      ? createRemoteJWKSet(options.keys, { timeoutDuration: 5000, cooldownDuration: 30_000 })
      : createLocalJWKSet(options.keys);
  const clockTolerance = options.clockToleranceSeconds ?? 30;

  return {
    async verify(authorization) {
      const token = bearerToken(authorization);
      let payload: Record<string, unknown>;
      try {
        const result = await jwtVerify(token, getKey, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          clockTolerance,
          requiredClaims: ['exp', 'sub'],
          ...(options.now ? { currentDate: options.now() } : {}),
        });
        payload = result.payload;
      } catch (err) {
        throw verificationFailure(err);
      }
      return contextFromClaims(payload);
    },
  };
}

/** The token from an `Authorization: Bearer <token>` header, or a 401 saying what is wrong. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw unauthorizedError(
      'Authentication required: send Authorization: Bearer <token>',
      'Authorization',
      'missing',
    );
  }
  if (authorization.length > MAX_TOKEN_LENGTH) {
    throw unauthorizedError('The Authorization header is too long', 'Authorization');
  }
  const match = BEARER.exec(authorization.trim());
  if (!match?.[1]) {
    throw unauthorizedError('The Authorization header must use the Bearer scheme', 'Authorization');
  }
  if (!JWT_SHAPE.test(match[1])) {
    throw unauthorizedError('The bearer token is not a signed JWT', 'Authorization');
  }
  return match[1];
}

/** A jose failure → 401 with a general message, or 504/500 when the key server is at fault. */
function verificationFailure(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  if (err instanceof errors.JWTExpired) {
    return unauthorizedError('The token has expired', 'token.exp');
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = /^[a-z_]{1,16}$/i.test(err.claim) ? err.claim : 'claims';
    const message =
      err.reason === 'missing'
        ? `The token has no ${claim} claim`
        : claim === 'nbf'
          ? 'The token is not valid yet'
          : claim === 'iss'
            ? 'The token was issued by an issuer this server does not trust'
            : claim === 'aud'
              ? 'The token is meant for another audience'
              : `The token ${claim} claim is not valid`;
    return unauthorizedError(message, `token.${claim}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return unauthorizedError('The token is signed with an algorithm this server refuses');
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return unauthorizedError('The token is not signed by a key this server trusts');
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return unauthorizedError('The token signature is not valid');
  }
  if (err instanceof errors.JWKSTimeout || isFetchFailure(err)) {
    return keyServerFailure(
      'server-timeout',
      'timeout',
      'The token issuer keys could not be fetched',
    );
  }
  if (err instanceof errors.JWKSInvalid) {
    return keyServerFailure(undefined, 'exception', 'The token issuer keys are not a valid JWKS');
  }
  return unauthorizedError('The bearer token is malformed or cannot be verified');
}

/**
 * The remote JWKS could not be fetched (a non-200 answer, unparsable JSON, or a socket error such
 * as ECONNREFUSED): the server's problem, not the caller's, so not a 401.
 */
function isFetchFailure(err: unknown): boolean {
  if (err instanceof errors.JOSEError) return err.code === 'ERR_JOSE_GENERIC';
  // Socket errors come from node's http module (duck-typed: under jest they are another realm's).
  return typeof err === 'object' && err !== null && 'syscall' in err;
}

function keyServerFailure(
  id: 'server-timeout' | undefined,
  code: 'timeout' | 'exception',
  message: string,
): OperationOutcomeError {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    ...(id ? { id } : {}),
    issue: [error(code, message, 'Authorization')],
  };
  return new OperationOutcomeError(outcome);
}
