import { instantOf } from '../../src/dialog/instant';
import {
  addCalendarMonths,
  formatDateTime,
  instantOfWallTime,
  isValidTimeZone,
  offsetAt,
  wallTimeAt,
} from '../../src/dialog/zoned-time';
import type { WallTime } from '../../src/dialog/zoned-time';

const LONDON = 'Europe/London';
const wall = (
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
  millisecond = 0,
): WallTime => ({ year, month, day, hour, minute, second, millisecond });

describe('isValidTimeZone', () => {
  it.each(['Europe/London', 'America/New_York', 'UTC', 'Asia/Kolkata', 'Australia/Sydney'])(
    'accepts %s',
    (zone) => expect(isValidTimeZone(zone)).toBe(true),
  );
  it.each(['Europe/Londres', 'Europe/Atlantis', 'Mars/Olympus', ''])('rejects %j', (zone) =>
    expect(isValidTimeZone(zone)).toBe(false),
  );
});

describe('wallTimeAt and offsetAt in Europe/London', () => {
  // Clocks go forward at 01:00 UTC on the last Sunday of March (29 March 2026) and back at
  // 01:00 UTC on the last Sunday of October (25 October 2026).
  it.each([
    { desc: 'winter', at: '2026-01-15T12:00:00Z', local: wall(2026, 1, 15, 12), offsetH: 0 },
    {
      desc: 'just before spring forward',
      at: '2026-03-29T00:59:59Z',
      local: wall(2026, 3, 29, 0, 59, 59),
      offsetH: 0,
    },
    {
      desc: 'at spring forward',
      at: '2026-03-29T01:00:00Z',
      local: wall(2026, 3, 29, 2),
      offsetH: 1,
    },
    { desc: 'summer', at: '2026-07-15T12:00:00Z', local: wall(2026, 7, 15, 13), offsetH: 1 },
    {
      desc: 'just before fall back',
      at: '2026-10-25T00:59:59Z',
      local: wall(2026, 10, 25, 1, 59, 59),
      offsetH: 1,
    },
    { desc: 'at fall back', at: '2026-10-25T01:00:00Z', local: wall(2026, 10, 25, 1), offsetH: 0 },
    {
      desc: 'with milliseconds',
      at: '2026-07-15T12:00:00.250Z',
      local: wall(2026, 7, 15, 13, 0, 0, 250),
      offsetH: 1,
    },
  ])('$desc', ({ at, local, offsetH }) => {
    expect(wallTimeAt(instantOf(at), LONDON)).toEqual(local);
    expect(offsetAt(instantOf(at), LONDON)).toBe(offsetH * 3600000);
  });

  it('keeps milliseconds before 1970', () => {
    expect(wallTimeAt(Date.UTC(1969, 11, 31, 23, 59, 59, 750), 'UTC').millisecond).toBe(750);
  });

  it('throws RangeError for an unknown zone', () => {
    expect(() => wallTimeAt(0, 'Nowhere/Special')).toThrow(RangeError);
  });
});

describe('instantOfWallTime', () => {
  it.each([
    {
      desc: 'an ordinary winter time',
      local: wall(2026, 1, 15, 12),
      zone: LONDON,
      expected: '2026-01-15T12:00:00Z',
    },
    {
      desc: 'an ordinary summer time',
      local: wall(2026, 7, 15, 12),
      zone: LONDON,
      expected: '2026-07-15T11:00:00Z',
    },
    {
      desc: 'a time in the spring gap moves forward',
      local: wall(2026, 3, 29, 1, 30),
      zone: LONDON,
      expected: '2026-03-29T01:30:00Z',
    },
    {
      desc: 'a repeated autumn time takes the earlier',
      local: wall(2026, 10, 25, 1, 30),
      zone: LONDON,
      expected: '2026-10-25T00:30:00Z',
    },
    {
      desc: 'New York spring gap',
      local: wall(2026, 3, 8, 2, 30),
      zone: 'America/New_York',
      expected: '2026-03-08T07:30:00Z',
    },
    {
      desc: 'New York repeated hour',
      local: wall(2026, 11, 1, 1, 30),
      zone: 'America/New_York',
      expected: '2026-11-01T05:30:00Z',
    },
    { desc: 'UTC', local: wall(2026, 3, 29, 1, 30), zone: 'UTC', expected: '2026-03-29T01:30:00Z' },
  ])('$desc', ({ local, zone, expected }) => {
    expect(instantOfWallTime(local, zone)).toBe(instantOf(expected));
  });
});

describe('addCalendarMonths', () => {
  it.each([
    {
      desc: 'mid-month, winter to summer: wall time kept',
      from: '2026-01-15T10:00:00Z',
      months: 6,
      zone: LONDON,
      expected: '2026-07-15T10:00:00+01:00',
    },
    {
      desc: 'summer to winter: wall time kept',
      from: '2025-10-15T10:00:00+01:00',
      months: 6,
      zone: LONDON,
      expected: '2026-04-15T10:00:00+01:00',
    },
    {
      desc: '31 August to 28 February',
      from: '2026-08-31T12:00:00+01:00',
      months: 6,
      zone: LONDON,
      expected: '2027-02-28T12:00:00+00:00',
    },
    {
      desc: '31 August to 29 February in a leap year',
      from: '2027-08-31T12:00:00+01:00',
      months: 6,
      zone: LONDON,
      expected: '2028-02-29T12:00:00+00:00',
    },
    {
      desc: '30 August to 28 February',
      from: '2026-08-30T12:00:00+01:00',
      months: 6,
      zone: LONDON,
      expected: '2027-02-28T12:00:00+00:00',
    },
    {
      desc: '31 December to 30 June',
      from: '2026-12-31T09:00:00Z',
      months: 6,
      zone: LONDON,
      expected: '2027-06-30T09:00:00+01:00',
    },
    {
      desc: '31 October to 30 April',
      from: '2026-10-31T09:00:00Z',
      months: 6,
      zone: LONDON,
      expected: '2027-04-30T09:00:00+01:00',
    },
    {
      desc: '29 February to 29 August',
      from: '2028-02-29T09:00:00Z',
      months: 6,
      zone: LONDON,
      expected: '2028-08-29T09:00:00+01:00',
    },
    {
      desc: 'across a year end',
      from: '2026-09-10T09:00:00+01:00',
      months: 6,
      zone: LONDON,
      expected: '2027-03-10T09:00:00+00:00',
    },
    {
      desc: 'the London date, not the UTC date, decides',
      from: '2025-08-31T23:30:00Z',
      months: 6,
      zone: LONDON,
      expected: '2026-03-01T00:30:00+00:00',
    },
    {
      desc: 'the same instant in UTC',
      from: '2025-08-31T23:30:00Z',
      months: 6,
      zone: 'UTC',
      expected: '2026-02-28T23:30:00+00:00',
    },
    {
      desc: 'into the spring gap (01:30 on 29 March 2026)',
      from: '2025-09-29T00:30:00Z',
      months: 6,
      zone: LONDON,
      expected: '2026-03-29T02:30:00+01:00',
    },
    {
      desc: 'into the repeated hour (01:30 on 25 October 2026)',
      from: '2026-04-25T00:30:00Z',
      months: 6,
      zone: LONDON,
      expected: '2026-10-25T01:30:00+01:00',
    },
    {
      desc: 'to the last Sunday of October, after fall back',
      from: '2026-04-25T12:00:00+01:00',
      months: 6,
      zone: LONDON,
      expected: '2026-10-25T12:00:00+00:00',
    },
    {
      desc: 'New York, across its DST start',
      from: '2026-09-10T12:00:00-04:00',
      months: 6,
      zone: 'America/New_York',
      expected: '2027-03-10T12:00:00-05:00',
    },
    {
      desc: 'Sydney (southern hemisphere)',
      from: '2026-01-15T10:00:00+11:00',
      months: 6,
      zone: 'Australia/Sydney',
      expected: '2026-07-15T10:00:00+10:00',
    },
    {
      desc: 'zero months',
      from: '2026-01-31T10:00:00Z',
      months: 0,
      zone: LONDON,
      expected: '2026-01-31T10:00:00+00:00',
    },
    {
      desc: 'one month from 31 January',
      from: '2026-01-31T10:00:00Z',
      months: 1,
      zone: LONDON,
      expected: '2026-02-28T10:00:00+00:00',
    },
    {
      desc: 'backwards',
      from: '2026-03-31T10:00:00+01:00',
      months: -1,
      zone: LONDON,
      expected: '2026-02-28T10:00:00+00:00',
    },
    {
      desc: 'backwards across a year',
      from: '2026-01-15T10:00:00Z',
      months: -6,
      zone: LONDON,
      expected: '2025-07-15T10:00:00+01:00',
    },
    {
      desc: 'milliseconds kept',
      from: '2026-01-15T10:00:00.250Z',
      months: 6,
      zone: LONDON,
      expected: '2026-07-15T10:00:00.250+01:00',
    },
  ])('$desc', ({ from, months, zone, expected }) => {
    const result = addCalendarMonths(instantOf(from), months, zone);
    expect(formatDateTime(result, zone)).toBe(expected);
    expect(result).toBe(instantOf(expected));
  });

  it('is not a fixed number of elapsed days across DST', () => {
    const from = instantOf('2026-01-15T10:00:00Z');
    const to = addCalendarMonths(from, 6, LONDON);
    // 181 days less the hour the clocks went forward.
    expect(to - from).toBe(181 * 86400000 - 3600000);
  });
});

describe('formatDateTime', () => {
  it.each([
    {
      desc: 'London winter',
      at: '2026-01-15T12:00:00Z',
      zone: LONDON,
      expected: '2026-01-15T12:00:00+00:00',
    },
    {
      desc: 'London summer',
      at: '2026-07-15T12:00:00Z',
      zone: LONDON,
      expected: '2026-07-15T13:00:00+01:00',
    },
    {
      desc: 'New York',
      at: '2026-01-15T12:00:00Z',
      zone: 'America/New_York',
      expected: '2026-01-15T07:00:00-05:00',
    },
    {
      desc: 'Kolkata half hour',
      at: '2026-01-01T00:00:00.5Z',
      zone: 'Asia/Kolkata',
      expected: '2026-01-01T05:30:00.500+05:30',
    },
    {
      desc: 'Chatham 45 minutes',
      at: '2026-07-01T00:00:00Z',
      zone: 'Pacific/Chatham',
      expected: '2026-07-01T12:45:00+12:45',
    },
    {
      desc: 'negative half hour',
      at: '2026-07-01T12:00:00Z',
      zone: 'America/St_Johns',
      expected: '2026-07-01T09:30:00-02:30',
    },
    {
      desc: 'local mean time is not whole minutes: written in UTC',
      at: '1800-01-01T00:00:00Z',
      zone: LONDON,
      expected: '1800-01-01T00:00:00Z',
    },
    {
      desc: 'a year before 1000 is padded',
      at: '0005-01-01T00:00:00Z',
      zone: 'UTC',
      expected: '0005-01-01T00:00:00+00:00',
    },
  ])('$desc', ({ at, zone, expected }) => {
    expect(formatDateTime(instantOf(at), zone)).toBe(expected);
    expect(instantOf(expected)).toBe(instantOf(at));
  });
});
