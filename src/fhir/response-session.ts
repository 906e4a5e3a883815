/**
 * DIALOG QuestionnaireResponse ⇄ DialogSession, both ways without loss. Items are found by linkId
 * (which names the concept) and never by position; a response from another system whose item
 * order differs reads the same.
 */
import type {
  Coding,
  Extension,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import {
  CARE_SETTINGS,
  DIALOG_ITEMS,
  type DialogItemConcept,
  type DialogScore,
  isDialogItemConcept,
  isDialogScore,
  isNotRatedReason,
  itemBySnomed,
  SNOMED_SYSTEM,
  TIMEPOINT_KINDS,
  type CareSetting,
  type TimepointKind,
  itemByConcept,
  type MeanMeasure,
  meanScore,
  roundForDisplay,
} from '../dialog';
import { CodeSystems, DIALOG_QUESTIONNAIRE, Extensions, Profiles } from './canonical';
import { codeDisplay, formText } from './package-lookup';
import {
  type DialogAction,
  type DialogSession,
  type DiscussedItem,
  PREVIOUS_ACTION_STATUSES,
  type PreviousAction,
  type PreviousActionStatus,
  type PartyReference,
  type ReusedRating,
} from './dialog-session';

/** The form's calculated mean items, inside the ratings group. */
const MEAN_ITEMS: readonly { linkId: string; measure: MeanMeasure }[] = [
  { linkId: 'sqol-mean', measure: 'sqol' },
  { linkId: 'ts-mean', measure: 'ts' },
];

/** The dialog-scale CodeSystem's codes, as written: one digit, 1 to 7. */
const SCALE_CODE = /^[1-7]$/;

/** Calculated means are written rounded for display (2 dp); this tolerates that rounding. */
const MEAN_TOLERANCE = 0.005;

// ---- session → response -------------------------------------------------------------------

/**
 * The canonical DIALOG response for a session: items in the Questionnaire's order with the
 * Questionnaire's texts, codings with their CodeSystem displays, and only answered items written.
 * responseToSession(sessionToResponse(s)) is s, and a response already in this form comes back
 * unchanged from sessionToResponse(responseToSession(r)).
 */
export function sessionToResponse(session: DialogSession): QuestionnaireResponse {
  const items = defined([
    previousActionsGroup(session.previousActions),
    ratingsGroup(session),
    discussionGroup(session),
    notRatedGroup(session),
  ]);
  const extension = responseExtensions(session);
  return {
    resourceType: 'QuestionnaireResponse',
    ...(session.id ? { id: session.id } : {}),
    meta: { profile: [Profiles.response] },
    ...(extension.length > 0 ? { extension } : {}),
    ...(session.identifier ? { identifier: { ...session.identifier } } : {}),
    questionnaire: DIALOG_QUESTIONNAIRE,
    status: session.status,
    subject: {
      reference: session.subject,
      ...(session.subjectDisplay ? { display: session.subjectDisplay } : {}),
    },
    authored: session.authored,
    ...(session.author ? { author: { ...session.author } } : {}),
    ...(session.source ? { source: { ...session.source } } : {}),
    ...(items.length > 0 ? { item: items } : {}),
  };
}

/** A coding of one of the package's CodeSystems, with the display the CodeSystem gives it. */
export function packageCoding(system: string, code: string): Coding {
  const display = codeDisplay(system, code);
  return { system, code, ...(display ? { display } : {}) };
}

function responseExtensions(session: DialogSession): Extension[] {
  const out: Extension[] = [];
  if (session.timepoint)
    out.push({
      url: Extensions.timepoint,
      valueCoding: packageCoding(CodeSystems.timepoints, session.timepoint),
    });
  if (session.setting)
    out.push({
      url: Extensions.setting,
      valueCoding: packageCoding(CodeSystems.settings, session.setting),
    });
  if (session.reusedFrom) out.push(reusedExtension(session.reusedFrom));
  return out;
}

function reusedExtension(reused: ReusedRating): Extension {
  const parts: Extension[] = [
    { url: 'source', valueReference: { reference: reused.source } },
    {
      url: 'originalTimepoint',
      valueCoding: packageCoding(CodeSystems.timepoints, reused.originalTimepoint),
    },
  ];
  if (reused.originalSetting) {
    parts.push({
      url: 'originalSetting',
      valueCoding: packageCoding(CodeSystems.settings, reused.originalSetting),
    });
  }
  if (reused.reason) parts.push({ url: 'reason', valueString: reused.reason });
  return { url: Extensions.reusedRating, extension: parts };
}

/** An item with the Questionnaire's text for its linkId, keys in the order FHIR JSON shows them. */
function formItem(
  linkId: string,
  content: { item: QuestionnaireResponseItem[] } | { answer: QuestionnaireResponseItemAnswer[] },
): QuestionnaireResponseItem {
  const text = formText(linkId);
  return { linkId, ...(text !== undefined ? { text } : {}), ...content };
}

function group(
  linkId: string,
  item: QuestionnaireResponseItem[],
): QuestionnaireResponseItem | undefined {
  return item.length > 0 ? formItem(linkId, { item }) : undefined;
}

function answered(
  linkId: string,
  answer: QuestionnaireResponseItemAnswer[],
): QuestionnaireResponseItem | undefined {
  return answer.length > 0 ? formItem(linkId, { answer }) : undefined;
}

function text(linkId: string, value: string | undefined): QuestionnaireResponseItem | undefined {
  return value === undefined ? undefined : answered(linkId, [{ valueString: value }]);
}

function defined<T>(values: (T | undefined)[]): T[] {
  return values.filter((v): v is T => v !== undefined);
}

function previousActionsGroup(
  actions: readonly PreviousAction[],
): QuestionnaireResponseItem | undefined {
  return group(
    'previous-actions',
    actions.map((action) =>
      formItem('previous-action', {
        item: defined([
          text('previous-action.what', action.what),
          action.status
            ? answered('previous-action.status', [{ valueString: action.status }])
            : undefined,
        ]),
      }),
    ),
  );
}

function scoreAnswer(score: DialogScore): QuestionnaireResponseItemAnswer {
  return { valueCoding: packageCoding(CodeSystems.scale, String(score)) };
}

function ratingsGroup(session: DialogSession): QuestionnaireResponseItem | undefined {
  // The Questionnaire's order (SNOMED order); only answered items are written.
  const items = DIALOG_ITEMS.map((item) => {
    const score = session.scores[item.concept];
    const help = session.helpWanted[item.concept];
    return group(
      item.concept,
      defined([
        score === undefined ? undefined : answered(`${item.concept}.score`, [scoreAnswer(score)]),
        help === undefined ? undefined : answered(`${item.concept}.help`, [{ valueBoolean: help }]),
      ]),
    );
  });
  return group('ratings', defined([...items, ...calculatedMeanItems(session)]));
}

/**
 * The form's calculated means (its calculatedExpression), as a form filler shows them: rounded
 * to 2 decimals, as the extracted mean Observations are. Absent where a group has no scores.
 */
function calculatedMeanItems(session: DialogSession): (QuestionnaireResponseItem | undefined)[] {
  const ratings = { scores: session.scores, ratedAt: session.authored };
  return MEAN_ITEMS.map(({ linkId, measure }) => {
    const mean = meanScore(ratings, measure);
    return mean ? answered(linkId, [{ valueDecimal: roundForDisplay(mean.value) }]) : undefined;
  });
}

/** The SNOMED coding of a DIALOG item, with the display the package's dialog-items ValueSet gives. */
export function itemCoding(concept: DialogItemConcept): Coding {
  const item = itemByConcept(concept);
  if (!item) return { system: SNOMED_SYSTEM, code: concept };
  const display = codeDisplay(SNOMED_SYSTEM, item.snomed) ?? item.snomedDisplay;
  return { system: SNOMED_SYSTEM, code: item.snomed, display };
}

function discussionGroup(session: DialogSession): QuestionnaireResponseItem | undefined {
  return group(
    'discussion',
    defined([
      answered(
        'chosen-items',
        session.chosen.map((c) => ({ valueCoding: itemCoding(c) })),
      ),
      ...session.discussed.map(discussedItem),
    ]),
  );
}

function discussedItem(discussed: DiscussedItem): QuestionnaireResponseItem {
  return formItem('discussed-item', {
    item: defined([
      answered('discussed-item.concept', [{ valueCoding: itemCoding(discussed.concept) }]),
      text('discussed-item.understanding', discussed.understanding),
      text('discussed-item.looking-forward', discussed.lookingForward),
      text('discussed-item.exploring-options', discussed.exploringOptions),
      ...discussed.actions.map(actionItem),
    ]),
  });
}

function actionItem(action: DialogAction): QuestionnaireResponseItem {
  return formItem('discussed-item.action', {
    item: defined([
      text('discussed-item.action.what', action.what),
      text('discussed-item.action.who', action.who),
      action.byWhen
        ? answered('discussed-item.action.by-when', [{ valueDate: action.byWhen }])
        : undefined,
    ]),
  });
}

function notRatedGroup(session: DialogSession): QuestionnaireResponseItem | undefined {
  const notRated = session.notRated;
  if (!notRated) return undefined;
  return group(
    'not-rated',
    defined([
      answered('not-rated.reason', [
        { valueCoding: packageCoding(CodeSystems.notRated, notRated.reason) },
      ]),
      text('not-rated.note', notRated.note),
    ]),
  );
}

// ---- response → session -------------------------------------------------------------------

/** A fault found while reading a response, with the FHIRPath of the element at fault. */
export interface ReadFault {
  readonly message: string;
  readonly expression: string;
}

export type ReadResult =
  | { readonly ok: true; readonly session: DialogSession }
  | { readonly ok: false; readonly faults: readonly ReadFault[] };

interface Located {
  readonly item: QuestionnaireResponseItem;
  readonly path: string;
}

function children(
  parent: Located | { item: { item?: QuestionnaireResponseItem[] }; path: string },
  linkId: string,
): Located[] {
  return (parent.item.item ?? [])
    .map((item, i) => ({ item, path: `${parent.path}.item[${i}]` }))
    .filter((c) => c.item.linkId === linkId);
}

function firstAnswer(located: Located | undefined): QuestionnaireResponseItemAnswer | undefined {
  return located?.item.answer?.[0];
}

/**
 * Answers given only through a primitive's extensions (`"_valueString": {"extension": […]}`, no
 * `valueString`). R4 allows them and the validator accepts them (a data-absent-reason, say), but
 * the session is read from the values: such an answer would be dropped without a word — an
 * agreed action missing from the plan, a help answer missing from the Observations. Refused
 * instead, naming the value.
 */
function valuesOnlyByExtension(
  items: readonly QuestionnaireResponseItem[],
  path: string,
): ReadFault[] {
  return items.flatMap((item, i) => {
    const at = `${path}.item[${i}]`;
    const answers = item.answer ?? [];
    const own = answers.flatMap((answer, a) =>
      Object.keys(answer)
        .filter((key) => key.startsWith('_value') && !(key.slice(1) in answer))
        .map((key) => ({
          message:
            'This answer holds only extensions, no value: the session is read from its values, so give the value',
          expression: `${at}.answer[${a}].value.ofType(${key.charAt(6).toLowerCase()}${key.slice(7)})`,
        })),
    );
    const nested = answers.flatMap((answer, a) =>
      valuesOnlyByExtension(answer.item ?? [], `${at}.answer[${a}]`),
    );
    return [...own, ...nested, ...valuesOnlyByExtension(item.item ?? [], at)];
  });
}

export function responseToSession(response: QuestionnaireResponse): ReadResult {
  const faults: ReadFault[] = valuesOnlyByExtension(response.item ?? [], 'QuestionnaireResponse');
  const root = { item: response, path: 'QuestionnaireResponse' };
  if (!response.subject?.reference)
    faults.push({ message: 'subject is required', expression: 'QuestionnaireResponse.subject' });
  if (!response.authored)
    faults.push({ message: 'authored is required', expression: 'QuestionnaireResponse.authored' });
  const [ratings] = children(root, 'ratings');
  const { scores, helpWanted } = readRatings(ratings, faults);
  if (ratings) checkCalculatedMeans(ratings, scores, faults);
  const author = partyOf(response.author);
  const source = partyOf(response.source);
  const [discussion] = children(root, 'discussion');
  const session: DialogSession = {
    ...(response.id ? { id: response.id } : {}),
    ...(response.identifier?.system && response.identifier.value
      ? { identifier: { system: response.identifier.system, value: response.identifier.value } }
      : {}),
    status: response.status,
    subject: response.subject?.reference ?? '',
    ...(response.subject?.display ? { subjectDisplay: response.subject.display } : {}),
    authored: response.authored ?? '',
    ...(author ? { author } : {}),
    ...(source ? { source } : {}),
    ...readContext(response, faults),
    scores,
    helpWanted,
    chosen: discussion ? readChosen(discussion, faults) : [],
    discussed: discussion
      ? children(discussion, 'discussed-item')
          .map((d) => readDiscussed(d, faults))
          .filter((d) => d !== undefined)
      : [],
    previousActions: readPreviousActions(response),
    ...readNotRated(children(root, 'not-rated')[0], faults),
  };
  return faults.length > 0 ? { ok: false, faults } : { ok: true, session };
}

/** A reference to a person or organisation as the session holds it: reference and display only. */
export function partyOf(
  reference: { reference?: string; display?: string } | undefined,
): PartyReference | undefined {
  if (!reference?.reference && !reference?.display) return undefined;
  return {
    ...(reference.reference ? { reference: reference.reference } : {}),
    ...(reference.display ? { display: reference.display } : {}),
  };
}

/**
 * The calculated means are derived, so they are not read into the session; one that disagrees
 * with the scores is a fault (it shows the person a number their ratings do not give).
 */
function checkCalculatedMeans(
  ratings: Located,
  scores: Partial<Record<DialogItemConcept, DialogScore>>,
  faults: ReadFault[],
): void {
  for (const { linkId, measure } of MEAN_ITEMS) {
    for (const located of children(ratings, linkId)) {
      const given = firstAnswer(located)?.valueDecimal;
      // meanScore reads the scores only; ratedAt plays no part in a mean.
      const mean = meanScore({ scores, ratedAt: '' }, measure);
      if (given === undefined || !mean || Math.abs(given - mean.value) > MEAN_TOLERANCE)
        faults.push({
          message: `The calculated ${linkId} does not match the scores`,
          expression: `${located.path}.answer[0].value.ofType(decimal)`,
        });
    }
  }
}

function extensionCode(response: QuestionnaireResponse, url: string): string | undefined {
  return response.extension?.find((e) => e.url === url)?.valueCoding?.code;
}

function readContext(
  response: QuestionnaireResponse,
  faults: ReadFault[],
): { timepoint?: TimepointKind; setting?: CareSetting; reusedFrom?: ReusedRating } {
  const out: { timepoint?: TimepointKind; setting?: CareSetting; reusedFrom?: ReusedRating } = {};
  const timepoint = extensionCode(response, Extensions.timepoint);
  if (timepoint !== undefined) {
    if ((TIMEPOINT_KINDS as readonly string[]).includes(timepoint))
      out.timepoint = timepoint as TimepointKind;
    else
      faults.push({ message: 'Unknown timepoint', expression: 'QuestionnaireResponse.extension' });
  }
  const setting = extensionCode(response, Extensions.setting);
  if (setting !== undefined) {
    if ((CARE_SETTINGS as readonly string[]).includes(setting))
      out.setting = setting as CareSetting;
    else
      faults.push({
        message: 'Unknown care setting',
        expression: 'QuestionnaireResponse.extension',
      });
  }
  const reused = response.extension?.find((e) => e.url === Extensions.reusedRating);
  if (reused) {
    const part = (url: string): Extension | undefined =>
      reused.extension?.find((e) => e.url === url);
    const source = part('source')?.valueReference?.reference;
    const original = part('originalTimepoint')?.valueCoding?.code;
    const originalSetting = part('originalSetting')?.valueCoding?.code;
    const reason = part('reason')?.valueString;
    if (source && original && (TIMEPOINT_KINDS as readonly string[]).includes(original)) {
      out.reusedFrom = {
        source,
        originalTimepoint: original as TimepointKind,
        ...(originalSetting && (CARE_SETTINGS as readonly string[]).includes(originalSetting)
          ? { originalSetting: originalSetting as CareSetting }
          : {}),
        ...(reason ? { reason } : {}),
      };
    } else {
      faults.push({
        message: 'A reused rating names its source and original timepoint',
        expression: 'QuestionnaireResponse.extension',
      });
    }
  }
  return out;
}

function readRatings(
  ratings: Located | undefined,
  faults: ReadFault[],
): {
  scores: Partial<Record<DialogItemConcept, DialogScore>>;
  helpWanted: Partial<Record<DialogItemConcept, boolean>>;
} {
  const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
  const helpWanted: Partial<Record<DialogItemConcept, boolean>> = {};
  for (const [i, group] of (ratings?.item.item ?? []).entries()) {
    const concept = group.linkId;
    const path = `${ratings?.path}.item[${i}]`;
    if (!isDialogItemConcept(concept)) {
      if (concept !== 'sqol-mean' && concept !== 'ts-mean')
        faults.push({ message: 'Not a DIALOG item', expression: `${path}.linkId` });
      continue;
    }
    const located = { item: group, path };
    const scoreItem = children(located, `${concept}.score`)[0];
    const coded = firstAnswer(scoreItem)?.valueCoding;
    if (coded) {
      // Exactly the scale's codes "1"–"7": Number() would also read "07", "7.0" and "0x7" as 7.
      const score = SCALE_CODE.test(coded.code ?? '') ? Number(coded.code) : undefined;
      if (coded.system === CodeSystems.scale && isDialogScore(score)) scores[concept] = score;
      else
        faults.push({
          message: `The score for ${concept} is not 1–7`,
          expression: `${scoreItem?.path}.answer[0].value.ofType(Coding).code`,
        });
    }
    const help = firstAnswer(children(located, `${concept}.help`)[0])?.valueBoolean;
    if (help !== undefined) helpWanted[concept] = help;
  }
  return { scores, helpWanted };
}

function conceptOf(
  answer: QuestionnaireResponseItemAnswer | undefined,
): DialogItemConcept | undefined {
  const code = answer?.valueCoding;
  if (!code || code.system !== SNOMED_SYSTEM || !code.code) return undefined;
  return itemBySnomed(code.code)?.concept;
}

function readChosen(discussion: Located, faults: ReadFault[]): DialogItemConcept[] {
  const chosen = children(discussion, 'chosen-items')[0];
  return (chosen?.item.answer ?? []).flatMap((answer, i) => {
    const concept = conceptOf(answer);
    if (!concept)
      faults.push({
        message: 'Not a DIALOG item',
        expression: `${chosen?.path}.answer[${i}].value.ofType(Coding)`,
      });
    return concept ? [concept] : [];
  });
}

function stringOf(parent: Located, linkId: string): string | undefined {
  return firstAnswer(children(parent, linkId)[0])?.valueString;
}

function readDiscussed(discussed: Located, faults: ReadFault[]): DiscussedItem | undefined {
  const conceptItem = children(discussed, 'discussed-item.concept')[0];
  const concept = conceptOf(firstAnswer(conceptItem));
  if (!concept) {
    faults.push({
      message: 'A discussed item names a DIALOG item',
      expression: `${discussed.path}.item`,
    });
    return undefined;
  }
  const understanding = stringOf(discussed, 'discussed-item.understanding');
  const lookingForward = stringOf(discussed, 'discussed-item.looking-forward');
  const exploringOptions = stringOf(discussed, 'discussed-item.exploring-options');
  return {
    concept,
    ...(understanding !== undefined ? { understanding } : {}),
    ...(lookingForward !== undefined ? { lookingForward } : {}),
    ...(exploringOptions !== undefined ? { exploringOptions } : {}),
    actions: children(discussed, 'discussed-item.action').flatMap((a) => {
      const what = stringOf(a, 'discussed-item.action.what');
      if (what === undefined) return [];
      const who = stringOf(a, 'discussed-item.action.who');
      const byWhen = firstAnswer(children(a, 'discussed-item.action.by-when')[0])?.valueDate;
      return [
        {
          what,
          ...(who !== undefined ? { who } : {}),
          ...(byWhen !== undefined ? { byWhen } : {}),
        },
      ];
    }),
  };
}

/** The previous actions read, each with the FHIRPath of its item (an item without `what` is skipped). */
function locatedPreviousActions(
  response: QuestionnaireResponse,
): { action: PreviousAction; path: string }[] {
  const [group] = children({ item: response, path: 'QuestionnaireResponse' }, 'previous-actions');
  if (!group) return [];
  return children(group, 'previous-action').flatMap((a) => {
    const what = stringOf(a, 'previous-action.what');
    if (what === undefined) return [];
    const status = stringOf(a, 'previous-action.status');
    const known = (PREVIOUS_ACTION_STATUSES as readonly string[]).includes(status ?? '');
    return [
      {
        action: { what, ...(known ? { status: status as PreviousActionStatus } : {}) },
        path: a.path,
      },
    ];
  });
}

function readPreviousActions(response: QuestionnaireResponse): PreviousAction[] {
  return locatedPreviousActions(response).map((a) => a.action);
}

/**
 * Where in the response each of `responseToSession(response).session.previousActions` is, as a
 * FHIRPath with the item's real position (items without `what` are not read, so the position in
 * the session's list is not the position in the response).
 */
export function previousActionPaths(response: QuestionnaireResponse): string[] {
  return locatedPreviousActions(response).map((a) => a.path);
}

function readNotRated(
  group: Located | undefined,
  faults: ReadFault[],
): { notRated?: NonNullable<DialogSession['notRated']> } {
  if (!group) return {};
  const reasonItem = children(group, 'not-rated.reason')[0];
  const reason = firstAnswer(reasonItem)?.valueCoding?.code;
  if (!isNotRatedReason(reason)) {
    faults.push({
      message: 'A not-rated reason is one of the listed reasons',
      expression: `${group.path}.item`,
    });
    return {};
  }
  const note = stringOf(group, 'not-rated.note');
  return { notRated: { reason, ...(note !== undefined ? { note } : {}) } };
}
