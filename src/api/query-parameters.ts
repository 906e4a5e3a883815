/**
 * Query parameters outside searches: what each endpoint takes, and `_format`.
 *
 * A search's parameters are checked by the search parser (src/store/search-query.ts): unknown
 * ones are a 400, never ignored. The same rule holds here for every other endpoint: a read,
 * vread, create, update, history or operation given a parameter it does not take answers 400 at
 * that parameter, rather than answering as if it were absent (a client sending `_since` to a
 * server that ignores it would take a whole history for the part it asked for).
 *
 * `_format` is FHIR's own override of the Accept header and is taken everywhere under /fhir: a
 * JSON value (`json`, `application/json`, `application/fhir+json`) changes nothing, anything else
 * (XML, Turtle) is a 406, as is an Accept header that admits no JSON. The operations that answer
 * in other media types (`$letter`, `$chart`) decide from their own `format` parameter instead.
 */
import type { NextFunction, Request, Response } from 'express';
import { HISTORY_PAGE_PARAMETERS } from '../service/history-bundle';
import { refuseParametersNotIn } from '../service/known-parameters';
import { fault } from '../service/outcomes';

/** What an endpoint takes: its own parameters, or anything (a search's, checked by its parser). */
type Takes = readonly string[] | 'search';

const NOTHING: readonly string[] = [];
/** Operations on an instance that take query parameters. */
const INSTANCE_OPERATION_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  $letter: ['format'],
};
/** Operations whose answer is not FHIR JSON: the Accept header is theirs to judge. */
const OTHER_MEDIA_OPERATIONS = new Set(['$letter', '$chart']);

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);
const JSON_MEDIA = new Set(['*/*', 'application/*', 'application/json', 'application/fhir+json']);

/** The query as the client wrote it, repeats kept. */
function rawQuery(req: Request): URLSearchParams {
  const at = req.originalUrl.indexOf('?');
  return new URLSearchParams(at >= 0 ? req.originalUrl.slice(at + 1) : '');
}

/** The query as the client wrote it (repeats kept), without `_format` (checked by `checkQuery`). */
export function queryOf(req: Request): URLSearchParams {
  const query = rawQuery(req);
  query.delete('_format');
  return query;
}

/** What the /fhir endpoint at `path` (below /fhir) takes, by the shape of the path. */
function takes(method: string, path: string): Takes {
  const parts = path.split('/').filter((p) => p.length > 0);
  const [first = '', , third] = parts;
  if (parts.length === 1 && !first.startsWith('$') && first !== 'metadata')
    // GET Type is a search and PUT Type a conditional update (a search's parameters); POST Type
    // is a create, which takes none.
    return method === 'POST' ? NOTHING : 'search';
  if (parts.length === 3 && third === '_history') return HISTORY_PAGE_PARAMETERS;
  if (parts.length === 3 && third?.startsWith('$'))
    return INSTANCE_OPERATION_PARAMETERS[third] ?? NOTHING;
  return NOTHING;
}

/** `_format` (in `query`) and the Accept header: FHIR JSON or a 406. */
function checkFormat(req: Request, query: URLSearchParams): void {
  const formats = query.getAll('_format');
  if (formats.length > 1) throw fault(400, 'invalid', '_format may be given once', '_format');
  const format = formats[0];
  if (format !== undefined && !JSON_FORMATS.has(mediaTypeOf(format)))
    throw fault(406, 'not-supported', 'This server answers in FHIR JSON only', '_format');
  const operation = req.path.split('/').find((p) => p.startsWith('$'));
  if (format === undefined && !(operation && OTHER_MEDIA_OPERATIONS.has(operation)))
    checkAccept(req.headers.accept);
}

function checkAccept(accept: string | undefined): void {
  if (accept === undefined || accept.trim() === '') return;
  const admitted = accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';');
    const refused = params.some((p) => /^\s*q\s*=\s*0(?:\.0{0,3})?\s*$/i.test(p));
    return !refused && JSON_MEDIA.has(type.trim().toLowerCase());
  });
  if (!admitted)
    throw fault(
      406,
      'not-supported',
      'This server answers in FHIR JSON only (Accept: application/fhir+json)',
      'Accept',
    );
}

function mediaTypeOf(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * Express middleware for /fhir: refuses query parameters the endpoint does not take (400 at the
 * first such parameter) and formats other than JSON (406).
 */
export function checkQuery(req: Request, _res: Response, next: NextFunction): void {
  // Most requests have neither (a read by a system): nothing to look at.
  if (!req.originalUrl.includes('?') && req.headers.accept === undefined) {
    next();
    return;
  }
  try {
    const query = rawQuery(req);
    checkFormat(req, query);
    const allowed = takes(req.method, req.path);
    if (allowed !== 'search') refuseParametersNotIn(query, allowed, 'This endpoint', ['_format']);
    next();
  } catch (err) {
    next(err);
  }
}

/** Express middleware for /native/{format}: `patient` only. */
export function checkNativeQuery(req: Request, _res: Response, next: NextFunction): void {
  for (const name of rawQuery(req).keys())
    if (name !== 'patient') {
      next(
        fault(400, 'not-supported', `/native takes no parameter ${name} (it takes patient)`, name),
      );
      return;
    }
  next();
}
