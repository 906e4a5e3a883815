/**
 * CSV columns the mapping does not read (src/mapping/issues.ts headerNotice): a warning naming the
 * column and its place in the header, the rows still converted, and the CLI's exit code 0 when
 * nothing else is wrong, as for HL7 v2's parts not read. They were errors (exit 1 on a file whose
 * every row was converted). A bad row, or a header that cannot be read, still fails the run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runConvert } from '../../src/cli/convert';
import { fixture, responses, run } from './helpers';

const APP = fixture('dialogplus-csv', 'export-app-order.csv');
const MHSDS = fixture('mhsds-csv', 'assessments.csv');

/** CRLF text (both fixtures) with a new last column: `header` in the header, `cell` in each row. */
function withColumn(text: string, header: string, cell: string): string {
  return text
    .split('\r\n')
    .map((line, i) => (line === '' ? line : `${line},${i === 0 ? header : cell}`))
    .join('\r\n');
}

/** Runs the CLI on `text` written to a file; its exit code and stderr. */
async function convertCli(
  text: string,
  from: string,
): Promise<{ code: number; stderr: string; rejects: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-unread-'));
  const input = join(dir, 'in.csv');
  writeFileSync(input, text);
  const stdin = new PassThrough();
  stdin.end();
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: false });
  const chunks: Buffer[] = [];
  stderr.on('data', (c: Buffer) => chunks.push(c));
  const rejects = join(dir, 'rejects.ndjson');
  const code = await runConvert(
    [
      '--from',
      from,
      '--to',
      'fhir',
      '--threads',
      '0',
      '--rejects',
      rejects,
      input,
      join(dir, 'out'),
    ],
    { stdin, stdout, stderr },
  );
  return { code, stderr: Buffer.concat(chunks).toString('utf8'), rejects };
}

describe('dialogplus-csv: a column the mapping does not read', () => {
  const text = withColumn(APP, 'Key Worker Notes', 'seen');

  it('is a warning naming it and its place; every row is converted', async () => {
    const r = await run(text, 'dialogplus-csv', 'fhir', { file: 'export.csv' });
    expect(r.summary).toMatchObject({
      read: 4,
      converted: 4,
      rejected: 0,
      notices: 1,
      noticeErrors: 0,
    });
    expect(r.notices).toEqual([
      {
        severity: 'warning',
        code: 'structure',
        details: {
          text: 'Column "Key Worker Notes" (column 48 of the header) is not read by this mapping; its cells are not converted',
        },
        diagnostics:
          'export.csv: row 1, column 48 "Key Worker Notes": Column "Key Worker Notes" (column 48 of the header) is not read by this mapping; its cells are not converted',
        expression: ['Key Worker Notes'],
        location: ['row 1, column 48 "Key Worker Notes"'],
      },
    ]);
    // The same responses as without the column.
    expect(responses(r.output)).toEqual(
      responses((await run(APP, 'dialogplus-csv', 'fhir')).output),
    );
  });

  it('leaves the CLI exit code 0, the warning written with the rejects', async () => {
    const r = await convertCli(text, 'dialogplus-csv');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('4 record(s) read, 4 converted, 0 rejected');
    expect(r.stderr).toContain('1 issue(s) about the input as a whole');
  });

  it('does not hide a bad row: the run still fails (exit 1), the row rejected as an error', async () => {
    const lines = text.split('\r\n');
    // Row 3 (the first session): a rank of 9 is not on the scale.
    lines[2] = (lines[2] ?? '').replace('16/9/2025 15:10,3,', '16/9/2025 15:10,9,');
    const bad = lines.join('\r\n');
    const r = await run(bad, 'dialogplus-csv', 'fhir');
    expect(r.summary).toMatchObject({ converted: 3, rejected: 1, noticeErrors: 0 });
    expect(r.rejects[0]?.outcome.issue[0]?.severity).toBe('error');
    expect((await convertCli(bad, 'dialogplus-csv')).code).toBe(1);
  });

  it('beside a missing column: the header is still fatal, the unknown column a warning', async () => {
    const header = (text.split('\r\n')[0] ?? '').replace(',Meetings Action Items', '');
    const r = await run(`${header}\r\nx\r\n`, 'dialogplus-csv', 'fhir');
    expect(r.notices.map((n) => [n.severity, n.location?.[0]])).toEqual([
      ['fatal', 'row 1'],
      ['warning', 'row 1, column 47 "Key Worker Notes"'],
    ]);
    expect(r.summary).toMatchObject({ converted: 0, rejected: 1, noticeErrors: 1 });
  });
});

describe('mhsds-csv: a column the mapping does not read', () => {
  const text = withColumn(MHSDS, 'Ward', 'A1');

  it('is a warning too, every row converted, and the CLI exits 0', async () => {
    const r = await run(text, 'mhsds-csv', 'fhir');
    const plain = await run(MHSDS, 'mhsds-csv', 'fhir');
    expect(r.summary).toMatchObject({
      converted: plain.summary.converted,
      rejected: 0,
      notices: 1,
      noticeErrors: 0,
    });
    expect(r.notices[0]).toMatchObject({
      severity: 'warning',
      location: ['row 1, column 7 "Ward"'],
      details: {
        text: 'Column "Ward" (column 7 of the header) is not read by this mapping; its cells are not converted',
      },
    });
    expect((await convertCli(text, 'mhsds-csv')).code).toBe(0);
  });
});

describe('a file sent without its header row', () => {
  /** The file from its first data row on: row 1 is a person's session. */
  const headless = (text: string, skip: number): string =>
    text.split('\r\n').slice(skip).join('\r\n');

  it.each([
    ['dialogplus-csv', headless(APP, 2), ['Price', 'Megan', '16/9/2025']],
    ['mhsds-csv', headless(MHSDS, 1), ['9434765919', 'RX1-000123', 'CA-1001']],
  ])(
    "%s: one fatal notice at row 1 that repeats none of its cells, in the CLI's rejects too",
    async (format, text, personal) => {
      const r = await run(text, format, 'fhir', { file: 'export.csv' });
      expect(r.notices).toHaveLength(1);
      expect(r.notices[0]).toMatchObject({
        severity: 'fatal',
        code: 'structure',
        location: ['row 1'],
        details: {
          text: expect.stringMatching(
            /^Row 1 is not the header of the .*: it names 0 of its \d+ columns/,
          ),
        },
      });
      expect(r.summary).toMatchObject({ converted: 0, noticeErrors: 1 });
      const cli = await convertCli(text, format);
      expect(cli.code).toBe(1);
      const written = readFileSync(cli.rejects, 'utf8');
      expect(written).toContain('Row 1 is not the header');
      for (const value of personal) {
        expect(JSON.stringify(r.notices)).not.toContain(value);
        expect(written).not.toContain(value);
        expect(cli.stderr).not.toContain(value);
      }
    },
  );

  it('a header spelt another way: the columns it does not name are listed, its own cells not', async () => {
    const [header = '', ...rows] = MHSDS.split('\r\n');
    const expected = header.split(',');
    // Four of the six spelt as another system might.
    const spelt = [...expected.slice(0, 2), 'Care Act', 'When', 'Tool Code', 'Score'];
    const r = await run([spelt.join(','), ...rows].join('\r\n'), 'mhsds-csv', 'fhir');
    expect(r.notices).toHaveLength(1);
    const text = r.notices[0]?.details?.text ?? '';
    expect(text).toMatch(/it names 2 of its 6 columns/);
    for (const name of expected.slice(2)) expect(text).toContain(`"${name}"`);
    for (const cell of ['Care Act', 'When', 'Tool Code', 'Score'])
      expect(text).not.toContain(`"${cell}"`);
  });

  it('a header that names most columns is still read column by column (a missing one named)', async () => {
    const header = (APP.split('\r\n')[0] ?? '').replace(',Meetings Action Items', ',Agenda');
    const r = await run(`${header}\r\nx\r\n`, 'dialogplus-csv', 'fhir');
    expect(r.notices.map((n) => [n.severity, n.details?.text])).toEqual([
      ['fatal', 'Column "Meetings Action Items" is missing from the header'],
      [
        'warning',
        'Column "Agenda" (column 47 of the header) is not read by this mapping; its cells are not converted',
      ],
    ]);
  });
});
