import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { Bundle, Observation, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import BetterSqlite3 from 'better-sqlite3';
import { DEFAULT_FILE_NAME, EmbeddedStore, SCHEMA_VERSION } from '../../src/store';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient, journeySessionBundle, storeContract } from './store-contract';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-store-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

storeContract('embedded (SQLite file)', async () => EmbeddedStore.open({ dataDir: tempDir() }));

const SYSTEM = 'urn:dialog-fhir:test:mrn';
const CRASH_SYSTEM = 'urn:dialog-fhir:test:crash';

function patient(value: string, more: Partial<Patient> = {}): Patient {
  return { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }], ...more };
}

function twoNewPeople(): Bundle {
  const a = 'urn:uuid:11111111-1111-4111-8111-111111111111';
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: a, resource: patient('a'), request: { method: 'POST', url: 'Patient' } },
      {
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'x' },
          subject: { reference: a },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
}

async function failure(
  call: Promise<unknown> | (() => unknown),
  status: number,
): Promise<string[]> {
  let caught: unknown;
  try {
    await (typeof call === 'function' ? call() : call);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(OperationOutcomeError);
  const { outcome } = caught as OperationOutcomeError;
  expect(getStatus(outcome)).toBe(status);
  return outcome.issue[0]?.expression ?? [];
}

/** Every row of every table, through a connection of its own. */
function dump(path: string): Record<string, unknown[]> {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all() as { name: string }[];
    return Object.fromEntries(
      tables.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}" ORDER BY 1, 2`).all()]),
    );
  } finally {
    db.close();
  }
}

describe('embedded store: the SQLite file', () => {
  let dir: string;
  let store: EmbeddedStore;
  beforeEach(() => {
    dir = tempDir();
    store = EmbeddedStore.open({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
  });

  it('lives in DATA_DIR, in WAL mode, syncing the WAL itself and checkpointing itself', () => {
    expect(store.path).toBe(join(dir, DEFAULT_FILE_NAME));
    expect(store.durability()).toEqual({
      journalMode: 'wal',
      commitSynchronous: 'OFF',
      walAutoCheckpointPages: 0,
      syncedBeforeAcknowledging: 'wal (fdatasync)',
    });
  });

  it('creates a missing data directory', async () => {
    const nested = join(tempDir(), 'a', 'b');
    const other = EmbeddedStore.open({ dataDir: nested, fileName: 'x.sqlite' });
    expect(other.path).toBe(join(nested, 'x.sqlite'));
    await other.close();
  });

  it('finds everything again after closing and reopening the file', async () => {
    const response = await store.transaction(twoNewPeople());
    const person = response.entry?.[0]?.resource as Patient;
    await store.update({ ...person, active: true });
    await store.outbox.enqueue({ id: 'm1', destination: 'ward', payload: { hello: 1 } });
    await store.close();
    const reopened = EmbeddedStore.open({ dataDir: dir });
    try {
      expect((await reopened.read('Patient', person.id ?? '')).active).toBe(true);
      expect(
        (await reopened.history('Patient', person.id ?? '')).map((h) => h.meta?.versionId),
      ).toEqual(['2', '1']);
      const found = await reopened.search('Observation', { patient: `Patient/${person.id ?? ''}` });
      expect(found.total).toBe(1);
      expect((await reopened.outbox.get('m1'))?.payload).toEqual({ hello: 1 });
    } finally {
      await reopened.close();
    }
  });

  it('leaves every table exactly as it was when a transaction fails', async () => {
    await store.transaction(twoNewPeople());
    await store.outbox.enqueue({ destination: 'ward', payload: {} });
    const before = dump(store.path);
    const bundle = twoNewPeople();
    bundle.entry?.push({ request: { method: 'GET', url: 'Patient/nobody' } });
    await failure(store.transaction(bundle), 404);
    expect(dump(store.path)).toEqual(before);
  });

  it('re-applying a session, rebuilt or as it was, leaves every table as it was', async () => {
    await store.update(journeyPatient());
    const [first, second] = journeyResponses();
    if (!first || !second) throw new Error('no journey');
    const bundle = await journeySessionBundle(store, first);
    await store.transaction(bundle);
    const once = dump(store.path);
    await store.transaction(bundle);
    await store.transaction(await journeySessionBundle(store, first));
    expect(dump(store.path)).toEqual(once);
    await store.transaction(await journeySessionBundle(store, second));
    const twice = dump(store.path);
    await store.transaction(await journeySessionBundle(store, second));
    expect(dump(store.path)).toEqual(twice);
  });

  it('is a 409 when a conditional update would create over an id that does not match', async () => {
    await store.update(patient('someone', { id: 'taken' }));
    const where = await failure(
      store.conditionalUpdate(patient('else', { id: 'taken' }), `identifier=${SYSTEM}|else`),
      409,
    );
    expect(where).toEqual(['Patient.id']);
    expect((await store.read('Patient', 'taken')).identifier?.[0]?.value).toBe('someone');
  });

  it('answers an empty transaction with an empty response', async () => {
    expect(await store.transaction({ resourceType: 'Bundle', type: 'transaction' })).toEqual({
      resourceType: 'Bundle',
      type: 'transaction-response',
    });
  });

  it('writes no new version when an update changes nothing', async () => {
    const { resource } = await store.create(patient('p', { meta: { source: 'urn:s' } }));
    const same = await store.update({ ...resource, meta: { source: 'urn:s', versionId: '9' } });
    expect(same.created).toBe(false);
    expect(same.resource).toEqual(resource);
    const reordered: Patient = {
      identifier: resource.identifier ?? [],
      id: resource.id ?? '',
      resourceType: 'Patient',
    };
    await store.update({ ...reordered, meta: { source: 'urn:s' } });
    expect(await store.history('Patient', resource.id ?? '')).toHaveLength(1);
    const changed = await store.update({ ...resource, meta: {} });
    expect(changed.resource.meta?.versionId).toBe('2');
  });

  it('readStored gives the version with its stored text, exactly JSON.stringify of it', async () => {
    // Text that JSON writes in more than one way: escapes, non-ASCII, U+2028, a lone surrogate,
    // numbers with exponents and fractions, keys out of order, nested arrays.
    const tricky = {
      ...patient('t\u2028"\\\u0001é\ud800'),
      name: [{ family: 'Ó Briain 🙂', given: ['Seán', 'x\ny'] }],
      extension: [
        { url: 'urn:n', valueDecimal: 1e21 },
        { url: 'urn:m', valueDecimal: 0.1 },
        { valueInteger: -7, url: 'urn:i' },
      ],
    } as Patient;
    const { resource } = await store.create(tricky);
    const id = resource.id ?? '';
    const stored = await store.readStored('Patient', id);
    expect(stored.text).toBe(JSON.stringify(stored.resource));
    expect(stored.resource).toEqual(await store.read('Patient', id));
    const session = journeyResponses()[0] as QuestionnaireResponse;
    await store.update(journeyPatient());
    await store.transaction(await journeySessionBundle(store, session));
    const qr = await store.readStored('QuestionnaireResponse', session.id ?? '');
    expect(qr.text).toBe(JSON.stringify(qr.resource));
    expect(await failure(store.readStored('Patient', 'nobody'), 404)).toEqual(['Patient.id']);
  });

  it('readStored keeps what it read, frozen, and never sends a version that is no longer current', async () => {
    const { resource } = await store.create(patient('r1', { active: true }));
    const id = resource.id ?? '';
    const first = await store.readStored('Patient', id);
    const again = await store.readStored('Patient', id);
    // Kept: the same object, shared, so nobody may change it.
    expect(again.resource).toBe(first.resource);
    expect(Object.isFrozen(first.resource)).toBe(true);
    expect(Object.isFrozen(first.resource.identifier?.[0])).toBe(true);
    expect(() => {
      (first.resource as Patient).active = false;
    }).toThrow(TypeError);
    // `read` hands out a copy of its own, which the caller may change.
    const copy = await store.read('Patient', id);
    copy.active = false;
    expect((await store.readStored('Patient', id)).resource.active).toBe(true);
    // Updated here: the next read is version 2.
    await store.update({ ...resource, active: false });
    const second = await store.readStored('Patient', id);
    expect([second.resource.meta?.versionId, second.resource.active]).toEqual(['2', false]);
    expect(second.text).toBe(JSON.stringify(second.resource));
    // Updated by another store on the same file (another process, as far as SQLite knows).
    const other = EmbeddedStore.open({ dataDir: dir });
    try {
      await other.update({ ...resource, active: true, gender: 'unknown' });
    } finally {
      await other.close();
    }
    const third = await store.readStored('Patient', id);
    expect([third.resource.meta?.versionId, third.resource.gender]).toEqual(['3', 'unknown']);
  });

  it('refuses to move a stored record to another person, by update or by a conditional entry', async () => {
    const observation = (subject: string): Observation => ({
      resourceType: 'Observation',
      identifier: [{ system: 'urn:t', value: 'o1' }],
      status: 'final',
      code: { text: 'x' },
      subject: { reference: subject },
    });
    const { resource } = await store.create(observation('Patient/a'));
    const id = resource.id ?? '';
    expect(await failure(store.update({ ...observation('Patient/b'), id }), 409)).toEqual([
      'Observation.subject',
    ]);
    const { subject: _s, ...noOne } = observation('Patient/a');
    void _s;
    expect(await failure(store.update({ ...noOne, id } as Observation), 409)).toEqual([
      'Observation.subject',
    ]);
    // A handover writes by condition: the entry resolved to the stored record is refused too.
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: patient('new-one'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: observation('Patient/b'),
          request: { method: 'PUT', url: 'Observation?identifier=urn:t|o1' },
        },
      ],
    };
    expect(await failure(store.transaction(bundle), 409)).toEqual([
      'Bundle.entry[1].resource.subject',
    ]);
    expect((await store.search('Patient', { identifier: `${SYSTEM}|new-one` })).total).toBe(0);
    const stored = await store.read('Observation', id);
    expect(stored.subject?.reference).toBe('Patient/a');
    expect(stored.meta?.versionId).toBe('1');
    // The same person again is an ordinary update, named by a version of their record too.
    const same = await store.update({ ...observation('Patient/a'), id, valueInteger: 3 });
    expect(same.resource.meta?.versionId).toBe('2');
    const versioned = await store.update({ ...observation('Patient/a/_history/1'), id });
    expect(versioned.resource.meta?.versionId).toBe('3');
  });

  it('refuses what its transactions do not support, and ambiguous bundles', async () => {
    const { resource } = await store.create(patient('p'));
    const tx = (entry: NonNullable<Bundle['entry']>): Promise<Bundle> =>
      store.transaction({ resourceType: 'Bundle', type: 'transaction', entry });
    expect(
      await failure(
        tx([{ request: { method: 'DELETE', url: `Patient/${resource.id ?? ''}` } }]),
        400,
      ),
    ).toEqual(['Bundle.entry[0].request.method']);
    const dup = 'urn:uuid:22222222-2222-4222-8222-222222222222';
    expect(
      await failure(
        tx([
          { fullUrl: dup, resource: patient('x'), request: { method: 'POST', url: 'Patient' } },
          { fullUrl: dup, resource: patient('y'), request: { method: 'POST', url: 'Patient' } },
        ]),
        400,
      ),
    ).toEqual(['Bundle.entry[1].fullUrl']);
    expect(
      await failure(
        tx([
          { resource: resource, request: { method: 'PUT', url: `Patient/${resource.id ?? ''}` } },
          {
            resource: patient('p'),
            request: { method: 'PUT', url: `Patient?identifier=${SYSTEM}|p` },
          },
        ]),
        400,
      ),
    ).toEqual(['Bundle.entry[1]']);
    expect(
      await failure(
        tx([
          {
            resource: patient('q'),
            request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|q` },
          },
          {
            resource: patient('q'),
            request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|q` },
          },
        ]),
        400,
      ),
    ).toEqual(['Bundle.entry[1].request.ifNoneExist']);
    expect(
      await failure(
        tx([{ resource: patient('q'), request: { method: 'POST', url: 'Observation' } }]),
        400,
      ),
    ).toEqual(['Bundle.entry[0].resource.resourceType']);
    expect(
      await failure(
        tx([{ resource: patient('q'), request: { method: 'PUT', url: 'Patient' } }]),
        400,
      ),
    ).toEqual(['Bundle.entry[0].request.url']);
    expect((await store.search('Patient', {})).total).toBe(1);
  });

  it('resolves a condition that names another entry once that entry has its id', async () => {
    const person = 'urn:uuid:33333333-3333-4333-8333-333333333333';
    const response = await store.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Goal',
            lifecycleStatus: 'active',
            description: { text: 'g' },
            subject: { reference: person },
          },
          request: { method: 'POST', url: 'Goal', ifNoneExist: `subject=${person}` },
        },
        {
          fullUrl: person,
          resource: patient('cond'),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|cond` },
        },
      ],
    });
    const personId = response.entry?.[1]?.resource?.id ?? '';
    expect((await store.search('Goal', { subject: `Patient/${personId}` })).total).toBe(1);
  });

  it('is a 409 when another process holds the write lock past the busy timeout', async () => {
    await store.close();
    store = EmbeddedStore.open({ dataDir: dir, busyTimeoutMs: 0 });
    const other = new BetterSqlite3(store.path);
    try {
      other.exec('BEGIN IMMEDIATE');
      expect(await failure(store.create(patient('p')), 409)).toEqual(['Patient']);
      other.exec('ROLLBACK');
      await expect(store.create(patient('p'))).resolves.toMatchObject({ created: true });
    } finally {
      other.close();
    }
  });

  it('refuses a file written by a newer schema', async () => {
    await store.close();
    const db = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => EmbeddedStore.open({ dataDir: dir })).toThrow(/schema version/);
    const fixed = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME));
    fixed.pragma(`user_version = ${SCHEMA_VERSION}`);
    fixed.close();
    store = EmbeddedStore.open({ dataDir: dir });
  });

  it('rebuilds the search index when its definitions changed', async () => {
    const { resource } = await store.create(patient('p'));
    await store.close();
    const db = new BetterSqlite3(join(dir, DEFAULT_FILE_NAME));
    db.exec(
      "DELETE FROM search_index; UPDATE store_meta SET value = 'old' WHERE key = 'search_index'",
    );
    db.close();
    store = EmbeddedStore.open({ dataDir: dir });
    const found = await store.search('Patient', { identifier: `${SYSTEM}|p` });
    expect(found.resources.map((r) => r.id)).toEqual([resource.id]);
  });

  it('stamps writes with the injected clock', async () => {
    await store.close();
    store = EmbeddedStore.open({
      dataDir: dir,
      now: () => new Date('2025-10-20T21:40:00.000Z'),
      newId: () => 'fixed-id',
    });
    const { resource } = await store.create(patient('p'));
    expect(resource.id).toBe('fixed-id');
    expect(resource.meta?.lastUpdated).toBe('2025-10-20T21:40:00.000Z');
    const found = await store.search('Patient', { _lastUpdated: '2025-10-20T22:40+01:00' });
    expect(found.total).toBe(1);
    expect(
      (await store.search('Patient', { _lastUpdated: 'gt2025-10-20T22:40+01:00' })).total,
    ).toBe(0);
    expect((await store.search('Patient', { _lastUpdated: 'lt2025-10-21' })).total).toBe(1);
  });
});

describe('embedded store: the outbox', () => {
  let store: EmbeddedStore;
  let clock: Date;
  beforeEach(() => {
    clock = new Date('2025-12-09T11:30:00.000Z');
    store = EmbeddedStore.open({ dataDir: tempDir(), now: () => clock });
  });
  afterEach(async () => {
    await store.close();
  });

  it('commits a message with the resources it is about, and neither without the other', async () => {
    const response = store.atomically((tx) => {
      const result = tx.transaction(twoNewPeople());
      tx.enqueue({
        id: 'handover-1',
        destination: 'ward',
        payload: { task: result.entry?.[0]?.response?.location },
      });
      return result;
    });
    const location = response.entry?.[0]?.response?.location;
    expect((await store.outbox.get('handover-1'))?.payload).toEqual({ task: location });
    expect((await store.search('Patient', {})).total).toBe(1);

    // The bundle fails: no message.
    const failing = twoNewPeople();
    failing.entry?.push({ request: { method: 'GET', url: 'Patient/nobody' } });
    await failure(
      () =>
        store.atomically((tx) => {
          tx.enqueue({ id: 'handover-2', destination: 'ward', payload: {} });
          tx.transaction(failing);
        }),
      404,
    );
    expect(await store.outbox.get('handover-2')).toBeUndefined();

    // The message fails after the bundle applied: no resources.
    expect(() =>
      store.atomically((tx) => {
        tx.transaction(twoNewPeople());
        tx.enqueue({ id: 'handover-3', destination: '', payload: {} });
      }),
    ).toThrow(/destination/);
    expect((await store.search('Patient', {})).total).toBe(1);
    expect((await store.search('Observation', {})).total).toBe(1);
  });

  it('refuses asynchronous work, committing nothing', async () => {
    expect(() =>
      store.atomically(async (tx) => {
        tx.enqueue({ id: 'late', destination: 'ward', payload: {} });
      }),
    ).toThrow();
    expect(await store.outbox.get('late')).toBeUndefined();
  });

  it('enqueues idempotently by id', async () => {
    expect(await store.outbox.enqueue({ id: 'm', destination: 'ward', payload: { v: 1 } })).toBe(
      true,
    );
    expect(await store.outbox.enqueue({ id: 'm', destination: 'ward', payload: { v: 2 } })).toBe(
      false,
    );
    expect((await store.outbox.get('m'))?.payload).toEqual({ v: 1 });
  });

  it('claims due messages oldest first, leases them, and fences finished attempts', async () => {
    const t = (minutes: number): Date => new Date(clock.getTime() + minutes * 60_000);
    await store.outbox.enqueue({ id: 'later', destination: 'ward', payload: 3, notBefore: t(100) });
    await store.outbox.enqueue({ id: 'second', destination: 'ward', payload: 2, notBefore: t(1) });
    await store.outbox.enqueue({ id: 'first', destination: 'ward', payload: 1 });

    const lease = 10 * 60_000;
    const claimed = await store.outbox.claimDue(t(2), 10, lease);
    expect(claimed.map((m) => [m.id, m.state, m.attempts])).toEqual([
      ['first', 'in-flight', 1],
      ['second', 'in-flight', 1],
    ]);
    expect(await store.outbox.claimDue(t(3), 10, lease)).toEqual([]);

    const [first, second] = claimed;
    if (!first || !second) throw new Error('claimed two');
    expect(await store.outbox.markDelivered(first)).toBe(true);
    expect(await store.outbox.markDelivered(first)).toBe(false);
    expect((await store.outbox.get('first'))?.state).toBe('delivered');

    // The claimer of `second` is too slow: the lease runs out and it is claimed again.
    const reclaimed = await store.outbox.claimDue(t(13), 10, lease);
    expect(reclaimed.map((m) => [m.id, m.attempts])).toEqual([['second', 2]]);
    expect(await store.outbox.markFailed(second, 'timeout', t(14))).toBe(false);
    const [current] = reclaimed;
    if (!current) throw new Error('reclaimed');
    expect(await store.outbox.markFailed(current, 'HTTP 503', t(20))).toBe(true);
    expect(await store.outbox.get('second')).toMatchObject({
      state: 'pending',
      attempts: 2,
      lastError: 'HTTP 503',
      nextAttemptAt: t(20).toISOString(),
    });

    const due = await store.outbox.claimDue(t(200), 10);
    expect(due.map((m) => m.id)).toEqual(['second', 'later']);
    const [, later] = due;
    if (!later) throw new Error('later');
    expect(await store.outbox.markFailed(later, 'refused for good')).toBe(true);
    expect((await store.outbox.get('later'))?.state).toBe('dead');
    expect((await store.outbox.claimDue(t(600), 10)).map((m) => m.id)).toEqual(['second']);
  });
});

describe('embedded store: closing', () => {
  it('finishes closing in a process nothing else keeps alive, after checkpoints have run', async () => {
    const child = fork(join(__dirname, 'fixtures', 'close-after-checkpoint.ts'), [tempDir()], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect([code, out]).toEqual([0, 'closed\n']);
  });
});

describe('embedded store: a crash', () => {
  it('keeps every acknowledged transaction exactly once and no half of any other', async () => {
    const dir = tempDir();
    const child = fork(join(__dirname, 'fixtures', 'crash-writer.ts'), [dir, CRASH_SYSTEM], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    const acknowledged: number[] = [];
    const exited = new Promise<NodeJS.Signals | null>((resolve) => {
      child.on('exit', (_code, signal) => resolve(signal));
    });
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      acknowledged.push(...lines.map(Number));
      if (acknowledged.length >= 100) child.kill('SIGKILL');
    });
    expect(await exited).toBe('SIGKILL');
    expect(acknowledged.slice(0, 100)).toEqual([...Array(100).keys()]);

    const store = EmbeddedStore.open({ dataDir: dir });
    try {
      const check = new BetterSqlite3(store.path, { readonly: true });
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      const messages = check.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number };
      check.close();
      const people = (
        await store.search('Patient', { identifier: `${CRASH_SYSTEM}|` }, { count: 1000 })
      ).resources;
      const numbers = people.map((p) => Number(p.identifier?.[0]?.value)).sort((a, b) => a - b);
      // Every acknowledged write once; perhaps a few more that committed before the kill landed.
      expect(numbers.slice(0, acknowledged.length)).toEqual(acknowledged);
      expect(numbers).toEqual([...Array(numbers.length).keys()]);
      for (const person of people) {
        const observations = await store.search('Observation', {
          subject: `Patient/${person.id ?? ''}`,
        });
        expect(observations.resources.map((o: Observation) => o.valueInteger).sort()).toEqual([
          1, 2, 3,
        ]);
        expect(
          await store.outbox.get(`crash-${person.identifier?.[0]?.value ?? ''}`),
        ).toBeDefined();
      }
      expect((await store.search('Observation', { _count: '0' })).total).toBe(3 * people.length);
      expect(messages.n).toBe(people.length);
    } finally {
      await store.close();
    }
  });
});

describe('embedded store: ids that are path segments', () => {
  it('refuses "." and ".." as ids in a transaction entry (400), storing nothing', async () => {
    const store = EmbeddedStore.open({ dataDir: tempDir() });
    try {
      for (const id of ['.', '..']) {
        const bundle: Bundle = {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: { resourceType: 'Patient', id },
              request: { method: 'PUT', url: `Patient/${id}` },
            },
          ],
        };
        const refused = await store.transaction(bundle).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(refused).toBeInstanceOf(OperationOutcomeError);
        expect(getStatus((refused as OperationOutcomeError).outcome)).toBe(400);
      }
      expect((await store.search('Patient', {})).total).toBe(0);
    } finally {
      await store.close();
    }
  });
});
