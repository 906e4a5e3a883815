import {
  NOT_RATED_REASONS,
  NOT_RATED_REASON_LABELS,
  checkRatingSource,
  isNotRatedReason,
} from '../../src/dialog/not-rated';
import type { NotRated, RatingSource } from '../../src/dialog/not-rated';

describe('not-rated reasons', () => {
  it('are a closed code list with a label each', () => {
    expect(NOT_RATED_REASONS).toEqual(['could-not-understand', 'declined', 'too-unwell', 'other']);
    expect(Object.keys(NOT_RATED_REASON_LABELS)).toEqual([...NOT_RATED_REASONS]);
    expect(NOT_RATED_REASON_LABELS['could-not-understand']).toBe(
      'Could not understand the questions at that time',
    );
  });

  it.each([...NOT_RATED_REASONS])('%s is a reason', (code) =>
    expect(isNotRatedReason(code)).toBe(true),
  );

  it.each(['proxy', 'lacks-capacity', 'Declined', '', null, undefined, 1])(
    '%p is not a reason',
    (v) => expect(isNotRatedReason(v)).toBe(false),
  );

  it('records a timepoint that was not rated, with a reason', () => {
    const record: NotRated = {
      timepoint: 'episode-start',
      at: '2026-03-29T10:00:00+01:00',
      reason: 'could-not-understand',
      note: 'delirium; try again when settled',
    };
    expect(isNotRatedReason(record.reason)).toBe(true);
  });
});

describe('checkRatingSource: no proxy ratings', () => {
  it.each<{ source: RatingSource; expected: ReturnType<typeof checkRatingSource> }>([
    { source: { ratedBy: 'person', about: 'person' }, expected: { ok: true, subject: 'person' } },
    { source: { ratedBy: 'person', about: 'self' }, expected: { ok: true, subject: 'person' } },
    { source: { ratedBy: 'carer', about: 'self' }, expected: { ok: true, subject: 'carer' } },
    {
      source: { ratedBy: 'carer', about: 'person' },
      expected: {
        ok: false,
        refusal: 'proxy-rating',
        message: "a carer cannot rate DIALOG on the person's behalf: proxy ratings are refused",
      },
    },
    {
      source: { ratedBy: 'clinician', about: 'person' },
      expected: {
        ok: false,
        refusal: 'proxy-rating',
        message: "a clinician cannot rate DIALOG on the person's behalf: proxy ratings are refused",
      },
    },
    {
      source: { ratedBy: 'other', about: 'person' },
      expected: {
        ok: false,
        refusal: 'proxy-rating',
        message:
          "someone else cannot rate DIALOG on the person's behalf: proxy ratings are refused",
      },
    },
    {
      source: { ratedBy: 'other', about: 'self' },
      expected: {
        ok: false,
        refusal: 'not-a-dialog-subject',
        message: "someone else's DIALOG about themselves is not a person's or carer's rating",
      },
    },
    {
      source: { ratedBy: 'clinician', about: 'self' },
      expected: {
        ok: false,
        refusal: 'not-a-dialog-subject',
        message: "a clinician's DIALOG about themselves is not a person's or carer's rating",
      },
    },
  ])('$source.ratedBy about $source.about', ({ source, expected }) => {
    expect(checkRatingSource(source)).toEqual(expected);
  });
});
