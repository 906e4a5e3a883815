/**
 * Checks a QuestionnaireResponse against its Questionnaire, for any Questionnaire (not only
 * DIALOG): every linkId exists where it is used, non-repeating items appear once, answers have
 * the item's type, coded answers are among its answerOptions or its (enumerable) answerValueSet,
 * `questionnaire-maxOccurs` holds, and required items are answered once the response is
 * completed (an in-progress response may be built up over several sittings).
 */
import type {
  OperationOutcomeIssue,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import type { ConformancePackage } from './conformance';
import { error } from './outcome';

export const MAX_OCCURS = 'http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs';

/** The answer property each item type takes (FHIR R4 QuestionnaireResponse rules). */
export const ANSWER_TYPES: Readonly<Record<string, readonly string[]>> = {
  boolean: ['valueBoolean'],
  decimal: ['valueDecimal'],
  integer: ['valueInteger'],
  date: ['valueDate'],
  dateTime: ['valueDateTime'],
  time: ['valueTime'],
  string: ['valueString'],
  text: ['valueString'],
  url: ['valueUri'],
  choice: [
    'valueCoding',
    'valueString',
    'valueInteger',
    'valueDate',
    'valueTime',
    'valueReference',
  ],
  'open-choice': [
    'valueCoding',
    'valueString',
    'valueInteger',
    'valueDate',
    'valueTime',
    'valueReference',
  ],
  attachment: ['valueAttachment'],
  reference: ['valueReference'],
  quantity: ['valueQuantity'],
};

const NO_ITEMS: QuestionnaireItem[] = [];

interface Context {
  readonly pkg: ConformancePackage;
  readonly completed: boolean;
  readonly issues: OperationOutcomeIssue[];
}

export function checkAgainstQuestionnaire(
  response: QuestionnaireResponse,
  questionnaire: Questionnaire,
  pkg: ConformancePackage,
): OperationOutcomeIssue[] {
  const ctx: Context = { pkg, completed: response.status === 'completed', issues: [] };
  checkItems(ctx, response.item ?? [], questionnaire.item ?? NO_ITEMS, 'QuestionnaireResponse');
  return ctx.issues;
}

function checkItems(
  ctx: Context,
  items: QuestionnaireResponseItem[],
  definitions: QuestionnaireItem[],
  parentPath: string,
): void {
  const byLinkId = indexOf(definitions);
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const path = `${parentPath}.item[${index}]`;
    const definition = byLinkId.get(item.linkId);
    if (!definition) {
      ctx.issues.push(
        error(
          'code-invalid',
          `linkId is not an item at this place in the Questionnaire`,
          `${path}.linkId`,
        ),
      );
      return;
    }
    const count = (seen.get(item.linkId) ?? 0) + 1;
    seen.set(item.linkId, count);
    if (count > 1 && !definition.repeats) {
      ctx.issues.push(
        error('structure', `Item ${item.linkId} does not repeat but appears ${count} times`, path),
      );
    }
    checkItem(ctx, item, definition, path);
  });
  for (const definition of definitions)
    checkOccurrences(ctx, definition, seen.get(definition.linkId) ?? 0, parentPath);
}

const indexes = new WeakMap<QuestionnaireItem[], Map<string, QuestionnaireItem>>();

/** linkId → item for one level of a Questionnaire, built once per level. */
function indexOf(definitions: QuestionnaireItem[]): Map<string, QuestionnaireItem> {
  let index = indexes.get(definitions);
  if (!index) {
    index = new Map(definitions.map((d) => [d.linkId, d]));
    indexes.set(definitions, index);
  }
  return index;
}

function checkOccurrences(
  ctx: Context,
  definition: QuestionnaireItem,
  count: number,
  parentPath: string,
): void {
  const maxOccurs = definition.extension?.find((e) => e.url === MAX_OCCURS)?.valueInteger;
  if (definition.type === 'group' && maxOccurs !== undefined && count > maxOccurs) {
    ctx.issues.push(
      error(
        'structure',
        `${definition.linkId} allows at most ${maxOccurs}, found ${count}`,
        parentPath,
      ),
    );
  }
  if (ctx.completed && definition.required && count === 0) {
    ctx.issues.push(error('required', `${definition.linkId} is required`, `${parentPath}.item`));
  }
}

function checkItem(
  ctx: Context,
  item: QuestionnaireResponseItem,
  definition: QuestionnaireItem,
  path: string,
): void {
  const answers = item.answer ?? [];
  if (definition.type === 'group' || definition.type === 'display') {
    if (answers.length > 0)
      ctx.issues.push(
        error('structure', `${definition.type} items have no answer`, `${path}.answer`),
      );
    checkItems(ctx, item.item ?? [], definition.item ?? NO_ITEMS, path);
    return;
  }
  const maxOccurs = definition.extension?.find((e) => e.url === MAX_OCCURS)?.valueInteger;
  const limit = definition.repeats ? (maxOccurs ?? Infinity) : 1;
  if (answers.length > limit) {
    ctx.issues.push(
      error(
        'structure',
        `${definition.linkId} allows at most ${limit} answer(s), found ${answers.length}`,
        `${path}.answer`,
      ),
    );
  }
  if (ctx.completed && definition.required && answers.length === 0) {
    ctx.issues.push(error('required', `${definition.linkId} needs an answer`, `${path}.answer`));
  }
  answers.forEach((answer, i) => {
    const answerPath = `${path}.answer[${i}]`;
    checkAnswer(ctx, answer, definition, answerPath);
    checkItems(ctx, answer.item ?? [], definition.item ?? NO_ITEMS, answerPath);
  });
  if (item.item && item.item.length > 0) {
    ctx.issues.push(
      error('structure', 'Items under a question belong under its answer', `${path}.item`),
    );
  }
}

function checkAnswer(
  ctx: Context,
  answer: QuestionnaireResponseItemAnswer,
  definition: QuestionnaireItem,
  path: string,
): void {
  const allowed = ANSWER_TYPES[definition.type] ?? [];
  const present = answerValues(answer);
  const [property] = present;
  if (present.length !== 1 || !property) {
    ctx.issues.push(error('structure', 'An answer has exactly one value', path));
    return;
  }
  const valuePath = `${path}.value.ofType(${typeName(property)})`;
  if (!allowed.includes(property)) {
    ctx.issues.push(
      error(
        'structure',
        `${definition.linkId} is a ${definition.type} item: its answer cannot be ${typeName(property)}`,
        valuePath,
      ),
    );
    return;
  }
  if (definition.answerOption) checkAnswerOption(ctx, answer, property, definition, valuePath);
  else if (definition.answerValueSet && answer.valueCoding)
    checkAnswerValueSet(ctx, answer, definition, valuePath);
}

/**
 * The value[x] properties an answer holds. A primitive given only through its `_x` (extensions,
 * no value: `{"_valueString": {"extension": [...]}}`) counts as that value[x], present: R4 allows
 * it (ele-1 holds through the extension; primitive-pairs.ts refuses one with none), and FHIRPath's
 * `answer.value.exists()` is true for it. So it is the answer's one value (beside `valueString` it
 * is the same one; beside `valueInteger` a second), of its type for the item's type. It holds no
 * value to compare, so it is none of a `choice` item's options (checkAnswerOption refuses it, as
 * the DIALOG Questionnaire's schema does); an `open-choice` takes it as any other answer.
 */
function answerValues(answer: QuestionnaireResponseItemAnswer): string[] {
  const keys = Object.keys(answer);
  const values = keys.filter((k) => k.startsWith('value'));
  for (const k of keys)
    if (k.startsWith('_value') && !values.includes(k.slice(1))) values.push(k.slice(1));
  return values;
}

function checkAnswerOption(
  ctx: Context,
  answer: QuestionnaireResponseItemAnswer,
  property: string,
  definition: QuestionnaireItem,
  valuePath: string,
): void {
  const value = (answer as Record<string, unknown>)[property];
  const options = definition.answerOption ?? [];
  const matches = options.some((option) => {
    const optionValue = (option as Record<string, unknown>)[property];
    // No value to compare (only its `_x`, here for any type a caller may send): no option.
    if (optionValue === undefined || value === undefined) return false;
    if (property === 'valueCoding') return sameCoding(optionValue, value);
    if (property === 'valueReference')
      return (
        (optionValue as { reference?: string }).reference ===
        (value as { reference?: string }).reference
      );
    return optionValue === value;
  });
  if (!matches && definition.type === 'choice') {
    const where = property === 'valueCoding' ? `${valuePath}.code` : valuePath;
    ctx.issues.push(
      error('code-invalid', `The answer to ${definition.linkId} is not one of its options`, where),
    );
  }
}

function sameCoding(a: unknown, b: unknown): boolean {
  const x = a as { system?: string; code?: string };
  const y = b as { system?: string; code?: string };
  return x.code === y.code && (x.system === undefined || x.system === y.system);
}

function checkAnswerValueSet(
  ctx: Context,
  answer: QuestionnaireResponseItemAnswer,
  definition: QuestionnaireItem,
  valuePath: string,
): void {
  const codes = ctx.pkg.valueSetCodes(definition.answerValueSet ?? '');
  const coding = answer.valueCoding;
  if (!codes || !coding) return;
  if (!codes.has(`${coding.system}|${coding.code}`) && definition.type === 'choice') {
    ctx.issues.push(
      error(
        'code-invalid',
        `The answer to ${definition.linkId} is not in its value set`,
        `${valuePath}.code`,
      ),
    );
  }
}

function typeName(property: string): string {
  const type = property.slice('value'.length);
  const primitive = /^(Boolean|Integer|Decimal|String|Date|DateTime|Time|Uri)$/.test(type);
  return primitive ? type.charAt(0).toLowerCase() + type.slice(1) : type;
}
