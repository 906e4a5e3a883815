/**
 * The small typed view of one DIALOG+ session that the mappers and the FHIR side share. It is not
 * a third data model: every field is a field of the DIALOG QuestionnaireResponse, and
 * response-session.ts converts both ways without loss.
 */
import type {
  CareSetting,
  DialogItemConcept,
  DialogScore,
  NotRatedReason,
  TimepointKind,
} from '../dialog';

export type ResponseStatus =
  'in-progress' | 'completed' | 'amended' | 'entered-in-error' | 'stopped';

export interface DialogAction {
  readonly what: string;
  readonly who?: string;
  /** FHIR date (yyyy-mm-dd). */
  readonly byWhen?: string;
}

export interface DiscussedItem {
  readonly concept: DialogItemConcept;
  readonly understanding?: string;
  readonly lookingForward?: string;
  readonly exploringOptions?: string;
  readonly actions: readonly DialogAction[];
}

export const PREVIOUS_ACTION_STATUSES = ['done', 'partly done', 'not done'] as const;
export type PreviousActionStatus = (typeof PREVIOUS_ACTION_STATUSES)[number];

export interface PreviousAction {
  readonly what: string;
  readonly status?: PreviousActionStatus;
}

export interface ReusedRating {
  /** Reference to the response whose ratings are reused, e.g. `QuestionnaireResponse/abc`. */
  readonly source: string;
  readonly originalTimepoint: TimepointKind;
  readonly originalSetting?: CareSetting;
  readonly reason?: string;
}

/** A reference to a person or organisation, by reference, display, or both (as in FHIR). */
export interface PartyReference {
  /** e.g. `Practitioner/abc` */
  readonly reference?: string;
  readonly display?: string;
}

export interface DialogSession {
  readonly id?: string;
  /** Business identifier: re-importing the same session finds it again. */
  readonly identifier?: { readonly system: string; readonly value: string };
  readonly status: ResponseStatus;
  /** `Patient/<id>` (or another resolvable reference to the person). */
  readonly subject: string;
  readonly subjectDisplay?: string;
  /** Who recorded the answers (e.g. the clinician at the session). */
  readonly author?: PartyReference;
  /**
   * Who gave the answers. For DIALOG this is always the person (`dlg-qr-3`: no proxy ratings);
   * absent when nobody answered, e.g. a timepoint recorded as not rated.
   */
  readonly source?: PartyReference;
  /** FHIR dateTime with offset: the point in time the rating represents. */
  readonly authored: string;
  readonly timepoint?: TimepointKind;
  readonly setting?: CareSetting;
  readonly scores: Partial<Record<DialogItemConcept, DialogScore>>;
  readonly helpWanted: Partial<Record<DialogItemConcept, boolean>>;
  readonly chosen: readonly DialogItemConcept[];
  readonly discussed: readonly DiscussedItem[];
  readonly previousActions: readonly PreviousAction[];
  readonly notRated?: { readonly reason: NotRatedReason; readonly note?: string };
  readonly reusedFrom?: ReusedRating;
}
