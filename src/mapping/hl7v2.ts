/**
 * HL7 v2 (kind `hl7v2`). Reads a stream of messages (one after another, `\r`, `\n` or `\r\n`
 * between segments, MLLP framing and FHS/BHS batch wrappers tolerated) and writes one ORU^R01 per
 * session. Parsing of each message is Medplum's `Hl7Message`; this module checks what Medplum
 * accepts silently: the encoding characters must be the mapping's (a message written with other
 * delimiters is rejected, not re-read), every segment must be a segment, and text is unescaped.
 *
 * - ORU^R01: PID-3 identifiers (CX-4 assigning authority → system, NHS numbers checked), PID-5
 *   name, OBR-3 filler order number → the response identifier, OBR-7 / OBX-14 → authored (they
 *   must agree), OBX-11 (and OBR-25) → status, one OBX per item score (OBX-3 SNOMED code, OBX-5
 *   the score) and one per "more help" answer (OBX-3 `help-<item>` in the dialog CodeSystem).
 * - One ORU^R01 is one session: a second PID or OBR, an OBX before the OBR, a repetition in a
 *   single-valued field, or a repeated / extra-component / subcomponent OBX-3 or OBX-5 rejects
 *   the message, naming the segment or field: nothing is merged or cut to its first value.
 * - What a converted ORU holds that is not read (NTE, PV1, ORC, Z-segments, other fields such as
 *   OBX-6/7/8/16 or OBR-2, other names, EI namespaces, HD-2/3) is reported once per kind, with
 *   counts, as a warning-level notice: the session is converted and the loss is named.
 * - The HL7 null `""` (a whole field or component) is no value, never text.
 * - ADT^A01 / ADT^A03: typed admit / discharge events (see AdtEvent), not sessions. One event
 *   per message, checked as an ORU is (a second EVN, PID or PV1, a repetition in a field read,
 *   refuse it), and what a converted event holds that is not read is reported the same way.
 */
import { type Hl7Field, Hl7Message, type Hl7Segment } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import {
  type DialogItemConcept,
  type DialogScore,
  isDialogItemConcept,
  itemByConcept,
  itemBySnomed,
  SNOMED_SYSTEM,
} from '../dialog';
import type { DialogSession, ResponseStatus } from '../fhir';
import { error } from '../validation/outcome';
import { Codes, isNhsNumber } from './codes';
import {
  fhirDateTime,
  readFhirDateTime,
  subMillisecond,
  withSubMillisecond,
  ZoneClock,
} from './datetime';
import { placedIssue, targetExpression } from './issues';
import {
  type DialogRecord,
  displayNotFromName,
  nativeSession,
  notHeldByNative,
  type PersonDetails,
  type PersonIdentifier,
  type PersonName,
} from './record';
import type { Hl7Mapping } from './spec';
import type {
  AdtEvent,
  FormatReader,
  FormatWriter,
  Projection,
  ReadOptions,
  ReadSink,
  WriteOptions,
  WriteResult,
} from './types';
import { CONTROL_CHARACTER, CONTROL_CHARACTER_TEXT, TextChunks } from './types';

interface FieldRef {
  readonly segment: string;
  readonly field: number;
  readonly component?: number;
  readonly text: string;
}

function ref(text: string): FieldRef {
  const m = /^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`Not an HL7 field reference: ${text}`);
  return {
    segment: m[1] ?? '',
    field: Number(m[2]),
    ...(m[3] ? { component: Number(m[3]) } : {}),
    text,
  };
}

// ---- escaping ------------------------------------------------------------------------------

type Encoding = Hl7Mapping['encoding'];

/** The HL7 null: a field or component that is `""` means "no value" (or "delete"), never text. */
const HL7_NULL = '""';

export function unescapeHl7(text: string, enc: Encoding): string {
  return unescapeText(text, enc).text;
}

const HEX_ESCAPE = /^X(?:[0-9A-Fa-f]{2})+$/;
/** `\Zxxx\`: an escape whose meaning the sender and receiver agree on locally. */
const LOCAL_ESCAPE = /^Z/;
/** `\Cxxyy\`, `\Mxxyy[zz]\`: ISO 2022 switches to another (single- or multi-byte) character set. */
const CHARSET_ESCAPE = /^(?:C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?)$/;
/** The formatting commands of FT text (v2.5.1 2.7.6), with their number where they take one. */
const FORMATTING = /^\.(?:(br|fi|nf|ce)|(sp|sk) ?(\d{0,3})|(in|ti) ?([+-]?\d{0,3}))$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An escape this reader cannot turn into text: what it is, for the issue naming its field. */
export type ForeignEscape = 'local' | 'charset';

/**
 * A formatting command as plain text: the commands that end a line (`.br`, `.sp n`: n line
 * breaks, at least one; `.ce`: centring has no meaning in plain text, the line still ends) give
 * line breaks, `.sk n` n spaces; those that only lay out the lines (`.fi`, `.nf` word wrap,
 * `.in`, `.ti` indents) give nothing. Undefined: not a formatting command.
 */
function formattingText(code: string): string | undefined {
  const m = FORMATTING.exec(code);
  if (!m) return undefined;
  if (m[1] !== undefined) return m[1] === 'br' || m[1] === 'ce' ? '\n' : '';
  if (m[2] !== undefined) {
    const n = Number(m[3] || '1');
    // `.sp` ends the line whatever its number; `.sk 0` skips nothing.
    return m[2] === 'sp' ? '\n'.repeat(Math.max(1, n)) : ' '.repeat(n);
  }
  return '';
}

/**
 * Unescapes HL7 text: `\F\ \S\ \T\ \R\ \E\`; `\Xhh…\` as hex bytes, consecutive hex escapes
 * together, decoded as UTF-8 (the only character set read); the formatting commands of FT text
 * as line breaks and spaces (formattingText); the highlighting marks `\H\` and `\N\` dropped.
 * `badHex`: a run of hex bytes that is not UTF-8 (read byte by byte as Latin-1, and refused by the
 * reader). `foreign`: a locally defined (`\Z…\`) or character-set (`\C…\`, `\M…\`) escape, which
 * cannot be read without an agreement with the sender: left as it is in `text`, and refused by
 * the reader in a field it reads. Other sequences between escape characters (a stray `\` in
 * text, `\Y\`) are kept as text.
 */
function unescapeText(
  text: string,
  enc: Encoding,
): { text: string; badHex: boolean; foreign?: ForeignEscape } {
  if (!text.includes(enc.escape)) return { text, badHex: false };
  const e = enc.escape;
  const table: Record<string, string> = {
    F: enc.field,
    S: enc.component,
    T: enc.subcomponent,
    R: enc.repetition,
    E: e,
    H: '',
    N: '',
  };
  const escapeAt = (i: number): { code: string; next: number } | undefined => {
    if (text.charAt(i) !== e) return undefined;
    const end = text.indexOf(e, i + 1);
    return end > i ? { code: text.slice(i + 1, end), next: end + 1 } : undefined;
  };
  let out = '';
  let badHex = false;
  let foreign: ForeignEscape | undefined;
  let i = 0;
  while (i < text.length) {
    const escape = escapeAt(i);
    if (escape) {
      const mapped = Object.hasOwn(table, escape.code)
        ? table[escape.code]
        : formattingText(escape.code);
      if (mapped !== undefined) {
        out += mapped;
        i = escape.next;
        continue;
      }
      if (HEX_ESCAPE.test(escape.code)) {
        let hex = escape.code.slice(1);
        let next = escape.next;
        for (let more = escapeAt(next); more && HEX_ESCAPE.test(more.code); more = escapeAt(next)) {
          hex += more.code.slice(1);
          next = more.next;
        }
        const bytes = Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
        try {
          out += utf8.decode(bytes);
        } catch {
          badHex = true;
          for (const byte of bytes) out += String.fromCharCode(byte);
        }
        i = next;
        continue;
      }
      if (foreign === undefined && LOCAL_ESCAPE.test(escape.code)) foreign = 'local';
      else if (foreign === undefined && CHARSET_ESCAPE.test(escape.code)) foreign = 'charset';
    }
    out += text.charAt(i);
    i++;
  }
  return { text: out, badHex, ...(foreign ? { foreign } : {}) };
}

/** The first field of a segment holding a hex escape that is not UTF-8, if any. */
function badHexField(segment: Hl7Segment, enc: Encoding): number | undefined {
  const marker = `${enc.escape}X`;
  const first = segment.name === 'MSH' ? 3 : 1;
  for (let f = first; f < segment.fields.length; f++)
    for (const rep of repetitions(segment, f))
      for (const component of rep)
        if (component.includes(marker))
          for (const part of component.split(enc.subcomponent))
            if (unescapeText(part, enc).badHex) return f;
  return undefined;
}

/** The first field of a segment whose text, unescaped, holds a control character FHIR may not. */
function controlField(segment: Hl7Segment, enc: Encoding): number | undefined {
  const first = segment.name === 'MSH' ? 3 : 1;
  for (let f = first; f < segment.fields.length; f++)
    for (const rep of repetitions(segment, f))
      for (const component of rep)
        for (const part of component.split(enc.subcomponent))
          if (CONTROL_CHARACTER.test(unescapeText(part, enc).text)) return f;
  return undefined;
}

/** A field a reader reads as text, and the FHIRPath (or, for an event, the field) it goes to. */
interface TextField {
  readonly ref: FieldRef;
  readonly expression: string;
}

/**
 * One issue per field read as text that holds an escape this reader cannot interpret
 * (unescapeText's `foreign`): the message is refused naming the field, never converted with the
 * escape kept as literal text. Fields the mapping does not read are not looked at: what they
 * hold is reported as not read.
 */
function foreignEscapes(
  ctx: MessageContext,
  fields: readonly TextField[],
): OperationOutcomeIssue[] {
  const { message, enc, file } = ctx;
  const e = enc.escape;
  const issues: OperationOutcomeIssue[] = [];
  for (const { ref: r, expression } of fields)
    for (const segment of message.getAllSegments(r.segment)) {
      const foreign = foreignIn(repetitions(segment, r.field), enc);
      if (!foreign) continue;
      const what =
        foreign === 'local'
          ? `a locally defined escape (${e}Z…${e}), whose meaning only an agreement with the sender gives`
          : `a character-set escape (${e}C…${e} or ${e}M…${e}, ISO 2022), and this mapping reads UTF-8 text only`;
      issues.push(
        placedIssue(
          'not-supported',
          `${r.text} holds ${what}: the message is not converted`,
          expression,
          file,
          ctx.place(segment, r.text),
        ),
      );
    }
  return issues;
}

function foreignIn(reps: readonly (readonly string[])[], enc: Encoding): ForeignEscape | undefined {
  for (const rep of reps)
    for (const component of rep) {
      if (!component.includes(enc.escape)) continue;
      for (const part of component.split(enc.subcomponent)) {
        const foreign = unescapeText(part, enc).foreign;
        if (foreign) return foreign;
      }
    }
  return undefined;
}

export function escapeHl7(text: string, enc: Encoding): string {
  // Text that is exactly "" would read back as the HL7 null (no value): write it as hex.
  if (text === HL7_NULL) return `${enc.escape}X2222${enc.escape}`;
  let out = '';
  for (const ch of text) {
    if (ch === enc.escape) out += `${enc.escape}E${enc.escape}`;
    else if (ch === enc.field) out += `${enc.escape}F${enc.escape}`;
    else if (ch === enc.component) out += `${enc.escape}S${enc.escape}`;
    else if (ch === enc.subcomponent) out += `${enc.escape}T${enc.escape}`;
    else if (ch === enc.repetition) out += `${enc.escape}R${enc.escape}`;
    else if (ch === '\r' || ch === '\n')
      out += `${enc.escape}X0${ch === '\r' ? 'D' : 'A'}${enc.escape}`;
    else out += ch;
  }
  return out;
}

// ---- date-times ----------------------------------------------------------------------------

const DTM = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$/;

type DtmRead =
  { readonly ok: true; readonly value: string } | { readonly ok: false; readonly message: string };

/** HL7 DTM (at least to the minute) → FHIR dateTime; without an offset, read in the zone. */
export function readDtm(text: string, clock: ZoneClock): DtmRead {
  const m = DTM.exec(text);
  if (!m)
    return { ok: false, message: 'is not a date and time to the minute (yyyyMMddHHmm[ss][+zzzz])' };
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = Number(m[6] ?? '0');
  const millisecond = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  // DTM holds up to four digits of a second; the fourth, beyond the instant's milliseconds, is
  // kept in the text (FHIR dateTime holds any number).
  const tenthMs = (m[7] ?? '').slice(3).replace(/0+$/, '');
  const wall = { year, month, day, hour, minute, second, millisecond };
  const check = new Date(Date.UTC(2000, month - 1, day));
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    check.getUTCMonth() !== month - 1 ||
    (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    return { ok: false, message: 'is not a real date and time' };
  const zone = m[8];
  if (zone) {
    const sign = zone.startsWith('-') ? -1 : 1;
    const offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000;
    if (Number(zone.slice(3, 5)) > 59 || Math.abs(offset) > 14 * 3_600_000)
      return { ok: false, message: 'has an impossible offset' };
    const asUtc = Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
    return { ok: true, value: withSubMillisecond(fhirDateTime(asUtc - offset, offset), tenthMs) };
  }
  const at = clock.instantOf(wall);
  if (!at.ok)
    return {
      ok: false,
      message:
        at.reason === 'gap'
          ? 'has no offset and is a local time the clocks skip'
          : 'has no offset and is a local time that happens twice, so the moment is ambiguous',
    };
  return { ok: true, value: withSubMillisecond(fhirDateTime(at.instant, at.offset), tenthMs) };
}

/**
 * FHIR dateTime → HL7 DTM with its own offset (yyyyMMddHHmmss[.SSSS]+zzzz): up to four digits of
 * a second, what DTM holds (the projection names more as not held).
 */
export function writeDtm(value: string): string | undefined {
  const read = readFhirDateTime(value);
  if (!read) return undefined;
  const text = withSubMillisecond(
    fhirDateTime(read.instant, read.offset),
    subMillisecond(value).slice(0, 1).replace(/0+$/, ''),
  );
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?([+-]\d{2}):(\d{2})$/.exec(
    text,
  );
  if (!m) return undefined;
  return `${m[1]}${m[2]}${m[3]}${m[4]}${m[5]}${m[6]}${m[7] ?? ''}${m[8]}${m[9]}`;
}

function formatNow(date: Date): string {
  return writeDtm(fhirDateTime(Math.floor(date.getTime() / 1000) * 1000, 0)) ?? '';
}

// ---- compiled mapping ------------------------------------------------------------------------

interface Compiled {
  readonly spec: Hl7Mapping;
  readonly clock: ZoneClock;
  readonly encodingChars: string;
  readonly pidIds: FieldRef;
  readonly pidName: FieldRef;
  readonly pidBirth: FieldRef | undefined;
  readonly pidSex: FieldRef | undefined;
  readonly order: {
    readonly identifier: FieldRef;
    readonly time: FieldRef;
    readonly status: FieldRef;
  };
  readonly obx: {
    readonly type: FieldRef;
    readonly code: FieldRef;
    readonly value: FieldRef;
    readonly status: FieldRef;
    readonly time: FieldRef;
  };
  readonly scoreCodes: Codes<number>;
  readonly helpCodes: Codes<boolean>;
  readonly statusToCode: Map<string, string>;
  readonly systemToCodingSystem: Map<string, string>;
  readonly event: {
    readonly recordedAt: FieldRef;
    readonly location: FieldRef;
    readonly visitNumber: FieldRef;
    readonly organisation: FieldRef;
  };
}

const compiled = new WeakMap<Hl7Mapping, Compiled>();

function compile(spec: Hl7Mapping): Compiled {
  const hit = compiled.get(spec);
  if (hit) return hit;
  const e = spec.encoding;
  const r = spec.results;
  const result: Compiled = {
    spec,
    clock: new ZoneClock(spec.timeZone),
    encodingChars: `${e.field}${e.component}${e.repetition}${e.escape}${e.subcomponent}`,
    pidIds: ref(spec.patient.identifiers),
    pidName: ref(spec.patient.name),
    pidBirth: spec.patient.birthDate ? ref(spec.patient.birthDate) : undefined,
    pidSex: spec.patient.sex ? ref(spec.patient.sex) : undefined,
    order: {
      identifier: ref(r.order.identifier),
      time: ref(r.order.time),
      status: ref(r.order.status),
    },
    obx: {
      type: ref(r.observation.type),
      code: ref(r.observation.code),
      value: ref(r.observation.value),
      status: ref(r.observation.status),
      time: ref(r.observation.time),
    },
    scoreCodes: new Codes<number>(r.score.codes),
    helpCodes: new Codes<boolean>(r.helpWanted.codes),
    statusToCode: new Map(Object.entries(r.statusCodes).map(([code, status]) => [status, code])),
    systemToCodingSystem: new Map(
      Object.entries(r.codingSystems).map(([id, system]) => [system, id]),
    ),
    event: {
      recordedAt: ref(spec.eventFields.recordedAt),
      location: ref(spec.eventFields.location),
      visitNumber: ref(spec.eventFields.visitNumber),
      organisation: ref(spec.eventFields.organisation),
    },
  };
  compiled.set(spec, result);
  return result;
}

// ---- reading ---------------------------------------------------------------------------------

interface Line {
  readonly text: string;
  readonly line: number;
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;
const READABLE_CHARSETS = new Set(['', 'ASCII', 'UNICODE UTF-8']);
const BATCH_SEGMENTS = new Set(['FHS', 'BHS', 'BTS', 'FTS']);
/** MLLP framing characters. */
const VT = 0x0b;
const FS = 0x1c;

export function createHl7Reader(
  spec: Hl7Mapping,
  options: ReadOptions,
  sink: ReadSink,
): FormatReader {
  const c = compile(spec);
  const file = options.file;
  const enc = spec.encoding;
  let pending = '';
  let lineNumber = 0;
  let messageNumber = 0;
  let current: Line[] = [];
  let stray: Line[] = [];

  function acceptLine(raw: string): void {
    lineNumber++;
    // MLLP framing: VT before a message, FS (+CR) after it.
    let text = raw.charCodeAt(0) === VT ? raw.slice(1) : raw;
    if (text.charCodeAt(text.length - 1) === FS) text = text.slice(0, -1);
    if (text.trim() === '') return;
    const name = text.slice(0, 3);
    if (BATCH_SEGMENTS.has(name)) return;
    if (name === 'MSH') {
      finishMessage();
      current = [{ text, line: lineNumber }];
      return;
    }
    if (current.length === 0) stray.push({ text, line: lineNumber });
    else current.push({ text, line: lineNumber });
  }

  /** What converted messages held that the mapping does not read: reported once each at the end. */
  const unread = new Map<
    string,
    { part: UnreadPart; count: number; messages: number; lastMessage: number }
  >();
  function noteUnread(part: UnreadPart, n: number): void {
    const seen = unread.get(part.key);
    if (!seen) unread.set(part.key, { part, count: 1, messages: 1, lastMessage: n });
    else {
      seen.count++;
      if (seen.lastMessage !== n) {
        seen.messages++;
        seen.lastMessage = n;
      }
    }
  }
  function reportUnread(): void {
    for (const { part, count, messages } of unread.values())
      sink.notice(
        placedIssue(
          'structure',
          `${part.what} not read by this mapping; ${part.plural ? 'their' : 'its'} content is not converted (${count}, in ${messages} message(s); the first is here)`,
          part.key,
          file,
          part.where,
          // Converted, with the loss named: a warning, as what FHIR → native cannot hold is a
          // count in the summary. A normal ORU carries PV1 and ORC, so an error here would make
          // every feed a failed run (CLI exit 1) although every session was converted.
          'warning',
        ),
      );
    unread.clear();
  }

  function finishStray(): void {
    if (stray.length === 0) return;
    const first = stray[0]?.line ?? 0;
    const location = `line ${first}`;
    sink.reject(
      [
        placedIssue(
          'structure',
          'Segments outside any message (no MSH segment before them)',
          'MSH',
          file,
          location,
        ),
      ],
      location,
    );
    stray = [];
  }

  function finishMessage(): void {
    finishStray();
    if (current.length === 0) return;
    messageNumber++;
    const lines = current;
    current = [];
    readMessage(lines, messageNumber);
  }

  function readMessage(lines: Line[], n: number): void {
    const first = lines[0];
    const location = `message ${n} (line ${first?.line ?? 0})`;
    const reject = (message: string, expression: string, where = location): void =>
      sink.reject([placedIssue('structure', message, expression, file, where)], location);
    const msh = first?.text ?? '';
    // Bytes that are not UTF-8 decode to U+FFFD: a name would lose its letters without a word.
    if (decoder.sawNotUtf8 && lines.some((line) => line.text.includes('\uFFFD'))) {
      reject(
        'The message is not UTF-8 text, so its letters would be lost: send it as UTF-8 (MSH-18 UNICODE UTF-8)',
        'MSH-18',
      );
      return;
    }
    if (msh.charAt(3) !== enc.field) {
      reject(
        `MSH-1 declares a field separator other than "${enc.field}", which this mapping reads`,
        'MSH-1',
        `${location}, field MSH-1`,
      );
      return;
    }
    const encoding = msh.slice(4, msh.indexOf(enc.field, 4));
    if (encoding !== c.encodingChars.slice(1)) {
      reject(
        `MSH-2 declares encoding characters other than "${c.encodingChars.slice(1)}", which this mapping reads`,
        'MSH-2',
        `${location}, field MSH-2`,
      );
      return;
    }
    for (const [i, line] of lines.entries()) {
      const name = line.text.slice(0, 3);
      const next = line.text.charAt(3);
      if (!SEGMENT_NAME.test(name) || (next !== '' && next !== enc.field)) {
        reject(
          'Not an HL7 segment (a segment starts with a three-character name and a field separator)',
          `segment ${i + 1}`,
          `${location}, segment ${i + 1} (line ${line.line})`,
        );
        return;
      }
    }
    let message: Hl7Message;
    try {
      message = Hl7Message.parse(lines.map((l) => l.text).join('\r'));
    } catch {
      reject('The message cannot be parsed as HL7 v2', 'MSH', location);
      return;
    }
    const segmentAt = (segment: Hl7Segment): string => {
      const index = message.segments.indexOf(segment);
      return `${location}, segment ${index + 1} (${segment.name}, line ${lines[index]?.line ?? 0})`;
    };
    const segmentPlace = (segment: Hl7Segment, field: string): string =>
      `${segmentAt(segment)}, field ${field}`;
    for (const [index, segment] of message.segments.entries()) {
      if (!lines[index]?.text.includes(`${enc.escape}X`)) continue;
      const f = badHexField(segment, enc);
      if (f !== undefined) {
        const field = `${segment.name}-${f}`;
        reject(
          `${field} has a hex escape (${enc.escape}X…${enc.escape}) whose bytes are not UTF-8 text`,
          field,
          segmentPlace(segment, field),
        );
        return;
      }
    }
    // A control character FHIR text may not hold, raw or escaped (\X00\): the message is refused
    // at the first field holding one, whether the mapping reads that field or not.
    for (const [index, segment] of message.segments.entries()) {
      const text = lines[index]?.text ?? '';
      if (!CONTROL_CHARACTER.test(text) && !text.includes(`${enc.escape}X`)) continue;
      const f = controlField(segment, enc);
      if (f !== undefined) {
        const field = `${segment.name}-${f}`;
        sink.reject(
          [
            placedIssue(
              'value',
              `${field} ${CONTROL_CHARACTER_TEXT}`,
              field,
              file,
              segmentPlace(segment, field),
            ),
          ],
          location,
        );
        return;
      }
    }
    const type = `${message.header.getComponent(9, 1)}^${message.header.getComponent(9, 2)}`;
    const controlId = message.header.getComponent(10, 1);
    if (type === '^') {
      reject('MSH-9 (message type) is empty', 'MSH-9', `${location}, field MSH-9`);
      return;
    }
    if (controlId === '') {
      reject('MSH-10 (message control id) is empty', 'MSH-10', `${location}, field MSH-10`);
      return;
    }
    const charset = message.header.getComponent(18, 1);
    if (!READABLE_CHARSETS.has(charset) && charset !== spec.header.characterSet) {
      reject(
        `MSH-18 declares a character set this reader does not decode (it reads ASCII and UTF-8)`,
        'MSH-18',
        `${location}, field MSH-18`,
      );
      return;
    }
    const ctx: MessageContext = {
      message,
      location,
      place: segmentPlace,
      at: segmentAt,
      file,
      c,
      enc,
    };
    if (type === spec.results.messageType) {
      const result = readResult(ctx, options);
      if (result.ok) {
        sink.record(result.record, location);
        for (const part of unreadParts(ctx, resultFields(c))) noteUnread(part, n);
      } else sink.reject(result.issues, location);
      return;
    }
    const event = spec.events[type];
    if (event) {
      const result = readEvent(ctx, type, controlId, event);
      if (result.ok) {
        sink.event(result.event, location);
        for (const part of unreadParts(ctx, eventFields(c, event))) noteUnread(part, n);
      } else sink.reject(result.issues, location);
      return;
    }
    const known = [spec.results.messageType, ...Object.keys(spec.events)].join(', ');
    reject(
      `Message type ${type} is not mapped (this mapping reads ${known})`,
      'MSH-9',
      `${location}, field MSH-9`,
    );
  }

  const decoder = new TextChunks();
  return {
    push(chunk) {
      pending += decoder.text(chunk);
      let start = 0;
      for (;;) {
        const cr = pending.indexOf('\r', start);
        const lf = pending.indexOf('\n', start);
        const at = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
        if (at < 0) break;
        // A \r at the very end of the chunk may be the first half of \r\n: wait for more.
        if (at === pending.length - 1 && pending.charAt(at) === '\r') break;
        acceptLine(pending.slice(start, at));
        start = pending.charAt(at) === '\r' && pending.charAt(at + 1) === '\n' ? at + 2 : at + 1;
      }
      pending = pending.slice(start);
    },
    end() {
      pending += decoder.end();
      if (pending !== '') acceptLine(pending.replace(/\r$/, ''));
      pending = '';
      finishMessage();
      finishStray();
      reportUnread();
      return Promise.resolve();
    },
  };
}

interface MessageContext {
  readonly message: Hl7Message;
  readonly location: string;
  readonly place: (segment: Hl7Segment, field: string) => string;
  /** Where a segment is: `message 2 (line 5), segment 4 (OBX, line 8)`. */
  readonly at: (segment: Hl7Segment) => string;
  readonly file: string;
  readonly c: Compiled;
  readonly enc: Encoding;
}

function value(
  segment: Hl7Segment,
  r: FieldRef,
  component = r.component ?? 1,
  repetition = 0,
): string {
  const text = segment.getComponent(r.field, component, undefined, repetition);
  return text === HL7_NULL ? '' : text;
}

type Read<T> = { ok: true; value: T } | { ok: false; issues: OperationOutcomeIssue[] };

function readPatient(ctx: MessageContext): Read<PersonDetails> {
  const { message, c, file, enc } = ctx;
  const issues: OperationOutcomeIssue[] = [];
  const pid = message.getSegment(c.pidIds.segment);
  if (!pid)
    return {
      ok: false,
      issues: [
        placedIssue(
          'required',
          `The message has no ${c.pidIds.segment} segment`,
          c.pidIds.segment,
          file,
          ctx.location,
        ),
      ],
    };
  const identifiers: PersonIdentifier[] = [];
  const where = ctx.place(pid, c.pidIds.text);
  const idExpression = 'QuestionnaireResponse.contained.ofType(Patient).identifier';
  const sub = enc.subcomponent;
  const nul = (text: string): string => (text === HL7_NULL ? '' : text);
  for (const components of repetitions(pid, c.pidIds.field)) {
    const id = unescapeHl7(nul(components[0] ?? ''), enc);
    if (id === '') continue;
    const rawType = nul(components[4] ?? '');
    if ((components[0] ?? '').includes(sub) || rawType.includes(sub)) {
      issues.push(
        placedIssue(
          'structure',
          `${c.pidIds.text} has subcomponents in an identifier (CX-1) or its type (CX-5), which have none`,
          idExpression,
          file,
          where,
        ),
      );
      continue;
    }
    // CX-4 is an HD: the namespace (HD-1) names the authority; HD-2/HD-3 are reported unread.
    const authority = unescapeHl7(nul((components[3] ?? '').split(sub)[0] ?? ''), enc);
    const type = unescapeHl7(rawType, enc);
    const known =
      c.spec.patient.authorities[authority] ??
      (authority === ''
        ? Object.values(c.spec.patient.authorities).find(
            (a) => a.type !== undefined && a.type === type,
          )
        : undefined);
    if (!known && authority === '') {
      issues.push(
        placedIssue(
          'required',
          `An identifier in ${c.pidIds.text} has no assigning authority (CX-4), so its system is unknown`,
          idExpression,
          file,
          where,
        ),
      );
      continue;
    }
    if (known?.check === 'nhs-number' && !isNhsNumber(id)) {
      issues.push(
        placedIssue(
          'value',
          `${c.pidIds.text}: the NHS number is not valid (10 digits, not all the same, with a correct check digit)`,
          idExpression,
          file,
          where,
        ),
      );
      continue;
    }
    const system =
      known?.system ?? c.spec.patient.otherAuthoritySystem.replace('{authority}', authority);
    const same = identifiers.filter((i) => i.system === system);
    if (same.some((i) => i.value === id)) continue; // the same identifier twice is one
    if (known?.check === 'nhs-number' && same.length > 0) {
      issues.push(
        placedIssue(
          'value',
          `${c.pidIds.text} holds two different NHS numbers: which is the person’s would be a guess`,
          idExpression,
          file,
          where,
        ),
      );
      continue;
    }
    identifiers.push({ system, value: id, ...(type ? { type } : {}) });
  }
  if (identifiers.length === 0 && issues.length === 0)
    issues.push(
      placedIssue(
        'required',
        `${c.pidIds.text} holds no patient identifier`,
        'QuestionnaireResponse.contained.ofType(Patient).identifier',
        file,
        where,
      ),
    );
  // XPN: family (an FN: FN-1 the surname, FN-2 to FN-5 prefixes and own / partner surnames,
  // not read) ^ given ^ further given ^ suffix ^ prefix; the other parts have no subcomponents.
  const nameWhere = ctx.place(pid, c.pidName.text);
  const nameExpression = 'QuestionnaireResponse.contained.ofType(Patient).name';
  const nameParts = (repetitions(pid, c.pidName.field)[0] ?? []).map(nul);
  if (
    (nameParts[0] ?? '')
      .split(sub)
      .slice(1)
      .some((p) => nul(p) !== '')
  )
    issues.push(
      placedIssue(
        'structure',
        `${c.pidName.text} has subcomponents in the family name (FN-2 to FN-5: surname prefixes, own and partner surnames), which this mapping does not read`,
        nameExpression,
        file,
        nameWhere,
      ),
    );
  else if (nameParts.slice(1, 5).some((p) => p.includes(sub)))
    issues.push(
      placedIssue(
        'structure',
        `${c.pidName.text} has subcomponents in a name part that has none`,
        nameExpression,
        file,
        nameWhere,
      ),
    );
  const part = (n: number): string =>
    collapseText(unescapeHl7(nul((nameParts[n - 1] ?? '').split(sub)[0] ?? ''), enc));
  const family = part(1);
  const given = [part(2), ...part(3).split(' ')].filter((g) => g !== '');
  const suffix = part(4);
  const prefix = part(5);
  const name: PersonName | undefined =
    family !== '' || given.length > 0
      ? {
          ...(family !== '' ? { family } : {}),
          given,
          ...(prefix ? { prefix: [prefix] } : {}),
          ...(suffix ? { suffix: [suffix] } : {}),
        }
      : undefined;
  let birthDate: string | undefined;
  if (c.pidBirth) {
    const text = value(pid, c.pidBirth);
    if (text !== '') {
      // The whole field: a date, optionally a time and an offset (DTM); nothing else.
      const m = BIRTH_DTM.exec(text);
      const date = m ? [m[1], m[2], m[3]].filter((p) => p !== undefined).join('-') : '';
      if (
        !m ||
        !isRealDate(date) ||
        Number(m[4] ?? 0) > 23 ||
        Number(m[5] ?? 0) > 59 ||
        Number(m[6] ?? 0) > 59 ||
        Number(m[7]?.slice(3) ?? 0) > 59
      )
        issues.push(
          placedIssue(
            'value',
            `${c.pidBirth.text} is not a date`,
            'QuestionnaireResponse.contained.ofType(Patient).birthDate',
            file,
            ctx.place(pid, c.pidBirth.text),
          ),
        );
      else birthDate = date;
    }
  }
  let gender: PersonDetails['gender'];
  if (c.pidSex) {
    const code = value(pid, c.pidSex);
    if (code !== '') {
      gender = c.spec.patient.sexCodes?.[code];
      if (!gender)
        issues.push(
          placedIssue(
            'code-invalid',
            `${c.pidSex.text} is not one of ${Object.keys(c.spec.patient.sexCodes ?? {})
              .map((k) => `"${k}"`)
              .join(', ')}`,
            'QuestionnaireResponse.contained.ofType(Patient).gender',
            file,
            ctx.place(pid, c.pidSex.text),
          ),
        );
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    value: {
      identifiers,
      ...(name ? { name } : {}),
      ...(birthDate ? { birthDate } : {}),
      ...(gender ? { gender } : {}),
    },
  };
}

const BIRTH_DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,4})?)?)?)?)?)?([+-]\d{4})?$/;

function isRealDate(date: string): boolean {
  const [y, m, d] = date.split('-').map(Number);
  if (m === undefined) return true;
  if (m < 1 || m > 12) return false;
  if (d === undefined) return true;
  const check = new Date(Date.UTC(y ?? 0, m - 1, d));
  return check.getUTCDate() === d && check.getUTCMonth() === m - 1;
}

function collapseText(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * One ORU^R01 is one session: one patient (PID), one order group (OBR), and the OBX segments
 * after that OBR. ORU_R01 allows repeating PATIENT_RESULT and ORDER_OBSERVATION groups, but
 * merging them would put one patient's (or one day's) scores into another session, and reading
 * the first alone would drop the rest silently: a message with a second PID or OBR is refused,
 * naming that segment, as is an OBX outside the order group or a PID after the OBR.
 */
function resultStructure(ctx: MessageContext): OperationOutcomeIssue[] {
  const { message, c, file } = ctx;
  const pidName = c.pidIds.segment;
  const obrName = c.order.time.segment;
  const obxName = c.obx.code.segment;
  let pid: Hl7Segment | undefined;
  let obr: Hl7Segment | undefined;
  const refuse = (segment: Hl7Segment, text: string): OperationOutcomeIssue[] => [
    placedIssue('structure', text, segment.name, file, ctx.at(segment)),
  ];
  for (const segment of message.segments) {
    if (segment.name === pidName) {
      if (pid)
        return refuse(
          segment,
          `A second ${pidName} segment: this mapping reads one patient and one order (${obrName}) per ${c.spec.results.messageType}, so the message is not converted`,
        );
      if (obr)
        return refuse(
          segment,
          `The ${pidName} segment comes after the ${obrName}: the patient must come before their order group`,
        );
      pid = segment;
    } else if (segment.name === obrName) {
      if (obr)
        return refuse(
          segment,
          `A second ${obrName} segment: this mapping reads one patient and one order (${obrName}) per ${c.spec.results.messageType}, so the message is not converted`,
        );
      obr = segment;
    } else if (segment.name === obxName && !obr)
      return refuse(
        segment,
        `An ${obxName} segment before the ${obrName}: each ${obxName} must belong to the order group (${obrName}) it follows`,
      );
  }
  // The fields read that hold one value: a second one (or an EI-1 in parts) would be cut off.
  const single: FieldRef[] = [
    ...[c.pidBirth, c.pidSex].filter((r): r is FieldRef => r !== undefined),
    c.order.identifier,
    c.order.time,
    c.order.status,
    c.obx.type,
    c.obx.status,
    c.obx.time,
  ];
  const issues: OperationOutcomeIssue[] = [];
  for (const segment of message.segments)
    for (const r of single) {
      if (r.segment !== segment.name) continue;
      const reps = repetitions(segment, r.field);
      const fault =
        reps.length > 1
          ? 'repeats: it holds one value here'
          : r === c.order.identifier && (reps[0]?.[0] ?? '').includes(ctx.enc.subcomponent)
            ? 'has subcomponents, which a filler order number (EI-1) does not have'
            : undefined;
      if (fault)
        issues.push(
          placedIssue('structure', `${r.text} ${fault}`, r.text, file, ctx.place(segment, r.text)),
        );
    }
  return issues;
}

/** Something a converted message holds that the mapping does not read. */
interface UnreadPart {
  /** The segment or field, as named in the notice's expression (`NTE`, `OBX-8`). */
  readonly key: string;
  /** The subject of the notice's sentence, with its verb: `NTE segments are`, `OBX-8 is`. */
  readonly what: string;
  readonly plural: boolean;
  readonly where: string;
}

/** The fields read, by segment name; a segment not named is not read at all. */
type ReadFields = Readonly<Record<string, ReadonlySet<number>>>;

/** The PID fields read (PID-1, the set id, is the message's structure, not content). */
function patientFields(c: Compiled): Set<number> {
  return new Set(
    [1, c.pidIds.field, c.pidName.field, c.pidBirth?.field, c.pidSex?.field].filter(
      (f): f is number => f !== undefined,
    ),
  );
}

/** What an ORU^R01 reader reads: PID, OBR (OBR-4 is the service it names), OBX. */
function resultFields(c: Compiled): ReadFields {
  return {
    [c.pidIds.segment]: patientFields(c),
    [c.order.time.segment]: new Set([
      1,
      4,
      c.order.identifier.field,
      c.order.time.field,
      c.order.status.field,
    ]),
    [c.obx.code.segment]: new Set([
      1,
      c.obx.type.field,
      c.obx.code.field,
      c.obx.value.field,
      c.obx.status.field,
      c.obx.time.field,
    ]),
  };
}

/** Every field an ADT event reads, PID's included (MSH-4 among them). */
function eventRefs(c: Compiled, mapping: Hl7Mapping['events'][string]): FieldRef[] {
  return [
    c.pidIds,
    c.pidName,
    ...[c.pidBirth, c.pidSex].filter((r): r is FieldRef => r !== undefined),
    ...mapping.time.map(ref),
    c.event.recordedAt,
    c.event.location,
    c.event.visitNumber,
    c.event.organisation,
  ];
}

/**
 * What an ADT reader reads: PID as for a result, and the event's fields (EVN-2, EVN-6, PV1-3,
 * PV1-19, the event's own time: PV1-44 for an admission, PV1-45 for a discharge). EVN-1 (the
 * event type, which MSH-9 gives) and PV1-1 (the set id) are structure, not content.
 */
function eventFields(c: Compiled, mapping: Hl7Mapping['events'][string]): ReadFields {
  const read: Record<string, Set<number>> = { [c.pidIds.segment]: patientFields(c) };
  for (const r of eventRefs(c, mapping)) {
    if (r.segment === c.pidIds.segment) continue;
    read[r.segment] ??= new Set([1]);
    read[r.segment]?.add(r.field);
  }
  return read;
}

/**
 * Every segment, field and component of a converted message the reader does not read (`read`)
 * and that holds something (the HL7 null `""` holds nothing). In an ORU^R01: NTE notes, PV1, ORC,
 * Z-segments, OBX-6/7/8/16, OBR-2, other PID fields, other names, EI namespaces; in an ADT event:
 * NK1, PD1, DG1…, other PV1 and EVN fields, PL-5 onwards, HD-2/3 in PV1-3, CX-2 onwards in
 * PV1-19. The MSH is the envelope and is not listed.
 */
function unreadParts(ctx: MessageContext, read: ReadFields): UnreadPart[] {
  const { message, c } = ctx;
  const holds = (parts: readonly string[]): boolean =>
    parts.some((p) => p !== '' && p !== HL7_NULL);
  const out: UnreadPart[] = [];
  for (const segment of message.segments) {
    if (segment.name === 'MSH') continue;
    const fields = read[segment.name];
    if (!fields) {
      out.push({
        key: segment.name,
        what: `${segment.name} segments are`,
        plural: true,
        where: ctx.at(segment),
      });
      continue;
    }
    for (let f = 1; f < segment.fields.length; f++) {
      const reps = repetitions(segment, f);
      const field = `${segment.name}-${f}`;
      const at = (key: string, what: string, plural = true): void => {
        out.push({ key, what, plural, where: ctx.place(segment, field) });
      };
      if (!fields.has(f)) {
        if (reps.some(holds)) at(field, `${field} is`, false);
        continue;
      }
      if (field === c.pidIds.text) {
        const sub = ctx.enc.subcomponent;
        if (reps.some((rep) => holds((rep[3] ?? '').split(sub).slice(1))))
          at(
            `${field} CX-4 subcomponents`,
            `${field} assigning authority subcomponents after the first (HD-2, HD-3: universal id and its type) are`,
          );
      } else if (field === c.pidName.text) {
        if (reps.slice(1).some(holds))
          at(`${field} repetitions`, `${field} repetitions after the first (other names) are`);
        if (holds(reps[0]?.slice(5) ?? []))
          at(
            `${field} components`,
            `${field} components after the fifth (XPN-6 and later: degree, name type, …) are`,
          );
      } else if (field === c.order.identifier.text) {
        if (holds(reps[0]?.slice(1) ?? []))
          at(
            `${field} components`,
            `${field} components after the first (EI-2 to EI-4: the namespace and universal id) are`,
          );
      } else if (field === c.event.location.text) {
        const sub = ctx.enc.subcomponent;
        if (holds(reps[0]?.slice(4) ?? []))
          at(
            `${field} components`,
            `${field} components after the fourth (PL-5 and later: location status, type, building, floor, description…) are`,
          );
        if ((reps[0] ?? []).slice(0, 4).some((part) => holds(part.split(sub).slice(1))))
          at(
            `${field} subcomponents`,
            `${field} subcomponents after the first (HD-2, HD-3: universal id and its type) are`,
          );
      } else if (field === c.event.visitNumber.text) {
        if (holds(reps[0]?.slice(1) ?? []))
          at(
            `${field} components`,
            `${field} components after the first (CX-2 and later: check digit, assigning authority, type…) are`,
          );
      }
    }
  }
  return out;
}

/** Components of a field, by repetition (Medplum's parse; `[['']]` for an empty field). */
function repetitions(segment: Hl7Segment, field: number): string[][] {
  return (segment.getField(field) as Hl7Field | undefined)?.components ?? [];
}

/**
 * OBX-3 and OBX-5 must hold one code and one value: a repetition, a component the value type
 * does not have here, or a subcomponent would otherwise be dropped, and the first value taken
 * as if it were the only one. The issue for the first fault, or undefined.
 */
function obxShape(ctx: MessageContext, obx: Hl7Segment): OperationOutcomeIssue | undefined {
  const { c, file } = ctx;
  const results = c.spec.results;
  const codingSystem = value(obx, c.obx.code, 3);
  const isScore =
    codingSystem === results.score.codingSystem &&
    value(obx, c.obx.type) === results.score.valueType;
  const fault = (r: FieldRef, text: string): OperationOutcomeIssue =>
    placedIssue(
      'structure',
      `${r.text} ${text}`,
      'QuestionnaireResponse.item',
      file,
      ctx.place(obx, r.text),
    );
  const check = (r: FieldRef, kind: string, held: number): OperationOutcomeIssue | undefined => {
    const reps = repetitions(obx, r.field);
    if (reps.length > 1)
      return fault(
        r,
        r === c.obx.code
          ? 'repeats: an OBX holds one code, so what it rates would be a guess'
          : 'repeats: an OBX holds one value here',
      );
    const components = reps[0] ?? [];
    if (components.some((part) => part.includes(ctx.enc.subcomponent)))
      return fault(r, 'has subcomponents, which this value does not have');
    if (components.slice(held).some((part) => part !== ''))
      return fault(r, `has more components than ${kind}`);
    return undefined;
  };
  const codeFault = check(c.obx.code, 'a code holds here (3: code, text, coding system)', 3);
  if (codeFault) return codeFault;
  const valueFault = isScore
    ? check(c.obx.value, `a ${results.score.valueType} value holds (1)`, 1)
    : check(
        c.obx.value,
        `a ${results.helpWanted.valueType} value holds here (3: code, text, coding system)`,
        3,
      );
  if (valueFault) return valueFault;
  const valueSystem = value(obx, c.obx.value, 3);
  if (!isScore && valueSystem !== '' && valueSystem !== results.helpWanted.valueCodingSystem)
    return fault(
      c.obx.value,
      `names a coding system (CWE-3) other than ${results.helpWanted.valueCodingSystem}`,
    );
  return undefined;
}

function readResult(
  ctx: MessageContext,
  options: ReadOptions,
): { ok: true; record: DialogRecord } | { ok: false; issues: OperationOutcomeIssue[] } {
  const { message, c, file } = ctx;
  const spec = c.spec.results;
  const structure = resultStructure(ctx);
  if (structure.length > 0) return { ok: false, issues: structure };
  const escapes = foreignEscapes(ctx, [
    ...patientTextFields(c),
    { ref: c.order.identifier, expression: 'QuestionnaireResponse.identifier' },
  ]);
  if (escapes.length > 0) return { ok: false, issues: escapes };
  const issues: OperationOutcomeIssue[] = [];
  const person = readPatient(ctx);
  if (!person.ok) issues.push(...person.issues);
  const obr = message.getSegment(c.order.time.segment);
  let authored: string | undefined;
  let authoredFrom = '';
  let identifier: { system: string; value: string } | undefined;
  const statuses = new Set<ResponseStatus>();
  const readStatus = (segment: Hl7Segment, r: FieldRef): void => {
    const code = value(segment, r);
    if (code === '') return;
    const status = spec.statusCodes[code];
    if (!status) {
      issues.push(
        placedIssue(
          'code-invalid',
          `${r.text} is not one of ${Object.keys(spec.statusCodes)
            .map((k) => `"${k}"`)
            .join(', ')}`,
          'QuestionnaireResponse.status',
          file,
          ctx.place(segment, r.text),
        ),
      );
      return;
    }
    statuses.add(status);
  };
  const readTime = (segment: Hl7Segment, r: FieldRef): void => {
    const text = value(segment, r);
    if (text === '') return;
    const read = readDtm(text, c.clock);
    if (!read.ok) {
      issues.push(
        placedIssue(
          'value',
          `${r.text} ${read.message}`,
          'QuestionnaireResponse.authored',
          file,
          ctx.place(segment, r.text),
        ),
      );
      return;
    }
    if (authored === undefined) {
      authored = read.value;
      authoredFrom = r.text;
    } else if (
      readFhirDateTime(authored)?.instant !== readFhirDateTime(read.value)?.instant ||
      subMillisecond(authored) !== subMillisecond(read.value)
    ) {
      issues.push(
        placedIssue(
          'value',
          `${r.text} differs from ${authoredFrom}: one session is rated at one point in time`,
          'QuestionnaireResponse.authored',
          file,
          ctx.place(segment, r.text),
        ),
      );
    }
  };
  if (obr) {
    const id = value(obr, c.order.identifier);
    if (id !== '')
      identifier = { system: spec.order.identifierSystem, value: unescapeHl7(id, ctx.enc) };
    readTime(obr, c.order.time);
    readStatus(obr, c.order.status);
  }
  const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
  const helpWanted: Partial<Record<DialogItemConcept, boolean>> = {};
  const obxs = message.getAllSegments(c.obx.code.segment);
  for (const obx of obxs) {
    const shape = obxShape(ctx, obx);
    if (shape) {
      issues.push(shape);
      continue;
    }
    const code = value(obx, c.obx.code, 1);
    const codingSystem = value(obx, c.obx.code, 3);
    const type = value(obx, c.obx.type);
    const answer = value(obx, c.obx.value, 1);
    const system = spec.codingSystems[codingSystem];
    const item = system === SNOMED_SYSTEM ? itemBySnomed(code) : undefined;
    const helpConcept =
      codingSystem === spec.helpWanted.codingSystem && code.startsWith(spec.helpWanted.codePrefix)
        ? code.slice(spec.helpWanted.codePrefix.length)
        : undefined;
    const codePlace = ctx.place(obx, c.obx.code.text);
    const valuePlace = ctx.place(obx, c.obx.value.text);
    if (item) {
      const expr = targetExpression('item.score', item.concept);
      if (type !== spec.score.valueType)
        issues.push(
          placedIssue(
            'structure',
            `${c.obx.type.text} is not ${spec.score.valueType} for an item score`,
            expr,
            file,
            ctx.place(obx, c.obx.type.text),
          ),
        );
      else if (scores[item.concept] !== undefined)
        issues.push(
          placedIssue(
            'duplicate',
            'The message has two scores for the same item',
            expr,
            file,
            codePlace,
          ),
        );
      else {
        const read = c.scoreCodes.read(answer);
        if (!read.ok || read.value === null)
          issues.push(
            placedIssue(
              'code-invalid',
              `${c.obx.value.text} is not a whole number from 1 to 7`,
              expr,
              file,
              valuePlace,
            ),
          );
        else scores[item.concept] = read.value as DialogScore;
      }
    } else if (helpConcept !== undefined && isDialogItemConcept(helpConcept)) {
      const expr = targetExpression('item.helpWanted', helpConcept);
      if (
        type !== spec.helpWanted.valueType &&
        !(type === 'CE' && spec.helpWanted.valueType === 'CWE')
      )
        issues.push(
          placedIssue(
            'structure',
            `${c.obx.type.text} is not ${spec.helpWanted.valueType} for a "more help" answer`,
            expr,
            file,
            ctx.place(obx, c.obx.type.text),
          ),
        );
      else if (helpWanted[helpConcept] !== undefined)
        issues.push(
          placedIssue(
            'duplicate',
            'The message has two "more help" answers for the same item',
            expr,
            file,
            codePlace,
          ),
        );
      else {
        const read = c.helpCodes.read(answer);
        if (!read.ok || read.value === null)
          issues.push(
            placedIssue(
              'code-invalid',
              `${c.obx.value.text} is not one of ${c.helpCodes.describe()}`,
              expr,
              file,
              valuePlace,
            ),
          );
        else helpWanted[helpConcept] = read.value as boolean;
      }
    } else {
      issues.push(
        placedIssue(
          'code-invalid',
          `${c.obx.code.text} is not a DIALOG item (SNOMED CT) or "more help" code`,
          'QuestionnaireResponse.item',
          file,
          codePlace,
        ),
      );
      continue;
    }
    readStatus(obx, c.obx.status);
    readTime(obx, c.obx.time);
  }
  if (authored === undefined)
    issues.push(
      placedIssue(
        'required',
        `Neither ${c.order.time.text} nor ${c.obx.time.text} gives the time of the rating`,
        'QuestionnaireResponse.authored',
        file,
        ctx.location,
      ),
    );
  if (statuses.size === 0)
    issues.push(
      placedIssue(
        'required',
        `No result status (${c.obx.status.text})`,
        'QuestionnaireResponse.status',
        file,
        ctx.location,
      ),
    );
  if (statuses.size > 1)
    issues.push(
      placedIssue(
        'value',
        `The result statuses (${c.order.status.text}, ${c.obx.status.text}) disagree`,
        'QuestionnaireResponse.status',
        file,
        ctx.location,
      ),
    );
  const status = [...statuses][0] ?? 'completed';
  if (status === 'completed' && Object.keys(scores).length === 0 && issues.length === 0)
    issues.push(
      placedIssue(
        'required',
        'A final result holds no item score: a completed DIALOG needs at least one rating',
        "QuestionnaireResponse.item.where(linkId='ratings')",
        file,
        ctx.location,
      ),
    );
  if (issues.length > 0 || !person.ok) return { ok: false, issues };
  const session = nativeSession({
    status,
    person: person.value,
    subject: options.subject,
    authored: authored ?? '',
    identifier,
    scores: inOrder(scores),
    helpWanted: inOrder(helpWanted),
  });
  return { ok: true, record: { session, person: person.value } };
}

function inOrder<T>(
  values: Partial<Record<DialogItemConcept, T>>,
): Partial<Record<DialogItemConcept, T>> {
  const out: Partial<Record<DialogItemConcept, T>> = {};
  for (const item of [
    'mental-health',
    'physical-health',
    'job-situation',
    'accommodation',
    'leisure-activities',
    'friendships',
    'partner-family',
    'personal-safety',
    'medication',
    'practical-help',
    'meetings',
  ] as const) {
    const v = values[item];
    if (v !== undefined) out[item] = v;
  }
  return out;
}

/**
 * An ADT^A01 / ADT^A03 is one event for one patient, as an ORU^R01 is one session: a second PID,
 * EVN or PV1 (any segment the event reads) would be another patient's or visit's, and reading
 * the first alone would drop the rest silently, so the message is refused, naming that segment.
 * A second value in a single-valued field read (a time, PV1-3, PV1-19, MSH-4, PID-7/8), or
 * subcomponents in the visit number (CX-1) or the organisation (HD-1), would be cut off: refused
 * too, naming the field.
 */
function eventStructure(
  ctx: MessageContext,
  type: string,
  mapping: Hl7Mapping['events'][string],
): OperationOutcomeIssue[] {
  const { message, c, file } = ctx;
  const refs = eventRefs(c, mapping);
  const segments = new Set(refs.map((r) => r.segment).filter((name) => name !== 'MSH'));
  const seen = new Set<string>();
  for (const segment of message.segments) {
    if (!segments.has(segment.name)) continue;
    if (seen.has(segment.name))
      return [
        placedIssue(
          'structure',
          `A second ${segment.name} segment: an ${type} is one event for one patient (${[...segments].sort().join(', ')} once each), so the message is not converted`,
          segment.name,
          file,
          ctx.at(segment),
        ),
      ];
    seen.add(segment.name);
  }
  const issues: OperationOutcomeIssue[] = [];
  const repeating = new Set([c.pidIds, c.pidName]);
  const noSubcomponents = new Set([c.event.visitNumber, c.event.organisation]);
  for (const r of new Map(refs.map((x) => [x.text, x])).values()) {
    if (repeating.has(r)) continue;
    const segment = message.getSegment(r.segment);
    if (!segment) continue;
    const reps = repetitions(segment, r.field);
    const fault =
      reps.length > 1
        ? 'repeats: it holds one value here'
        : noSubcomponents.has(r) && (reps[0]?.[0] ?? '').includes(ctx.enc.subcomponent)
          ? 'has subcomponents in its first component, which has none'
          : undefined;
    if (fault)
      issues.push(
        placedIssue('structure', `${r.text} ${fault}`, r.text, file, ctx.place(segment, r.text)),
      );
  }
  return issues;
}

/** The PID fields read as text (identifiers with their authority and type, the name). */
function patientTextFields(c: Compiled): TextField[] {
  return [
    { ref: c.pidIds, expression: 'QuestionnaireResponse.contained.ofType(Patient).identifier' },
    { ref: c.pidName, expression: 'QuestionnaireResponse.contained.ofType(Patient).name' },
  ];
}

function readEvent(
  ctx: MessageContext,
  type: string,
  controlId: string,
  mapping: Hl7Mapping['events'][string],
): { ok: true; event: AdtEvent } | { ok: false; issues: OperationOutcomeIssue[] } {
  const { message, c, file, enc } = ctx;
  const structure = eventStructure(ctx, type, mapping);
  if (structure.length > 0) return { ok: false, issues: structure };
  const escapes = foreignEscapes(ctx, [
    ...patientTextFields(c),
    ...[c.event.location, c.event.visitNumber, c.event.organisation].map((r) => ({
      ref: r,
      expression: r.text,
    })),
  ]);
  if (escapes.length > 0) return { ok: false, issues: escapes };
  const issues: OperationOutcomeIssue[] = [];
  const person = readPatient(ctx);
  if (!person.ok) issues.push(...person.issues);
  const fieldText = (r: FieldRef, component?: number): string => {
    const segment = message.getSegment(r.segment);
    return segment ? unescapeHl7(value(segment, r, component ?? r.component ?? 1), enc) : '';
  };
  // A PL part is an HD in v2.7 and later: its namespace (HD-1) is the name; HD-2/3 are reported
  // as not read, never kept with a literal `&` in the name.
  const placePart = (r: FieldRef, component: number): string => {
    const segment = message.getSegment(r.segment);
    const first = (segment ? value(segment, r, component) : '').split(enc.subcomponent)[0] ?? '';
    return first === HL7_NULL ? '' : unescapeHl7(first, enc);
  };
  const time = (r: FieldRef): string | undefined => {
    const segment = message.getSegment(r.segment);
    const text = segment ? value(segment, r) : '';
    if (!segment || text === '') return undefined;
    const read = readDtm(text, c.clock);
    if (!read.ok) {
      issues.push(
        placedIssue('value', `${r.text} ${read.message}`, r.text, file, ctx.place(segment, r.text)),
      );
      return undefined;
    }
    return read.value;
  };
  let occurredAt: string | undefined;
  for (const field of mapping.time) {
    occurredAt = time(ref(field));
    if (occurredAt !== undefined) break;
  }
  const recordedAt = time(c.event.recordedAt);
  if (occurredAt === undefined && issues.length === 0)
    issues.push(
      placedIssue(
        'required',
        `No event time in ${mapping.time.join(', ')}`,
        mapping.time[0] ?? 'EVN',
        file,
        ctx.location,
      ),
    );
  if (issues.length > 0 || !person.ok || occurredAt === undefined) return { ok: false, issues };
  const loc = c.event.location;
  const location = {
    pointOfCare: placePart(loc, 1),
    room: placePart(loc, 2),
    bed: placePart(loc, 3),
    facility: placePart(loc, 4),
  };
  const present = Object.fromEntries(Object.entries(location).filter(([, v]) => v !== ''));
  const visitNumber = fieldText(c.event.visitNumber);
  const organisation = fieldText(c.event.organisation);
  return {
    ok: true,
    event: {
      event: mapping.event,
      messageType: type,
      messageControlId: controlId,
      patient: person.value,
      occurredAt,
      ...(recordedAt !== undefined ? { recordedAt } : {}),
      ...(Object.keys(present).length > 0 ? { location: present } : {}),
      ...(visitNumber !== '' ? { visitNumber } : {}),
      ...(organisation !== '' ? { organisation } : {}),
    },
  };
}

// ---- what the format holds -------------------------------------------------------------------

/** What one ORU^R01 can hold of a record (see the file comment). */
export function projectHl7(
  spec: Hl7Mapping,
  record: DialogRecord,
  options: Pick<ReadOptions, 'subject'> = {},
): Projection {
  const c = compile(spec);
  const { session, person } = record;
  const issues: OperationOutcomeIssue[] = [];
  const notHeld: string[] = [];
  if (!c.statusToCode.has(session.status))
    issues.push(
      error(
        'not-supported',
        `An ${spec.results.messageType} here holds ${[...c.statusToCode.keys()].join(', ')} sessions only`,
        'QuestionnaireResponse.status',
      ),
    );
  if (session.notRated)
    issues.push(
      error(
        'not-supported',
        `An ${spec.results.messageType} cannot hold why a session was not rated`,
        "QuestionnaireResponse.item.where(linkId='not-rated')",
      ),
    );
  if (session.status === 'completed' && Object.keys(session.scores).length === 0)
    issues.push(
      error(
        'required',
        'The session has no scores to send',
        "QuestionnaireResponse.item.where(linkId='ratings')",
      ),
    );
  const identifiers: PersonIdentifier[] = [];
  for (const id of person.identifiers) {
    const known = Object.values(spec.patient.authorities).find((a) => a.system === id.system);
    if (authorityOf(spec, id.system) === undefined) {
      notHeld.push('person.identifier (system without an assigning authority)');
      continue;
    }
    if (known?.check === 'nhs-number' && !isNhsNumber(id.value)) {
      issues.push(error('value', 'The NHS number is not valid', 'QuestionnaireResponse.subject'));
      continue;
    }
    const type = id.type ?? known?.type;
    identifiers.push({ system: id.system, value: id.value, ...(type ? { type } : {}) });
  }
  if (identifiers.length === 0)
    issues.push(
      error(
        'required',
        `${spec.patient.identifiers} needs a patient identifier (an NHS number, or one with an assigning authority); the response has none`,
        'QuestionnaireResponse.subject',
      ),
    );
  let name: PersonName | undefined;
  if (person.name) {
    const n = person.name;
    if (n.family === undefined && n.given.length === 0) notHeld.push('person.name.text');
    else {
      // XPN-2 holds the first given name whole (`Mary Ann`); XPN-3 holds the further given
      // names, which HL7 separates by spaces, so a space inside one of those splits it.
      const named = n.given.map(collapseText).filter((g) => g !== '');
      const given = named.slice(0, 1).concat(named.slice(1).flatMap((g) => g.split(' ')));
      const family = n.family !== undefined ? collapseText(n.family) : '';
      if ((n.prefix?.length ?? 0) > 1 || (n.suffix?.length ?? 0) > 1)
        notHeld.push('person.name (more than one prefix or suffix)');
      const p = n.prefix?.[0] !== undefined ? collapseText(n.prefix[0]) : '';
      const s = n.suffix?.[0] !== undefined ? collapseText(n.suffix[0]) : '';
      if (family !== '' || given.length > 0)
        name = {
          ...(family !== '' ? { family } : {}),
          given,
          ...(p ? { prefix: [p] } : {}),
          ...(s ? { suffix: [s] } : {}),
        };
    }
  }
  let identifier: { system: string; value: string } | undefined;
  if (session.identifier) {
    if (session.identifier.system === spec.results.order.identifierSystem)
      identifier = session.identifier;
  }
  const read = readFhirDateTime(session.authored);
  if (!read)
    issues.push(
      error('invalid', 'authored is not a dateTime with offset', 'QuestionnaireResponse.authored'),
    );
  // DTM holds four digits of a second: the fourth is kept, more are not held.
  const beyondMs = subMillisecond(session.authored);
  if (beyondMs.length > 1) notHeld.push('authored (fraction of a second beyond 4 digits)');
  const authored = read
    ? withSubMillisecond(
        fhirDateTime(read.instant, read.offset),
        beyondMs.slice(0, 1).replace(/0+$/, ''),
      )
    : '';
  if (chosenOrDiscussed(session)) notHeld.push('discussion');
  if (session.previousActions.length > 0) notHeld.push('previousActions');
  if (record.startedAt) notHeld.push('startedAt');
  for (const key of ['id', 'timepoint', 'setting', 'reusedFrom'] as const)
    if (session[key] !== undefined) notHeld.push(key);
  if (issues.length > 0) return { ok: false, issues };
  const projectedPerson: PersonDetails = {
    identifiers,
    ...(name ? { name } : {}),
    ...(person.birthDate ? { birthDate: person.birthDate } : {}),
    ...(person.gender && Object.values(spec.patient.sexCodes ?? {}).includes(person.gender)
      ? { gender: person.gender }
      : {}),
  };
  const projected = nativeSession({
    status: session.status,
    person: projectedPerson,
    subject: options.subject,
    authored,
    identifier,
    scores: inOrder(session.scores),
    helpWanted: inOrder(session.helpWanted),
  });
  if (session.identifier && !identifier && session.identifier.value !== projected.identifier?.value)
    notHeld.push('identifier');
  if (session.author) notHeld.push('author');
  if (displayNotFromName(record)) notHeld.push('subject.display');
  return {
    ok: true,
    notHeld: [...new Set([...notHeld, ...notHeldByNative(record, options.subject)])],
    record: { session: projected, person: projectedPerson },
  };
}

/** The CX-4 assigning authority an identifier system is written with, if any. */
function authorityOf(spec: Hl7Mapping, system: string): string | undefined {
  const known = Object.entries(spec.patient.authorities).find(([, a]) => a.system === system);
  if (known) return known[0];
  const [prefix, suffix] = spec.patient.otherAuthoritySystem.split('{authority}') as [
    string,
    string,
  ];
  if (
    system.length > prefix.length + suffix.length &&
    system.startsWith(prefix) &&
    system.endsWith(suffix)
  )
    return system.slice(prefix.length, system.length - suffix.length);
  return undefined;
}

function chosenOrDiscussed(session: DialogSession): boolean {
  return session.chosen.length > 0 || session.discussed.length > 0;
}

// ---- writing ---------------------------------------------------------------------------------

class SegmentBuilder {
  private readonly fields: string[] = [];
  constructor(
    readonly name: string,
    private readonly sep: string,
  ) {}
  set(field: number, text: string): this {
    while (this.fields.length < field) this.fields.push('');
    this.fields[field - 1] = text;
    return this;
  }
  toString(): string {
    return [this.name, ...this.fields].join(this.sep);
  }
}

export function createHl7Writer(spec: Hl7Mapping, options: WriteOptions = {}): FormatWriter {
  const c = compile(spec);
  const enc = spec.encoding;
  const h = spec.header;
  const now = options.now ?? (() => new Date());
  const segSep = spec.segmentSeparator;
  let count = 0;
  const esc = (t: string): string => escapeHl7(t, enc);
  const cwe = (...parts: string[]): string => parts.map(esc).join(enc.component);
  return {
    begin: () => '',
    write(record): WriteResult {
      const projected = projectHl7(spec, record);
      if (!projected.ok) return projected;
      const { session, person } = projected.record;
      count++;
      const authored = writeDtm(session.authored) ?? '';
      const status = c.statusToCode.get(session.status) ?? '';
      const [msgCode, trigger] = spec.results.messageType.split('^') as [string, string];
      const msh = `MSH${enc.field}${c.encodingChars.slice(1)}${enc.field}${[
        esc(h.sendingApplication),
        esc(h.sendingFacility),
        esc(h.receivingApplication),
        esc(h.receivingFacility),
        formatNow(now()),
        '',
        [msgCode, trigger, spec.results.messageStructure].join(enc.component),
        esc(`${h.controlIdPrefix}${count}`),
        esc(h.processingId),
        esc(h.version),
        '',
        '',
        '',
        '',
        '',
        esc(h.characterSet),
      ].join(enc.field)}`;
      const pid = new SegmentBuilder('PID', enc.field).set(1, '1');
      pid.set(
        c.pidIds.field,
        person.identifiers
          .map((id) => {
            const authority = authorityOf(spec, id.system) ?? '';
            return [esc(id.value), '', '', esc(authority), esc(id.type ?? '')]
              .join(enc.component)
              .replace(new RegExp(`\\${enc.component}+$`), '');
          })
          .join(enc.repetition),
      );
      const n = person.name;
      if (n)
        pid.set(
          c.pidName.field,
          cwe(
            n.family ?? '',
            n.given[0] ?? '',
            n.given.slice(1).join(' '),
            n.suffix?.[0] ?? '',
            n.prefix?.[0] ?? '',
          ).replace(new RegExp(`\\${enc.component}+$`), ''),
        );
      if (c.pidBirth && person.birthDate)
        pid.set(c.pidBirth.field, person.birthDate.replace(/-/g, ''));
      const sex = Object.entries(spec.patient.sexCodes ?? {}).find(
        ([, g]) => g === person.gender,
      )?.[0];
      if (c.pidSex && sex) pid.set(c.pidSex.field, sex);
      const obr = new SegmentBuilder(c.order.time.segment, enc.field).set(1, '1');
      if (session.identifier?.system === spec.results.order.identifierSystem)
        obr.set(c.order.identifier.field, esc(session.identifier.value));
      // Written in the mapping file with `^` between components, as HL7 is usually shown:
      // joined here with the mapping's own component separator.
      obr.set(4, cwe(...spec.results.order.universalService.split('^')));
      obr.set(c.order.time.field, authored);
      obr.set(c.order.status.field, status);
      const segments = [msh, pid.toString(), obr.toString()];
      let setId = 0;
      const scoreSystem = spec.results.score.codingSystem;
      const helpSystem = spec.results.helpWanted.codingSystem;
      for (const concept of Object.keys(session.scores) as DialogItemConcept[]) {
        const item = itemByConcept(concept);
        const score = session.scores[concept];
        if (!item || score === undefined) continue;
        const obx = new SegmentBuilder(c.obx.code.segment, enc.field)
          .set(1, String(++setId))
          .set(c.obx.type.field, spec.results.score.valueType)
          .set(c.obx.code.field, cwe(item.snomed, item.snomedDisplay, scoreSystem))
          .set(c.obx.value.field, c.scoreCodes.write(score) ?? String(score))
          .set(c.obx.status.field, status)
          .set(c.obx.time.field, authored);
        segments.push(obx.toString());
      }
      for (const concept of Object.keys(session.helpWanted) as DialogItemConcept[]) {
        const help = session.helpWanted[concept];
        const item = itemByConcept(concept);
        if (help === undefined || !item) continue;
        const code = c.helpCodes.write(help) ?? '';
        const obx = new SegmentBuilder(c.obx.code.segment, enc.field)
          .set(1, String(++setId))
          .set(c.obx.type.field, spec.results.helpWanted.valueType)
          .set(
            c.obx.code.field,
            cwe(
              `${spec.results.helpWanted.codePrefix}${concept}`,
              `More help wanted with ${item.label.toLowerCase()}`,
              helpSystem,
            ),
          )
          .set(
            c.obx.value.field,
            cwe(code, help ? 'Yes' : 'No', spec.results.helpWanted.valueCodingSystem),
          )
          .set(c.obx.status.field, status)
          .set(c.obx.time.field, authored);
        segments.push(obx.toString());
      }
      return { ok: true, text: segments.join(segSep) + segSep + '\n', notHeld: projected.notHeld };
    },
    end: () => '',
  };
}
