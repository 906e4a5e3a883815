/** src/service/at-once.ts: independent store reads a few at a time, failures answered in order. */
import { setTimeout as sleep } from 'node:timers/promises';
import { eachAtOnce } from '../../src/service/at-once';

describe('eachAtOnce', () => {
  it('runs every item, never more than the limit at once', async () => {
    let now = 0;
    let most = 0;
    const done: number[] = [];
    await eachAtOnce(
      Array.from({ length: 20 }, (_, i) => i),
      async (i) => {
        most = Math.max(most, ++now);
        await sleep(i % 3);
        now--;
        done.push(i);
      },
      4,
    );
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBe(4);
  });

  it('rejects with the earliest item’s failure, though a later one failed first', async () => {
    const run = eachAtOnce([0, 1, 2, 3], async (i) => {
      await sleep(i === 1 ? 20 : 1);
      if (i === 1) throw new Error('item 1');
      if (i === 3) throw new Error('item 3');
    });
    await expect(run).rejects.toThrow('item 1');
  });

  it('waits for every item before rejecting, so none is left running', async () => {
    let finished = 0;
    const run = eachAtOnce([0, 1, 2], async (i) => {
      if (i === 0) throw new Error('first');
      await sleep(10);
      finished++;
    });
    await expect(run).rejects.toThrow('first');
    expect(finished).toBe(2);
  });

  it('an empty list is nothing to do', async () => {
    await expect(eachAtOnce([], () => Promise.reject(new Error('never')))).resolves.toBeUndefined();
  });
});
