/**
 * A resource's history as FHIR pages it: the page a request asks for (`_count`, `_offset`,
 * `_since`) and the history Bundle of what the store cut, with its paging links. Read here for
 * both `GET /fhir/Type/id/_history` (src/api/history-page.ts) and a batch entry of it
 * (bundles.ts), so the two answer alike.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { HistoryPage, HistoryResult } from '../store/fhir-store';
import { DEFAULT_COUNT, instantRange, MAX_COUNT, nonNegative } from '../store/search-query';
import { refuseParametersNotIn } from './known-parameters';
import { fault } from './outcomes';
import { pageLinks } from './page-links';

/**
 * A history Bundle of one resource's versions, newest first: each entry with the request that
 * made the version and its response (bdl-3); `fullUrl`s when the server's base is known.
 */
function historyBundleOf(versions: readonly Resource[], base?: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'history',
    total: versions.length,
    entry: versions.map((resource) => {
      const first = resource.meta?.versionId === '1';
      const path = `${resource.resourceType}/${resource.id ?? ''}`;
      return {
        ...(base !== undefined ? { fullUrl: `${base}/${path}` } : {}),
        resource,
        request: { method: first ? 'POST' : 'PUT', url: first ? resource.resourceType : path },
        response: {
          status: first ? '201 Created' : '200 OK',
          ...(resource.meta?.lastUpdated ? { lastModified: resource.meta.lastUpdated } : {}),
        },
      };
    }),
  };
}

/** The parameters a history takes: its page, as a search's (`_count`, `_offset`), and `_since`. */
export const HISTORY_PAGE_PARAMETERS = ['_count', '_offset', '_since'] as const;

/** A FHIR instant: a dateTime to the second with its zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

function once(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw fault(400, 'invalid', `${name} may be given once`, name);
  return values[0];
}

function wholeNumber(value: string | undefined, name: string): number | undefined {
  return value === undefined ? undefined : nonNegative(value, name, name);
}

/**
 * The page a history request asks for: `_since` (an instant: versions written at or after it),
 * `_count` (page size, default and limit as for searches) and `_offset` (our paging links'
 * position, as for searches). Unknown parameters are the caller's to refuse. Read here for both
 * `GET /fhir/Type/id/_history` (src/api/history-page.ts) and a batch entry of it.
 */
export function historyPageOf(query: URLSearchParams): HistoryPage {
  const count = Math.min(wholeNumber(once(query, '_count'), '_count') ?? DEFAULT_COUNT, MAX_COUNT);
  const offset = wholeNumber(once(query, '_offset'), '_offset') ?? 0;
  // An unencoded `+` in a query string arrives as a space: in a UTC offset it can only be `+`.
  const sinceText = once(query, '_since')?.replace(/ /g, '+');
  if (sinceText === undefined) return { count, offset };
  const range = INSTANT.test(sinceText) ? instantRange(sinceText) : undefined;
  if (!range)
    throw fault(
      400,
      'invalid',
      '_since must be an instant, e.g. 2026-01-31T09:00:00Z (to the second, with its zone)',
      '_since',
    );
  return { count, offset, since: range.lo };
}

/**
 * The history Bundle of `found`, the page `page` of a history as the store cut it, with `self`,
 * `next` and `previous` links at `url` (the history's own address, without a query: absolute
 * from a route, relative to the service base from a batch entry) and `fullUrl`s under `base`
 * when it is known. The links go by the store's positions and total: a page the caller sees
 * only part of (fhir-service.ts, `historyPage`) is followed by the next one, none skipped.
 */
export function historyResultBundle(
  found: HistoryResult<Resource>,
  page: HistoryPage,
  url: string,
  query: URLSearchParams,
  base?: string,
): Bundle {
  const links = pageLinks(url, query, page, page.offset + page.count < found.total);
  return { ...historyBundleOf(found.versions, base), total: found.total, link: links };
}

/** A parameter a history does not take is refused, not ignored (src/api/query-parameters.ts). */
export function checkHistoryParameters(query: URLSearchParams): void {
  refuseParametersNotIn(query, HISTORY_PAGE_PARAMETERS, 'A history');
}
