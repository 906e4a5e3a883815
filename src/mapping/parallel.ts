/**
 * FHIR NDJSON written by worker threads, as batches in input order. A batch is either
 * - records the main thread read (every rejection, notice and count stays there, in input order,
 *   as on one thread), handed to a worker (fhir-worker.ts) which writes their text with the same
 *   writer the engine uses on one thread; or
 * - a piece of a DIALOG+ app CSV file (`addPiece`, cut-input.ts): whole records the worker parses,
 *   reads and writes itself (csv-pieces.ts), answering with the rejected rows and counts, which
 *   the main thread reports (`onPiece`) when the piece's turn at the output comes.
 * The main thread writes the batches' bytes to the output in input order, and converts a batch
 * itself when the workers are busy. Writing the FHIR text (the responses and their `$extract`
 * Observations) costs several times more CPU than reading the input, so on a machine with more
 * than one core this spreads that cost over them; with pieces, reading the input is spread too.
 *
 * Memory stays bounded: at most `maxBatches` batches are in the workers or waiting for their turn
 * at the output, and the caller waits (`ready`) while the output's queue is long. The buffers the
 * workers write into are transferred (not copied) to the main thread and back once written.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import type { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { createFhirWriter } from './fhir-ndjson';
import { type Piece, PieceConverter, type PieceReading, type PieceResult } from './csv-pieces';
import type { BatchMessage, PieceReadingMessage, WorkerInit, WorkerReply } from './fhir-worker';
import { BufferPool, PooledOutput } from './pooled-output';
import type { DialogRecord } from './record';
import type { FormatWriter } from './types';
import { encodeRecords } from './record-codec';

export interface ParallelOptions {
  /** Worker threads (at least 1). */
  readonly threads: number;
  /** After each response, the Observations `$extract` gives for it. */
  readonly observations: boolean;
  /** Records per batch. */
  readonly batchRecords?: number;
  /** Batches sent and not yet written to the output, at most. */
  readonly maxBatches?: number;
  /** Bytes queued in the output stream from which `ready` waits for it to drain. */
  readonly maxQueuedBytes?: number;
  /** What each piece (`addPiece`) gave to report, called in input order as it is written. */
  readonly onPiece?: (result: PieceResult) => void;
}

const BUFFER_SIZE = 512 * 1024;
/**
 * Pieces queued to a worker (the one it is on included) from which this thread reads the next
 * piece itself: a piece costs this thread as much as a worker, so it takes its share sooner than
 * with records (converting 100k sessions, 5.23 s with 2 against 5.55 s with 1 and 5.67 s with 3).
 */
const PIECES_QUEUED = 2;
/** The same for batches of records: two waiting besides the one the worker is on (see `send`). */
const RECORDS_QUEUED = 3;

interface Chunk {
  readonly bytes: Buffer;
  readonly done: () => void;
}

/** A batch converted, waiting for its turn at the output. */
interface Answer {
  readonly chunks: Chunk[];
  readonly result?: PieceResult | undefined;
}

interface Thread {
  readonly worker: Worker;
  /**
   * 1 once it has loaded its modules (~0.1–0.3 s after it starts), set by the worker itself so
   * the main thread sees it while busy reading input. Until then the main thread
   * converts every batch itself: a batch sent to a worker still loading would hold back the
   * output of every batch after it, and the main thread would wait instead of converting.
   */
  readonly loaded: Int32Array;
  /** Batches sent to it. */
  sent: number;
  /**
   * How many batches it has finished, counted by the worker itself: the main thread reads it
   * while it is busy reading input, before the worker's answers reach its event loop.
   */
  readonly finished: Int32Array;
  /** Whether it has been sent a batch (only those count as having written part of the output). */
  used: boolean;
  /** Its buffers the output has written, to go back with its next batch. */
  returned: ArrayBuffer[];
}

/** The worker's script: compiled JavaScript, or the TypeScript source through tsx (tests). */
function startWorker(init: WorkerInit): Worker {
  // A smaller young generation than V8's default: the worker's garbage is short-lived (each
  // batch's records and strings). Peak RSS converting 100k sessions with one worker, measured
  // here: ~197 MB with 8 MB, ~214 MB with 16 MB, ~222 MB with 32 MB; the CPU time the same.
  const options = { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 8 } };
  if (__filename.endsWith('.js')) return new Worker(join(__dirname, 'fhir-worker.js'), options);
  const source = join(__dirname, 'fhir-worker.ts');
  return new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(source)});`, {
    ...options,
    eval: true,
  });
}

export class ParallelFhirOutput {
  private readonly threads: Thread[];
  private readonly batchRecords: number;
  private readonly maxBatches: number;
  private readonly maxQueuedBytes: number;
  private batch: DialogRecord[] = [];
  /** The next batch's number; batches are written in this order. */
  private sent = 0;
  private written = 0;
  /** Batches converted and waiting for their turn at the output, by batch number. */
  private readonly answered = new Map<number, Answer>();
  /** This thread's reader of pieces (`readPieces`). */
  private pieces: PieceConverter | undefined;
  private readonly onPiece: ((result: PieceResult) => void) | undefined;
  /** The main thread's own writer, for batches it converts itself while the workers are busy. */
  private readonly writer: FormatWriter;
  private readonly local: PooledOutput;
  private localChunks: Chunk[] = [];
  private failed = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly output: Writable,
    options: ParallelOptions,
  ) {
    this.batchRecords = options.batchRecords ?? 100;
    // Room for each worker to have two batches waiting besides the one it is on (see `send`).
    this.maxBatches = options.maxBatches ?? options.threads * 3 + 2;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.onPiece = options.onPiece;
    const init: Omit<WorkerInit, 'finished' | 'loaded'> = {
      observations: options.observations,
      bufferSize: BUFFER_SIZE,
    };
    this.writer = createFhirWriter(options.observations ? { observations: true } : {});
    this.local = new PooledOutput(new BufferPool(BUFFER_SIZE), {
      write: (bytes, done) => this.localChunks.push({ bytes, done }),
    });
    this.threads = [];
    for (let i = 0; i < Math.max(1, options.threads); i++) {
      const finished = new Int32Array(new SharedArrayBuffer(4));
      const loaded = new Int32Array(new SharedArrayBuffer(4));
      const thread: Thread = {
        worker: startWorker({ ...init, finished, loaded }),
        loaded,
        used: false,
        sent: 0,
        finished,
        returned: [],
      };
      thread.worker.on('message', (reply: WorkerReply) => this.answer(thread, reply));
      thread.worker.on('error', (e: Error) => this.fail(e));
      thread.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`a conversion worker stopped (exit code ${code})`));
      });
      this.threads.push(thread);
    }
  }

  /**
   * From now on pieces of the input (`addPiece`) may come, read this way: every worker is told
   * before its first piece.
   */
  readPieces(reading: PieceReading): void {
    this.pieces = new PieceConverter(reading, this.writer);
    const message: PieceReadingMessage = { reading };
    for (const thread of this.threads) thread.worker.postMessage(message);
  }

  /**
   * A piece of the input, read and written by the least busy worker (or this thread); what it
   * gives to report goes to `onPiece` when its turn at the output comes. Records added before
   * it go first.
   */
  addPiece(piece: Piece): void {
    this.check();
    const pieces = this.pieces;
    if (!pieces) throw new Error('readPieces must come before the first piece');
    this.send();
    const thread = this.leastBusy(PIECES_QUEUED);
    if (!thread) {
      const number = this.sent++;
      const result = pieces.convert(piece, this.local);
      this.answerLocally(number, result);
      return;
    }
    // A copy of its own, moved (not cloned) to the worker: a view would clone its whole buffer.
    const bytes = new Uint8Array(piece.bytes);
    const message: BatchMessage = {
      batch: this.sent++,
      piece: { bytes, firstRow: piece.firstRow, rows: piece.rows },
      returned: this.takeReturned(thread),
    };
    this.post(thread, message, [bytes.buffer]);
  }

  /** Queues a record; a full batch goes to the least busy worker. */
  add(record: DialogRecord): void {
    this.check();
    this.batch.push(record);
    if (this.batch.length >= this.batchRecords) this.send();
  }

  /**
   * Resolves when another batch may be sent: fewer than `maxBatches` in flight and the output's
   * queue short. Rejects once a worker or the output has failed.
   */
  async ready(): Promise<void> {
    for (;;) {
      this.check();
      if (this.sent - this.written >= this.maxBatches) await this.next();
      else if (this.output.writableLength > this.maxQueuedBytes) await this.drained();
      else return;
    }
  }

  /**
   * Resolves once every worker has loaded. Not needed for speed (the main thread converts until
   * then); tests use it so that the workers surely take part, however small the input.
   */
  async loaded(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.threads.some((t) => Atomics.load(t.loaded, 0) !== 1)) {
      this.check();
      if (Date.now() > until)
        throw new Error(`the conversion workers did not load within ${timeoutMs / 1000} s`);
      await delay(5);
    }
  }

  /** How many workers have been sent batches: the ones that wrote part of the output. */
  get workersUsed(): number {
    return this.threads.filter((t) => t.used).length;
  }

  /** Sends the last batch and resolves once every batch has been handed to the output. */
  async finish(): Promise<void> {
    this.send();
    while (this.written < this.sent) {
      this.check();
      await this.next();
    }
    this.check();
  }

  /** Stops the workers (always call it, also after a failure). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private send(): void {
    if (this.batch.length === 0) return;
    const thread = this.leastBusy(RECORDS_QUEUED);
    if (!thread) {
      const number = this.sent++;
      for (const record of this.batch) this.writer.writeTo?.(record, this.local);
      this.batch = [];
      this.answerLocally(number, undefined);
      return;
    }
    const message: BatchMessage = {
      batch: this.sent++,
      records: encodeRecords(this.batch),
      returned: this.takeReturned(thread),
    };
    this.batch = [];
    this.post(thread, message, []);
  }

  /**
   * The loaded worker with the fewest batches queued, or none: no worker is ready, or every one
   * has `queueing` batches queued, and this thread takes the batch. For records, with one waiting
   * besides the one it is on (as before), this thread took so many that it was the slower one and
   * the worker idled ~12% of the time; with two, the conversion of 100k sessions took ~6% less
   * wall time here (medians of 7 interleaved runs: 5.55 s against 5.9 s; three waiting was no
   * better again).
   */
  private leastBusy(queueing: number): Thread | undefined {
    let thread: Thread | undefined;
    let busy = Number.MAX_SAFE_INTEGER;
    for (const t of this.threads) {
      const queued = t.sent - Atomics.load(t.finished, 0);
      if (Atomics.load(t.loaded, 0) === 1 && queued < busy) {
        busy = queued;
        thread = t;
      }
    }
    return busy >= queueing ? undefined : thread;
  }

  private takeReturned(thread: Thread): ArrayBuffer[] {
    const returned = thread.returned;
    thread.returned = [];
    return returned;
  }

  private post(thread: Thread, message: BatchMessage, moved: ArrayBuffer[]): void {
    thread.sent++;
    thread.used = true;
    thread.worker.postMessage(message, [...message.returned, ...moved]);
  }

  /** A batch this thread wrote into `local`: its turn at the output comes in order. */
  private answerLocally(number: number, result: PieceResult | undefined): void {
    this.local.flush();
    this.answered.set(number, { chunks: this.localChunks, result });
    this.localChunks = [];
    this.writeAnswered();
  }

  private answer(thread: Thread, reply: WorkerReply): void {
    if ('error' in reply) {
      this.fail(new Error(`a conversion worker failed: ${reply.error}`));
      return;
    }
    this.answered.set(reply.batch, {
      chunks: reply.chunks.map((buffer, i) => ({
        bytes: Buffer.from(buffer, 0, reply.lengths[i]),
        done: () => thread.returned.push(buffer),
      })),
      result: reply.result,
    });
    this.writeAnswered();
    this.signal();
  }

  /** Writes the answered batches that are next in input order. */
  private writeAnswered(): void {
    for (
      let next = this.answered.get(this.written);
      next && !this.failed;
      next = this.answered.get(this.written)
    ) {
      this.answered.delete(this.written);
      this.written++;
      for (const { bytes, done } of next.chunks) {
        if (this.output.destroyed) break;
        this.output.write(bytes, done);
      }
      if (next.result) this.report(next.result);
    }
  }

  private report(result: PieceResult): void {
    try {
      this.onPiece?.(result);
    } catch (e) {
      // Called from a worker's answer, not the caller's loop: the caller sees it at its next call.
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    if (!this.failed) this.failure = e;
    this.failed = true;
    this.signal();
  }

  private check(): void {
    if (this.failed) throw this.failure;
    if (this.output.destroyed || this.output.errored)
      throw this.output.errored ?? new Error('the output is closed');
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves at the next answer or failure. */
  private next(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** Resolves at a drain, an error or the output closing (a reader gone: `check` then throws). */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        for (const event of OUTPUT_ENDS) this.output.off(event, done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      for (const event of OUTPUT_ENDS) this.output.once(event, done);
      this.wake = done;
    });
  }
}

/** What ends a wait for the output to drain. */
const OUTPUT_ENDS = ['drain', 'error', 'close'] as const;

/** Input per default worker thread (see defaultThreads). */
const BYTES_PER_THREAD = 4 * 1024 * 1024;

/**
 * Worker threads for a conversion by default: one fewer than the cores Node may use (the main
 * thread reads the input and converts batches itself whenever the workers are all busy), and,
 * when the input's size is known, at most one per 4 MiB of it: each worker takes ~0.1–0.3 s of
 * CPU to load, which a few megabytes do not repay (on a many-core machine a small file would
 * start them all).
 */
export function defaultThreads(
  inputBytes?: number,
  cores: number = availableParallelism(),
): number {
  const byCores = Math.max(0, cores - 1);
  if (inputBytes === undefined) return byCores;
  return Math.min(byCores, Math.ceil(inputBytes / BYTES_PER_THREAD));
}

/**
 * Sets V8's heap growing factor for this process to a fixed 1.5 (`--heap-growing-percent=50`),
 * as `dialog-fhir convert` does: a long conversion promotes a steady trickle of short-lived
 * objects, and with two busy threads V8's own heuristics (which judge how fast garbage can be
 * collected from the time marking takes, slower when the cores are taken) let the main heap grow
 * to ~125 MB between major collections instead of ~60 MB, so peak RSS grew with the input
 * (measured with one worker: ~203 MB at 100k sessions, 223–251 MB at 1M). With the factor fixed
 * it stays flat (~190 MB and ~196 MB) for the same CPU time. Process-wide, so it is for a process
 * that converts (the CLI, the benchmark), not for library callers in general.
 */
export function tuneHeapForConversion(): void {
  setFlagsFromString('--heap-growing-percent=50');
}
