/**
 * Request bodies: FHIR JSON only (415 otherwise), at most BODY_LIMIT_BYTES, or BUNDLE_LIMIT_BYTES
 * for a transaction or batch (413 before reading more), parsed with prototype-pollution protection: a `__proto__` or `constructor.prototype` key
 * anywhere is refused with 400 rather than stripped, since a client sending one is either broken
 * or probing. Nesting is bounded by the validator (too-costly), not here.
 *
 * Bodies are never altered on the way in. Every body (FHIR JSON, and the native formats, which
 * share `rawText`) is UTF-8, the only encoding FHIR JSON has:
 * - a `charset` other than utf-8 (any case; `utf8` too) is a 415 before the body is read, since
 *   decoding by the label would turn UTF-8 names into mojibake ("ZoÃ«") and store them;
 * - bytes that are not UTF-8 are a 400 `structure` naming the line and, in JSON, the element
 *   holding them, never replaced by U+FFFD and stored.
 * A leading byte-order mark is dropped. Numbers JSON cannot hold as written (`1e400`, which
 * `JSON.parse` makes Infinity and `JSON.stringify` would write as `null`) are left to the
 * validator, which every write passes: a 422 `value` at the element, as is an integer outside
 * FHIR's 32-bit range. Looking for them here would cost every body a second pass.
 * The 413 names the limit of the route that refused the body (/native takes more than /fhir).
 */
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import secureJson from 'secure-json-parse';
import { fault } from '../service/outcomes';
import { definitionOf, loadFhirSchema, type PropertyRefs } from '../validation/fhir-schema';
import { fhirPathOf } from '../validation/validator';
import { FHIR_JSON } from './http';

export const BODY_LIMIT_BYTES = 1024 * 1024;
/**
 * A transaction or batch Bundle (`POST /fhir`) from a system may be larger: a handover sends a
 * person's whole record as one transaction, about 70 KB a DIALOG session (its response,
 * Observations, Goals and Provenance, with narratives), so a 1 MB limit refused anyone with more
 * than ~14 sessions (measured). 32 MB holds ~450 sessions. A record larger than that is refused
 * with this 413, which handover delivery reports on its Task.
 */
export const BUNDLE_LIMIT_BYTES = 32 * 1024 * 1024;

const JSON_TYPES = new Set([FHIR_JSON, 'application/json']);

export function mediaType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The Content-Type's `charset` parameter (lower case, unquoted), or undefined without one. */
export function charsetOf(req: Request): string | undefined {
  const params = (req.headers['content-type'] ?? '').split(';').slice(1);
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return undefined;
}

const UTF8_LABELS = new Set(['utf-8', 'utf8']);

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

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The raw body as text, whatever its media type: UTF-8 only (415 for another charset, 400 for
 * bytes that are not UTF-8), with the limit enforced (413 naming it).
 */
export function rawText(limit = BODY_LIMIT_BYTES): RequestHandler {
  const read = express.raw({ type: () => true, limit });
  return (req, res, next) => {
    const charset = charsetOf(req);
    if (charset !== undefined && !UTF8_LABELS.has(charset)) {
      next(
        fault(
          415,
          'not-supported',
          'Only UTF-8 is accepted: send charset=utf-8, or no charset',
          'Resource',
        ),
      );
      return;
    }
    read(req, res, (err?: unknown) => {
      if (err !== undefined) {
        next(readFailure(err, limit));
        return;
      }
      const body: unknown = req.body;
      if (!Buffer.isBuffer(body)) {
        // No body at all (body-parser skips requests without one).
        req.body = undefined;
        next();
        return;
      }
      try {
        req.body = strictUtf8.decode(body);
      } catch {
        next(notUtf8(body, JSON_TYPES.has(mediaType(req))));
        return;
      }
      next();
    });
  };
}

/** body-parser's errors, as OperationOutcomes saying what is accepted. */
function readFailure(err: unknown, limit: number): unknown {
  const type = (err as { type?: unknown }).type;
  if (type === 'entity.too.large')
    return fault(413, 'too-costly', `The body is larger than ${limit} bytes`, 'Resource');
  if (type === 'encoding.unsupported')
    return fault(
      415,
      'not-supported',
      'Content-Encoding not supported: send the body as is, or gzip, deflate or br',
      'Resource',
    );
  return err;
}

/** Where the first byte that is not UTF-8 is (a byte offset), or -1 when all are. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    let extra: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [extra, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [extra, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [extra, min] = [3, 0x10000];
    else return i;
    // Cut short by the end of the body.
    if (i + extra >= bytes.length) return i;
    let code = b & (0x3f >> extra);
    for (let k = 1; k <= extra; k++) {
      const c = bytes[i + k] ?? 0;
      if ((c & 0xc0) !== 0x80) return i;
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += extra + 1;
  }
  return -1;
}

/** 400 for a body that is not UTF-8, naming the line and (in JSON) the element holding it. */
function notUtf8(bytes: Buffer, json: boolean): unknown {
  const offset = Math.max(0, firstInvalidUtf8(bytes));
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return fault(
    400,
    'structure',
    `The body is not valid UTF-8 (line ${line}): only UTF-8 is accepted`,
    json ? elementHoldingInvalidUtf8(bytes, offset) : 'Resource',
  );
}

const REPLACEMENT = '\ufffd';

/**
 * The FHIRPath of the string holding the first bytes that are not UTF-8: decoded with them
 * replaced, that string is the first (in document order) with a U+FFFD, unless the valid text
 * before them holds one of its own. `Resource` when that cannot be told or the JSON is unreadable.
 */
function elementHoldingInvalidUtf8(bytes: Buffer, offset: number): string {
  const before = bytes.subarray(0, offset).toString('utf8');
  if (before.includes(REPLACEMENT)) return 'Resource';
  let parsed: unknown;
  try {
    parsed = JSON.parse(before + bytes.subarray(offset).toString('utf8'));
  } catch {
    return 'Resource';
  }
  return (
    locate(parsed, (value, key) => key.includes(REPLACEMENT) || isStringWith(value, REPLACEMENT)) ??
    'Resource'
  );
}

const isStringWith = (value: unknown, text: string): boolean =>
  typeof value === 'string' && value.includes(text);

interface PathStep {
  readonly parent?: PathStep | undefined;
  readonly key: string;
}

/**
 * The FHIRPath of the first value (in document order) for which `found(value, key)` holds, or
 * undefined. Iterative: the body may be nested deeper than the stack.
 */
function locate(
  root: unknown,
  found: (value: unknown, key: string) => boolean,
): string | undefined {
  const stack: { value: unknown; step?: PathStep }[] = [{ value: root }];
  while (stack.length > 0) {
    const { value, step } = stack.pop() ?? { value: undefined };
    if (found(value, step?.key ?? '')) return pathOf(root, step);
    if (value === null || typeof value !== 'object') continue;
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i] ?? ['', undefined];
      stack.push({ value: child, step: { parent: step, key } });
    }
  }
  return undefined;
}

function pathOf(root: unknown, step: PathStep | undefined): string {
  if (step === undefined) return 'Resource';
  const segments: string[] = [];
  for (let s: PathStep | undefined = step; s; s = s.parent) segments.unshift(s.key);
  const type = (root as { resourceType?: unknown } | null)?.resourceType;
  return fhirPathOf(
    typeof type === 'string' && /^[A-Z][A-Za-z]{0,63}$/.test(type) ? type : 'Resource',
    elementSegments(root, segments),
  );
}

type Definitions = Record<string, { properties?: Record<string, PropertyRefs> } | undefined>;

/**
 * JSON keys as the validator names them (FHIRPath has no `_x`): what a primitive's `_x` holds is
 * the element `x`'s (`_given/1/extension/0` is `given[1].extension[0]`, `_valueString` is
 * `value.ofType(string)`). Which `_x` is a primitive's is read from the R4 schema the validator
 * uses, along the path (into contained and entry resources by their resourceType): an `_x` it does
 * not know there (`_foo`, `_name` on a Patient) is named as written, as the validator does.
 */
function elementSegments(root: unknown, keys: readonly string[]): string[] {
  const definitions = loadFhirSchema().definitions as Definitions;
  let value = root;
  let type = resourceTypeOf(value, definitions);
  return keys.map((key) => {
    value = isObject(value) ? value[key] : undefined;
    if (/^\d+$/.test(key)) {
      // An entry of a list of resources (contained) is of its own resourceType.
      if (type === 'ResourceList' || type === 'Resource')
        type = resourceTypeOf(value, definitions) ?? type;
      return key;
    }
    const properties = type === undefined ? undefined : definitions[type]?.properties;
    const property = properties && Object.hasOwn(properties, key) ? properties[key] : undefined;
    type = definitionOf(property);
    if (type === 'ResourceList' || type === 'Resource')
      type = resourceTypeOf(value, definitions) ?? type;
    return property && key.startsWith('_') ? key.slice(1) : key;
  });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object';

/** A JSON object's resourceType, when the schema has a definition of that name. */
function resourceTypeOf(value: unknown, definitions: Definitions): string | undefined {
  if (!isObject(value) || Array.isArray(value)) return undefined;
  const type = value.resourceType;
  return typeof type === 'string' && Object.hasOwn(definitions, type) ? type : undefined;
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

const readUpToBundleLimit = rawText(BUNDLE_LIMIT_BYTES);
const readUpToBodyLimit = rawText();

/**
 * The same, for a transaction or batch Bundle: up to BUNDLE_LIMIT_BYTES where `takesWholeRecords`
 * says the caller may send one (a peer system handing a person over), else BODY_LIMIT_BYTES.
 */
export function bundleBody(takesWholeRecords: (res: Response) => boolean): RequestHandler[] {
  return [
    requireJson,
    (req, res, next) => {
      const read = takesWholeRecords(res) ? readUpToBundleLimit : readUpToBodyLimit;
      read(req, res, next);
    },
    parseJson,
  ];
}
