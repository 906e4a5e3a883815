/**
 * The plan as a text message of at most 3 SMS segments: who the key worker is and how to reach
 * them, the next review date, the first actions still to do (soonest first), and always the link
 * to the full plan. Written in the "you" voice, punctuation kept to GSM-7 so a segment holds 153
 * characters, not 67. What does not fit is dropped from the end (later actions first), and an
 * action too long for the space left is cut at a word and ends with "..."; the link is never cut.
 */
import { ukDate } from '../charts';
import { smsLength, toGsmPunctuation, type SmsEncoding } from './gsm';
import type { Action, PlanView } from './plan-view';

export const MAX_SMS_SEGMENTS = 3;

export interface SmsOptions {
  /** The full plan's address (where the person can read the whole letter). Always included. */
  readonly planUrl: string;
  /** At most this many segments (1–3; default 3). */
  readonly maxSegments?: number;
}

export interface PlanSms {
  readonly text: string;
  readonly encoding: SmsEncoding;
  readonly segments: number;
  /** Open actions in the plan, and how many of them the text names (some perhaps shortened). */
  readonly actionsTotal: number;
  readonly actionsIncluded: number;
  /** True when anything was shortened or left out to fit. */
  readonly truncated: boolean;
}

const MIN_ACTION_CHARS = 24;

function firstName(name: string): string {
  return name.trim().split(/\s+/)[0] ?? name;
}

function owner(action: Action): string {
  const names = action.who.map((p) => (p.isPerson ? 'you' : firstName(p.name)));
  return [...new Set(names)].join(' & ');
}

function actionText(action: Action, what: string): string {
  const when = action.byWhen ? `by ${ukDate(action.byWhen, { short: true })}` : action.when;
  const detail = [owner(action), when].filter((s) => s !== undefined && s !== '').join(', ');
  return detail ? `${what} (${detail})` : what;
}

/** `text` cut at a word boundary to at most `max` characters, ending with "...". */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const room = Math.max(0, max - 3);
  const head = text.slice(0, room);
  const space = head.lastIndexOf(' ');
  const at = space >= room / 2 ? space : room;
  return `${head.slice(0, at).replace(/[\s,;:.-]+$/, '')}...`;
}

/** The plan as an SMS. Throws RangeError when the link alone cannot fit. */
export function letterSms(view: PlanView, options: SmsOptions): PlanSms {
  const maxSegments = Math.min(
    Math.max(options.maxSegments ?? MAX_SMS_SEGMENTS, 1),
    MAX_SMS_SEGMENTS,
  );
  const link = `Full plan: ${options.planUrl.trim()}`;
  const fits = (parts: readonly string[]): boolean =>
    smsLength(compose(parts)).segments <= maxSegments;
  const compose = (parts: readonly string[]): string => [...parts, link].join('\n');
  if (!fits([])) throw new RangeError('The plan link alone does not fit in the SMS');

  const parts: string[] = [];
  let truncated = false;
  const add = (text: string): boolean => {
    const clean = toGsmPunctuation(text);
    if (!fits([...parts, clean])) {
      truncated = true;
      return false;
    }
    parts.push(clean);
    return true;
  };

  const name = view.person?.callName;
  add(name ? `${name}, this is your care plan.` : 'This is your care plan.');
  const worker = view.keyWorker;
  const reach =
    worker?.contacts.find((c) => c.system === 'phone') ??
    worker?.contacts[0] ??
    view.service?.contacts.find((c) => c.system === 'phone');
  if (worker) add(`Key worker: ${worker.name}${reach ? `, ${reach.value}` : ''}.`);
  else if (view.service) add(`Your team: ${view.service.name}${reach ? `, ${reach.value}` : ''}.`);
  if (view.nextReview) add(`Next review by ${ukDate(view.nextReview.due)}.`);

  const open = view.actions.filter((a) => a.open);
  let included = 0;
  if (open.length > 0) {
    const lines: string[] = [];
    for (const action of open) {
      const prefix = lines.length === 0 ? 'To do: ' : '';
      const full = toGsmPunctuation(`${prefix}${actionText(action, action.what)}`);
      const attempt = (line: string): boolean => fits([...parts, ...lines, line]);
      if (attempt(full)) {
        lines.push(full);
        included += 1;
        continue;
      }
      truncated = true;
      // The longest shortened description that still fits, if any worth sending.
      const what = toGsmPunctuation(action.what);
      let best: string | undefined;
      let lo = MIN_ACTION_CHARS;
      let hi = what.length - 1;
      while (lo <= hi) {
        const mid = Math.floor((lo + hi) / 2);
        const line = toGsmPunctuation(`${prefix}${actionText(action, cut(what, mid))}`);
        if (attempt(line)) {
          best = line;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (best) {
        lines.push(best);
        included += 1;
      }
      break;
    }
    if (included < open.length) truncated = true;
    parts.push(...lines);
  }
  const text = compose(parts);
  const length = smsLength(text);
  return {
    text,
    encoding: length.encoding,
    segments: length.segments,
    actionsTotal: open.length,
    actionsIncluded: included,
    truncated,
  };
}
