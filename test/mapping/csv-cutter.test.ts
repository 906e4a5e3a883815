/**
 * The cutter (src/mapping/csv-cutter.ts) cuts CSV only where csv-parse ends a record: the pieces
 * parsed each on their own, and what it hands on to be read in order, give exactly the records
 * (and unreadable rows) the whole input gives, numbered the same.
 */
import fc from 'fast-check';
import { CsvReader, type LineEnding } from '../../src/mapping/csv';
import { canCut, CsvCutter, type Segment } from '../../src/mapping/csv-cutter';

const CSV = { delimiter: ',', quote: '"', lineEnding: '\n', neutraliseFormulas: false } as const;

type Row = readonly [number, string[] | string];

/** Rows as CsvReader gives them: [row number, cells] or [row number, why it is unreadable]. */
function readWhole(
  parts: readonly Buffer[],
  firstRow = 1,
  lineEnding?: LineEnding,
): Promise<Row[]> {
  const rows: Row[] = [];
  const reader = new CsvReader(
    CSV,
    {
      row: (cells, row) => rows.push([row, cells]),
      unreadable: (row, reason) => rows.push([row, reason]),
    },
    lineEnding,
  );
  reader.nextRow = firstRow;
  for (const part of parts) reader.push(part);
  return reader.end().then(() => rows);
}

function cut(input: Buffer, chunkSize: number, pieceRows: number): Segment[] {
  const cutter = new CsvCutter({ ...CSV, pieceRows });
  const segments: Segment[] = [];
  for (let at = 0; at < input.length; at += chunkSize)
    segments.push(...cutter.push(input.subarray(at, at + chunkSize)));
  segments.push(...cutter.end());
  return segments;
}

/**
 * The rows the segments give, read as the engine reads them: the head by the reader of the
 * whole file, ended before the first piece (csv-parse holds back the end of what it was given);
 * each piece on its own; what follows an irregularity by one more reader, from its first row.
 */
async function readCut(segments: readonly Segment[]): Promise<Row[]> {
  const rows: Row[] = [];
  const push = (row: Row): number => rows.push(row);
  const head = new CsvReader(CSV, {
    row: (c, r) => push([r, c]),
    unreadable: (r, w) => push([r, w]),
  });
  let rest: CsvReader | undefined;
  let headEnded = false;
  for (const segment of segments) {
    if (segment.kind === 'inOrder' && segment.firstRow === undefined) {
      (rest ?? head).push(segment.bytes);
      continue;
    }
    if (!headEnded) {
      await head.end();
      headEnded = true;
    }
    if (segment.kind === 'piece') {
      const piece = await readWhole([segment.bytes], segment.firstRow, segment.lineEnding);
      expect(piece).toHaveLength(segment.rows);
      rows.push(...piece);
    } else {
      rest = new CsvReader(
        CSV,
        { row: (c, r) => push([r, c]), unreadable: (r, w) => push([r, w]) },
        segment.lineEnding,
      );
      rest.nextRow = segment.firstRow;
      rest.push(segment.bytes);
    }
  }
  if (rest) await rest.end();
  else if (!headEnded) await head.end();
  return rows;
}

const cell = fc.oneof(
  fc.constantFrom('', 'a', 'Smith, Jo', '1/2/2024 10:00', 'x"y', 'two\nlines', 'ünï', '7'),
  fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', ' ', 'é'), maxLength: 6 }),
);

/** Mostly well-formed rows (quoted where needed), with some raw text that is not. */
const csvText = fc
  .tuple(
    fc.constantFrom('\n', '\r\n'),
    fc.array(
      fc.oneof(
        { weight: 8, arbitrary: fc.array(cell, { minLength: 1, maxLength: 4 }) },
        { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
      ),
      { maxLength: 40 },
    ),
    fc.boolean(),
  )
  .map(([ending, rows, finalEnding]) => {
    const text = rows
      .map((row) =>
        typeof row === 'string'
          ? row
          : row.map((c) => (/[",\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(','),
      )
      .join(ending);
    return text + (finalEnding && text !== '' ? ending : '');
  });

/** The text as a file may hold it: UTF-8, after a UTF-8 byte-order mark, or UTF-16 with one. */
const encoded = fc
  .tuple(csvText, fc.constantFrom('utf8', 'utf8-bom', 'utf16le-bom', 'nul'))
  .map(([text, encoding]) => {
    if (encoding === 'utf8-bom') return Buffer.from(`\uFEFF${text}`, 'utf8');
    if (encoding === 'utf16le-bom') return Buffer.from(`\uFEFF${text}`, 'utf16le');
    // A byte-order mark (and a NUL) where rows start, which only a file's start may take off.
    if (encoding === 'nul') return Buffer.from(text.replaceAll('a', '\uFEFF\u0000'), 'utf8');
    return Buffer.from(text, 'utf8');
  });

describe('cutting CSV into pieces of whole records', () => {
  it('gives the rows reading the whole input gives, for any text, chunking and piece size', async () => {
    await fc.assert(
      fc.asyncProperty(
        encoded,
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 5 }),
        async (input, chunkSize, pieceRows) => {
          // One thread reads the same chunks (csv-parse reads UTF-16 split mid-character
          // differently from whole, so the chunks are what to compare with).
          const chunks: Buffer[] = [];
          for (let at = 0; at < input.length; at += chunkSize)
            chunks.push(input.subarray(at, at + chunkSize));
          const whole = await readWhole(chunks);
          const pieces = await readCut(cut(input, chunkSize, pieceRows));
          expect(pieces).toEqual(whole);
        },
      ),
      { numRuns: 1500, seed: 41 },
    );
  });

  it('cuts a regular file into pieces after the header and the second row', () => {
    const rows = Array.from({ length: 10 }, (_, i) => `"Smith, Jo",${i},"said ""hi""\r\nthen"`);
    const input = Buffer.from(['h1,h2,h3', 'questions', ...rows].join('\r\n') + '\r\n');
    const segments = cut(input, 7, 4);
    expect(segments.map((s) => [s.kind, s.kind === 'piece' ? [s.firstRow, s.rows] : []])).toEqual([
      ['inOrder', []],
      ['piece', [3, 4]],
      ['piece', [7, 4]],
      ['piece', [11, 2]],
    ]);
    expect(Buffer.concat(segments.map((s) => s.bytes)).equals(input)).toBe(true);
  });

  it('hands everything on in order from the first record it cannot cut by', () => {
    const input = Buffer.from('h\nq\na\nb\nsay "hi"\nc\nd\n');
    const segments = cut(input, 64, 1);
    expect(segments.map((s) => [s.kind, s.firstRow])).toEqual([
      ['inOrder', undefined],
      ['piece', 3],
      ['piece', 4],
      ['inOrder', 5],
    ]);
    expect(segments[3]?.bytes.toString()).toBe('say "hi"\nc\nd\n');
  });

  it('gives the last record the line ending it lacks, and never cuts a quote left open', () => {
    const done = cut(Buffer.from('h\r\nq\r\na\r\nb'), 64, 10);
    expect(done.map((s) => s.bytes.toString())).toEqual(['h\r\nq\r\n', 'a\r\nb\r\n']);
    const open = cut(Buffer.from('h\nq\na\n"b\n'), 64, 10);
    expect(open.map((s) => [s.kind, s.bytes.toString()])).toEqual([
      ['inOrder', 'h\nq\n'],
      ['piece', 'a\n'],
      ['inOrder', '"b\n'],
    ]);
  });

  it('cuts only a one-byte delimiter that is not a line ending, with the quote csv-parse escapes by', () => {
    expect(canCut({ delimiter: ',', quote: '"' })).toBe(true);
    expect(canCut({ delimiter: ';', quote: '"' })).toBe(true);
    expect(canCut({ delimiter: ';;', quote: '"' })).toBe(false);
    expect(canCut({ delimiter: '\n', quote: '"' })).toBe(false);
    expect(canCut({ delimiter: '"', quote: '"' })).toBe(false);
    // csv-parse escapes with `"` whatever the quote: `'ends with "',2` is not a whole record.
    expect(canCut({ delimiter: ',', quote: "'" })).toBe(false);
  });

  it('takes a UTF-8 byte-order mark as no part of the header, and reads UTF-16 in order', () => {
    const text = '"Client Name",Rank\r\nq,\r\n"Smith, Jo",3\r\n"Khan, Ali",5\r\n';
    const utf8 = cut(Buffer.from(`\uFEFF${text}`, 'utf8'), 5, 1);
    expect(utf8.map((s) => s.kind)).toEqual(['inOrder', 'piece', 'piece']);
    const utf16 = cut(Buffer.from(`\uFEFF${text}`, 'utf16le'), 5, 1);
    expect(utf16.length).toBeGreaterThan(1);
    for (const segment of utf16)
      expect([segment.kind, segment.firstRow]).toEqual(['inOrder', undefined]);
  });

  it('does not hold a record that never ends: past 4 MiB the rest is read in order', () => {
    const cutter = new CsvCutter({ ...CSV, pieceRows: 2 });
    const segments = cutter.push(Buffer.from('h\nq\na\nb\nc\n"never closed'));
    const filler = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 5; i++) segments.push(...cutter.push(filler));
    segments.push(...cutter.end());
    expect(segments.slice(0, 3).map((s) => [s.kind, s.firstRow])).toEqual([
      ['inOrder', undefined],
      ['piece', 3],
      ['piece', 5],
    ]);
    expect(segments[3]?.kind).toBe('inOrder');
    expect(segments[3]?.firstRow).toBe(6);
    expect(cutter.inOrderFromHere).toBe(true);
    const inOrder = segments.slice(3).reduce((n, s) => n + s.bytes.length, 0);
    expect(inOrder).toBe('c\n"never closed'.length - 2 + 5 * filler.length);
  });
});
