/**
 * Failures the service answers with, as `OperationOutcomeError`s that carry their HTTP status.
 * Medplum's `getStatus()` knows the statuses of the store's outcomes (404, 409, 412, 401, 403,
 * 429, 500); the façade also answers 413, 415 and 422, which it does not know, so the status is
 * carried explicitly. Every issue names its fault with a FHIRPath expression.
 */
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { error, outcome } from '../validation';

type IssueCode = OperationOutcomeIssue['code'];

export class HttpOutcomeError extends OperationOutcomeError {
  constructor(
    readonly status: number,
    result: OperationOutcome,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(result);
  }
}

/** One error issue, as an error with this status. */
export function fault(
  status: number,
  code: IssueCode,
  message: string,
  expression: string,
): HttpOutcomeError {
  return new HttpOutcomeError(status, outcome([error(code, message, expression)]));
}

/** The issues a validator (or builder) gave, as the error for content that fails the rules. */
export function unprocessable(result: OperationOutcome): HttpOutcomeError {
  return new HttpOutcomeError(422, result);
}

/** 412, the status Medplum's outcomes and the stores use for a stale If-Match. */
export function stale(message: string, expression: string): HttpOutcomeError {
  return fault(412, 'conflict', message, expression);
}

/** The HTTP status of any error thrown while serving a request (500 for the unforeseen). */
export function statusOf(err: unknown): number {
  if (!(err instanceof OperationOutcomeError)) return 500;
  // HttpOutcomeError, and the fhir-server store's errors, carry the status to answer with.
  const carried = (err as { status?: unknown }).status;
  return typeof carried === 'number' ? carried : getStatus(err.outcome);
}

/**
 * A 400 about a request's parameters, located at `at` instead (an entry's `request.url` inside a
 * Bundle, where a parameter's name is no FHIRPath); its message still names the parameter.
 * Other errors are returned as they are.
 */
export function locatedAt(err: unknown, at: string): unknown {
  if (!(err instanceof OperationOutcomeError) || statusOf(err) !== 400) return err;
  const issue = err.outcome.issue.map((i) => ({ ...i, expression: [at] }));
  return new HttpOutcomeError(400, { ...err.outcome, issue });
}
