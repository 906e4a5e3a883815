/**
 * Calendar arithmetic in a named IANA time zone, using only the Intl APIs (no dependency).
 *
 * Some DIALOG rules are in calendar months ("no longer than 6 months apart"), and a calendar month
 * only means something on a wall clock in a place: the same instant can be 31 August in London and
 * 1 September in UTC. Every function here takes the zone explicitly, so results never depend on
 * the zone of the process running them.
 */

import { DAY_MS, daysInMonth, type InstantMs, MINUTE_MS, utcMs } from './instant';

/** A local date and time on a wall clock (months 1–12). */
export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      numberingSystem: 'latn',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at an instant. Throws RangeError for an unknown zone. */
export function wallTimeAt(instant: InstantMs, timeZone: string): WallTime {
  const parts = formatterFor(timeZone).formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value);
  return {
    year: part('year'),
    month: part('month'),
    day: part('day'),
    hour: part('hour'),
    minute: part('minute'),
    second: part('second'),
    // Zone offsets are whole seconds, so the millisecond is the same everywhere.
    millisecond: ((instant % 1000) + 1000) % 1000,
  };
}

function wallAsUtc(wall: WallTime): number {
  const { year, month, day, hour, minute, second, millisecond } = wall;
  return utcMs(year, month, day, hour, minute, second, millisecond);
}

/** The zone's offset from UTC at an instant, in milliseconds (positive east of Greenwich). */
export function offsetAt(instant: InstantMs, timeZone: string): number {
  return wallAsUtc(wallTimeAt(instant, timeZone)) - instant;
}

/**
 * The instant at which the wall clock in `timeZone` shows `wall`. Where the clock goes back and a
 * wall time happens twice, the earlier is taken; where the clock goes forward and a wall time never
 * happens, it is moved forward by the gap (01:30 on the spring-forward night in London becomes
 * 02:30 BST). These are the "compatible" choices of RFC 5545 and Temporal.
 */
export function instantOfWallTime(wall: WallTime, timeZone: string): InstantMs {
  const asUtc = wallAsUtc(wall);
  // The offsets a day either side bracket any single transition near this wall time.
  const before = asUtc - offsetAt(asUtc - DAY_MS, timeZone);
  const after = asUtc - offsetAt(asUtc + DAY_MS, timeZone);
  const shows = (t: number): boolean => wallAsUtc(wallTimeAt(t, timeZone)) === asUtc;
  const candidates = [before, after].filter(shows).sort((a, b) => a - b);
  // No candidate: the wall time is in a gap; the pre-transition offset moves it forward.
  return candidates[0] ?? before;
}

/**
 * Adds calendar months on the wall clock of `timeZone`, keeping the time of day. A day that the
 * target month lacks is clamped to its last day (31 August + 6 months = 28 or 29 February), so a
 * "within N months" deadline never overshoots into the month after.
 */
export function addCalendarMonths(instant: InstantMs, months: number, timeZone: string): InstantMs {
  const wall = wallTimeAt(instant, timeZone);
  const monthIndex = wall.year * 12 + (wall.month - 1) + months;
  const year = Math.floor(monthIndex / 12);
  const month = (monthIndex % 12) + 1;
  const day = Math.min(wall.day, daysInMonth(year, month));
  return instantOfWallTime({ ...wall, year, month, day }, timeZone);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * Writes an instant as a FHIR dateTime with the offset `timeZone` has at that moment, so a person
 * reading it sees local time ("2026-03-30T13:00:00+01:00"). Milliseconds are written only when not
 * zero. Historic offsets that are not whole minutes cannot be written as ±hh:mm, so those instants
 * are written in UTC instead.
 */
export function formatDateTime(instant: InstantMs, timeZone: string): string {
  const offset = offsetAt(instant, timeZone);
  const wholeMinutes = offset % MINUTE_MS === 0;
  const shown = wholeMinutes ? wallTimeAt(instant, timeZone) : wallTimeAt(instant, 'UTC');
  const { year, month, day, hour, minute, second, millisecond } = shown;
  const fraction = millisecond === 0 ? '' : `.${pad(millisecond, 3)}`;
  const local = `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}`;
  return `${local}${fraction}${wholeMinutes ? formatOffset(offset) : 'Z'}`;
}

function formatOffset(offset: number): string {
  const sign = offset < 0 ? '-' : '+';
  const minutes = Math.abs(offset) / MINUTE_MS;
  return `${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}
