/**
 * A DIALOG+ app CSV file read in pieces by several threads (engine.ts, for a file converted to
 * FHIR NDJSON with worker threads). This thread only finds where records end (csv-cutter.ts) and
 * hands pieces of ~100 whole records to the workers, or reads one itself when they are busy
 * (parallel.ts, csv-pieces.ts): parsing the CSV, the larger part of what one thread did before
 * the workers could start, is spread over the cores with the rest, and no records are handed
 * between threads.
 *
 * It reads exactly as one reader of the whole file does:
 * - the header and row 2 (the question texts an export may have) are read in order, by the
 *   reader of the whole file, which reports on the header; it is ended (so that csv-parse gives
 *   up the rows it holds back) before the first piece;
 * - every piece is read by a reader that knows the header, the file's line ending and the date
 *   order found by scanning the file first, with its rows numbered as in the file;
 * - from the first record the cutter cannot cut by (a stray quote, a quote never closed, another
 *   line ending), the rest of the file is read in order by one more reader, once every piece
 *   before it has been written, so that rejected rows are reported in input order.
 */
import type { LineEnding } from './csv';
import { CsvCutter, type Segment } from './csv-cutter';
import type { PieceReading } from './csv-pieces';
import { createSessionRowsReader, type SessionRowsReader } from './csv-session-rows';
import type { ParallelFhirOutput } from './parallel';
import type { CsvSessionRowsMapping } from './spec';
import type { ReadOptions, ReadSink } from './types';

/** Records per piece: the same as a batch of records (parallel.ts), ~2.6 MB of NDJSON out. */
const PIECE_ROWS = 100;

export class CutInput {
  private readonly cutter: CsvCutter;
  /** The reader of the header and row 2, the reader of the whole file. */
  private readonly head: SessionRowsReader;
  /** Set once the head's reader has ended: how the threads read pieces. */
  private reading: PieceReading | undefined;
  /** The reader of what follows the first record that could not be cut by. */
  private rest: SessionRowsReader | undefined;

  constructor(
    private readonly spec: CsvSessionRowsMapping,
    private readonly options: ReadOptions & { readonly monthFirstSeen: boolean },
    private readonly sink: ReadSink,
    private readonly parallel: ParallelFhirOutput,
  ) {
    this.cutter = new CsvCutter({ ...spec.csv, pieceRows: PIECE_ROWS });
    this.head = createSessionRowsReader(spec, options, sink);
  }

  async push(chunk: string | Uint8Array): Promise<void> {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    await this.handle(this.cutter.push(bytes));
  }

  async end(): Promise<void> {
    await this.handle(this.cutter.end());
    if (this.rest) await this.rest.end();
    else if (!this.reading) await this.head.end();
  }

  private async handle(segments: readonly Segment[]): Promise<void> {
    for (const segment of segments) {
      if (segment.kind === 'inOrder' && segment.firstRow === undefined) {
        (this.rest ?? this.head).push(segment.bytes);
        continue;
      }
      const reading = this.reading ?? (await this.endHead(segment.lineEnding));
      if (segment.kind === 'piece') {
        this.parallel.addPiece(segment);
        await this.parallel.ready();
        continue;
      }
      // What was handed on before goes out (and is reported) first.
      await this.parallel.finish();
      this.rest = createSessionRowsReader(this.spec, this.options, this.sink, reading);
      this.rest.nextRow = segment.firstRow;
      this.rest.push(segment.bytes);
    }
  }

  /** Ends the head's reader and tells the threads how to read the pieces that follow. */
  private async endHead(lineEnding: LineEnding): Promise<PieceReading> {
    await this.head.end();
    const header = this.head.headerCells;
    if (!header) throw new Error('pieces were cut before the header row was read');
    const { file, subject, monthFirstSeen } = this.options;
    const reading: PieceReading = {
      spec: this.spec,
      header,
      lineEnding,
      file,
      monthFirstSeen,
      ...(subject !== undefined ? { subject } : {}),
    };
    this.reading = reading;
    this.parallel.readPieces(reading);
    return reading;
  }
}
