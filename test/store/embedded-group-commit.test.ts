/**
 * The embedded store's group commit: concurrent writes share one SQLite transaction and one
 * sync, each in a savepoint of its own; every caller's promise settles after the shared COMMIT;
 * a read commits an open group first (reads see committed data only); `atomically` still
 * returns committed. And a file of schema version 1 (each current version's JSON kept twice)
 * opens as version 2.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { DEFAULT_FILE_NAME, EmbeddedStore, SCHEMA_VERSION } from '../../src/store';

const SYSTEM = 'urn:test:group';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dialog-fhir-group-'));
}

function patient(value: string): Patient {
  return { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] };
}

/** A transaction that fails at its last entry (a GET of nobody), after writing a Patient. */
function failing(value: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: patient(value), request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: 'Patient/nobody' } },
    ],
  };
}

/** Every COMMIT the writer connection runs (better-sqlite3 `exec`). */
function countCommits(store: EmbeddedStore): { commits: number } {
  const counter = { commits: 0 };
  const db = (store as unknown as { db: BetterSqlite3.Database }).db;
  const exec = db.exec.bind(db);
  db.exec = ((sql: string) => {
    if (/^\s*COMMIT/i.test(sql)) counter.commits++;
    return exec(sql);
  }) as typeof db.exec;
  return counter;
}

describe('embedded store: group commit', () => {
  let dir: string;
  let store: EmbeddedStore;
  beforeEach(() => {
    dir = tempDir();
    store = EmbeddedStore.open({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
  });

  it('commits writes that arrive together once, and each caller sees its own result', async () => {
    const counter = countCommits(store);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.create(patient(`p${i}`))),
    );
    expect(counter.commits).toBe(1);
    expect(results.every((r) => r.created)).toBe(true);
    expect(new Set(results.map((r) => r.resource.id)).size).toBe(20);
    expect((await store.search('Patient', { _count: '0' })).total).toBe(20);
  });

  it('rolls back only the failing caller’s part of a group', async () => {
    const counter = countCommits(store);
    const settled = await Promise.allSettled([
      store.create(patient('a')),
      store.transaction(failing('b')),
      store.create(patient('c')),
      store.update({ ...patient('d'), id: 'd' }, { ifMatch: 'W/"3"' }),
      store.create(patient('e')),
    ]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    expect(reasons.map((r) => getStatus((r as OperationOutcomeError).outcome))).toEqual([404, 412]);
    expect(counter.commits).toBe(1);
    const found = await store.search('Patient', {});
    expect(found.resources.map((p) => p.identifier?.[0]?.value).sort()).toEqual(['a', 'c', 'e']);
  });

  it('settles a caller only after the shared commit; reads see only what is committed', async () => {
    const counter = countCommits(store);
    const written = store.create(patient('late'));
    // The work ran (synchronously) but the group has not committed: another connection does
    // not see it.
    const other = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME), { readonly: true });
    try {
      const count = (): number =>
        (other.prepare('SELECT count(*) AS n FROM resource').get() as { n: number }).n;
      expect(count()).toBe(0);
      // Nor does a read of this store, and it does not commit the group: what the group holds is
      // not acknowledged yet (so reads between writes let the writes share one commit).
      expect((await store.search('Patient', {})).total).toBe(0);
      expect(counter.commits).toBe(0);
      const { resource } = await written;
      expect(counter.commits).toBe(1);
      expect(count()).toBe(1);
      expect((await store.read('Patient', resource.id ?? '')).id).toBe(resource.id);
    } finally {
      other.close();
    }
  });

  it('lets a read-then-If-Match write succeed while another write waits in the open group', async () => {
    const { resource: person } = await store.create(patient('contended'));
    const other = store.update({ ...person, gender: 'female' });
    // Without a read after the refusal committing the group, every attempt here read version 1 while the writer
    // checked against version 2: five 412s.
    let written: string | undefined;
    for (let attempt = 0; attempt < 5 && written === undefined; attempt++) {
      const seen = await store.read('Patient', person.id ?? '');
      try {
        const { resource } = await store.update(
          { ...seen, gender: 'male' },
          { ifMatch: seen.meta?.versionId ?? '' },
        );
        written = resource.meta?.versionId;
      } catch (err) {
        if (!(err instanceof OperationOutcomeError) || getStatus(err.outcome) !== 412) throw err;
      }
    }
    await other;
    expect(written).toBe('3');
    expect((await store.read('Patient', person.id ?? '')).gender).toBe('male');
  });

  it('sees earlier members of the group in a later member’s conditions', async () => {
    const [first, second] = await Promise.all([
      store.create(patient('same'), { ifNoneExist: `identifier=${SYSTEM}|same` }),
      store.create(patient('same'), { ifNoneExist: `identifier=${SYSTEM}|same` }),
    ]);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.resource.id).toBe(first.resource.id);
  });

  it('atomically joins an open group and commits it before returning', async () => {
    const counter = countCommits(store);
    const pending = store.create(patient('queued'));
    const result = store.atomically((tx) => {
      tx.enqueue({ id: 'm', destination: 'ward', payload: 1 });
      return 'done';
    });
    expect(result).toBe('done');
    expect(counter.commits).toBe(1);
    // Committed already: another connection sees both.
    const other = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME), { readonly: true });
    try {
      expect(other.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 1 });
      expect(other.prepare('SELECT count(*) AS n FROM resource').get()).toEqual({ n: 1 });
    } finally {
      other.close();
    }
    await expect(pending).resolves.toMatchObject({ created: true });
  });

  it('commits what the group holds on close', async () => {
    const pending = store.create(patient('at-close'));
    await store.close();
    await expect(pending).resolves.toMatchObject({ created: true });
    store = EmbeddedStore.open({ dataDir: dir });
    expect((await store.search('Patient', {})).total).toBe(1);
  });

  it('writes each version’s JSON once, and an update replaces only the index rows that changed', async () => {
    const { resource } = await store.create({
      ...patient('x'),
      identifier: [
        { system: SYSTEM, value: 'x' },
        { system: SYSTEM, value: 'y' },
      ],
    });
    await store.update({
      ...resource,
      identifier: [
        { system: SYSTEM, value: 'y' },
        { system: SYSTEM, value: 'z' },
      ],
    });
    expect((await store.search('Patient', { identifier: `${SYSTEM}|x` })).total).toBe(0);
    expect((await store.search('Patient', { identifier: `${SYSTEM}|y` })).total).toBe(1);
    expect((await store.search('Patient', { identifier: `${SYSTEM}|z` })).total).toBe(1);
    const db = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME), { readonly: true });
    try {
      const columns = (
        db.prepare("SELECT name FROM pragma_table_info('resource')").all() as {
          name: string;
        }[]
      ).map((c) => c.name);
      expect(columns).not.toContain('content');
      expect(db.prepare('SELECT count(*) AS n FROM search_index').get()).toEqual({ n: 2 });
    } finally {
      db.close();
    }
  });
});

describe('embedded store: append (the audit trail’s light path)', () => {
  it('stores each record as create would: new id, version 1, searchable, in one commit', async () => {
    const store = EmbeddedStore.open({
      dataDir: tempDir(),
      now: () => new Date('2025-10-20T21:40:00.000Z'),
    });
    try {
      const counter = countCommits(store);
      const events = ['a', 'b', 'a'].map((who) => ({
        resourceType: 'AuditEvent' as const,
        id: 'ignored',
        meta: { versionId: '9', source: 'dialog-fhir' },
        type: { code: 'rest' },
        recorded: '2025-10-20T21:40:00.000Z',
        agent: [{ requestor: true }],
        source: { observer: { display: 'dialog-fhir' } },
        entity: [{ what: { reference: `Patient/${who}` } }],
      }));
      await expect(store.append(events)).resolves.toBe(3);
      expect(counter.commits).toBe(1);
      const found = await store.search('AuditEvent', { patient: 'Patient/a' });
      expect(found.total).toBe(2);
      for (const event of found.resources) {
        expect(event.id).not.toBe('ignored');
        expect(event.meta).toEqual({
          source: 'dialog-fhir',
          versionId: '1',
          lastUpdated: '2025-10-20T21:40:00.000Z',
        });
        expect(await store.history('AuditEvent', event.id ?? '')).toHaveLength(1);
      }
      expect(events[0]?.id).toBe('ignored'); // the caller's objects are left as they were
      await expect(store.append([{ resourceType: 'nope' } as never])).rejects.toBeDefined();
      expect((await store.search('AuditEvent', {})).total).toBe(3);
    } finally {
      await store.close();
    }
  });
});

describe('embedded store: patient searches read the subject rows', () => {
  it('keeps no rows of its own for patient, and finds only Patient subjects by it', async () => {
    const dir = tempDir();
    const store = EmbeddedStore.open({ dataDir: dir });
    try {
      const observation = (subject: string) => ({
        resourceType: 'Observation' as const,
        status: 'final' as const,
        code: { text: 'x' },
        subject: { reference: subject },
      });
      await store.create(observation('Patient/p'));
      await store.create(observation('Group/p'));
      expect((await store.search('Observation', { subject: 'p' })).total).toBe(2);
      expect((await store.search('Observation', { patient: 'p' })).total).toBe(1);
      expect((await store.search('Observation', { patient: 'Patient/p' })).total).toBe(1);
      expect((await store.search('Observation', { patient: 'Group/p' })).total).toBe(0);
      expect((await store.search('Observation', { 'subject:Group': 'p' })).total).toBe(1);
      const db = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME), { readonly: true });
      try {
        expect(
          db.prepare("SELECT count(*) AS n FROM search_index WHERE param = 'patient'").get(),
        ).toEqual({ n: 0 });
      } finally {
        db.close();
      }
    } finally {
      await store.close();
    }
  });
});

describe('embedded store: schema version 1 files', () => {
  it('opens a version 1 file as version 2, keeping every resource, version and search', async () => {
    const dir = tempDir();
    const path = join(dir, DEFAULT_FILE_NAME);
    const db = new BetterSqlite3(path);
    db.pragma('journal_mode = WAL');
    db.exec(`
CREATE TABLE resource (type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL, seq INTEGER NOT NULL, content TEXT NOT NULL,
  PRIMARY KEY (type, id)) WITHOUT ROWID;
CREATE INDEX resource_by_updated ON resource (type, last_updated, seq);
CREATE TABLE resource_version (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL,
  id TEXT NOT NULL, version INTEGER NOT NULL, last_updated INTEGER NOT NULL,
  content TEXT NOT NULL, UNIQUE (type, id, version));
CREATE TABLE search_index (type TEXT NOT NULL, param TEXT NOT NULL, value TEXT NOT NULL,
  system TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (type, param, value, system, id))
  WITHOUT ROWID;
CREATE INDEX search_index_by_resource ON search_index (type, id);
CREATE TABLE outbox (id TEXT PRIMARY KEY, destination TEXT NOT NULL, payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'in-flight', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_error TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    const v1 = JSON.stringify({
      resourceType: 'Patient',
      id: 'old',
      meta: { versionId: '1', lastUpdated: '2025-01-01T00:00:00.000Z' },
      identifier: [{ system: SYSTEM, value: 'old-1' }],
    });
    const v2 = JSON.stringify({
      resourceType: 'Patient',
      id: 'old',
      meta: { versionId: '2', lastUpdated: '2025-01-02T00:00:00.000Z' },
      identifier: [{ system: SYSTEM, value: 'old-2' }],
    });
    const t1 = Date.parse('2025-01-01T00:00:00.000Z');
    const t2 = Date.parse('2025-01-02T00:00:00.000Z');
    db.prepare(
      'INSERT INTO resource_version (type, id, version, last_updated, content) VALUES (?, ?, ?, ?, ?)',
    ).run('Patient', 'old', 1, t1, v1);
    db.prepare(
      'INSERT INTO resource_version (type, id, version, last_updated, content) VALUES (?, ?, ?, ?, ?)',
    ).run('Patient', 'old', 2, t2, v2);
    db.prepare(
      'INSERT INTO resource (type, id, version, last_updated, seq, content) VALUES (?, ?, ?, ?, ?, ?)',
    ).run('Patient', 'old', 2, t2, 2, v2);
    db.pragma('user_version = 1');
    db.close();

    const store = EmbeddedStore.open({ dataDir: dir });
    try {
      expect(SCHEMA_VERSION).toBe(2);
      expect((await store.read('Patient', 'old')).identifier?.[0]?.value).toBe('old-2');
      expect((await store.history('Patient', 'old')).map((p) => p.meta?.versionId)).toEqual([
        '2',
        '1',
      ]);
      // The index is rebuilt (no signature was recorded) from the current versions.
      expect((await store.search('Patient', { identifier: `${SYSTEM}|old-2` })).total).toBe(1);
      expect((await store.search('Patient', { identifier: `${SYSTEM}|old-1` })).total).toBe(0);
      const { resource } = await store.update({ resourceType: 'Patient', id: 'old', active: true });
      expect(resource.meta?.versionId).toBe('3');
    } finally {
      await store.close();
    }
    const check = new BetterSqlite3(path, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(2);
    } finally {
      check.close();
    }
  });
});
