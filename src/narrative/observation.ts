/**
 * Narratives of the DIALOG Observations src/fhir extracts: an item score (the rating and its
 * label), more help wanted (yes / no), a mean (the average, how it reads on the scale, how many
 * areas it is worked out from, and whether it is incomplete) and a paired change (from → to, the
 * difference and reliable improvement / deterioration / no reliable change, read from the
 * Observation's components and interpretation as src/fhir writes them). Observations of any other
 * kind get none.
 */
import type { Coding, Extension, Observation, ObservationComponent } from '@medplum/fhirtypes';
import { formatMean, isDialogItemConcept, itemByConcept, type MeanMeasure } from '../dialog';
import { CodeSystems, Extensions } from '../fhir/canonical';
import {
  bandWords,
  CHANGE_WORDS,
  day,
  isChangeCategory,
  itemOfCoding,
  MEAN_NAMES,
  scoreWithLabel,
  settingWords,
  signed,
  timepointWords,
  when,
  yesNo,
} from './words';
import { el, lines, type Child } from './xhtml';

const MEAN_CODES: Readonly<Record<string, MeanMeasure>> = { 'sqol-mean': 'sqol', 'ts-mean': 'ts' };
const HELP_PREFIX = 'help-';

type Kind =
  | { readonly kind: 'score'; readonly label: string }
  | { readonly kind: 'help'; readonly label: string }
  | { readonly kind: 'mean'; readonly measure: MeanMeasure }
  | { readonly kind: 'change' };

function kindOf(observation: Observation): Kind | undefined {
  for (const coding of observation.code.coding ?? []) {
    const item = itemOfCoding(coding);
    if (item && coding.system !== undefined) return { kind: 'score', label: item.label };
    if (coding.system !== CodeSystems.dialog || !coding.code) continue;
    if (coding.code === 'paired-change') return { kind: 'change' };
    const measure = MEAN_CODES[coding.code];
    if (measure) return { kind: 'mean', measure };
    if (coding.code.startsWith(HELP_PREFIX)) {
      const concept = coding.code.slice(HELP_PREFIX.length);
      if (isDialogItemConcept(concept))
        return { kind: 'help', label: itemByConcept(concept)?.label ?? concept };
    }
  }
  return undefined;
}

/** True for the Observations this module describes. */
export function isDialogObservation(observation: Observation): boolean {
  return kindOf(observation) !== undefined;
}

function extensionCoding(observation: Observation, url: string): Coding | undefined {
  return observation.extension?.find((e: Extension) => e.url === url)?.valueCoding;
}

function contextLine(observation: Observation): Child {
  const timepoint = extensionCoding(observation, Extensions.timepoint);
  const setting = extensionCoding(observation, Extensions.setting);
  const parts = [
    timepointWords(timepoint?.code, timepoint?.display),
    settingWords(setting?.code, setting?.display),
  ].filter((p): p is string => p !== undefined);
  const at = observation.effectiveDateTime;
  const text = [at !== undefined ? `Rated on ${when(at)}` : undefined, parts.join(', ')]
    .filter((p) => p !== undefined && p !== '')
    .join('. ');
  return text !== '' && el('p', `${text}.`);
}

function numberValue(observation: Observation | ObservationComponent): number | undefined {
  return observation.valueQuantity?.value ?? observation.valueInteger;
}

function componentValue(observation: Observation, code: string): number | undefined {
  const component = observation.component?.find((c) =>
    c.code.coding?.some((k) => k.system === CodeSystems.dialog && k.code === code),
  );
  return component && numberValue(component);
}

function meanComplete(observation: Observation): boolean | undefined {
  return observation.extension?.find((e) => e.url === Extensions.meanComplete)?.valueBoolean;
}

function statusLine(observation: Observation): Child {
  if (observation.status === 'final') return undefined;
  return el('p', el('b', 'Status: '), observation.status);
}

function notes(observation: Observation): Child {
  return (observation.note ?? []).map((n) => el('p', lines(n.text)));
}

function subjectLine(observation: Observation): Child {
  const name = observation.subject?.display;
  return name !== undefined && el('p', `For ${name}.`);
}

/** What a paired-change Observation measures: an item's label or a mean's name. */
function changeMeasure(observation: Observation): { name: string; item: boolean } {
  const measure = extensionCoding(observation, Extensions.measure);
  const item = itemOfCoding(measure);
  if (item) return { name: item.label, item: true };
  const mean = measure?.code !== undefined ? MEAN_CODES[measure.code] : undefined;
  if (mean) return { name: MEAN_NAMES[mean], item: false };
  return { name: measure?.display ?? measure?.code ?? 'DIALOG rating', item: false };
}

function changeContent(observation: Observation): Child[] {
  const { name, item } = changeMeasure(observation);
  const from = componentValue(observation, 'baseline-score');
  const to = componentValue(observation, 'follow-up-score');
  const difference = numberValue(observation);
  const category = observation.interpretation
    ?.flatMap((i) => i.coding ?? [])
    .find((c) => c.system === CodeSystems.change)?.code;
  const show = (v: number): string => (item ? scoreWithLabel(v) : formatMean(v));
  const period = observation.effectivePeriod;
  const complete = meanComplete(observation);
  return [
    el('h3', `Change in ${name}`),
    isChangeCategory(category) && el('p', el('b', CHANGE_WORDS[category])),
    subjectLine(observation),
    from !== undefined && to !== undefined && el('p', `From ${show(from)} to ${show(to)}.`),
    difference !== undefined && el('p', `Difference: ${signed(difference, !item)}.`),
    period?.start !== undefined &&
      period.end !== undefined &&
      el('p', `Between the ratings of ${day(period.start)} and ${day(period.end)}.`),
    complete === false &&
      el(
        'p',
        'At least one of the two averages is incomplete (more than one area not rated): read this change with care.',
      ),
    statusLine(observation),
    notes(observation),
  ];
}

/** The narrative content of a DIALOG Observation; undefined for any other Observation. */
export function observationContent(observation: Observation): Child[] | undefined {
  const kind = kindOf(observation);
  if (!kind) return undefined;
  if (kind.kind === 'change') return changeContent(observation);
  if (kind.kind === 'help') {
    return [
      el('h3', `More help wanted with ${kind.label}`),
      el('p', el('b', yesNo(observation.valueBoolean))),
      subjectLine(observation),
      contextLine(observation),
      statusLine(observation),
      notes(observation),
    ];
  }
  const value = numberValue(observation);
  if (kind.kind === 'score') {
    return [
      el('h3', `DIALOG rating: ${kind.label}`),
      el('p', el('b', value === undefined ? 'Not rated' : scoreWithLabel(value))),
      subjectLine(observation),
      contextLine(observation),
      statusLine(observation),
      notes(observation),
    ];
  }
  const used = componentValue(observation, 'items-used');
  const complete = meanComplete(observation);
  return [
    el('h3', MEAN_NAMES[kind.measure]),
    el(
      'p',
      el(
        'b',
        value === undefined ? 'Not worked out' : `${formatMean(value)} (${bandWords(value)})`,
      ),
    ),
    subjectLine(observation),
    used !== undefined &&
      el('p', `Worked out from ${used} ${used === 1 ? 'area' : 'areas'} rated.`),
    complete === false &&
      el(
        'p',
        'Incomplete: more than one of the 11 areas was not rated, so this average may be substantially affected.',
      ),
    contextLine(observation),
    statusLine(observation),
    notes(observation),
  ];
}
