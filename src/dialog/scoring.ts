/**
 * The two DIALOG mean scores: subjective quality of life (SQoL, mean of the 8 life items) and
 * treatment satisfaction (TS, mean of the 3 treatment items).
 *
 * Missing items (inpatient guidance): with at most one of the 11 items missing, the mean ignores
 * that item and is complete. With more than one missing, across all 11, the means may be
 * substantially affected: they are still computed from the scores present (when the group has at
 * least one), but marked `complete: false` so they are never reported as if complete.
 *
 * Rounding: `value` keeps full precision and everything derived (band, paired change) uses it or
 * the exact integer `sum`. Rounding is for display only: 2 decimal places, halves rounded up. The
 * means are k/n with n ≤ 8, so the only exact halves are eighths (4.125 → 4.13), which binary
 * floating point holds exactly, so toFixed rounds them up reliably.
 */

import { DIALOG_ITEMS } from './items';
import type { DialogItemConcept, DialogItemGroup } from './items';
import { satisfactionBand } from './scale';
import type { SatisfactionBand } from './scale';
import { missingConcepts, scoreOf } from './ratings';
import type { DialogRatings } from './ratings';

/** SQoL (life items) or TS (treatment items). */
export type MeanMeasure = 'sqol' | 'ts';

export const MEASURE_GROUP: Readonly<Record<MeanMeasure, DialogItemGroup>> = {
  sqol: 'life',
  ts: 'treatment',
};

/** More missing items than this, across all 11, makes a rating's means incomplete. */
export const MAX_MISSING_ITEMS_FOR_COMPLETE = 1;

export const DISPLAY_DECIMALS = 2;

export interface MeanScore {
  readonly measure: MeanMeasure;
  /** The mean, at full precision. */
  readonly value: number;
  /** Sum of the scores used: with itemsUsed.length, the mean as an exact fraction. */
  readonly sum: number;
  /** The group's items that had a valid score, in SNOMED order. */
  readonly itemsUsed: readonly DialogItemConcept[];
  /** The group's items without a valid score, in SNOMED order. */
  readonly itemsMissing: readonly DialogItemConcept[];
  /** False when more than one of the 11 items is missing from the rating. */
  readonly complete: boolean;
  readonly band: SatisfactionBand;
}

export interface RatingScores {
  readonly sqol?: MeanScore;
  readonly ts?: MeanScore;
  /** All items, of both groups, without a valid score. */
  readonly itemsMissing: readonly DialogItemConcept[];
  readonly complete: boolean;
}

/** True when the rating has few enough missing items for its means to count as complete. */
export function isCompleteRating(ratings: DialogRatings): boolean {
  return missingConcepts(ratings).length <= MAX_MISSING_ITEMS_FOR_COMPLETE;
}

/** The SQoL or TS mean of a rating; undefined when the group has no valid score at all. */
export function meanScore(ratings: DialogRatings, measure: MeanMeasure): MeanScore | undefined {
  const group = DIALOG_ITEMS.filter((i) => i.group === MEASURE_GROUP[measure]);
  const itemsUsed: DialogItemConcept[] = [];
  const itemsMissing: DialogItemConcept[] = [];
  let sum = 0;
  for (const { concept } of group) {
    const score = scoreOf(ratings, concept);
    if (score === undefined) itemsMissing.push(concept);
    else {
      itemsUsed.push(concept);
      sum += score;
    }
  }
  if (itemsUsed.length === 0) return undefined;
  const value = sum / itemsUsed.length;
  const complete = isCompleteRating(ratings);
  return { measure, value, sum, itemsUsed, itemsMissing, complete, band: satisfactionBand(value) };
}

export function subjectiveQualityOfLife(ratings: DialogRatings): MeanScore | undefined {
  return meanScore(ratings, 'sqol');
}

export function treatmentSatisfaction(ratings: DialogRatings): MeanScore | undefined {
  return meanScore(ratings, 'ts');
}

/** Both means and the rating's completeness in one call. */
export function scoreRatings(ratings: DialogRatings): RatingScores {
  const sqol = meanScore(ratings, 'sqol');
  const ts = meanScore(ratings, 'ts');
  const itemsMissing = missingConcepts(ratings);
  const complete = itemsMissing.length <= MAX_MISSING_ITEMS_FOR_COMPLETE;
  return {
    ...(sqol && { sqol }),
    ...(ts && { ts }),
    itemsMissing,
    complete,
  };
}

/** A mean rounded for display (2 dp, halves up). Not for further arithmetic. */
export function roundForDisplay(value: number): number {
  return Number(value.toFixed(DISPLAY_DECIMALS));
}

/** A mean as display text with exactly 2 decimals ("4.00", "4.13"). */
export function formatMean(value: number): string {
  return value.toFixed(DISPLAY_DECIMALS);
}
