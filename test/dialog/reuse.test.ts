import { REUSE_WINDOW_DAYS, REUSE_WINDOW_MS, reuseRating } from '../../src/dialog/reuse';
import type { ReuseRefusal, ServiceEpisode } from '../../src/dialog/reuse';
import type { TimepointKind, TimepointRating } from '../../src/dialog/timepoints';
import { rating } from './fixtures';

const PROVIDER = 'RV3'; // an ODS-style provider code

function service(
  service: string,
  start: string,
  end?: string,
  provider = PROVIDER,
): ServiceEpisode {
  return end === undefined ? { provider, service, start } : { provider, service, start, end };
}

function timepointRating(timepoint: TimepointKind, ratedAt: string, id = 'qr-1'): TimepointRating {
  return { id, timepoint, ratings: rating({ 'mental-health': 2, medication: 4 }, ratedAt) };
}

// Community care until 10 March; inpatient admission on 10 March.
const community = service('community-team', '2025-06-01T09:00:00Z', '2026-03-10T12:00:00Z');
const ward = service('acute-ward', '2026-03-10T15:00:00Z');
const wardDischarged = service('acute-ward', '2026-01-10T15:00:00Z', '2026-03-10T12:00:00Z');
const crisis = service('crisis-team', '2026-03-10T15:00:00Z');

describe('the reuse window', () => {
  it('is 14 days', () => {
    expect(REUSE_WINDOW_DAYS).toBe(14);
    expect(REUSE_WINDOW_MS).toBe(14 * 86400000);
  });
});

describe('reuseRating, allowed', () => {
  it('reuses a discharge rating as the next service admission rating, recording provenance', () => {
    const discharge = timepointRating('episode-end', '2026-03-10T11:00:00Z', 'qr-discharge');
    expect(reuseRating({ rating: discharge, source: community, target: ward })).toEqual({
      ok: true,
      reuse: {
        reusedFrom: 'qr-discharge',
        originalTimepoint: 'episode-end',
        newTimepoint: 'episode-start',
        reason: 'discharge-as-admission',
        provider: PROVIDER,
        fromService: 'community-team',
        toService: 'acute-ward',
        rating: { ...discharge, timepoint: 'episode-start' },
      },
    });
  });

  it('reuses an admission rating as the previous service discharge rating (vice versa)', () => {
    const admission = timepointRating('episode-start', '2026-03-11T10:00:00Z', 'qr-admission');
    expect(reuseRating({ rating: admission, source: crisis, target: wardDischarged })).toEqual({
      ok: true,
      reuse: {
        reusedFrom: 'qr-admission',
        originalTimepoint: 'episode-start',
        newTimepoint: 'episode-end',
        reason: 'admission-as-discharge',
        provider: PROVIDER,
        fromService: 'crisis-team',
        toService: 'acute-ward',
        rating: { ...admission, timepoint: 'episode-end' },
      },
    });
  });

  it('keeps the scores and ratedAt: the rating still represents the person at its own time', () => {
    const discharge = timepointRating('episode-end', '2026-03-01T11:00:00Z');
    const result = reuseRating({ rating: discharge, source: community, target: ward });
    expect(result.ok && result.reuse.rating.ratings).toBe(discharge.ratings);
  });

  it.each([
    { desc: 'exactly 14 days before the move', ratedAt: '2026-02-24T15:00:00Z' },
    { desc: '14 days before in another offset', ratedAt: '2026-02-24T16:00:00+01:00' },
    { desc: 'on the day of the move', ratedAt: '2026-03-10T15:00:00Z' },
    { desc: 'after the move, services overlapping', ratedAt: '2026-03-20T09:00:00Z' },
    { desc: 'exactly 14 days after the move', ratedAt: '2026-03-24T15:00:00Z' },
  ])('allows a discharge rating $desc', ({ ratedAt }) => {
    const result = reuseRating({
      rating: timepointRating('episode-end', ratedAt),
      source: community,
      target: ward,
    });
    expect(result.ok).toBe(true);
  });
});

describe('reuseRating, refused', () => {
  const discharge = timepointRating('episode-end', '2026-03-10T11:00:00Z');

  it.each<{
    desc: string;
    rating: TimepointRating;
    source: ServiceEpisode;
    target: ServiceEpisode;
    refusal: ReuseRefusal;
    message: RegExp;
  }>([
    {
      desc: 'a rating with no scores',
      rating: {
        id: 'qr-empty',
        timepoint: 'episode-end',
        ratings: rating({}, '2026-03-10T11:00:00Z'),
      },
      source: community,
      target: ward,
      refusal: 'no-scores',
      message: /qr-empty has no valid scores/,
    },
    {
      desc: 'another provider',
      rating: discharge,
      source: community,
      target: service('acute-ward', '2026-03-10T15:00:00Z', undefined, 'RRP'),
      refusal: 'different-provider',
      message: /provider RV3, not RRP/,
    },
    {
      desc: 'the same service',
      rating: discharge,
      source: community,
      target: service('community-team', '2026-03-10T15:00:00Z'),
      refusal: 'same-service',
      message: /already from service community-team/,
    },
    {
      desc: 'a review rating',
      rating: timepointRating('review', '2026-03-10T11:00:00Z'),
      source: community,
      target: ward,
      refusal: 'not-a-transition-rating',
      message: /is a review rating/,
    },
    {
      desc: 'an admission rating for a previous service with no discharge date',
      rating: timepointRating('episode-start', '2026-03-11T10:00:00Z'),
      source: crisis,
      target: service('acute-ward', '2026-01-10T15:00:00Z'),
      refusal: 'no-transition-date',
      message: /no discharge date/,
    },
    {
      desc: 'a discharge rating more than 14 days before the move',
      rating: timepointRating('episode-end', '2026-02-24T14:59:59.999Z'),
      source: community,
      target: ward,
      refusal: 'outside-window',
      message: /more than 14 days/,
    },
    {
      desc: 'a discharge rating more than 14 days after the move',
      rating: timepointRating('episode-end', '2026-03-24T15:00:00.001Z'),
      source: community,
      target: ward,
      refusal: 'outside-window',
      message: /more than 14 days/,
    },
    {
      desc: 'an admission rating more than 14 days from the previous discharge',
      rating: timepointRating('episode-start', '2026-04-01T10:00:00Z'),
      source: crisis,
      target: wardDischarged,
      refusal: 'outside-window',
      message: /more than 14 days/,
    },
  ])('refuses $desc', ({ rating: r, source, target, refusal, message }) => {
    const result = reuseRating({ rating: r, source, target });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.refusal).toBe(refusal);
    expect(result.message).toMatch(message);
  });

  it('throws RangeError for a ratedAt without offset', () => {
    const bad: TimepointRating = {
      id: 'x',
      timepoint: 'episode-end',
      ratings: { scores: { medication: 3 }, ratedAt: '2026-03-10' },
    };
    expect(() => reuseRating({ rating: bad, source: community, target: ward })).toThrow(RangeError);
  });
});
