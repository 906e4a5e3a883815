/**
 * The JSON text of a record's QuestionnaireResponse, fast. Converting a million rows, building
 * each canonical response object and stringifying its ~7 KB costs more than reading the CSV
 * several times over; yet most of that text repeats: an item's group depends only on the item,
 * its score and its "more help" answer, the calculated means only on the scores' sums.
 *
 * So the text is assembled from fragments, and every fragment is cut from what the canonical
 * writer (`recordToResponse`, i.e. src/fhir's `sessionToResponse`) produces:
 * - the response without its items, stringified per record (small: subject, dates, identifiers);
 * - each item group, taken from the canonical response of a session holding only that item,
 *   cached by (item, score, help);
 * - the calculated means, taken from the canonical response of the first record with those
 *   sums, cached by the sums;
 * - the discussion group, from the canonical response of a session holding only the discussion.
 *
 * Nothing about the response's layout is assumed beyond `item` being its last key (record.ts
 * makes it so), the ratings group holding the item groups (in Questionnaire order) before the
 * means, and which strings decide the layout rather than fill it (`inShape`). To be sure, the first `verifyCount` records of every instance are also written the
 * canonical way and compared byte for byte; one difference turns the fast path off for good, and
 * the canonical text is what gets written. Records with parts the fast path does not cut
 * (previous actions, not-rated, timepoint, author, …) always take the canonical way.
 *
 * The text is ASCII: characters beyond U+007E are written as JSON `\uXXXX` escapes (the same
 * JSON value), which keeps strings one byte per character and encoding to UTF-8 cheap.
 */
import type { QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { DIALOG_ITEMS, type DialogItemConcept, type DialogScore } from '../dialog';
import { sessionToResponse, type DialogSession } from '../fhir';
import { type DialogRecord, recordToResponse } from './record';

const NON_ASCII = /[\u007f-\uffff]/g;

/**
 * JSON text with every character beyond U+007E written as a `\uXXXX` escape. The result is made a
 * one-byte string (V8 keeps a replaced string two bytes wide), which UTF-8 encodes several times
 * faster.
 */
export function asciiJson(json: string): string {
  NON_ASCII.lastIndex = 0;
  if (!NON_ASCII.test(json)) return json;
  NON_ASCII.lastIndex = 0;
  const escaped = json.replace(
    NON_ASCII,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return Buffer.from(escaped, 'latin1').toString('latin1');
}

const CONCEPT_INDEX = new Map(DIALOG_ITEMS.map((item, i) => [item.concept, i]));
const LIFE = DIALOG_ITEMS.map((i) => i.group === 'life');

const EMPTY_SESSION: Omit<DialogSession, 'status' | 'subject' | 'authored'> = {
  scores: {},
  helpWanted: {},
  chosen: [],
  discussed: [],
  previousActions: [],
};

/** The session without the parts that become items. */
export function bare(session: DialogSession): DialogSession {
  return { ...session, ...EMPTY_SESSION };
}

function group(
  response: QuestionnaireResponse,
  linkId: string,
): QuestionnaireResponseItem | undefined {
  return response.item?.find((i) => i.linkId === linkId);
}

/** Whether the fast path cuts every part of this record. */
export function fastEligible(session: DialogSession): boolean {
  if (
    session.id !== undefined ||
    session.timepoint !== undefined ||
    session.setting !== undefined ||
    session.reusedFrom !== undefined ||
    session.notRated !== undefined ||
    session.author !== undefined ||
    session.previousActions.length > 0
  )
    return false;
  for (const d of session.discussed) {
    if (
      d.understanding !== undefined ||
      d.lookingForward !== undefined ||
      d.exploringOptions !== undefined
    )
      return false;
    for (const a of d.actions) if (a.who !== undefined || a.byWhen !== undefined) return false;
  }
  return true;
}

const MARK = /@@(\d+)@@/g;

/**
 * Strings that decide the response's layout rather than fill it, so they stay part of the shape:
 * local references (`#subject` means a contained Patient), identifier systems (the NHS number is
 * the linking identifier), status, and empty strings (an empty display is left out).
 */
function inShape(value: string, key: string | undefined): boolean {
  return value === '' || value.startsWith('#') || key === 'system' || key === 'status';
}

/** A deep copy with every other string replaced by `@@<n>@@`, n indexing `values`. */
export function markStrings(value: unknown, values: string[], key?: string): unknown {
  if (typeof value === 'string') {
    if (inShape(value, key)) return value;
    values.push(value);
    return `@@${values.length - 1}@@`;
  }
  if (Array.isArray(value)) return value.map((v) => markStrings(v, values));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value))
      out[k] = markStrings((value as Record<string, unknown>)[k], values, k);
    return out;
  }
  return value;
}

/**
 * The shape of a value, as markStrings would leave it (one key per marked JSON), collecting its
 * strings in the same order — without building the copy.
 */
export function shapeOf(value: unknown, values: string[], key?: string, top = false): string {
  if (typeof value === 'string') {
    if (inShape(value, key)) return JSON.stringify(value);
    values.push(value);
    return 's';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (const v of value) out += `${shapeOf(v, values)},`;
    return `${out}]`;
  }
  if (typeof value === 'object' && value !== null) {
    let out = '{';
    const record = value as Record<string, unknown>;
    for (const k in record) {
      const v = record[k];
      if (v === undefined) continue;
      // At the top, the session's items count as empty: the head is the response without them.
      out +=
        top && k === 'session'
          ? `${k}:${sessionShape(v, values)},`
          : `${k}:${shapeOf(v, values, k)},`;
    }
    return `${out}}`;
  }
  return JSON.stringify(value) ?? 'u';
}

/** A record's shape without its items (shapeOf at the top) and the strings it holds, in order. */
export interface RecordShape {
  readonly key: string;
  readonly values: readonly string[];
}

export function recordShape(record: DialogRecord): RecordShape {
  const values: string[] = [];
  return { key: shapeOf(record, values, undefined, true), values };
}

const ITEM_KEYS = new Set(Object.keys(EMPTY_SESSION));

/** shapeOf of `bare(session)`, without making it. */
function sessionShape(session: unknown, values: string[]): string {
  const record = session as Record<string, unknown>;
  let out = '{';
  for (const k in record) {
    const v = ITEM_KEYS.has(k) ? EMPTY_SESSION[k as keyof typeof EMPTY_SESSION] : record[k];
    if (v === undefined) continue;
    out += `${k}:${shapeOf(v, values, k)},`;
  }
  return `${out}}`;
}

function headTemplate(marked: DialogRecord): { parts: Fragment[]; holes: number[] } | null {
  const json = asciiJson(JSON.stringify(recordToResponse(marked)));
  if (!json.endsWith('}') || json.includes('"item":')) return null;
  const parts: Fragment[] = [];
  const holes: number[] = [];
  let from = 0;
  MARK.lastIndex = 0;
  for (let m = MARK.exec(json); m; m = MARK.exec(json)) {
    parts.push(fragment(json.slice(from, m.index)));
    holes.push(Number(m[1]));
    from = m.index + m[0].length;
  }
  parts.push(fragment(json.slice(from, -1)));
  return { parts, holes };
}

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A string as it appears between the quotes of JSON text (ASCII). */
export function jsonText(value: string): string {
  return PLAIN.test(value) ? value : asciiJson(JSON.stringify(value)).slice(1, -1);
}

/** A piece of JSON text cut once and used for many records, with its bytes ready to copy. */
export interface Fragment {
  readonly text: string;
  readonly bytes: Buffer;
}

export function fragment(text: string): Fragment {
  // asciiJson made the text ASCII: latin1 bytes are its UTF-8 bytes.
  return { text, bytes: Buffer.from(text, 'latin1') };
}

/** JSON text as pieces: ASCII strings made for this record, and shared fragments. */
export type JsonPiece = string | Fragment;

/** Where `writeTo` puts a record's pieces (the engine copies them into reused buffers). */
export interface JsonOut {
  put(piece: JsonPiece): void;
  /**
   * Optional: `length` bytes (ASCII JSON) written by `fill` straight into the output's buffer
   * from `at`; `fill` writes exactly `length` bytes.
   */
  putBytes?(length: number, fill: (target: Buffer, at: number) => void): void;
}

const ITEMS_OPEN = ',"item":[';

export class ResponseJson {
  /** Item groups, each also with a comma in front (fewer pieces to copy). */
  private readonly itemGroups: ({ plain: Fragment; comma: Fragment } | null | undefined)[] = [];
  /** The mean items, with the comma that puts them after the item groups. */
  private readonly means = new Map<string, Fragment | null>();
  /** The response without items, with holes for every string the record gives, by shape. */
  private readonly heads = new Map<string, { parts: Fragment[]; holes: number[] } | null>();
  /** Discussion groups with holes for the action texts, by chosen items and actions per item. */
  private readonly discussions = new Map<string, readonly Fragment[] | null>();
  private ratingsOpen: Fragment | undefined;
  private fast = true;
  private verified = 0;

  /** @param verifyCount how many fast-path records are checked against the canonical text. */
  constructor(private readonly verifyCount = 100) {}

  /** Whether the fast path is still on (false after any difference from the canonical text). */
  get fastPath(): boolean {
    return this.fast;
  }

  /** The canonical text, the slow way. */
  canonical(record: DialogRecord): string {
    return asciiJson(JSON.stringify(recordToResponse(record)));
  }

  stringify(record: DialogRecord): string {
    if (!this.fast || !fastEligible(record.session)) return this.canonical(record);
    let text = '';
    for (const piece of this.pieces(record)) text += typeof piece === 'string' ? piece : piece.text;
    if (this.verified < this.verifyCount) {
      this.verified++;
      const canonical = this.canonical(record);
      if (canonical !== text) {
        this.fast = false;
        return canonical;
      }
    }
    return text;
  }

  /**
   * The same text as stringify, as pieces into `out` (no string is built for the record).
   * `shape`: the record's shapeOf (top) and its values, when the caller has them already.
   */
  writeTo(record: DialogRecord, out: JsonOut, shape?: RecordShape): void {
    if (!this.fast || this.verified < this.verifyCount || !fastEligible(record.session)) {
      out.put(this.stringify(record));
      return;
    }
    for (const piece of this.pieces(record, shape)) out.put(piece);
  }

  private pieces(record: DialogRecord, shape?: RecordShape): JsonPiece[] {
    const { session } = record;
    // The head without its closing brace, so the items can follow.
    const out = this.head(record, shape);
    const start = out.length;
    this.ratings(session, out);
    if (session.chosen.length > 0 || session.discussed.length > 0) {
      const before = out.length;
      if (before > start) out.push(',');
      this.discussion(session, out);
      if (out.length === before + 1 && before > start) out.pop();
    }
    if (out.length === start) out.push('}');
    else {
      out.splice(start, 0, ITEMS_OPEN);
      out.push(']}');
    }
    return out;
  }

  private ratings(session: DialogSession, out: JsonPiece[]): void {
    const start = out.length;
    let lifeSum = 0;
    let lifeCount = 0;
    let treatmentSum = 0;
    let treatmentCount = 0;
    for (let i = 0; i < DIALOG_ITEMS.length; i++) {
      const concept = (DIALOG_ITEMS[i] as (typeof DIALOG_ITEMS)[number]).concept;
      const score = session.scores[concept];
      const help = session.helpWanted[concept];
      if (score === undefined && help === undefined) continue;
      if (score !== undefined) {
        if (LIFE[i]) {
          lifeSum += score;
          lifeCount++;
        } else {
          treatmentSum += score;
          treatmentCount++;
        }
      }
      const group = this.itemGroup(concept, score, help);
      if (group === null) continue;
      out.push(out.length > start ? group.comma : group.plain);
    }
    if (out.length === start) return;
    const means = this.meanItems(
      session,
      `${lifeSum}/${lifeCount}|${treatmentSum}/${treatmentCount}`,
    );
    if (means) out.push(means);
    out.splice(start, 0, this.ratingsOpen ?? '');
    out.push(']}');
  }

  /** The JSON of one item's group, cut from the canonical response of a session with only it. */
  private itemGroup(
    concept: DialogItemConcept,
    score: DialogScore | undefined,
    help: boolean | undefined,
  ): { plain: Fragment; comma: Fragment } | null {
    const index =
      (CONCEPT_INDEX.get(concept) ?? 0) * 32 +
      (score ?? 0) * 4 +
      (help === undefined ? 0 : help ? 1 : 2);
    const hit = this.itemGroups[index];
    if (hit !== undefined) return hit;
    const response = sessionToResponse({
      status: 'completed',
      subject: '#probe',
      authored: '2000-01-01T00:00:00+00:00',
      ...EMPTY_SESSION,
      scores: score === undefined ? {} : { [concept]: score },
      helpWanted: help === undefined ? {} : { [concept]: help },
    });
    const ratings = group(response, 'ratings');
    const item = ratings?.item?.find((i) => i.linkId === concept);
    const json = item ? asciiJson(JSON.stringify(item)) : undefined;
    const cut = json ? { plain: fragment(json), comma: fragment(`,${json}`) } : null;
    if (ratings && this.ratingsOpen === undefined) {
      const open = asciiJson(JSON.stringify({ ...ratings, item: [] }));
      if (open.endsWith('"item":[]}')) this.ratingsOpen = fragment(open.slice(0, -2));
    }
    this.itemGroups[index] = cut;
    return cut;
  }

  /**
   * The response without its items: cut from the canonical response of the same record with
   * every string replaced by a marker; the markers are the holes the record's strings go into.
   * Records of the same shape (same fields, same numbers of names and identifiers) share one.
   */
  private head(record: DialogRecord, shape?: RecordShape): JsonPiece[] {
    // The shape of the record without its items (as `bare` would make it), without copying it.
    const { key, values } = shape ?? recordShape(record);
    let template = this.heads.get(key);
    if (template === undefined) {
      const headOnly = { ...record, session: bare(record.session) };
      template = headTemplate(markStrings(headOnly, []) as DialogRecord);
      if (this.heads.size > 5000) this.heads.clear();
      this.heads.set(key, template);
    }
    if (template === null) {
      const headOnly = { ...record, session: bare(record.session) };
      return [asciiJson(JSON.stringify(recordToResponse(headOnly))).slice(0, -1)];
    }
    const out: JsonPiece[] = [];
    const { parts, holes } = template;
    if (parts[0]) out.push(parts[0]);
    for (let i = 0; i < holes.length; i++) {
      out.push(jsonText(values[holes[i] ?? 0] ?? ''));
      const part = parts[i + 1];
      if (part) out.push(part);
    }
    return out;
  }

  /**
   * The discussion group: cut from the canonical response of a session with the same chosen items
   * and the same number of actions per discussed item, whose action texts are markers; the
   * markers are then the holes the record's action texts go into.
   */
  private discussion(session: DialogSession, out: JsonPiece[]): void {
    let key = session.chosen.join(',');
    for (const d of session.discussed) key += `|${d.concept}:${d.actions.length}`;
    let parts = this.discussions.get(key);
    if (parts === undefined) {
      parts = this.discussionTemplate(session);
      if (this.discussions.size > 5000) this.discussions.clear();
      this.discussions.set(key, parts);
    }
    if (parts === null) {
      const g = group(
        sessionToResponse({
          ...bare(session),
          chosen: session.chosen,
          discussed: session.discussed,
        }),
        'discussion',
      );
      if (g) out.push(asciiJson(JSON.stringify(g)));
      return;
    }
    const first = parts[0];
    if (first) out.push(first);
    let hole = 1;
    for (const d of session.discussed)
      for (const action of d.actions) {
        out.push(jsonText(action.what));
        const part = parts[hole];
        if (part) out.push(part);
        hole++;
      }
  }

  private discussionTemplate(session: DialogSession): readonly Fragment[] | null {
    const marks: string[] = [];
    const discussed = session.discussed.map((d) => ({
      concept: d.concept,
      actions: d.actions.map(() => {
        const mark = `@@dialog-fhir-hole-${marks.length}@@`;
        marks.push(mark);
        return { what: mark };
      }),
    }));
    const g = group(
      sessionToResponse({ ...bare(session), chosen: session.chosen, discussed }),
      'discussion',
    );
    if (!g) return null;
    const json = asciiJson(JSON.stringify(g));
    const parts: Fragment[] = [];
    let from = 0;
    for (const mark of marks) {
      const at = json.indexOf(mark, from);
      if (at < 0) return null;
      parts.push(fragment(json.slice(from, at)));
      from = at + mark.length;
    }
    parts.push(fragment(json.slice(from)));
    return parts;
  }

  /** The JSON of the calculated mean items, cut from the canonical response with these scores. */
  private meanItems(session: DialogSession, key: string): Fragment | null {
    const hit = this.means.get(key);
    if (hit !== undefined) return hit;
    const ratings = group(
      sessionToResponse({ ...bare(session), scores: session.scores }),
      'ratings',
    );
    const concepts = new Set<string>(DIALOG_ITEMS.map((i) => i.concept));
    const text = (ratings?.item ?? [])
      .filter((i) => !concepts.has(i.linkId))
      .map((i) => asciiJson(JSON.stringify(i)))
      .join(',');
    const cut = text === '' ? null : fragment(`,${text}`);
    this.means.set(key, cut);
    return cut;
  }
}
