/**
 * Reusing one rating at two timepoints when a provider moves a person between its services.
 *
 * The discharge DIALOG of the previous service may serve as the admission (episode-start) DIALOG of
 * the new one, and vice versa: the admission DIALOG of the new service may serve as the discharge
 * (episode-end) DIALOG of the previous one. How that was done must be recorded so outcomes stay
 * attributable, so a reuse always carries its provenance; anything else is refused with a reason.
 *
 * The rating itself is unchanged: it still represents the person at its own ratedAt.
 */

import { DAY_MS, instantOf } from './instant';
import { ratedConcepts } from './ratings';
import type { DialogRatings } from './ratings';
import type { Episode, TimepointKind, TimepointRating } from './timepoints';

/**
 * How far apart the rating and the move between services may be. Two weeks: long enough for a
 * planned transfer or a short gap between services, short enough that the rating still describes
 * the person at the move. It is measured either side of the move, because services often overlap
 * during a transfer (a community team may discharge days after the person is admitted).
 */
export const REUSE_WINDOW_DAYS = 14;
export const REUSE_WINDOW_MS = REUSE_WINDOW_DAYS * DAY_MS;

/** What reuse needs to know about an episode: where it was and when it started and ended. */
export type ServiceEpisode = Pick<Episode, 'start' | 'end'> & {
  /** Provider identifier (e.g. an ODS code), compared exactly. */
  readonly provider: string;
  /** Service or team identifier within the provider, compared exactly. */
  readonly service: string;
};

export interface ReuseRequest {
  /** The rating to reuse. */
  readonly rating: TimepointRating;
  /** The episode the rating was made in. */
  readonly source: ServiceEpisode;
  /** The episode that would use it. */
  readonly target: ServiceEpisode;
}

export type ReuseReason = 'discharge-as-admission' | 'admission-as-discharge';

/** Provenance of a reused rating. */
export interface RatingReuse {
  /** Id of the rating reused. */
  readonly reusedFrom: string;
  readonly originalTimepoint: TimepointKind;
  readonly newTimepoint: TimepointKind;
  readonly reason: ReuseReason;
  readonly provider: string;
  readonly fromService: string;
  readonly toService: string;
  /** The rating as the target episode uses it: same id and scores, new timepoint. */
  readonly rating: TimepointRating;
}

export type ReuseRefusal =
  | 'no-scores'
  | 'different-provider'
  | 'same-service'
  | 'not-a-transition-rating'
  | 'no-transition-date'
  | 'outside-window';

export type ReuseResult =
  | { readonly ok: true; readonly reuse: RatingReuse }
  | { readonly ok: false; readonly refusal: ReuseRefusal; readonly message: string };

/** The timepoint a rating may be reused as, and the move it must be near. */
interface Direction {
  readonly reason: ReuseReason;
  readonly newTimepoint: TimepointKind;
  /** When the person moved, as the target episode records it. */
  readonly moveAt: string | undefined;
}

function directionOf(rating: TimepointRating, target: ServiceEpisode): Direction | undefined {
  if (rating.timepoint === 'episode-end') {
    return {
      reason: 'discharge-as-admission',
      newTimepoint: 'episode-start',
      moveAt: target.start,
    };
  }
  if (rating.timepoint === 'episode-start') {
    return { reason: 'admission-as-discharge', newTimepoint: 'episode-end', moveAt: target.end };
  }
  return undefined;
}

function refuse(refusal: ReuseRefusal, message: string): ReuseResult {
  return { ok: false, refusal, message };
}

function hasScores(ratings: DialogRatings): boolean {
  return ratedConcepts(ratings).length > 0;
}

/**
 * Decides whether a rating from one service's episode may stand as a timepoint of another
 * service's episode, and records how. Allowed only within one provider, between different services,
 * for an episode-end reused as the next episode's start or an episode-start reused as the previous
 * episode's end, within REUSE_WINDOW_DAYS of the move.
 */
export function reuseRating(request: ReuseRequest): ReuseResult {
  const { rating, source, target } = request;
  if (!hasScores(rating.ratings)) {
    return refuse('no-scores', `rating ${rating.id} has no valid scores to reuse`);
  }
  if (source.provider !== target.provider) {
    return refuse(
      'different-provider',
      `rating ${rating.id} is from provider ${source.provider}, not ${target.provider}: reuse is only within one provider`,
    );
  }
  if (source.service === target.service) {
    return refuse(
      'same-service',
      `rating ${rating.id} is already from service ${source.service}: reuse is between services`,
    );
  }
  const direction = directionOf(rating, target);
  if (!direction) {
    return refuse(
      'not-a-transition-rating',
      `rating ${rating.id} is a ${rating.timepoint} rating: only episode-start and episode-end ratings can be reused`,
    );
  }
  if (direction.moveAt === undefined) {
    return refuse(
      'no-transition-date',
      `the target episode has no discharge date to set rating ${rating.id} against`,
    );
  }
  const apart = Math.abs(
    instantOf(rating.ratings.ratedAt, 'ratedAt') - instantOf(direction.moveAt),
  );
  if (apart > REUSE_WINDOW_MS) {
    return refuse(
      'outside-window',
      `rating ${rating.id} is more than ${REUSE_WINDOW_DAYS} days from the move between services`,
    );
  }
  return { ok: true, reuse: provenance(rating, source, target, direction) };
}

function provenance(
  rating: TimepointRating,
  source: ServiceEpisode,
  target: ServiceEpisode,
  direction: Direction,
): RatingReuse {
  return {
    reusedFrom: rating.id,
    originalTimepoint: rating.timepoint,
    newTimepoint: direction.newTimepoint,
    reason: direction.reason,
    provider: source.provider,
    fromService: source.service,
    toService: target.service,
    rating: { ...rating, timepoint: direction.newTimepoint },
  };
}
