/**
 * Durable commits off the event loop (`src/store/wal-sync.ts` and the embedded store's use of
 * it): a write is acknowledged only after an fdatasync of the WAL that began after its commit;
 * commits made while a sync runs share the next one; a failed sync refuses the waiting writes
 * and every later one; the store's own checkpoints keep the WAL bounded without losing a write.
 * (A process killed mid-burst is test/reliability/crash.test.ts.)
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { EmbeddedStore } from '../../src/store';
import { WalSync } from '../../src/store/wal-sync';

const SYSTEM = 'urn:test:wal-sync';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dialog-fhir-wal-'));
}

function patient(value: string, padding = 0): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: SYSTEM, value }],
    ...(padding > 0 ? { name: [{ text: 'x'.repeat(padding) }] } : {}),
  };
}

/** Counts fdatasync calls (the async ones the store makes) while `work` runs. */
async function countingSyncs<R>(work: () => Promise<R>): Promise<{ result: R; syncs: number }> {
  const spy = jest.spyOn(fs, 'fdatasync');
  try {
    const result = await work();
    return { result, syncs: spy.mock.calls.length };
  } finally {
    spy.mockRestore();
  }
}

describe('WalSync', () => {
  it('resolves a sync once fdatasync of the WAL has returned', async () => {
    const dir = tempDir();
    const db = join(dir, 'x.sqlite');
    writeFileSync(`${db}-wal`, 'frames');
    const sync = new WalSync(db);
    const order: string[] = [];
    const spy = jest.spyOn(fs, 'fdatasync');
    const done = sync.sync().then(() => order.push('acknowledged'));
    order.push('asked');
    await done;
    expect(spy).toHaveBeenCalledTimes(1);
    expect(order).toEqual(['asked', 'acknowledged']);
    spy.mockRestore();
    sync.close();
  });

  it('shares one sync among everything asked while one runs', async () => {
    const dir = tempDir();
    const db = join(dir, 'x.sqlite');
    writeFileSync(`${db}-wal`, 'frames');
    const sync = new WalSync(db);
    const { syncs } = await countingSyncs(() =>
      Promise.all([sync.sync(), sync.sync(), sync.sync(), sync.sync()]),
    );
    // The first starts at once; the three asked while it ran share the second.
    expect(syncs).toBe(2);
    sync.close();
  });

  it('refuses the waiting writes and every later one after a failed sync', async () => {
    const sync = new WalSync(join(tempDir(), 'missing.sqlite'));
    await expect(sync.sync()).rejects.toThrow(/could not sync its journal.*until restart/);
    await expect(sync.sync()).rejects.toThrow(/until restart/);
    expect(() => sync.syncNow()).toThrow(/until restart/);
  });
});

describe('the embedded store with WalSync', () => {
  it('acknowledges a burst of writes after as few syncs as the disk allows, all readable', async () => {
    const dir = tempDir();
    const store = EmbeddedStore.open({ dataDir: dir });
    const { result, syncs } = await countingSyncs(() =>
      Promise.all(Array.from({ length: 40 }, (_, i) => store.create(patient(`p${i}`)))),
    );
    expect(result).toHaveLength(40);
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(40);
    const found = await store.search('Patient', { _count: '1000' });
    expect(found.total).toBe(40);
    await store.close();
  });

  it('keeps the WAL bounded with its own checkpoints, and every write survives a reopen', async () => {
    const dir = tempDir();
    const checkpointBytes = 256 * 1024;
    let store = EmbeddedStore.open({ dataDir: dir, checkpointBytes });
    const wal = `${store.path}-wal`;
    let largest = 0;
    for (let round = 0; round < 30; round++) {
      await Promise.all(
        Array.from({ length: 5 }, (_, i) => store.create(patient(`r${round}-${i}`, 4000))),
      );
      largest = Math.max(largest, statSync(wal).size);
      // The checkpoint runs on a worker thread: give it a moment between rounds, as the gaps
      // between requests would.
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // ~600 KB of patients in all; without checkpoints this WAL reached ~1.9 MB.
    expect(largest).toBeLessThan(3 * checkpointBytes);
    await store.close();
    store = EmbeddedStore.open({ dataDir: dir, checkpointBytes });
    const found = await store.search('Patient', { _count: '1000' });
    expect(found.total).toBe(150);
    await store.close();
  });

  it('atomically returns only after its commit has been synced', async () => {
    const dir = tempDir();
    const store = EmbeddedStore.open({ dataDir: dir });
    await store.create(patient('first')); // the WAL exists and has been opened
    const spy = jest.spyOn(fs, 'fdatasyncSync');
    store.atomically((tx) =>
      tx.transaction({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: patient('second'), request: { method: 'POST', url: 'Patient' } }],
      }),
    );
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    await store.close();
  });
});
