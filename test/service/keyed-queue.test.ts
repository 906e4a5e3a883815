/**
 * src/service/keyed-queue.ts: tasks under one key run one at a time, in order; `runAll` holds
 * several keys at once without two tasks each waiting for the other's key.
 */
import { KeyedQueue } from '../../src/service/keyed-queue';

/** A task that records when it starts and ends, and ends when `release` is called. */
function gated(log: string[], name: string): { task: () => Promise<string>; release: () => void } {
  let release = (): void => undefined;
  const done = new Promise<void>((resolve) => (release = resolve));
  return {
    task: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
      return name;
    },
    release: () => release(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('KeyedQueue.runAll', () => {
  it('waits for every key it names, and lets other keys run meanwhile', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const a = gated(log, 'a');
    const both = gated(log, 'both');
    const c = gated(log, 'c');
    const ranA = queue.run('a', a.task);
    const ranBoth = queue.runAll(['b', 'a'], both.task);
    const ranC = queue.run('c', c.task);
    await tick();
    expect(log).toEqual(['start a', 'start c']);
    a.release();
    await ranA;
    await tick();
    expect(log).toContain('start both');
    both.release();
    c.release();
    expect(await Promise.all([ranBoth, ranC])).toEqual(['both', 'c']);
  });

  it('takes overlapping keys in one order, so crossed requests both finish', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const one = gated(log, 'one');
    const two = gated(log, 'two');
    const first = queue.runAll(['x', 'y'], one.task);
    const second = queue.runAll(['y', 'x'], two.task);
    await tick();
    expect(log).toEqual(['start one']);
    one.release();
    two.release();
    expect(await Promise.all([first, second])).toEqual(['one', 'two']);
    expect(log).toEqual(['start one', 'end one', 'start two', 'end two']);
  });

  it('takes a key named twice once', async () => {
    const queue = new KeyedQueue();
    expect(await queue.runAll(['k', 'k'], () => Promise.resolve('ran'))).toBe('ran');
  });
});
