/**
 * A conversion worker (node:worker_threads, started by parallel.ts): writes batches of records as
 * FHIR NDJSON — each response, and with `observations` the Observations `$extract` gives for it —
 * with the very writer the engine uses on one thread (createFhirWriter), into reused buffers that
 * go to the main thread (transferred, not copied) and come back once written.
 *
 * Messages in: `{ batch, records }` (records: the batch's DialogRecords encoded by record-codec.ts),
 * each possibly with `returned` buffers. Out: `{ batch, chunks, lengths }`, or `{ error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
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

export interface BatchMessage {
  readonly batch: number;
  readonly records: string;
  /** Buffers of earlier batches, written by the main thread: to be used again. */
  readonly returned: readonly ArrayBuffer[];
}

export type WorkerReply =
  | { readonly batch: number; readonly chunks: ArrayBuffer[]; readonly lengths: number[] }
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
  port.on('message', (message: BatchMessage) => {
    try {
      for (const buffer of message.returned) pool.give(Buffer.from(buffer));
      for (const record of decodeRecords(message.records)) writer.writeTo?.(record, out);
      out.flush();
      const reply: WorkerReply = { batch: message.batch, chunks, lengths };
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
