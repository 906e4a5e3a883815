import fc from 'fast-check';
import { offsetAt } from '../../src/dialog';
import {
  DateTimePattern,
  fhirDateTime,
  fhirWallDateTime,
  NativeDateTime,
  ZoneClock,
} from '../../src/mapping/datetime';

describe('ZoneClock', () => {
  it.each(['Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'UTC'])(
    'gives the same offsets as src/dialog in %s (every 3 days 7 h 13 s over 40 years)',
    (zone) => {
      const clock = new ZoneClock(zone);
      const step = 3 * 86_400_000 + 7 * 3_600_000 + 13_000;
      for (let t = Date.UTC(1990, 0, 1); t < Date.UTC(2030, 0, 1); t += step)
        expect(clock.offsetAt(t)).toBe(offsetAt(t, zone));
    },
  );

  it('finds the transition to the second and caches around it', () => {
    const clock = new ZoneClock('Europe/London');
    const change = Date.UTC(2026, 2, 29, 1, 0, 0); // 01:00 UTC: GMT → BST
    expect(clock.offsetAt(change - 1)).toBe(0);
    expect(clock.offsetAt(change)).toBe(3_600_000);
  });

  it('rejects wall times skipped or shown twice, and reads the rest', () => {
    const clock = new ZoneClock('Europe/London');
    const wall = (month: number, day: number, hour: number, minute: number) => ({
      year: 2025,
      month,
      day,
      hour,
      minute,
      second: 0,
      millisecond: 0,
    });
    expect(clock.instantOf(wall(3, 30, 1, 30))).toEqual({ ok: false, reason: 'gap' });
    expect(clock.instantOf(wall(10, 26, 1, 30))).toEqual({ ok: false, reason: 'overlap' });
    expect(clock.instantOf(wall(10, 26, 0, 59))).toEqual({
      ok: true,
      instant: Date.UTC(2025, 9, 25, 23, 59),
      offset: 3_600_000,
    });
    expect(clock.instantOf(wall(10, 26, 2, 0))).toEqual({
      ok: true,
      instant: Date.UTC(2025, 9, 26, 2, 0),
      offset: 0,
    });
  });
});

describe('DateTimePattern', () => {
  const dayFirst = new DateTimePattern('d/M/yyyy HH:mm');

  it('reads day first, one or two digits, and says when day and month could swap', () => {
    expect(dayFirst.read('16/9/2025 14:30')).toEqual({
      ok: true,
      wall: { year: 2025, month: 9, day: 16, hour: 14, minute: 30, second: 0, millisecond: 0 },
      swappable: false,
    });
    expect(dayFirst.read('03/04/2026 9:05')).toMatchObject({ ok: true, swappable: true });
    expect(dayFirst.read('4/4/2026 09:05')).toMatchObject({ ok: true, swappable: false });
  });

  it('rejects impossible dates and names a month-first date as such', () => {
    expect(dayFirst.read('13/25/2026 10:00')).toEqual({ ok: false, problem: 'calendar' });
    expect(dayFirst.read('3/25/2026 10:00')).toEqual({ ok: false, problem: 'month-first' });
    expect(dayFirst.read('31/2/2026 10:00')).toEqual({ ok: false, problem: 'calendar' });
    expect(dayFirst.read('29/2/2025 10:00')).toEqual({ ok: false, problem: 'calendar' });
    expect(dayFirst.read('29/2/2024 10:00')).toMatchObject({ ok: true });
    expect(dayFirst.read('1/3/2026 24:00')).toEqual({ ok: false, problem: 'calendar' });
    expect(dayFirst.read('1/3/26 10:00')).toEqual({ ok: false, problem: 'format' });
    expect(dayFirst.read('2026-03-01 10:00')).toEqual({ ok: false, problem: 'format' });
  });

  it('writes with the padding the pattern asks for, and rejects patterns it cannot read', () => {
    const wall = { year: 2026, month: 3, day: 1, hour: 9, minute: 5, second: 7, millisecond: 0 };
    expect(dayFirst.format(wall)).toBe('1/3/2026 09:05');
    expect(new DateTimePattern("yyyy-MM-dd'T'HH:mm:ss").format(wall)).toBe('2026-03-01T09:05:07');
    expect(() => new DateTimePattern('d/M HH:mm')).toThrow(/year/);
    expect(() => new DateTimePattern('d/M/yyyy')).toThrow(/hours and minutes/);
    expect(() => new DateTimePattern('d/M/yyyy HH:mm Q')).toThrow(/Unknown letter/);
  });

  it('finds values inside longer text, not inside numbers', () => {
    const found = 'x 3/25/2026 10:00, 113/2/2026 10:00 and 1/2/20260 10:00'.match(
      dayFirst.search(),
    );
    expect(found).toEqual(['3/25/2026 10:00']);
  });
});

describe('NativeDateTime', () => {
  const london = new NativeDateTime('d/M/yyyy HH:mm', new ZoneClock('Europe/London'));

  it('reads wall times in the zone into FHIR dateTimes with the offset of the day', () => {
    expect(london.read('16/9/2025 14:30')).toMatchObject({
      ok: true,
      value: '2025-09-16T14:30:00+01:00',
    });
    expect(london.read('1/12/2025 09:00')).toMatchObject({
      ok: true,
      value: '2025-12-01T09:00:00+00:00',
    });
    expect(london.read('26/10/2025 01:30')).toEqual({ ok: false, problem: 'overlap' });
    expect(london.read('30/3/2025 01:30')).toEqual({ ok: false, problem: 'gap' });
  });

  it('writes a dateTime on the zone wall clock, whatever offset it was written with', () => {
    expect(london.write('2025-09-16T13:30:00Z')).toBe('16/9/2025 14:30');
    expect(london.write('2025-09-16T09:30:00-04:00')).toBe('16/9/2025 14:30');
  });

  it('normalises to the precision it holds (minutes) on the zone clock', () => {
    expect(london.normalise('2025-09-16T13:30:59.250Z')).toBe('2025-09-16T14:30:00+01:00');
  });

  it('reads back what it writes, for any minute that happens once', () => {
    const clock = new ZoneClock('Europe/London');
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1980, 0, 1), max: Date.UTC(2060, 0, 1) }), (ms) => {
        const minute = ms - (ms % 60_000);
        const text = london.write(fhirDateTime(minute, 0)) ?? '';
        const read = london.read(text);
        if (!read.ok) {
          expect(read.problem).toBe('overlap'); // the repeated hour in autumn
          return;
        }
        expect(read.instant).toBe(minute);
        expect(read.value).toBe(clock.formatDateTime(minute));
      }),
    );
  });

  it('formats wall times directly as FHIR would', () => {
    const wall = { year: 2025, month: 9, day: 6, hour: 4, minute: 3, second: 2, millisecond: 0 };
    expect(fhirWallDateTime(wall, 3_600_000)).toBe('2025-09-06T04:03:02+01:00');
    expect(fhirWallDateTime({ ...wall, year: 99 }, 0)).toBe('0099-09-06T04:03:02+00:00');
  });
});
