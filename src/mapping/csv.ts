/**
 * CSV rows in and out, for both CSV formats. Reading streams through csv-parse (each record
 * handled synchronously in `on_record`, so nothing is buffered beyond the current chunk); a
 * record csv-parse cannot read is reported, not dropped. Writing follows RFC 4180 and
 * neutralises cells a spreadsheet would execute.
 *
 * Formula neutralising (OWASP "CSV injection"): on export a cell that starts with `=`, `+`, `-`,
 * `@`, a tab or a carriage return — possibly after apostrophes already there — gets one `'` in
 * front. On import one leading `'` is taken off a cell that starts with apostrophes followed by
 * one of those characters. Export then import gives back the cell exactly, including cells that
 * really started with `'=`; the one case read differently is a native cell typed as `'=…` by hand,
 * which spreadsheets themselves show as `=…`.
 */
import { parse, type Parser } from 'csv-parse';
import type { CsvOptions } from './spec';
import { ControlWatch, Utf8Watch } from './types';

const NEEDS_NEUTRALISING = /^'*[=+\-@\t\r]/;
const NEUTRALISED = /^'+[=+\-@\t\r]/;

export function neutralise(cell: string): string {
  return NEEDS_NEUTRALISING.test(cell) ? `'${cell}` : cell;
}

export function unneutralise(cell: string): string {
  return cell.charCodeAt(0) === APOSTROPHE && NEUTRALISED.test(cell) ? cell.slice(1) : cell;
}

const APOSTROPHE = 0x27;

export type LineEnding = '\n' | '\r\n';

export interface CsvRowHandler {
  /**
   * One record; `row` counts records from 1 (the header is row 1), as a spreadsheet does.
   * `controlSeen`: the input so far has held a control character FHIR text may not hold
   * (`CsvReader.controlSeen`); until it has, no cell holds one.
   */
  row(cells: string[], row: number, controlSeen: boolean): void;
  /** A record csv-parse could not read (for an unclosed quote: the rest of the input). */
  unreadable(row: number, reason: string): void;
}

const NOT_UTF8 =
  'the row is not UTF-8 text, so its letters would be lost (save the file as "CSV UTF-8")';

const UNREADABLE: Readonly<Record<string, string>> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted cell is never closed, so the rest of the file cannot be read',
  CSV_INVALID_CLOSING_QUOTE: 'a quoted cell has text after its closing quote',
  INVALID_OPENING_QUOTE: 'a cell has a quote where none may be',
};

/**
 * Streams text through csv-parse; `push` handles each chunk synchronously. A handler that throws
 * stops the reading: the error comes out of that `push` (or `finish`), not later.
 */
export class CsvReader {
  private readonly parser: Parser;
  private rowNumber = 0;
  private lastSkipLine = -1;
  private failed = false;
  private failure: unknown;
  /** Records still to pass over unseen: the header a reader of part of a file is primed with. */
  private unseen = 0;
  /** Whether some input was not UTF-8: then rows are looked at for U+FFFD (see `push`). */
  private readonly utf8 = new Utf8Watch();
  /** Whether some input held a control character FHIR text may not hold (`controlSeen`). */
  private readonly control = new ControlWatch();

  /**
   * `lineEnding` is given for a reader of part of a file (csv-pieces.ts), which must read it as
   * the reader of the whole file does: its records end so (otherwise csv-parse takes it from the
   * first record), and it does not start at the file's start, so a byte-order mark is not
   * looked for.
   */
  constructor(
    private readonly options: CsvOptions,
    handler: CsvRowHandler,
    lineEnding?: LineEnding,
  ) {
    const clean = options.neutraliseFormulas;
    this.parser = parse({
      ...(lineEnding ? { record_delimiter: lineEnding } : {}),
      delimiter: options.delimiter,
      quote: options.quote,
      bom: lineEnding === undefined,
      relax_column_count: true,
      relax_quotes: true,
      skip_records_with_error: true,
      on_record: (record: string[]) => {
        if (this.failed) return null;
        if (this.unseen > 0) {
          this.unseen--;
          return null;
        }
        this.rowNumber++;
        if (this.utf8.seen && record.some((cell) => cell.includes('\uFFFD'))) {
          this.guard(() => handler.unreadable(this.rowNumber, NOT_UTF8));
          return null;
        }
        if (clean)
          for (let i = 0; i < record.length; i++) record[i] = unneutralise(record[i] ?? '');
        this.guard(() => handler.row(record, this.rowNumber, this.control.seen));
        return null;
      },
      on_skip: (err) => {
        if (this.failed) return undefined;
        const line = (err as { lines?: number } | undefined)?.lines ?? this.rowNumber + 1; // to merge repeats
        if (line === this.lastSkipLine) return undefined;
        this.lastSkipLine = line;
        this.rowNumber++;
        const code = (err as { code?: string } | undefined)?.code ?? '';
        this.guard(() =>
          handler.unreadable(this.rowNumber, UNREADABLE[code] ?? 'the row is not valid CSV'),
        );
        return undefined;
      },
    });
    this.parser.on('error', (e: Error) => this.fail(e));
    this.parser.resume();
  }

  /**
   * Bytes go to csv-parse as they are: it decodes UTF-8 per field, cheaper than decoding first.
   * It decodes bytes that are not UTF-8 to U+FFFD; once a chunk holds such bytes (`Utf8Watch`,
   * cheap), rows are looked at for it and refused (an Excel "CSV", Windows-1252, say).
   */
  push(chunk: string | Uint8Array): void {
    this.throwIfFailed();
    if (typeof chunk !== 'string') this.utf8.push(chunk);
    this.control.push(chunk);
    this.parser.write(
      typeof chunk === 'string' || Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
    this.throwIfFailed();
  }

  /**
   * Gives csv-parse the file's header row first, unseen by the handler and not counted, so that
   * a reader of part of a file expects records as long as the header, as the reader of the whole
   * file does: otherwise the part's first record sets that length, and when it is a faulty row
   * csv-parse builds an error object (and its stack) for every later row, then drops it
   * (relax_column_count) — a third of the CPU of a file read in order after such a row.
   */
  prime(header: readonly string[], lineEnding: LineEnding): void {
    // Only the number of cells matters: empty ones need no quoting, whatever the quote and escape.
    this.unseen++;
    this.push(header.map(() => '').join(this.options.delimiter) + lineEnding);
  }

  /**
   * Whether the input so far held a control character FHIR text may not hold (types.ts
   * `CONTROL_CHARACTER`): until it has, a reader need not look for one in its cells. Set before
   * the rows of the chunk that held it are handed over.
   */
  get controlSeen(): boolean {
    return this.control.seen;
  }

  /** Records whose length was not the one csv-parse expected (the first record's). */
  get inconsistentRecords(): number {
    return (this.parser.info as { invalid_field_length?: number }).invalid_field_length ?? 0;
  }

  /**
   * The number the next record gets. Setting it continues numbering elsewhere in the file: a
   * reader given part of a file (csv-pieces.ts) numbers its rows as the file does.
   */
  get nextRow(): number {
    return this.rowNumber + 1;
  }

  set nextRow(row: number) {
    this.rowNumber = row - 1;
  }

  /**
   * Ends the input: csv-parse hands over the records it still held back (it keeps the last bytes
   * of each chunk until it sees what follows) before this returns.
   */
  finish(): void {
    this.throwIfFailed();
    this.utf8.end();
    this.parser.end();
    this.throwIfFailed();
  }

  end(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failed) {
        reject(this.failure);
        return;
      }
      this.parser.once('end', () => (this.failed ? reject(this.failure) : resolve()));
      this.parser.once('error', reject);
      this.utf8.end();
      this.parser.end();
    });
  }

  /** Runs a handler; what it throws stops the reading. */
  private guard(call: () => void): void {
    try {
      call();
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = e;
  }

  private throwIfFailed(): void {
    if (this.failed) throw this.failure;
  }
}

/** Writes rows by RFC 4180: quote cells holding the delimiter, a quote, CR or LF. */
export class CsvWriter {
  private readonly quoteNeeded: RegExp;
  private readonly doubled: RegExp;

  constructor(private readonly options: CsvOptions) {
    const d = escapeClass(options.delimiter);
    const q = escapeClass(options.quote);
    this.quoteNeeded = new RegExp(`[${d}${q}\\r\\n]|^\\s|\\s$`);
    this.doubled = new RegExp(q, 'g');
  }

  cell(value: string): string {
    const text = this.options.neutraliseFormulas ? neutralise(value) : value;
    if (!this.quoteNeeded.test(text)) return text;
    const q = this.options.quote;
    return `${q}${text.replace(this.doubled, q + q)}${q}`;
  }

  row(cells: readonly string[]): string {
    let out = '';
    for (let i = 0; i < cells.length; i++) {
      if (i > 0) out += this.options.delimiter;
      out += this.cell(cells[i] ?? '');
    }
    return out + this.options.lineEnding;
  }
}

function escapeClass(ch: string): string {
  return ch.replace(/[\]\\^-]/g, '\\$&');
}
