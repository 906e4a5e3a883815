/**
 * The `embedded` store (the default): one SQLite file in DATA_DIR, through better-sqlite3.
 *
 * - Durable once acknowledged: a call's promise resolves only after its commit has been synced to
 *   disk. SQLite commits to the WAL without waiting for the disk; the store then syncs the WAL off
 *   the event loop (`wal-sync.ts`), one sync for every commit made meanwhile, and checkpoints
 *   with syncs of its own on a worker thread (`background-checkpoint.ts`).
 * - Group commit: writes arriving while a commit is being prepared (in the same turn of the event
 *   loop) share one SQLite transaction (`BEGIN IMMEDIATE`, so reads that decide a write —
 *   If-Match, conditions — see the state it commits on, even with another process on the same
 *   file) and so one sync. Each call's work is a SAVEPOINT of its own.
 * - All or nothing: every write, and every transaction Bundle, is applied whole or not at all
 *   (its savepoint rolls back alone when it fails); `atomically` commits before it returns.
 * - Reads (`read`, `vread`, `history`, `search`, `outbox.get`) go through a second connection,
 *   which sees committed data only: never a group still being prepared. A read may see a commit
 *   whose sync is still running (its writer has not been answered yet, for a millisecond or so);
 *   a write that depends on what it read is acknowledged only after a later sync, which covers
 *   both.
 * - Versioned: `resource` holds the current version, `resource_version` every version.
 * - Searchable: values for the supported search parameters are extracted when a resource is
 *   written into `search_index` (see `search-parameters.ts`); `_id` and `_lastUpdated` are
 *   columns of `resource`.
 * - An update that changes nothing but meta.versionId/lastUpdated writes no new version (as HAPI
 *   does): re-applying the same session leaves history as it was.
 * - The outbox is in the same file and the same transactions (`atomically`, `outbox`).
 *
 * better-sqlite3 is synchronous: each call's work runs to completion on the event loop, so one
 * process never interleaves two writes' work. Another process writing the same file makes a
 * write wait up to `busyTimeoutMs`, then fail with 409.
 */
import { join } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type {
  Bundle,
  BundleEntry,
  ExtractResource,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import {
  at,
  checkId,
  checkResource,
  copyJson,
  isPlaceholder,
  resolvePlaceholders,
  transactionRequests,
  versionOfETag,
  type EntryRequest,
} from './bundle-request';
import {
  DEFAULT_LEASE_MS,
  OutboxTable,
  type OutboxAttempt,
  type OutboxInput,
  type OutboxMessage,
} from './embedded-outbox';
import type {
  CreateOptions,
  FhirStore,
  HistoryPage,
  HistoryResult,
  SearchOptions,
  SearchParams,
  SearchResult,
  Stored,
  StoredText,
  UpdateOptions,
  WriteResult,
} from './fhir-store';
import { conflict, invalid, multipleMatches, notFound, preconditionFailed } from './outcomes';
import { checkKeepsPerson } from './person-of';
import { makeDirectory } from './data-dir';
import {
  INDEX_SIGNATURE,
  indexedParameter,
  indexRowsOf,
  storedIndexValues,
} from './search-parameters';
import { parseSearch, searchPairs, type Filter, type ParsedSearch } from './search-query';
import { BackgroundCheckpoint } from './background-checkpoint';
import {
  checkpointDurably,
  deferSyncsToStore,
  prepareDatabase,
  prepareReader,
} from './sqlite-schema';
import { contentKey, keptMeta } from './content-key';
import { RecentVersions } from './recent-versions';
import { timeOrderedId } from './time-ordered-id';
import { WalSync } from './wal-sync';

export const DEFAULT_FILE_NAME = 'dialog-fhir.sqlite';

export interface EmbeddedStoreOptions {
  /** The directory holding the database file (DATA_DIR); created when missing. */
  readonly dataDir: string;
  /** The file's name in `dataDir` (default `dialog-fhir.sqlite`). */
  readonly fileName?: string;
  /** The clock for `meta.lastUpdated` and the outbox (default: the system clock). */
  readonly now?: () => Date;
  /** New logical ids (default: time-ordered UUIDs, time-ordered-id.ts). */
  readonly newId?: () => string;
  /** How long a write waits for another process's write lock before a 409 (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** WAL size that starts a checkpoint (default CHECKPOINT_BYTES; small in tests). */
  readonly checkpointBytes?: number;
}

/** What `atomically` offers: synchronous steps of one SQLite transaction. */
export interface EmbeddedTransaction {
  /** Applies a transaction Bundle (as `FhirStore.transaction`) within the enclosing one. */
  transaction(bundle: Bundle): Bundle;
  read<K extends ResourceType>(type: K, id: string): ExtractResource<K>;
  /** Adds an outbox message; false when one with its id is there already. */
  enqueue(message: OutboxInput): boolean;
}

interface CurrentRow {
  id: string;
  version: number;
  last_updated: number;
  /** The row of this version in `resource_version` (its content is there). */
  seq: number;
}

interface Target {
  readonly id: string;
  readonly action: 'create' | 'update' | 'existing';
  readonly previous?: CurrentRow;
}

/** A caller in the open group commit, settled once the group's COMMIT has returned. */
interface GroupMember {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** A group commits at the latest when it holds this many callers' work. */
const GROUP_LIMIT = 256;

/**
 * The store checkpoints once the WAL is this big: a checkpoint copies and syncs it all (on a
 * worker thread), so not too often; recovery after a crash replays the WAL, so not too rarely.
 * Above journal_size_limit, so a WAL cut back after a complete checkpoint starts below it.
 */
const CHECKPOINT_BYTES = 32 * 1024 * 1024;

/** Where a single (non-bundle) call's errors point. */
interface Places {
  readonly id: string;
  readonly ifMatch: string;
  readonly condition: string | undefined;
  readonly conditionOutcome: string;
}

function places(type: string): Places {
  return {
    id: `${type}.id`,
    ifMatch: `${type}.meta.versionId`,
    condition: undefined,
    conditionOutcome: type,
  };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED';
}

function etagOf(resource: Resource): string {
  return `W/"${resource.meta?.versionId ?? ''}"`;
}

function responseEntry(resource: Resource, status: string): BundleEntry {
  return {
    resource,
    response: {
      status,
      location: `${resource.resourceType}/${resource.id ?? ''}/_history/${resource.meta?.versionId ?? ''}`,
      etag: etagOf(resource),
      ...(resource.meta?.lastUpdated ? { lastModified: resource.meta.lastUpdated } : {}),
    },
  };
}

/** The synchronous SQL under the store: every method runs inside the caller's transaction. */
class ResourceTables {
  private readonly statements = new Map<string, Statement>();
  private readonly currentRow: Statement;
  private readonly currentContent: Statement;
  private readonly contentAt: Statement;
  private readonly versionRow: Statement;
  private readonly historyRows: Statement;
  private readonly historyPageRows: Statement;
  private readonly historyCount: Statement;
  private readonly insertVersion: Statement;
  private readonly upsertCurrent: Statement;
  private readonly dropIndexRow: Statement;
  private readonly insertIndex: Statement;

  constructor(private readonly db: Database) {
    this.currentRow = db.prepare(
      'SELECT id, version, last_updated, seq FROM resource WHERE type = ? AND id = ?',
    );
    this.currentContent = db.prepare(
      `SELECT v.content FROM resource r JOIN resource_version v ON v.seq = r.seq
       WHERE r.type = ? AND r.id = ?`,
    );
    this.contentAt = db.prepare('SELECT content FROM resource_version WHERE seq = ?');
    this.versionRow = db.prepare(
      'SELECT content FROM resource_version WHERE type = ? AND id = ? AND version = ?',
    );
    this.historyRows = db.prepare(
      'SELECT content FROM resource_version WHERE type = ? AND id = ? ORDER BY version DESC',
    );
    // By the (type, id, version) index: only the page's rows are read and parsed.
    this.historyPageRows = db.prepare(
      `SELECT content FROM resource_version WHERE type = ? AND id = ? AND last_updated >= ?
       ORDER BY version DESC LIMIT ? OFFSET ?`,
    );
    this.historyCount = db.prepare(
      `SELECT COUNT(*) AS total FROM resource_version
       WHERE type = ? AND id = ? AND last_updated >= ?`,
    );
    this.insertVersion = db.prepare(
      'INSERT INTO resource_version (type, id, version, last_updated, content) VALUES (?, ?, ?, ?, ?)',
    );
    this.upsertCurrent = db.prepare(
      `INSERT INTO resource (type, id, version, last_updated, seq) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (type, id) DO UPDATE SET version = excluded.version,
       last_updated = excluded.last_updated, seq = excluded.seq`,
    );
    this.dropIndexRow = db.prepare(
      'DELETE FROM search_index WHERE type = ? AND param = ? AND value = ? AND system = ? AND id = ?',
    );
    this.insertIndex = db.prepare(
      'INSERT OR IGNORE INTO search_index (type, param, value, system, id) VALUES (?, ?, ?, ?, ?)',
    );
  }

  private prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size > 500) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  current(type: string, id: string): CurrentRow | undefined {
    return this.currentRow.get(type, id) as CurrentRow | undefined;
  }

  read(type: string, id: string, where: string): Resource {
    return JSON.parse(this.text(type, id, where)) as Resource;
  }

  /** The stored JSON of the version in row `seq` (a row's content never changes). */
  contentOf(seq: number): string {
    return (this.contentAt.get(seq) as { content: string }).content;
  }

  /** The current version's stored JSON (written by JSON.stringify, so it reads back the same). */
  text(type: string, id: string, where: string): string {
    const row = this.currentContent.get(type, id) as { content: string } | undefined;
    if (!row) throw notFound(`There is no ${type} with this id`, where);
    return row.content;
  }

  vread(type: string, id: string, versionId: string, where: string): Resource {
    const row = /^\d{1,15}$/.test(versionId)
      ? (this.versionRow.get(type, id, Number(versionId)) as { content: string } | undefined)
      : undefined;
    if (!row) throw notFound(`There is no such version of this ${type}`, where);
    return JSON.parse(row.content) as Resource;
  }

  history(type: string, id: string, where: string): Resource[] {
    const rows = this.historyRows.all(type, id) as { content: string }[];
    if (rows.length === 0) throw notFound(`There is no ${type} with this id`, where);
    return rows.map((row) => JSON.parse(row.content) as Resource);
  }

  /** One page of `history` and the total since `page.since` (call inside one read transaction). */
  historyPage(type: string, id: string, page: HistoryPage, where: string): HistoryResult<Resource> {
    // last_updated is epoch milliseconds of a write: every version is at or after the smallest.
    const since = page.since ?? Number.MIN_SAFE_INTEGER;
    const { total } = this.historyCount.get(type, id, since) as { total: number };
    // None since `since` is an empty page of a resource that exists, not a 404.
    if (total === 0 && !this.current(type, id))
      throw notFound(`There is no ${type} with this id`, where);
    const rows =
      page.offset >= total
        ? []
        : (this.historyPageRows.all(type, id, since, page.count, page.offset) as {
            content: string;
          }[]);
    return { versions: rows.map((row) => JSON.parse(row.content) as Resource), total };
  }

  /**
   * Writes a new version (or nothing, when the content is unchanged). A version that would move
   * the record to another person is refused (person-of.ts), `where` naming the resource.
   */
  write(
    resource: Resource,
    id: string,
    previous: CurrentRow | undefined,
    now: number,
    where: string = resource.resourceType,
  ): { resource: Resource; changed: boolean } {
    const rest: Record<string, unknown> = { ...resource };
    const { resourceType } = resource;
    const kept = keptMeta(rest.meta);
    delete rest.resourceType;
    delete rest.id;
    delete rest.meta;
    const storedOf = (version: number, lastUpdated: string): Record<string, unknown> => ({
      resourceType,
      id,
      meta: { ...kept, versionId: String(version), lastUpdated },
      ...rest,
    });
    let old: Resource | undefined;
    if (previous) {
      const oldContent = (this.contentAt.get(previous.seq) as { content: string }).content;
      // The same text as stored (the common case of re-applying a resource) needs no parsing.
      const unchangedText = JSON.stringify(
        storedOf(previous.version, new Date(previous.last_updated).toISOString()),
      );
      old = JSON.parse(oldContent) as Resource;
      if (unchangedText === oldContent) return { resource: old, changed: false };
      checkKeepsPerson(old, resource, where);
      const candidate = {
        resourceType,
        id,
        ...(Object.keys(kept).length > 0 ? { meta: kept } : {}),
        ...rest,
      };
      if (contentKey(old as unknown as Record<string, unknown>) === contentKey(candidate))
        return { resource: old, changed: false };
      // The audit trail is appended to, never rewritten (src/api/audit-trail.ts), and a
      // Provenance records what happened: neither changes once stored, by any path.
      if (resourceType === 'AuditEvent' || resourceType === 'Provenance')
        throw conflict(`A stored ${resourceType} is never changed`, `${where}.id`);
    }
    const version = (previous?.version ?? 0) + 1;
    const stored = storedOf(version, new Date(now).toISOString());
    const content = JSON.stringify(stored);
    const { lastInsertRowid } = this.insertVersion.run(resourceType, id, version, now, content);
    this.upsertCurrent.run(resourceType, id, version, now, lastInsertRowid);
    // `stored` is the caller's copy (bundle entries and single writes are cloned on the way in)
    // with top-level keys of its own: returning it hands out nothing the store or a caller holds.
    const written = stored as unknown as Resource;
    this.index(resourceType, id, written, old);
    return { resource: written, changed: true };
  }

  /**
   * A new resource with a new id, for records only ever appended (AuditEvents): no change check,
   * no previous version, nothing parsed back.
   */
  append(resource: Resource, id: string, now: number): void {
    const { resourceType } = resource;
    const rest: Record<string, unknown> = { ...resource };
    const kept = keptMeta(rest.meta);
    delete rest.resourceType;
    delete rest.id;
    delete rest.meta;
    const stored = {
      resourceType,
      id,
      meta: { ...kept, versionId: '1', lastUpdated: new Date(now).toISOString() },
      ...rest,
    };
    const { lastInsertRowid } = this.insertVersion.run(
      resourceType,
      id,
      1,
      now,
      JSON.stringify(stored),
    );
    this.upsertCurrent.run(resourceType, id, 1, now, lastInsertRowid);
    for (const [param, system, value] of storedIndexValues(stored as Resource))
      this.insertIndex.run(resourceType, param, value, system, id);
  }

  /**
   * Brings the resource's index rows from what `old` gave to what `resource` gives: rows that
   * stay are left alone (a new resource has none to remove).
   */
  private index(type: string, id: string, resource: Resource, old: Resource | undefined): void {
    const rows = storedIndexValues(resource);
    if (!old) {
      for (const [param, system, value] of rows)
        this.insertIndex.run(type, param, value, system, id);
      return;
    }
    const key = ([param, system, value]: [string, string, string]): string =>
      `${param}\u0000${system}\u0000${value}`;
    const before = new Map(storedIndexValues(old).map((row) => [key(row), row]));
    for (const row of rows) {
      if (before.delete(key(row))) continue;
      const [param, system, value] = row;
      this.insertIndex.run(type, param, value, system, id);
    }
    for (const [param, system, value] of before.values())
      this.dropIndexRow.run(type, param, value, system, id);
  }

  /** Rebuilds the whole search index (after the definitions changed), a batch at a time. */
  reindex(): void {
    this.db.exec('DELETE FROM search_index');
    const batch = this.db.prepare(
      `SELECT r.type, r.id, v.content FROM resource r JOIN resource_version v ON v.seq = r.seq
       WHERE (r.type, r.id) > (?, ?) ORDER BY r.type, r.id LIMIT 500`,
    );
    let after: [string, string] = ['', ''];
    for (;;) {
      const rows = batch.all(...after) as { type: string; id: string; content: string }[];
      for (const row of rows)
        this.index(row.type, row.id, JSON.parse(row.content) as Resource, undefined);
      const last = rows[rows.length - 1];
      if (!last) return;
      after = [last.type, last.id];
    }
  }

  private where(search: ParsedSearch): { sql: string; args: unknown[] } {
    const clauses = ['r.type = ?'];
    const args: unknown[] = [search.type];
    const finding = findingFilter(search.type, search.filters);
    for (const filter of search.filters) {
      const { sql, values } =
        filter.kind === 'index' && filter !== finding
          ? indexFilterSql(search.type, filter, 'checked')
          : filterSql(search.type, filter);
      clauses.push(sql);
      args.push(...values);
    }
    return { sql: clauses.join(' AND '), args };
  }

  search(search: ParsedSearch): { resources: Resource[]; total: number } {
    const { sql, args } = this.where(search);
    // With an `_id` or indexed filter the matches are found by key and then sorted; the `+`
    // keeps SQLite from walking every resource of the type in lastUpdated order instead.
    const keyed = search.filters.some((f) => f.kind !== 'lastUpdated');
    const updated = keyed ? '+r.last_updated' : 'r.last_updated';
    const order =
      search.sort === 'id'
        ? 'r.id'
        : search.sort === '_lastUpdated'
          ? `${updated}, r.seq`
          : `${updated} DESC, r.seq DESC`;
    const rows =
      search.count === 0
        ? []
        : (this.prepare(
            `SELECT v.content FROM resource r JOIN resource_version v ON v.seq = r.seq
             WHERE ${sql} ORDER BY ${order} LIMIT ? OFFSET ?`,
          ).all(...args, search.count, search.offset) as { content: string }[]);
    // A page that is not full, and found something or started at the beginning, tells the total.
    const total =
      rows.length < search.count && (rows.length > 0 || search.offset === 0)
        ? search.offset + rows.length
        : (
            this.prepare(`SELECT count(*) AS n FROM resource r WHERE ${sql}`).get(...args) as {
              n: number;
            }
          ).n;
    return { resources: rows.map((row) => JSON.parse(row.content) as Resource), total };
  }

  /** The ids matching a condition: at most two (two already means "more than one"). */
  matches(type: string, condition: SearchParams, where: string | undefined): string[] {
    const search = parseSearch(type, condition, {
      condition: true,
      ...(where ? { at: where } : {}),
    });
    if (search.filters.length === 0)
      throw invalid('A condition needs at least one search parameter', where ?? type);
    const { sql, args } = this.where(search);
    const rows = this.prepare(`SELECT r.id FROM resource r WHERE ${sql} LIMIT 2`).all(...args) as {
      id: string;
    }[];
    return rows.map((row) => row.id);
  }
}

function filterSql(type: string, filter: Filter): { sql: string; values: unknown[] } {
  switch (filter.kind) {
    case 'id':
      return { sql: `r.id IN (${filter.ids.map(() => '?').join(', ')})`, values: [...filter.ids] };
    case 'lastUpdated': {
      const values: unknown[] = [];
      const ors = filter.ranges.map((range) => {
        const parts: string[] = [];
        if (range.from !== undefined) {
          parts.push('r.last_updated >= ?');
          values.push(range.from);
        }
        if (range.before !== undefined) {
          parts.push('r.last_updated < ?');
          values.push(range.before);
        }
        return parts.length > 0 ? `(${parts.join(' AND ')})` : '1';
      });
      return { sql: `(${ors.join(' OR ')})`, values };
    }
    case 'index':
      return indexFilterSql(type, filter, 'listed');
  }
}

type IndexFilter = Extract<Filter, { kind: 'index' }>;

/**
 * An index filter as SQL on `r`. `listed`: `r.id IN (the ids the index lists for it)`, for the
 * filter that finds the matches. `checked`: a lookup of each match's own index row
 * (`EXISTS … s.id = r.id`, a seek on the whole key), for every other filter. Listed, a filter
 * shared by most resources (`status=completed`) lists them all on every search: a person's
 * sessions by subject and status cost time in proportion to every session stored (measured,
 * 5,000 responses: 1,033 µs against 69 µs for the subject alone).
 */
function indexFilterSql(
  type: string,
  filter: IndexFilter,
  form: 'listed' | 'checked',
): { sql: string; values: unknown[] } {
  const rows = indexRowsOf(type, filter.param);
  const alternatives = filter.alternatives.map(({ system, value }) => {
    const clauses = ['s.type = ?', 's.param = ?'];
    const values: unknown[] = [type, rows.param];
    if (value !== undefined) {
      clauses.push('s.value = ?');
      values.push(value);
    }
    if (system !== undefined) {
      clauses.push('s.system = ?');
      values.push(system);
    }
    if (rows.system !== undefined) {
      clauses.push('s.system = ?');
      values.push(rows.system);
    }
    return { where: clauses.join(' AND '), values };
  });
  if (form === 'checked') {
    const ors = alternatives.map(
      (a) => `EXISTS (SELECT 1 FROM search_index s WHERE ${a.where} AND s.id = r.id)`,
    );
    return { sql: `(${ors.join(' OR ')})`, values: alternatives.flatMap((a) => a.values) };
  }
  // One SELECT with its alternatives OR'd (a compound SELECT of one per alternative would stop
  // at SQLite's 500 terms).
  return {
    sql: `r.id IN (SELECT s.id FROM search_index s WHERE ${alternatives.map((a) => `(${a.where})`).join(' OR ')})`,
    values: alternatives.flatMap((a) => a.values),
  };
}

/**
 * The index filter that finds a search's matches (the others are checked on each): one that
 * names few resources (a reference, an identifier) before a code most resources share; none
 * when `_id` names the matches.
 */
function findingFilter(type: string, filters: readonly Filter[]): IndexFilter | undefined {
  if (filters.some((f) => f.kind === 'id')) return undefined;
  const indexed = filters.filter((f): f is IndexFilter => f.kind === 'index');
  return indexed.find((f) => indexRowsOf(type, f.param).selective) ?? indexed[0];
}

/** A condition's query with placeholders in reference parameters replaced by `Type/id`. */
function substitute(
  type: string,
  query: string,
  ids: ReadonlyMap<string, string>,
  unresolved: ReadonlySet<string>,
): URLSearchParams | undefined {
  const result = new URLSearchParams();
  for (const [key, value] of searchPairs(query)) {
    const name = key.split(':')[0] ?? '';
    let resolved = value;
    if (indexedParameter(type, name)?.type === 'reference') {
      const parts = value.split(',');
      if (parts.some((part) => unresolved.has(part))) return undefined;
      resolved = parts
        .map((part) => (isPlaceholder(part) ? (ids.get(part) ?? part) : part))
        .join(',');
    }
    result.append(key, resolved);
  }
  return result;
}

export class EmbeddedStore implements FhirStore {
  /** The database file. */
  readonly path: string;
  /** Every write is checked by `checkKeepsPerson` in `ResourceTables.write`. */
  readonly keepsPersons = true;
  /** The writer: every write, in transactions of its own or in a shared group commit. */
  private readonly db: Database;
  /** Reads outside writes: sees committed (synced) data only, never an open group's. */
  private readonly reader: Database;
  private readonly tables: ResourceTables;
  private readonly readTables: ResourceTables;
  private readonly outboxTable: OutboxTable;
  private readonly readOutbox: OutboxTable;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  /** The callers whose work is in the open group transaction; undefined when none is open. */
  private group: GroupMember[] | undefined;
  private commitTimer: NodeJS.Immediate | undefined;
  /** Syncs the WAL before writes are acknowledged. */
  private readonly walSync: WalSync;
  private readonly checkpointBytes: number;
  private readonly busyTimeoutMs: number;
  /** Started at the first checkpoint (most stores in tests never need one). */
  private checkpointer: BackgroundCheckpoint | undefined;
  /** The WAL size at which the next checkpoint runs (see `maybeCheckpoint`). */
  private checkpointAt: number;
  /** The worker's checkpoint left frames behind: finish it between the next two commits. */
  private finishCheckpoint = false;
  /** A caller's work was refused (a 412, a match) while the group was open. */
  private refusedInGroup = false;
  /** Current versions lately sent by `readStored`, parsed and frozen. */
  private readonly recentVersions = new RecentVersions();

  private constructor(path: string, options: EmbeddedStoreOptions) {
    this.path = path;
    this.clock = options.now ?? (() => new Date());
    this.newId = options.newId ?? (() => timeOrderedId());
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.busyTimeoutMs = busyTimeoutMs;
    this.checkpointBytes = options.checkpointBytes ?? CHECKPOINT_BYTES;
    this.checkpointAt = this.checkpointBytes;
    this.db = new BetterSqlite3(path);
    let reader: Database | undefined;
    try {
      prepareDatabase(this.db, { busyTimeoutMs });
      reader = new BetterSqlite3(path);
      prepareReader(reader, { busyTimeoutMs });
      this.reader = reader;
      this.tables = new ResourceTables(this.db);
      this.readTables = new ResourceTables(reader);
      this.outboxTable = new OutboxTable(this.db);
      this.readOutbox = new OutboxTable(reader);
      this.ensureIndex();
      deferSyncsToStore(this.db);
      this.walSync = new WalSync(path);
    } catch (err) {
      reader?.close();
      this.db.close();
      throw err;
    }
  }

  /** Opens (creating when needed) the store file in `options.dataDir`. */
  static open(options: EmbeddedStoreOptions): EmbeddedStore {
    makeDirectory(options.dataDir);
    return new EmbeddedStore(join(options.dataDir, options.fileName ?? DEFAULT_FILE_NAME), options);
  }

  private ensureIndex(): void {
    const row = this.db.prepare("SELECT value FROM store_meta WHERE key = 'search_index'").get() as
      { value: string } | undefined;
    if (row?.value === INDEX_SIGNATURE) return;
    this.db
      .transaction(() => {
        this.tables.reindex();
        this.db
          .prepare(
            "INSERT INTO store_meta (key, value) VALUES ('search_index', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          )
          .run(INDEX_SIGNATURE);
      })
      .immediate();
  }

  /**
   * What a write's durability rests on: the journal mode and SQLite's own sync level at commit
   * as SQLite reports them, and the store's WAL sync before acknowledging (`wal-sync.ts`).
   */
  durability(): {
    journalMode: string;
    commitSynchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
    walAutoCheckpointPages: number;
    syncedBeforeAcknowledging: 'wal (fdatasync)';
  } {
    const journalMode = String(this.db.pragma('journal_mode', { simple: true }));
    const level = Number(this.db.pragma('synchronous', { simple: true }));
    const commitSynchronous = (['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const)[level] ?? 'OFF';
    const walAutoCheckpointPages = Number(this.db.pragma('wal_autocheckpoint', { simple: true }));
    return {
      journalMode,
      commitSynchronous,
      walAutoCheckpointPages,
      syncedBeforeAcknowledging: 'wal (fdatasync)',
    };
  }

  private now(): number {
    return this.clock().getTime();
  }

  /**
   * Runs `work` in the group commit: writes arriving while a commit is being prepared share one
   * SQLite transaction and one sync. Each caller's work runs in a SAVEPOINT of its own, so one
   * that fails rolls back only its part (and rejects only its promise); each promise resolves
   * once the shared COMMIT has returned and the WAL sync after it has finished. The group
   * commits once the callbacks now running are done (`setImmediate`), at GROUP_LIMIT callers,
   * or at a read after a caller's work was refused (`commitIfRefused`). Otherwise reads do not
   * commit it: what it holds is not acknowledged yet, so nobody can depend on it, and sessions
   * for different people read while others' writes wait in the group, which is what lets them
   * share a commit. Another process holding the file too long is a 409.
   */
  private write<R>(work: () => R, where: string): Promise<R> {
    let result: R;
    try {
      this.join(where);
      result = this.db.transaction(work)();
    } catch (err) {
      this.afterFailure();
      if (this.group) this.refusedInGroup = true;
      return Promise.reject(
        isBusy(err) ? conflict('The store is busy with another writer; try again', where) : err,
      );
    }
    return new Promise<R>((resolve, reject) => {
      const group = this.group;
      if (!group) {
        reject(new Error('The store was closed before the write committed'));
        return;
      }
      group.push({ resolve: () => resolve(result), reject });
      if (group.length >= GROUP_LIMIT) this.commitGroup();
      else this.commitTimer ??= setImmediate(() => this.commitGroup());
    });
  }

  /** Opens the group's transaction unless one is open (`BEGIN IMMEDIATE`). */
  private join(where: string): void {
    if (this.group) return;
    if (!this.db.open) throw conflict('The store is closed', where);
    this.db.exec('BEGIN IMMEDIATE');
    this.group = [];
  }

  /**
   * After a caller's work failed (its savepoint rolled back): when SQLite rolled back the whole
   * transaction (I/O errors, a full disk), the others' work is gone too and they are told; an
   * empty group ends at once.
   */
  private afterFailure(): void {
    const group = this.group;
    if (!group) return;
    if (!this.db.inTransaction) {
      this.endGroup();
      const lost = new Error(
        'The write was rolled back with another that failed; nothing of it was stored',
      );
      for (const member of group) member.reject(lost);
    } else if (group.length === 0) {
      this.endGroup();
      this.db.exec('ROLLBACK');
    }
  }

  private endGroup(): void {
    this.group = undefined;
    this.refusedInGroup = false;
    if (this.commitTimer) clearImmediate(this.commitTimer);
    this.commitTimer = undefined;
  }

  /**
   * Commits the open group and settles its callers once the WAL sync after the commit is done;
   * returns the commit's failure, if any. Checkpoints when the WAL has grown past
   * CHECKPOINT_BYTES (here, because no transaction is open between two groups).
   */
  private commitGroup(): unknown {
    const group = this.group;
    if (!group) return undefined;
    this.endGroup();
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const member of group) member.reject(err);
      return err;
    }
    if (group.length > 0)
      this.walSync.sync().then(
        () => {
          for (const member of group) member.resolve();
        },
        (err: unknown) => {
          for (const member of group) member.reject(err);
        },
      );
    this.maybeCheckpoint();
    return undefined;
  }

  /**
   * Commits the open group before a read when a caller's work in it was refused: the refusal
   * (a 412 on If-Match, a conditional match) may rest on a version the group holds, and the
   * reader sees committed data only, so a caller that reads again and retries in this same turn
   * of the event loop would never see that version and never succeed. The commit's callers are
   * still answered only after its sync.
   */
  private commitIfRefused(): void {
    if (this.refusedInGroup) this.commitGroup();
  }

  /**
   * Checkpoints once the WAL has grown to `checkpointAt`: the bulk on the worker, then — when
   * commits made meanwhile left frames behind — the rest here, between two commits, so the WAL
   * can start again from its beginning (cut back to journal_size_limit) even under steady
   * writes. One that readers kept from completing, or that failed, is tried again after a
   * quarter of checkpointBytes more, not at every commit. A failed checkpoint loses nothing:
   * the WAL keeps every frame until one succeeds.
   */
  private maybeCheckpoint(): void {
    if (this.finishCheckpoint) {
      this.finishCheckpoint = false;
      if (checkpointDurably(this.db)) {
        this.checkpointAt = this.checkpointBytes;
        return;
      }
    }
    const bytes = this.walSync.walBytes();
    if (bytes < this.checkpointAt || this.checkpointer?.busy) return;
    this.checkpointer ??= new BackgroundCheckpoint(this.path, this.busyTimeoutMs);
    this.checkpointAt = bytes + this.checkpointBytes / 4;
    this.checkpointer.run().then(
      (complete) => {
        if (complete) this.checkpointAt = this.checkpointBytes;
        else this.finishCheckpoint = true;
      },
      () => undefined,
    );
  }

  /**
   * Runs `work` as one SQLite transaction: everything it does — bundles applied, messages
   * enqueued — commits together (and is synced) or, if it throws, not at all. `work` must be
   * synchronous; returning a promise is refused.
   */
  atomically<R>(work: (tx: EmbeddedTransaction) => R): R {
    const tx: EmbeddedTransaction = {
      transaction: (bundle) => this.applyBundle(bundle, this.now()),
      read: <K extends ResourceType>(type: K, id: string) =>
        this.tables.read(type, id, `${type}.id`) as ExtractResource<K>,
      enqueue: (message) => this.outboxTable.enqueue(message, this.now()),
    };
    if (!this.group) {
      let result: R;
      try {
        result = this.db.transaction(() => work(tx)).immediate();
      } catch (err) {
        if (isBusy(err))
          throw conflict('The store is busy with another writer; try again', 'Bundle');
        throw err;
      }
      this.walSync.syncNow();
      return result;
    }
    // A group is open: this work joins it as a savepoint, and the group commits now, so what
    // returns here is synced like every other commit.
    let result: R;
    try {
      result = this.db.transaction(() => work(tx))();
    } catch (err) {
      this.afterFailure();
      throw err;
    }
    const failed = this.commitGroup();
    if (failed !== undefined) throw failed;
    this.walSync.syncNow();
    return result;
  }

  readonly outbox = {
    /** Adds a message on its own (prefer `atomically` with the write it belongs to). */
    enqueue: async (message: OutboxInput): Promise<boolean> =>
      this.write(() => this.outboxTable.enqueue(message, this.now()), 'outbox'),
    /** Claims up to `limit` due messages for `leaseMs`, oldest due first. */
    claimDue: async (
      now: Date,
      limit: number,
      leaseMs: number = DEFAULT_LEASE_MS,
    ): Promise<OutboxMessage[]> =>
      this.write(() => this.outboxTable.claimDue(now.getTime(), limit, leaseMs), 'outbox'),
    /** Finishes a claimed attempt as delivered; false when that attempt is no longer current. */
    markDelivered: async (attempt: OutboxAttempt): Promise<boolean> =>
      this.write(() => {
        const now = this.now();
        return this.outboxTable.finishAttempt(attempt, 'delivered', now, null, now);
      }, 'outbox'),
    /**
     * Finishes a claimed attempt as failed: due again at `retryAt`, or `dead` without one. False
     * when that attempt is no longer current.
     */
    markFailed: async (attempt: OutboxAttempt, error: string, retryAt?: Date): Promise<boolean> =>
      this.write(() => {
        const now = this.now();
        return retryAt
          ? this.outboxTable.finishAttempt(attempt, 'pending', retryAt.getTime(), error, now)
          : this.outboxTable.finishAttempt(attempt, 'dead', now, error, now);
      }, 'outbox'),
    get: async (id: string): Promise<OutboxMessage | undefined> => {
      this.commitIfRefused();
      return this.readOutbox.get(id);
    },
  };

  async create<T extends Resource>(
    resource: T,
    options: CreateOptions = {},
  ): Promise<WriteResult<Stored<T>>> {
    const checked = checkResource(resource, 'Resource');
    const type = checked.resourceType;
    return this.write(() => {
      if (options.ifNoneExist !== undefined) {
        const found = this.tables.matches(type, options.ifNoneExist, undefined);
        if (found.length > 1)
          throw multipleMatches('If-None-Exist matches more than one resource', type);
        if (found[0] !== undefined)
          return {
            resource: this.tables.read(type, found[0], `${type}.id`) as Stored<T>,
            created: false,
          };
      }
      const written = this.tables.write(copyJson(checked), this.newId(), undefined, this.now());
      return { resource: written.resource as Stored<T>, created: true };
    }, type);
  }

  async read<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>> {
    this.commitIfRefused();
    return this.readTables.read(type, id, `${type}.id`) as ExtractResource<K>;
  }

  /**
   * As `read`, with the stored text; the resource is shared with other readers and frozen
   * (recent-versions.ts), which is why `read`, whose callers may build on what they get, does not
   * use it.
   */
  async readStored<K extends ResourceType>(
    type: K,
    id: string,
  ): Promise<StoredText<ExtractResource<K>>> {
    this.commitIfRefused();
    const current = this.readTables.current(type, id);
    if (!current) throw notFound(`There is no ${type} with this id`, `${type}.id`);
    const key = `${type}/${id}`;
    const kept =
      this.recentVersions.get(key, current.seq) ??
      this.recentVersions.keep(key, current.seq, this.readTables.contentOf(current.seq));
    return kept as StoredText<ExtractResource<K>>;
  }

  async vread<K extends ResourceType>(
    type: K,
    id: string,
    versionId: string,
  ): Promise<ExtractResource<K>> {
    this.commitIfRefused();
    return this.readTables.vread(
      type,
      id,
      versionId,
      `${type}.meta.versionId`,
    ) as ExtractResource<K>;
  }

  async history<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>[]> {
    this.commitIfRefused();
    return this.readTables.history(type, id, `${type}.id`) as ExtractResource<K>[];
  }

  async historyPage<K extends ResourceType>(
    type: K,
    id: string,
    page: HistoryPage,
  ): Promise<HistoryResult<ExtractResource<K>>> {
    this.commitIfRefused();
    // One read transaction: the total and the page are of the same moment.
    return this.reader.transaction(() =>
      this.readTables.historyPage(type, id, page, `${type}.id`),
    )() as HistoryResult<ExtractResource<K>>;
  }

  async update<T extends Resource>(
    resource: T,
    options: UpdateOptions = {},
  ): Promise<WriteResult<Stored<T>>> {
    const checked = checkResource(resource, 'Resource');
    const type = checked.resourceType;
    const where = places(type);
    const id = checkId(checked.id, where.id);
    const ifMatch =
      options.ifMatch === undefined ? undefined : versionOfETag(options.ifMatch, where.ifMatch);
    return this.write(() => {
      const previous = this.tables.current(type, id);
      checkIfMatch(ifMatch, previous, where.ifMatch);
      const written = this.tables.write(copyJson(checked), id, previous, this.now());
      return { resource: written.resource as Stored<T>, created: !previous };
    }, type);
  }

  async conditionalUpdate<T extends Resource>(
    resource: T,
    search: SearchParams,
    options: UpdateOptions = {},
  ): Promise<WriteResult<Stored<T>>> {
    const checked = checkResource(resource, 'Resource');
    const type = checked.resourceType;
    const where = places(type);
    if (checked.id !== undefined) checkId(checked.id, where.id);
    const ifMatch =
      options.ifMatch === undefined ? undefined : versionOfETag(options.ifMatch, where.ifMatch);
    return this.write(() => {
      const target = this.conditionalTarget(type, checked, search, ifMatch, where);
      const written = this.tables.write(copyJson(checked), target.id, target.previous, this.now());
      return { resource: written.resource as Stored<T>, created: target.action === 'create' };
    }, type);
  }

  async search<K extends ResourceType>(
    type: K,
    params?: SearchParams,
    options: SearchOptions = {},
  ): Promise<SearchResult<ExtractResource<K>>> {
    const parsed = parseSearch(type, params, options);
    this.commitIfRefused();
    const { resources, total } = this.reader.transaction(() => this.readTables.search(parsed))();
    return {
      resources: resources as ExtractResource<K>[],
      total,
      offset: parsed.offset,
      count: parsed.count,
    };
  }

  /**
   * Creates each resource with a new id, all in one commit, and returns only how many: the
   * light path for records that are only ever appended and never conditional (the audit trail's
   * AuditEvents), without a transaction Bundle's requests, references and response. Stored and
   * searchable exactly as `create` would store them.
   */
  async append(resources: readonly Resource[]): Promise<number> {
    const checked = resources.map((resource, i) => checkResource(resource, `Resource[${i}]`));
    return this.write(() => {
      const now = this.now();
      for (const resource of checked) this.tables.append(resource, this.newId(), now);
      return checked.length;
    }, 'Resource');
  }

  async transaction(bundle: Bundle): Promise<Bundle> {
    return this.write(() => this.applyBundle(bundle, this.now()), 'Bundle');
  }

  /**
   * Commits what the group holds and waits for its sync, then closes both connections: the
   * writer last and with `synchronous=FULL`, because closing the last connection checkpoints
   * the WAL into the database file and deletes it.
   */
  /** The file is open and answers a read. */
  async ready(): Promise<boolean> {
    if (!this.db.open || !this.reader.open) return false;
    try {
      this.reader.prepare('SELECT 1 FROM store_meta LIMIT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) {
      this.commitGroup();
      await this.walSync.sync().catch(() => undefined);
    }
    await this.checkpointer?.close();
    if (this.reader.open) this.reader.close();
    if (this.db.open) {
      this.db.pragma('synchronous = FULL');
      this.db.close();
    }
    this.walSync.close();
  }

  /** The resource a conditional update writes: the one match, or a new one. */
  private conditionalTarget(
    type: string,
    resource: Resource,
    condition: SearchParams,
    ifMatch: string | undefined,
    where: Places,
  ): Target {
    const found = this.tables.matches(type, condition, where.condition);
    if (found.length > 1)
      throw multipleMatches('The condition matches more than one resource', where.conditionOutcome);
    const match = found[0];
    if (match !== undefined) {
      if (resource.id !== undefined && resource.id !== match)
        throw invalid('The resource id differs from the resource the condition found', where.id);
      const previous = this.tables.current(type, match);
      checkIfMatch(ifMatch, previous, where.ifMatch);
      return { id: match, action: 'update', ...(previous ? { previous } : {}) };
    }
    checkIfMatch(ifMatch, undefined, where.ifMatch);
    if (resource.id !== undefined && this.tables.current(type, resource.id))
      throw conflict('A resource with this id exists but does not meet the condition', where.id);
    return { id: resource.id ?? this.newId(), action: 'create' };
  }

  /** A transaction Bundle, inside the caller's SQLite transaction. */
  private applyBundle(bundle: Bundle, now: number): Bundle {
    const requests = transactionRequests(bundle);
    const writes = requests.filter((r) => r.method !== 'GET');
    const targets = new Map<number, Target>();
    const ids = new Map<string, string>();
    const assign = (request: EntryRequest, target: Target): void => {
      targets.set(request.index, target);
      if (request.fullUrl !== undefined && isPlaceholder(request.fullUrl))
        ids.set(request.fullUrl, `${request.type}/${target.id}`);
    };

    let pending: EntryRequest[] = [];
    for (const request of writes) {
      if (request.query !== undefined) pending.push(request);
      else if (request.method === 'POST') assign(request, { id: this.newId(), action: 'create' });
      else {
        const id = request.id ?? '';
        const previous = this.tables.current(request.type, id);
        checkIfMatch(request.ifMatch, previous, at.ifMatch(request.index));
        assign(request, previous ? { id, action: 'update', previous } : { id, action: 'create' });
      }
    }
    // Conditions may name other entries' placeholders: resolve those entries first.
    const conditions = new Set<string>();
    while (pending.length > 0) {
      const unresolved = new Set(
        pending.flatMap((r) => (r.fullUrl !== undefined ? [r.fullUrl] : [])),
      );
      const waiting: EntryRequest[] = [];
      for (const request of pending) {
        const query = substitute(request.type, request.query ?? '', ids, unresolved);
        if (!query) {
          waiting.push(request);
          continue;
        }
        const key = `${request.type}?${[...query]
          .map((p) => p.join('='))
          .sort()
          .join('&')}`;
        const where =
          request.method === 'POST' ? at.ifNoneExist(request.index) : at.url(request.index);
        if (conditions.has(key)) throw invalid('Two entries have the same condition', where);
        conditions.add(key);
        assign(request, this.conditionalEntry(request, query, where));
      }
      if (waiting.length === pending.length)
        throw invalid(
          'These entries\u2019 conditions name each other',
          at.url(waiting[0]?.index ?? 0),
        );
      pending = waiting;
    }

    const written = new Map<string, number>();
    for (const request of writes) {
      const target = targets.get(request.index);
      if (!target || target.action === 'existing') continue;
      const key = `${request.type}/${target.id}`;
      if (written.has(key))
        throw invalid('Two entries write the same resource', at.entry(request.index));
      written.set(key, request.index);
      if (request.resource) resolvePlaceholders(request.resource, ids, at.resource(request.index));
    }

    const results = new Map<number, BundleEntry>();
    const order = [
      ...writes.filter((r) => r.method === 'POST'),
      ...writes.filter((r) => r.method === 'PUT'),
    ];
    for (const request of order) {
      const target = targets.get(request.index);
      if (!target || !request.resource) continue;
      if (target.action === 'existing') {
        const existing = this.tables.read(request.type, target.id, at.entry(request.index));
        results.set(request.index, responseEntry(existing, '200 OK'));
        continue;
      }
      const result = this.tables.write(
        request.resource,
        target.id,
        target.previous,
        now,
        at.resource(request.index),
      );
      results.set(
        request.index,
        responseEntry(result.resource, target.action === 'create' ? '201 Created' : '200 OK'),
      );
    }
    for (const request of requests.filter((r) => r.method === 'GET'))
      results.set(request.index, this.getEntry(request, ids));

    return {
      resourceType: 'Bundle',
      type: 'transaction-response',
      ...(requests.length > 0 ? { entry: requests.map((r) => results.get(r.index) ?? {}) } : {}),
    };
  }

  private conditionalEntry(request: EntryRequest, query: URLSearchParams, where: string): Target {
    if (request.method === 'POST') {
      const found = this.tables.matches(request.type, query, where);
      if (found.length > 1)
        throw multipleMatches('ifNoneExist matches more than one resource', where);
      return found[0] !== undefined
        ? { id: found[0], action: 'existing' }
        : { id: this.newId(), action: 'create' };
    }
    const i = request.index;
    return this.conditionalTarget(
      request.type,
      request.resource ?? ({} as Resource),
      query,
      request.ifMatch,
      {
        id: `${at.resource(i)}.id`,
        ifMatch: at.ifMatch(i),
        condition: at.url(i),
        conditionOutcome: at.url(i),
      },
    );
  }

  private getEntry(request: EntryRequest, ids: ReadonlyMap<string, string>): BundleEntry {
    const where = at.url(request.index);
    if (request.id !== undefined) {
      const resource =
        request.versionId !== undefined
          ? this.tables.vread(request.type, request.id, request.versionId, where)
          : this.tables.read(request.type, request.id, where);
      return responseEntry(resource, '200 OK');
    }
    const query =
      substitute(request.type, request.query ?? '', ids, new Set()) ?? new URLSearchParams();
    const parsed = parseSearch(request.type, query, { at: where });
    const { resources, total } = this.tables.search(parsed);
    const searchset: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      ...(resources.length > 0
        ? { entry: resources.map((resource) => ({ resource, search: { mode: 'match' as const } })) }
        : {}),
    };
    return { resource: searchset, response: { status: '200 OK' } };
  }
}

function checkIfMatch(
  ifMatch: string | undefined,
  current: CurrentRow | undefined,
  where: string,
): void {
  if (ifMatch === undefined) return;
  if (!current) throw preconditionFailed('There is no current version to match', where);
  if (String(current.version) !== ifMatch)
    throw preconditionFailed('The resource has changed since the version given', where);
}

/** Opens the embedded store in `options.dataDir`. */
export function openEmbeddedStore(options: EmbeddedStoreOptions): EmbeddedStore {
  return EmbeddedStore.open(options);
}
