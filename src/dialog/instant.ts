/**
 * FHIR dateTime values that carry a time and an offset, read as instants on the timeline.
 *
 * Ratings are compared and sorted as instants, never as strings: "2026-03-29T00:30:00Z" and
 * "2026-03-29T01:30:00+01:00" are the same moment but sort differently as text. Parsing is done by
 * hand rather than with Date.parse so that nothing depends on the process time zone or on the
 * engine's leniency (Date.parse accepts forms FHIR does not).
 */

export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** Epoch milliseconds (UTC). */
export type InstantMs = number;

// FHIR dateTime with a time part: the time zone is then required, and seconds are required.
const DATE_TIME_WITH_OFFSET =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Epoch milliseconds for a proleptic Gregorian UTC date and time, including years 1–99. */
export function utcMs(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
  millisecond = 0,
): InstantMs {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
  // Date.UTC maps years 0–99 to 1900–1999, so set the full year explicitly.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millisecond));
  date.setUTCFullYear(year);
  return date.getTime();
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Reads a FHIR dateTime that has a time and an offset ("2026-03-29T01:30:00+01:00") as an instant.
 * Returns undefined for anything else: date-only or partial dates (no point in time), a missing
 * offset (the instant would depend on where the code runs), impossible calendar values, offsets
 * outside FHIR's −13:59…+14:00, and leap seconds (":60", which JavaScript time cannot hold).
 * Fractions of a second beyond milliseconds are truncated.
 *
 * The common forms — seconds without a fraction, then `Z` or `±hh:mm` — are read by hand from
 * their fixed places (a conversion reads millions: the pattern cost ~2.8 µs each); anything else
 * by the pattern. Both give the same answer (`parseDateTimeByPattern`, test/dialog/instant.test.ts).
 */
export function parseDateTime(value: string): InstantMs | undefined {
  const plain = plainFields(value);
  return plain === NOT_PLAIN ? parseDateTimeByPattern(value) : plain;
}

/** The reading by the pattern alone, which `parseDateTime`'s reading by hand must agree with. */
export function parseDateTimeByPattern(value: string): InstantMs | undefined {
  const m = DATE_TIME_WITH_OFFSET.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offset = parseOffset(m[8], m[9], m[10], m[11]);
  const millisecond = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  return checkedInstant(year, month, day, hour, minute, second, millisecond, offset);
}

const NOT_PLAIN = -Infinity;

/**
 * `yyyy-MM-ddTHH:mm:ssZ` or `yyyy-MM-ddTHH:mm:ss±hh:mm` read from fixed places: the instant,
 * undefined when it is not a valid one, or NOT_PLAIN when the text has another form.
 */
function plainFields(v: string): InstantMs | undefined {
  const zulu = v.length === 20;
  if (!zulu && v.length !== 25) return NOT_PLAIN;
  if (v[4] !== '-' || v[7] !== '-' || v[10] !== 'T' || v[13] !== ':' || v[16] !== ':')
    return NOT_PLAIN;
  const year = digits(v, 0, 4);
  const month = digits(v, 5, 2);
  const day = digits(v, 8, 2);
  const hour = digits(v, 11, 2);
  const minute = digits(v, 14, 2);
  const second = digits(v, 17, 2);
  if (Number.isNaN(year + month + day + hour + minute + second)) return NOT_PLAIN;
  let offset: number | undefined;
  if (zulu) {
    if (v[19] !== 'Z') return NOT_PLAIN;
    offset = 0;
  } else {
    const sign = v[19];
    if ((sign !== '+' && sign !== '-') || v[22] !== ':') return NOT_PLAIN;
    const h = digits(v, 20, 2);
    const min = digits(v, 23, 2);
    if (Number.isNaN(h + min)) return NOT_PLAIN;
    offset = offsetMs(sign, h, min);
  }
  return checkedInstant(year, month, day, hour, minute, second, 0, offset);
}

/** The ASCII digits at `from` as a number; NaN if any is not one. */
function digits(v: string, from: number, length: number): number {
  let n = 0;
  for (let i = from; i < from + length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

function checkedInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millisecond: number,
  offset: number | undefined,
): InstantMs | undefined {
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (offset === undefined) return undefined;
  return utcMs(year, month, day, hour, minute, second, millisecond) - offset;
}

function parseOffset(
  whole: string | undefined,
  sign: string | undefined,
  hours: string | undefined,
  minutes: string | undefined,
): number | undefined {
  if (whole === 'Z') return 0;
  return offsetMs(sign, Number(hours), Number(minutes));
}

/** An offset within FHIR's −13:59…+14:00 in milliseconds, else undefined. */
function offsetMs(sign: string | undefined, h: number, min: number): number | undefined {
  const inRange = (h <= 13 && min <= 59) || (h === 14 && min === 0);
  if (!inRange) return undefined;
  return (sign === '-' ? -1 : 1) * (h * HOUR_MS + min * MINUTE_MS);
}

export function isDateTimeWithOffset(value: unknown): value is string {
  return typeof value === 'string' && parseDateTime(value) !== undefined;
}

/**
 * Like parseDateTime, but for values the caller has promised are valid (they came through a
 * validating builder): a bad value here is a programming error, so it throws.
 */
export function instantOf(value: string, what = 'dateTime'): InstantMs {
  const ms = parseDateTime(value);
  if (ms === undefined) {
    throw new RangeError(`${what} is not a FHIR dateTime with time and offset: ${String(value)}`);
  }
  return ms;
}

/** Orders two dateTimes by the instant they denote (negative: a is earlier). */
export function compareDateTimes(a: string, b: string): number {
  return instantOf(a) - instantOf(b);
}
