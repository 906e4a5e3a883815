/**
 * The embedded store's SQLite database: connection settings and tables.
 *
 * Durability: `journal_mode=WAL`. The writer commits with `synchronous=OFF` and the store syncs
 * the WAL itself, off the event loop, before it acknowledges a write (`wal-sync.ts`), so a write
 * that has been acknowledged survives a process crash and also an operating system crash or power
 * cut. Checkpoints are the store's, not SQLite's automatic ones (`wal_autocheckpoint=0`), and run
 * with `synchronous=FULL` on a worker thread, so the database file is synced before the WAL is
 * reused (`background-checkpoint.ts`). WAL lets readers carry on while one writer commits. Once reset, the WAL
 * is cut back to `journal_size_limit`, so it does not keep its high-water size for good.
 *
 * Tables:
 * - `resource`: the current version of each resource: its version number, lastUpdated (epoch ms)
 *   and `seq`, the row of that version in `resource_version` (which holds its JSON).
 * - `resource_version`: every version ever written (the history), with its JSON; `seq` orders all
 *   writes. Each version's JSON is stored once.
 * - `search_index`: one row per (resource, search parameter, value), extracted at write time;
 *   tokens as (system, code), references as (target type, target id). An update removes the rows
 *   its previous version gave and no longer gives (worked out from that version's JSON).
 * - `outbox`: messages for other systems, written in the same transaction as the resources
 *   they are about (delivered later by the transfer layer).
 * - `store_meta`: which search-index definitions the index was built with.
 */
import type { Database } from 'better-sqlite3';

export const SCHEMA_VERSION = 2;

/** The WAL is truncated to this size when it is reset after a checkpoint. */
const JOURNAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

const SCHEMA = `
CREATE TABLE resource (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX resource_by_updated ON resource (type, last_updated, seq);

CREATE TABLE resource_version (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  content TEXT NOT NULL,
  UNIQUE (type, id, version)
);

CREATE TABLE search_index (
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  system TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (type, param, value, system, id)
) WITHOUT ROWID;

CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  destination TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'in-flight', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE store_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

export interface ConnectionSettings {
  /** How long a write waits for another process's write lock before failing (409). */
  readonly busyTimeoutMs: number;
}

/**
 * Version 1 kept each current version's JSON twice (in `resource` too) and an index of the
 * search rows by resource: both go (the JSON stays in `resource_version`).
 */
const MIGRATIONS: Readonly<Record<number, string>> = {
  1: `ALTER TABLE resource DROP COLUMN content;
DROP INDEX IF EXISTS search_index_by_resource;`,
};

/** Connection settings, then the tables on first use. Refuses a file from a newer schema. */
export function prepareDatabase(db: Database, settings: ConnectionSettings): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`SQLite would not use WAL (journal_mode is ${String(mode)})`);
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(settings.busyTimeoutMs))}`);
  db.transaction(() => {
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION)
      throw new Error(
        `The store file has schema version ${version}; this build knows ${SCHEMA_VERSION}`,
      );
    if (version === 0) {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return;
    }
    for (let from = version; from < SCHEMA_VERSION; from++) {
      const migration = MIGRATIONS[from];
      if (migration === undefined) throw new Error(`No migration from schema version ${from}`);
      db.exec(migration);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * The writer's settings once the tables are there: commits go to the operating system without a
 * sync (the store syncs the WAL before acknowledging: `wal-sync.ts`) and SQLite never
 * checkpoints on its own (a checkpoint must sync the database file: `background-checkpoint.ts`).
 */
export function deferSyncsToStore(db: Database): void {
  db.pragma('synchronous = OFF');
  db.pragma('wal_autocheckpoint = 0');
}

/**
 * Copies what is left of the WAL into the database file, with syncs (SQLite syncs the WAL,
 * copies, then syncs the database file before the WAL can be reused), on the writer between
 * two commits. The bulk of a checkpoint runs on a worker (`background-checkpoint.ts`); this
 * finishes one that commits made meanwhile kept from completing, so under steady writes the WAL
 * still starts again from its beginning. Not inside a transaction. True when nothing is left.
 */
export function checkpointDurably(db: Database): boolean {
  db.pragma('synchronous = FULL');
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    return result !== undefined && result.busy === 0 && result.log === result.checkpointed;
  } finally {
    db.pragma('synchronous = OFF');
  }
}

/**
 * A second connection for reads: outside the writer's transactions, it sees what has been
 * committed and nothing of a commit still being prepared. It cannot write.
 */
export function prepareReader(db: Database, settings: ConnectionSettings): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(settings.busyTimeoutMs))}`);
  db.pragma('query_only = ON');
}
