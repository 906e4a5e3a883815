/**
 * The person's earlier DIALOG responses, read one way for `$extract` (paired change), `$populate`
 * (last time's rating and actions) and the care plan (review due, goals on unscored items).
 *
 * An entry counts when it is about the same person (the same resource, however the reference is
 * written: stable-id.ts sameResource), answers the DIALOG Questionnaire, is completed or amended,
 * can be found again (an id or an identifier), reads without faults, and states its point in time
 * with time and offset. Every entry left out is reported, with its place in the history and why:
 * as information when it simply does not belong (another person, another form, not yet a rating),
 * as a warning when it looks like a rating but cannot be read.
 */
import type { OperationOutcomeIssue, QuestionnaireResponse } from '@medplum/fhirtypes';
import { isDateTimeWithOffset } from '../dialog';
import { issue } from '../validation/outcome';
import { DIALOG_QUESTIONNAIRE } from './canonical';
import type { RatedResponse } from './dialog-observations';
import type { DialogSession } from './dialog-session';
import { responseToSession } from './response-session';
import { responseKey, responseKeyOf, sameResource } from './stable-id';

/** A response that may be read as a rating. */
export const RATED_STATUSES: ReadonlySet<string> = new Set(['completed', 'amended']);

/** One earlier response that counts, read. */
export interface HistoryEntry extends RatedResponse {
  readonly response: QuestionnaireResponse;
  /** Its place in the history given. */
  readonly index: number;
}

export interface ReadHistory {
  /** In the order given. */
  readonly entries: readonly HistoryEntry[];
  /** One per entry left out (the excluded response itself is not reported). */
  readonly issues: readonly OperationOutcomeIssue[];
}

/** Whether a response answers the DIALOG Questionnaire; asked of unvalidated bodies too. */
export function isDialogResponse(response: QuestionnaireResponse): boolean {
  const questionnaire: unknown = response.questionnaire;
  return typeof questionnaire === 'string' && questionnaire.split('|')[0] === DIALOG_QUESTIONNAIRE;
}

/**
 * The identity whose extracted Observations hold a rating's scores: its own, or, for a rating that
 * reuses another (from which nothing is extracted), the reused rating's, found in `history` by
 * reference, else named by the reference itself.
 */
export function extractedAs(
  session: DialogSession,
  key: string,
  history: readonly QuestionnaireResponse[],
): string {
  const source = session.reusedFrom?.source;
  if (!source) return key;
  const found = history.find(
    (r) => r.id !== undefined && sameResource(`QuestionnaireResponse/${r.id}`, source),
  );
  return (found && responseKey(found)) ?? responseKeyOf(source);
}

/** Why an entry does not belong among the person's ratings; undefined when it does. */
function notBelonging(response: QuestionnaireResponse, subject: string): string | undefined {
  const about = response.subject?.reference;
  if (!sameResource(about, subject))
    return `it is about ${about ?? 'no one stated'}, not ${subject}`;
  if (!isDialogResponse(response)) return 'it does not answer the DIALOG Questionnaire';
  if (!RATED_STATUSES.has(response.status))
    return `it is ${response.status}, not a completed rating`;
  return undefined;
}

/**
 * The entries of `history` that count as `subject`'s earlier DIALOG ratings, and what was left out
 * and why. `exclude` is the key of the response being processed, should the history hold it too.
 */
export function readHistory(
  history: readonly QuestionnaireResponse[],
  subject: string,
  exclude?: string,
): ReadHistory {
  const entries: HistoryEntry[] = [];
  const issues: OperationOutcomeIssue[] = [];
  history.forEach((response, index) => {
    const key = responseKey(response);
    if (key !== undefined && key === exclude) return;
    const why = notBelonging(response, subject);
    const read = why === undefined ? responseToSession(response) : undefined;
    if (why !== undefined)
      issues.push(
        issue(
          'information',
          'informational',
          `An earlier response is left out: ${why}`,
          `history[${index}]`,
        ),
      );
    else if (!key || !read?.ok || !isDateTimeWithOffset(response.authored))
      issues.push(
        issue(
          'warning',
          'invalid',
          'An earlier response could not be read (no identity, faults, or no point in time): it is left out',
          `history[${index}]`,
        ),
      );
    else
      entries.push({
        key,
        session: read.session,
        response,
        index,
        extractedAs: extractedAs(read.session, key, history),
      });
  });
  return { entries, issues };
}
