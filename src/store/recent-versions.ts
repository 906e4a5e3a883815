/**
 * The current versions the embedded store read lately, parsed: a plain read of a resource read
 * a moment ago (a clinician's page, a plan polled by another system) costs one primary-key lookup
 * of its version instead of fetching its JSON and parsing it again. Profiled on a read of a
 * CarePlan, the fetch and parse were ~10% of the service's CPU, the lookup that stays ~5%.
 *
 * Each entry is keyed by `type/id` and holds the row (`seq`) of the version it was read from: a
 * hit needs the caller to name the row that is current now, which the store looks up on every
 * read (rows are never numbered twice: `AUTOINCREMENT`). So a write by this process or by another
 * process on the same file never leaves a stale entry in use; no write has to evict anything.
 *
 * What is kept is shared by every reader that gets it, so each parsed resource is frozen (deeply):
 * a caller that tried to change one would fail at once rather than change what others are sent.
 * Bounded by the stored text's length (a proxy for memory) and by entries; the least recently used
 * go first.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface RecentVersion {
  readonly resource: Resource;
  readonly text: string;
}

interface Entry extends RecentVersion {
  readonly seq: number;
}

/** Stored text kept at most (characters); parsed objects take a few times this in memory. */
const DEFAULT_MAX_TEXT = 8 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 2000;
/** A version longer than this is not kept (it would push out many others). */
const MAX_ENTRY_FRACTION = 8;

export class RecentVersions {
  private readonly entries = new Map<string, Entry>();
  private textLength = 0;

  constructor(
    private readonly maxText = DEFAULT_MAX_TEXT,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /** The version kept for `key`, if it is the one in row `seq`. */
  get(key: string, seq: number): RecentVersion | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.seq !== seq) {
      this.remove(key, entry);
      return undefined;
    }
    // Most recently used last: a Map iterates in insertion order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Keeps the version of row `seq`, parsed from `text`; returns it (frozen). */
  keep(key: string, seq: number, text: string): RecentVersion {
    const resource = deepFreeze(JSON.parse(text) as Resource);
    const entry: Entry = { seq, text, resource };
    if (text.length > this.maxText / MAX_ENTRY_FRACTION) return entry;
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    this.entries.set(key, entry);
    this.textLength += text.length;
    this.evict();
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.textLength <= this.maxText && this.entries.size <= this.maxEntries) return;
      this.remove(key, entry);
    }
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.textLength -= entry.text.length;
  }
}

/** Freezes an object parsed from JSON and everything in it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
