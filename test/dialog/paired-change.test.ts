import fc from 'fast-check';
import {
  RELIABLE_CHANGE_THRESHOLD,
  classifyChange,
  classifyMeanChange,
  itemChange,
  meanChange,
  pairedChange,
} from '../../src/dialog/paired-change';
import { meanScore } from '../../src/dialog/scoring';
import type { DialogRatings } from '../../src/dialog/ratings';
import { ALL_CONCEPTS, rating, unchecked, uniform } from './fixtures';

describe('classifyChange', () => {
  it('uses a threshold of 1', () => expect(RELIABLE_CHANGE_THRESHOLD).toBe(1));

  it.each([
    { change: 6, expected: 'reliable-improvement' },
    { change: 1, expected: 'reliable-improvement' },
    { change: 0.999, expected: 'no-reliable-change' },
    { change: 0, expected: 'no-reliable-change' },
    { change: -0.999, expected: 'no-reliable-change' },
    { change: -1, expected: 'reliable-deterioration' },
    { change: -6, expected: 'reliable-deterioration' },
  ])('$change is $expected', ({ change, expected }) => {
    expect(classifyChange(change)).toBe(expected);
  });
});

describe('classifyMeanChange', () => {
  it('decides on exact fractions where float subtraction falls short of 1', () => {
    // Six life items: 23/6 then 29/6. As floats the difference is 0.9999999999999996.
    const six = [
      'mental-health',
      'physical-health',
      'job-situation',
      'accommodation',
      'leisure-activities',
      'friendships',
    ] as const;
    const base = rating(Object.fromEntries(six.map((c, i) => [c, i === 0 ? 3 : 4])));
    const follow = rating(Object.fromEntries(six.map((c, i) => [c, i === 0 ? 4 : 5])));
    const b = meanScore(base, 'sqol');
    const f = meanScore(follow, 'sqol');
    if (!b || !f) throw new Error('fixture');
    expect(f.value - b.value).toBeLessThan(1);
    expect(classifyMeanChange(b, f)).toBe('reliable-improvement');
    expect(classifyMeanChange(f, b)).toBe('reliable-deterioration');
  });

  it.each([
    { desc: 'equal means', base: 4, follow: 4, expected: 'no-reliable-change' },
    { desc: 'just under +1 (7/8)', base: 4, follow: 4.875, expected: 'no-reliable-change' },
    { desc: 'exactly +1', base: 4, follow: 5, expected: 'reliable-improvement' },
    { desc: 'exactly −1', base: 5, follow: 4, expected: 'reliable-deterioration' },
    { desc: 'just over −1 (−7/8)', base: 4.875, follow: 4, expected: 'no-reliable-change' },
  ])('$desc', ({ base, follow, expected }) => {
    // Eight life items; a mean m with eighths is 8m points spread over the items.
    const life = ALL_CONCEPTS.slice(0, 8);
    const spread = (m: number) => {
      const total = Math.round(m * 8);
      const low = Math.floor(total / 8);
      return rating(
        Object.fromEntries(life.map((c, i) => [c, i < total - low * 8 ? low + 1 : low])),
      );
    };
    const b = meanScore(spread(base), 'sqol');
    const f = meanScore(spread(follow), 'sqol');
    if (!b || !f) throw new Error('fixture');
    expect(b.value).toBe(base);
    expect(f.value).toBe(follow);
    expect(classifyMeanChange(b, f)).toBe(expected);
  });

  it('agrees with exact rational comparison for any pair of means (property)', () => {
    const mean = fc.record({
      n: fc.integer({ min: 1, max: 8 }),
      k: fc.integer({ min: 0, max: 48 }),
    });
    fc.assert(
      fc.property(mean, mean, (a, b) => {
        const sumA = a.n + Math.min(a.k, 6 * a.n);
        const sumB = b.n + Math.min(b.k, 6 * b.n);
        const ms = (n: number, sum: number) =>
          ({ itemsUsed: new Array(n).fill('x'), sum }) as never;
        const numerator = sumB * a.n - sumA * b.n; // (B − A)·nA·nB
        const expected =
          numerator >= a.n * b.n
            ? 'reliable-improvement'
            : numerator <= -a.n * b.n
              ? 'reliable-deterioration'
              : 'no-reliable-change';
        expect(classifyMeanChange(ms(a.n, sumA), ms(b.n, sumB))).toBe(expected);
      }),
    );
  });
});

describe('pairedChange, items', () => {
  const T1 = '2026-01-05T10:00:00Z';
  const T2 = '2026-02-05T10:00:00Z';
  const T3 = '2026-03-05T10:00:00Z';
  const T4 = '2026-04-05T10:00:00+01:00';

  it.each([
    {
      desc: 'two ratings: baseline and follow-up',
      ratings: [rating({ medication: 3 }, T1), rating({ medication: 5 }, T2)],
      expected: [{ base: [3, T1], follow: [5, T2], change: 2, category: 'reliable-improvement' }],
    },
    {
      desc: 'the middle rating is ignored: first with latest later',
      ratings: [
        rating({ medication: 3 }, T1),
        rating({ medication: 1 }, T2),
        rating({ medication: 4 }, T3),
      ],
      expected: [{ base: [3, T1], follow: [4, T3], change: 1, category: 'reliable-improvement' }],
    },
    {
      desc: 'a deterioration',
      ratings: [rating({ medication: 6 }, T1), rating({ medication: 5 }, T2)],
      expected: [
        { base: [6, T1], follow: [5, T2], change: -1, category: 'reliable-deterioration' },
      ],
    },
    {
      desc: 'no change',
      ratings: [rating({ medication: 6 }, T1), rating({ medication: 6 }, T4)],
      expected: [{ base: [6, T1], follow: [6, T4], change: 0, category: 'no-reliable-change' }],
    },
    {
      desc: 'the item missing from the first rating: baseline is its first valid score',
      ratings: [
        rating({ meetings: 2 }, T1),
        rating({ medication: 2 }, T2),
        rating({ medication: 3, meetings: 2 }, T3),
      ],
      expected: [{ base: [2, T2], follow: [3, T3], change: 1, category: 'reliable-improvement' }],
    },
    {
      desc: 'the item missing from the last rating: follow-up is its latest valid score',
      ratings: [
        rating({ medication: 2 }, T1),
        rating({ medication: 4 }, T2),
        rating({ meetings: 2 }, T3),
      ],
      expected: [{ base: [2, T1], follow: [4, T2], change: 2, category: 'reliable-improvement' }],
    },
    {
      desc: 'a single score: no pair',
      ratings: [rating({ medication: 2 }, T1), rating({ meetings: 2 }, T2)],
      expected: [],
    },
    {
      desc: 'a single rating: no pair',
      ratings: [rating({ medication: 2 }, T1)],
      expected: [],
    },
    { desc: 'no ratings', ratings: [], expected: [] },
  ])('$desc', ({ ratings, expected }) => {
    const result = pairedChange(ratings).items.filter((i) => i.concept === 'medication');
    expect(
      result.map((i) => ({
        base: [i.baseline.score, i.baseline.ratedAt],
        follow: [i.followUp.score, i.followUp.ratedAt],
        change: i.change,
        category: i.category,
      })),
    ).toEqual(expected);
  });

  it('skips run-time invalid scores: pairs the first VALID score', () => {
    const ratings = [
      unchecked({ medication: 0 }, T1),
      unchecked({ medication: 3 }, T2),
      unchecked({ medication: 7.5 }, T3),
      unchecked({ medication: 4 }, T4),
    ];
    expect(itemChange(ratings, 'medication')).toEqual({
      concept: 'medication',
      baseline: { score: 3, ratedAt: T2 },
      followUp: { score: 4, ratedAt: T4 },
      change: 1,
      category: 'reliable-improvement',
    });
  });

  it('returns items in SNOMED order, one per item with two scores', () => {
    const result = pairedChange([uniform(4, T1), uniform(5, T2, ['friendships'])]);
    expect(result.items.map((i) => i.concept)).toEqual(
      ALL_CONCEPTS.filter((c) => c !== 'friendships'),
    );
    expect(result.conflicts).toEqual([]);
  });
});

describe('pairedChange, time order', () => {
  it('sorts by instant, not by the text of ratedAt', () => {
    // "01:00+01:00" is 00:00Z, earlier than "00:30Z", though it sorts after it as text.
    const earlier = rating({ medication: 2 }, '2026-03-29T01:00:00+01:00');
    const later = rating({ medication: 5 }, '2026-03-29T00:30:00Z');
    for (const input of [
      [earlier, later],
      [later, earlier],
    ]) {
      expect(itemChange(input, 'medication')).toMatchObject({
        baseline: { score: 2, ratedAt: '2026-03-29T01:00:00+01:00' },
        followUp: { score: 5, ratedAt: '2026-03-29T00:30:00Z' },
        change: 3,
      });
    }
  });

  it('treats the same instant in different offsets as one rating: no pair', () => {
    const a = rating({ medication: 2 }, '2026-03-29T00:30:00Z');
    const b = rating({ medication: 2 }, '2026-03-29T01:30:00+01:00');
    expect(pairedChange([a, b]).items).toEqual([]);
  });

  it('merges ratings at one instant built up over several sittings', () => {
    const partA = rating({ medication: 2 }, '2026-03-29T00:30:00Z');
    const partB = rating({ meetings: 3 }, '2026-03-29T01:30:00+01:00');
    const later = rating({ medication: 4, meetings: 4 }, '2026-04-26T10:00:00+01:00');
    const result = pairedChange([later, partB, partA]);
    expect(result.items.map((i) => [i.concept, i.change, i.baseline.ratedAt])).toEqual([
      // One spelling of the shared instant is chosen whatever the input order.
      ['medication', 2, '2026-03-29T00:30:00Z'],
      ['meetings', 1, '2026-03-29T00:30:00Z'],
    ]);
    expect(result.ts?.baseline.mean).toMatchObject({
      sum: 5,
      itemsUsed: ['medication', 'meetings'],
    });
  });

  it('reports, and does not use, conflicting scores at one instant', () => {
    const a = rating({ medication: 2, meetings: 3 }, '2026-03-29T00:30:00Z');
    const b = rating({ medication: 6, meetings: 3 }, '2026-03-29T01:30:00+01:00');
    const c = rating({ medication: 4, meetings: 5 }, '2026-04-26T10:00:00+01:00');
    const result = pairedChange([c, b, a]);
    expect(result.conflicts).toEqual([
      { concept: 'medication', ratedAt: '2026-03-29T00:30:00Z', scores: [2, 6] },
    ]);
    expect(result.items.map((i) => i.concept)).toEqual(['meetings']);
    expect(pairedChange([a, b, c])).toEqual(result);
  });

  it('gives the same result for any input order (property)', () => {
    const at = fc.constantFrom(
      '2026-03-29T00:30:00Z',
      '2026-03-29T01:30:00+01:00',
      '2026-03-28T20:30:00-04:00',
      '2026-03-29T01:00:00+01:00',
      '2026-10-25T01:30:00+01:00',
      '2026-10-25T01:30:00+00:00',
      '2027-01-01T00:00:00+14:00',
    );
    const scores = fc.dictionary(fc.constantFrom(...ALL_CONCEPTS), fc.integer({ min: 1, max: 7 }));
    const ratings = fc
      .array(fc.tuple(scores, at), { maxLength: 6 })
      .map((list) => list.map(([s, t]) => rating(s, t)));
    fc.assert(
      fc.property(
        ratings.chain((list) =>
          fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length })),
        ),
        ([list, shuffled]) => {
          expect(pairedChange(shuffled)).toEqual(pairedChange(list));
        },
      ),
    );
  });

  it('throws RangeError for a ratedAt that is not a dateTime with offset', () => {
    const bad = { scores: { medication: 3 }, ratedAt: '2026-03-29' } as DialogRatings;
    expect(() => pairedChange([bad])).toThrow(RangeError);
  });
});

describe('pairedChange, SQoL and TS', () => {
  const T1 = '2026-01-05T10:00:00Z';
  const T2 = '2026-02-05T10:00:00Z';
  const T3 = '2026-03-05T10:00:00Z';

  it('pairs the first and latest later means', () => {
    const result = pairedChange([uniform(5, T3), uniform(3, T1), uniform(1, T2)]);
    expect(result.sqol).toMatchObject({
      measure: 'sqol',
      baseline: { ratedAt: T1, mean: { value: 3 } },
      followUp: { ratedAt: T3, mean: { value: 5 } },
      change: 2,
      category: 'reliable-improvement',
      complete: true,
    });
    expect(result.ts).toMatchObject({ measure: 'ts', change: 2, complete: true });
  });

  it('flags a mean change as incomplete when either rating is incomplete', () => {
    const base = uniform(5, T1, ['mental-health', 'medication']);
    const follow = uniform(4, T2);
    const result = pairedChange([base, follow]);
    expect(result.sqol).toMatchObject({
      change: -1,
      category: 'reliable-deterioration',
      complete: false,
    });
    expect(result.ts?.complete).toBe(false);
    expect(
      pairedChange([uniform(5, T1), uniform(4, T2, ['meetings', 'friendships'])]).sqol?.complete,
    ).toBe(false);
  });

  it('stays complete with one item missing', () => {
    expect(pairedChange([uniform(5, T1, ['meetings']), uniform(4, T2)]).ts?.complete).toBe(true);
  });

  it('skips ratings where a group has no score', () => {
    const result = pairedChange([
      rating({ medication: 3 }, T1),
      rating({ accommodation: 4 }, T2),
      rating({ medication: 5 }, T3),
    ]);
    expect(result.ts).toMatchObject({
      baseline: { ratedAt: T1 },
      followUp: { ratedAt: T3 },
      change: 2,
    });
    expect(result.sqol).toBeUndefined();
    expect('sqol' in result).toBe(false);
  });

  it('decides mean categories on exact fractions, keeping the float change', () => {
    const result = pairedChange([
      rating({ medication: 4, 'practical-help': 3, meetings: 3 }, T1), // 10/3
      rating({ medication: 5, 'practical-help': 4, meetings: 4 }, T2), // 13/3
    ]);
    expect(result.ts?.change).toBeCloseTo(1, 12);
    expect(result.ts?.category).toBe('reliable-improvement');
  });

  it('meanChange pairs one measure', () => {
    expect(meanChange([uniform(3, T1), uniform(4, T2)], 'ts')?.category).toBe(
      'reliable-improvement',
    );
    expect(meanChange([uniform(3, T1)], 'ts')).toBeUndefined();
  });
});
