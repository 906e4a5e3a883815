/**
 * `dialog-fhir convert --threads`: worker threads write the same NDJSON as one thread, and the
 * summary says they were used. The input is a file of more than 256 KiB, so the worker starts
 * with the conversion; the main thread converts until it has loaded.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { generateExport } from '../../bench/convert';
import { runConvert } from '../../src/cli/convert';

let dir: string;
let file: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-convert-threads-'));
  file = join(dir, 'export.csv');
  await generateExport(file, 19_000);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI with standard output hashed (not held: it is ~130 MB). */
async function convert(
  argv: string[],
): Promise<{ code: number; sha256: string; bytes: number; stderr: string }> {
  const stdin = new PassThrough();
  stdin.end();
  const hash = createHash('sha256');
  let bytes = 0;
  let first = true;
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      // The first write takes a second, as a slow disk's might: the conversion waits for it once
      // a few megabytes are queued, which leaves a worker loaded through tsx (here, under a busy
      // test run, up to a second or so) the time to take part.
      if (first) setTimeout(done, 1000);
      else done();
      first = false;
    },
  });
  const stderr = Object.assign(new PassThrough(), { isTTY: false, columns: 120 });
  const err: Buffer[] = [];
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runConvert(argv, { stdin, stdout, stderr });
  return { code, sha256: hash.digest('hex'), bytes, stderr: Buffer.concat(err).toString('utf8') };
}

describe('dialog-fhir convert --threads', () => {
  it('writes the same responses with a worker thread as with one thread, and says so', async () => {
    expect(statSync(file).size).toBeGreaterThan(4 * 1024 * 1024);
    const base = ['--from', 'dialogplus-csv', '--to', 'fhir', '--no-extract', file];
    const one = await convert([...base, '--threads', '0']);
    expect(one.code).toBe(0);
    expect(one.stderr).toBe(
      'dialogplus-csv → fhir: 19000 record(s) read, 19000 converted, 0 rejected\n',
    );
    expect(one.bytes).toBeGreaterThan(19_000 * 1000);
    const two = await convert([...base, '--threads', '1']);
    expect(two.code).toBe(0);
    // The file is read in pieces of 100 rows after its first two (src/mapping/cut-input.ts).
    expect(two.stderr).toBe(
      'dialogplus-csv → fhir: 19000 record(s) read, 19000 converted, 0 rejected\n' +
        'read and written by the main thread and 1 worker thread(s) (--threads), in 190 piece(s)\n',
    );
    expect(two.bytes).toBe(one.bytes);
    expect(two.sha256).toBe(one.sha256);
  });

  it('refuses a --threads that is not a whole number', async () => {
    const r = await convert(['--from', 'dialogplus-csv', '--to', 'fhir', '--threads', 'two', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^--threads needs a whole number/);
  });
});
