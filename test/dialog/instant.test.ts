import fc from 'fast-check';
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  SECOND_MS,
  compareDateTimes,
  daysInMonth,
  instantOf,
  isDateTimeWithOffset,
  isLeapYear,
  parseDateTime,
  parseDateTimeByPattern,
  utcMs,
} from '../../src/dialog/instant';

describe('parseDateTime', () => {
  it.each([
    { desc: 'UTC with Z', input: '2026-03-29T00:30:00Z', expected: Date.UTC(2026, 2, 29, 0, 30) },
    {
      desc: 'BST offset',
      input: '2026-03-29T01:30:00+01:00',
      expected: Date.UTC(2026, 2, 29, 0, 30),
    },
    {
      desc: 'negative offset',
      input: '2026-03-28T20:30:00-04:00',
      expected: Date.UTC(2026, 2, 29, 0, 30),
    },
    { desc: '+00:00', input: '2026-01-01T00:00:00+00:00', expected: Date.UTC(2026, 0, 1) },
    {
      desc: '-00:00 (offset unknown)',
      input: '2026-01-01T00:00:00-00:00',
      expected: Date.UTC(2026, 0, 1),
    },
    {
      desc: 'half-hour offset',
      input: '2026-01-01T05:30:00+05:30',
      expected: Date.UTC(2026, 0, 1),
    },
    {
      desc: '+14:00, the largest',
      input: '2026-01-02T14:00:00+14:00',
      expected: Date.UTC(2026, 0, 2),
    },
    { desc: '-13:59', input: '2025-12-31T10:01:00-13:59', expected: Date.UTC(2026, 0, 1) },
    {
      desc: 'milliseconds',
      input: '2026-01-01T00:00:00.123Z',
      expected: Date.UTC(2026, 0, 1) + 123,
    },
    {
      desc: 'one fraction digit',
      input: '2026-01-01T00:00:00.5Z',
      expected: Date.UTC(2026, 0, 1) + 500,
    },
    {
      desc: 'sub-ms digits truncated',
      input: '2026-01-01T00:00:00.1239Z',
      expected: Date.UTC(2026, 0, 1) + 123,
    },
    {
      desc: '29 February in a leap year',
      input: '2028-02-29T12:00:00Z',
      expected: Date.UTC(2028, 1, 29, 12),
    },
    {
      desc: 'crossing a day by offset',
      input: '2026-01-01T00:30:00+01:00',
      expected: Date.UTC(2025, 11, 31, 23, 30),
    },
    { desc: 'a year before 100', input: '0099-06-01T00:00:00Z', expected: utcMs(99, 6, 1) },
  ])('reads $desc', ({ input, expected }) => {
    expect(parseDateTime(input)).toBe(expected);
    expect(isDateTimeWithOffset(input)).toBe(true);
    expect(instantOf(input)).toBe(expected);
  });

  it.each([
    { desc: 'a date only', input: '2026-03-29' },
    { desc: 'a year-month', input: '2026-03' },
    { desc: 'no offset', input: '2026-03-29T01:30:00' },
    { desc: 'no seconds', input: '2026-03-29T01:30Z' },
    { desc: 'a space for T', input: '2026-03-29 01:30:00Z' },
    { desc: 'lower-case z', input: '2026-03-29T01:30:00z' },
    { desc: 'offset without colon', input: '2026-03-29T01:30:00+0100' },
    { desc: 'month 13', input: '2026-13-01T00:00:00Z' },
    { desc: 'month 0', input: '2026-00-01T00:00:00Z' },
    { desc: 'day 0', input: '2026-01-00T00:00:00Z' },
    { desc: '31 April', input: '2026-04-31T00:00:00Z' },
    { desc: '29 February in a common year', input: '2026-02-29T00:00:00Z' },
    { desc: '29 February 1900 (not leap)', input: '1900-02-29T00:00:00Z' },
    { desc: 'hour 24', input: '2026-01-01T24:00:00Z' },
    { desc: 'minute 60', input: '2026-01-01T00:60:00Z' },
    { desc: 'leap second', input: '2016-12-31T23:59:60Z' },
    { desc: 'offset +14:01', input: '2026-01-01T00:00:00+14:01' },
    { desc: 'offset +15:00', input: '2026-01-01T00:00:00+15:00' },
    { desc: 'offset minutes 60', input: '2026-01-01T00:00:00+01:60' },
    { desc: 'year 0000', input: '0000-01-01T00:00:00Z' },
    { desc: 'a five-digit year', input: '12026-01-01T00:00:00Z' },
    { desc: 'empty', input: '' },
    { desc: 'trailing text', input: '2026-01-01T00:00:00Zx' },
    { desc: 'an empty fraction', input: '2026-01-01T00:00:00.Z' },
  ])('rejects $desc', ({ input }) => {
    expect(parseDateTime(input)).toBeUndefined();
    expect(isDateTimeWithOffset(input)).toBe(false);
    expect(() => instantOf(input, 'ratedAt')).toThrow(RangeError);
    expect(() => instantOf(input, 'ratedAt')).toThrow(/^ratedAt is not a FHIR dateTime/);
  });

  it.each([undefined, null, 20260101, new Date(0)])('isDateTimeWithOffset(%p) is false', (v) => {
    expect(isDateTimeWithOffset(v)).toBe(false);
  });
});

describe('compareDateTimes', () => {
  it('orders by instant, not by text', () => {
    // As text "…T00:30:00Z" sorts first; as instants "…T01:00:00+01:00" (00:00Z) is earlier.
    const a = '2026-03-29T01:00:00+01:00';
    const b = '2026-03-29T00:30:00Z';
    expect(a < b).toBe(false);
    expect(compareDateTimes(a, b)).toBeLessThan(0);
    expect(compareDateTimes(b, a)).toBeGreaterThan(0);
  });

  it('treats the same instant in different offsets as equal', () => {
    expect(compareDateTimes('2026-03-29T00:30:00Z', '2026-03-29T01:30:00+01:00')).toBe(0);
  });

  it('throws on a value that is not a dateTime with offset', () => {
    expect(() => compareDateTimes('2026-03-29', '2026-03-29T00:30:00Z')).toThrow(RangeError);
  });
});

describe('calendar helpers', () => {
  it.each([
    [2024, true],
    [2026, false],
    [2000, true],
    [1900, false],
    [2100, false],
  ])('isLeapYear(%i) is %p', (year, leap) => {
    expect(isLeapYear(year)).toBe(leap);
  });

  it.each([
    [2026, 1, 31],
    [2026, 2, 28],
    [2028, 2, 29],
    [2026, 4, 30],
    [2026, 6, 30],
    [2026, 8, 31],
    [2026, 9, 30],
    [2026, 11, 30],
    [2026, 12, 31],
  ])('daysInMonth(%i, %i) is %i', (year, month, days) => {
    expect(daysInMonth(year, month)).toBe(days);
  });

  it('utcMs matches Date.UTC from year 100 on, and handles earlier years', () => {
    expect(utcMs(2026, 3, 29, 1, 30, 15, 250)).toBe(Date.UTC(2026, 2, 29, 1, 30, 15, 250));
    expect(new Date(utcMs(5, 1, 1)).getUTCFullYear()).toBe(5);
  });

  it('has the durations it claims', () => {
    expect([SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS]).toEqual([1000, 60000, 3600000, 86400000]);
  });
});

describe('parseDateTime read by hand', () => {
  const two = (max: number): fc.Arbitrary<string> =>
    fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
  /** Near the common forms: any field out of range, then some characters changed or cut. */
  const nearlyDateTime = fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
      two(19),
      two(39),
      two(29),
      two(69),
      two(69),
      fc.constantFrom('Z', '+', '-', '.5Z', '.123456+'),
      two(19),
      two(69),
    )
    .map(([y, mo, d, h, mi, s, zone, oh, om]) => {
      const offset = zone === 'Z' || zone.endsWith('Z') ? zone : `${zone}${oh}:${om}`;
      return `${y}-${mo}-${d}T${h}:${mi}:${s}${offset}`;
    });
  const mutated = fc
    .tuple(
      nearlyDateTime,
      fc.array(
        fc.tuple(fc.nat(30), fc.constantFrom('', '0', '9', ':', '-', '+', 'T', 'Z', ' ', '٣', 'x')),
        { maxLength: 2 },
      ),
    )
    .map(([text, edits]) =>
      // Each edit replaces one character (or, with '', takes it out).
      edits.reduce((t, [at, ch]) => t.slice(0, at) + ch + t.slice(at + 1), text),
    );

  it('gives what the pattern gives, for any text near a dateTime', () => {
    fc.assert(
      fc.property(fc.oneof(nearlyDateTime, mutated, fc.string({ maxLength: 26 })), (text) => {
        expect(parseDateTime(text)).toBe(parseDateTimeByPattern(text));
      }),
      { numRuns: 20000, seed: 3 },
    );
  });

  it('reads the forms it reads by hand', () => {
    expect(parseDateTime('2026-03-29T01:30:00+01:00')).toBe(Date.UTC(2026, 2, 29, 0, 30));
    expect(parseDateTime('2026-03-29T01:30:00-13:59')).toBe(
      Date.UTC(2026, 2, 29, 1, 30) + 13 * HOUR_MS + 59 * MINUTE_MS,
    );
    expect(parseDateTime('0099-12-31T23:59:59Z')).toBe(utcMs(99, 12, 31, 23, 59, 59));
    expect(parseDateTime('2024-02-30T00:00:00Z')).toBeUndefined();
    expect(parseDateTime('2024-02-29T00:00:00+14:01')).toBeUndefined();
    expect(parseDateTime('2024-02-29T24:00:00Z')).toBeUndefined();
  });
});
