/**
 * Checkpoints on a worker thread, so copying the WAL into the database file (a hundred
 * milliseconds or more per 32 MB, with two disk syncs) never stops the event loop.
 *
 * The worker has a connection of its own to the same file with `synchronous=FULL`: SQLite then
 * syncs the WAL, copies its pages, and syncs the database file before it records the frames as
 * copied, so the writer can reuse the WAL only once what it held is safe in the database file.
 * PASSIVE: the writer and readers carry on while it runs (what a reader still needs is copied
 * at a later checkpoint). better-sqlite3 is loaded in the worker from the path the main thread
 * resolved, so it works the same from compiled code, tsx and jest.
 */
import { Worker } from 'node:worker_threads';

/** The worker's code, run with `eval`: one connection, one checkpoint per message. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
db.pragma('synchronous = FULL');
db.pragma('wal_autocheckpoint = 0');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ complete: result.busy === 0 && result.log === result.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: String(err) });
  }
});
`;

interface Reply {
  readonly complete?: boolean;
  readonly error?: string;
}

export class BackgroundCheckpoint {
  private readonly worker: Worker;
  private running: ((reply: Reply) => void) | undefined;
  private closed = false;

  constructor(databasePath: string, busyTimeoutMs: number) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: require.resolve('better-sqlite3'),
        path: databasePath,
        busyTimeoutMs,
      },
    });
    // A checkpoint never keeps the process alive on its own; closing does (`close`).
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const done = this.running;
      this.running = undefined;
      done?.(reply);
    });
    this.worker.on('error', (err) => {
      const done = this.running;
      this.running = undefined;
      done?.({ error: String(err) });
    });
  }

  /** Whether a checkpoint is under way (the store starts at most one at a time). */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Runs one checkpoint; resolves true when every frame was copied (the WAL can start again
   * from its beginning), false when readers kept some back. Rejects when SQLite refused.
   */
  run(): Promise<boolean> {
    if (this.closed) return Promise.reject(new Error('The checkpoint worker is closed'));
    if (this.running) return Promise.reject(new Error('A checkpoint is already running'));
    return new Promise<boolean>((resolve, reject) => {
      this.running = (reply) => {
        if (reply.error !== undefined) reject(new Error(`Checkpoint failed: ${reply.error}`));
        else resolve(reply.complete === true);
      };
      this.worker.postMessage('run');
    });
  }

  /** Waits for a running checkpoint, then closes the worker's connection and the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waited for now: unreferenced, the worker would let the process end first when nothing else
    // keeps it alive (a CLI, a service whose server has closed), and the store would never close.
    this.worker.ref();
    const running = this.running;
    if (running)
      await new Promise<void>((resolve) => {
        this.running = (reply) => {
          running(reply);
          resolve();
        };
      });
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('close');
    await exited;
  }
}
