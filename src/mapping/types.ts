/** The shapes every format's reader and writer share. */
import { isUtf8 } from 'node:buffer';
import type { OperationOutcomeIssue, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import type { DialogRecord, PersonDetails } from './record';
import type { JsonOut } from './response-json';

/** Options that apply when reading native input. */
export interface ReadOptions {
  /** Name of the input, used in every issue (`<stdin>` when reading standard input). */
  readonly file: string;
  /**
   * Reference to the Patient every session in the input is about (e.g. `Patient/123`), when the
   * caller knows it. Otherwise the person is held in a contained Patient (see record.ts).
   */
  readonly subject?: string;
  /**
   * What a scan of the whole input found about day/month order (dialogplus-csv): when month-first
   * dates were seen anywhere in the file, dates that read either way are rejected from row one.
   */
  readonly monthFirstSeen?: boolean;
}

/** Options that apply when writing native output. */
export interface WriteOptions {
  /** The clock for message headers (HL7 MSH-7); injected so output is reproducible in tests. */
  readonly now?: () => Date;
}

/** An admission or discharge from HL7 v2 ADT: a typed event for the handover, not a session. */
export interface AdtEvent {
  readonly event: 'admit' | 'discharge';
  /** e.g. `ADT^A01`. */
  readonly messageType: string;
  /** MSH-10. */
  readonly messageControlId: string;
  readonly patient: PersonDetails;
  /** FHIR dateTime: when the admission or discharge happened. */
  readonly occurredAt: string;
  /** FHIR dateTime: when the event was recorded (EVN-2), if given. */
  readonly recordedAt?: string;
  /** PV1-3: ward (point of care), room, bed, facility. */
  readonly location?: {
    readonly pointOfCare?: string;
    readonly room?: string;
    readonly bed?: string;
    readonly facility?: string;
  };
  /** PV1-19: the visit (spell) number. */
  readonly visitNumber?: string;
  /** MSH-4: the organisation that sent the event. */
  readonly organisation?: string;
}

/** Where read items go. Every call is synchronous, in input order. */
export interface ReadSink {
  /** A session. For FHIR input, `resource` is the response as read (for the identity mapping). */
  record(record: DialogRecord, location: string, resource?: QuestionnaireResponse): void;
  event(event: AdtEvent, location: string): void;
  /** A record that was not converted, with every issue found in it. */
  reject(issues: OperationOutcomeIssue[], location: string): void;
  /** An issue about the input as a whole (a header, the file's date order). */
  notice(issue: OperationOutcomeIssue): void;
  /** Input that is not a DIALOG record and is not an error (another tool's score; a Patient). */
  skip(location: string, resource?: Resource): void;
}

/**
 * Code points FHIR strings may not hold (R4 `string`): below U+0020, other than tab, line feed
 * and carriage return — NUL, BEL, form feed… A native value holding one is refused, never
 * written into FHIR.
 */
// eslint-disable-next-line no-control-regex -- these characters are what it looks for
export const CONTROL_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

export const CONTROL_CHARACTER_TEXT =
  'holds a control character (a code point below U+0020 other than tab, line feed or carriage return), which FHIR text may not hold';

/**
 * Watches an input, chunk by chunk, for a control character FHIR strings may not hold, so that a
 * reader looks at its values for one only once the input has shown one (one pass over the
 * bytes, cheaper than testing every value). In UTF-8 such a byte is always that character.
 */
export class ControlWatch {
  /** Some input so far held such a character. */
  seen = false;

  push(chunk: string | Uint8Array): void {
    if (this.seen) return;
    if (typeof chunk === 'string') {
      this.seen = CONTROL_CHARACTER.test(chunk);
      return;
    }
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) {
        this.seen = true;
        return;
      }
    }
  }
}

/**
 * Watches an input's bytes, chunk by chunk, for any that are not UTF-8 (Node's `isUtf8`, far
 * cheaper than looking for U+FFFD in every decoded field). A character cut between two chunks
 * is checked whole: the bytes of an unfinished one wait for the next chunk.
 */
export class Utf8Watch {
  private tail: Uint8Array = new Uint8Array(0);
  /** Some bytes so far were not UTF-8. */
  seen = false;

  push(bytes: Uint8Array): void {
    if (this.seen) return;
    const all = this.tail.length > 0 ? Buffer.concat([this.tail, bytes]) : bytes;
    const end = unfinishedFrom(all);
    this.tail = Uint8Array.from(all.subarray(end));
    if (!isUtf8(all.subarray(0, end))) this.seen = true;
  }

  /** The input has ended: a character still unfinished is not UTF-8. */
  end(): void {
    if (this.tail.length > 0) this.seen = true;
  }
}

/** Where a character that needs more bytes than follow it starts (the length when none does). */
function unfinishedFrom(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 3); i--) {
    const b = bytes[i] ?? 0;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: its start is further back
    // A byte that may start a character of 2, 3 or 4 bytes (C2–F4); any other ends the search.
    if (b < 0xc2 || b > 0xf4) return bytes.length;
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return bytes.length - i < length ? i : bytes.length;
  }
  return bytes.length;
}

/**
 * Streaming UTF-8 decoding for readers that work on text; a leading BOM is dropped. Bytes that
 * are not UTF-8 decode to U+FFFD, as TextDecoder does; `sawNotUtf8` tells a reader to look for
 * it in what it reads from then on and refuse that record, rather than keep a name with `�` in it.
 */
export class TextChunks {
  private readonly decoder = new TextDecoder('utf-8');
  private first = true;
  private readonly watch = new Utf8Watch();

  get sawNotUtf8(): boolean {
    return this.watch.seen;
  }

  text(chunk: string | Uint8Array): string {
    if (typeof chunk !== 'string') this.watch.push(chunk);
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.first && text !== '') {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }

  end(): string {
    this.watch.end();
    return this.decoder.decode();
  }
}

export interface FormatReader {
  /** Handles one chunk of input (text, or UTF-8 bytes); calls the sink synchronously. */
  push(chunk: string | Uint8Array): void;
  end(): Promise<void>;
}

export type WriteResult =
  | { readonly ok: true; readonly text: string; readonly notHeld: readonly string[] }
  | { readonly ok: false; readonly issues: OperationOutcomeIssue[] };

export interface FormatWriter {
  /** Text before the first record (a CSV header). */
  begin(): string;
  write(record: DialogRecord, resource?: QuestionnaireResponse): WriteResult;
  /**
   * The same as `write`, as pieces of ASCII text into `out` rather than one string (FHIR output:
   * the engine copies the pieces straight into reused output buffers).
   */
  writeTo?(
    record: DialogRecord,
    out: JsonOut,
  ):
    | { readonly ok: true; readonly notHeld: readonly string[] }
    | { readonly ok: false; readonly issues: OperationOutcomeIssue[] };
  end(): string;
}

/**
 * What a format can hold: the record as it would come back after export and import, or why it
 * cannot be exported. `notHeld` names the fields dropped on the way.
 */
export type Projection =
  | { readonly ok: true; readonly record: DialogRecord; readonly notHeld: readonly string[] }
  | { readonly ok: false; readonly issues: OperationOutcomeIssue[] };
