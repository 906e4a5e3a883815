/**
 * When DIALOG is due: at episode start, at reviews, and at episode end (discharge).
 *
 * - Episode start: within 48 hours for acute treatment (inpatient, crisis); at the first or second
 *   meeting in community services, modelled as due by the second meeting when its time is known,
 *   otherwise due at the next meeting (no date can be given).
 * - Review: every 4 weeks for acute treatment; no longer than 6 months apart in community services.
 * - Episode end: at discharge.
 *
 * Two kinds of duration, on purpose:
 * - 48 hours and 28 days are elapsed time, added to instants. "Within 48 hours" of an admission is
 *   48 hours of the person's time on the ward even when the clocks change in between, so on the
 *   night the clocks go forward the deadline reads an hour later on the wall clock.
 * - 6 months is calendar months on the wall clock of the episode's IANA time zone (e.g.
 *   Europe/London), keeping the time of day, with month-ends clamped (31 August → 28/29 February).
 *   A month has no fixed length, and which day it is depends on where you are, so the zone is part
 *   of the episode rather than taken from the machine running the code.
 *
 * Time is always passed in (`now`); nothing here reads the clock.
 */

import type { DialogRatings } from './ratings';
import { ratedConcepts } from './ratings';
import { DAY_MS, HOUR_MS, instantOf } from './instant';
import { addCalendarMonths, formatDateTime, isValidTimeZone } from './zoned-time';

export const TIMEPOINT_KINDS = ['episode-start', 'review', 'episode-end'] as const;
export type TimepointKind = (typeof TIMEPOINT_KINDS)[number];

export const CARE_SETTINGS = ['community', 'inpatient', 'crisis'] as const;
export type CareSetting = (typeof CARE_SETTINGS)[number];

/** Elapsed time from episode start within which an acute episode-start rating is due. */
export const ACUTE_EPISODE_START_WINDOW_MS = 48 * HOUR_MS;
/** Elapsed time between acute reviews ("every 4 weeks"). */
export const ACUTE_REVIEW_INTERVAL_MS = 28 * DAY_MS;
/** Calendar months, in the episode's zone, between community reviews at most. */
export const COMMUNITY_REVIEW_INTERVAL_MONTHS = 6;

/** Inpatient and crisis care are acute treatment; community (and outpatient) care is not. */
export function isAcuteSetting(setting: CareSetting): boolean {
  return setting === 'inpatient' || setting === 'crisis';
}

/** One episode of care in one service. All times are FHIR dateTimes with time and offset. */
export interface Episode {
  readonly setting: CareSetting;
  /** Admission, or the start of the episode in the service. */
  readonly start: string;
  /** IANA zone whose calendar the 6-month rule uses, e.g. "Europe/London". */
  readonly timeZone: string;
  /** Community: when the second meeting is (scheduled or held), if known. */
  readonly secondMeeting?: string;
  /** Discharge, actual or planned, if known. */
  readonly end?: string;
}

/** A rating recorded at a timepoint of an episode. */
export interface TimepointRating {
  readonly id: string;
  readonly timepoint: TimepointKind;
  readonly ratings: DialogRatings;
}

export type DueRule =
  | 'within-48-hours'
  | 'by-second-meeting'
  | 'at-next-meeting'
  | 'every-28-days'
  | 'within-6-months'
  | 'at-discharge';

export type NextDue =
  | {
      readonly status: 'due';
      readonly timepoint: TimepointKind;
      /** FHIR dateTime, written with the episode zone's offset at that instant. */
      readonly dueBy: string;
      readonly overdue: boolean;
      readonly rule: DueRule;
      /** The dateTime the deadline counts from (episode start, last rating, meeting, discharge). */
      readonly from: string;
    }
  | {
      readonly status: 'due-at-next-meeting';
      readonly timepoint: 'episode-start';
      readonly overdue: false;
      readonly rule: 'at-next-meeting';
    }
  /** The episode-end rating is done: nothing more is due in this episode. */
  | { readonly status: 'complete' };

interface Candidate {
  readonly timepoint: TimepointKind;
  readonly rule: DueRule;
  /** Undefined only for "at the next meeting". */
  readonly dueMs?: number;
  readonly from: string;
}

function episodeStartDue(episode: Episode): Candidate {
  const { start, secondMeeting } = episode;
  if (isAcuteSetting(episode.setting)) {
    const dueMs = instantOf(start, 'episode start') + ACUTE_EPISODE_START_WINDOW_MS;
    return { timepoint: 'episode-start', rule: 'within-48-hours', dueMs, from: start };
  }
  if (secondMeeting === undefined) {
    return { timepoint: 'episode-start', rule: 'at-next-meeting', from: start };
  }
  const dueMs = instantOf(secondMeeting, 'second meeting');
  return { timepoint: 'episode-start', rule: 'by-second-meeting', dueMs, from: secondMeeting };
}

function latestRatedAt(ratings: readonly TimepointRating[]): string | undefined {
  let latest: string | undefined;
  for (const { ratings: r } of ratings) {
    if (latest === undefined || instantOf(r.ratedAt, 'ratedAt') > instantOf(latest)) {
      latest = r.ratedAt;
    }
  }
  return latest;
}

/** Reviews count from the latest rating so far, whether that was the episode start or a review. */
function reviewDue(episode: Episode, lastRatedAt: string): Candidate {
  const last = instantOf(lastRatedAt, 'ratedAt');
  if (isAcuteSetting(episode.setting)) {
    const dueMs = last + ACUTE_REVIEW_INTERVAL_MS;
    return { timepoint: 'review', rule: 'every-28-days', dueMs, from: lastRatedAt };
  }
  const dueMs = addCalendarMonths(last, COMMUNITY_REVIEW_INTERVAL_MONTHS, episode.timeZone);
  return { timepoint: 'review', rule: 'within-6-months', dueMs, from: lastRatedAt };
}

/**
 * Discharge is due instead when it comes no later than the other timepoint's deadline: a rating at
 * discharge is the one that can still be paired. Against "at the next meeting" (no date), it wins
 * only once the discharge has happened.
 */
function dischargeComesFirst(other: Candidate, endMs: number, nowMs: number): boolean {
  return other.dueMs === undefined ? endMs <= nowMs : endMs <= other.dueMs;
}

function toNextDue(candidate: Candidate, episode: Episode, nowMs: number): NextDue {
  const { timepoint, rule, dueMs, from } = candidate;
  if (dueMs === undefined) {
    return {
      status: 'due-at-next-meeting',
      timepoint: 'episode-start',
      overdue: false,
      rule: 'at-next-meeting',
    };
  }
  const dueBy = formatDateTime(dueMs, episode.timeZone);
  return { status: 'due', timepoint, dueBy, overdue: nowMs > dueMs, rule, from };
}

function checkEpisode(episode: Episode): void {
  if (!isValidTimeZone(episode.timeZone)) {
    throw new RangeError(`unknown IANA time zone: ${episode.timeZone}`);
  }
  instantOf(episode.start, 'episode start');
  if (episode.end !== undefined) instantOf(episode.end, 'episode end');
  if (episode.secondMeeting !== undefined) instantOf(episode.secondMeeting, 'second meeting');
}

/**
 * What DIALOG timepoint is due next in an episode, by when, and whether it is overdue at `now`.
 * Only ratings with at least one valid score count as done; a timepoint recorded as not rated stays
 * due (not rating is time-specific, so it may be rated later). Throws RangeError for dateTimes
 * without time and offset, or an unknown time zone.
 */
export function nextDue(
  episode: Episode,
  ratingsSoFar: readonly TimepointRating[],
  now: string,
): NextDue {
  checkEpisode(episode);
  const nowMs = instantOf(now, 'now');
  const rated = ratingsSoFar.filter((r) => ratedConcepts(r.ratings).length > 0);
  if (rated.some((r) => r.timepoint === 'episode-end')) return { status: 'complete' };
  const hasStart = rated.some((r) => r.timepoint === 'episode-start');
  const lastRatedAt = latestRatedAt(rated);
  const candidate =
    hasStart && lastRatedAt !== undefined
      ? reviewDue(episode, lastRatedAt)
      : episodeStartDue(episode);
  const end = episode.end;
  if (end !== undefined && dischargeComesFirst(candidate, instantOf(end), nowMs)) {
    const discharge: Candidate = {
      timepoint: 'episode-end',
      rule: 'at-discharge',
      dueMs: instantOf(end),
      from: end,
    };
    return toNextDue(discharge, episode, nowMs);
  }
  return toNextDue(candidate, episode, nowMs);
}
