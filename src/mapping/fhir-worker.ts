/**
 * A conversion worker (node:worker_threads, started by parallel.ts): writes batches of records as
 * FHIR NDJSON — each response, and with `observations` the Observations `$extract` gives for it —
 * with the very writer the engine uses on one thread (createFhirWriter), into reused buffers that
 * go to the main thread (transferred, not copied) and come back once written.
 *
 * Messages in: `{ batch, records }` (records: the batch's DialogRecords encoded by record-codec.ts)
 * or `{ batch, piece }` (a piece of the input file to read here, csv-pieces.ts, after one
 * `{ reading }`), each possibly with `returned` buffers. Out: `{ batch, chunks, lengths }` (and
 * a piece's `result`), or `{ error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Piece, PieceConverter, type PieceReading, type PieceResult } from './csv-pieces';
import { createFhirWriter } from './fhir-ndjson';
import { BufferPool, PooledOutput } from './pooled-output';
import { decodeRecords } from './record-codec';

export interface WorkerInit {
  readonly observations: boolean;
  readonly bufferSize: number;
  /** Batches finished, counted here (Atomics.add) for the main thread to read at any time. */
  readonly finished: Int32Array;
  /** Set to 1 (Atomics.store) once this worker has loaded and can take batches. */
  readonly loaded: Int32Array;
}

/** A batch: records read by the main thread, or a piece of the input to read here. */
export type BatchMessage = {
  readonly batch: number;
  /** Buffers of earlier batches, written by the main thread: to be used again. */
  readonly returned: readonly ArrayBuffer[];
} & ({ readonly records: string } | { readonly piece: Piece });

/** Sent once, before the first piece: how to read the pieces of the input. */
export interface PieceReadingMessage {
  readonly reading: PieceReading;
}

export type WorkerReply =
  | {
      readonly batch: number;
      readonly chunks: ArrayBuffer[];
      readonly lengths: number[];
      /** For a piece: what the main thread reports of it. */
      readonly result?: PieceResult;
    }
  | { readonly error: string };

function run(): void {
  const port = parentPort;
  if (!port) return;
  const init = workerData as WorkerInit;
  const writer = createFhirWriter(init.observations ? { observations: true } : {});
  const pool = new BufferPool(init.bufferSize);
  let chunks: ArrayBuffer[] = [];
  let lengths: number[] = [];
  const out = new PooledOutput(pool, {
    write(bytes: Buffer) {
      // Each pooled buffer owns its whole ArrayBuffer (allocUnsafeSlow): it is handed over whole.
      chunks.push(bytes.buffer as ArrayBuffer);
      lengths.push(bytes.length);
    },
  });
  let pieces: PieceConverter | undefined;
  port.on('message', (message: BatchMessage | PieceReadingMessage) => {
    try {
      if ('reading' in message) {
        pieces = new PieceConverter(message.reading, writer);
        return;
      }
      for (const buffer of message.returned) pool.give(Buffer.from(buffer));
      let result: PieceResult | undefined;
      if ('piece' in message) {
        if (!pieces) throw new Error('a piece came before how to read it');
        result = pieces.convert(message.piece, out);
      } else for (const record of decodeRecords(message.records)) writer.writeTo?.(record, out);
      out.flush();
      const reply: WorkerReply = {
        batch: message.batch,
        chunks,
        lengths,
        ...(result ? { result } : {}),
      };
      Atomics.add(init.finished, 0, 1);
      port.postMessage(reply, chunks);
      chunks = [];
      lengths = [];
    } catch (e) {
      const reply: WorkerReply = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
      port.postMessage(reply);
    }
  });
  Atomics.store(init.loaded, 0, 1);
}

run();
