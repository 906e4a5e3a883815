/**
 * Why the embedded store names new resources with time-ordered ids (src/store/time-ordered-id.ts):
 * `node dist-bench/bench/store-ids.js` (run by `npm run bench`) appends the audit trail's
 * AuditEvents, 500 at a time as src/api/audit-trail.ts does, into two stores side by side (each
 * round in a process of its own) — one
 * with random (version 4) UUIDs, one with the default time-ordered (version 7) ones — in
 * interleaved rounds, and prints for each the CPU time per event (every thread: the WAL syncs
 * and checkpoints too) and the bytes written per event (WAL and checkpoints). Writes
 * bench/results/store-ids.json.
 *
 * Random ids land each new row of the (type, id) B-trees on a page of its own, so a commit
 * rewrites a page per event; time-ordered ones append.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import { auditEvent } from '../src/auth';
import { EmbeddedStore } from '../src/store';

const RESULTS = join(__dirname, '..', '..', 'bench', 'results', 'store-ids.json');
const BATCH = 500;
/** Events per round and contender; the trees must outgrow SQLite's page cache to show. */
const EVENTS_PER_ROUND = 40_000;
const ROUNDS = 3;

type IdKind = 'random (v4)' | 'time-ordered (v7)';

interface RoundFigures {
  readonly cpuUs: number;
  readonly writtenBytes: number;
}

function event(n: number): AuditEvent {
  return auditEvent({
    interaction: 'read',
    status: 200,
    resourceType: 'CarePlan',
    ids: [`plan-${n % 500}`],
    patientId: `p-${n % 500}`,
    requestId: randomUUID(),
    now: new Date(),
    source: 'dialog-fhir',
  });
}

/**
 * Bytes this process has written so far (`wchar` of /proc/self/io: the WAL's frames and what
 * checkpoints copy into the database file, every thread); the WAL file's size would not tell,
 * since the store checkpoints and then writes the WAL again from its start.
 */
function bytesWritten(): number {
  const line = /^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(line?.[1] ?? 0);
}

/**
 * One round, in a process of its own (so the CPU time and bytes are this store's alone, not a
 * checkpoint the other store's round left running): opens the store where the last round left
 * it, appends, and reports before closing.
 */
async function childRound(kind: IdKind, dir: string, first: number): Promise<void> {
  const store = EmbeddedStore.open({
    dataDir: dir,
    ...(kind === 'random (v4)' ? { newId: randomUUID } : {}),
  });
  const cpu = process.cpuUsage();
  const written = bytesWritten();
  for (let at = 0; at < EVENTS_PER_ROUND; at += BATCH)
    await store.append(Array.from({ length: BATCH }, (_, i) => event(first + at + i)));
  const used = process.cpuUsage(cpu);
  const figures: RoundFigures = {
    cpuUs: used.user + used.system,
    writtenBytes: bytesWritten() - written,
  };
  await store.close();
  process.send?.(figures);
}

function round(kind: IdKind, dir: string, first: number): Promise<RoundFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--round', kind, dir, String(first)]);
    child.once('message', (figures: RoundFigures) => resolve(figures));
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the ${kind} round exited with ${String(code)}`));
    });
  });
}

async function main(): Promise<void> {
  const kinds: IdKind[] = ['random (v4)', 'time-ordered (v7)'];
  const dirs = kinds.map(() => mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-ids-')));
  const totals = kinds.map(() => ({ cpuUs: 0, writtenBytes: 0 }));
  for (let r = 0; r < ROUNDS; r++)
    for (const k of r % 2 ? [1, 0] : [0, 1]) {
      const figures = await round(kinds[k] as IdKind, dirs[k] ?? '', r * EVENTS_PER_ROUND);
      const total = totals[k];
      if (!total) continue;
      total.cpuUs += figures.cpuUs;
      total.writtenBytes += figures.writtenBytes;
    }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  const events = ROUNDS * EVENTS_PER_ROUND;
  const rows = kinds.map((ids, k) => ({
    ids,
    events,
    cpuUsPerEvent: Math.round(((totals[k]?.cpuUs ?? 0) / events) * 10) / 10,
    writtenBytesPerEvent: Math.round((totals[k]?.writtenBytes ?? 0) / events),
  }));
  const [random, ordered] = rows;
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    command: 'node dist-bench/bench/store-ids.js',
    batch: BATCH,
    rows,
    cpuRatio:
      random && ordered
        ? Math.round((random.cpuUsPerEvent / ordered.cpuUsPerEvent) * 100) / 100
        : null,
    writtenRatio:
      random && ordered
        ? Math.round((random.writtenBytesPerEvent / ordered.writtenBytesPerEvent) * 10) / 10
        : null,
  };
  writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `Store ids: ${ROUNDS} interleaved rounds of ${EVENTS_PER_ROUND} AuditEvents appended ${BATCH} at a time`,
  );
  for (const row of rows)
    console.log(
      `  ${row.ids.padEnd(18)} ${String(row.cpuUsPerEvent).padStart(6)} µs CPU/event  ${String(row.writtenBytesPerEvent).padStart(6)} bytes written/event`,
    );
  console.log(
    `  time-ordered ids: ${result.cpuRatio ?? '?'}× less CPU and ${result.writtenRatio ?? '?'}× fewer bytes written per event than random ones`,
  );
}

if (process.argv[2] === '--round')
  childRound(process.argv[3] as IdKind, process.argv[4] ?? '', Number(process.argv[5])).catch(
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
