/**
 * Request bodies: FHIR JSON only (415 otherwise), at most BODY_LIMIT_BYTES (413 before reading
 * more), parsed with prototype-pollution protection: a `__proto__` or `constructor.prototype` key
 * anywhere is refused with 400 rather than stripped, since a client sending one is either broken
 * or probing. Nesting is bounded by the validator (too-costly), not here.
 */
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import secureJson from 'secure-json-parse';
import { fault } from '../service/outcomes';
import { FHIR_JSON } from './http';

export const BODY_LIMIT_BYTES = 1024 * 1024;

const JSON_TYPES = new Set([FHIR_JSON, 'application/json']);

export function mediaType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** 415 unless the body is FHIR JSON. */
export function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (JSON_TYPES.has(mediaType(req))) next();
  else
    next(
      fault(
        415,
        'not-supported',
        'Send FHIR JSON (Content-Type: application/fhir+json)',
        'Resource',
      ),
    );
}

/** The raw body as text, whatever its type, with the limit enforced (413). */
export function rawText(limit = BODY_LIMIT_BYTES): RequestHandler {
  return express.text({ type: () => true, limit });
}

/** Parses `req.body` (text) into JSON, refusing prototype keys; the result replaces `req.body`. */
export function parseJson(req: Request, _res: Response, next: NextFunction): void {
  const text = typeof req.body === 'string' ? req.body : '';
  try {
    req.body = secureJson.parse(text, undefined, {
      protoAction: 'error',
      constructorAction: 'error',
    });
    next();
  } catch (err) {
    const polluted = err instanceof SyntaxError && /prototype/.test(err.message);
    next(
      fault(
        400,
        polluted ? 'security' : 'structure',
        polluted
          ? 'The body holds a __proto__ or constructor.prototype key, which is never accepted'
          : 'The body is not well-formed JSON',
        'Resource',
      ),
    );
  }
}

/** The three steps every JSON body goes through. */
export const jsonBody: RequestHandler[] = [requireJson, rawText(), parseJson];
