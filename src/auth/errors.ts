/**
 * The two ways authentication and authorisation fail, as `OperationOutcomeError`s whose outcome
 * `id` is the one Medplum's `getStatus()` maps to the HTTP status ('unauthorized' → 401,
 * 'forbidden' → 403), so the façade answers with the right code without knowing where the error
 * came from. Messages say what is wrong with the credentials in general terms and never repeat
 * the token, a claim value or a resource id from the caller.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { error } from '../validation/outcome';

/** Why a 401 happened, for the `WWW-Authenticate` header (RFC 6750 §3). */
export type UnauthorizedReason = 'missing' | 'invalid';

function failure(
  id: 'unauthorized' | 'forbidden',
  code: 'login' | 'forbidden',
  message: string,
  expression: string,
): OperationOutcome {
  return { resourceType: 'OperationOutcome', id, issue: [error(code, message, expression)] };
}

/**
 * 401, issue code `login`. `expression` names the request part at fault: `Authorization` for
 * the header, or the token claim (`token.exp`, `token.scope`...).
 */
export function unauthorizedError(
  message: string,
  expression = 'Authorization',
  reason: UnauthorizedReason = 'invalid',
): OperationOutcomeError {
  return new UnauthorizedError(failure('unauthorized', 'login', message, expression), reason);
}

/** A 401 that remembers whether credentials were missing or failed (for `WWW-Authenticate`). */
export class UnauthorizedError extends OperationOutcomeError {
  constructor(
    outcome: OperationOutcome,
    readonly reason: UnauthorizedReason,
  ) {
    super(outcome);
  }
}

/** 403, issue code `forbidden`; `expression` is the resource type (or element) refused. */
export function forbiddenError(message: string, expression: string): OperationOutcomeError {
  return new OperationOutcomeError(failure('forbidden', 'forbidden', message, expression));
}

/**
 * The `WWW-Authenticate` value for a 401 or 403 from this module (RFC 6750): no error code when
 * the request had no credentials, `invalid_token` when they failed, `insufficient_scope` for a
 * 403. Undefined for any other error.
 */
export function wwwAuthenticate(err: unknown, realm = 'dialog-fhir'): string | undefined {
  if (!(err instanceof OperationOutcomeError)) return undefined;
  if (err.outcome.id === 'forbidden') return `Bearer realm="${realm}", error="insufficient_scope"`;
  if (err.outcome.id !== 'unauthorized') return undefined;
  return err instanceof UnauthorizedError && err.reason === 'missing'
    ? `Bearer realm="${realm}"`
    : `Bearer realm="${realm}", error="invalid_token"`;
}
