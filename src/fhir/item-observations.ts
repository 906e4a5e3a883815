/**
 * SDC observation-based extraction, for any Questionnaire: every answered item whose definition
 * (or an ancestor, or the Questionnaire itself) carries `sdc-questionnaire-observationExtract`
 * = true and that has an `item.code` becomes an Observation coded with that code. A coded answer
 * whose answerOption carries an `itemWeight` is recorded as that number (the DIALOG scale's codes
 * 1–7 are scores); other answers map by type.
 */
import type {
  Coding,
  Extension,
  Identifier,
  Observation,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
  Reference,
} from '@medplum/fhirtypes';
import { codeDisplay } from './package-lookup';
import { EXTRACTED_OBSERVATION_SYSTEM, derivedIdentifier } from './stable-id';

export const OBSERVATION_EXTRACT =
  'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract';
export const ITEM_WEIGHT = 'http://hl7.org/fhir/StructureDefinition/itemWeight';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** A reference without an inline resource: assignable to a Reference of any target type. */
export type PlainReference = Pick<Reference, 'reference' | 'type' | 'identifier' | 'display'>;

/** What every Observation extracted from one response shares. */
export interface ExtractContext {
  /** The response's identity (stable-id.ts responseKey). */
  readonly key: string;
  readonly responseReference: PlainReference;
  readonly subject: PlainReference;
  readonly effective: string;
  /** Who gave the answers (the response's source, else its author), when known. */
  readonly performer?: PlainReference;
  /** Response extensions that also mean something on an Observation (timepoint, setting). */
  readonly contextExtensions: readonly Extension[];
}

/** One extracted Observation and the part of the response it stands for (its linkId). */
export interface Extracted {
  readonly part: string;
  readonly observation: Observation;
}

/** The identifier an Observation extracted from `part` of the response `key` has. */
export function extractedIdentifier(key: string, part: string): Identifier {
  return derivedIdentifier(EXTRACTED_OBSERVATION_SYSTEM, key, part);
}

export const SURVEY_CATEGORY = {
  coding: [{ system: OBSERVATION_CATEGORY, code: 'survey', display: 'Survey' }],
};

/** A coding with the package's display filled in where the coding has none. */
export function displayed(coding: Coding): Coding {
  if (coding.display || !coding.system || !coding.code) return { ...coding };
  const display = codeDisplay(coding.system, coding.code);
  return display ? { ...coding, display } : { ...coding };
}

/** The fields every survey Observation extracted from the response has, in FHIR's order. */
export function surveyObservation(
  context: ExtractContext,
  part: string,
  fields: {
    readonly profile?: string;
    readonly extension?: readonly Extension[];
    readonly code: Coding[];
  },
): Observation {
  const extension = fields.extension ?? [];
  return {
    resourceType: 'Observation',
    ...(fields.profile ? { meta: { profile: [fields.profile] } } : {}),
    ...(extension.length > 0 ? { extension: [...extension] } : {}),
    identifier: [extractedIdentifier(context.key, part)],
    status: 'final',
    category: [SURVEY_CATEGORY],
    code: { coding: fields.code },
    subject: { ...context.subject },
    effectiveDateTime: context.effective,
    ...(context.performer ? { performer: [{ ...context.performer }] } : {}),
  };
}

function flagOf(extensions: readonly Extension[] | undefined): boolean | undefined {
  return extensions?.find((e) => e.url === OBSERVATION_EXTRACT)?.valueBoolean;
}

function itemWeight(exts: readonly Extension[] | undefined): number | undefined {
  return exts?.find((e) => e.url === ITEM_WEIGHT)?.valueDecimal;
}

/**
 * What extraction reads of one item definition, read once per Questionnaire: its
 * observationExtract flag, its codes with the package's displays, and the itemWeight of each
 * answerOption coding (the first option with that system and code, as a search would find).
 * Questionnaires are treated as unchanging once extracted with (the package's are frozen).
 */
interface CompiledItem {
  readonly definition: QuestionnaireItem;
  readonly flag: boolean | undefined;
  readonly code: readonly Coding[];
  /** system → code → the option's weight (undefined: an option without one). */
  readonly weights: Map<string | undefined, Map<string | undefined, number | undefined>>;
  /** The profile each profileFor gives for `code`. */
  readonly profiles: Map<ProfileFor, string | undefined>;
}

type ProfileFor = (code: Coding[]) => string | undefined;

const NO_PROFILE: ProfileFor = () => undefined;

const compiledLists = new WeakMap<readonly QuestionnaireItem[], Map<string, CompiledItem>>();

function compileItem(definition: QuestionnaireItem): CompiledItem {
  const weights: CompiledItem['weights'] = new Map();
  for (const option of definition.answerOption ?? []) {
    // An option without a coding matches a coding without system and code, as find does.
    const system = option.valueCoding?.system;
    const code = option.valueCoding?.code;
    let bySystem = weights.get(system);
    if (!bySystem) weights.set(system, (bySystem = new Map()));
    if (!bySystem.has(code)) bySystem.set(code, itemWeight(option.extension));
  }
  return {
    definition,
    flag: flagOf(definition.extension),
    code: (definition.code ?? []).map(displayed),
    weights,
    profiles: new Map(),
  };
}

/** The definitions of a list of items by linkId (the first with each linkId, as find gives). */
function compiledList(definitions: readonly QuestionnaireItem[]): Map<string, CompiledItem> {
  let byLinkId = compiledLists.get(definitions);
  if (!byLinkId) {
    byLinkId = new Map();
    for (const d of definitions)
      if (!byLinkId.has(d.linkId)) byLinkId.set(d.linkId, compileItem(d));
    compiledLists.set(definitions, byLinkId);
  }
  return byLinkId;
}

function compiledWeight(
  answer: QuestionnaireResponseItemAnswer,
  compiled: CompiledItem,
): number | undefined {
  const coding = answer.valueCoding;
  if (!coding) return undefined;
  // SDC allows the weight on the answerOption or on the answer's Coding itself.
  return compiled.weights.get(coding.system)?.get(coding.code) ?? itemWeight(coding.extension);
}

function weightOf(
  answer: QuestionnaireResponseItemAnswer,
  definition: QuestionnaireItem,
): number | undefined {
  const coding = answer.valueCoding;
  if (!coding) return undefined;
  const option = definition.answerOption?.find(
    (o) => o.valueCoding?.code === coding.code && o.valueCoding?.system === coding.system,
  );
  // SDC allows the weight on the answerOption or on the answer's Coding itself.
  return itemWeight(option?.extension) ?? itemWeight(coding.extension);
}

/** The Observation value for an answer; undefined for answer types an Observation cannot hold. */
export function observationValue(
  answer: QuestionnaireResponseItemAnswer,
  definition: QuestionnaireItem,
): Partial<Observation> | undefined {
  return valueOf(answer, weightOf(answer, definition));
}

function valueOf(
  answer: QuestionnaireResponseItemAnswer,
  weight: number | undefined,
): Partial<Observation> | undefined {
  if (weight !== undefined)
    return Number.isInteger(weight)
      ? { valueInteger: weight }
      : { valueQuantity: { value: weight } };
  if (answer.valueCoding) return { valueCodeableConcept: { coding: [{ ...answer.valueCoding }] } };
  if (answer.valueBoolean !== undefined) return { valueBoolean: answer.valueBoolean };
  if (answer.valueInteger !== undefined) return { valueInteger: answer.valueInteger };
  if (answer.valueDecimal !== undefined) return { valueQuantity: { value: answer.valueDecimal } };
  if (answer.valueQuantity) return { valueQuantity: { ...answer.valueQuantity } };
  if (answer.valueString !== undefined) return { valueString: answer.valueString };
  if (answer.valueUri !== undefined) return { valueString: answer.valueUri };
  if (answer.valueDate !== undefined) return { valueDateTime: answer.valueDate };
  if (answer.valueDateTime !== undefined) return { valueDateTime: answer.valueDateTime };
  if (answer.valueTime !== undefined) return { valueTime: answer.valueTime };
  return undefined;
}

interface Walk {
  readonly context: ExtractContext;
  /** Profile to declare for an extracted code (the DIALOG profiles), if any. */
  readonly profileFor: ProfileFor;
  readonly out: Extracted[];
  /** Occurrences of each linkId so far, so repeated groups get distinct parts. */
  readonly seen: Map<string, number>;
}

function partOf(walk: Walk, linkId: string): string {
  const n = walk.seen.get(linkId) ?? 0;
  walk.seen.set(linkId, n + 1);
  return n === 0 ? linkId : `${linkId}[${n}]`;
}

function profileOf(walk: Walk, compiled: CompiledItem): string | undefined {
  const profiles = compiled.profiles;
  if (profiles.has(walk.profileFor)) return profiles.get(walk.profileFor);
  const profile = walk.profileFor(compiled.code.map((c) => ({ ...c })));
  if (profiles.size > 8) profiles.clear();
  profiles.set(walk.profileFor, profile);
  return profile;
}

function extractItem(walk: Walk, item: QuestionnaireResponseItem, compiled: CompiledItem): void {
  const answers = item.answer ?? [];
  const base = partOf(walk, item.linkId);
  const profile = profileOf(walk, compiled);
  const extension = walk.context.contextExtensions;
  for (let i = 0; i < answers.length; i++) {
    const answer = answers[i] as QuestionnaireResponseItemAnswer;
    const value = valueOf(answer, compiledWeight(answer, compiled));
    if (!value) continue;
    const part = answers.length === 1 ? base : `${base}.answer[${i}]`;
    const observation: Observation = surveyObservation(walk.context, part, {
      ...(profile ? { profile } : {}),
      extension,
      code: compiled.code.map((c) => ({ ...c })),
    });
    // The value's elements, then derivedFrom: the order the Observation's JSON has.
    Object.assign(observation, value);
    observation.derivedFrom = [{ ...walk.context.responseReference }];
    walk.out.push({ part, observation });
  }
}

function walkItems(
  walk: Walk,
  items: readonly QuestionnaireResponseItem[] | undefined,
  definitions: readonly QuestionnaireItem[] | undefined,
  inherited: boolean,
): void {
  if (!items || items.length === 0 || !definitions) return;
  const byLinkId = compiledList(definitions);
  for (const item of items) {
    const compiled = byLinkId.get(item.linkId);
    if (!compiled) continue; // not in the form: validation reports it, extraction skips it
    const definition = compiled.definition;
    const extract = compiled.flag ?? inherited;
    if (extract && compiled.code.length > 0) extractItem(walk, item, compiled);
    walkItems(walk, item.item, definition.item, extract);
    if (item.answer)
      for (const answer of item.answer) walkItems(walk, answer.item, definition.item, extract);
  }
}

/** The Observations a response's answers give, in the response's item order. */
export function itemObservations(
  items: readonly QuestionnaireResponseItem[] | undefined,
  questionnaire: Questionnaire,
  context: ExtractContext,
  profileFor: ProfileFor = NO_PROFILE,
): Extracted[] {
  const walk: Walk = { context, profileFor, out: [], seen: new Map() };
  walkItems(walk, items, questionnaire.item, flagOf(questionnaire.extension) ?? false);
  return walk.out;
}
