/**
 * Change between paired ratings, by NHS England's community mental health PROMs dashboard rule:
 * per item, pair the first valid score with the latest later valid score; change = follow-up −
 * baseline; a change of at least +1 is a reliable improvement, at most −1 a reliable deterioration,
 * anything between is no reliable change. The SQoL and TS means are paired the same way.
 *
 * Ratings are put in time order by the instant their ratedAt denotes, whatever order they arrive
 * in and whatever offsets they were written with. Ratings that state the same instant are one
 * rating built up over several sittings, so they are merged; where they disagree about an item,
 * that item has no valid score at that instant and the disagreement is reported as a conflict
 * rather than resolved by input order.
 */

import { DIALOG_ITEMS } from './items';
import type { DialogItemConcept } from './items';
import { isDialogScore } from './scale';
import type { DialogScore } from './scale';
import type { DialogRatings } from './ratings';
import { instantOf } from './instant';
import { meanScore } from './scoring';
import type { MeanMeasure, MeanScore } from './scoring';

/** DIALOG's reliable change threshold, in scale points, for items and means alike. */
export const RELIABLE_CHANGE_THRESHOLD = 1;

export type ChangeCategory =
  'reliable-improvement' | 'reliable-deterioration' | 'no-reliable-change';

export interface ItemChange {
  readonly concept: DialogItemConcept;
  readonly baseline: { readonly score: DialogScore; readonly ratedAt: string };
  readonly followUp: { readonly score: DialogScore; readonly ratedAt: string };
  /** follow-up − baseline */
  readonly change: number;
  readonly category: ChangeCategory;
}

export interface MeanChange {
  readonly measure: MeanMeasure;
  readonly baseline: { readonly mean: MeanScore; readonly ratedAt: string };
  readonly followUp: { readonly mean: MeanScore; readonly ratedAt: string };
  /** follow-up − baseline, at full precision (the category is decided on exact fractions). */
  readonly change: number;
  readonly category: ChangeCategory;
  /** False when either mean is incomplete (more than one of the 11 items missing). */
  readonly complete: boolean;
}

/** Ratings stating the same instant that give an item different scores. */
export interface ScoreConflict {
  readonly concept: DialogItemConcept;
  readonly ratedAt: string;
  readonly scores: readonly DialogScore[];
}

export interface PairedChange {
  /** One entry per item with two valid scores at different instants, in SNOMED order. */
  readonly items: readonly ItemChange[];
  readonly sqol?: MeanChange;
  readonly ts?: MeanChange;
  readonly conflicts: readonly ScoreConflict[];
}

export function classifyChange(change: number): ChangeCategory {
  if (change >= RELIABLE_CHANGE_THRESHOLD) return 'reliable-improvement';
  if (change <= -RELIABLE_CHANGE_THRESHOLD) return 'reliable-deterioration';
  return 'no-reliable-change';
}

/**
 * Classifies the change between two means on exact fractions (sum / count). Float subtraction can
 * land a hair under the threshold (29/6 − 23/6 is 0.9999999999999996), which would turn a reliable
 * improvement into no reliable change.
 */
export function classifyMeanChange(baseline: MeanScore, followUp: MeanScore): ChangeCategory {
  const n1 = baseline.itemsUsed.length;
  const n2 = followUp.itemsUsed.length;
  const numerator = followUp.sum * n1 - baseline.sum * n2;
  const threshold = RELIABLE_CHANGE_THRESHOLD * n1 * n2;
  if (numerator >= threshold) return 'reliable-improvement';
  if (numerator <= -threshold) return 'reliable-deterioration';
  return 'no-reliable-change';
}

/** A rating merged from all the ratings that state one instant. */
interface Timepoint {
  readonly instant: number;
  readonly ratings: DialogRatings;
}

function groupByInstant(ratings: readonly DialogRatings[]): Map<number, DialogRatings[]> {
  const groups = new Map<number, DialogRatings[]>();
  for (const rating of ratings) {
    const instant = instantOf(rating.ratedAt, 'ratedAt');
    groups.set(instant, [...(groups.get(instant) ?? []), rating]);
  }
  return groups;
}

function mergeSameInstant(
  instant: number,
  group: readonly DialogRatings[],
  conflicts: ScoreConflict[],
): Timepoint {
  // The same instant can be written several ways; pick one spelling independent of input order.
  const ratedAt = group.map((r) => r.ratedAt).reduce((a, b) => (b < a ? b : a));
  const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
  for (const { concept } of DIALOG_ITEMS) {
    const given = group.map((r) => r.scores[concept]).filter(isDialogScore);
    const distinct = [...new Set(given)].sort((a, b) => a - b);
    const [only] = distinct;
    if (distinct.length > 1) conflicts.push({ concept, ratedAt, scores: distinct });
    else if (only !== undefined) scores[concept] = only;
  }
  return { instant, ratings: { scores, ratedAt } };
}

function timeline(ratings: readonly DialogRatings[], conflicts: ScoreConflict[]): Timepoint[] {
  return [...groupByInstant(ratings)]
    .sort(([a], [b]) => a - b)
    .map(([instant, group]) => mergeSameInstant(instant, group, conflicts));
}

/** First element with a value, and the last one strictly later than it. */
function firstAndLatestLater<T>(
  points: readonly Timepoint[],
  valueAt: (t: Timepoint) => T | undefined,
): { first: [Timepoint, T]; latest: [Timepoint, T] } | undefined {
  const withValue = points.flatMap((t): [Timepoint, T][] => {
    const value = valueAt(t);
    return value === undefined ? [] : [[t, value]];
  });
  const first = withValue[0];
  const latest = withValue[withValue.length - 1];
  // Instants are unique after merging, so a different element is a later one.
  if (!first || !latest || withValue.length < 2) return undefined;
  return { first, latest };
}

function pairItem(
  points: readonly Timepoint[],
  concept: DialogItemConcept,
): ItemChange | undefined {
  const pair = firstAndLatestLater(points, (t) => t.ratings.scores[concept]);
  if (!pair) return undefined;
  const [base, baseScore] = pair.first;
  const [follow, followScore] = pair.latest;
  const change = followScore - baseScore;
  return {
    concept,
    baseline: { score: baseScore, ratedAt: base.ratings.ratedAt },
    followUp: { score: followScore, ratedAt: follow.ratings.ratedAt },
    change,
    category: classifyChange(change),
  };
}

function pairMean(points: readonly Timepoint[], measure: MeanMeasure): MeanChange | undefined {
  const pair = firstAndLatestLater(points, (t) => meanScore(t.ratings, measure));
  if (!pair) return undefined;
  const [base, baseMean] = pair.first;
  const [follow, followMean] = pair.latest;
  return {
    measure,
    baseline: { mean: baseMean, ratedAt: base.ratings.ratedAt },
    followUp: { mean: followMean, ratedAt: follow.ratings.ratedAt },
    change: followMean.value - baseMean.value,
    category: classifyMeanChange(baseMean, followMean),
    complete: baseMean.complete && followMean.complete,
  };
}

/**
 * Paired change for one person's ratings, in any order. Items without valid scores at two
 * different instants have no entry; a mean without two instants at which it can be computed is
 * absent. Throws RangeError if a ratedAt is not a dateTime with time and offset (ratings are
 * expected to have been built with buildRatings).
 */
export function pairedChange(ratings: readonly DialogRatings[]): PairedChange {
  const conflicts: ScoreConflict[] = [];
  const points = timeline(ratings, conflicts);
  const items = DIALOG_ITEMS.flatMap(({ concept }) => pairItem(points, concept) ?? []);
  const sqol = pairMean(points, 'sqol');
  const ts = pairMean(points, 'ts');
  return { items, ...(sqol && { sqol }), ...(ts && { ts }), conflicts };
}

/** Paired change for a single item. */
export function itemChange(
  ratings: readonly DialogRatings[],
  concept: DialogItemConcept,
): ItemChange | undefined {
  return pairItem(timeline(ratings, []), concept);
}

/** Paired change for the SQoL or TS mean. */
export function meanChange(
  ratings: readonly DialogRatings[],
  measure: MeanMeasure,
): MeanChange | undefined {
  return pairMean(timeline(ratings, []), measure);
}
