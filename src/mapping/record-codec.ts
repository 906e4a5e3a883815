/**
 * DialogRecords as text, to hand a batch of them to a conversion worker (parallel.ts): one
 * string per batch is copied between threads far more cheaply than structured-cloning each
 * record. Records are plain data (strings, numbers, booleans, arrays, objects), so JSON holds
 * them; a key whose value is undefined is left out, which every writer reads the same as absent.
 */
import type { DialogRecord } from './record';

export function encodeRecords(records: readonly DialogRecord[]): string {
  return JSON.stringify(records);
}

export function decodeRecords(text: string): DialogRecord[] {
  return JSON.parse(text) as DialogRecord[];
}
