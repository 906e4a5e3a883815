/**
 * Logical ids for resources the embedded store names itself: UUID version 7 (RFC 9562 §5.7),
 * whose first 48 bits are the Unix time in milliseconds, so ids made later sort later.
 *
 * Why not random (version 4) ids: the store's tables are B-trees keyed by (type, id). Random keys
 * land on a different page each, so every commit rewrote hundreds of pages for a few rows; the
 * audit trail alone (an AuditEvent per request, written 500 at a time) put ~7 KB into the WAL per
 * event. Ids in time order append to the end of each tree instead: measured on 60,000 AuditEvents,
 * the WAL took a tenth of the bytes and the store half the CPU per event.
 *
 * Within one millisecond the 12 bits after the version count up from a random start (RFC 9562's
 * "fixed bit-length dedicated counter", method 1), so ids made by one process stay in order; on
 * overflow the time is moved on by a millisecond. The other 62 bits are random. An id says when
 * it was made, to the millisecond: `meta.lastUpdated` of the first version says the same.
 */
import { randomFillSync } from 'node:crypto';

const COUNTER_LIMIT = 0x1000;
/**
 * Random bytes are taken from a pool filled 4 KB at a time (as Node's own randomUUID does): one
 * call into OpenSSL per id cost ~2 µs, more than the rest of the id, and ids are made for every
 * AuditEvent and every resource a session creates.
 */
const POOL_BYTES = 4096;
const BYTES_PER_ID = 10;
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

const pool = Buffer.alloc(POOL_BYTES);
let poolAt = POOL_BYTES;
let lastMs = -1;
/** lastMs as the id's first two groups, made once a millisecond. */
let timePart = '';
let counter = 0;

function moveTo(ms: number): void {
  lastMs = ms;
  const time = ms.toString(16).padStart(12, '0');
  timePart = `${time.slice(0, 8)}-${time.slice(8)}`;
}

/** Where this id's BYTES_PER_ID random bytes start in `pool`. */
function randomAt(): number {
  if (poolAt + BYTES_PER_ID > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += BYTES_PER_ID;
  return at;
}

/** `count` pool bytes from `at` as hex. */
function hex(at: number, count: number): string {
  let out = '';
  for (let i = at; i < at + count; i++) out += HEX[pool[i] ?? 0];
  return out;
}

export function timeOrderedId(now: number = Date.now()): string {
  const at = randomAt();
  // A random start in the lower half leaves room to count up within the millisecond.
  const start = (((pool[at] ?? 0) << 8) | (pool[at + 1] ?? 0)) & 0x7ff;
  if (now > lastMs) {
    moveTo(now);
    counter = start;
  } else if (++counter >= COUNTER_LIMIT) {
    moveTo(lastMs + 1);
    counter = start;
  }
  const versionAndCounter = (0x7000 | counter).toString(16);
  const variant = HEX[((pool[at + 2] ?? 0) & 0x3f) | 0x80] ?? '80';
  return `${timePart}-${versionAndCounter}-${variant}${hex(at + 3, 1)}-${hex(at + 4, 6)}`;
}
