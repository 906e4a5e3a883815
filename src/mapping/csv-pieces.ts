/**
 * Pieces of a DIALOG+ app CSV file (cut by csv-cutter.ts) read and written as FHIR NDJSON, on any
 * thread: a conversion worker (fhir-worker.ts) or the thread that reads the file (parallel.ts).
 * Each piece is parsed, read into records and written by the very reader and writer the engine
 * uses on one thread; what the engine would report (rejected rows, counts) comes back as a
 * `PieceResult` for the reading thread to report in input order.
 *
 * Rows of one file are independent once its header is known and its dates were scanned for
 * their order (engine.ts's convertFile), which is what lets pieces be read out of order.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { LineEnding } from './csv';
import { createSessionRowsReader, type SessionRowsReader } from './csv-session-rows';
import { placeIssue } from './issues';
import type { JsonOut } from './response-json';
import type { CsvSessionRowsMapping } from './spec';
import type { FormatWriter } from './types';

/** What a thread needs to read pieces of one file (structured-cloned to workers). */
export interface PieceReading {
  readonly spec: CsvSessionRowsMapping;
  /** The file's header row, as its first reader read it. */
  readonly header: readonly string[];
  readonly lineEnding: LineEnding;
  readonly file: string;
  readonly subject?: string;
  readonly monthFirstSeen: boolean;
}

/** A piece as it goes to a thread: whole records, rows `firstRow` to `firstRow + rows - 1`. */
export interface Piece {
  readonly bytes: Uint8Array;
  readonly firstRow: number;
  readonly rows: number;
}

export interface PieceResult {
  readonly converted: number;
  /** Rejected records, in input order, with the issues the engine reports for them. */
  readonly rejects: { readonly issues: OperationOutcomeIssue[]; readonly location: string }[];
  /** Issues about the input as a whole (none are expected from rows after the header). */
  readonly notices: OperationOutcomeIssue[];
  /** Fields the target could not hold, and in how many records. */
  readonly notHeld: Record<string, number>;
}

interface Gathered {
  converted: number;
  rejects: PieceResult['rejects'];
  notices: OperationOutcomeIssue[];
  notHeld: Record<string, number>;
}

export class PieceConverter {
  private readonly reader: SessionRowsReader;
  private out: JsonOut | undefined;
  private gathered: Gathered = PieceConverter.empty();

  constructor(reading: PieceReading, writer: FormatWriter) {
    const write = writer.writeTo?.bind(writer);
    if (!write) throw new Error('pieces are written by a writer that writes into buffers');
    const file = reading.file;
    this.reader = createSessionRowsReader(
      reading.spec,
      {
        file,
        monthFirstSeen: reading.monthFirstSeen,
        ...(reading.subject !== undefined ? { subject: reading.subject } : {}),
      },
      {
        record: (record, location) => {
          const put = write(record, this.target());
          if (!put.ok) {
            const issues = put.issues.map((i) => placeIssue(i, file, location));
            this.gathered.rejects.push({ issues, location });
            return;
          }
          this.gathered.converted++;
          const notHeld = this.gathered.notHeld;
          for (const field of put.notHeld) notHeld[field] = (notHeld[field] ?? 0) + 1;
        },
        reject: (issues, location) => this.gathered.rejects.push({ issues, location }),
        notice: (issue) => this.gathered.notices.push(issue),
        event: () => undefined,
        skip: () => undefined,
      },
      { header: reading.header, lineEnding: reading.lineEnding },
    );
  }

  /** Reads the piece and writes its records into `out`. */
  convert(piece: Piece, out: JsonOut): PieceResult {
    this.out = out;
    this.gathered = PieceConverter.empty();
    try {
      const rows = this.reader.readPiece(piece.bytes, piece.firstRow);
      // The cutter and csv-parse must agree on where records end, or rows would be misnumbered.
      if (rows !== piece.rows)
        throw new Error(
          `a piece from row ${piece.firstRow} held ${rows} records where ${piece.rows} were cut`,
        );
      return this.gathered;
    } finally {
      this.out = undefined;
    }
  }

  private target(): JsonOut {
    if (!this.out) throw new Error('a record was read outside a piece');
    return this.out;
  }

  private static empty(): Gathered {
    return { converted: 0, rejects: [], notices: [], notHeld: {} };
  }
}
