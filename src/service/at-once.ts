/**
 * Store reads that do not depend on each other, a few at a time: over the fhir-server store each
 * is a round trip to the FHIR server, and one after another they add up (a plan naming every Goal
 * it ever had, a handover's hundreds of entries). Bounded, so a long list does not open hundreds
 * of requests at once.
 */

/** How many reads are under way at once (a FHIR server's connections, not more). */
export const READS_AT_ONCE = 8;

/**
 * Runs `work` on every item, at most `limit` at once. When any fail, rejects with the failure of
 * the earliest item, once all have settled: the same answer as running them in order would give,
 * whichever finished first.
 */
export async function eachAtOnce<T>(
  items: readonly T[],
  work: (item: T) => Promise<void>,
  limit: number = READS_AT_ONCE,
): Promise<void> {
  const failures = new Map<number, unknown>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        await work(items[index] as T);
      } catch (err) {
        failures.set(index, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.size > 0) throw failures.get(Math.min(...failures.keys()));
}
