/**
 * Search parameters read into a query any store can run: filters (all must hold, each a set of
 * alternatives), paging and order. Unknown parameters, modifiers, prefixes and malformed values
 * are refused with a 400 naming the parameter; nothing is silently ignored. Pure.
 *
 * Dates without a UTC offset (`2025-10-20`, `2025-10-20T10:00`) are read as UTC, so a search
 * means the same whatever the server's zone.
 */
import type { SearchOptions, SearchParams } from './fhir-store';
import { invalid, notSupported, tooCostly } from './outcomes';
import { indexedParameter, referenceValue, RESULT_PARAMETERS } from './search-parameters';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** One acceptable value: undefined system or value means "any". */
export interface TokenAlternative {
  readonly system?: string;
  readonly value?: string;
}

/** `from` ≤ lastUpdated < `before` (epoch milliseconds; either side open). */
export interface InstantRange {
  readonly from?: number;
  readonly before?: number;
}

export type Filter =
  | { readonly kind: 'id'; readonly ids: readonly string[] }
  | {
      readonly kind: 'index';
      readonly param: string;
      readonly alternatives: readonly TokenAlternative[];
    }
  | { readonly kind: 'lastUpdated'; readonly ranges: readonly InstantRange[] };

export type SortOrder = 'id' | '_lastUpdated' | '-_lastUpdated';

export interface ParsedSearch {
  readonly type: string;
  /** Every filter must hold; within one, any alternative. */
  readonly filters: readonly Filter[];
  readonly count: number;
  readonly offset: number;
  readonly sort: SortOrder;
}

export interface ParseOptions extends SearchOptions {
  /**
   * Where errors point. Without it, at the parameter's name; in a transaction, at the entry's
   * `request.url` or `request.ifNoneExist`.
   */
  readonly at?: string;
  /**
   * A condition (If-None-Exist, conditional update) rather than a search: paging and sort
   * parameters are refused, since the caller wants every match.
   */
  readonly condition?: boolean;
}

/** The parameters as `[name, value]` pairs in order. */
export function searchPairs(params: SearchParams | undefined): [string, string][] {
  if (params === undefined) return [];
  if (typeof params === 'string') {
    return [...new URLSearchParams(params.startsWith('?') ? params.slice(1) : params)];
  }
  if (params instanceof URLSearchParams) return [...params];
  return Object.entries(params).flatMap(([name, value]): [string, string][] =>
    typeof value === 'string' ? [[name, value]] : value.map((v): [string, string] => [name, v]),
  );
}

/**
 * Values of one parameter (`a,b,c`) a search takes: each is an OR in the SQL the embedded store
 * runs, and SQLite refuses an expression over 1,000 deep (a 500 for ~600 values before this).
 * The same limit for every store, so a search means the same wherever it runs.
 */
export const MAX_VALUES_PER_PARAMETER = 100;

function fewAlternatives(raw: string, name: string, at: string): string[] {
  const values = alternativesOf(raw);
  if (values.length > MAX_VALUES_PER_PARAMETER)
    throw tooCostly(
      `${name} takes at most ${MAX_VALUES_PER_PARAMETER} values (${values.length} given): search in parts`,
      at,
    );
  return values;
}

/** Splits on an unescaped separator; `\,` `\|` `\$` `\\` are the escapes FHIR defines. */
function splitEscaped(text: string, separator: string, limit = Infinity): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? '';
    if (char === '\\' && i + 1 < text.length) {
      current += text[i + 1] ?? '';
      i++;
    } else if (char === separator && parts.length < limit - 1) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}

/** `|` is kept escaped by the first split so the token split sees it. */
function alternativesOf(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? '';
    if (char === '\\' && i + 1 < text.length) {
      const next = text[i + 1] ?? '';
      current += next === ',' ? ',' : `\\${next}`;
      i++;
    } else if (char === ',') {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}

const DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The instants a date search value stands for: [lo, hi) in epoch milliseconds. */
export function instantRange(text: string): { lo: number; hi: number } | undefined {
  const m = DATE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  if (month < 1 || month > 12 || day < 1) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59))
    return undefined;
  const fraction = frac ?? '';
  const millis = fraction === '' ? 0 : Math.floor(Number(`0.${fraction}`) * 1000);
  // FHIR has no year 0 (its years run from 0001).
  if (year === 0) return undefined;
  let offset = 0;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const hours = Number(zone.slice(1, 3));
    const minutes = Number(zone.slice(4, 6));
    // UTC offsets run from -14:00 to +14:00 (FHIR's dateTime: 00:00–13:59 or 14:00).
    if (minutes > 59 || hours > 14 || (hours === 14 && minutes > 0)) return undefined;
    offset = sign * (hours * 60 + minutes) * 60_000;
  }
  const lo =
    utc(year, month - 1, day, Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), millis) - offset;
  const check = new Date(lo + offset);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  let hi: number;
  if (mo === undefined) hi = utc(year + 1, 0, 1);
  else if (d === undefined) hi = utc(year, month, 1);
  else if (h === undefined) hi = utc(year, month - 1, day + 1);
  else if (s === undefined) hi = lo + 60_000;
  else if (fraction === '') hi = lo + 1000;
  else hi = lo + Math.max(1, 10 ** (3 - Math.min(fraction.length, 3)));
  return { lo, hi };
}

/**
 * `Date.UTC` for every FHIR year: `Date.UTC` reads years 0–99 as 1900–1999, so `0099` would
 * have meant 1999. Months and days past their end carry over, as with `Date.UTC`.
 */
function utc(year: number, monthIndex: number, day: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

function unescapeValue(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

function rangeFor(prefix: string, lo: number, hi: number): InstantRange {
  switch (prefix) {
    case 'gt':
      return { from: hi };
    case 'ge':
      return { from: lo };
    case 'lt':
      return { before: lo };
    case 'le':
      return { before: hi };
    default:
      return { from: lo, before: hi };
  }
}

/** A whole number in [0, max] (a caller's default can be anything). */
function clamp(value: number, max: number): number {
  return Number.isFinite(value) ? Math.min(Math.max(0, Math.floor(value)), max) : 0;
}

/** A paging parameter's value (`_count`, `_offset`): a whole number, else a 400 at `at`. */
export function nonNegative(value: string, name: string, at: string): number {
  if (!/^\d{1,9}$/.test(value)) throw invalid(`${name} must be a whole number`, at);
  return Number(value);
}

/**
 * Reads `params` for a search of `type`. `options.count`/`offset` apply when the parameters do
 * not carry `_count`/`_offset`.
 */
export function parseSearch(
  type: string,
  params: SearchParams | undefined,
  options: ParseOptions = {},
): ParsedSearch {
  const filters: Filter[] = [];
  let count: number | undefined;
  let offset: number | undefined;
  let sort: SortOrder = 'id';
  const seen = new Set<string>();
  for (const [key, raw] of searchPairs(params)) {
    const [name = '', modifier] = splitEscaped(key, ':', 2);
    const at = options.at ?? name;
    if (RESULT_PARAMETERS.includes(name)) {
      if (options.condition) throw invalid(`A condition cannot use ${name}`, at);
      if (modifier !== undefined) throw notSupported(`${name} takes no modifier`, at);
      if (seen.has(name)) throw invalid(`${name} may be given once`, at);
      seen.add(name);
      if (name === '_count') count = Math.min(nonNegative(raw, name, at), MAX_COUNT);
      else if (name === '_offset') offset = nonNegative(raw, name, at);
      else if (raw === '_lastUpdated' || raw === '-_lastUpdated') sort = raw;
      else throw notSupported('Only _sort=_lastUpdated or -_lastUpdated is supported', at);
      continue;
    }
    if (raw === '') throw invalid(`Search parameter ${name} has no value`, at);
    if (name === '_id') {
      if (modifier !== undefined) throw notSupported('_id takes no modifier', at);
      filters.push({ kind: 'id', ids: alternativesOf(raw).map(unescapeValue) });
    } else if (name === '_lastUpdated') {
      if (modifier !== undefined) throw notSupported('_lastUpdated takes no modifier', at);
      filters.push({
        kind: 'lastUpdated',
        ranges: fewAlternatives(raw, name, at).map((v) => dateRange(v, at)),
      });
    } else {
      const param = indexedParameter(type, name);
      if (!param) throw invalid(`Unknown search parameter ${name} for ${type}`, at);
      const alternatives = fewAlternatives(raw, name, at).map((value) =>
        param.type === 'token'
          ? tokenAlternative(value, modifier, name, at)
          : referenceAlternative(value, modifier, name, at),
      );
      filters.push({ kind: 'index', param: name, alternatives });
    }
  }
  return {
    type,
    filters,
    count: count ?? clamp(options.count ?? DEFAULT_COUNT, MAX_COUNT),
    offset: offset ?? clamp(options.offset ?? 0, Number.MAX_SAFE_INTEGER),
    sort,
  };
}

function dateRange(value: string, at: string): InstantRange {
  const prefix = /^[a-z]{2}/.test(value) ? value.slice(0, 2) : 'eq';
  const rest = /^[a-z]{2}/.test(value) ? value.slice(2) : value;
  if (!['eq', 'gt', 'ge', 'lt', 'le'].includes(prefix))
    throw notSupported('_lastUpdated supports the prefixes eq, gt, ge, lt and le', at);
  // An unencoded `+` in a query string arrives as a space: in a UTC offset it can only be `+`.
  const range = instantRange(rest.replace(/ /g, '+'));
  if (!range) throw invalid('_lastUpdated must be a FHIR date or dateTime', at);
  return rangeFor(prefix, range.lo, range.hi);
}

function tokenAlternative(
  value: string,
  modifier: string | undefined,
  name: string,
  at: string,
): TokenAlternative {
  if (modifier !== undefined) throw notSupported(`${name} takes no modifier here`, at);
  const parts = splitEscaped(value, '|', 2);
  if (parts.length === 1) return { value: parts[0] ?? '' };
  const [system = '', code = ''] = parts;
  if (code === '') {
    if (system === '') throw invalid(`Search parameter ${name} has no value`, at);
    return { system };
  }
  return { system, value: code };
}

function referenceAlternative(
  text: string,
  modifier: string | undefined,
  name: string,
  at: string,
): TokenAlternative {
  const value = unescapeValue(text);
  if (modifier !== undefined && !/^[A-Z][A-Za-z]+$/.test(modifier))
    throw notSupported(`${name} supports only a resource type as modifier`, at);
  const target = referenceValue(value);
  if (target) {
    if (modifier !== undefined && modifier !== target.system)
      throw invalid(`The type in ${name}'s modifier and value differ`, at);
    return target;
  }
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(value))
    return modifier === undefined ? { value } : { system: modifier, value };
  throw invalid(`${name} must be Type/id or an id (relative references only)`, at);
}
