/**
 * `$populate` for DIALOG: a new in-progress response for a person, ready for the next session.
 *
 * - The ratings are left empty: in DIALOG+ the person rates all 11 items again, and the new
 *   ratings are compared on screen with the previous ones. The previous ratings (scores and "more
 *   help") come back beside the response, as `previous`, never as answers: an answer copied from
 *   last time would, if the session were completed without re-rating, become a new rating that
 *   nobody gave, indistinguishable from one and counted in its means.
 * - The actions agreed last time (in the latest session that agreed any) are placed under
 *   previous-actions, to be reviewed first.
 * - When the person moves between services of one provider, the previous service's discharge
 *   rating may instead be offered as the new service's admission rating (and vice versa), recorded
 *   with the dialog-reused-rating extension. This is the one case where ratings are copied as
 *   answers: the reuse is explicit and recorded, and the rating keeps its own point in time.
 *   src/dialog's reuse rules decide; a refusal comes back as a readable reason beside the ordinary
 *   new response.
 */
import type { OperationOutcomeIssue, QuestionnaireResponse } from '@medplum/fhirtypes';
import {
  type CareSetting,
  compareDateTimes,
  type RatingReuse,
  reuseRating,
  type ServiceEpisode,
  TIMEPOINT_KINDS,
  type TimepointKind,
} from '../dialog';
import { issue } from '../validation/outcome';
import type { DialogSession, PartyReference, PreviousAction } from './dialog-session';
import { isDialogResponse, RATED_STATUSES, readHistory } from './history';
import { responseToSession, sessionToResponse } from './response-session';
import { sameResource } from './stable-id';

export interface PopulateRequest {
  /** `Patient/<id>`: the person the response is for. */
  readonly subject: string;
  readonly subjectDisplay?: string;
  /** The point in time the new rating is for (usually now). */
  readonly authored: string;
  readonly timepoint?: TimepointKind;
  readonly setting?: CareSetting;
  /** Who will record the session. */
  readonly author?: PartyReference;
  /** The person's earlier DIALOG responses, in any order. */
  readonly history: readonly QuestionnaireResponse[];
  /** Offer an earlier rating from another service of the same provider instead. */
  readonly reuse?: ReuseOffer;
}

export interface ReuseOffer {
  /** The rating that may be reused: a completed DIALOG response with a timepoint and an id. */
  readonly response: QuestionnaireResponse;
  /** The episode it was made in. */
  readonly source: ServiceEpisode;
  /** The episode that would use it, and that episode's setting. */
  readonly target: ServiceEpisode & { readonly setting?: CareSetting };
  /** Why, in words the person and the next team can read; a default is written otherwise. */
  readonly reason?: string;
}

/** The person's latest rating, to show beside the new one (not part of the new response). */
export interface PreviousRating {
  /** The point in time it represents. */
  readonly authored: string;
  readonly scores: DialogSession['scores'];
  readonly helpWanted: DialogSession['helpWanted'];
}

export interface PopulateResult {
  readonly response: QuestionnaireResponse;
  readonly session: DialogSession;
  /**
   * The latest earlier rating with scores, for comparison on screen; absent when there is none,
   * and when an earlier rating is reused as this one.
   */
  readonly previous?: PreviousRating;
  /** The reuse recorded, when an earlier rating was reused. */
  readonly reuse?: RatingReuse;
  /** Why a reuse was not offered, or what was left out of the earlier responses. */
  readonly issues: readonly OperationOutcomeIssue[];
}

/** The person's earlier ratings, latest first; what was left out goes to `issues`. */
function earlierSessions(
  request: PopulateRequest,
  issues: OperationOutcomeIssue[],
): DialogSession[] {
  const read = readHistory(request.history, request.subject);
  issues.push(...read.issues);
  return read.entries
    .map((e) => e.session)
    .sort((a, b) => compareDateTimes(b.authored, a.authored));
}

function hasScores(session: DialogSession): boolean {
  return Object.keys(session.scores).length > 0;
}

function agreedActions(session: DialogSession): PreviousAction[] {
  return session.discussed.flatMap((d) => d.actions.map((a) => ({ what: a.what })));
}

function newSession(request: PopulateRequest): DialogSession {
  return {
    status: 'in-progress',
    subject: request.subject,
    ...(request.subjectDisplay ? { subjectDisplay: request.subjectDisplay } : {}),
    authored: request.authored,
    ...(request.author ? { author: request.author } : {}),
    source: {
      reference: request.subject,
      ...(request.subjectDisplay ? { display: request.subjectDisplay } : {}),
    },
    ...(request.timepoint ? { timepoint: request.timepoint } : {}),
    ...(request.setting ? { setting: request.setting } : {}),
    scores: {},
    helpWanted: {},
    chosen: [],
    discussed: [],
    previousActions: [],
  };
}

/** A new session with last time's actions to review, and the latest rating to compare with. */
function prepared(
  request: PopulateRequest,
  issues: OperationOutcomeIssue[],
): {
  session: DialogSession;
  previous?: PreviousRating;
} {
  const earlier = earlierSessions(request, issues);
  const latestRating = earlier.find(hasScores);
  const lastAgreed = earlier.map(agreedActions).find((actions) => actions.length > 0) ?? [];
  const session: DialogSession = { ...newSession(request), previousActions: lastAgreed };
  if (!latestRating) return { session };
  return {
    session,
    previous: {
      authored: latestRating.authored,
      scores: { ...latestRating.scores },
      helpWanted: { ...latestRating.helpWanted },
    },
  };
}

function defaultReason(reuse: RatingReuse, ratedAt: string): string {
  const [from, to] =
    reuse.reason === 'discharge-as-admission'
      ? ['discharge', 'admission']
      : ['admission', 'discharge'];
  return (
    `The ${from} rating of ${reuse.fromService} is used as the ${to} rating of ${reuse.toService} ` +
    `(same provider, ${reuse.provider}); the ratings are unchanged and still stand for ${ratedAt}.`
  );
}

type Reused =
  { ok: true; session: DialogSession; reuse: RatingReuse } | { ok: false; message: string };

function reused(request: PopulateRequest, offer: ReuseOffer): Reused {
  const read = responseToSession(offer.response);
  const { id } = offer.response;
  if (
    !read.ok ||
    !id ||
    !isDialogResponse(offer.response) ||
    !RATED_STATUSES.has(offer.response.status)
  )
    return {
      ok: false,
      message: 'The rating offered for reuse is not a completed DIALOG response with an id',
    };
  const earlier = read.session;
  if (!sameResource(earlier.subject, request.subject))
    return { ok: false, message: "The rating offered for reuse is not this person's" };
  const timepoint = earlier.timepoint;
  if (!timepoint || !(TIMEPOINT_KINDS as readonly string[]).includes(timepoint))
    return {
      ok: false,
      message: 'The rating offered for reuse does not say which timepoint it was',
    };
  const decision = reuseRating({
    rating: { id, timepoint, ratings: { scores: earlier.scores, ratedAt: earlier.authored } },
    source: offer.source,
    target: offer.target,
  });
  if (!decision.ok) return { ok: false, message: decision.message };
  const reuse = decision.reuse;
  const session: DialogSession = {
    ...newSession(request),
    // The rating still represents the person at its own point in time.
    authored: earlier.authored,
    ...(earlier.source ? { source: earlier.source } : {}),
    timepoint: reuse.newTimepoint,
    ...(offer.target.setting ? { setting: offer.target.setting } : {}),
    scores: { ...earlier.scores },
    helpWanted: { ...earlier.helpWanted },
    reusedFrom: {
      source: `QuestionnaireResponse/${id}`,
      originalTimepoint: timepoint,
      ...(earlier.setting ? { originalSetting: earlier.setting } : {}),
      reason: offer.reason ?? defaultReason(reuse, earlier.authored),
    },
  };
  return { ok: true, session, reuse };
}

/**
 * A new in-progress DIALOG response for the person: the reused rating when one is offered and
 * the reuse rules allow it, otherwise unrated, with last time's actions to review and the latest
 * rating returned beside it as `previous` (and the refusal, when reuse was offered, as an issue).
 */
export function populateResponse(request: PopulateRequest): PopulateResult {
  const issues: OperationOutcomeIssue[] = [];
  if (request.reuse) {
    const offer = reused(request, request.reuse);
    if (offer.ok)
      return {
        response: sessionToResponse(offer.session),
        session: offer.session,
        reuse: offer.reuse,
        issues,
      };
    issues.push(issue('information', 'business-rule', `Not reused: ${offer.message}`, 'reuse'));
  }
  const { session, previous } = prepared(request, issues);
  return {
    response: sessionToResponse(session),
    session,
    ...(previous ? { previous } : {}),
    issues,
  };
}
