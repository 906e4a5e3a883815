/**
 * The Observations DIALOG derives beyond the answers themselves: the SQoL and TS means of a
 * rating (marked incomplete when more than one of the 11 items is missing), and the paired change
 * per item and per mean within the rating's episode of care (the episode's first valid score vs
 * this one; see episodeRatings for what the episode is). The arithmetic is src/dialog's; this
 * module only writes it as FHIR.
 */
import type {
  Coding,
  Extension,
  Observation,
  ObservationComponent,
  Quantity,
} from '@medplum/fhirtypes';
import {
  type CareSetting,
  type ChangeCategory,
  type DialogItemConcept,
  type DialogRatings,
  type MeanMeasure,
  type MeanScore,
  instantOf,
  REUSE_WINDOW_MS,
  meanScore,
  missingConcepts,
  pairedChange,
  roundForDisplay,
} from '../dialog';
import { CodeSystems, Extensions, Profiles } from './canonical';
import type { DialogSession } from './dialog-session';
import {
  type ExtractContext,
  type Extracted,
  type PlainReference,
  SURVEY_CATEGORY,
  extractedIdentifier,
  surveyObservation,
} from './item-observations';
import { itemCoding, packageCoding } from './response-session';
import { fullUrlOf } from './stable-id';

const UCUM = 'http://unitsofmeasure.org';

/** The linkId (part) each mean is extracted as, and its code in the dialog CodeSystem. */
export const MEAN_PARTS: Readonly<Record<MeanMeasure, string>> = {
  sqol: 'sqol-mean',
  ts: 'ts-mean',
};

/** A DIALOG response already read, with its identity (stable-id.ts responseKey). */
export interface RatedResponse {
  readonly key: string;
  readonly session: DialogSession;
  /**
   * The identity whose extracted Observations hold its scores, when not its own: for a rating
   * that reuses another, the reused rating's (nothing is extracted from the reuse itself).
   */
  readonly extractedAs?: string;
}

export function ratingsOf(session: DialogSession): DialogRatings {
  return { scores: session.scores, helpWanted: session.helpWanted, ratedAt: session.authored };
}

function score(value: number): Quantity {
  return { value, unit: 'score', system: UCUM, code: '{score}' };
}

function component(code: string, value: Partial<ObservationComponent>): ObservationComponent {
  return { code: { coding: [packageCoding(CodeSystems.dialog, code)] }, ...value };
}

function incompleteNote(missing: number): string {
  return `${missing} of the 11 items were not rated, so this mean may be substantially affected: read it as incomplete.`;
}

function meanObservation(context: ExtractContext, mean: MeanScore, missing: number): Extracted {
  const part = MEAN_PARTS[mean.measure];
  const base = surveyObservation(context, part, {
    profile: Profiles.meanScore,
    extension: [
      { url: Extensions.meanComplete, valueBoolean: mean.complete },
      ...context.contextExtensions,
    ],
    code: [packageCoding(CodeSystems.dialog, part)],
  });
  const observation: Observation = {
    ...base,
    valueQuantity: score(roundForDisplay(mean.value)),
    derivedFrom: [{ ...context.responseReference }],
    component: [component('items-used', { valueInteger: mean.itemsUsed.length })],
    ...(mean.complete ? {} : { note: [{ text: incompleteNote(missing) }] }),
  };
  return { part, observation };
}

/** The SQoL and TS mean Observations of a rating (a mean with no scores in its group is left out). */
export function meanObservations(session: DialogSession, context: ExtractContext): Extracted[] {
  const ratings = ratingsOf(session);
  const missing = missingConcepts(ratings).length;
  return (['sqol', 'ts'] as const).flatMap((measure) => {
    const mean = meanScore(ratings, measure);
    return mean ? [meanObservation(context, mean, missing)] : [];
  });
}

// ---- paired change ------------------------------------------------------------------------

/** One side of a pair: its value, when, and the Observation it was extracted as. */
interface Side {
  readonly value: number;
  readonly ratedAt: string;
  readonly source: PlainReference;
}

interface Pair {
  readonly part: string;
  readonly measure: Coding;
  readonly baseline: Side;
  readonly followUp: Side;
  readonly category: ChangeCategory;
  /** For means only: false when either mean is incomplete. */
  readonly complete?: boolean;
}

function changeObservation(context: ExtractContext, pair: Pair): Extracted {
  const part = `${pair.part}.change`;
  const change = roundForDisplay(pair.followUp.value - pair.baseline.value);
  const extension: Extension[] = [{ url: Extensions.measure, valueCoding: pair.measure }];
  if (pair.complete !== undefined)
    extension.push({ url: Extensions.meanComplete, valueBoolean: pair.complete });
  const observation: Observation = {
    resourceType: 'Observation',
    meta: { profile: [Profiles.pairedChange] },
    extension,
    identifier: [extractedIdentifier(context.key, part)],
    status: 'final',
    category: [SURVEY_CATEGORY],
    code: { coding: [packageCoding(CodeSystems.dialog, 'paired-change')] },
    subject: { ...context.subject },
    effectivePeriod: { start: pair.baseline.ratedAt, end: pair.followUp.ratedAt },
    valueQuantity: score(change),
    interpretation: [{ coding: [packageCoding(CodeSystems.change, pair.category)] }],
    derivedFrom: [pair.baseline.source, pair.followUp.source],
    component: [
      component('baseline-score', { valueQuantity: score(pair.baseline.value) }),
      component('follow-up-score', { valueQuantity: score(pair.followUp.value) }),
    ],
  };
  return { part, observation };
}

/**
 * The Observation a part of a response was extracted as. This response's own is in the same
 * transaction (its urn:uuid); an earlier one is named by its stable identifier, a logical
 * reference that holds whether or not that Observation is in this server yet. Both carry the
 * identifier, so readers can match them whatever the server made of the reference.
 */
function sourceOf(response: RatedResponse, current: RatedResponse, part: string): PlainReference {
  const identifier = extractedIdentifier(response.extractedAs ?? response.key, part);
  return response === current
    ? { reference: fullUrlOf(identifier), identifier }
    : { type: 'Observation', identifier };
}

/**
 * The response that gave a value at an instant. Several may state one instant (a rating built
 * over sittings, or reused): the current one wins, then the first by identity, so the choice
 * does not depend on input order.
 */
function responseAt(
  ratedAt: string,
  responses: readonly RatedResponse[],
  current: RatedResponse,
  has: (s: DialogSession) => boolean,
): RatedResponse | undefined {
  const instant = instantOf(ratedAt);
  const candidates = responses
    .filter((r) => instantOf(r.session.authored) === instant && has(r.session))
    .sort((a, b) => (a === current ? -1 : b === current ? 1 : a.key.localeCompare(b.key)));
  return candidates[0];
}

function side(
  value: number,
  ratedAt: string,
  responses: readonly RatedResponse[],
  current: RatedResponse,
  part: string,
  has: (s: DialogSession) => boolean,
): Side | undefined {
  const response = responseAt(ratedAt, responses, current, has);
  return response
    ? { value, ratedAt: response.session.authored, source: sourceOf(response, current, part) }
    : undefined;
}

function itemPairs(responses: readonly RatedResponse[], current: RatedResponse): Pair[] {
  const changes = pairedChange(responses.map((r) => ratingsOf(r.session)));
  const now = instantOf(current.session.authored);
  return changes.items.flatMap((c) => {
    const concept: DialogItemConcept = c.concept;
    // Only this response's own changes: the follow-up is this rating, and it scored the item.
    if (instantOf(c.followUp.ratedAt) !== now || current.session.scores[concept] === undefined)
      return [];
    const part = `${concept}.score`;
    const has = (s: DialogSession): boolean => s.scores[concept] !== undefined;
    const baseline = side(c.baseline.score, c.baseline.ratedAt, responses, current, part, has);
    const followUp = side(c.followUp.score, c.followUp.ratedAt, responses, current, part, has);
    if (!baseline || !followUp) return [];
    return [
      { part: concept, measure: itemCoding(concept), baseline, followUp, category: c.category },
    ];
  });
}

function meanPairs(responses: readonly RatedResponse[], current: RatedResponse): Pair[] {
  const changes = pairedChange(responses.map((r) => ratingsOf(r.session)));
  const now = instantOf(current.session.authored);
  return (['sqol', 'ts'] as const).flatMap((measure) => {
    const c = changes[measure];
    const has = (s: DialogSession): boolean => meanScore(ratingsOf(s), measure) !== undefined;
    if (!c || instantOf(c.followUp.ratedAt) !== now || !has(current.session)) return [];
    const part = MEAN_PARTS[measure];
    const baseline = side(
      roundForDisplay(c.baseline.mean.value),
      c.baseline.ratedAt,
      responses,
      current,
      part,
      has,
    );
    const followUp = side(
      roundForDisplay(c.followUp.mean.value),
      c.followUp.ratedAt,
      responses,
      current,
      part,
      has,
    );
    if (!baseline || !followUp) return [];
    const coding = packageCoding(CodeSystems.dialog, part);
    return [
      { part, measure: coding, baseline, followUp, category: c.category, complete: c.complete },
    ];
  });
}

// ---- the episode a rating is paired within ---------------------------------------------------

/** An episode of care as far as pairing needs it: when it started, and in which setting. */
export interface EpisodeBounds {
  readonly start: string;
  /** Ratings that state another setting belong to another service; none: any setting. */
  readonly setting?: CareSetting;
}

/**
 * A rating belongs to an episode when it states the episode's setting (when the episode has one)
 * and was made from the episode's start on, or, reused as the episode's start rating, stands for a
 * time up to the reuse window (src/dialog reuse: 14 days) before it: a reused discharge rating
 * keeps its own point in time, which may precede the new service's start.
 */
export function inEpisode(session: DialogSession, episode: EpisodeBounds): boolean {
  if (episode.setting !== undefined && session.setting !== episode.setting) return false;
  const at = instantOf(session.authored);
  const start = instantOf(episode.start);
  if (at >= start) return true;
  return (
    session.reusedFrom !== undefined &&
    session.timepoint === 'episode-start' &&
    at >= start - REUSE_WINDOW_MS
  );
}

export type EpisodeResult =
  | { readonly ok: true; readonly ratings: readonly RatedResponse[] }
  | { readonly ok: false; readonly reason: string };

/**
 * The person's ratings that the current one is paired with: those of its episode of care, made no
 * later than it (a change belongs to its follow-up rating).
 *
 * NHS England's PROMs rule pairs ratings within an episode (admission→discharge, admission→review,
 * review→discharge), not across a discharge and a later admission, nor with another service's
 * ratings, except through a rating reused between services, which is recorded as such. So:
 * - with `episodeStart` (from the caller, who knows the episode), the ratings in that episode:
 *   inEpisode with the current rating's setting (any setting when it states none);
 * - without it, the episode starts at the latest episode-start rating in the current rating's
 *   setting (the current one included, which then has nothing earlier to pair with). A rating
 *   reused as that start (a discharge rating of one service serving as the admission rating of the
 *   next) is the baseline, paired through the Observations of the rating it reuses. When the
 *   current rating states no setting, when there is no such start rating, or when an episode-end
 *   rating in that setting comes after it (that episode is over), the episode cannot be told:
 *   nothing is paired, and the reason says so.
 */
export function episodeRatings(
  current: RatedResponse,
  history: readonly RatedResponse[],
  episodeStart?: string,
): EpisodeResult {
  const now = instantOf(current.session.authored);
  const setting = current.session.setting;
  const sofar = [
    ...history.filter((h) => h.key !== current.key && instantOf(h.session.authored) <= now),
    current,
  ];
  if (episodeStart !== undefined) {
    const bounds = { start: episodeStart, ...(setting ? { setting } : {}) };
    return {
      ok: true,
      ratings: sofar.filter((r) => r === current || inEpisode(r.session, bounds)),
    };
  }
  if (setting === undefined)
    return {
      ok: false,
      reason:
        'No paired change: the rating states no care setting, so its episode cannot be told; give the episode start to pair it',
    };
  const same = sofar.filter((r) => r.session.setting === setting);
  const starts = same.filter((r) => r.session.timepoint === 'episode-start');
  const start = Math.max(...starts.map((r) => instantOf(r.session.authored)));
  const ended = same.some(
    (r) =>
      r.session.timepoint === 'episode-end' &&
      instantOf(r.session.authored) > start &&
      instantOf(r.session.authored) < now,
  );
  if (starts.length === 0 || ended)
    return {
      ok: false,
      reason: `No paired change: no episode-start rating in the ${setting} setting begins the episode this rating belongs to; give the episode start to pair it`,
    };
  return { ok: true, ratings: same.filter((r) => instantOf(r.session.authored) >= start) };
}

/**
 * Paired change Observations for the current rating: per item (in SNOMED order) then per mean,
 * each pairing the first valid score in `history` with this one. `history` holds the ratings to
 * pair within (episodeRatings: those of the current rating's episode); those after the current
 * one are ignored (a change belongs to its follow-up).
 */
export function changeObservations(
  current: RatedResponse,
  history: readonly RatedResponse[],
  context: ExtractContext,
): Extracted[] {
  const now = instantOf(current.session.authored);
  const earlier = history.filter(
    (h) => h.key !== current.key && instantOf(h.session.authored) <= now,
  );
  const responses = [...earlier, current];
  return [...itemPairs(responses, current), ...meanPairs(responses, current)].map((pair) =>
    changeObservation(context, pair),
  );
}
