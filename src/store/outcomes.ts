/**
 * The store's failures as `OperationOutcomeError`s. The outcome's `id` is the one Medplum's
 * `getStatus()` maps to an HTTP status, so the façade answers with the right code without
 * knowing where the error came from; the issue carries a FHIRPath `expression`.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { error } from '../validation';

type IssueCode = OperationOutcomeIssue['code'];

/** Outcome ids `getStatus()` knows: 404, 409, 412, 412. Without one the status is 400. */
type StatusId = 'not-found' | 'conflict' | 'precondition-failed' | 'multiple-matches';

function fail(
  statusId: StatusId | undefined,
  code: IssueCode,
  message: string,
  expression: string,
): OperationOutcomeError {
  const result: OperationOutcome = {
    resourceType: 'OperationOutcome',
    ...(statusId ? { id: statusId } : {}),
    issue: [error(code, message, expression)],
  };
  return new OperationOutcomeError(result);
}

/** 400: the request itself is wrong. */
export const invalid = (message: string, expression: string): OperationOutcomeError =>
  fail(undefined, 'invalid', message, expression);

/** 400: asks for more than the store takes in one request (too many values of a parameter). */
export const tooCostly = (message: string, expression: string): OperationOutcomeError =>
  fail(undefined, 'too-costly', message, expression);

/** 400: asks for something this store does not do (a method, a modifier, a sort). */
export const notSupported = (message: string, expression: string): OperationOutcomeError =>
  fail(undefined, 'not-supported', message, expression);

/** 404. */
export const notFound = (message: string, expression: string): OperationOutcomeError =>
  fail('not-found', 'not-found', message, expression);

/** 409: the write would clash with what is stored (or another writer holds the store). */
export const conflict = (message: string, expression: string): OperationOutcomeError =>
  fail('conflict', 'conflict', message, expression);

/** 412: `ifMatch` does not name the current version. */
export const preconditionFailed = (message: string, expression: string): OperationOutcomeError =>
  fail('precondition-failed', 'conflict', message, expression);

/** 412: a condition meant to find at most one resource found several. */
export const multipleMatches = (message: string, expression: string): OperationOutcomeError =>
  fail('multiple-matches', 'multiple-matches', message, expression);
