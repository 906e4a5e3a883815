/**
 * Walking a search at a store (ours, or a peer's FHIR server) oldest change first, by keyset on
 * `_lastUpdated` rather than by `_offset`: each page is asked for with `_sort=_lastUpdated` and
 * `_lastUpdated=ge<the latest instant the last page held>`, and the matches at that instant that
 * page held already are skipped. Every FHIR server supports that; not every one honours `_offset`
 * (a server paging by its own tokens answers every `_offset` with its first page), and `_offset`
 * also shifts under the walk when a match is updated meanwhile (it moves to the end, and the match
 * after it slides back onto a page already read: skipped). A match updated during the walk is met
 * again at its new instant (a new version; callers skip versions they have).
 *
 * Ties: many matches may share one instant (a transaction stamps all it writes with one). `ge`
 * brings back those the last page held, which are skipped by id. A full page that holds only one
 * instant cannot be got past by `ge`: that instant is then read on its own (`_lastUpdated=<it>`,
 * to the millisecond, MAX_COUNT matches at a time — the fhir-server store fills a page from the
 * server's own `next` links; `_offset` only past MAX_COUNT at one instant), and the walk goes on
 * `gt` it. Instants are compared to the millisecond, as the stores send them
 * (fhir-server-store.ts), so a server keeping finer instants still has each millisecond read whole.
 *
 * The walk relies on the server's `_sort=_lastUpdated` and `_lastUpdated` filter: a page out of
 * that order or range (or without `meta.lastUpdated`) ends it, cut at the last instant read whole
 * (`WalkEnd`), rather than skipping what it cannot place — but for the first page: a server that
 * answers that one out of order does not sort by `_lastUpdated` at all, and is walked by
 * `_offset` instead (`byOffset`), as every search was before.
 */
import type { Resource, ResourceType } from '@medplum/fhirtypes';
import { FhirServerError, MAX_COUNT, type FhirStore } from '../store';

export interface LastUpdatedSearch {
  readonly store: FhirStore;
  readonly type: ResourceType;
  /** The search's own parameters (no `_lastUpdated`, `_sort`, `_count` or `_offset`). */
  readonly params: Readonly<Record<string, string>>;
  /** Only matches changed after this instant (epoch ms); undefined: all. */
  readonly after?: number;
  readonly pageSize: number;
  /** At most this many searches (the instant reads included). */
  readonly maxPages: number;
  /** Asked before each search: true ends the walk there. */
  readonly stopped?: () => boolean;
}

/**
 * How a walk ended, filled in as it ends. Whole: every match was read. Otherwise every match
 * changed before `cutAt` was read and, at `cutAt` itself, perhaps only some: a caller keeping a
 * watermark may not pass it.
 */
export interface WalkEnd {
  cutAt?: number;
  /**
   * Why it was cut: `stopped` or `max-pages` (pages were left), `unordered` (the server answered
   * outside the order or range asked for, or without `meta.lastUpdated`: going on could skip
   * matches), `offset-ignored` (more than MAX_COUNT matches at one instant, at a server that
   * ignores `_offset`).
   */
  why?: 'stopped' | 'max-pages' | 'unordered' | 'offset-ignored';
}

/** How often one instant is read again from its start when matches left it mid-read. */
const MAX_REREADS = 10;

/** Where the next page starts: after `at` (`gt`), or at it (`ge`) less the ids read there. */
interface Lower {
  readonly at: number;
  readonly inclusive: boolean;
  readonly read: ReadonlySet<string>;
}

/** The matches in pages, oldest change first (see the header); `end` says how it ended. */
export async function* byLastUpdated(
  search: LastUpdatedSearch,
  end: WalkEnd,
): AsyncGenerator<Resource[]> {
  let lower: Lower | undefined =
    search.after === undefined
      ? undefined
      : { at: search.after, inclusive: false, read: new Set() };
  let pages = 0;
  /** Counts a search; false once `maxPages` were made. */
  const budget = (): boolean => pages++ < search.maxPages;
  const cut = (why: NonNullable<WalkEnd['why']>, at = lower?.at ?? 0): void => {
    end.cutAt = at;
    end.why = why;
  };
  for (;;) {
    if (search.stopped?.()) return cut('stopped');
    if (!budget()) return cut('max-pages');
    // At offset 0 the search is never `offset-ignored`.
    const resources = (await searchPage(
      search,
      lower ? `${lower.inclusive ? 'ge' : 'gt'}${iso(lower.at)}` : undefined,
      search.pageSize,
      0,
    )) as Resource[];
    const times = resources.map(instantOf);
    if (!inOrder(times, lower)) {
      // The first page already out of order: a server that does not sort by (or filter on)
      // `_lastUpdated`, not a change mid-walk. Walked by `_offset` instead, from its start.
      if (pages === 1) return yield* byOffset(search, resources, budget, end);
      return cut('unordered');
    }
    const before = lower;
    const fresh = resources.filter(
      (r, i) => !(before && times[i] === before.at && before.read.has(keyOf(r))),
    );
    if (fresh.length > 0) yield fresh;
    if (resources.length < search.pageSize) return;
    const last = times[times.length - 1] as number;
    if (times[0] !== last) {
      lower = { at: last, inclusive: true, read: keysAt(resources, times, last) };
      continue;
    }
    // A full page of one instant: `ge` it would bring the same page again.
    const read = new Set(lower?.at === last ? lower.read : []);
    for (const r of resources) read.add(keyOf(r));
    const whole = yield* instant(search, last, read, budget);
    if (whole !== true) return cut(whole, last);
    lower = { at: last, inclusive: false, read: new Set() };
  }
}

/**
 * Every match at one instant (to the millisecond) not in `read`, MAX_COUNT at a time; resolves to
 * true once all were read, else why not (the walk is cut there).
 *
 * Past the first search, by `_offset`, each search starts one match early, at the last one read:
 * a match read at this instant and updated meanwhile has left it, so those after it slid back and
 * a search at the next offset would skip one never read. Where the search does not start with the
 * match read last, the instant is read again from its start (what was read is skipped), at most
 * MAX_REREADS times (a server whose order of ties is not stable: `unordered`).
 */
async function* instant(
  search: LastUpdatedSearch,
  at: number,
  read: Set<string>,
  budget: () => boolean,
): AsyncGenerator<Resource[], true | 'stopped' | 'max-pages' | 'offset-ignored' | 'unordered'> {
  let offset = 0;
  let lastRead: string | undefined;
  let rereads = 0;
  for (;;) {
    if (search.stopped?.()) return 'stopped';
    if (!budget()) return 'max-pages';
    const from = lastRead === undefined ? 0 : offset - 1;
    const resources = await searchPage(search, iso(at), MAX_COUNT, from);
    if (resources === 'offset-ignored') return resources;
    if (resources.some((r) => instantOf(r) !== at)) return 'unordered';
    if (
      lastRead !== undefined &&
      (resources[0] === undefined || keyOf(resources[0]) !== lastRead)
    ) {
      if (++rereads > MAX_REREADS) return 'unordered';
      offset = 0;
      lastRead = undefined;
      continue;
    }
    const fresh = resources.filter((r) => !read.has(keyOf(r)));
    for (const r of fresh) read.add(keyOf(r));
    if (fresh.length > 0) yield fresh;
    if (resources.length < MAX_COUNT) return true;
    offset = from + resources.length;
    lastRead = keyOf(resources[resources.length - 1] as Resource);
  }
}

/**
 * The walk at a server that ignores `_sort=_lastUpdated` (or the `_lastUpdated` filter): the
 * search's pages by `_offset` (as before keyset paging), `first` being the answer at offset 0.
 * Whole when a page comes back short; cut at `after` (where it began: nothing of it can be
 * trusted as read in order) at `max-pages`, and `offset-ignored` at a server that ignores
 * `_offset` too (the fhir-server store's 502). A match updated meanwhile can be skipped, as
 * `_offset` paging always could: a poll's overlap window reads it again.
 */
async function* byOffset(
  search: LastUpdatedSearch,
  first: Resource[],
  budget: () => boolean,
  end: WalkEnd,
): AsyncGenerator<Resource[]> {
  const cut = (why: NonNullable<WalkEnd['why']>): void => {
    end.cutAt = search.after ?? 0;
    end.why = why;
  };
  let page = first;
  let offset = 0;
  for (;;) {
    if (page.length > 0) yield page;
    if (page.length < search.pageSize) return;
    offset += page.length;
    if (search.stopped?.()) return cut('stopped');
    if (!budget()) return cut('max-pages');
    // As the first page was asked (`_sort` too: the server's own order, whatever it makes of it).
    const after = search.after === undefined ? undefined : `gt${iso(search.after)}`;
    const next = await searchPage(search, after, search.pageSize, offset);
    if (next === 'offset-ignored') return cut(next);
    page = next;
  }
}

/**
 * One search of a walk: its parameters, `_lastUpdated` (`filter`, when given), `_sort` by it, and
 * `count` matches from `offset`. `offset-ignored` where the fhir-server store found the server
 * answering an `_offset` with its first page.
 */
async function searchPage(
  search: LastUpdatedSearch,
  filter: string | undefined,
  count: number,
  offset: number,
): Promise<Resource[] | 'offset-ignored'> {
  try {
    const { resources } = await search.store.search(
      search.type,
      {
        ...search.params,
        ...(filter === undefined ? {} : { _lastUpdated: filter }),
        _sort: '_lastUpdated',
        _count: String(count),
        ...(offset > 0 ? { _offset: String(offset) } : {}),
      },
      { count },
    );
    return resources;
  } catch (err) {
    if (offset > 0 && err instanceof FhirServerError && err.fault === 'offset-ignored')
      return 'offset-ignored';
    throw err;
  }
}

/** Epoch ms of a match's `meta.lastUpdated` (NaN without one). */
function instantOf(resource: Resource): number {
  return Date.parse(resource.meta?.lastUpdated ?? '');
}

/** Each instant present, none before the previous one, and none before where the page starts. */
function inOrder(times: readonly number[], lower: Lower | undefined): boolean {
  let previous = lower ? lower.at : -Infinity;
  for (const [i, t] of times.entries()) {
    if (Number.isNaN(t) || t < previous) return false;
    if (i === 0 && lower && !lower.inclusive && t === lower.at) return false;
    previous = t;
  }
  return true;
}

function keysAt(resources: readonly Resource[], times: readonly number[], at: number): Set<string> {
  return new Set(resources.filter((_, i) => times[i] === at).map(keyOf));
}

function keyOf(resource: Resource): string {
  return `${resource.resourceType}/${resource.id ?? ''}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
