/**
 * `$extract` (SDC observation-based extraction): a completed response → a FHIR transaction Bundle
 * of Observations. Generic for any Questionnaire (item-observations.ts); for the DIALOG
 * Questionnaire it also adds the DIALOG profiles, the SQoL and TS means, and — given the
 * person's earlier responses — the paired change per item and per mean within the response's
 * episode of care (dialog-observations.ts).
 *
 * Idempotent: each Observation has a business identifier derived from the response's identity
 * and the linkId or measure it stands for (stable-id.ts), and its entry is a conditional update
 * on that identifier, so extracting the same response again updates instead of adding copies.
 */
import type {
  Bundle,
  BundleEntry,
  Coding,
  Extension,
  Observation,
  OperationOutcome,
  OperationOutcomeIssue,
  Questionnaire,
  QuestionnaireResponse,
} from '@medplum/fhirtypes';
import { isDateTimeWithOffset, itemBySnomed, SNOMED_SYSTEM } from '../dialog';
import { error, issue, outcome } from '../validation/outcome';
import { CodeSystems, DIALOG_QUESTIONNAIRE, Extensions, Profiles } from './canonical';
import { RATED_STATUSES, readHistory } from './history';
import {
  changeObservations,
  episodeRatings,
  meanObservations,
  type RatedResponse,
} from './dialog-observations';
import {
  type ExtractContext,
  type Extracted,
  itemObservations,
  type PlainReference,
} from './item-observations';
import { conformancePackage } from './package-lookup';
import { partyOf, responseToSession } from './response-session';
import { conditionalPut, fullUrlOf, responseKey, responseReference } from './stable-id';

export interface ExtractOptions {
  /** The Questionnaire the response answers; by default the package's, found by canonical. */
  readonly questionnaire?: Questionnaire;
  /**
   * The person's other DIALOG responses, for paired change, in any order. Responses authored
   * after this one are not paired with it (a change belongs to its follow-up rating). Entries are
   * read by history.ts (the same person however the reference is written); each one left out is
   * reported in the result's issues.
   */
  readonly history?: readonly QuestionnaireResponse[];
  /**
   * When the episode of care this response belongs to started (a dateTime with offset): paired
   * change is then within the history of that episode and setting. Without it, the episode starts
   * at the latest episode-start rating in the response's setting (dialog-observations.ts
   * episodeRatings).
   */
  readonly episodeStart?: string;
}

export type ExtractResult =
  | {
      readonly ok: true;
      readonly bundle: Bundle;
      readonly observations: readonly Observation[];
      /** Warnings and information (e.g. a history response that could not be read). */
      readonly issues: readonly OperationOutcomeIssue[];
    }
  | { readonly ok: false; readonly outcome: OperationOutcome };

const CONTEXT_EXTENSIONS = new Set<string>([Extensions.timepoint, Extensions.setting]);

function refuse(...issues: OperationOutcomeIssue[]): ExtractResult {
  return { ok: false, outcome: outcome(issues) };
}

function preconditions(response: QuestionnaireResponse): OperationOutcomeIssue[] {
  const found: OperationOutcomeIssue[] = [];
  if (!RATED_STATUSES.has(response.status))
    found.push(
      error(
        'business-rule',
        `Only completed or amended responses are extracted; this one is ${response.status}`,
        'QuestionnaireResponse.status',
      ),
    );
  if (!responseKey(response))
    found.push(
      error(
        'required',
        'The response needs an id or an identifier, so its Observations can point back to it and extracting it again finds them',
        'QuestionnaireResponse.id',
      ),
    );
  if (!response.subject?.reference)
    found.push(error('required', 'subject is required', 'QuestionnaireResponse.subject'));
  if (!response.authored)
    found.push(error('required', 'authored is required', 'QuestionnaireResponse.authored'));
  return found;
}

function contextOf(response: QuestionnaireResponse, key: string): ExtractContext {
  const performer =
    standalone(partyOf(response.source), response) ??
    standalone(partyOf(response.author), response);
  const contextExtensions: Extension[] = (response.extension ?? [])
    .filter((e) => CONTEXT_EXTENSIONS.has(e.url))
    .map((e) => ({ ...e }));
  return {
    key,
    responseReference: responseReference(response),
    subject: standalone(partyOf(response.subject), response) ?? {},
    effective: response.authored ?? '',
    ...(performer ? { performer } : {}),
    contextExtensions,
  };
}

/**
 * A reference as an Observation of the response can carry it. A reference to a resource
 * contained in the response (`#subject`: the person of a native record not yet matched to a stored
 * Patient) would point at nothing from the Observation, which stands on its own (an NDJSON line),
 * so the person is named by the identifier the response's subject carries beside it (the NHS
 * number, else the record's first identifier): a logical reference a store or an MPI can resolve.
 */
function standalone(
  party: PlainReference | undefined,
  response: QuestionnaireResponse,
): PlainReference | undefined {
  if (!party?.reference?.startsWith('#')) return party;
  const identifier =
    party.reference === response.subject?.reference ? response.subject.identifier : undefined;
  if (!identifier) return party.display ? { display: party.display } : undefined;
  return {
    type: 'Patient',
    identifier: {
      ...(identifier.system ? { system: identifier.system } : {}),
      value: identifier.value ?? '',
    },
    ...(party.display ? { display: party.display } : {}),
  };
}

/**
 * What every Observation extracted from the response shares (its identity, subject, time,
 * performer and context extensions); undefined when the response cannot be extracted at all (no
 * identity, subject or authored, or not completed). Fast writers (src/mapping) use it to fill
 * their templates with exactly what extractObservations would write.
 */
export function extractionContext(response: QuestionnaireResponse): ExtractContext | undefined {
  const key = responseKey(response);
  if (!key || preconditions(response).length > 0) return undefined;
  return contextOf(response, key);
}

/** The DIALOG profile an extracted code calls for: item score or "more help". */
function dialogProfileFor(code: Coding[]): string | undefined {
  if (code.some((c) => c.system === SNOMED_SYSTEM && c.code && itemBySnomed(c.code)))
    return Profiles.itemScore;
  if (code.some((c) => c.system === CodeSystems.dialog && c.code?.startsWith('help-')))
    return Profiles.helpWanted;
  return undefined;
}

function transaction(extracted: readonly Extracted[]): Bundle {
  const entry: BundleEntry[] = extracted.map(({ observation }) => {
    const identifier = observation.identifier?.[0] ?? {};
    return {
      fullUrl: fullUrlOf(identifier),
      resource: observation,
      request: conditionalPut('Observation', identifier),
    };
  });
  return { resourceType: 'Bundle', type: 'transaction', ...(entry.length > 0 ? { entry } : {}) };
}

function success(extracted: readonly Extracted[], issues: OperationOutcomeIssue[]): ExtractResult {
  return {
    ok: true,
    bundle: transaction(extracted),
    observations: extracted.map((e) => e.observation),
    issues,
  };
}

function extractDialog(
  response: QuestionnaireResponse,
  context: ExtractContext,
  items: Extracted[],
  { history = [], episodeStart }: ExtractOptions,
): ExtractResult {
  const read = responseToSession(response);
  if (!read.ok) return refuse(...read.faults.map((f) => error('invalid', f.message, f.expression)));
  if (!isDateTimeWithOffset(response.authored))
    return refuse(
      error(
        'value',
        'A DIALOG rating states its point in time as a dateTime with time and offset',
        'QuestionnaireResponse.authored',
      ),
    );
  if (read.session.reusedFrom)
    // The same rating was extracted from the response it reuses; extracting it again would count
    // one rating twice. The reuse itself is recorded on this response.
    return success(
      [],
      [
        issue(
          'information',
          'informational',
          'This response reuses an earlier rating, whose Observations already stand: nothing is extracted',
          'QuestionnaireResponse.extension',
        ),
      ],
    );
  const earlier = readHistory(history, read.session.subject, context.key);
  const issues = [...earlier.issues];
  const current: RatedResponse = { key: context.key, session: read.session };
  const means = meanObservations(read.session, context);
  const episode = episodeRatings(current, earlier.entries, episodeStart);
  if (!episode.ok)
    issues.push(issue('information', 'informational', episode.reason, 'episodeStart'));
  const changes = episode.ok ? changeObservations(current, episode.ratings, context) : [];
  return success([...items, ...means, ...changes], issues);
}

/**
 * Extracts a completed (or amended) response into a transaction Bundle of Observations. Refuses,
 * with an OperationOutcome, a response still in progress, one without identity, subject or
 * authored, one whose Questionnaire is unknown, and a DIALOG response that cannot be read.
 */
export function extractObservations(
  response: QuestionnaireResponse,
  options: ExtractOptions = {},
): ExtractResult {
  const problems = preconditions(response);
  const key = responseKey(response);
  if (problems.length > 0 || !key) return refuse(...problems);
  const questionnaire =
    options.questionnaire ??
    (response.questionnaire
      ? conformancePackage().questionnaire(response.questionnaire)
      : undefined);
  if (!questionnaire)
    return refuse(
      error(
        'not-found',
        'The Questionnaire this response answers is not known here',
        'QuestionnaireResponse.questionnaire',
      ),
    );
  const context = contextOf(response, key);
  const isDialog = questionnaire.url === DIALOG_QUESTIONNAIRE;
  const items = itemObservations(
    response.item,
    questionnaire,
    context,
    isDialog ? dialogProfileFor : undefined,
  );
  if (!isDialog) return success(items, []);
  if (options.episodeStart !== undefined && !isDateTimeWithOffset(options.episodeStart))
    return refuse(
      error('value', 'The episode start is a dateTime with time and offset', 'episodeStart'),
    );
  return extractDialog(response, context, items, options);
}
