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

  it('numbers rows on from where it is told to', () => {
    const { reader, rows } = failingAt(0);
    reader.nextRow = 41;
    reader.push(Buffer.from('a\n"b\nc"\n'));
    reader.finish();
    expect(rows).toEqual([41, 42]);
    expect(reader.nextRow).toBe(43);
  });
});
