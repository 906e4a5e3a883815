/** The shapes every format's reader and writer share. */
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

/** Streaming UTF-8 decoding for readers that work on text; a leading BOM is dropped. */
export class TextChunks {
  private readonly decoder = new TextDecoder('utf-8');
  private first = true;

  text(chunk: string | Uint8Array): string {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.first && text !== '') {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }

  end(): string {
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
