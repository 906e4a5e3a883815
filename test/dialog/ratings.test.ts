import fc from 'fast-check';
import { DIALOG_ITEMS, DIALOG_ITEMS_APP_ORDER } from '../../src/dialog/items';
import {
  DialogRatingsError,
  buildRatings,
  describeValue,
  missingConcepts,
  parseScore,
  ratedConcepts,
  ratingsOrThrow,
  resolveItem,
  scoreOf,
} from '../../src/dialog/ratings';
import type { RatingInput, RatingsError } from '../../src/dialog/ratings';
import { ALL_CONCEPTS, unchecked } from './fixtures';

const AT = '2026-03-29T01:30:00+01:00';

function errorsOf(entries: RatingInput[], ratedAt = AT): readonly RatingsError[] {
  const result = buildRatings(entries, ratedAt);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

describe('resolveItem', () => {
  it.each(DIALOG_ITEMS.map((i) => [i.concept, i.snomed]))(
    'finds %s by concept and by SNOMED code %s',
    (concept, snomed) => {
      expect(resolveItem(concept)?.concept).toBe(concept);
      expect(resolveItem(snomed)?.concept).toBe(concept);
    },
  );

  it.each(['6', 'Mental Health', '', 'MENTAL-HEALTH'])(
    'never resolves %j (no positions, no labels)',
    (item) => {
      expect(resolveItem(item)).toBeUndefined();
    },
  );
});

describe('parseScore', () => {
  it.each([1, 2, 3, 4, 5, 6, 7])('accepts %i', (score) => {
    expect(parseScore('medication', score)).toEqual({ ok: true, concept: 'medication', score });
  });

  it.each([
    { desc: '0', value: 0, shown: '0' },
    { desc: '8', value: 8, shown: '8' },
    { desc: '7.5', value: 7.5, shown: '7.5' },
    { desc: 'the string "7"', value: '7', shown: '"7"' },
    { desc: 'null', value: null, shown: 'null' },
    { desc: 'NaN', value: NaN, shown: 'NaN' },
    { desc: 'undefined', value: undefined, shown: 'undefined' },
    { desc: '-1', value: -1, shown: '-1' },
    { desc: 'Infinity', value: Infinity, shown: 'Infinity' },
    { desc: 'true', value: true, shown: 'true' },
    { desc: 'a bigint 7n', value: BigInt(7), shown: '7n' },
    { desc: 'the string " 7 "', value: ' 7 ', shown: '" 7 "' },
    { desc: 'an array [7]', value: [7], shown: '[7]' },
    { desc: 'an object', value: { value: 7 }, shown: '{"value":7}' },
  ])('rejects $desc, naming the item, without coercing', ({ value, shown }) => {
    const result = parseScore('1037751000000109', value);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toEqual({
      code: 'invalid-score',
      item: '1037751000000109',
      concept: 'meetings',
      value,
      message: `Meetings with mental health professionals (meetings): score ${shown} is not a whole number from 1 to 7`,
    });
  });

  it('reports an unknown item', () => {
    expect(parseScore('wellbeing', 5)).toEqual({
      ok: false,
      error: {
        code: 'unknown-item',
        item: 'wellbeing',
        message: '"wellbeing" is not a DIALOG item',
      },
    });
  });
});

describe('describeValue', () => {
  it.each([
    ['7', '"7"'],
    [7, '7'],
    [null, 'null'],
    [undefined, 'undefined'],
    [BigInt(8), '8n'],
    [NaN, 'NaN'],
    [[7], '[7]'],
    [{ a: 1 }, '{"a":1}'],
  ])('shows %p as %s', (value, shown) => {
    expect(describeValue(value)).toBe(shown);
  });
});

describe('describeValue, odd objects', () => {
  it('falls back to String for a cyclic object', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(describeValue(cyclic)).toBe('[object Object]');
  });

  it('falls back to String when JSON gives nothing', () => {
    expect(describeValue({ toJSON: () => undefined })).toBe('[object Object]');
  });
});

describe('buildRatings', () => {
  it('builds from (concept, score) pairs', () => {
    expect(
      buildRatings(
        [
          ['mental-health', 3],
          ['meetings', 6],
        ],
        AT,
      ),
    ).toEqual({
      ok: true,
      ratings: { scores: { 'mental-health': 3, meetings: 6 }, ratedAt: AT },
    });
  });

  it('builds from (SNOMED code, score) pairs', () => {
    expect(
      buildRatings(
        [
          ['1037651000000100', 3],
          ['1037751000000109', 6],
        ],
        AT,
      ),
    ).toEqual({
      ok: true,
      ratings: { scores: { 'mental-health': 3, meetings: 6 }, ratedAt: AT },
    });
  });

  it('builds from entries with "more help" answers, keeping false answers', () => {
    const result = buildRatings(
      [
        { item: 'accommodation', score: 2, helpWanted: true },
        { item: '1037731000000102', score: 5, helpWanted: false },
        { item: 'friendships', score: 4 },
      ],
      AT,
    );
    expect(result).toEqual({
      ok: true,
      ratings: {
        scores: { accommodation: 2, friendships: 4, medication: 5 },
        helpWanted: { accommodation: true, medication: false },
        ratedAt: AT,
      },
    });
  });

  it('leaves helpWanted out when no "more help" answer was given', () => {
    const result = buildRatings([{ item: 'accommodation', score: 2 }], AT);
    expect(result.ok && 'helpWanted' in result.ratings).toBe(false);
  });

  it('builds from a record via Object.entries, and from an empty list', () => {
    expect(buildRatings(Object.entries({ medication: 7 }), AT)).toEqual({
      ok: true,
      ratings: { scores: { medication: 7 }, ratedAt: AT },
    });
    expect(buildRatings([], AT)).toEqual({ ok: true, ratings: { scores: {}, ratedAt: AT } });
  });

  it('accepts any iterable, e.g. a Map', () => {
    const result = buildRatings(new Map([['medication', 7]]), AT);
    expect(result.ok && result.ratings.scores).toEqual({ medication: 7 });
  });

  it('stores keys in SNOMED order whatever the input order', () => {
    const result = buildRatings(
      [...DIALOG_ITEMS_APP_ORDER].reverse().map((i) => [i.concept, 4] as const),
      AT,
    );
    expect(result.ok && Object.keys(result.ratings.scores)).toEqual(ALL_CONCEPTS);
  });

  it.each([
    { desc: '0', value: 0 },
    { desc: '8', value: 8 },
    { desc: '7.5', value: 7.5 },
    { desc: '"7"', value: '7' },
    { desc: 'null', value: null },
    { desc: 'NaN', value: NaN },
  ])('rejects a score of $desc, naming the item', ({ value }) => {
    const errors = errorsOf([
      ['mental-health', 4],
      ['personal-safety', value],
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: 'invalid-score',
      item: 'personal-safety',
      concept: 'personal-safety',
    });
    expect(errors[0]?.message).toMatch(/^Personal safety \(personal-safety\): score /);
  });

  it('rejects an entry whose score is missing altogether', () => {
    expect(errorsOf([{ item: 'medication', score: undefined, helpWanted: true }])).toMatchObject([
      { code: 'invalid-score', concept: 'medication', value: undefined },
    ]);
  });

  it('collects every error, not just the first', () => {
    const errors = errorsOf(
      [
        ['mental-health', 0],
        ['jobs', 3],
        ['meetings', '7'],
      ],
      '2026-03-29',
    );
    expect(errors.map((e) => e.code)).toEqual([
      'invalid-rated-at',
      'invalid-score',
      'unknown-item',
      'invalid-score',
    ]);
  });

  it.each([
    { desc: 'by concept twice', first: 'medication', second: 'medication' },
    { desc: 'by concept and by SNOMED code', first: 'medication', second: '1037731000000102' },
  ])('rejects an item given twice ($desc), even with the same score', ({ first, second }) => {
    expect(
      errorsOf([
        [first, 5],
        [second, 5],
      ]),
    ).toEqual([
      {
        code: 'duplicate-item',
        item: second,
        concept: 'medication',
        message: 'Medication (medication) is given more than once',
      },
    ]);
  });

  it.each([
    { desc: '"yes"', value: 'yes' },
    { desc: 'the app code 2', value: 2 },
    { desc: 'the app code 1', value: 1 },
    { desc: 'null', value: null },
    { desc: '"true"', value: 'true' },
  ])('rejects a "more help" answer of $desc', ({ value }) => {
    expect(errorsOf([{ item: 'accommodation', score: 3, helpWanted: value }])).toEqual([
      {
        code: 'invalid-help-wanted',
        item: 'accommodation',
        concept: 'accommodation',
        value,
        message: `Accommodation (accommodation): "more help" answer ${describeValue(value)} is not true or false`,
      },
    ]);
  });

  it.each([
    { desc: 'a date only', ratedAt: '2026-03-29' },
    { desc: 'no offset', ratedAt: '2026-03-29T10:00:00' },
    { desc: 'empty', ratedAt: '' },
    { desc: 'an impossible date', ratedAt: '2026-02-30T10:00:00Z' },
  ])('rejects ratedAt $desc', ({ ratedAt }) => {
    expect(errorsOf([['medication', 5]], ratedAt)).toEqual([
      {
        code: 'invalid-rated-at',
        value: ratedAt,
        message: `ratedAt ${JSON.stringify(ratedAt)} is not a FHIR dateTime with time and offset`,
      },
    ]);
  });

  it('gives the same rating for app-order and SNOMED-order input', () => {
    const scores = { 'partner-family': 2, friendships: 6, medication: 5, 'mental-health': 3 };
    const inOrder = (items: typeof DIALOG_ITEMS) =>
      items
        .filter((i) => i.concept in scores)
        .map((i) => [i.snomed, scores[i.concept as keyof typeof scores]] as const);
    expect(buildRatings(inOrder(DIALOG_ITEMS_APP_ORDER), AT)).toEqual(
      buildRatings(inOrder(DIALOG_ITEMS), AT),
    );
  });

  it('gives the same rating for any permutation of its entries (property)', () => {
    const entry = fc.record({
      concept: fc.constantFrom(...ALL_CONCEPTS),
      score: fc.integer({ min: 1, max: 7 }),
      bySnomed: fc.boolean(),
    });
    const entries = fc.uniqueArray(entry, { selector: (e) => e.concept, maxLength: 11 });
    fc.assert(
      fc.property(entries, fc.func(fc.integer()), (list, key) => {
        const pairs = list.map(
          (e) =>
            [e.bySnomed ? (resolveItem(e.concept)?.snomed ?? '') : e.concept, e.score] as const,
        );
        const shuffled = [...pairs].sort((a, b) => key(a[0]) - key(b[0]));
        expect(buildRatings(shuffled, AT)).toEqual(buildRatings(pairs, AT));
      }),
    );
  });
});

describe('ratingsOrThrow', () => {
  it('returns the rating when valid', () => {
    expect(ratingsOrThrow([['medication', 5]], AT)).toEqual({
      scores: { medication: 5 },
      ratedAt: AT,
    });
  });

  it('throws a DialogRatingsError carrying every error', () => {
    let thrown: unknown;
    try {
      ratingsOrThrow(
        [
          ['medication', 8],
          ['meetings', null],
        ],
        AT,
      );
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(DialogRatingsError);
    expect(thrown).toBeInstanceOf(Error);
    const error = thrown as DialogRatingsError;
    expect(error.name).toBe('DialogRatingsError');
    expect(error.errors.map((e) => e.code)).toEqual(['invalid-score', 'invalid-score']);
    expect(error.message).toBe(
      'Medication (medication): score 8 is not a whole number from 1 to 7; ' +
        'Meetings with mental health professionals (meetings): score null is not a whole number from 1 to 7',
    );
  });
});

describe('reading a rating', () => {
  const r = unchecked({ 'mental-health': 3, medication: 8, meetings: '5', friendships: 7 }, AT);

  it('ratedConcepts lists valid scores only, in SNOMED order', () => {
    expect(ratedConcepts(r)).toEqual(['mental-health', 'friendships']);
  });

  it('missingConcepts lists the rest, including run-time invalid scores', () => {
    expect(missingConcepts(r)).toEqual(
      ALL_CONCEPTS.filter((c) => c !== 'mental-health' && c !== 'friendships'),
    );
  });

  it('scoreOf returns only valid scores', () => {
    expect(scoreOf(r, 'mental-health')).toBe(3);
    expect(scoreOf(r, 'medication')).toBeUndefined();
    expect(scoreOf(r, 'meetings')).toBeUndefined();
    expect(scoreOf(r, 'accommodation')).toBeUndefined();
  });
});
