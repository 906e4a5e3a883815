/**
 * Cuts CSV bytes into pieces of whole records, so that several threads can each parse and
 * convert pieces of one file (csv-pieces.ts, parallel.ts). It finds where each record ends as
 * csv-parse, with the options CsvReader gives it (csv.ts), would: for CSV written by the rules,
 * where a quoted cell opens at the cell's start, quotes are doubled inside it, and every record
 * ends the same way (`\n` or `\r\n`, as the first record does). A newline inside quotes is part
 * of the cell.
 *
 * Anything else — a quote inside an unquoted cell, text after a closing quote, a quote never
 * closed, another line ending, a newline inside quotes in the header — csv-parse reads in ways
 * that depend on what came before (`relax_quotes`, its records skipped on error). From the record
 * where the cutter meets such a thing, it hands every byte on `inOrder`: one reader reads the rest
 * of the input in order, as without cutting, and reports it exactly as it always did.
 *
 * The first `headRows` records (the header, and the row of question texts an export may have)
 * are handed on `inOrder` too: the reader of the whole file reads them and reports on the header.
 */

import type { LineEnding } from './csv';

/**
 * Bytes to read in order on the thread that reads the input. `firstRow` and `lineEnding` where
 * reading in order starts again after pieces: a new reader reads on from there.
 */
export type InOrderSegment =
  | { readonly kind: 'inOrder'; readonly bytes: Buffer; readonly firstRow?: undefined }
  | {
      readonly kind: 'inOrder';
      readonly bytes: Buffer;
      /** The row number of the first record in `bytes`. */
      readonly firstRow: number;
      /** How the file's records end (its first record's line ending). */
      readonly lineEnding: LineEnding;
    };

/** Whole records, rows `firstRow` to `firstRow + rows - 1`, ending with a record's line ending. */
export interface PieceSegment {
  readonly kind: 'piece';
  readonly bytes: Buffer;
  readonly firstRow: number;
  readonly rows: number;
  readonly lineEnding: LineEnding;
}

export type Segment = InOrderSegment | PieceSegment;

const LF = 0x0a;
const CR = 0x0d;

enum State {
  /** At the start of a cell. */
  CellStart,
  /** In a cell that did not open with a quote. */
  Unquoted,
  /** In a quoted cell. */
  Quoted,
  /** Just after a quote in a quoted cell: it closed the cell, or a second quote follows. */
  QuoteInQuoted,
  /** Just after a `\r` that must be followed by `\n` to end the record. */
  AfterCr,
}

type SeenEnding = 'unknown' | 'lf' | 'crlf';

export interface CutterOptions {
  /** One-character delimiter and quote (csv.ts's CsvOptions). */
  readonly delimiter: string;
  readonly quote: string;
  /** Records per piece (the last piece of the input may have fewer). */
  readonly pieceRows: number;
  /** Records at the start that are read in order (default 2: a header and the question texts). */
  readonly headRows?: number;
}

/**
 * Whether CSV with these options can be cut: a one-byte delimiter that is not a line ending, and
 * `"` as the quote (csv-parse escapes with `"` whatever the quote, which the cutter does not
 * model for another quote).
 */
export function canCut(options: { readonly delimiter: string; readonly quote: string }): boolean {
  const { delimiter, quote } = options;
  return (
    quote === '"' &&
    delimiter.length === 1 &&
    delimiter.charCodeAt(0) < 0x80 &&
    !/["\r\n]/.test(delimiter)
  );
}

/**
 * A record longer than this is not waited for: the rest is read in order (a quote never closed
 * would otherwise hold the whole file here; DIALOG+ rows are a few hundred bytes).
 */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

const UTF8_BOM = [0xef, 0xbb, 0xbf];
const UTF16_BOMS = [
  [0xff, 0xfe],
  [0xfe, 0xff],
];
const BOMS = [UTF8_BOM, ...UTF16_BOMS];

export class CsvCutter {
  private readonly delimiter: number;
  private readonly quote: number;
  private readonly pieceRows: number;
  private readonly headRows: number;
  /** Bytes not yet handed on: they start at a record's start. */
  private pending: Buffer = Buffer.alloc(0);
  /** How far into `pending` the scan has gone. */
  private scanned = 0;
  /** Where, in `pending`, the record being scanned starts. */
  private recordStart = 0;
  /** Whole records at the start of `pending`. */
  private rows = 0;
  /** The row number of the first record in `pending`. */
  private firstRow = 1;
  private state = State.CellStart;
  private lineEnding: SeenEnding = 'unknown';
  private headDone = false;
  /** Whether the start of the input has been looked at for a byte-order mark. */
  private startSeen = false;
  /** Met something it cannot cut by: everything from here on is read in order. */
  private irregular = false;

  constructor(options: CutterOptions) {
    if (!canCut(options)) throw new Error('these CSV options cannot be cut into pieces');
    this.delimiter = options.delimiter.charCodeAt(0);
    this.quote = options.quote.charCodeAt(0);
    this.pieceRows = Math.max(1, options.pieceRows);
    this.headRows = Math.max(1, options.headRows ?? 2);
  }

  /** Whether the cutter has stopped cutting (what follows is all read in order). */
  get inOrderFromHere(): boolean {
    return this.irregular;
  }

  /** Takes the next bytes of the input; returns the segments now complete, in input order. */
  push(chunk: Uint8Array): Segment[] {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.irregular) return bytes.length > 0 ? [{ kind: 'inOrder', bytes }] : [];
    // A copy of its own: pieces and what is kept are views of it, never of the caller's chunk.
    this.pending = Buffer.concat([this.pending, bytes]);
    const out: Segment[] = [];
    if (!this.startSeen && !this.seeStart(out)) return out;
    this.scan(out);
    if (!this.irregular && this.pending.length - this.recordStart > MAX_RECORD_BYTES)
      this.stop(out);
    return out;
  }

  /**
   * The input's start: a UTF-8 byte-order mark (which the reader of the head takes off) is not
   * part of the first cell; a UTF-16 one means the line endings are not the bytes looked for, so
   * the whole input is read in order. False while too few bytes have come to tell.
   */
  private seeStart(out: Segment[]): boolean {
    const head = this.pending;
    const startsWith = (mark: readonly number[]): boolean => mark.every((b, k) => head[k] === b);
    const couldStart = (mark: readonly number[]): boolean => startsWith(mark.slice(0, head.length));
    if (head.length < UTF8_BOM.length && BOMS.some(couldStart)) return false;
    this.startSeen = true;
    if (startsWith(UTF8_BOM)) this.scanned = UTF8_BOM.length;
    else if (UTF16_BOMS.some(startsWith)) {
      this.goInOrder(out);
      return false;
    }
    return true;
  }

  /** The end of the input: the rest, as segments. */
  end(): Segment[] {
    const out: Segment[] = [];
    if (this.irregular || this.pending.length === 0) return out;
    const open = this.scanned > this.recordStart;
    if (!this.headDone) {
      this.goInOrder(out);
      return out;
    }
    if (this.state === State.Quoted || this.state === State.AfterCr) {
      // A quote never closed (csv-parse reports it) or a lone `\r`.
      this.stop(out);
      return out;
    }
    if (open) {
      // The last record has no line ending: give it the file's, which csv-parse reads the same.
      const ending = Buffer.from(this.lineEnding === 'crlf' ? '\r\n' : '\n', 'latin1');
      this.pending = Buffer.concat([this.pending, ending]);
      this.scanned = this.pending.length;
      this.recordStart = this.scanned;
      this.rows++;
    }
    if (this.rows > 0) this.cutPiece(out, this.recordStart);
    return out;
  }

  private scan(out: Segment[]): void {
    const { delimiter, quote } = this;
    let buf = this.pending;
    let state = this.state;
    let i = this.scanned;
    while (i < buf.length) {
      const b = buf[i++] as number;
      if (state === State.Quoted) {
        if (b === quote) state = State.QuoteInQuoted;
        else if ((b === LF || b === CR) && this.lineEnding === 'unknown') return this.stop(out);
        continue;
      }
      if (state === State.AfterCr) {
        if (b !== LF) return this.stop(out);
        this.lineEnding = 'crlf';
      } else if (b === LF) {
        if (this.lineEnding === 'crlf') return this.stop(out);
        this.lineEnding = 'lf';
      } else if (b === CR) {
        if (this.lineEnding !== 'lf') state = State.AfterCr;
        // In a file of `\n` records a `\r` is part of the cell, not after a closing quote.
        else if (state === State.QuoteInQuoted) return this.stop(out);
        else state = State.Unquoted;
        continue;
      } else {
        if (b === quote) {
          if (state === State.Unquoted) return this.stop(out);
          state = State.Quoted;
        } else if (b === delimiter) state = State.CellStart;
        else if (state === State.QuoteInQuoted) return this.stop(out);
        else state = State.Unquoted;
        continue;
      }
      // The record ends before `i`.
      state = State.CellStart;
      if (this.recordEnd(i, out)) {
        buf = this.pending;
        i = 0;
      }
    }
    this.state = state;
    this.scanned = i;
  }

  /** A record ends before `next`; true when that cut `pending` (it now starts at `next`). */
  private recordEnd(next: number, out: Segment[]): boolean {
    this.rows++;
    this.recordStart = next;
    if (!this.headDone) {
      if (this.rows < this.headRows) return false;
      this.headDone = true;
      this.handOn(out, { kind: 'inOrder', bytes: this.pending.subarray(0, next) }, next);
      return true;
    }
    if (this.rows < this.pieceRows) return false;
    this.cutPiece(out, next);
    return true;
  }

  private cutPiece(out: Segment[], end: number): void {
    const piece: PieceSegment = {
      kind: 'piece',
      bytes: this.pending.subarray(0, end),
      firstRow: this.firstRow,
      rows: this.rows,
      lineEnding: this.recordEnding(),
    };
    this.handOn(out, piece, end);
  }

  /** Hands on `pending` up to `end` (whole records) and moves on past it. */
  private handOn(out: Segment[], segment: Segment, end: number): void {
    out.push(segment);
    this.firstRow += this.rows;
    this.rows = 0;
    this.pending = this.pending.subarray(end);
    this.scanned = 0;
    this.recordStart = 0;
  }

  /** Something it cannot cut by, in the record being scanned: the rest is read in order. */
  private stop(out: Segment[]): void {
    if (this.headDone && this.rows > 0) this.cutPiece(out, this.recordStart);
    this.goInOrder(out);
  }

  private goInOrder(out: Segment[]): void {
    this.irregular = true;
    const bytes = this.pending;
    this.pending = Buffer.alloc(0);
    if (bytes.length === 0) return;
    out.push(
      this.headDone
        ? { kind: 'inOrder', bytes, firstRow: this.firstRow, lineEnding: this.recordEnding() }
        : { kind: 'inOrder', bytes },
    );
  }

  /** Known once the head is cut: it ends with a record's line ending. */
  private recordEnding(): LineEnding {
    return this.lineEnding === 'crlf' ? '\r\n' : '\n';
  }
}
