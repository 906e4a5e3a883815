import fc from 'fast-check';
import { DIALOG_ITEMS, DIALOG_ITEMS_APP_ORDER } from '../../src/dialog/items';
import type { DialogItemConcept } from '../../src/dialog/items';
import { buildRatings } from '../../src/dialog/ratings';
import {
  DISPLAY_DECIMALS,
  MAX_MISSING_ITEMS_FOR_COMPLETE,
  MEASURE_GROUP,
  formatMean,
  isCompleteRating,
  meanScore,
  roundForDisplay,
  scoreRatings,
  subjectiveQualityOfLife,
  treatmentSatisfaction,
} from '../../src/dialog/scoring';
import { ALL_CONCEPTS, rating, unchecked, uniform } from './fixtures';
import type { ScoresByConcept } from './fixtures';

const LIFE: readonly DialogItemConcept[] = ALL_CONCEPTS.slice(0, 8);
const TREATMENT: readonly DialogItemConcept[] = ['medication', 'practical-help', 'meetings'];

// Life items 1..7 then 4 (sum 32, mean 4); treatment 6, 5, 7 (sum 18, mean 6).
const FULL: ScoresByConcept = {
  'mental-health': 1,
  'physical-health': 2,
  'job-situation': 3,
  accommodation: 4,
  'leisure-activities': 5,
  friendships: 6,
  'partner-family': 7,
  'personal-safety': 4,
  medication: 6,
  'practical-help': 5,
  meetings: 7,
};

function without(...missing: DialogItemConcept[]): ScoresByConcept {
  return Object.fromEntries(
    Object.entries(FULL).filter(([c]) => !missing.includes(c as DialogItemConcept)),
  );
}

describe('constants', () => {
  it('allows one missing item of 11 for a complete rating, shows 2 decimals', () => {
    expect(MAX_MISSING_ITEMS_FOR_COMPLETE).toBe(1);
    expect(DISPLAY_DECIMALS).toBe(2);
    expect(MEASURE_GROUP).toEqual({ sqol: 'life', ts: 'treatment' });
  });
});

describe('the missing-item rule', () => {
  it.each([
    {
      desc: 'no item missing',
      scores: FULL,
      sqol: { value: 4, sum: 32, used: 8, missing: [], complete: true },
      ts: { value: 6, sum: 18, used: 3, missing: [], complete: true },
    },
    {
      desc: 'one life item missing: ignored, still complete',
      scores: without('partner-family'),
      sqol: { value: 25 / 7, sum: 25, used: 7, missing: ['partner-family'], complete: true },
      ts: { value: 6, sum: 18, used: 3, missing: [], complete: true },
    },
    {
      desc: 'one treatment item missing: ignored, still complete',
      scores: without('meetings'),
      sqol: { value: 4, sum: 32, used: 8, missing: [], complete: true },
      ts: { value: 5.5, sum: 11, used: 2, missing: ['meetings'], complete: true },
    },
    {
      desc: 'two life items missing: computed but incomplete, and TS incomplete too',
      scores: without('mental-health', 'personal-safety'),
      sqol: {
        value: 27 / 6,
        sum: 27,
        used: 6,
        missing: ['mental-health', 'personal-safety'],
        complete: false,
      },
      ts: { value: 6, sum: 18, used: 3, missing: [], complete: false },
    },
    {
      desc: 'one life and one treatment item missing: both incomplete',
      scores: without('friendships', 'medication'),
      sqol: { value: 26 / 7, sum: 26, used: 7, missing: ['friendships'], complete: false },
      ts: { value: 6, sum: 12, used: 2, missing: ['medication'], complete: false },
    },
    {
      desc: 'the whole treatment group missing: no TS, SQoL incomplete',
      scores: without(...TREATMENT),
      sqol: { value: 4, sum: 32, used: 8, missing: [], complete: false },
      ts: undefined,
    },
    {
      desc: 'the whole life group missing: no SQoL, TS incomplete',
      scores: without(...LIFE),
      sqol: undefined,
      ts: { value: 6, sum: 18, used: 3, missing: [], complete: false },
    },
    {
      desc: 'a single life item only',
      scores: { accommodation: 2 },
      sqol: {
        value: 2,
        sum: 2,
        used: 1,
        missing: LIFE.filter((c) => c !== 'accommodation'),
        complete: false,
      },
      ts: undefined,
    },
    { desc: 'nothing rated', scores: {}, sqol: undefined, ts: undefined },
  ])('$desc', ({ scores, sqol, ts }) => {
    const r = rating(scores);
    const check = (actual: ReturnType<typeof meanScore>, expected: typeof sqol) => {
      if (expected === undefined) {
        expect(actual).toBeUndefined();
        return;
      }
      expect(actual?.value).toBeCloseTo(expected.value, 12);
      expect(actual?.sum).toBe(expected.sum);
      expect(actual?.itemsUsed).toHaveLength(expected.used);
      expect(actual?.itemsMissing).toEqual(expected.missing);
      expect(actual?.complete).toBe(expected.complete);
    };
    check(subjectiveQualityOfLife(r), sqol);
    check(treatmentSatisfaction(r), ts);
  });

  it.each([
    { missing: 0, complete: true },
    { missing: 1, complete: true },
    { missing: 2, complete: false },
    { missing: 3, complete: false },
    { missing: 10, complete: false },
    { missing: 11, complete: false },
  ])(
    'a rating with $missing of 11 items missing is complete: $complete',
    ({ missing, complete }) => {
      const r = uniform(5, undefined, ALL_CONCEPTS.slice(0, missing));
      expect(isCompleteRating(r)).toBe(complete);
      expect(scoreRatings(r).complete).toBe(complete);
      expect(scoreRatings(r).itemsMissing).toHaveLength(missing);
    },
  );

  it('counts run-time invalid scores (e.g. from JSON) as missing, never as scores', () => {
    const scores: Record<string, unknown> = { ...FULL, medication: 8, meetings: '7' };
    const r = unchecked(scores, '2026-01-01T10:00:00Z');
    const ts = treatmentSatisfaction(r);
    expect(ts).toMatchObject({
      value: 5,
      sum: 5,
      itemsMissing: ['medication', 'meetings'],
      complete: false,
    });
    expect(ts?.itemsUsed).toEqual(['practical-help']);
  });

  it('lists itemsUsed and itemsMissing by concept in SNOMED order', () => {
    const sqol = subjectiveQualityOfLife(rating(without('partner-family')));
    expect(sqol?.itemsUsed).toEqual(LIFE.filter((c) => c !== 'partner-family'));
  });
});

describe('bands', () => {
  it.each([
    { desc: 'a mean of exactly 4 is neutral', life: [4, 4, 4, 4, 4, 4, 4, 4], band: 'neutral' },
    { desc: '31/8 = 3.875 is dissatisfied', life: [4, 4, 4, 4, 4, 4, 4, 3], band: 'dissatisfied' },
    { desc: '33/8 = 4.125 is satisfied', life: [4, 4, 4, 4, 4, 4, 4, 5], band: 'satisfied' },
    { desc: 'all 1 is dissatisfied', life: [1, 1, 1, 1, 1, 1, 1, 1], band: 'dissatisfied' },
    { desc: 'all 7 is satisfied', life: [7, 7, 7, 7, 7, 7, 7, 7], band: 'satisfied' },
  ])('$desc', ({ life, band }) => {
    const scores = Object.fromEntries(LIFE.map((c, i) => [c, life[i]]));
    expect(subjectiveQualityOfLife(rating(scores))?.band).toBe(band);
  });
});

describe('item order is never positional', () => {
  it('gives identical scores for app-order and SNOMED-order input', () => {
    // Each item gets a distinct score, so an item read by position would land on the wrong concept.
    const byConcept = Object.fromEntries(
      DIALOG_ITEMS.map((i) => [i.concept, (i.snomedNumber % 7) + 1]),
    );
    const inAppOrder = DIALOG_ITEMS_APP_ORDER.map((i) => [i.snomed, byConcept[i.concept]] as const);
    const inSnomedOrder = DIALOG_ITEMS.map((i) => [i.concept, byConcept[i.concept]] as const);
    const a = buildRatings(inAppOrder, '2026-01-01T10:00:00Z');
    const b = buildRatings(inSnomedOrder, '2026-01-01T10:00:00Z');
    if (!a.ok || !b.ok) throw new Error('fixture');
    expect(scoreRatings(a.ratings)).toEqual(scoreRatings(b.ratings));
    expect(a.ratings.scores.friendships).toBe(7);
    expect(a.ratings.scores['partner-family']).toBe(1);
  });

  it('reads a friendships score as friendships even when the app lists it 7th', () => {
    const r = rating({ friendships: 1, 'partner-family': 7 });
    expect(r.scores.friendships).toBe(1);
  });
});

describe('scoreRatings', () => {
  it('returns both means and the rating completeness', () => {
    const result = scoreRatings(rating(FULL));
    expect(result.sqol?.measure).toBe('sqol');
    expect(result.ts?.measure).toBe('ts');
    expect(result).toMatchObject({ itemsMissing: [], complete: true });
  });

  it('leaves out a mean that cannot be computed', () => {
    const result = scoreRatings(rating({ medication: 3 }));
    expect('sqol' in result).toBe(false);
    expect(result.ts?.value).toBe(3);
    expect(result.complete).toBe(false);
  });

  it('means are the mean of valid scores, within 1–7 (property)', () => {
    const scores = fc.dictionary(fc.constantFrom(...ALL_CONCEPTS), fc.integer({ min: 1, max: 7 }));
    fc.assert(
      fc.property(scores, (s) => {
        const result = scoreRatings(rating(s));
        for (const mean of [result.sqol, result.ts]) {
          if (!mean) continue;
          const used = mean.itemsUsed.map((c) => s[c] ?? NaN);
          expect(mean.sum).toBe(used.reduce((a, b) => a + b, 0));
          expect(mean.value).toBe(mean.sum / used.length);
          expect(mean.value).toBeGreaterThanOrEqual(1);
          expect(mean.value).toBeLessThanOrEqual(7);
          expect(mean.itemsUsed.length + mean.itemsMissing.length).toBe(
            mean.measure === 'sqol' ? 8 : 3,
          );
          expect(mean.complete).toBe(result.complete);
        }
        expect(result.complete).toBe(11 - Object.keys(s).length <= 1);
      }),
    );
  });
});

describe('display rounding', () => {
  it.each([
    { value: 4, rounded: 4, text: '4.00' },
    { value: 33 / 8, rounded: 4.13, text: '4.13' },
    { value: 35 / 8, rounded: 4.38, text: '4.38' },
    { value: 29 / 6, rounded: 4.83, text: '4.83' },
    { value: 13 / 3, rounded: 4.33, text: '4.33' },
    { value: 25 / 7, rounded: 3.57, text: '3.57' },
    { value: 5.5, rounded: 5.5, text: '5.50' },
    { value: 7, rounded: 7, text: '7.00' },
  ])('$value shows as $text', ({ value, rounded, text }) => {
    expect(roundForDisplay(value)).toBe(rounded);
    expect(formatMean(value)).toBe(text);
  });

  it('rounds every possible mean (k/n, n = 1–8) half up, exactly as integer arithmetic does', () => {
    for (let n = 1; n <= 8; n++) {
      for (let sum = n; sum <= 7 * n; sum++) {
        const hundredths = Math.floor((200 * sum + n) / (2 * n)); // round half up of 100·sum/n
        expect(Math.round(roundForDisplay(sum / n) * 100)).toBe(hundredths);
        expect(formatMean(sum / n)).toBe((hundredths / 100).toFixed(2));
      }
    }
  });

  it('keeps full precision in value', () => {
    const sqol = subjectiveQualityOfLife(rating(without('partner-family')));
    expect(sqol?.value).toBe(25 / 7);
    expect(sqol?.value).not.toBe(roundForDisplay(25 / 7));
  });
});
