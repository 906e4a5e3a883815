/**
 * Durable commits without stopping the event loop.
 *
 * The embedded store's writer commits with `synchronous=OFF`: SQLite hands the WAL frames of a
 * commit to the operating system (so they survive a crash of this process) but does not wait for
 * the disk. Before any caller is told its write is stored, `WalSync` syncs the WAL file with
 * `fdatasync` on libuv's thread pool, so the disk wait no longer blocks every other request (with
 * `synchronous=FULL` it did: better-sqlite3 is synchronous). A sync covers every commit made
 * before it started; commits made while one runs share the next one, so a burst pays one disk
 * wait per round rather than one per request.
 *
 * Only the WAL needs syncing at commit: the database file changes only at a checkpoint, which
 * the store runs with `synchronous=FULL` (SQLite then syncs the WAL, copies, and syncs the
 * database before the WAL can be reused; see `background-checkpoint.ts`).
 *
 * A failed sync means the disk may not hold what SQLite wrote: the waiting callers are refused,
 * and so is every later write (as PostgreSQL does after an fsync failure), until restart.
 */
import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class WalSync {
  private fd: number | undefined;
  private running = false;
  private waiting: Waiter[] = [];
  private failure: unknown;

  /** `databasePath`: the SQLite file; its WAL is `<databasePath>-wal`. */
  constructor(private readonly databasePath: string) {}

  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.running) this.start();
    });
  }

  /** Syncs now, blocking: for the rare write whose caller needs durability before it returns. */
  syncNow(): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      fdatasyncSync(this.walFd());
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /** The WAL's size in bytes (0 before it exists): when to checkpoint. */
  walBytes(): number {
    return this.fd === undefined ? 0 : fstatSync(this.fd).size;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.running = true;
    let fd: number;
    try {
      fd = this.walFd();
    } catch (err) {
      this.finish(batch, err);
      return;
    }
    fdatasync(fd, (err) => this.finish(batch, err ?? undefined));
  }

  private finish(batch: readonly Waiter[], err: unknown): void {
    this.running = false;
    if (err !== undefined) this.fail(err);
    for (const waiter of batch) {
      if (this.failure === undefined) waiter.resolve();
      else waiter.reject(this.failure);
    }
    if (this.waiting.length > 0) {
      if (this.failure === undefined) this.start();
      else for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
    }
  }

  private fail(err: unknown): void {
    this.failure ??= new Error(
      `The store could not sync its journal to disk (${String(err)}); refusing writes until restart`,
    );
  }

  /**
   * The WAL, opened once (the writer connection keeps it from being deleted, and a checkpoint
   * truncates it in place, so the descriptor stays valid). The first open also syncs the
   * directory, so the WAL's name is as durable as its contents.
   */
  private walFd(): number {
    if (this.fd === undefined) {
      this.fd = openSync(`${this.databasePath}-wal`, 'r');
      const dir = openSync(dirname(this.databasePath), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
    return this.fd;
  }
}
