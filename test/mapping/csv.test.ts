/**
 * src/mapping/csv.ts's CsvReader: what a row handler throws stops the reading at once and comes
 * out of the call that read the row, so no row after it is handled or counted.
 */
import { CsvReader } from '../../src/mapping/csv';
import { Utf8Watch } from '../../src/mapping/types';

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

describe('CsvReader and text that is not UTF-8', () => {
  function read(chunks: Buffer[]): { rows: string[][]; unreadable: [number, string][] } {
    const rows: string[][] = [];
    const unreadable: [number, string][] = [];
    const reader = new CsvReader(CSV, {
      row: (cells) => rows.push(cells),
      unreadable: (row, reason) => unreadable.push([row, reason]),
    });
    for (const chunk of chunks) reader.push(chunk);
    reader.finish();
    return { rows, unreadable };
  }

  it('refuses a row saved as Windows-1252, keeping the rows that are UTF-8', () => {
    const text = Buffer.concat([
      Buffer.from('name,action\n"O\'Neill, Siân",Café\n', 'utf8'),
      Buffer.from('"Zoë",Caf\u00e9 again\n', 'latin1'),
      Buffer.from('"Renée",ok\n', 'utf8'),
    ]);
    const { rows, unreadable } = read([text]);
    expect(rows).toEqual([
      ['name', 'action'],
      ["O'Neill, Siân", 'Café'],
      ['Renée', 'ok'],
    ]);
    expect(unreadable).toEqual([[3, expect.stringMatching(/not UTF-8/)]]);
  });

  it('a character cut between two chunks is not taken for bytes that are not UTF-8', () => {
    const text = Buffer.from('name,action\n"Siân 🙂",Zoë\n"Joël",né\n', 'utf8');
    for (let at = 1; at < text.length; at++) {
      // The two halves are not taken for text that is not UTF-8 (which would make every later
      // row be looked at), and the rows are read whole.
      const watch = new Utf8Watch();
      watch.push(text.subarray(0, at));
      watch.push(text.subarray(at));
      watch.end();
      expect(watch.seen).toBe(false);
      const { rows, unreadable } = read([text.subarray(0, at), text.subarray(at)]);
      expect(unreadable).toEqual([]);
      expect(rows[1]).toEqual(['Siân 🙂', 'Zoë']);
    }
  });

  it('a byte that is not UTF-8 is seen wherever the chunks are cut, even one byte each', () => {
    const text = Buffer.from('Zoë,Café\n', 'latin1');
    for (let size = 1; size <= text.length; size++) {
      const watch = new Utf8Watch();
      for (let at = 0; at < text.length; at += size) watch.push(text.subarray(at, at + size));
      watch.end();
      expect(watch.seen).toBe(true);
    }
    // A character still unfinished when the input ends is not UTF-8 either.
    const cut = new Utf8Watch();
    cut.push(Buffer.from('caf\xc3', 'latin1'));
    expect(cut.seen).toBe(false);
    cut.end();
    expect(cut.seen).toBe(true);
  });

  it('a U+FFFD written as UTF-8 in a file that is UTF-8 throughout is text like any other', () => {
    const { rows, unreadable } = read([Buffer.from('a,b\n\uFFFD,x\n', 'utf8')]);
    expect(unreadable).toEqual([]);
    expect(rows[1]).toEqual(['\uFFFD', 'x']);
  });
});
