/**
 * The paging links of one page of a search or a history: `self`, `next` and `previous` at `url`
 * (the search's or history's own address, without its query: absolute from a route, relative to
 * the service base from a batch entry), each with the caller's query and `_count`/`_offset` set.
 * One place, so a route's Bundle and a batch entry's page the same way.
 */
import type { BundleLink } from '@medplum/fhirtypes';

export interface PagePosition {
  /** Where the page starts among all matches (or versions). */
  readonly offset: number;
  /** The page size asked for (0: a count only). */
  readonly count: number;
}

/** `hasNext`: whether matches (or versions) follow this page, by the caller's own measure. */
export function pageLinks(
  url: string,
  query: URLSearchParams,
  page: PagePosition,
  hasNext: boolean,
): BundleLink[] {
  const link = (offset: number): string => {
    const params = new URLSearchParams(query);
    params.set('_count', String(page.count));
    params.set('_offset', String(offset));
    return `${url}?${params.toString()}`;
  };
  const links: BundleLink[] = [{ relation: 'self', url: link(page.offset) }];
  // A page of 0 (a count only) has no next or previous page: each would be itself.
  if (page.count > 0 && hasNext)
    links.push({ relation: 'next', url: link(page.offset + page.count) });
  if (page.offset > 0 && page.count > 0)
    links.push({ relation: 'previous', url: link(Math.max(0, page.offset - page.count)) });
  return links;
}
