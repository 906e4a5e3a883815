/**
 * FHIR NDJSON written by worker threads (src/mapping/parallel.ts) is byte for byte what one thread
 * writes: the same responses and Observations in the same order, the same rejected rows'
 * OperationOutcomes in the same order, the same summary.
 */
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { generateExport } from '../../bench/convert';
import {
  convert,
  convertFile,
  type ConvertSummary,
  createWriter,
  loadMapping,
} from '../../src/mapping';
import { defaultThreads, ParallelFhirOutput } from '../../src/mapping/parallel';
import { decodeRecords, encodeRecords } from '../../src/mapping/record-codec';
import { dialogPlusRecord, hl7Record, mhsdsRecord } from './arbitraries';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-parallel-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** One worker, taking part however small the input (else this thread converts until it loads). */
const ONE_WORKER = {
  from: 'dialogplus-csv',
  to: 'fhir',
  threads: 1,
  threadsFromBytes: 0,
  waitForThreads: true,
} as const;

interface Converted {
  readonly bytes: Buffer;
  readonly rejects: { outcome: OperationOutcome; location: string }[];
  readonly summary: ConvertSummary;
}

async function convertWith(
  file: string,
  threads: number,
  observations: boolean,
  highWaterMark = 16 * 1024,
): Promise<Converted> {
  const out = join(dir, `out-${threads}-${observations}.ndjson`);
  const output = createWriteStream(out);
  const rejects: Converted['rejects'] = [];
  const summary = await convertFile(file, output, {
    from: 'dialogplus-csv',
    to: 'fhir',
    threads,
    threadsFromBytes: 0,
    // However small the input, the workers take part (else this thread converts until they load).
    waitForThreads: true,
    highWaterMark,
    ...(observations ? { observations: true } : {}),
    onReject: (outcome, location) => rejects.push({ outcome, location }),
  });
  await new Promise<void>((resolve) => output.end(resolve));
  const bytes = readFileSync(out);
  rmSync(out);
  return { bytes, rejects, summary };
}

/** The bench's generated export, with bad rows put in among the good ones. */
async function exportWithBadRows(sessions: number): Promise<string> {
  const file = join(dir, 'export.csv');
  await generateExport(file, sessions);
  const rows = readFileSync(file, 'utf8').split('\r\n');
  const cells = (row: string): string[] => {
    // The name is the one quoted cell with a comma: join it back after splitting.
    const parts = row.split(',');
    return [`${parts[0] ?? ''},${parts[1] ?? ''}`, ...parts.slice(2)];
  };
  const edit = (at: number, change: (c: string[]) => void): string => {
    const c = cells(rows[at] ?? '');
    change(c);
    return c.join(',');
  };
  const bad = (at: number): string[] => [
    // An unquoted comma in the name: the cells are shifted.
    (rows[at] ?? '').replace(/^"([^"]*)"/, '$1'),
    // A rank of 8.
    edit(at + 1, (c) => {
      c[3] = '8';
    }),
    // No Date End: a session in progress (converted, no Observations).
    edit(at + 2, (c) => {
      c[2] = '';
    }),
    '',
    // Date End before Date Start.
    edit(at + 3, (c) => {
      [c[1], c[2]] = [c[2] ?? '', c[1] ?? ''];
    }),
    // Four items discussed.
    edit(at + 4, (c) => {
      for (let i = 0; i < 4; i++) c[5 + i * 3] = '1';
    }),
  ];
  const out: string[] = [];
  rows.forEach((row, i) => {
    if (i > 2 && i % 700 === 0) out.push(...bad(i));
    out.push(row);
  });
  // The last row never closes its quote: it and the rest of the file cannot be read.
  out.splice(out.length - 1, 0, '"Smith, Jo,1/2/2024 10:00');
  writeFileSync(file, out.join('\r\n'));
  return file;
}

describe('conversion in worker threads', () => {
  it('writes the bench export with bad rows byte for byte as one thread does, Observations and all', async () => {
    const file = await exportWithBadRows(2000);
    const one = await convertWith(file, 0, true);
    expect(one.summary.threads).toBeUndefined();
    expect(one.summary.converted).toBeGreaterThan(1950);
    // Two places (rows 700 and 1400) with four rejected rows each, and the last row.
    expect(one.summary.rejected).toBe(9);
    expect(one.rejects.map((r) => r.location)).toContain('row 702');
    for (const threads of [1, 2]) {
      const many = await convertWith(file, threads, true);
      expect(many.summary.threads).toBe(threads);
      // Read in pieces by every thread (cut-input.ts) up to the row whose quote never closes.
      expect(many.summary.pieces).toBeGreaterThan(15);
      expect(many.bytes.length).toBe(one.bytes.length);
      expect(many.bytes.equals(one.bytes)).toBe(true);
      expect(many.rejects).toEqual(one.rejects);
      expect({ ...many.summary, threads: undefined, pieces: undefined }).toEqual(one.summary);
    }
    const responsesOnly = await convertWith(file, 0, false);
    const responsesInThreads = await convertWith(file, 1, false, 64 * 1024);
    expect(responsesInThreads.summary.threads).toBe(1);
    expect(responsesInThreads.bytes.equals(responsesOnly.bytes)).toBe(true);
    expect(responsesOnly.bytes.length).toBeLessThan(one.bytes.length / 2);
  });

  it('reads in order, from a stray quote on, what it cannot cut into pieces, reporting rows in input order', async () => {
    const file = await exportWithBadRows(2000);
    const rows = readFileSync(file, 'utf8').split('\r\n');
    // A quote inside an unquoted cell (csv-parse keeps it: relax_quotes) at row 1001, and a
    // rank of 9 in the rows after it.
    rows[1000] = (rows[1000] ?? '').replace(/^"([^,]*), ([^"]*)"/, '$1 "$2"');
    for (const at of [1200, 1750])
      rows[at] = (rows[at] ?? '').replace(/^("[^"]*",[^,]*,[^,]*,)\d/, '$19');
    writeFileSync(file, rows.join('\r\n'));
    const one = await convertWith(file, 0, true);
    expect(one.rejects.map((r) => r.location)).toEqual(
      expect.arrayContaining(['row 1201', 'row 1751']),
    );
    const many = await convertWith(file, 1, true);
    expect(many.summary.pieces).toBeGreaterThan(5);
    expect(many.summary.pieces).toBeLessThan(11);
    expect(many.bytes.equals(one.bytes)).toBe(true);
    expect(many.rejects).toEqual(one.rejects);
    expect({ ...many.summary, threads: undefined, pieces: undefined }).toEqual(one.summary);
  });

  it('reads an export saved as "CSV UTF-8" (a byte-order mark, quoted headers) in pieces, as one thread does', async () => {
    const file = await exportWithBadRows(1500);
    const text = readFileSync(file, 'utf8');
    const [header = '', ...rows] = text.split('\r\n');
    const quoted = header
      .split(',')
      .map((cell) => `"${cell}"`)
      .join(',');
    writeFileSync(file, `\uFEFF${[quoted, ...rows].join('\r\n')}`);
    const one = await convertWith(file, 0, true);
    expect(one.summary.converted).toBeGreaterThan(1400);
    const many = await convertWith(file, 1, true);
    expect(many.summary.pieces).toBeGreaterThan(10);
    expect(many.bytes.equals(one.bytes)).toBe(true);
    expect(many.rejects).toEqual(one.rejects);
  });

  it('reads a file from standard input in order, as its dates were not scanned first', async () => {
    const file = join(dir, 'stdin.csv');
    await generateExport(file, 1200);
    const output = createWriteStream(join(dir, 'stdin.ndjson'));
    const summary = await convert(createReadStream(file), output, {
      ...ONE_WORKER,
      observations: true,
    });
    await new Promise<void>((resolve) => output.end(resolve));
    expect(summary.converted).toBe(1200);
    expect(summary.threads).toBe(1);
    expect(summary.pieces).toBeUndefined();
  });

  it("stops at a caller's onReject that throws, with what it threw, reporting nothing after it", async () => {
    const file = await exportWithBadRows(2000);
    const thrown = { reason: 'the report store is full' };
    const seen: string[] = [];
    const conversion = convertFile(file, createWriteStream(join(dir, 'stopped.ndjson')), {
      ...ONE_WORKER,
      observations: true,
      highWaterMark: 16 * 1024,
      onReject: (_outcome, location) => {
        seen.push(location);
        if (seen.length === 2) throw thrown;
      },
    });
    await expect(conversion).rejects.toBe(thrown);
    expect(seen).toHaveLength(2);
  });

  it('reads a custom mapping in order when its rows cannot be cut or read apart', async () => {
    const file = join(dir, 'custom.csv');
    await generateExport(file, 1200);
    const spec = loadMapping('dialogplus-csv');
    if (spec.kind !== 'csv-session-rows') throw new Error('not a session-rows mapping');
    // Date End read with another pattern than the one the date scan looks for.
    const otherEndPattern = {
      ...spec,
      columns: spec.columns.map((c) =>
        'target' in c && c.target === 'session.end' ? { ...c, dateTime: 'd/M/yyyy H:mm' } : c,
      ),
    };
    for (const from of [spec, otherEndPattern]) {
      const output = createWriteStream(join(dir, 'custom.ndjson'));
      const summary = await convertFile(file, output, { ...ONE_WORKER, from });
      await new Promise<void>((resolve) => output.end(resolve));
      expect(summary.converted).toBe(1200);
      if (from === spec) expect(summary.pieces).toBeGreaterThan(10);
      else expect(summary.pieces).toBeUndefined();
    }
  });

  it('stops with the error of the output when the output fails part-way, workers and all', async () => {
    const file = join(dir, 'fails.csv');
    await generateExport(file, 1500);
    let taken = 0;
    const failing = new Writable({
      write(chunk: Buffer, _encoding, done) {
        taken += chunk.length;
        done(taken > 3_000_000 ? new Error('disk full') : null);
      },
    });
    failing.on('error', () => undefined);
    await expect(
      convertFile(file, failing, { ...ONE_WORKER, observations: true, highWaterMark: 16 * 1024 }),
    ).rejects.toThrow('disk full');
    // It stopped soon after: far less than the ~40 MB the whole file gives was taken.
    expect(taken).toBeLessThan(20_000_000);
  });

  it('stops, rather than waiting for ever, when the output is closed part-way without an error', async () => {
    const file = join(dir, 'closed.csv');
    await generateExport(file, 1500);
    for (const threads of [0, 1]) {
      let taken = 0;
      const closing = new Writable({
        highWaterMark: 64 * 1024,
        write(chunk: Buffer, _encoding, done) {
          taken += chunk.length;
          // A reader that went away while the conversion waits for it: the last write is never
          // answered, and the stream is closed a little later, without an error.
          if (taken <= 3_000_000) done();
          else setTimeout(() => this.destroy(), 50);
        },
      });
      await expect(
        convertFile(file, closing, {
          ...ONE_WORKER,
          threads,
          observations: true,
          highWaterMark: 16 * 1024,
        }),
      ).rejects.toThrow(/closed|destroyed/);
    }
  });

  it('writes generated records of every kind (the canonical way too) as one thread does', async () => {
    const writer = createWriter(loadMapping('dialogplus-csv'));
    let text = writer.begin();
    for (const record of fc.sample(dialogPlusRecord, { numRuns: 600, seed: 17 })) {
      const written = writer.write(record);
      if (written.ok) text += written.text;
    }
    const file = join(dir, 'generated.csv');
    writeFileSync(file, text);
    const one = await convertWith(file, 0, true, 4096);
    expect(one.summary.converted).toBeGreaterThan(300);
    const many = await convertWith(file, 1, true, 4096);
    expect(many.summary.threads).toBe(1);
    expect(many.bytes.equals(one.bytes)).toBe(true);
    expect(many.rejects).toEqual(one.rejects);
  });

  it('starts by default one worker fewer than the cores, and no more than one per 4 MiB of input', () => {
    const MiB = 1024 * 1024;
    expect(defaultThreads(undefined, 32)).toBe(31);
    expect(defaultThreads(300 * 1024, 32)).toBe(1);
    expect(defaultThreads(9 * MiB, 32)).toBe(3);
    expect(defaultThreads(1000 * MiB, 32)).toBe(31);
    expect(defaultThreads(1000 * MiB, 2)).toBe(1);
    expect(defaultThreads(0, 32)).toBe(0);
  });

  it('converts batches itself while the workers load, instead of waiting for them', async () => {
    const writer = createWriter(loadMapping('fhir'), { observations: true });
    let expected = '';
    const records = fc.sample(dialogPlusRecord, { numRuns: 20, seed: 5 }).filter((record) => {
      const written = writer.write(record);
      if (written.ok) expected += written.text;
      return written.ok;
    });
    expect(records.length).toBeGreaterThan(3);
    const chunks: Buffer[] = [];
    const output = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    // One record per batch, one batch in flight: a batch handed to a worker still loading
    // (tens of milliseconds at least; through tsx, as here, far more) would hold up `ready`.
    const parallel = new ParallelFhirOutput(output, {
      threads: 1,
      observations: true,
      batchRecords: 1,
      maxBatches: 1,
    });
    try {
      for (const record of records) parallel.add(record);
      const state = await Promise.race([
        parallel.ready().then(() => 'ready'),
        new Promise((resolve) => setImmediate(() => resolve('waiting'))),
      ]);
      expect(state).toBe('ready');
      await parallel.finish();
      expect(parallel.workersUsed).toBe(0);
    } finally {
      await parallel.close();
    }
    expect(Buffer.concat(chunks).toString('latin1')).toBe(expected);
  });

  it('hands the workers records that write the same FHIR as the originals, from every native format', () => {
    const writer = createWriter(loadMapping('fhir'), { observations: true });
    for (const arbitrary of [dialogPlusRecord, mhsdsRecord, hl7Record]) {
      const records = fc.sample(arbitrary, { numRuns: 60, seed: 23 });
      const copies = decodeRecords(encodeRecords(records));
      expect(copies).toHaveLength(records.length);
      records.forEach((record, i) => {
        const copy = copies[i];
        if (!copy) throw new Error('a record was lost');
        expect(JSON.stringify(copy)).toBe(JSON.stringify(record));
        const original = writer.write(record);
        const written = writer.write(copy);
        expect(written.ok && original.ok).toBe(true);
        if (written.ok && original.ok) expect(written.text).toBe(original.text);
      });
    }
  });
});
