/**
 * Native date-times ⇄ FHIR dateTime with offset.
 *
 * Native formats write wall-clock times without an offset ("1/3/2026 10:15"), read in the mapping's
 * time zone. Nothing is guessed: a wall time the zone skips (the spring-forward gap) or shows twice
 * (the autumn fall-back hour) is rejected, as is a calendar date that does not exist. Offsets are
 * looked up through Intl once per quarter hour of the timeline and cached, so a million rows do
 * not cost a million Intl calls.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { daysInMonth, MINUTE_MS, parseDateTime, utcMs } from '../dialog';
import { error } from '../validation/outcome';

export interface WallParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
}

export type WallResult =
  | { readonly ok: true; readonly instant: number; readonly offset: number }
  | { readonly ok: false; readonly reason: 'gap' | 'overlap' };

const DAY = 86_400_000;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function formatOffset(offsetMs: number, colon = true): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const minutes = Math.abs(offsetMs) / MINUTE_MS;
  return `${sign}${pad(Math.floor(minutes / 60))}${colon ? ':' : ''}${pad(minutes % 60)}`;
}

/**
 * The wall clock of one IANA time zone. Offsets are cached per UTC day: a day whose offset is the
 * same at its first and last millisecond is stored as that offset (no zone changes its offset
 * and back within one day); a day with a transition stores the transition instant, found by
 * binary search to the millisecond, and the offsets either side.
 */
export class ZoneClock {
  private readonly days = new Map<number, number | { at: number; before: number; after: number }>();
  private readonly formatter: Intl.DateTimeFormat;

  constructor(readonly timeZone: string) {
    this.formatter = new Intl.DateTimeFormat('en-US', {
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
  }

  private exactOffset(instant: number): number {
    const parts = this.formatter.formatToParts(instant);
    const part = (type: Intl.DateTimeFormatPartTypes): number =>
      Number(parts.find((p) => p.type === type)?.value);
    const second = Math.floor(instant / 1000) * 1000;
    const wall = utcMs(
      part('year'),
      part('month'),
      part('day'),
      part('hour'),
      part('minute'),
      part('second'),
    );
    return wall - second;
  }

  /** The zone's offset from UTC at an instant, in milliseconds (positive east of Greenwich). */
  offsetAt(instant: number): number {
    const day = Math.floor(instant / DAY);
    let cached = this.days.get(day);
    if (cached === undefined) {
      cached = this.dayOffsets(day);
      if (this.days.size > 100_000) this.days.clear();
      this.days.set(day, cached);
    }
    if (typeof cached === 'number') return cached;
    return instant < cached.at ? cached.before : cached.after;
  }

  private dayOffsets(day: number): number | { at: number; before: number; after: number } {
    let lo = day * DAY;
    let hi = lo + DAY - 1;
    const before = this.exactOffset(lo);
    const after = this.exactOffset(hi);
    if (before === after) return before;
    // Offsets are whole seconds; find the first second with the new offset.
    lo = Math.floor(lo / 1000);
    hi = Math.floor(hi / 1000);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.exactOffset(mid * 1000) === before) lo = mid;
      else hi = mid;
    }
    return { at: hi * 1000, before, after };
  }

  /** The instant a wall time denotes here; rejects wall times skipped or shown twice. */
  instantOf(wall: WallParts): WallResult {
    const { year, month, day, hour, minute, second, millisecond } = wall;
    const asUtc =
      year >= 100
        ? Date.UTC(year, month - 1, day, hour, minute, second, millisecond)
        : utcMs(year, month, day, hour, minute, second, millisecond);
    const before = this.offsetAt(asUtc - 86_400_000);
    const after = this.offsetAt(asUtc + 86_400_000);
    const a = asUtc - before;
    const aShows = this.offsetAt(a) === before;
    if (before === after) return aShows ? { ok: true, instant: a, offset: before } : gap();
    const b = asUtc - after;
    const bShows = this.offsetAt(b) === after;
    if (aShows && bShows) return { ok: false, reason: 'overlap' };
    if (aShows) return { ok: true, instant: a, offset: before };
    if (bShows) return { ok: true, instant: b, offset: after };
    return gap();
  }

  /** The wall time here at an instant. */
  wallAt(instant: number): WallParts {
    return utcParts(instant + this.offsetAt(instant));
  }

  /** A FHIR dateTime with this zone's offset at that instant. */
  formatDateTime(instant: number): string {
    return fhirDateTime(instant, this.offsetAt(instant));
  }
}

function gap(): WallResult {
  return { ok: false, reason: 'gap' };
}

export function utcParts(ms: number): WallParts {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
  };
}

const PAD2: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const OFFSETS = new Map<number, string>();

function offsetText(offsetMs: number): string {
  let text = OFFSETS.get(offsetMs);
  if (text === undefined) {
    text = formatOffset(offsetMs);
    OFFSETS.set(offsetMs, text);
  }
  return text;
}

/** A FHIR dateTime for a wall time at a given offset (the wall time already read, no Date). */
export function fhirWallDateTime(w: WallParts, offsetMs: number): string {
  if (w.year < 1000 || w.millisecond !== 0)
    return fhirDateTime(
      utcMs(w.year, w.month, w.day, w.hour, w.minute, w.second, w.millisecond) - offsetMs,
      offsetMs,
    );
  return `${w.year}-${PAD2[w.month] ?? ''}-${PAD2[w.day] ?? ''}T${PAD2[w.hour] ?? ''}:${PAD2[w.minute] ?? ''}:${PAD2[w.second] ?? ''}${offsetText(offsetMs)}`;
}

/** A FHIR dateTime for an instant shown at a given offset; milliseconds only when not zero. */
export function fhirDateTime(instant: number, offsetMs: number): string {
  const w = utcParts(instant + offsetMs);
  const fraction = w.millisecond === 0 ? '' : `.${pad(w.millisecond, 3)}`;
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${fraction}${formatOffset(offsetMs)}`;
}

const FHIR_OFFSET = /(Z|[+-]\d{2}:\d{2})$/;

const SECONDS_FRACTION = /(:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The digits of a FHIR dateTime's fraction of a second beyond the millisecond, trailing zeros
 * dropped: `'4'` for `…:00.1234+01:00`, `''` for `…:00.123+01:00`. An instant (`parseDateTime`,
 * epoch milliseconds) does not hold them, so a reader or writer that goes through one keeps them
 * with this, or names them as not held.
 */
export function subMillisecond(value: string): string {
  const digits = SECONDS_FRACTION.exec(value)?.[2] ?? '';
  return digits.length > 3 ? digits.slice(3).replace(/0+$/, '') : '';
}

/** A FHIR dateTime to the millisecond (as `fhirDateTime` writes it) with digits after them. */
export function withSubMillisecond(value: string, digits: string): string {
  if (digits === '') return value;
  return value.replace(
    SECONDS_FRACTION,
    (_, seconds: string, fraction: string | undefined, offset: string) =>
      `${seconds}.${(fraction ?? '').padEnd(3, '0')}${digits}${offset}`,
  );
}

/** The instant and the written offset of a FHIR dateTime with time and offset. */
export function readFhirDateTime(
  value: string,
): { readonly instant: number; readonly offset: number } | undefined {
  const instant = parseDateTime(value);
  if (instant === undefined) return undefined;
  const m = FHIR_OFFSET.exec(value)?.[1] ?? 'Z';
  if (m === 'Z') return { instant, offset: 0 };
  const sign = m.startsWith('-') ? -1 : 1;
  const offset = sign * (Number(m.slice(1, 3)) * 60 + Number(m.slice(4, 6))) * MINUTE_MS;
  return { instant, offset };
}

// ---- patterns ------------------------------------------------------------------------------

type Token = 'yyyy' | 'M' | 'MM' | 'd' | 'dd' | 'H' | 'HH' | 'mm' | 'ss';
const TOKENS: readonly Token[] = ['yyyy', 'MM', 'M', 'dd', 'd', 'HH', 'H', 'mm', 'ss'];

type Part = { readonly token: Token } | { readonly literal: string };

/** Why a native date-time was not read. The message never repeats the value. */
export type DateProblem =
  'format' | 'calendar' | 'month-first' | 'ambiguous-order' | 'gap' | 'overlap';

export type PatternRead =
  | { readonly ok: true; readonly wall: WallParts; readonly swappable: boolean }
  | { readonly ok: false; readonly problem: DateProblem };

/**
 * A date-time pattern such as `d/M/yyyy HH:mm` or `yyyy-MM-dd'T'HH:mm:ss`. Reading accepts one or
 * two digits for d, M and H whatever the pattern's padding (spreadsheets drop leading zeros; that
 * is never ambiguous); writing pads as the pattern says. Seconds absent from the pattern read as 0.
 */
export class DateTimePattern {
  private readonly parts: Part[] = [];
  private readonly regex: RegExp;
  private readonly body: string;
  private readonly groups: Token[] = [];
  /** Day written before month: a value whose month is over 12 may be a month-first export. */
  readonly dayFirst: boolean;
  readonly hasSeconds: boolean;

  constructor(readonly pattern: string) {
    let i = 0;
    let source = '';
    while (i < pattern.length) {
      if (pattern[i] === "'") {
        const end = pattern.indexOf("'", i + 1);
        if (end < 0) throw new Error(`Unclosed quote in date pattern ${pattern}`);
        const literal = pattern.slice(i + 1, end);
        this.parts.push({ literal });
        source += escapeRegex(literal);
        i = end + 1;
        continue;
      }
      const token = TOKENS.find((t) => pattern.startsWith(t, i));
      if (token) {
        this.parts.push({ token });
        this.groups.push(token);
        source +=
          token === 'yyyy'
            ? '(\\d{4})'
            : token === 'mm' || token === 'ss'
              ? '(\\d{2})'
              : '(\\d{1,2})';
        i += token.length;
        continue;
      }
      const ch = pattern.charAt(i);
      if (/[A-Za-z]/.test(ch)) throw new Error(`Unknown letter ${ch} in date pattern ${pattern}`);
      this.parts.push({ literal: ch });
      source += escapeRegex(ch);
      i++;
    }
    this.body = source;
    this.regex = new RegExp(`^${source}$`);
    const day = this.groups.findIndex((t) => t === 'd' || t === 'dd');
    const month = this.groups.findIndex((t) => t === 'M' || t === 'MM');
    for (const needed of [day, month, this.groups.indexOf('yyyy')])
      if (needed < 0) throw new Error(`Date pattern ${pattern} needs a day, a month and a year`);
    if (!this.groups.some((t) => t === 'H' || t === 'HH') || !this.groups.includes('mm'))
      throw new Error(`Date pattern ${pattern} needs hours and minutes`);
    this.dayFirst = day < month;
    this.hasSeconds = this.groups.includes('ss');
  }

  /**
   * Reads a wall time. `swappable` says day and month could be exchanged and still make a date
   * (both 1–12 and different): such a value cannot show which order the file uses.
   */
  read(text: string): PatternRead {
    const m = this.regex.exec(text);
    if (!m) return { ok: false, problem: 'format' };
    let year = 0;
    let month = 0;
    let day = 0;
    let hour = 0;
    let minute = 0;
    let second = 0;
    for (let g = 0; g < this.groups.length; g++) {
      const n = Number(m[g + 1]);
      switch (this.groups[g]) {
        case 'yyyy':
          year = n;
          break;
        case 'M':
        case 'MM':
          month = n;
          break;
        case 'd':
        case 'dd':
          day = n;
          break;
        case 'H':
        case 'HH':
          hour = n;
          break;
        case 'mm':
          minute = n;
          break;
        case 'ss':
          second = n;
          break;
      }
    }
    if (hour > 23 || minute > 59 || second > 59 || year < 1)
      return { ok: false, problem: 'calendar' };
    if (month < 1 || month > 12) {
      // 13/25/2026 read day first: no month 25. If it makes a date month first, say so.
      const swapped = day >= 1 && day <= 12 && month <= daysInMonth(year, day);
      return { ok: false, problem: swapped && this.dayFirst ? 'month-first' : 'calendar' };
    }
    if (day < 1 || day > daysInMonth(year, month)) return { ok: false, problem: 'calendar' };
    const swappable = day <= 12 && day !== month;
    return {
      ok: true,
      wall: { year, month, day, hour, minute, second, millisecond: 0 },
      swappable,
    };
  }

  /** A fresh global regex finding values of this pattern inside longer text (not inside numbers). */
  search(): RegExp {
    return new RegExp(`(?<![0-9])${this.body}(?![0-9])`, 'g');
  }

  /**
   * Like search(), but finding only values whose day is 1–12 and month 13–31: the candidates for
   * "reads only month first". Far fewer matches than search(), so a whole file scans fast.
   */
  searchMonthFirst(): RegExp {
    let source = '';
    for (const part of this.parts) {
      if ('literal' in part) source += escapeRegex(part.literal);
      else if (part.token === 'd' || part.token === 'dd') source += '(0?[1-9]|1[0-2])';
      else if (part.token === 'M' || part.token === 'MM') source += '(1[3-9]|2[0-9]|3[01])';
      else if (part.token === 'yyyy') source += '\\d{4}';
      else if (part.token === 'mm' || part.token === 'ss') source += '\\d{2}';
      else source += '\\d{1,2}';
    }
    return new RegExp(`(?<![0-9])${source}(?![0-9])`, 'g');
  }

  /** Writes a wall time; seconds and milliseconds the pattern cannot hold are dropped. */
  format(wall: WallParts): string {
    let out = '';
    for (const part of this.parts) {
      if ('literal' in part) {
        out += part.literal;
        continue;
      }
      switch (part.token) {
        case 'yyyy':
          out += pad(wall.year, 4);
          break;
        case 'MM':
          out += pad(wall.month);
          break;
        case 'M':
          out += String(wall.month);
          break;
        case 'dd':
          out += pad(wall.day);
          break;
        case 'd':
          out += String(wall.day);
          break;
        case 'HH':
          out += pad(wall.hour);
          break;
        case 'H':
          out += String(wall.hour);
          break;
        case 'mm':
          out += pad(wall.minute);
          break;
        case 'ss':
          out += pad(wall.second);
          break;
      }
    }
    return out;
  }
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A pattern's reader and writer bound to a zone: native text ⇄ FHIR dateTime. */
export class NativeDateTime {
  readonly pattern: DateTimePattern;

  constructor(
    pattern: string,
    readonly clock: ZoneClock,
  ) {
    this.pattern = new DateTimePattern(pattern);
  }

  read(text: string):
    | {
        readonly ok: true;
        readonly value: string;
        readonly instant: number;
        readonly swappable: boolean;
      }
    | { readonly ok: false; readonly problem: DateProblem } {
    const read = this.pattern.read(text);
    if (!read.ok) return read;
    const at = this.clock.instantOf(read.wall);
    if (!at.ok) return { ok: false, problem: at.reason };
    return {
      ok: true,
      value: fhirWallDateTime(read.wall, at.offset),
      instant: at.instant,
      swappable: read.swappable,
    };
  }

  /** Native text for a FHIR dateTime (with time and offset), on this zone's wall clock. */
  write(value: string): string | undefined {
    const instant = parseDateTime(value);
    if (instant === undefined) return undefined;
    return this.pattern.format(this.clock.wallAt(instant));
  }

  /**
   * Whether the wall time this instant shows here is one the clock shows twice (the night the
   * clocks go back). The native form has no offset, so it could not say which of the two it was:
   * writing it would make a value that is refused on reading (rightly, nothing is guessed).
   */
  shownTwice(value: string): boolean {
    const instant = parseDateTime(value);
    if (instant === undefined) return false;
    const back = this.clock.instantOf(this.clock.wallAt(instant));
    return !back.ok && back.reason === 'overlap';
  }

  /**
   * What a FHIR dateTime becomes after a trip through this native form: the same instant on this
   * zone's clock, cut to the precision the pattern holds.
   */
  normalise(value: string): string | undefined {
    const instant = parseDateTime(value);
    if (instant === undefined) return undefined;
    const wall = this.clock.wallAt(instant);
    const drop = wall.millisecond + (this.pattern.hasSeconds ? 0 : wall.second * 1000);
    const truncated = instant - drop;
    return this.clock.formatDateTime(truncated);
  }
}

export const DATE_PROBLEM_TEXT: Readonly<Record<DateProblem, string>> = {
  format: 'is not in the expected form',
  calendar: 'is not a real date and time',
  'month-first':
    'has a month over 12 when read day first; it reads only month first, so this file may be a month-first export (rejected, not guessed)',
  'ambiguous-order':
    'could be read day first or month first, and this file has shown month-first dates (rejected, not guessed)',
  gap: 'is a local time the clocks skip (daylight saving starts)',
  overlap: 'is a local time that happens twice (daylight saving ends), so the moment is ambiguous',
};

/** A time in the hour the clocks go back: a native form without an offset cannot hold it. */
export function shownTwiceIssue(header: string, expression: string): OperationOutcomeIssue {
  return error(
    'not-supported',
    `${header} has no offset, and this time falls in the hour the clocks go back, which the clock shows twice: it would not say which of the two it was`,
    expression,
  );
}
