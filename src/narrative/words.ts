/**
 * The plain words narratives use: dates in UK style at the offset the value carries, scores with
 * their scale labels, change categories, statuses, settings and timepoints. Codes the project does
 * not know fall back to the display the data carries, else the code itself (always escaped).
 */
import type { Coding, Reference } from '@medplum/fhirtypes';
import { ukDate, ukTime } from '../charts/uk-date';
import {
  type ChangeCategory,
  formatMean,
  isDialogScore,
  itemByConcept,
  itemBySnomed,
  satisfactionBand,
  SCALE_LABELS,
  type DialogItem,
  type MeanMeasure,
  SNOMED_SYSTEM,
} from '../dialog';
import { CodeSystems } from '../fhir/canonical';

/** "16 September 2025" for a date; "16 September 2025 at 10:15am" for a dateTime with a time. */
export function when(value: string): string {
  const time = ukTime(value);
  return time === undefined ? ukDate(value) : `${ukDate(value)} at ${time}`;
}

/** "16 September 2025" for a date or dateTime (the day the value itself states). */
export function day(value: string): string {
  return ukDate(value);
}

/** A whole score as written, a mean at 2 decimal places. */
export function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : formatMean(value);
}

/** "+2", "-1.58", "0"; with `mean`, always 2 decimals ("+1.00"). */
export function signed(value: number, mean = false): string {
  const magnitude = Math.abs(value);
  const text = mean ? formatMean(magnitude) : formatNumber(magnitude);
  if (value > 0) return `+${text}`;
  if (value < 0) return `-${text}`;
  return text;
}

/** "4 (in the middle)" for a DIALOG score; the number alone for anything else. */
export function scoreWithLabel(value: number): string {
  return isDialogScore(value) ? `${value} (${SCALE_LABELS[value]})` : formatNumber(value);
}

/** How a mean reads on the scale: below 4 dissatisfied, 4 in the middle, above 4 satisfied. */
export function bandWords(value: number): string {
  const band = satisfactionBand(value);
  if (band === 'dissatisfied') return 'dissatisfied on average';
  if (band === 'satisfied') return 'satisfied on average';
  return 'in the middle on average';
}

export const MEAN_NAMES: Readonly<Record<MeanMeasure, string>> = {
  sqol: 'Average of the 8 life areas (subjective quality of life)',
  ts: 'Average of the 3 treatment areas (treatment satisfaction)',
};

export const CHANGE_WORDS: Readonly<Record<ChangeCategory, string>> = {
  'reliable-improvement': 'Reliable improvement',
  'reliable-deterioration': 'Reliable deterioration',
  'no-reliable-change': 'No reliable change',
};

export function isChangeCategory(code: string | undefined): code is ChangeCategory {
  return code !== undefined && Object.prototype.hasOwnProperty.call(CHANGE_WORDS, code);
}

/** The DIALOG item a coding names (SNOMED code), if any. */
export function itemOfCoding(coding: Coding | undefined): DialogItem | undefined {
  if (!coding?.code) return undefined;
  if (coding.system !== undefined && coding.system !== SNOMED_SYSTEM) return undefined;
  return itemBySnomed(coding.code);
}

export function itemLabel(concept: string): string {
  return itemByConcept(concept)?.label ?? concept;
}

const SETTING_WORDS: Readonly<Record<string, string>> = {
  community: 'Community mental health service',
  inpatient: 'Inpatient mental health service',
  crisis: 'Crisis service',
};

const TIMEPOINT_WORDS: Readonly<Record<string, string>> = {
  'episode-start': 'Start of care with the service (episode start)',
  review: 'Review',
  'episode-end': 'End of care with the service (episode end)',
};

const DELIVERY_WORDS: Readonly<Record<string, string>> = {
  sms: 'by text message (SMS)',
  email: 'by email',
  letter: 'as a printed letter',
};

function fromTable(
  table: Readonly<Record<string, string>>,
  code: string | undefined,
  display?: string,
): string | undefined {
  if (code !== undefined && Object.prototype.hasOwnProperty.call(table, code)) return table[code];
  return display ?? code;
}

export function settingWords(code: string | undefined, display?: string): string | undefined {
  return fromTable(SETTING_WORDS, code, display);
}

export function timepointWords(code: string | undefined, display?: string): string | undefined {
  return fromTable(TIMEPOINT_WORDS, code, display);
}

export function deliveryWords(coding: Coding | undefined): string | undefined {
  if (!coding) return undefined;
  if (coding.system === CodeSystems.delivery) return fromTable(DELIVERY_WORDS, coding.code);
  return coding.display ?? coding.code;
}

const ACTIVITY_STATUS: Readonly<Record<string, string>> = {
  'not-started': 'Not started',
  scheduled: 'Planned',
  'in-progress': 'In progress',
  'on-hold': 'On hold',
  completed: 'Done',
  cancelled: 'Cancelled',
  stopped: 'Stopped',
  unknown: 'Not known',
  'entered-in-error': 'Entered in error',
};

export function activityStatusWords(status: string): string {
  return fromTable(ACTIVITY_STATUS, status) ?? status;
}

export const CLOSED_ACTIVITY: ReadonlySet<string> = new Set([
  'completed',
  'cancelled',
  'stopped',
  'entered-in-error',
]);

const GOAL_LIFECYCLE: Readonly<Record<string, string>> = {
  proposed: 'Proposed',
  planned: 'Planned',
  accepted: 'Accepted',
  active: 'Being worked on',
  'on-hold': 'On hold',
  completed: 'Completed',
  cancelled: 'Cancelled',
  'entered-in-error': 'Entered in error',
  rejected: 'Rejected',
};

export function goalStatusWords(status: string): string {
  return fromTable(GOAL_LIFECYCLE, status) ?? status;
}

const RESPONSE_STATUS: Readonly<Record<string, string>> = {
  'in-progress': 'In progress: not all answers are in yet',
  completed: 'Completed',
  amended: 'Completed, then amended',
  'entered-in-error': 'Entered in error',
  stopped: 'Stopped before it was completed',
};

export function responseStatusWords(status: string): string {
  return fromTable(RESPONSE_STATUS, status) ?? status;
}

const PLAN_STATUS: Readonly<Record<string, string>> = {
  draft: 'Draft',
  active: 'Active',
  'on-hold': 'On hold',
  revoked: 'Ended early',
  completed: 'Completed',
  'entered-in-error': 'Entered in error',
  unknown: 'Not known',
};

export function planStatusWords(status: string): string {
  return fromTable(PLAN_STATUS, status) ?? status;
}

const SHARED_WORDS: Readonly<Record<string, string>> = {
  'agreed-action': 'agreed actions',
  'safety-plan': 'the safety plan',
  'mental-health-act-status': 'Mental Health Act status',
  'mental-capacity': 'Mental Capacity Act considerations',
  leave: 'leave arrangements',
  visits: 'visit arrangements',
  'nursing-observations': 'nursing observations',
  CarePlan: 'the care plan',
  Goal: 'goals',
  QuestionnaireResponse: 'DIALOG ratings',
  Observation: 'DIALOG scores',
};

export function sharedWords(code: string): string {
  return fromTable(SHARED_WORDS, code) ?? code;
}

/** The name a reference shows: its display, else the reference itself, else nothing. */
export function referenceName(reference: Reference | undefined): string | undefined {
  const display = reference?.display?.trim();
  if (display) return display;
  return reference?.reference?.trim() || undefined;
}

/** "a, b and c". */
export function listWords(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] ?? ''}`;
}

export function yesNo(value: boolean | undefined): string {
  if (value === undefined) return 'Not recorded';
  return value ? 'Yes' : 'No';
}
