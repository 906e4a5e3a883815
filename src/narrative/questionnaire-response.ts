/**
 * The narrative of a DIALOG+ session (a DIALOG QuestionnaireResponse, read as a session the way
 * src/fhir reads it): when and where, who rated and who recorded it, last time's actions reviewed
 * first, the 11 ratings with their labels and whether more help is wanted, the averages, the areas
 * chosen to discuss, the four DIALOG+ steps and the actions agreed (what, who, by when), or why
 * DIALOG was not rated. A response that does not read as a DIALOG session (another Questionnaire,
 * or one with faults) is shown item by item as it stands.
 */
import type {
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import { isNotRatedReason, NOT_RATED_REASON_LABELS, type DialogRatings } from '../dialog';
import type { DialogAction, DialogSession, DiscussedItem } from '../fhir/dialog-session';
import { ratingsTable } from './ratings-table';
import {
  day,
  itemLabel,
  listWords,
  responseStatusWords,
  settingWords,
  timepointWords,
  when,
} from './words';
import { el, lines, type Child, type XNode } from './xhtml';

/** "Join the gym — Megan, by 2 December 2025". */
export function actionLine(action: DialogAction): string {
  const detail = [action.who, action.byWhen !== undefined ? `by ${day(action.byWhen)}` : undefined]
    .filter((p): p is string => p !== undefined && p !== '')
    .join(', ');
  return detail === '' ? action.what : `${action.what} (${detail})`;
}

function discussedSection(discussed: DiscussedItem): XNode[] {
  const steps: [string, string | undefined][] = [
    ['Understanding', discussed.understanding],
    ['Looking forward', discussed.lookingForward],
    ['Exploring options', discussed.exploringOptions],
  ];
  const dl = steps.flatMap(([name, value]) =>
    value === undefined ? [] : [el('dt', name), el('dd', lines(value))],
  );
  const actions = discussed.actions.map((a) => el('li', actionLine(a)));
  dl.push(
    el('dt', 'Agreeing actions'),
    el('dd', actions.length > 0 ? el('ul', actions) : 'No actions were agreed.'),
  );
  return [el('h4', itemLabel(discussed.concept)), el('dl', dl)];
}

export function ratingsOfSession(session: DialogSession): DialogRatings {
  return { scores: session.scores, helpWanted: session.helpWanted, ratedAt: session.authored };
}

function aboutLine(session: DialogSession): string {
  const parts = [timepointWords(session.timepoint), settingWords(session.setting)].filter(
    (p): p is string => p !== undefined,
  );
  return parts.join(', ');
}

function peopleLine(session: DialogSession): string | undefined {
  const rater = session.source?.display ?? session.source?.reference;
  const recorder = session.author?.display ?? session.author?.reference;
  const parts = [
    rater !== undefined ? `Rated by ${rater}` : undefined,
    recorder !== undefined ? `recorded by ${recorder}` : undefined,
  ].filter((p): p is string => p !== undefined);
  if (parts.length === 0) return undefined;
  const text = parts.join('; ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** The narrative content of a DIALOG session. */
export function sessionContent(session: DialogSession, previous?: DialogRatings): Child[] {
  const about = aboutLine(session);
  const people = peopleLine(session);
  const out: Child[] = [
    el('h3', `DIALOG+ session, ${when(session.authored)}`),
    about !== '' && el('p', `${about}.`),
    session.subjectDisplay !== undefined && el('p', `For ${session.subjectDisplay}.`),
    people !== undefined && el('p', people),
    session.status !== 'completed' &&
      el('p', el('b', 'Status: '), responseStatusWords(session.status)),
  ];
  if (session.reusedFrom) {
    const original = [
      timepointWords(session.reusedFrom.originalTimepoint),
      settingWords(session.reusedFrom.originalSetting),
    ].filter((p): p is string => p !== undefined);
    out.push(
      el(
        'p',
        `These ratings are reused from an earlier rating (${original.join(', ')}), so the person did not rate again.`,
        session.reusedFrom.reason !== undefined && [' ', session.reusedFrom.reason],
      ),
    );
  }
  if (session.previousActions.length > 0) {
    out.push(
      el('h4', 'Actions agreed last time'),
      el(
        'ul',
        session.previousActions.map((a) => el('li', a.what, ': ', a.status ?? 'not reviewed yet')),
      ),
    );
  }
  if (session.notRated) {
    const { reason, note } = session.notRated;
    out.push(
      el('h4', 'Not rated'),
      el(
        'p',
        'DIALOG was not rated at this time: ',
        isNotRatedReason(reason) ? NOT_RATED_REASON_LABELS[reason] : reason,
        '.',
      ),
      note !== undefined && el('p', lines(note)),
    );
  }
  const rated = Object.keys(session.scores).length > 0;
  if (rated) {
    out.push(
      el('h4', 'Ratings'),
      ratingsTable(ratingsOfSession(session), {
        caption: 'How satisfied are you with …',
        ...(previous && { previous }),
      }),
    );
  } else if (!session.notRated) {
    out.push(el('p', 'No ratings have been given yet.'));
  }
  if (session.chosen.length > 0) {
    out.push(
      el('h4', 'Chosen to discuss'),
      el('p', `${listWords(session.chosen.map(itemLabel))}.`),
    );
  }
  for (const discussed of session.discussed) out.push(discussedSection(discussed));
  return out;
}

// ---- any response, item by item ------------------------------------------------------------

function answerText(answer: QuestionnaireResponseItemAnswer): string {
  if (answer.valueString !== undefined) return answer.valueString;
  if (answer.valueBoolean !== undefined) return answer.valueBoolean ? 'Yes' : 'No';
  if (answer.valueInteger !== undefined) return String(answer.valueInteger);
  if (answer.valueDecimal !== undefined) return String(answer.valueDecimal);
  if (answer.valueDate !== undefined) return day(answer.valueDate);
  if (answer.valueDateTime !== undefined) return when(answer.valueDateTime);
  if (answer.valueTime !== undefined) return answer.valueTime;
  if (answer.valueCoding !== undefined)
    return answer.valueCoding.display ?? answer.valueCoding.code ?? '';
  if (answer.valueQuantity !== undefined)
    return [answer.valueQuantity.value, answer.valueQuantity.unit].filter(Boolean).join(' ');
  if (answer.valueReference !== undefined)
    return answer.valueReference.display ?? answer.valueReference.reference ?? '';
  if (answer.valueUri !== undefined) return answer.valueUri;
  return '';
}

function itemList(items: readonly QuestionnaireResponseItem[] | undefined, depth: number): Child {
  // Deeply nested responses are cut off rather than rendered without end.
  if (!items || items.length === 0 || depth > 8) return undefined;
  return el(
    'ul',
    items.map((item) => {
      const answers = (item.answer ?? []).map(answerText).filter((t) => t !== '');
      return el(
        'li',
        item.text ?? item.linkId,
        answers.length > 0 && [': ', answers.join('; ')],
        itemList(item.item, depth + 1),
        (item.answer ?? []).map((a) => itemList(a.item, depth + 1)),
      );
    }),
  );
}

export function genericResponseContent(response: QuestionnaireResponse): Child[] {
  const subject = response.subject?.display;
  return [
    el('h3', 'Questionnaire response', response.authored && `, ${when(response.authored)}`),
    subject !== undefined && el('p', `For ${subject}.`),
    el('p', el('b', 'Status: '), responseStatusWords(response.status)),
    itemList(response.item, 0),
  ];
}
