/**
 * Every failure as an OperationOutcome with its HTTP status. Unforeseen errors are logged (their
 * message and stack, which never hold request content) and answered with a bare 500.
 */
import type { NextFunction, Request, Response } from 'express';
import { OperationOutcomeError } from '@medplum/core';
import type winston from 'winston';
import { wwwAuthenticate } from '../auth';
import { HttpOutcomeError, statusOf } from '../service/outcomes';
import { error, outcome } from '../validation';
import { BODY_LIMIT_BYTES } from './body';
import { sendFhir } from './http';
import { routeOf } from './request-log';

export function errorHandler(logger: winston.Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    void _next;
    if (res.headersSent) return;
    if (err instanceof OperationOutcomeError) {
      const headers: Record<string, string> =
        err instanceof HttpOutcomeError ? { ...err.headers } : {};
      const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
      if (typeof retryAfterMs === 'number')
        headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
      const challenge = wwwAuthenticate(err);
      if (challenge) headers['WWW-Authenticate'] = challenge;
      sendFhir(res, statusOf(err), err.outcome, headers);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (status === 413) {
      sendFhir(
        res,
        413,
        outcome([
          error('too-costly', `The body is larger than ${BODY_LIMIT_BYTES} bytes`, 'Resource'),
        ]),
      );
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendFhir(
        res,
        status,
        outcome([error('invalid', 'The request could not be read', 'Resource')]),
      );
      return;
    }
    logger.error('unhandled error', {
      requestId: res.locals.requestId as string | undefined,
      route: routeOf(req, res),
      error: err instanceof Error ? err.stack : String(err),
    });
    sendFhir(res, 500, outcome([error('exception', 'Internal error', 'Resource')]));
  };
}
