/**
 * One DIALOG rating session: the person's scores on the items they rated, their "do you need more
 * help in this area?" answers, and the point in time the rating represents.
 *
 * Inpatients often complete DIALOG over several sittings; `ratedAt` is the stated point in time the
 * whole rating represents, not when each answer was typed.
 *
 * Building a rating validates every value and rejects anything that is not already a whole number
 * from 1 to 7. Nothing is coerced: "7" (a string), 7.5, 0, 8, null and NaN are errors naming the
 * item, because silently rounding or parsing a score would change a person's recorded outcome.
 */

import { DIALOG_ITEMS, itemByConcept, itemBySnomed } from './items';
import type { DialogItem, DialogItemConcept } from './items';
import { isDialogScore } from './scale';
import type { DialogScore } from './scale';
import { isDateTimeWithOffset } from './instant';

export interface DialogRatings {
  /** Scores by item concept. An item the person did not rate is absent. */
  readonly scores: Partial<Record<DialogItemConcept, DialogScore>>;
  /** Answers to "Do you need more help in this area?"; absent where not asked. */
  readonly helpWanted?: Partial<Record<DialogItemConcept, boolean>>;
  /** FHIR dateTime with time and offset: the point in time the rating represents. */
  readonly ratedAt: string;
}

/** One item's answer, the item named by concept ("mental-health") or SNOMED code. */
export interface RatingEntry {
  readonly item: string;
  readonly score: unknown;
  readonly helpWanted?: unknown;
}

/** A (concept or SNOMED code, score) pair, e.g. from Object.entries of a record. */
export type RatingPair = readonly [item: string, score: unknown];

export type RatingInput = RatingEntry | RatingPair;

export type RatingsError =
  | { readonly code: 'unknown-item'; readonly item: string; readonly message: string }
  | {
      readonly code: 'invalid-score' | 'invalid-help-wanted';
      readonly item: string;
      readonly concept: DialogItemConcept;
      readonly value: unknown;
      readonly message: string;
    }
  | {
      readonly code: 'duplicate-item';
      readonly item: string;
      readonly concept: DialogItemConcept;
      readonly message: string;
    }
  | { readonly code: 'invalid-rated-at'; readonly value: unknown; readonly message: string };

export type RatingsResult =
  | { readonly ok: true; readonly ratings: DialogRatings }
  | { readonly ok: false; readonly errors: readonly RatingsError[] };

export type ScoreResult =
  | { readonly ok: true; readonly concept: DialogItemConcept; readonly score: DialogScore }
  | { readonly ok: false; readonly error: RatingsError };

/** Thrown by ratingsOrThrow; carries every problem found, not just the first. */
export class DialogRatingsError extends Error {
  constructor(readonly errors: readonly RatingsError[]) {
    super(errors.map((e) => e.message).join('; '));
    this.name = 'DialogRatingsError';
  }
}

/** Finds an item by concept key or SNOMED code; never by position. */
export function resolveItem(item: string): DialogItem | undefined {
  return itemByConcept(item) ?? itemBySnomed(item);
}

/** Shows a rejected value as it was given, so "7" (text) and 7 (number) read differently. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return jsonOrString(value);
  return String(value);
}

function jsonOrString(value: object): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value); // e.g. a cyclic object
  }
}

function unknownItem(item: string): RatingsError {
  return { code: 'unknown-item', item, message: `${describeValue(item)} is not a DIALOG item` };
}

/** Validates one item's score without coercing it. */
export function parseScore(item: string, value: unknown): ScoreResult {
  const found = resolveItem(item);
  if (!found) return { ok: false, error: unknownItem(item) };
  if (isDialogScore(value)) return { ok: true, concept: found.concept, score: value };
  const message = `${found.label} (${found.concept}): score ${describeValue(value)} is not a whole number from 1 to 7`;
  return {
    ok: false,
    error: { code: 'invalid-score', item, concept: found.concept, value, message },
  };
}

function toEntry(input: RatingInput): RatingEntry {
  return 'item' in input ? input : { item: input[0], score: input[1] };
}

function checkHelpWanted(entry: RatingEntry, item: DialogItem): RatingsError | undefined {
  const value = entry.helpWanted;
  if (value === undefined || typeof value === 'boolean') return undefined;
  const { concept, label } = item;
  const message = `${label} (${concept}): "more help" answer ${describeValue(value)} is not true or false`;
  return { code: 'invalid-help-wanted', item: entry.item, concept, value, message };
}

function checkRatedAt(ratedAt: unknown): RatingsError | undefined {
  if (isDateTimeWithOffset(ratedAt)) return undefined;
  const message = `ratedAt ${describeValue(ratedAt)} is not a FHIR dateTime with time and offset`;
  return { code: 'invalid-rated-at', value: ratedAt, message };
}

/** Puts keys in SNOMED order so built ratings look the same whatever order the input came in. */
function inItemOrder<T>(
  values: ReadonlyMap<DialogItemConcept, T>,
): Partial<Record<DialogItemConcept, T>> {
  const out: Partial<Record<DialogItemConcept, T>> = {};
  for (const { concept } of DIALOG_ITEMS) {
    const value = values.get(concept);
    if (value !== undefined) out[concept] = value;
  }
  return out;
}

/**
 * Builds a rating from item answers, collecting every error rather than stopping at the first.
 * Each item may appear once (by concept or by SNOMED code, not both): a repeated item is an error
 * even with the same score, because which one the source meant cannot be known. An item left
 * unrated is simply not listed.
 */
export function buildRatings(entries: Iterable<RatingInput>, ratedAt: string): RatingsResult {
  const errors: RatingsError[] = [];
  const scores = new Map<DialogItemConcept, DialogScore>();
  const help = new Map<DialogItemConcept, boolean>();
  const seen = new Set<DialogItemConcept>();
  const ratedAtError = checkRatedAt(ratedAt);
  if (ratedAtError) errors.push(ratedAtError);
  for (const entry of Array.from(entries, toEntry)) {
    const found = resolveItem(entry.item);
    if (!found) {
      errors.push(unknownItem(entry.item));
      continue;
    }
    const { concept, label } = found;
    if (seen.has(concept)) {
      const message = `${label} (${concept}) is given more than once`;
      errors.push({ code: 'duplicate-item', item: entry.item, concept, message });
      continue;
    }
    seen.add(concept);
    const score = parseScore(entry.item, entry.score);
    if (score.ok) scores.set(concept, score.score);
    else errors.push(score.error);
    const helpError = checkHelpWanted(entry, found);
    if (helpError) errors.push(helpError);
    else if (typeof entry.helpWanted === 'boolean') help.set(concept, entry.helpWanted);
  }
  if (errors.length > 0) return { ok: false, errors };
  const ratings: DialogRatings =
    help.size > 0
      ? { scores: inItemOrder(scores), helpWanted: inItemOrder(help), ratedAt }
      : { scores: inItemOrder(scores), ratedAt };
  return { ok: true, ratings };
}

/** buildRatings for callers that treat bad input as exceptional. */
export function ratingsOrThrow(entries: Iterable<RatingInput>, ratedAt: string): DialogRatings {
  const result = buildRatings(entries, ratedAt);
  if (!result.ok) throw new DialogRatingsError(result.errors);
  return result.ratings;
}

/**
 * The items a rating holds a valid score for, in SNOMED order. Checks at run time too, since a
 * rating may have arrived as JSON without passing through buildRatings.
 */
export function ratedConcepts(ratings: DialogRatings): DialogItemConcept[] {
  return DIALOG_ITEMS.filter((i) => isDialogScore(ratings.scores[i.concept])).map((i) => i.concept);
}

/** The items a rating has no valid score for, in SNOMED order. */
export function missingConcepts(ratings: DialogRatings): DialogItemConcept[] {
  return DIALOG_ITEMS.filter((i) => !isDialogScore(ratings.scores[i.concept])).map(
    (i) => i.concept,
  );
}

/** The valid score for one item, if there is one. */
export function scoreOf(
  ratings: DialogRatings,
  concept: DialogItemConcept,
): DialogScore | undefined {
  const score = ratings.scores[concept];
  return isDialogScore(score) ? score : undefined;
}
