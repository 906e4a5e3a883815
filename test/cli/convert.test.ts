import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { extractObservations } from '../../src/fhir';
import { runConvert } from '../../src/cli/convert';

const DATA = join(__dirname, '..', 'data');
const ROOT = join(__dirname, '..', '..');

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

async function convert(
  argv: string[],
  tty = false,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdin = new PassThrough();
  stdin.end();
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: tty, columns: 120 });
  const out = collect(stdout);
  const err = collect(stderr);
  const code = await runConvert(argv, { stdin, stdout, stderr });
  return { code, stdout: out(), stderr: err() };
}

function tmp(name: string): string {
  return join(mkdtempSync(join(tmpdir(), 'dialog-convert-')), name);
}

describe('dialog-fhir convert', () => {
  it('converts a file to a file, prints a summary, exits 0', async () => {
    const out = tmp('out.ndjson');
    const r = await convert([
      '--from',
      'dialogplus-csv',
      '--to',
      'fhir',
      join(DATA, 'dialogplus-csv', 'export-app-order.csv'),
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('dialogplus-csv → fhir: 4 record(s) read, 4 converted, 0 rejected\n');
    // Each response, then its extracted Observations (the default from a native format).
    const types = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { resourceType: string }).resourceType);
    expect(types.filter((t) => t === 'QuestionnaireResponse')).toHaveLength(4);
    expect(types.filter((t) => t === 'Observation').length).toBeGreaterThan(3 * 11);
  });

  it('--no-extract writes the responses only', async () => {
    const out = tmp('out.ndjson');
    const r = await convert([
      '--from',
      'dialogplus-csv',
      '--to',
      'fhir',
      '--no-extract',
      join(DATA, 'dialogplus-csv', 'export-app-order.csv'),
      out,
    ]);
    expect(r.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const l of lines)
      expect((JSON.parse(l) as { resourceType: string }).resourceType).toBe(
        'QuestionnaireResponse',
      );
  });

  it('exits 1 when anything is rejected and writes the OperationOutcomes as NDJSON to --rejects', async () => {
    const out = tmp('out.ndjson');
    const rejects = tmp('rejects.ndjson');
    const file = join(DATA, 'dialogplus-csv', 'export-with-bad-rows.csv');
    const r = await convert([
      '--from=dialogplus-csv',
      '--to=fhir',
      '--rejects',
      rejects,
      file,
      out,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `dialogplus-csv → fhir: 15 record(s) read, 3 converted, 12 rejected (OperationOutcomes: ${rejects})\n` +
        `1 issue(s) about the input as a whole (see ${rejects})\n`,
    );
    const outcomes = readFileSync(rejects, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OperationOutcome);
    expect(outcomes).toHaveLength(13);
    expect(outcomes.every((o) => o.resourceType === 'OperationOutcome')).toBe(true);
    expect(outcomes[0]?.issue[0]?.location).toEqual(['row 1, column 48 "Notes"']);
    expect(outcomes[2]?.issue[0]?.diagnostics).toContain(
      `${file}: row 5, column "Mental Health Rank"`,
    );
  });

  it('without --rejects, prints the OperationOutcomes on stderr', async () => {
    const r = await convert([
      '--from',
      'hl7v2',
      '--to',
      'fhir',
      join(DATA, 'hl7v2', 'with-bad-messages.hl7'),
      tmp('out.ndjson'),
    ]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('{"resourceType":"OperationOutcome"'))).toHaveLength(9);
    expect(lines.at(-1)).toBe(
      'hl7v2 → fhir: 11 record(s) read, 2 converted, 9 rejected (OperationOutcomes: stderr)',
    );
  });

  it('writes ADT events to --events and says they are not sessions', async () => {
    const events = tmp('events.ndjson');
    const r = await convert([
      '--from',
      'hl7v2',
      '--to',
      'fhir',
      '--events',
      events,
      join(DATA, 'hl7v2', 'adt-admit-discharge.hl7'),
      tmp('out.ndjson'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('2 ADT event(s) read (events are not sessions)');
    const written = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(written.map((e) => e.event)).toEqual(['admit', 'discharge']);
  });

  it('names what the target cannot hold', async () => {
    const r = await convert([
      '--from',
      'fhir',
      '--to',
      'hl7v2',
      join(ROOT, 'examples', 'journey', '01-community-start.json'),
      tmp('out.hl7'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('not held by hl7v2 (dropped): discussion in 1,');
  });

  it('draws a progress bar only when stderr is a terminal', async () => {
    const args = [
      '--from',
      'mhsds-csv',
      '--to',
      'fhir',
      join(DATA, 'mhsds-csv', 'assessments.csv'),
      tmp('o'),
    ];
    const onTty = await convert(args, true);
    const ESC = String.fromCharCode(27);
    expect(onTty.stderr).toMatch(/\r\[=+\] 100% 0\.0 MB\/0\.0 MB {2}\d read, 0 rejected/);
    expect(onTty.stderr).toContain(`rejected${ESC}[K`);
    const notTty = await convert(args, false);
    expect(notTty.stderr).not.toContain('\r');
    const off = await convert(['--no-progress', ...args], true);
    expect(off.stderr).not.toContain('\r');
  });

  it('--extract (the default) adds exactly the Observations $extract gives each completed response', async () => {
    const file = join(DATA, 'dialogplus-csv', 'export-app-order.csv');
    const explicit = tmp('explicit.ndjson');
    const byDefault = tmp('default.ndjson');
    const base = ['--from', 'dialogplus-csv', '--to', 'fhir'];
    expect((await convert([...base, '--extract', file, explicit])).code).toBe(0);
    expect((await convert([...base, file, byDefault])).code).toBe(0);
    const text = readFileSync(explicit, 'utf8');
    expect(readFileSync(byDefault, 'utf8')).toBe(text);
    const resources = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Resource);
    // Rebuilt from the responses alone: each followed by what extractObservations gives for it.
    const rebuilt: Resource[] = [];
    for (const r of resources)
      if (r.resourceType === 'QuestionnaireResponse') {
        rebuilt.push(r);
        const result = extractObservations(r);
        if (result.ok) rebuilt.push(...result.observations);
      }
    expect(resources).toEqual(rebuilt);
    expect(resources.filter((r) => r.resourceType === 'QuestionnaireResponse')).toHaveLength(4);
    // Three completed sessions have Observations; the one in progress has none.
    expect(resources.filter((r) => r.resourceType === 'Observation').length).toBeGreaterThan(
      3 * 11,
    );
    expect((await convert(['--from', 'fhir', '--to', 'hl7v2', '--extract'])).code).toBe(2);
  });

  it('stops with a message when the output is closed early (e.g. `| head`)', async () => {
    const stdin = new PassThrough();
    stdin.end(readFileSync(join(DATA, 'dialogplus-csv', 'export-app-order.csv')));
    const stdout = new PassThrough();
    stdout.once('data', () => stdout.destroy(new Error('write EPIPE')));
    const stderr = new PassThrough();
    const err = collect(stderr);
    const code = await runConvert(['--from', 'dialogplus-csv', '--to', 'fhir'], {
      stdin,
      stdout,
      stderr,
    });
    expect(code).toBe(1);
    expect(err()).toBe('the output was closed before the conversion ended (write EPIPE)\n');
  });

  it('answers usage errors with exit code 2', async () => {
    expect((await convert([])).code).toBe(2);
    expect((await convert(['--from', 'csv', '--to', 'fhir'])).stderr).toMatch(
      /^unknown format csv/,
    );
    expect((await convert(['--from', 'fhir', '--to', 'fhir', 'a', 'b', 'c'])).code).toBe(2);
    expect((await convert(['--from', 'fhir', '--to', 'fhir', '--bogus'])).stderr).toMatch(
      /^unknown option --bogus/,
    );
  });

  it('streams standard input to standard output through the real command', () => {
    const input = readFileSync(join(DATA, 'mhsds-csv', 'assessments.csv'));
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src', 'cli', 'main.ts'),
        'convert',
        '--from',
        'mhsds-csv',
        '--to',
        'fhir',
      ],
      { input, encoding: 'utf8', cwd: ROOT },
    );
    expect(result.status).toBe(0);
    // Three responses, each followed by its extracted Observations.
    const types = result.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { resourceType: string }).resourceType);
    expect(types.filter((t) => t === 'QuestionnaireResponse')).toHaveLength(3);
    expect(types.filter((t) => t === 'Observation').length).toBeGreaterThan(3);
    expect(types[0]).toBe('QuestionnaireResponse');
    expect(result.stderr).toBe('mhsds-csv → fhir: 3 record(s) read, 3 converted, 0 rejected\n');
    const back = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src', 'cli', 'main.ts'),
        'convert',
        '--from',
        'fhir',
        '--to',
        'mhsds-csv',
        '-',
        '-',
      ],
      { input: result.stdout, encoding: 'utf8', cwd: ROOT },
    );
    // Back to the native format: the same rows; the Observations are not sessions (skipped).
    expect(back.stdout).toBe(input.toString('utf8'));
    expect(back.stderr).toContain(
      `${types.length - 3} item(s) skipped: not DIALOG records (other resources or assessment tools)`,
    );
  });

  it('reads a mapping file given by path', async () => {
    const spec = JSON.parse(readFileSync(join(ROOT, 'mappings', 'mhsds-csv.json'), 'utf8')) as {
      columns: { header: string; system?: string }[];
    };
    const local = spec.columns.find((c) => c.header === 'LocalPatientId');
    if (local) local.system = 'https://trust.example.nhs.uk/Id/local-patient-id';
    const mapping = tmp('trust-mhsds.json');
    writeFileSync(mapping, JSON.stringify(spec));
    const out = tmp('out.ndjson');
    const r = await convert([
      '--from',
      mapping,
      '--to',
      'fhir',
      join(DATA, 'mhsds-csv', 'assessments.csv'),
      out,
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('https://trust.example.nhs.uk/Id/local-patient-id');
  });
});
