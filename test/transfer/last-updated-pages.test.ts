/**
 * src/transfer/last-updated-pages.ts on a real embedded store whose clock the test sets, so many
 * resources share one instant: every match is read exactly once, whatever the ties (across page
 * boundaries, a whole page of one instant, more at one instant than one search gives), a match
 * updated during the walk is met again at its new instant, and a cut walk says where.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Basic, Resource } from '@medplum/fhirtypes';
import { EmbeddedStore, FhirServerError, MAX_COUNT } from '../../src/store';
import { byLastUpdated, type WalkEnd } from '../../src/transfer/last-updated-pages';

const T0 = Date.parse('2026-05-01T09:00:00Z');

let dataDir: string;
let store: EmbeddedStore;
let clock = T0;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-keyset-'));
  clock = T0;
  store = EmbeddedStore.open({ dataDir, now: () => new Date(clock) });
});
afterEach(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** `n` Basic resources written in one transaction at the clock's instant (one instant). */
async function writeAt(at: number, ids: string[]): Promise<void> {
  clock = at;
  await store.transaction({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: ids.map((id) => ({
      resource: { resourceType: 'Basic', id, code: { text: id } } as Basic,
      request: { method: 'PUT', url: `Basic/${id}` },
    })),
  });
}

const names = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function walk(
  pageSize: number,
  options: { after?: number; maxPages?: number; onPage?: (page: Resource[]) => Promise<void> } = {},
): Promise<{ read: string[]; end: WalkEnd }> {
  const end: WalkEnd = {};
  const read: string[] = [];
  for await (const page of byLastUpdated(
    {
      store,
      type: 'Basic',
      params: {},
      ...(options.after !== undefined ? { after: options.after } : {}),
      pageSize,
      maxPages: options.maxPages ?? 10_000,
    },
    end,
  )) {
    read.push(...page.map((r) => `${r.id ?? ''}@${r.meta?.versionId ?? ''}`));
    await options.onPage?.(page);
  }
  return { read, end };
}

describe('byLastUpdated', () => {
  it('reads every match once when ties straddle page boundaries', async () => {
    // Instants holding 1, 4, 7, 2 and 5 resources, read 3 at a time.
    const groups = [1, 4, 7, 2, 5];
    const all: string[] = [];
    for (const [g, n] of groups.entries()) {
      const ids = names(`g${g}-`, n);
      await writeAt(T0 + g, ids);
      all.push(...ids.map((id) => `${id}@1`));
    }
    const { read, end } = await walk(3);
    expect(read.sort()).toEqual(all.sort());
    expect(end).toEqual({});
  });

  it('reads a whole page of one instant on its own, and goes on past it', async () => {
    await writeAt(T0, ['before']);
    await writeAt(T0 + 1, names('tie', 250));
    await writeAt(T0 + 2, ['after']);
    const { read, end } = await walk(100, { after: T0 - 1 });
    expect(read).toHaveLength(252);
    expect(new Set(read).size).toBe(252);
    expect(read[read.length - 1]).toBe('after@1');
    expect(end).toEqual({});
  });

  it('more matches at one instant than one search gives: read on by _offset within it', async () => {
    await writeAt(T0, names('tie', MAX_COUNT + 30));
    await writeAt(T0 + 5, ['after']);
    const { read, end } = await walk(100);
    expect(new Set(read).size).toBe(MAX_COUNT + 31);
    expect(read).toHaveLength(MAX_COUNT + 31);
    expect(end).toEqual({});
  });

  it('a match that leaves a tie of more than one search while it is read skips no other', async () => {
    // tie0 is read in the instant's first search and updated before its second: the matches
    // after it slide back one place, so a search at _offset 1000 would skip one never read.
    const ties = names('tie', MAX_COUNT + 30);
    await writeAt(T0, ties);
    let updated = false;
    const { read, end } = await walk(100, {
      onPage: async (page) => {
        if (updated || !page.some((r) => r.id === 'tie999')) return;
        updated = true;
        clock = T0 + 10;
        await store.update({ resourceType: 'Basic', id: 'tie0', code: { text: 'changed' } });
      },
    });
    expect(updated).toBe(true);
    expect(new Set(read.map((r) => r.split('@')[0]))).toEqual(new Set(ties));
    expect(read.filter((r) => r.startsWith('tie0@'))).toEqual(['tie0@1', 'tie0@2']);
    expect(read).toHaveLength(MAX_COUNT + 31);
    expect(end).toEqual({});
  });

  it('a server whose order of ties shifts between searches ends the walk at that instant', async () => {
    await writeAt(T0, names('tie', MAX_COUNT + 30));
    await writeAt(T0 + 5, ['after']);
    // Every search past the first at the instant starts elsewhere than the match read last.
    const shifting = new Proxy(store, {
      get(target, prop) {
        if (prop !== 'search') return Reflect.get(target, prop, target) as unknown;
        return async (...args: Parameters<EmbeddedStore['search']>) => {
          const page = await target.search(...args);
          const params = args[1] as Record<string, string>;
          return params._offset ? { ...page, resources: [...page.resources].reverse() } : page;
        };
      },
    });
    const end: WalkEnd = {};
    const read: string[] = [];
    const search = { store: shifting, type: 'Basic' as const, params: {}, pageSize: 100 };
    for await (const page of byLastUpdated({ ...search, maxPages: 10_000 }, end))
      read.push(...page.map((r) => r.id ?? ''));
    expect(end).toEqual({ cutAt: T0, why: 'unordered' });
    expect(read).toHaveLength(MAX_COUNT);
    expect(new Set(read).size).toBe(MAX_COUNT);
  });

  it('a match updated during the walk is met again at its new instant', async () => {
    await writeAt(T0, names('a', 5));
    await writeAt(T0 + 1, names('b', 5));
    let updated = false;
    const { read } = await walk(4, {
      onPage: async () => {
        if (updated) return;
        updated = true;
        clock = T0 + 10;
        await store.update({ resourceType: 'Basic', id: 'a0', code: { text: 'changed' } });
      },
    });
    expect(read.filter((r) => r.startsWith('a0@'))).toEqual(['a0@1', 'a0@2']);
    expect(new Set(read).size).toBe(11);
  });

  it('a walk cut by maxPages says so, at the last instant it read (perhaps in part)', async () => {
    for (let g = 0; g < 5; g++) await writeAt(T0 + g, names(`g${g}-`, 3));
    const { read, end } = await walk(2, { maxPages: 2 });
    // g0-0, g0-1: one instant, so it is read on its own (g0-2): two searches, the budget.
    expect(read).toEqual(['g0-0@1', 'g0-1@1', 'g0-2@1']);
    expect(end).toEqual({ cutAt: T0, why: 'max-pages' });
    // Three pages: then g1-0, g1-1 (a tie again: its own read is the fourth).
    const more = await walk(2, { maxPages: 3 });
    expect(more.read).toEqual(['g0-0@1', 'g0-1@1', 'g0-2@1', 'g1-0@1', 'g1-1@1']);
    expect(more.end).toEqual({ cutAt: T0 + 1, why: 'max-pages' });
  });

  describe('a server that does not sort by _lastUpdated', () => {
    /** The store as such a server: newest first whatever is asked, the _lastUpdated filter ignored. */
    const unsorted = (options: { ignoresOffset?: boolean } = {}): EmbeddedStore =>
      new Proxy(store, {
        get(target, prop) {
          if (prop !== 'search') return Reflect.get(target, prop, target) as unknown;
          return async (...args: Parameters<EmbeddedStore['search']>) => {
            const { _sort: _s, _lastUpdated: _l, ...rest } = args[1] as Record<string, string>;
            void _s;
            void _l;
            if (options.ignoresOffset && rest._offset)
              throw new FhirServerError(
                { resourceType: 'OperationOutcome', issue: [] },
                502,
                undefined,
                undefined,
                'offset-ignored',
              );
            return target.search(args[0], { ...rest, _sort: '-_lastUpdated' }, args[2]);
          };
        },
      });

    async function walkOf(
      on: EmbeddedStore,
      after?: number,
    ): Promise<{ read: string[]; end: WalkEnd }> {
      const end: WalkEnd = {};
      const read: string[] = [];
      const search = { store: on, type: 'Basic' as const, params: {}, pageSize: 3, maxPages: 100 };
      for await (const page of byLastUpdated({ ...search, ...(after ? { after } : {}) }, end))
        read.push(...page.map((r) => r.id ?? ''));
      return { read, end };
    }

    it('is read whole by _offset (its first page out of order), each match once', async () => {
      for (let i = 0; i < 7; i++) await writeAt(T0 + i, [`m${i}`]);
      const { read, end } = await walkOf(unsorted());
      expect([...read].sort()).toEqual(names('m', 7).sort());
      expect(end).toEqual({});
      // Its filter ignored too: what is older than `after` comes as well (callers skip it).
      expect((await walkOf(unsorted(), T0 + 3)).read).toHaveLength(7);
    });

    it('ignoring _offset as well, its first page is read and the walk is cut where it began', async () => {
      for (let i = 0; i < 7; i++) await writeAt(T0 + i, [`m${i}`]);
      const { read, end } = await walkOf(unsorted({ ignoresOffset: true }), T0 - 1);
      expect(read).toEqual(['m6', 'm5', 'm4']);
      expect(end).toEqual({ cutAt: T0 - 1, why: 'offset-ignored' });
    });
  });
});
