import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { DIALOG_NAMESPACE, uuidV5 } from '../../src/fhir';
import { isNhsNumber, neutralise, unneutralise } from '../../src/mapping';
import { DIALOG_ITEMS } from '../../src/dialog';
import { Codes, isSnomedCtId } from '../../src/mapping/codes';
import { CsvReader, CsvWriter } from '../../src/mapping/csv';
import { dialogUuid } from '../../src/mapping/uuid';
import { nhsNumber } from './arbitraries';

describe('code tables', () => {
  const help = new Codes<boolean>({ '2': true, '1': false, '': null });

  it('read both ways, white space around a code ignored, unknown codes refused', () => {
    expect(help.lookup('2')).toBe(true);
    expect(help.lookup(' 1 ')).toBe(false);
    expect(help.lookup('')).toBeNull();
    expect(help.lookup('3')).toBeUndefined();
    expect(help.write(true)).toBe('2');
    expect(help.write(null)).toBe('');
    expect(help.describe()).toBe('"1", "2", empty');
  });
});

describe('NHS numbers', () => {
  it('accept a correct check digit and nothing else', () => {
    expect(isNhsNumber('9434765919')).toBe(true);
    expect(isNhsNumber('9434765918')).toBe(false);
    expect(isNhsNumber('943476591')).toBe(false);
    expect(isNhsNumber('94347659190')).toBe(false);
    expect(isNhsNumber('943 476 5919')).toBe(false);
    fc.assert(fc.property(nhsNumber, (n) => isNhsNumber(n)));
  });

  it('refuse one digit ten times, which passes modulus 11 (NHS England: invalid)', () => {
    for (let d = 0; d <= 9; d++) expect([d, isNhsNumber(String(d).repeat(10))]).toEqual([d, false]);
  });
});

describe('formula neutralising', () => {
  it.each([
    ['=SUM(A1)', "'=SUM(A1)"],
    ['+44 20', "'+44 20"],
    ['-5 pounds', "'-5 pounds"],
    ['@home', "'@home"],
    ['\tx', "'\tx"],
    ['\rx', "'\rx"],
    ["'=already", "''=already"],
    ["'quoted", "'quoted"],
    ['plain', 'plain'],
    ['', ''],
  ])('%j is written %j', (cell, written) => {
    expect(neutralise(cell)).toBe(written);
    expect(unneutralise(written)).toBe(cell);
  });

  it('is undone exactly for any cell', () => {
    fc.assert(fc.property(fc.string(), (s) => unneutralise(neutralise(s)) === s));
  });
});

describe('CSV rows', () => {
  const options = {
    delimiter: ',',
    quote: '"',
    lineEnding: '\r\n',
    neutraliseFormulas: true,
  } as const;

  it('are written so that csv-parse reads back the same cells', () => {
    const writer = new CsvWriter(options);
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string(), { minLength: 2, maxLength: 5 }), {
          minLength: 1,
          maxLength: 5,
        }),
        (rows) => {
          const width = rows[0]?.length ?? 0;
          const same = rows.map((r) => [...r, ...Array<string>(width).fill('')].slice(0, width));
          const text = same.map((r) => writer.row(r)).join('');
          const read = (parse(text, { relax_column_count: true }) as string[][]).map((r) =>
            r.map(unneutralise),
          );
          expect(read).toEqual(same);
        },
      ),
    );
  });

  it('are read one by one with their row numbers; an unreadable stretch is reported', async () => {
    const rows: [number, string[]][] = [];
    const bad: string[] = [];
    const reader = new CsvReader(options, {
      row: (cells, row) => rows.push([row, cells]),
      unreadable: (row, reason) => bad.push(`${row}: ${reason}`),
    });
    reader.push('a,b\r\n"x\r\ny",\'=1\r\n');
    reader.push(Buffer.from('c,"d\r\n'));
    await reader.end();
    expect(rows).toEqual([
      [1, ['a', 'b']],
      [2, ['x\r\ny', '=1']],
    ]);
    expect(bad).toEqual([
      '3: a quoted cell is never closed, so the rest of the file cannot be read',
    ]);
  });
});

describe('derived session identifiers', () => {
  it('are RFC 4122 v5 UUIDs exactly as src/fhir makes them', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 120 }), (name) => {
        expect(dialogUuid(name)).toBe(uuidV5(name, DIALOG_NAMESPACE));
      }),
    );
  });
});

describe('isSnomedCtId', () => {
  it('accepts the DIALOG items’ codes and other concepts, with their Verhoeff check digits', () => {
    for (const item of DIALOG_ITEMS) expect(isSnomedCtId(item.snomed)).toBe(true);
    for (const code of ['22298006', '404684003', '979641000000103'])
      expect(isSnomedCtId(code)).toBe(true);
  });

  it('refuses what a spreadsheet makes of a long code, and other non-codes', () => {
    // 15 significant digits kept, the rest zeroed; E-notation; a changed check digit.
    for (const code of ['1037661000000100', '1.03766E+15', '1037661000000103', '22298007'])
      expect(isSnomedCtId(code)).toBe(false);
    // A leading zero, too short, too long, a partition SNOMED CT does not use, not digits.
    for (const code of ['0404684003', '12345', '1234567890123456789', '1234567', ' 22298006'])
      expect(isSnomedCtId(code)).toBe(false);
  });

  it('any one digit changed fails the check digit', () => {
    for (const item of DIALOG_ITEMS)
      for (let i = 0; i < item.snomed.length; i++) {
        const digit = Number(item.snomed[i]);
        const changed = `${item.snomed.slice(0, i)}${(digit + 1) % 10}${item.snomed.slice(i + 1)}`;
        // (Changing a partition digit may also make the partition one SNOMED CT does not use.)
        expect(isSnomedCtId(changed)).toBe(false);
      }
  });
});
