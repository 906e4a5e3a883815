/** Test helpers for building DIALOG ratings by concept. Not a test file itself. */

import { DIALOG_ITEMS, DIALOG_ITEMS_APP_ORDER } from '../../src/dialog/items';
import type { DialogItemConcept } from '../../src/dialog/items';
import { ratingsOrThrow } from '../../src/dialog/ratings';
import type { DialogRatings } from '../../src/dialog/ratings';

export type ScoresByConcept = Partial<Record<DialogItemConcept, number>>;

export const ALL_CONCEPTS: readonly DialogItemConcept[] = DIALOG_ITEMS.map((i) => i.concept);
export const APP_ORDER_CONCEPTS: readonly DialogItemConcept[] = DIALOG_ITEMS_APP_ORDER.map(
  (i) => i.concept,
);

/** A rating with the given scores (validated: a bad score here is a broken test). */
export function rating(scores: ScoresByConcept, ratedAt = '2026-01-01T10:00:00Z'): DialogRatings {
  return ratingsOrThrow(Object.entries(scores), ratedAt);
}

/** Every item rated `score`, except those listed as missing. */
export function uniform(
  score: number,
  ratedAt = '2026-01-01T10:00:00Z',
  missing: readonly DialogItemConcept[] = [],
): DialogRatings {
  const scores: ScoresByConcept = {};
  for (const concept of ALL_CONCEPTS) if (!missing.includes(concept)) scores[concept] = score;
  return rating(scores, ratedAt);
}

/**
 * A rating as it might arrive from JSON, bypassing validation, to check that the functions that
 * read ratings re-check scores at run time.
 */
export function unchecked(scores: Record<string, unknown>, ratedAt: string): DialogRatings {
  return { scores, ratedAt } as unknown as DialogRatings;
}
