/**
 * The embedded store's SQLite database: connection settings and tables.
 *
 * Durability: `journal_mode=WAL` with `synchronous=FULL`. In WAL mode FULL syncs the WAL file at
 * every commit, so a write that has returned survives a process crash and also an operating
 * system crash or power cut (NORMAL would survive only a process crash). Each commit pays one
 * fsync; commits are not grouped. WAL lets readers carry on while one writer commits.
 *
 * Tables:
 * - `resource`: the current version of each resource (JSON), its version number, lastUpdated
 *   (epoch ms) and `seq`, the global write sequence of that version.
 * - `resource_version`: every version ever written (the history); `seq` orders all writes.
 * - `search_index`: one row per (resource, search parameter, value), extracted at write time;
 *   tokens as (system, code), references as (target type, target id).
 * - `outbox`: messages for other systems, written in the same transaction as the resources
 *   they are about (delivered later by the transfer layer).
 * - `store_meta`: which search-index definitions the index was built with.
 */
import type { Database } from 'better-sqlite3';

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE resource (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  content TEXT NOT NULL,
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
CREATE INDEX search_index_by_resource ON search_index (type, id);

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

/** Connection settings, then the tables on first use. Refuses a file from a newer schema. */
export function prepareDatabase(db: Database, settings: ConnectionSettings): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`SQLite would not use WAL (journal_mode is ${String(mode)})`);
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
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
    }
  }).immediate();
}
