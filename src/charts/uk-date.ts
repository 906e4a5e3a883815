/**
 * FHIR dates and dateTimes as UK-style text ("9 December 2025"), read from the text itself: a
 * dateTime is shown at the wall-clock time of the offset it carries, never converted to the
 * machine's time zone, so the same value reads the same wherever the code runs.
 */

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
] as const;

const FHIR_DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface DateParts {
  readonly year: number;
  readonly month?: number;
  readonly day?: number;
  readonly hour?: number;
  readonly minute?: number;
}

/** The parts a FHIR date or dateTime states, as written (undefined when it is not one). */
export function dateParts(value: string | undefined): DateParts | undefined {
  if (value === undefined) return undefined;
  const m = FHIR_DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi] = m;
  const month = mo === undefined ? undefined : Number(mo);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  return {
    year: Number(y),
    ...(month !== undefined && { month }),
    ...(d !== undefined && { day: Number(d) }),
    ...(h !== undefined && { hour: Number(h) }),
    ...(mi !== undefined && { minute: Number(mi) }),
  };
}

function monthName(month: number, short: boolean): string {
  const name = MONTHS[month - 1] ?? '';
  return short ? name.slice(0, 3) : name;
}

/**
 * "9 December 2025" (or "December 2025", "2025" for partial dates); with `short`, "9 Dec 2025";
 * with `withYear: false`, "9 Dec". Text that is not a FHIR date comes back unchanged.
 */
export function ukDate(
  value: string,
  options: { readonly short?: boolean; readonly withYear?: boolean } = {},
): string {
  const parts = dateParts(value);
  if (!parts) return value;
  const short = options.short ?? false;
  const year = options.withYear === false ? '' : ` ${parts.year}`;
  if (parts.month === undefined) return String(parts.year);
  if (parts.day === undefined) return `${monthName(parts.month, short)}${year}`.trim();
  return `${parts.day} ${monthName(parts.month, short)}${year}`;
}

/** "10:15am", "2pm", "12:30pm" for a dateTime's wall-clock time; undefined for a date. */
export function ukTime(value: string): string | undefined {
  const parts = dateParts(value);
  if (parts?.hour === undefined || parts.minute === undefined) return undefined;
  const suffix = parts.hour < 12 ? 'am' : 'pm';
  const hour12 = parts.hour % 12 === 0 ? 12 : parts.hour % 12;
  const minutes = parts.minute === 0 ? '' : `:${String(parts.minute).padStart(2, '0')}`;
  return `${hour12}${minutes}${suffix}`;
}
