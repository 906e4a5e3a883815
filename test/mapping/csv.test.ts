/**
 * src/mapping/csv.ts's CsvReader: what a row handler throws stops the reading at once and comes
 * out of the call that read the row, so no row after it is handled or counted.
 */
import { CsvReader } from '../../src/mapping/csv';

const CSV = { delimiter: ',', quote: '"', lineEnding: '\n', neutraliseFormulas: false } as const;

function failingAt(failAt: number): { reader: CsvReader; rows: number[] } {
  const rows: number[] = [];
  const reader = new CsvReader(
    CSV,
    {
      row: (_cells, row) => {
        if (row === failAt) throw new Error(`row ${row} failed`);
        rows.push(row);
      },
      unreadable: (row) => rows.push(-row),
    },
    '\n',
  );
  return { reader, rows };
}

describe('CsvReader', () => {
  it('throws what a handler threw from the push that read the row, and reads no further', () => {
    const { reader, rows } = failingAt(2);
    expect(() => reader.push(Buffer.from('a\nb\nc\nd\n'))).toThrow('row 2 failed');
    expect(rows).toEqual([1]);
    expect(() => reader.push(Buffer.from('e\n'))).toThrow('row 2 failed');
    expect(rows).toEqual([1]);
  });

  it('throws from finish when the last row, held back until the input ends, fails', async () => {
    const { reader, rows } = failingAt(3);
    reader.push(Buffer.from('a\nb\nc'));
    expect(() => reader.finish()).toThrow('row 3 failed');
    expect(rows).toEqual([1, 2]);
    const other = failingAt(2);
    other.reader.push(Buffer.from('a'));
    await expect(other.reader.end()).resolves.toBeUndefined();
    const failing = failingAt(1);
    failing.reader.push(Buffer.from('a'));
    await expect(failing.reader.end()).rejects.toThrow('row 1 failed');
  });

  it('primed with the header, reads part of a file expecting rows as long as the header', () => {
    const part = 'a,"shifted, by a comma",c,d\nx,y,z\nx,y,z\n';
    const rows: [number, string[]][] = [];
    const handler = {
      row: (cells: string[], row: number) => rows.push([row, cells]),
      unreadable: () => undefined,
    };
    const unprimed = new CsvReader(CSV, handler, '\n');
    unprimed.push(Buffer.from(part));
    unprimed.finish();
    // The part's first row set the length expected: every row after it was "inconsistent".
    expect(unprimed.inconsistentRecords).toBe(2);
    rows.length = 0;
    const primed = new CsvReader(CSV, handler, '\n');
    primed.prime(['h1', 'h "2"', 'h3'], '\n');
    primed.nextRow = 7;
    primed.push(Buffer.from(part));
    primed.finish();
    expect(primed.inconsistentRecords).toBe(1);
    // The header is neither handed over nor counted.
    expect(rows).toEqual([
      [7, ['a', 'shifted, by a comma', 'c', 'd']],
      [8, ['x', 'y', 'z']],
      [9, ['x', 'y', 'z']],
    ]);
  });

  it('numbers rows on from where it is told to', () => {
    const { reader, rows } = failingAt(0);
    reader.nextRow = 41;
    reader.push(Buffer.from('a\n"b\nc"\n'));
    reader.finish();
    expect(rows).toEqual([41, 42]);
    expect(reader.nextRow).toBe(43);
  });
});
