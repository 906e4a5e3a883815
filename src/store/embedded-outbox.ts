/**
 * The embedded store's durable outbox: messages for other systems (handovers, notifications),
 * written in the same SQLite transaction as the resources they are about, so a message exists
 * exactly when its write does. Delivery, backoff and giving up are the transfer layer's; this is
 * the queue.
 *
 * A message is `pending` until claimed. `claimDue` makes it `in-flight` for a lease and counts
 * the attempt; a claimer that dies simply lets the lease run out and the message is due again.
 * `markDelivered` / `markFailed` name the attempt they finish (`attempts`), so a claimer whose
 * lease ran out and was overtaken cannot finish someone else's attempt. A failure with no retry
 * time is `dead`.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';

export type OutboxState = 'pending' | 'in-flight' | 'delivered' | 'dead';

export interface OutboxInput {
  /** A stable id makes enqueueing idempotent: a message whose id is there already is kept as is. */
  readonly id?: string;
  /** Who it is for (a peer system's name from the configuration). */
  readonly destination: string;
  /** Any JSON value. Patient data belongs in resources it references, not here, where possible. */
  readonly payload: unknown;
  /** Not due before this instant (default: now). */
  readonly notBefore?: Date;
}

export interface OutboxMessage {
  readonly id: string;
  readonly destination: string;
  readonly payload: unknown;
  readonly state: OutboxState;
  /** Claims so far (the current attempt's number while in flight). */
  readonly attempts: number;
  /** When it is due (pending) or its lease ends (in flight). */
  readonly nextAttemptAt: string;
  /** The last failure's description; must not carry patient data. */
  readonly lastError?: string;
  readonly createdAt: string;
}

/** What finishing an attempt needs: the message and the attempt claimed. */
export type OutboxAttempt = Pick<OutboxMessage, 'id' | 'attempts'>;

interface OutboxRow {
  id: string;
  destination: string;
  payload: string;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
}

function message(row: OutboxRow): OutboxMessage {
  return {
    id: row.id,
    destination: row.destination,
    payload: JSON.parse(row.payload) as unknown,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: new Date(row.next_attempt_at).toISOString(),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    createdAt: new Date(row.created_at).toISOString(),
  };
}

export const DEFAULT_LEASE_MS = 60_000;

/** Sync queries on the store's connection; the store wraps them in transactions. */
export class OutboxTable {
  private readonly insert: Statement;
  private readonly byId: Statement;
  private readonly due: Statement;
  private readonly claim: Statement;
  private readonly finish: Statement;

  constructor(db: Database) {
    this.insert = db.prepare(
      `INSERT INTO outbox (id, destination, payload, state, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    this.byId = db.prepare('SELECT * FROM outbox WHERE id = ?');
    this.due = db.prepare(
      `SELECT * FROM outbox WHERE state IN ('pending', 'in-flight') AND next_attempt_at <= ?
       ORDER BY next_attempt_at, rowid LIMIT ?`,
    );
    this.claim = db.prepare(
      `UPDATE outbox SET state = 'in-flight', attempts = attempts + 1, next_attempt_at = ?,
       updated_at = ? WHERE id = ?`,
    );
    this.finish = db.prepare(
      `UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = COALESCE(?, last_error), updated_at = ?
       WHERE id = ? AND state = 'in-flight' AND attempts = ?`,
    );
  }

  /** True when added; false when a message with that id was there already. */
  enqueue(input: OutboxInput, now: number): boolean {
    if (typeof input.destination !== 'string' || input.destination === '')
      throw new TypeError('An outbox message needs a destination');
    const payload = JSON.stringify(input.payload);
    if (payload === undefined) throw new TypeError('An outbox payload must be JSON');
    const due = input.notBefore?.getTime() ?? now;
    const id = input.id ?? randomUUID();
    return this.insert.run(id, input.destination, payload, due, now, now).changes === 1;
  }

  get(id: string): OutboxMessage | undefined {
    const row = this.byId.get(id) as OutboxRow | undefined;
    return row ? message(row) : undefined;
  }

  claimDue(now: number, limit: number, leaseMs: number): OutboxMessage[] {
    const rows = this.due.all(now, Math.max(0, Math.floor(limit))) as OutboxRow[];
    return rows.map((row) => {
      this.claim.run(now + leaseMs, now, row.id);
      return message(this.byId.get(row.id) as OutboxRow);
    });
  }

  finishAttempt(
    attempt: OutboxAttempt,
    state: 'delivered' | 'pending' | 'dead',
    nextAttemptAt: number,
    lastError: string | null,
    now: number,
  ): boolean {
    const { changes } = this.finish.run(
      state,
      nextAttemptAt,
      lastError,
      now,
      attempt.id,
      attempt.attempts,
    );
    return changes === 1;
  }
}
