/**
 * Runs tasks one at a time per key, in the order they arrive; different keys run concurrently.
 * Used to take one person's session submissions in turn, so they do not race for the plan within
 * this process (races with other processes are caught by If-Match).
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    // Forget the key once its queue is empty, so the map does not grow with every person seen.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /**
   * Runs `task` once it holds every key. Keys are taken in one order (sorted), so two tasks
   * wanting overlapping keys cannot each hold one the other waits for.
   */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const ordered = [...new Set(keys)].sort();
    const held = ordered.reduceRight<() => Promise<T>>(
      (inner, key) => () => this.run(key, inner),
      task,
    );
    return held();
  }
}
