/**
 * When DIALOG is not rated, and who may rate it.
 *
 * DIALOG is not completed with a person who cannot understand the questions at that time (e.g.
 * delirium). That is a check of understanding, not a formal capacity assessment, and it is time-
 * and question-specific: the reason for not rating is recorded against a timepoint, and the
 * timepoint stays due so it can be rated when the person can.
 *
 * A carer never rates on the person's behalf: there are no proxy scores. A carer may complete their
 * own DIALOG about their own concerns; that rating is the carer's, about the carer.
 */

import type { TimepointKind } from './timepoints';

export const NOT_RATED_REASONS = [
  'could-not-understand',
  'declined',
  'too-unwell',
  'other',
] as const;

export type NotRatedReason = (typeof NOT_RATED_REASONS)[number];

export const NOT_RATED_REASON_LABELS: Readonly<Record<NotRatedReason, string>> = {
  'could-not-understand': 'Could not understand the questions at that time',
  declined: 'Declined to rate',
  'too-unwell': 'Too unwell to rate at that time',
  other: 'Other reason',
};

export function isNotRatedReason(value: unknown): value is NotRatedReason {
  return typeof value === 'string' && (NOT_RATED_REASONS as readonly string[]).includes(value);
}

/** A timepoint at which the person was not rated, and why. */
export interface NotRated {
  readonly timepoint: TimepointKind;
  /** FHIR dateTime with time and offset: when rating was attempted. */
  readonly at: string;
  readonly reason: NotRatedReason;
  /** Free text; expected with 'other', so the reason is still recorded. */
  readonly note?: string;
}

/** Who completed a DIALOG, and whose satisfaction it is about. */
export interface RatingSource {
  readonly ratedBy: 'person' | 'carer' | 'clinician' | 'other';
  /** 'person': the person receiving care; 'self': whoever completed it, about themselves. */
  readonly about: 'person' | 'self';
}

const RATER_NAMES: Readonly<Record<RatingSource['ratedBy'], string>> = {
  person: 'the person',
  carer: 'a carer',
  clinician: 'a clinician',
  other: 'someone else',
};

export type RatingSourceCheck =
  | { readonly ok: true; readonly subject: 'person' | 'carer' }
  | {
      readonly ok: false;
      readonly refusal: 'proxy-rating' | 'not-a-dialog-subject';
      readonly message: string;
    };

/**
 * Accepts the person's own rating, and a carer's own DIALOG about themselves; refuses anyone
 * rating on the person's behalf. A clinician or other party rating "about themselves" is not a
 * DIALOG anyone here uses, so it is refused too.
 */
export function checkRatingSource(source: RatingSource): RatingSourceCheck {
  const { ratedBy, about } = source;
  if (ratedBy === 'person') return { ok: true, subject: 'person' };
  if (about === 'person') {
    const message = `${RATER_NAMES[ratedBy]} cannot rate DIALOG on the person's behalf: proxy ratings are refused`;
    return { ok: false, refusal: 'proxy-rating', message };
  }
  if (ratedBy === 'carer') return { ok: true, subject: 'carer' };
  const message = `${RATER_NAMES[ratedBy]}'s DIALOG about themselves is not a person's or carer's rating`;
  return { ok: false, refusal: 'not-a-dialog-subject', message };
}
