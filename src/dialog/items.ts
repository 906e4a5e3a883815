/**
 * The 11 DIALOG items, keyed by concept. Sources order the items differently (the scale papers and
 * the DIALOG+ app put partner/family 6th and friendships 7th; SNOMED numbering puts friendships
 * 6th), so nothing in this project may identify an item by its position: look items up by
 * `concept`, SNOMED code, or linkId.
 */

export type DialogItemGroup = 'life' | 'treatment';

export type DialogItemConcept =
  | 'mental-health'
  | 'physical-health'
  | 'job-situation'
  | 'accommodation'
  | 'leisure-activities'
  | 'friendships'
  | 'partner-family'
  | 'personal-safety'
  | 'medication'
  | 'practical-help'
  | 'meetings';

export interface DialogItem {
  /** Stable concept key; also the Questionnaire item linkId. */
  readonly concept: DialogItemConcept;
  /** SNOMED CT UK extension code used by MHSDS. */
  readonly snomed: string;
  /** Item number in the SNOMED/MHSDS numbering (1–11). */
  readonly snomedNumber: number;
  /** Item number in the DIALOG+ app and the original scale papers (1–11). */
  readonly appNumber: number;
  readonly group: DialogItemGroup;
  /** Short label, as shown to a clinician. */
  readonly label: string;
  /** "How satisfied are you with …" */
  readonly question: string;
  /** SNOMED display text. */
  readonly snomedDisplay: string;
}

export const SNOMED_SYSTEM = 'http://snomed.info/sct';

function item(
  concept: DialogItemConcept,
  snomed: string,
  snomedNumber: number,
  appNumber: number,
  group: DialogItemGroup,
  label: string,
  /** As the SNOMED display (and MHSDS) words it. */
  subject: string,
  /** As the person is asked, where it differs from `your <subject>`. */
  asked = `your ${subject}`,
): DialogItem {
  return {
    concept,
    snomed,
    snomedNumber,
    appNumber,
    group,
    label,
    question: `How satisfied are you with ${asked}?`,
    snomedDisplay: `DIALOG patient rated outcome measure item ${snomedNumber} score - how satisfied are you with ${subject}`,
  };
}

/** The items in SNOMED order (the order the Questionnaire uses). */
export const DIALOG_ITEMS: readonly DialogItem[] = [
  item('mental-health', '1037651000000100', 1, 1, 'life', 'Mental health', 'mental health'),
  item('physical-health', '1037661000000102', 2, 2, 'life', 'Physical health', 'physical health'),
  item('job-situation', '1037671000000109', 3, 3, 'life', 'Job situation', 'job situation'),
  item('accommodation', '1037681000000106', 4, 4, 'life', 'Accommodation', 'accommodation'),
  item(
    'leisure-activities',
    '1037691000000108',
    5,
    5,
    'life',
    'Leisure activities',
    'leisure activities',
  ),
  item('friendships', '1037701000000108', 6, 7, 'life', 'Friendships', 'friendships'),
  item(
    'partner-family',
    '1037711000000105',
    7,
    6,
    'life',
    'Relationship with partner/family',
    'relationship with partner/family',
    'your relationship with your partner/family',
  ),
  item('personal-safety', '1037721000000104', 8, 8, 'life', 'Personal safety', 'personal safety'),
  item('medication', '1037731000000102', 9, 9, 'treatment', 'Medication', 'medication'),
  item(
    'practical-help',
    '1037741000000106',
    10,
    10,
    'treatment',
    'Practical help received',
    'practical help received',
    'the practical help you receive',
  ),
  item(
    'meetings',
    '1037751000000109',
    11,
    11,
    'treatment',
    'Meetings with mental health professionals',
    'meetings (consultations) with mental health professionals',
    'your meetings with mental health professionals',
  ),
];

const byConcept = new Map(DIALOG_ITEMS.map((i) => [i.concept, i]));
const bySnomed = new Map(DIALOG_ITEMS.map((i) => [i.snomed, i]));

export function itemByConcept(concept: string): DialogItem | undefined {
  return byConcept.get(concept as DialogItemConcept);
}

export function itemBySnomed(code: string): DialogItem | undefined {
  return bySnomed.get(code);
}

export function isDialogItemConcept(value: string): value is DialogItemConcept {
  return byConcept.has(value as DialogItemConcept);
}

/** The items in the DIALOG+ app's order (partner/family before friendships). */
export const DIALOG_ITEMS_APP_ORDER: readonly DialogItem[] = [...DIALOG_ITEMS].sort(
  (a, b) => a.appNumber - b.appNumber,
);

export const LIFE_ITEMS = DIALOG_ITEMS.filter((i) => i.group === 'life');
export const TREATMENT_ITEMS = DIALOG_ITEMS.filter((i) => i.group === 'treatment');
