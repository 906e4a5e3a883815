/**
 * The one DIALOG+ care plan per person, updated by every completed session.
 *
 * A session adds: a Goal per discussed item (goal-builder.ts), its agreed actions as plan
 * activities (what, who, by when), the statuses the person gave last time's actions in their
 * review, the next review due (src/dialog nextDue), and links to the response and its means.
 *
 * The plan is shared with other systems and people, so updating it never drops anything: it starts
 * from the plan as it is, adds by stable keys (an activity's id, or its goal and description; a
 * reference's target or identifier), changes only the statuses the review gives and the review-due
 * date of the session's own setting, and keeps every activity, extension, goal and note it does
 * not recognise where it found them.
 */
import { randomUUID } from 'node:crypto';
import type {
  Bundle,
  BundleEntry,
  BundleEntryRequest,
  CarePlan,
  CarePlanActivity,
  Extension,
  Goal,
  Identifier,
  OperationOutcome,
  OperationOutcomeIssue,
  QuestionnaireResponse,
} from '@medplum/fhirtypes';
import {
  type DialogItemConcept,
  type Episode,
  instantOf,
  isDateTimeWithOffset,
  meanScore,
  nextDue,
  type TimepointRating,
} from '../dialog';
import { error, issue, outcome } from '../validation/outcome';
import { BASE, CARE_PLAN_IDENTIFIER_SYSTEM, CodeSystems, Extensions, Profiles } from './canonical';
import type { DialogSession, PreviousActionStatus } from './dialog-session';
import { inEpisode, MEAN_PARTS, ratingsOf, type RatedResponse } from './dialog-observations';
import { buildGoal, goalIdentifier } from './goal-builder';
import { extractedAs, RATED_STATUSES, readHistory } from './history';
import { extractedIdentifier, type PlainReference } from './item-observations';
import {
  hasCoding,
  replaceExtensions,
  sameTarget,
  withParties,
  withReferences,
} from './plan-merge';
import { packageCoding, previousActionPaths, responseToSession } from './response-session';
import {
  conditionalPut,
  conditionalUrl,
  derivedIdentifier,
  DIALOG_NAMESPACE,
  fullUrlOf,
  responseKey,
  responseReference,
  sameResource,
  uuidV5,
} from './stable-id';

export interface CarePlanInput {
  /** The session: a completed (or amended) DIALOG response with an id or identifier. */
  readonly response: QuestionnaireResponse;
  /** The person's plan as it is now, from whichever system wrote it last; none for a first plan. */
  readonly existing?: CarePlan;
  /** Goals already stored; a Goal found here is linked, never rewritten. */
  readonly existingGoals?: readonly Goal[];
  /** The person's earlier DIALOG responses (for the review due, and goals on unscored items). */
  readonly history?: readonly QuestionnaireResponse[];
  /** The episode the session belongs to; with it, the next review due is set. */
  readonly episode?: Episode;
  /**
   * Makes the business identifier of a new plan (a UUID, made once and kept for good). A plan that
   * exists without one gets one derived from what already identifies it (see planIdentifier).
   */
  readonly newPlanIdentifier?: () => string;
  /** Resolves who will do an action ("Sam Whitfield") to references; otherwise kept as text. */
  readonly performers?: (who: string) => readonly PlainReference[] | undefined;
  /** Goals in the person's own words, where recorded outside the response. */
  readonly goalDescriptions?: Partial<Record<DialogItemConcept, string>>;
}

export type CarePlanResult =
  | {
      readonly ok: true;
      readonly carePlan: CarePlan;
      /** The Goals this session set (those not already stored). */
      readonly goals: readonly Goal[];
      /**
       * Transaction entries: each new Goal created once, then the plan: an existing plan updated by
       * its id (`PUT CarePlan/<id>`, If-Match its version), a new one created by its identifier.
       */
      readonly entries: readonly BundleEntry[];
      /** E.g. a reviewed action the plan does not hold. */
      readonly issues: readonly OperationOutcomeIssue[];
    }
  | { readonly ok: false; readonly outcome: OperationOutcome };

const AGREED_ACTION = packageCoding(CodeSystems.planSections, 'agreed-action');
const PLAN_CATEGORY = packageCoding(CodeSystems.dialog, 'dialog-care-plan');
/** Names the ids of the activities a session adds (not a business identifier system). */
const ACTIVITY_SYSTEM = `${BASE}/sid/plan-activity`;

type ActivityStatus = NonNullable<CarePlanActivity['detail']>['status'];

/** What a review answer says about an action; undefined: leave the status as it is. */
function reviewedStatus(
  review: PreviousActionStatus,
  current: ActivityStatus | undefined,
): ActivityStatus | undefined {
  if (review === 'done') return 'completed';
  if (review === 'partly done') return 'in-progress';
  // "Not done": back to not started, unless someone has scheduled or paused it meanwhile.
  return current === 'completed' || current === 'in-progress' ? 'not-started' : undefined;
}

interface Session extends RatedResponse {
  readonly response: QuestionnaireResponse;
}

function refuse(
  message: string,
  expression: string,
  code: 'business-rule' | 'required' | 'invalid' = 'business-rule',
): CarePlanResult {
  return { ok: false, outcome: outcome([error(code, message, expression)]) };
}

function readSession(response: QuestionnaireResponse): Session | CarePlanResult {
  if (!RATED_STATUSES.has(response.status))
    return refuse('Only a completed session updates the plan', 'QuestionnaireResponse.status');
  const key = responseKey(response);
  if (!key)
    return refuse(
      'The response needs an id or an identifier',
      'QuestionnaireResponse.id',
      'required',
    );
  const read = responseToSession(response);
  if (!read.ok)
    return {
      ok: false,
      outcome: outcome(read.faults.map((f) => error('invalid', f.message, f.expression))),
    };
  if (!isDateTimeWithOffset(response.authored))
    return refuse(
      'authored must be a dateTime with time and offset',
      'QuestionnaireResponse.authored',
      'invalid',
    );
  return { key, session: read.session, response };
}

function subjectOf(session: DialogSession): PlainReference {
  return {
    reference: session.subject,
    ...(session.subjectDisplay ? { display: session.subjectDisplay } : {}),
  };
}

/** A first plan; withIdentity gives it its business identifier. */
function newPlan(current: Session): CarePlan {
  const { session } = current;
  return {
    resourceType: 'CarePlan',
    meta: { profile: [Profiles.carePlan] },
    status: 'active',
    intent: 'plan',
    category: [{ coding: [PLAN_CATEGORY] }],
    subject: subjectOf(session),
    created: session.authored,
    ...(session.author ? { author: { ...session.author } } : {}),
  };
}

function ownIdentifier(plan: CarePlan | undefined): Identifier | undefined {
  return plan?.identifier?.find((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM && i.value);
}

/** A business identifier another system gave the plan (system and value), if any. */
function foreignIdentifier(plan: CarePlan): Identifier | undefined {
  return plan.identifier?.find(
    (i) => i.system !== CARE_PLAN_IDENTIFIER_SYSTEM && i.system && i.value,
  );
}

/**
 * The value of the plan's dialog-fhir business identifier. The plan keeps one for good, in every
 * system it moves to: one it has is kept; a new plan gets a new UUID; a plan another system made
 * gets one derived (v5 UUID) from what already identifies it, its own business identifier, else its
 * id, so building again from the same plan, here or in another system holding it under that
 * identifier, adds the same value rather than a second one.
 */
function planIdentifier(existing: CarePlan | undefined, input: CarePlanInput): string {
  const own = ownIdentifier(existing)?.value;
  if (own) return own;
  const foreign = existing && foreignIdentifier(existing);
  const name = foreign
    ? `${foreign.system ?? ''}|${foreign.value ?? ''}`
    : existing?.id
      ? `CarePlan/${existing.id}`
      : undefined;
  return name
    ? uuidV5(`${CARE_PLAN_IDENTIFIER_SYSTEM}|${name}`, DIALOG_NAMESPACE)
    : (input.newPlanIdentifier ?? randomUUID)();
}

/** The plan's own markers (profile, business identifier, category), added where missing. */
function withIdentity(plan: CarePlan, input: CarePlanInput): CarePlan {
  const profiles = plan.meta?.profile ?? [];
  const identifiers = plan.identifier ?? [];
  const categories = plan.category ?? [];
  return {
    ...plan,
    meta: {
      ...plan.meta,
      profile: profiles.includes(Profiles.carePlan) ? profiles : [...profiles, Profiles.carePlan],
    },
    identifier: ownIdentifier(plan)
      ? identifiers
      : [
          ...identifiers,
          { system: CARE_PLAN_IDENTIFIER_SYSTEM, value: planIdentifier(input.existing, input) },
        ],
    category: categories.some((c) => hasCoding(c, PLAN_CATEGORY))
      ? categories
      : [...categories, { coding: [PLAN_CATEGORY] }],
  };
}

// ---- goals ----------------------------------------------------------------------------------

interface SessionGoal {
  readonly concept: DialogItemConcept;
  readonly reference: PlainReference;
  /** Set when the Goal is new and must be written. */
  readonly goal?: Goal;
}

/**
 * The item's score Observation: this session's (in the same transaction), else the one its reused
 * rating was extracted as, else the person's latest earlier one (both already stored).
 */
function scoreObservation(
  concept: DialogItemConcept,
  current: Session,
  earlier: readonly Session[],
): PlainReference | undefined {
  const part = `${concept}.score`;
  if (current.session.scores[concept] !== undefined) {
    const identifier = extractedIdentifier(current.extractedAs ?? current.key, part);
    return current.session.reusedFrom
      ? { type: 'Observation', identifier }
      : { reference: fullUrlOf(identifier), identifier };
  }
  const latest = [...earlier]
    .filter((s) => s.session.scores[concept] !== undefined)
    .sort((a, b) => instantOf(b.session.authored) - instantOf(a.session.authored))[0];
  return latest
    ? {
        type: 'Observation',
        identifier: extractedIdentifier(latest.extractedAs ?? latest.key, part),
      }
    : undefined;
}

function sessionGoals(
  current: Session,
  earlier: readonly Session[],
  input: CarePlanInput,
  issues: OperationOutcomeIssue[],
): SessionGoal[] {
  const { session } = current;
  return session.discussed.flatMap((discussed, i) => {
    const identifier = goalIdentifier(current.key, discussed.concept);
    const stored = input.existingGoals?.find((g) =>
      (g.identifier ?? []).some((id) => sameTarget({ identifier: id }, { identifier })),
    );
    if (stored)
      return [
        {
          concept: discussed.concept,
          reference: stored.id
            ? { reference: `Goal/${stored.id}`, identifier }
            : { type: 'Goal', identifier },
        },
      ];
    const addresses = scoreObservation(discussed.concept, current, earlier);
    if (!addresses) {
      issues.push(
        issue(
          'warning',
          'incomplete',
          'A discussed item has no score to address: no Goal is set for it, its actions are added without one',
          `QuestionnaireResponse.item.where(linkId = 'discussion').item.where(linkId = 'discussed-item')[${i}]`,
        ),
      );
      return [];
    }
    const description = input.goalDescriptions?.[discussed.concept];
    const goal = buildGoal(discussed, {
      responseKey: current.key,
      subject: subjectOf(session),
      startDate: session.authored.slice(0, 10),
      addresses,
      ...(description ? { description } : {}),
    });
    return [
      {
        concept: discussed.concept,
        reference: { reference: fullUrlOf(identifier), identifier },
        goal,
      },
    ];
  });
}

// ---- activities -----------------------------------------------------------------------------

function isAgreedAction(activity: CarePlanActivity): boolean {
  return hasCoding(activity.detail?.code, AGREED_ACTION);
}

function newActivity(
  id: string,
  what: string,
  who: string | undefined,
  byWhen: string | undefined,
  goal: PlainReference | undefined,
  input: CarePlanInput,
): CarePlanActivity {
  const performer = who === undefined ? [] : [...(input.performers?.(who) ?? [{ display: who }])];
  return {
    id,
    detail: {
      code: { coding: [AGREED_ACTION] },
      ...(goal ? { goal: [{ ...goal }] } : {}),
      status: 'not-started',
      ...(byWhen ? { scheduledPeriod: { end: byWhen } } : {}),
      ...(performer.length > 0 ? { performer } : {}),
      description: what,
    },
  };
}

/** The same agreed action: our id, or the same description under the same goal. */
function sameAction(
  activity: CarePlanActivity,
  id: string,
  what: string,
  goal: PlainReference | undefined,
): boolean {
  if (activity.id === id) return true;
  if (!isAgreedAction(activity) || activity.detail?.description !== what || !goal) return false;
  return (activity.detail.goal ?? []).some((g) => sameTarget(g, goal));
}

function withActions(
  activities: CarePlanActivity[],
  current: Session,
  goals: readonly SessionGoal[],
  input: CarePlanInput,
): CarePlanActivity[] {
  const out = [...activities];
  for (const discussed of current.session.discussed) {
    const goal = goals.find((g) => g.concept === discussed.concept)?.reference;
    discussed.actions.forEach((action, index) => {
      // The index keeps two identical actions under one item apart.
      const key = `${discussed.concept}#${index}#${action.what}`;
      const id = `action-${derivedIdentifier(ACTIVITY_SYSTEM, current.key, key).value}`;
      if (!out.some((a) => sameAction(a, id, action.what, goal)))
        out.push(newActivity(id, action.what, action.who, action.byWhen, goal, input));
    });
  }
  return out;
}

/** Applies the review of last time's actions to the activities the plan already held. */
function withReview(
  activities: CarePlanActivity[],
  held: number,
  current: Session,
  issues: OperationOutcomeIssue[],
): CarePlanActivity[] {
  const out = [...activities];
  // Aligned with session.previousActions, with each action's real place in the response.
  const paths = previousActionPaths(current.response);
  current.session.previousActions.forEach((reviewed, i) => {
    if (!reviewed.status) return;
    // The latest matching action the plan held before this session.
    let at = -1;
    for (let j = 0; j < held; j++) {
      const activity = out[j];
      if (activity && isAgreedAction(activity) && activity.detail?.description === reviewed.what)
        at = j;
    }
    const activity = out[at];
    if (!activity?.detail) {
      issues.push(
        issue(
          'warning',
          'not-found',
          'A reviewed action is not in the plan: its status was not recorded there',
          paths[i] ?? 'QuestionnaireResponse.item',
        ),
      );
      return;
    }
    const status = reviewedStatus(reviewed.status, activity.detail.status);
    if (status && status !== activity.detail.status)
      out[at] = { ...activity, detail: { ...activity.detail, status } };
  });
  return out;
}

// ---- review due -----------------------------------------------------------------------------

function settingOf(extension: Extension): string | undefined {
  return extension.extension?.find((e) => e.url === 'setting')?.valueCoding?.code;
}

/**
 * The ratings of the episode so far, by the rule paired change uses (dialog-observations.ts
 * inEpisode): its setting, from its start, or reused as its start rating shortly before it.
 */
function episodeTimepoints(episode: Episode, sessions: readonly Session[]): TimepointRating[] {
  return sessions.flatMap(({ key, session }) =>
    inEpisode(session, episode) && session.timepoint
      ? [{ id: key, timepoint: session.timepoint, ratings: ratingsOf(session) }]
      : [],
  );
}

function withReviewDue(
  extensions: readonly Extension[] | undefined,
  episode: Episode,
  sessions: readonly Session[],
  now: string,
): Extension[] | undefined {
  const due = nextDue(episode, episodeTimepoints(episode, sessions), now);
  if (due.status === 'due-at-next-meeting') return extensions ? [...extensions] : undefined;
  const owns = (e: Extension): boolean =>
    e.url === Extensions.reviewDue && settingOf(e) === episode.setting;
  const replacement: Extension[] =
    due.status === 'due'
      ? [
          {
            url: Extensions.reviewDue,
            extension: [
              {
                url: 'timepoint',
                valueCoding: packageCoding(CodeSystems.timepoints, due.timepoint),
              },
              { url: 'due', valueDateTime: due.dueBy },
              { url: 'setting', valueCoding: packageCoding(CodeSystems.settings, episode.setting) },
            ],
          },
        ]
      : []; // the episode's DIALOG is complete: nothing more is due in it
  return replaceExtensions(extensions, owns, replacement);
}

// ---- the plan -------------------------------------------------------------------------------

function supportingInfo(current: Session): PlainReference[] {
  const ratings = ratingsOf(current.session);
  const means = (['sqol', 'ts'] as const).flatMap((measure) => {
    if (!meanScore(ratings, measure) || current.session.reusedFrom) return [];
    const identifier = extractedIdentifier(current.key, MEAN_PARTS[measure]);
    return [{ reference: fullUrlOf(identifier), identifier }];
  });
  return [responseReference(current.response), ...means];
}

/**
 * Where the plan is written. An existing plan is updated where it is, by its id: a conditional
 * update on the identifier just added would match nothing and clash with the id. Without an id
 * (a plan read from a document), by a business identifier it already has. A new plan is created
 * by its new identifier, so building it twice still leaves one.
 */
function planTarget(existing: CarePlan | undefined, own: Identifier): BundleEntryRequest {
  if (existing?.id) return { method: 'PUT', url: `CarePlan/${existing.id}` };
  const held = existing ? (ownIdentifier(existing) ?? foreignIdentifier(existing)) : own;
  return conditionalPut('CarePlan', held ?? own);
}

function planEntries(
  plan: CarePlan,
  goals: readonly Goal[],
  existing: CarePlan | undefined,
): BundleEntry[] {
  const goalEntries: BundleEntry[] = goals.map((goal) => {
    const identifier = goal.identifier?.[0] ?? {};
    // Created once: a Goal someone has since updated is not overwritten by building again.
    return {
      fullUrl: fullUrlOf(identifier),
      resource: goal,
      request: {
        method: 'POST',
        url: 'Goal',
        ifNoneExist: conditionalUrl('Goal', identifier).slice('Goal?'.length),
      },
    };
  });
  const identifier = ownIdentifier(plan) ?? {};
  const version = existing?.meta?.versionId;
  // Another writer may have changed the plan since it was read: then the update fails, not wins.
  const request: BundleEntryRequest = {
    ...planTarget(existing, identifier),
    ...(version ? { ifMatch: `W/"${version}"` } : {}),
  };
  // Another system's plan identifier need not be a UUID, so the fullUrl is derived from it.
  const fullUrl = `urn:uuid:${uuidV5(`${identifier.system ?? ''}|${identifier.value ?? ''}`, DIALOG_NAMESPACE)}`;
  return [...goalEntries, { fullUrl, resource: plan, request }];
}

/**
 * The plan after a session: `existing` (or a new plan) with the session's goals, actions, action
 * review, review due and links merged in. Refuses a session that is not completed, cannot be
 * read, or is about someone other than the plan's subject.
 */
export function buildCarePlan(input: CarePlanInput): CarePlanResult {
  const read = readSession(input.response);
  if (!('session' in read)) return read;
  const { session } = read;
  const current: Session = {
    ...read,
    extractedAs: extractedAs(session, read.key, input.history ?? []),
  };
  if (input.existing && !sameResource(input.existing.subject?.reference, session.subject))
    return refuse("The session is not about the plan's subject", 'CarePlan.subject');
  if (
    input.existing &&
    !input.existing.id &&
    !ownIdentifier(input.existing) &&
    !foreignIdentifier(input.existing)
  )
    return refuse(
      'The existing plan has neither an id nor a business identifier, so it cannot be updated where it is (writing it would make a second plan)',
      'CarePlan.id',
      'required',
    );
  const history = readHistory(input.history ?? [], session.subject, current.key);
  const issues: OperationOutcomeIssue[] = [...history.issues];
  const earlier = history.entries;
  const base = withIdentity(
    input.existing ? structuredClone(input.existing) : newPlan(current),
    input,
  );
  const goals = sessionGoals(current, earlier, input, issues);
  const held = base.activity?.length ?? 0;
  const activities = withReview(
    withActions([...(base.activity ?? [])], current, goals, input),
    held,
    current,
    issues,
  );
  const extension = input.episode
    ? withReviewDue(base.extension, input.episode, [...earlier, current], session.authored)
    : base.extension;
  const goalRefs = withReferences(
    base.goal,
    goals.map((g) => g.reference),
  );
  const contributors = withParties(base.contributor, [
    subjectOf(session),
    ...(session.author ? [session.author] : []),
  ]);
  const plan: CarePlan = {
    ...base,
    ...(extension && extension.length > 0 ? { extension } : {}),
    contributor: contributors,
    supportingInfo: withReferences(base.supportingInfo, supportingInfo(current)),
    ...(goalRefs.length > 0 ? { goal: goalRefs } : {}),
    ...(activities.length > 0 ? { activity: activities } : {}),
  };
  if (extension && extension.length === 0) delete plan.extension;
  const newGoals = goals.flatMap((g) => (g.goal ? [g.goal] : []));
  return {
    ok: true,
    carePlan: plan,
    goals: newGoals,
    entries: planEntries(plan, newGoals, input.existing),
    issues,
  };
}

/**
 * One transaction for a session: the Observations $extract gave, then the plan's Goals and the
 * plan, so the plan's urn:uuid references to this session's Observations resolve.
 */
export function sessionTransaction(
  extracted: Bundle,
  plan: { readonly entries: readonly BundleEntry[] },
): Bundle {
  const entry = [...(extracted.entry ?? []), ...plan.entries];
  return { resourceType: 'Bundle', type: 'transaction', ...(entry.length > 0 ? { entry } : {}) };
}
