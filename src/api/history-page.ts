/**
 * A page of a resource's history: `_since` (an instant: versions written at or after it),
 * `_count` (page size, default and limit as for searches) and `_offset` (our paging links'
 * position, as for searches). The versions come newest first; `total` counts those since
 * `_since` across all pages. The store cuts the page (`FhirStore.historyPage`), so a long
 * history is not read whole for one page of it.
 */
import type { Request } from 'express';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { fault } from '../service/outcomes';
import { historyBundleOf } from '../service/bundles';
import type { HistoryPage, HistoryResult } from '../store/fhir-store';
import { DEFAULT_COUNT, instantRange, MAX_COUNT, nonNegative } from '../store/search-query';
import { fhirBase } from './http';
import { queryOf } from './query-parameters';

export type { HistoryPage };

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

/** The page a history request asks for (its parameters checked by query-parameters.ts). */
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

/** The address of the history of `type/id` under `base`: its paging links go there. */
function historyUrl(base: string, type: string, id: string): string {
  return `${base}/${type}/${encodeURIComponent(id)}/_history`;
}

/**
 * The history Bundle of `found`, the page `page` of a history as the store cut it, with `self`,
 * `next` and `previous` links at `url` (the history's own URL, without a query). The links go by
 * the store's positions and total: a page the caller sees only part of (fhir-service.ts,
 * `historyPage`) is followed by the next one, none skipped.
 */
function historyResultBundle(
  found: HistoryResult<Resource>,
  page: HistoryPage,
  base: string,
  url: string,
  query: URLSearchParams,
): Bundle {
  const link = (offset: number): string => {
    const params = new URLSearchParams(query);
    params.set('_count', String(page.count));
    params.set('_offset', String(offset));
    return `${url}?${params.toString()}`;
  };
  const links: NonNullable<Bundle['link']> = [{ relation: 'self', url: link(page.offset) }];
  if (page.count > 0 && page.offset + page.count < found.total)
    links.push({ relation: 'next', url: link(page.offset + page.count) });
  if (page.offset > 0 && page.count > 0)
    links.push({ relation: 'previous', url: link(Math.max(0, page.offset - page.count)) });
  return { ...historyBundleOf(found.versions, base), total: found.total, link: links };
}

/**
 * The history Bundle a `_history` request of `type/id` asks for: its page (`historyPageOf`), read
 * by `read`, with links built from the type and id, not the request's path, which is relative to
 * whatever router answers it (`/stay-1/_history` under `/fhir/Encounter`).
 */
export async function historyOfRequest(
  req: Request,
  type: string,
  id: string,
  read: (page: HistoryPage) => Promise<HistoryResult<Resource>>,
): Promise<Bundle> {
  const query = queryOf(req);
  const page = historyPageOf(query);
  const base = fhirBase(req);
  return historyResultBundle(await read(page), page, base, historyUrl(base, type, id), query);
}
