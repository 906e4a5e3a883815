/**
 * `narrativeOf` and `withNarrative`: the generated `text` of every resource the service writes
 * about DIALOG+ — the DIALOG QuestionnaireResponse, its score, help, mean and paired-change
 * Observations, the Goals and the one CarePlan. Other resources (and Observations of other kinds)
 * get none and are left as they are.
 */
import type { Observation, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import type { DialogRatings } from '../dialog';
import { DIALOG_QUESTIONNAIRE } from '../fhir/canonical';
import type { DialogSession } from '../fhir/dialog-session';
import { responseToSession } from '../fhir/response-session';
import { carePlanContent } from './care-plan';
import { goalContent } from './goal';
import { observationContent } from './observation';
import { genericResponseContent, ratingsOfSession, sessionContent } from './questionnaire-response';
import { narrativeDiv, type Child } from './xhtml';

/** A DIALOG rating as the caller has it: the response, or the session already read from one. */
export type RatingSource = QuestionnaireResponse | DialogSession;

export interface NarrativeContext {
  /**
   * Looks up a resource the described one refers to (`Practitioner/…`, `Organization/…`,
   * `Goal/…`, `RelatedPerson/…`, `Consent/…`), e.g. from the transaction being written. Must not
   * do I/O; undefined when the resource is not at hand (the reference's display is used then).
   */
  readonly resolve?: (reference: string) => Resource | undefined;
  /** For a CarePlan: the person's latest DIALOG rating (ratings, help wanted, chosen areas). */
  readonly latest?: RatingSource;
  /**
   * The rating before the latest (for a CarePlan) or before this response (for a
   * QuestionnaireResponse): the narrative then says what changed since last time.
   */
  readonly previous?: RatingSource;
  /** For a CarePlan: the paired-change Observations of the current episode of care. */
  readonly changes?: readonly Observation[];
}

/** What `narrativeOf` gives: the FHIR Narrative to set as `text`. */
export interface GeneratedNarrative {
  readonly status: 'generated';
  /** `<div xmlns="http://www.w3.org/1999/xhtml">…</div>`, well-formed, escaped. */
  readonly div: string;
}

function sessionOf(source: RatingSource | undefined): DialogSession | undefined {
  if (!source) return undefined;
  if ('resourceType' in source) {
    const read = responseToSession(source);
    return read.ok ? read.session : undefined;
  }
  return source;
}

function ratingsOf(source: RatingSource | undefined): DialogRatings | undefined {
  const session = sessionOf(source);
  return session && Object.keys(session.scores).length > 0 ? ratingsOfSession(session) : undefined;
}

function responseContent(response: QuestionnaireResponse, context: NarrativeContext): Child[] {
  if (response.questionnaire === DIALOG_QUESTIONNAIRE) {
    const read = responseToSession(response);
    if (read.ok) return sessionContent(read.session, ratingsOf(context.previous));
  }
  return genericResponseContent(response);
}

function contentOf(resource: Resource, context: NarrativeContext): Child[] | undefined {
  switch (resource.resourceType) {
    case 'QuestionnaireResponse':
      return responseContent(resource, context);
    case 'Observation':
      return observationContent(resource);
    case 'Goal':
      return goalContent(resource);
    case 'CarePlan': {
      const latest = sessionOf(context.latest);
      const previous = ratingsOf(context.previous);
      return carePlanContent(resource, {
        ...(context.resolve && { resolve: context.resolve }),
        ...(latest && { latest }),
        ...(previous && { previous }),
        ...(context.changes && { changes: context.changes }),
      });
    }
    default:
      return undefined;
  }
}

/**
 * The generated narrative of a DIALOG+ resource (QuestionnaireResponse, DIALOG Observation, Goal,
 * CarePlan); undefined for resources of other kinds. Pure: the same input gives the same bytes.
 */
export function narrativeOf(
  resource: Resource,
  context: NarrativeContext = {},
): GeneratedNarrative | undefined {
  const content = contentOf(resource, context);
  if (content === undefined) return undefined;
  return { status: 'generated', div: narrativeDiv(content) };
}

/**
 * A copy of the resource with `text` set to its generated narrative, replacing any earlier one; a
 * resource `narrativeOf` does not describe comes back unchanged (the same object).
 */
export function withNarrative<T extends Resource>(resource: T, context: NarrativeContext = {}): T {
  const text = narrativeOf(resource, context);
  if (!text) return resource;
  return { ...resource, text: { status: text.status, div: text.div } };
}
