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

function weightOf(
  answer: QuestionnaireResponseItemAnswer,
  definition: QuestionnaireItem,
): number | undefined {
  const coding = answer.valueCoding;
  if (!coding) return undefined;
  const option = definition.answerOption?.find(
    (o) => o.valueCoding?.code === coding.code && o.valueCoding?.system === coding.system,
  );
  const weight = (exts: readonly Extension[] | undefined): number | undefined =>
    exts?.find((e) => e.url === ITEM_WEIGHT)?.valueDecimal;
  // SDC allows the weight on the answerOption or on the answer's Coding itself.
  return weight(option?.extension) ?? weight(coding.extension);
}

/** The Observation value for an answer; undefined for answer types an Observation cannot hold. */
export function observationValue(
  answer: QuestionnaireResponseItemAnswer,
  definition: QuestionnaireItem,
): Partial<Observation> | undefined {
  const weight = weightOf(answer, definition);
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
  readonly profileFor: (code: Coding[]) => string | undefined;
  readonly out: Extracted[];
  /** Occurrences of each linkId so far, so repeated groups get distinct parts. */
  readonly seen: Map<string, number>;
}

function partOf(walk: Walk, linkId: string): string {
  const n = walk.seen.get(linkId) ?? 0;
  walk.seen.set(linkId, n + 1);
  return n === 0 ? linkId : `${linkId}[${n}]`;
}

function extractItem(
  walk: Walk,
  item: QuestionnaireResponseItem,
  definition: QuestionnaireItem,
): void {
  const answers = item.answer ?? [];
  const base = partOf(walk, item.linkId);
  const code = (definition.code ?? []).map(displayed);
  answers.forEach((answer, i) => {
    const value = observationValue(answer, definition);
    if (!value) return;
    const part = answers.length === 1 ? base : `${base}.answer[${i}]`;
    const profile = walk.profileFor(code);
    const observation: Observation = {
      ...surveyObservation(walk.context, part, {
        ...(profile ? { profile } : {}),
        extension: walk.context.contextExtensions,
        code,
      }),
      ...value,
      derivedFrom: [{ ...walk.context.responseReference }],
    };
    walk.out.push({ part, observation });
  });
}

function walkItems(
  walk: Walk,
  items: readonly QuestionnaireResponseItem[] | undefined,
  definitions: readonly QuestionnaireItem[] | undefined,
  inherited: boolean,
): void {
  for (const item of items ?? []) {
    const definition = definitions?.find((d) => d.linkId === item.linkId);
    if (!definition) continue; // not in the form: validation reports it, extraction skips it
    const extract = flagOf(definition.extension) ?? inherited;
    if (extract && definition.code?.length) extractItem(walk, item, definition);
    walkItems(walk, item.item, definition.item, extract);
    for (const answer of item.answer ?? []) walkItems(walk, answer.item, definition.item, extract);
  }
}

/** The Observations a response's answers give, in the response's item order. */
export function itemObservations(
  items: readonly QuestionnaireResponseItem[] | undefined,
  questionnaire: Questionnaire,
  context: ExtractContext,
  profileFor: (code: Coding[]) => string | undefined = () => undefined,
): Extracted[] {
  const walk: Walk = { context, profileFor, out: [], seen: new Map() };
  walkItems(walk, items, questionnaire.item, flagOf(questionnaire.extension) ?? false);
  return walk.out;
}
