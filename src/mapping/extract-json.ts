/**
 * The NDJSON text of a record's QuestionnaireResponse followed by the Observations `$extract`
 * gives for it (src/fhir extractObservations), fast. A DIALOG rating gives ~20 Observations of
 * ~1 KB each, and building each one as an object and stringifying it costs ~10 µs: for a million
 * sessions that is most of the conversion. Yet an Observation's text depends only on which
 * answer it stands for (item and score, item and "more help", the means' sums) and on a few
 * values the whole response shares (its identity, subject, time, performer).
 *
 * So, as response-json.ts does for the response, the text is assembled from fragments cut from
 * what the canonical code produces:
 * - each Observation, from the canonical extraction of the first record that has that answer,
 *   with holes for its identifier value and for the shared values (subject, effectiveDateTime,
 *   performer, derivedFrom);
 * - the shared values, from `extractionContext` of the record's response built with every string
 *   replaced by a marker (records of the same shape share it), the record's strings filling the
 *   markers;
 * - the identifier values, `derivedIdentifier` of the response's key and the Observation's part,
 *   hashed from the key's prefix once per record.
 * The Observations a record gives, and their order, are predicted from the record (item groups in
 * Questionnaire order, score then "more help", then the SQoL and TS means); each time an
 * Observation is cut, the prediction is checked against the canonical extraction (count, part by
 * identifier), and the first `verifyCount` records are also written the canonical way and compared
 * byte for byte. Any difference turns the fast path off for good, and the canonical text is what
 * gets written. Records the fast path does not cut (response-json.ts fastEligible; statuses other
 * than completed; an authored time without offset) always take the canonical way.
 */
import type { Observation } from '@medplum/fhirtypes';
import { DIALOG_ITEMS, isDateTimeWithOffset } from '../dialog';
import type { Uuid5Prefix } from '../fhir/sha1';
import {
  EXTRACTED_OBSERVATION_SYSTEM,
  derivedUuid,
  derivedUuids,
  extractionContext,
  extractObservations,
} from '../fhir';
import { type DialogRecord, recordToResponse } from './record';
import {
  asciiJson,
  bare,
  fastEligible,
  fragment,
  type Fragment,
  jsonText,
  type JsonOut,
  type JsonPiece,
  markStrings,
  recordShape,
  ResponseJson,
  shapeOf,
} from './response-json';

/** The values every Observation of one response shares, as JSON text (the key as it is). */
type Shared = 'key' | 'subject' | 'effective' | 'performer' | 'derivedFrom';
const SHARED: readonly Shared[] = ['subject', 'effective', 'performer', 'derivedFrom'];

/** A text with holes: `parts[i]` comes before `holes[i]`; the last part closes it. */
interface Template<H> {
  readonly parts: readonly Fragment[];
  readonly holes: readonly H[];
}

/** Where the record's strings go (`values` as shapeOf collects them) in each shared value. */
interface ContextTemplate {
  readonly key: Template<number>;
  readonly subject: Template<number>;
  readonly effective: Template<number>;
  /** null: the response has no performer. */
  readonly performer: Template<number> | null;
  readonly derivedFrom: Template<number>;
}

/** One Observation with holes for its identifier value and the shared values. */
type ObservationTemplate = Template<'id' | Shared> & {
  /** The same text with each run of shared values (and the text between them) as one slot. */
  readonly joined: {
    readonly texts: readonly string[];
    /** `texts` as bytes (ASCII). */
    readonly bytes: readonly Buffer[];
    readonly slots: readonly Slot[];
    /** Bytes of the line without its runs of shared values: texts, quoted identifier, newline. */
    readonly fixed: number;
  };
};

/** The identifier value, or a run of shared values (an index into RUNS). */
type Slot = 'id' | number;

/** Runs of shared values with the text between them, e.g. subject, effectiveDateTime, performer. */
const RUNS: { readonly holes: readonly Shared[]; readonly glue: readonly string[] }[] = [];
const RUN_INDEX = new Map<string, number>();

function runSlot(holes: readonly Shared[], glue: readonly string[]): number {
  const key = `${holes.join('|')}\u0000${glue.join('\u0000')}`;
  let index = RUN_INDEX.get(key);
  if (index === undefined) {
    index = RUNS.length;
    RUNS.push({ holes, glue });
    RUN_INDEX.set(key, index);
  }
  return index;
}

function joinRun(slot: number, shared: Record<Shared, string>): string {
  const run = RUNS[slot];
  if (!run) return '';
  let text = shared[run.holes[0] as Shared];
  for (let i = 1; i < run.holes.length; i++)
    text += (run.glue[i - 1] as string) + shared[run.holes[i] as Shared];
  return text;
}

const KEY_ONLY = /^,"[A-Za-z]+":$/;

/** A template's text with its consecutive shared holes joined into runs. */
function joinRuns(template: Template<'id' | Shared>): ObservationTemplate['joined'] {
  const { parts, holes } = template;
  const texts: string[] = [(parts[0] as Fragment).text];
  const slots: Slot[] = [];
  for (let i = 0; i < holes.length; i++) {
    const h = holes[i] as 'id' | Shared;
    if (h === 'id') {
      slots.push('id');
      texts.push((parts[i + 1] as Fragment).text);
      continue;
    }
    const run: Shared[] = [h];
    const glue: string[] = [];
    // Joined across text that is only a key (so runs stay few, whatever the values).
    while (
      i + 1 < holes.length &&
      holes[i + 1] !== 'id' &&
      KEY_ONLY.test(parts[i + 1]?.text ?? '')
    ) {
      glue.push((parts[i + 1] as Fragment).text);
      i++;
      run.push(holes[i] as Shared);
    }
    slots.push(runSlot(run, glue));
    texts.push((parts[i + 1] as Fragment).text);
  }
  const bytes = texts.map((t) => Buffer.from(t, 'latin1'));
  let fixed = 1;
  for (const b of bytes) fixed += b.length;
  for (const slot of slots) if (slot === 'id') fixed += 38;
  return { texts, bytes, slots, fixed };
}

/** An Observation the record gives: its part (linkId or measure) and its template's key. */
interface Expected {
  readonly part: string;
  /** The part's UTF-8 bytes (what its identifier hashes). */
  readonly bytes: Uint8Array;
  readonly key: string;
}

const partBytes = new Map<string, Uint8Array>();
/** Expected Observations made once: by item and score, item and help, and the means' sums. */
const SCORE_EXPECTED: (Expected | undefined)[] = [];
const HELP_EXPECTED: (Expected | undefined)[] = [];
const MEANS_EXPECTED = new Map<string, Expected[]>();

function expect(part: string, key: string): Expected {
  let bytes = partBytes.get(part);
  if (!bytes) {
    bytes = Uint8Array.from(Buffer.from(part, 'utf8'));
    partBytes.set(part, bytes);
  }
  return { part, bytes, key };
}

const MARK = /@@(\d+)@@/g;
const HOLE = /"@@dialog-fhir-hole-(\w+)@@"/g;
const hole = (name: string): string => `@@dialog-fhir-hole-${name}@@`;

/** `text` split at the record-string markers of markStrings; `raw`: not inside JSON quotes. */
function markedTemplate(text: string): Template<number> {
  const parts: Fragment[] = [];
  const holes: number[] = [];
  let from = 0;
  MARK.lastIndex = 0;
  for (let m = MARK.exec(text); m; m = MARK.exec(text)) {
    parts.push(fragment(text.slice(from, m.index)));
    holes.push(Number(m[1]));
    from = m.index + m[0].length;
  }
  parts.push(fragment(text.slice(from)));
  return { parts, holes };
}

function fill(template: Template<number>, values: readonly string[], json: boolean): string {
  let text = template.parts[0]?.text ?? '';
  for (let i = 0; i < template.holes.length; i++) {
    const value = values[template.holes[i] ?? 0] ?? '';
    text += (json ? jsonText(value) : value) + (template.parts[i + 1]?.text ?? '');
  }
  return text;
}

const json = (value: unknown): string => asciiJson(JSON.stringify(value));

/** The shared values of an extraction context as the text the templates' holes take. */
function sharedText(
  context: NonNullable<ReturnType<typeof extractionContext>>,
): Record<Shared, string> {
  return {
    key: context.key,
    subject: json(context.subject),
    effective: json(context.effective),
    performer: context.performer ? json([context.performer]) : '',
    derivedFrom: json([context.responseReference]),
  };
}

/** A record on the fast path: its response's pieces, and what its Observations are made of. */
interface Plan {
  readonly response: readonly JsonPiece[];
  readonly templates: readonly ObservationTemplate[];
  readonly expected: readonly Expected[];
  readonly shared: Record<Shared, string>;
  readonly uuids: Uuid5Prefix;
}

/** The Observations' lines (after the response's) as one string. */
function observationsText(plan: Plan): string {
  const { templates, expected, shared, uuids } = plan;
  // Each run of shared values (with the text between them) is joined once per record.
  const runs: (string | undefined)[] = [];
  let text = '\n';
  for (let i = 0; i < templates.length; i++) {
    const { texts, slots } = (templates[i] as ObservationTemplate).joined;
    text += texts[0] as string;
    for (let h = 0; h < slots.length; h++) {
      const slot = slots[h] as Slot;
      text +=
        (slot === 'id'
          ? `"${uuids.uuid((expected[i] as Expected).bytes)}"`
          : (runs[slot] ??= joinRun(slot, shared))) + (texts[h + 1] as string);
    }
    text += '\n';
  }
  return text;
}

const QUOTE = 0x22;
const NEWLINE = 0x0a;

/**
 * The same bytes as observationsText, written into the output's buffer: the templates' bytes
 * copied, each identifier's hex written from its hash, no string made per Observation.
 */
function writeObservationBytes(plan: Plan, putBytes: NonNullable<JsonOut['putBytes']>): void {
  const { templates, expected, shared, uuids } = plan;
  const runs: (Buffer | undefined)[] = [];
  let length = 1;
  for (const template of templates) {
    const { slots, fixed } = template.joined;
    length += fixed;
    for (const slot of slots)
      if (slot !== 'id')
        length += (runs[slot] ??= Buffer.from(joinRun(slot, shared), 'latin1')).length;
  }
  putBytes(length, (target, start) => {
    let at = start;
    target[at++] = NEWLINE;
    for (let i = 0; i < templates.length; i++) {
      const { bytes, slots } = (templates[i] as ObservationTemplate).joined;
      target.set(bytes[0] as Buffer, at);
      at += (bytes[0] as Buffer).length;
      for (let h = 0; h < slots.length; h++) {
        const slot = slots[h] as Slot;
        if (slot === 'id') {
          target[at++] = QUOTE;
          uuids.uuidInto((expected[i] as Expected).bytes, target, at);
          at += 36;
          target[at++] = QUOTE;
        } else {
          const run = runs[slot] as Buffer;
          target.set(run, at);
          at += run.length;
        }
        const next = bytes[h + 1] as Buffer;
        target.set(next, at);
        at += next.length;
      }
      target[at++] = NEWLINE;
    }
  });
}

export class ExtractJson {
  private readonly response: ResponseJson;
  private readonly contexts = new Map<string, ContextTemplate | null>();
  private readonly observations = new Map<string, ObservationTemplate>();
  private fast = true;
  private verified = 0;

  /** @param verifyCount how many fast-path records are checked against the canonical text. */
  constructor(private readonly verifyCount = 100) {
    this.response = new ResponseJson(verifyCount);
  }

  /** Whether the fast path is still on (false after any difference from the canonical text). */
  get fastPath(): boolean {
    return this.fast && this.response.fastPath;
  }

  /** The canonical text: the response, then each Observation extractObservations gives. */
  canonical(record: DialogRecord): string {
    const response = recordToResponse(record);
    let text = `${json(response)}\n`;
    const result = extractObservations(response);
    if (result.ok) for (const o of result.observations) text += `${json(o)}\n`;
    return text;
  }

  stringify(record: DialogRecord): string {
    const plan = this.plan(record);
    if (!plan) return this.canonical(record);
    let text = '';
    for (const piece of plan.response) text += typeof piece === 'string' ? piece : piece.text;
    text += observationsText(plan);
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
   * The same text as stringify, as pieces into `out`; the Observations' bytes straight into the
   * output's buffer when it takes them (JsonOut.putBytes).
   */
  writeTo(record: DialogRecord, out: JsonOut): void {
    if (this.verified < this.verifyCount) {
      out.put(this.stringify(record));
      return;
    }
    const plan = this.plan(record);
    if (!plan) {
      out.put(this.canonical(record));
      return;
    }
    for (const piece of plan.response) out.put(piece);
    if (out.putBytes) writeObservationBytes(plan, out.putBytes.bind(out));
    else out.put(observationsText(plan));
  }

  /** What the record's text is made of, or undefined when it takes the canonical way. */
  private plan(record: DialogRecord): Plan | undefined {
    const { session } = record;
    if (
      !this.fast ||
      session.status !== 'completed' ||
      !fastEligible(session) ||
      !isDateTimeWithOffset(session.authored)
    )
      return undefined;
    const shape = recordShape(record);
    const values = shape.values;
    const context = this.context(shape.key, record);
    if (!context) return undefined;
    const shared: Record<Shared, string> = {
      key: fill(context.key, values, false),
      subject: fill(context.subject, values, true),
      effective: fill(context.effective, values, true),
      performer: context.performer ? fill(context.performer, values, true) : '',
      derivedFrom: fill(context.derivedFrom, values, true),
    };
    const expected = this.expected(record);
    const templates: ObservationTemplate[] = [];
    for (const e of expected) {
      const template = this.observations.get(e.key);
      if (template) templates.push(template);
      else {
        if (!this.learn(record, expected, shared)) return undefined;
        return this.plan(record);
      }
    }
    const response: JsonPiece[] = [];
    this.response.writeTo(record, { put: (piece) => response.push(piece) }, shape);
    return {
      response,
      templates,
      expected,
      shared,
      uuids: derivedUuids(EXTRACTED_OBSERVATION_SYSTEM, shared.key),
    };
  }

  /**
   * The shared values' templates for records of this shape: from the context of the response of
   * the record with every string marked, checked against the record's own context.
   */
  private context(shape: string, record: DialogRecord): ContextTemplate | null {
    let template = this.contexts.get(shape);
    if (template !== undefined) return template;
    template = null;
    const headOnly = { ...record, session: bare(record.session) };
    let marked: ReturnType<typeof extractionContext>;
    try {
      marked = extractionContext(recordToResponse(markStrings(headOnly, []) as DialogRecord));
    } catch {
      marked = undefined; // a record whose strings cannot be markers: the canonical way
    }
    const real = extractionContext(recordToResponse(headOnly));
    if (marked && real && marked.contextExtensions.length === 0) {
      const text = sharedText(marked);
      const candidate: ContextTemplate = {
        key: markedTemplate(text.key),
        subject: markedTemplate(text.subject),
        effective: markedTemplate(text.effective),
        performer: marked.performer ? markedTemplate(text.performer) : null,
        derivedFrom: markedTemplate(text.derivedFrom),
      };
      const values: string[] = [];
      shapeOf(record, values, undefined, true);
      const want = sharedText(real);
      const same =
        real.contextExtensions.length === 0 &&
        (real.performer === undefined) === (marked.performer === undefined) &&
        fill(candidate.key, values, false) === want.key &&
        SHARED.every((s) => {
          const t = candidate[s];
          return t ? fill(t, values, true) === want[s] : want[s] === '';
        });
      if (same) template = candidate;
    }
    if (this.contexts.size > 5000) this.contexts.clear();
    this.contexts.set(shape, template);
    return template;
  }

  /** The Observations the record gives, predicted: item groups in order, then the means. */
  private expected(record: DialogRecord): Expected[] {
    const { scores, helpWanted } = record.session;
    const out: Expected[] = [];
    let lifeSum = 0;
    let lifeCount = 0;
    let treatmentSum = 0;
    let treatmentCount = 0;
    for (let i = 0; i < DIALOG_ITEMS.length; i++) {
      const item = DIALOG_ITEMS[i] as (typeof DIALOG_ITEMS)[number];
      const score = scores[item.concept];
      const help = helpWanted[item.concept];
      if (score !== undefined) {
        const slot = i * 8 + score;
        out.push(
          (SCORE_EXPECTED[slot] ??= expect(`${item.concept}.score`, `s|${item.concept}|${score}`)),
        );
        if (item.group === 'life') {
          lifeSum += score;
          lifeCount++;
        } else {
          treatmentSum += score;
          treatmentCount++;
        }
      }
      if (help !== undefined) {
        const slot = i * 2 + (help ? 1 : 0);
        out.push(
          (HELP_EXPECTED[slot] ??= expect(`${item.concept}.help`, `h|${item.concept}|${help}`)),
        );
      }
    }
    if (lifeCount + treatmentCount > 0) {
      const sums = `${lifeSum}/${lifeCount}|${treatmentSum}/${treatmentCount}`;
      let means = MEANS_EXPECTED.get(sums);
      if (!means) {
        means = [];
        if (lifeCount > 0) means.push(expect('sqol-mean', `m|sqol|${sums}`));
        if (treatmentCount > 0) means.push(expect('ts-mean', `m|ts|${sums}`));
        if (MEANS_EXPECTED.size > 5000) MEANS_EXPECTED.clear();
        MEANS_EXPECTED.set(sums, means);
      }
      for (const m of means) out.push(m);
    }
    return out;
  }

  /**
   * Cuts the templates this record's Observations need from its canonical extraction; false
   * (and the fast path off) when the extraction is not what `expected` predicted.
   */
  private learn(
    record: DialogRecord,
    expected: readonly Expected[],
    shared: Record<Shared, string>,
  ): boolean {
    const result = extractObservations(recordToResponse(record));
    const observations = result.ok ? result.observations : [];
    if (observations.length !== expected.length) {
      this.fast = false;
      return false;
    }
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i] as Expected;
      const o = observations[i] as Observation;
      if (
        o.identifier?.[0]?.value !== derivedUuid(EXTRACTED_OBSERVATION_SYSTEM, shared.key, e.part)
      ) {
        this.fast = false;
        return false;
      }
      if (this.observations.has(e.key)) continue;
      const template = observationTemplate(o, shared);
      if (!template) {
        this.fast = false;
        return false;
      }
      if (this.observations.size > 5000) this.observations.clear();
      this.observations.set(e.key, template);
    }
    return true;
  }
}

/**
 * An Observation's text with holes where its identifier value and the shared values are, or null
 * when a shared value is not where the template expects it (checked by filling it back).
 */
function observationTemplate(
  observation: Observation,
  shared: Record<Shared, string>,
): ObservationTemplate | null {
  const copy = JSON.parse(JSON.stringify(observation)) as Record<string, unknown>;
  const identifier = (copy.identifier as { value?: string }[] | undefined)?.[0];
  if (!identifier) return null;
  identifier.value = hole('id');
  const replace = (key: string, name: Shared): void => {
    if (key in copy && json(copy[key]) === shared[name]) copy[key] = hole(name);
  };
  replace('subject', 'subject');
  replace('effectiveDateTime', 'effective');
  replace('performer', 'performer');
  replace('derivedFrom', 'derivedFrom');
  const text = json(copy);
  const parts: Fragment[] = [];
  const holes: ('id' | Shared)[] = [];
  let from = 0;
  HOLE.lastIndex = 0;
  for (let m = HOLE.exec(text); m; m = HOLE.exec(text)) {
    parts.push(fragment(text.slice(from, m.index)));
    holes.push(m[1] as 'id' | Shared);
    from = m.index + m[0].length;
  }
  parts.push(fragment(text.slice(from)));
  const template: ObservationTemplate = { parts, holes, joined: joinRuns({ parts, holes }) };
  // Filled back with this response's values, it must be the Observation's own text.
  let back = parts[0]?.text ?? '';
  holes.forEach((h, i) => {
    back +=
      (h === 'id' ? `"${observation.identifier?.[0]?.value ?? ''}"` : shared[h]) +
      (parts[i + 1]?.text ?? '');
  });
  return back === json(observation) ? template : null;
}
