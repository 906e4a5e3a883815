/**
 * A transaction Bundle read into entries a store can apply, and the pieces every store needs
 * for it: checking each entry's request, ETags, and replacing `urn:uuid:` / `urn:oid:`
 * references with the ids the entries were given. Pure; errors point into the Bundle.
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { invalid, notSupported } from './outcomes';

export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE_PATTERN = /^[A-Z][A-Za-z]+$/;

export type EntryMethod = 'POST' | 'PUT' | 'GET';

export interface EntryRequest {
  readonly index: number;
  readonly method: EntryMethod;
  readonly type: string;
  /** PUT `Type/id`, GET `Type/id[/_history/v]`. */
  readonly id?: string;
  readonly versionId?: string;
  /** PUT/GET `Type?query`, or POST's `ifNoneExist`. */
  readonly query?: string;
  /** The versionId `ifMatch` names. */
  readonly ifMatch?: string;
  readonly fullUrl?: string;
  /** A copy of the entry's resource (POST and PUT), safe to change. */
  readonly resource?: Resource;
}

/** Where in the bundle an entry's parts are, for error expressions. */
export const at = {
  entry: (i: number): string => `Bundle.entry[${i}]`,
  fullUrl: (i: number): string => `Bundle.entry[${i}].fullUrl`,
  resource: (i: number): string => `Bundle.entry[${i}].resource`,
  method: (i: number): string => `Bundle.entry[${i}].request.method`,
  url: (i: number): string => `Bundle.entry[${i}].request.url`,
  ifMatch: (i: number): string => `Bundle.entry[${i}].request.ifMatch`,
  ifNoneExist: (i: number): string => `Bundle.entry[${i}].request.ifNoneExist`,
};

/** `W/"3"`, `"3"` or `3` → `3`; anything else is a 400 at `where`. */
export function versionOfETag(etag: string, where: string): string {
  const match = /^(?:W\/)?"([A-Za-z0-9\-.]{1,64})"$/.exec(etag.trim());
  const version = match?.[1] ?? (ID_PATTERN.test(etag.trim()) ? etag.trim() : undefined);
  if (!version) throw invalid('ifMatch must be an ETag such as W/"1"', where);
  return version;
}

export function checkResource(resource: unknown, where: string): Resource {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource))
    throw invalid('A resource is required', where);
  const { resourceType } = resource as { resourceType?: unknown };
  if (typeof resourceType !== 'string' || !TYPE_PATTERN.test(resourceType))
    throw invalid('The resource has no valid resourceType', `${where}.resourceType`);
  return resource as Resource;
}

export function checkId(id: unknown, where: string): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw invalid('An id is 1–64 letters, digits, "-" or "."', where);
  // FHIR's id pattern allows them, but as a path segment they name the type or the base.
  if (id === '.' || id === '..') throw invalid('An id of "." or ".." is not allowed', where);
  return id;
}

/** Levels of objects and arrays beyond which `copyJson` refuses (no FHIR resource nears it). */
const COPY_DEPTH_LIMIT = 2000;

/**
 * A deep copy of JSON data (what a resource is): several times faster than `structuredClone`
 * for it, which matters because every entry of every transaction is copied. More levels than
 * COPY_DEPTH_LIMIT is a RangeError, as `structuredClone`'s stack limit was (callers turn it into
 * a too-costly OperationOutcome).
 */
export function copyJson<T>(value: T, depth = 0): T {
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= COPY_DEPTH_LIMIT) throw new RangeError('The data is nested too deeply to copy');
  if (Array.isArray(value)) return value.map((item) => copyJson(item, depth + 1)) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = copyJson((value as Record<string, unknown>)[key], depth + 1);
    // An own "__proto__" key (JSON.parse makes one) stays a key, never the copy's prototype.
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value: item,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = item;
  }
  return copy as T;
}

function isEntryMethod(method: unknown): method is EntryMethod {
  return method === 'POST' || method === 'PUT' || method === 'GET';
}

/**
 * An entry's `request.url` (relative, a leading `/` allowed) as its path's segments and its
 * query: split at the first `?` only, the rest being the query whole, as a request's would be.
 */
export function entryUrlParts(url: string): { segments: string[]; query: string | undefined } {
  const relative = url.startsWith('/') ? url.slice(1) : url;
  const q = relative.indexOf('?');
  return {
    segments: (q < 0 ? relative : relative.slice(0, q)).split('/'),
    query: q < 0 ? undefined : relative.slice(q + 1),
  };
}

function requestOf(entry: NonNullable<Bundle['entry']>[number], i: number): EntryRequest {
  const { request } = entry;
  if (!request) throw invalid('A transaction entry needs a request', `${at.entry(i)}.request`);
  const method: unknown = request.method;
  if (!isEntryMethod(method))
    throw notSupported('Transactions here support POST, PUT and GET', at.method(i));
  if (typeof request.url !== 'string' || request.url === '')
    throw invalid('A transaction entry needs a request url', at.url(i));
  const { segments, query } = entryUrlParts(request.url);
  const [type = '', id, history, versionId, ...more] = segments;
  if (
    !TYPE_PATTERN.test(type) ||
    more.length > 0 ||
    (history !== undefined && history !== '_history')
  )
    throw invalid('The request url must be relative: Type, Type/id or Type?search', at.url(i));
  if (id !== undefined) checkId(id, at.url(i));
  if (versionId !== undefined) checkId(versionId, at.url(i));
  if (history !== undefined && method !== 'GET')
    throw invalid('Only GET may name a version', at.url(i));
  if (history !== undefined && versionId === undefined)
    throw notSupported(
      "A transaction's GET reads a resource or one version of it; a history is read in a batch or on its own",
      at.url(i),
    );
  if (query !== undefined && id !== undefined)
    throw invalid('The request url names an id and a search', at.url(i));
  if (request.ifMatch !== undefined && method !== 'PUT')
    throw invalid('ifMatch applies to PUT', at.ifMatch(i));
  if (request.ifNoneExist !== undefined && method !== 'POST')
    throw invalid('ifNoneExist applies to POST', at.ifNoneExist(i));
  const base = {
    index: i,
    method,
    type,
    ...(entry.fullUrl !== undefined ? { fullUrl: entry.fullUrl } : {}),
    ...(request.ifMatch !== undefined
      ? { ifMatch: versionOfETag(request.ifMatch, at.ifMatch(i)) }
      : {}),
  };
  if (method === 'GET') {
    if (entry.resource) throw invalid('A GET entry carries no resource', at.resource(i));
    if (id !== undefined) return { ...base, id, ...(versionId !== undefined ? { versionId } : {}) };
    return { ...base, query: query ?? '' };
  }
  const resource = copyJson(checkResource(entry.resource, at.resource(i)));
  if (resource.resourceType !== type)
    throw invalid(
      'The resource type differs from the request url',
      `${at.resource(i)}.resourceType`,
    );
  if (method === 'POST') {
    if (id !== undefined || query !== undefined)
      throw invalid('POST goes to the type: the url is just Type', at.url(i));
    const ifNoneExist = request.ifNoneExist?.startsWith(`${type}?`)
      ? request.ifNoneExist.slice(type.length + 1)
      : request.ifNoneExist;
    if (ifNoneExist === '') throw invalid('ifNoneExist has no search', at.ifNoneExist(i));
    return { ...base, resource, ...(ifNoneExist !== undefined ? { query: ifNoneExist } : {}) };
  }
  if (id === undefined && (query === undefined || query === ''))
    throw invalid('PUT goes to Type/id or Type?search', at.url(i));
  if (id !== undefined && resource.id !== undefined && resource.id !== id)
    throw invalid('The resource id differs from the request url', `${at.resource(i)}.id`);
  if (resource.id !== undefined) checkId(resource.id, `${at.resource(i)}.id`);
  return { ...base, resource, ...(id !== undefined ? { id } : { query: query ?? '' }) };
}

/** A JSON object: not null, not an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Request elements that are strings in FHIR, whatever JSON a client sends in their place. */
const REQUEST_STRINGS = [
  'method',
  'url',
  'ifMatch',
  'ifNoneExist',
  'ifNoneMatch',
  'ifModifiedSince',
];

/**
 * A Bundle's `entry` as FHIR shapes it: a list of objects whose `fullUrl` and `request` fields
 * are strings and whose `resource` and `request` are objects; a 400 at the first that is not (the
 * resources themselves are validated on their own).
 */
export function checkEntries(entries: unknown): asserts entries is BundleEntry[] | undefined {
  if (entries === undefined) return;
  if (!Array.isArray(entries))
    throw invalid('Bundle.entry must be a list of entries', 'Bundle.entry');
  entries.forEach((entry, i) => {
    checkEntry(entry, i);
  });
}

/** One entry's shape (see `checkEntries`). */
export function checkEntry(entry: unknown, i: number): asserts entry is BundleEntry {
  if (!isObject(entry)) throw invalid('An entry must be an object', at.entry(i));
  if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string')
    throw invalid('fullUrl must be a string', at.fullUrl(i));
  if (entry.resource !== undefined && !isObject(entry.resource))
    throw invalid('resource must be a resource (an object)', at.resource(i));
  const { request } = entry;
  if (request === undefined) return;
  if (!isObject(request)) throw invalid('request must be an object', `${at.entry(i)}.request`);
  for (const key of REQUEST_STRINGS)
    if (request[key] !== undefined && typeof request[key] !== 'string')
      throw invalid(`request.${key} must be a string`, `${at.entry(i)}.request.${key}`);
}

/** The entries of a transaction Bundle, checked; a 400 at the first fault. */
export function transactionRequests(bundle: unknown): EntryRequest[] {
  const checked = checkResource(bundle, 'Bundle');
  if (checked.resourceType !== 'Bundle') throw invalid('Expected a Bundle', 'Bundle.resourceType');
  if (checked.type !== 'transaction')
    throw notSupported('Only transaction Bundles are applied here', 'Bundle.type');
  checkEntries(checked.entry);
  const fullUrls = new Set<string>();
  return (checked.entry ?? []).map((entry, i) => {
    const request = requestOf(entry, i);
    if (request.fullUrl !== undefined) {
      if (fullUrls.has(request.fullUrl))
        throw invalid('Two entries have the same fullUrl', at.fullUrl(i));
      fullUrls.add(request.fullUrl);
    }
    return request;
  });
}

export function isPlaceholder(value: string): boolean {
  return value.startsWith('urn:uuid:') || value.startsWith('urn:oid:');
}

/** FHIRPath for a property: a `…Reference` choice (`valueReference`) → `value.ofType(Reference)`. */
function step(key: string): string {
  const choice = /^([a-z][A-Za-z]*)Reference$/.exec(key);
  return choice?.[1] ? `${choice[1]}.ofType(Reference)` : key;
}

/**
 * Replaces every `reference` that is a placeholder with the `Type/id` it was given (and the
 * placeholders in narrative links). An unknown placeholder is a 400 naming where it is: the walk
 * builds no paths (it runs over every node of every entry), and only a failed one is walked
 * again to say where.
 */
export function resolvePlaceholders(
  node: unknown,
  ids: ReadonlyMap<string, string>,
  path: string,
): void {
  if (replacePlaceholders(node, ids)) return;
  throw invalid(
    'The reference names no entry of this transaction',
    `${unknownPlaceholderAt(node, ids, path) ?? path}.reference`,
  );
}

/**
 * Throws as `resolvePlaceholders` would, without changing `node`: for a transaction checked
 * before it is sent on whole (the fhir-server store), where copying each resource only to
 * resolve it was a deep clone of every entry.
 */
export function checkPlaceholders(
  node: unknown,
  ids: ReadonlyMap<string, string>,
  path: string,
): void {
  // The walk that names the place builds a path at every node: only for a fault.
  if (placeholdersKnown(node, ids)) return;
  const unknown = unknownPlaceholderAt(node, ids, path) ?? path;
  throw invalid('The reference names no entry of this transaction', `${unknown}.reference`);
}

/** False at the first placeholder `ids` does not know; changes nothing. */
function placeholdersKnown(node: unknown, ids: ReadonlyMap<string, string>): boolean {
  if (Array.isArray(node)) return node.every((item) => placeholdersKnown(item, ids));
  if (typeof node !== 'object' || node === null) return true;
  const record = node as Record<string, unknown>;
  // for…in, not Object.entries: no array per node (parsed JSON has no inherited keys).
  for (const key in record) {
    const value = record[key];
    if (key === 'reference' && typeof value === 'string' && isPlaceholder(value)) {
      if (!ids.has(value)) return false;
    } else if (typeof value === 'object' && value !== null && !placeholdersKnown(value, ids)) {
      return false;
    }
  }
  return true;
}

/** False at the first placeholder `ids` does not know. */
function replacePlaceholders(node: unknown, ids: ReadonlyMap<string, string>): boolean {
  if (Array.isArray(node)) return node.every((item) => replacePlaceholders(item, ids));
  if (typeof node !== 'object' || node === null) return true;
  const record = node as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (key === 'reference' && typeof value === 'string' && isPlaceholder(value)) {
      const target = ids.get(value);
      if (!target) return false;
      record[key] = target;
    } else if (key === 'div' && typeof value === 'string' && value.includes('urn:')) {
      record[key] = value.replace(
        /urn:(?:uuid|oid):[A-Za-z0-9\-.]+/g,
        (urn) => ids.get(urn) ?? urn,
      );
    } else if (typeof value === 'object' && value !== null && !replacePlaceholders(value, ids)) {
      return false;
    }
  }
  return true;
}

/** The FHIRPath of the element whose `reference` is a placeholder `ids` does not know. */
function unknownPlaceholderAt(
  node: unknown,
  ids: ReadonlyMap<string, string>,
  path: string,
): string | undefined {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const found = unknownPlaceholderAt(node[i], ids, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof node !== 'object' || node === null) return undefined;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key === 'reference' && typeof value === 'string' && isPlaceholder(value)) {
      if (!ids.has(value)) return path;
    } else if (typeof value === 'object' && value !== null) {
      const found = unknownPlaceholderAt(value, ids, `${path}.${step(key)}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
