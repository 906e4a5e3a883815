/**
 * A DIALOG+ Goal per item discussed in a session: what the person wants to change about it, what
 * was said in the DIALOG+ steps (dialog-plus-step), the item (dialog-measure), and the item's score
 * Observation it addresses. Its identifier is derived from the response and the item, so building
 * it again names the same Goal.
 */
import type { Extension, Goal, Identifier } from '@medplum/fhirtypes';
import { itemByConcept, type DialogItemConcept } from '../dialog';
import { CodeSystems, Extensions, Profiles } from './canonical';
import type { DialogAction, DiscussedItem } from './dialog-session';
import type { PlainReference } from './item-observations';
import { itemCoding, packageCoding } from './response-session';
import { DIALOG_GOAL_SYSTEM, derivedIdentifier } from './stable-id';

const GOAL_ACHIEVEMENT = 'http://terminology.hl7.org/CodeSystem/goal-achievement';
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
] as const;

export function goalIdentifier(responseKey: string, concept: DialogItemConcept): Identifier {
  return derivedIdentifier(DIALOG_GOAL_SYSTEM, responseKey, concept);
}

/** "2025-09-30" → "30 September 2025", as the plan is read by the person. */
export function readableDate(date: string): string {
  const [year, month, day] = date.split('-').map(Number);
  const name = MONTHS[(month ?? 0) - 1];
  return name && day ? `${day} ${name} ${year}` : date;
}

/** "What (who, by when)." — one agreed action as the agreeing-actions step records it. */
export function actionSummary(action: DialogAction): string {
  const parts = [action.who, action.byWhen ? `by ${readableDate(action.byWhen)}` : undefined];
  const detail = parts.filter((p) => p !== undefined).join(', ');
  return detail ? `${action.what} (${detail}).` : `${action.what}.`;
}

function step(code: string, text: string | undefined): Extension[] {
  if (text === undefined) return [];
  return [
    {
      url: Extensions.plusStep,
      extension: [
        { url: 'step', valueCoding: packageCoding(CodeSystems.steps, code) },
        { url: 'text', valueString: text },
      ],
    },
  ];
}

function stepExtensions(discussed: DiscussedItem): Extension[] {
  const agreed = discussed.actions.map(actionSummary).join(' ');
  return [
    ...step('understanding', discussed.understanding),
    ...step('looking-forward', discussed.lookingForward),
    ...step('exploring-options', discussed.exploringOptions),
    ...step('agreeing-actions', agreed === '' ? undefined : agreed),
  ];
}

/** The person's goal in words: given, else the looking-forward step, else the item itself. */
function description(discussed: DiscussedItem, given: string | undefined): string {
  const label = itemByConcept(discussed.concept)?.label.toLowerCase() ?? discussed.concept;
  return given ?? discussed.lookingForward ?? `Be more satisfied with ${label}`;
}

export interface GoalContext {
  readonly responseKey: string;
  readonly subject: PlainReference;
  /** The FHIR date the goal was set (the session's date). */
  readonly startDate: string;
  /** The item's score Observation the goal addresses. */
  readonly addresses: PlainReference;
  /** The goal in the person's own words, when recorded somewhere other than the response. */
  readonly description?: string;
}

export function buildGoal(discussed: DiscussedItem, context: GoalContext): Goal {
  return {
    resourceType: 'Goal',
    meta: { profile: [Profiles.goal] },
    extension: [
      { url: Extensions.measure, valueCoding: itemCoding(discussed.concept) },
      ...stepExtensions(discussed),
    ],
    identifier: [goalIdentifier(context.responseKey, discussed.concept)],
    lifecycleStatus: 'active',
    achievementStatus: {
      coding: [{ system: GOAL_ACHIEVEMENT, code: 'in-progress', display: 'In Progress' }],
    },
    description: { text: description(discussed, context.description) },
    subject: { ...context.subject },
    startDate: context.startDate,
    expressedBy: { ...context.subject },
    addresses: [{ ...context.addresses }],
  };
}
