/**
 * Compiles a Questionnaire into a JSON schema for its responses, so ajv checks the response's
 * shape and its conformance to the Questionnaire in one pass (and faster than the generic R4
 * item schema, because each item is checked against its own definition only).
 *
 * This is the fast path: it says valid or not. questionnaire-conformance.ts stays the
 * specification and the source of the issues reported when a response fails; a test holds the
 * two to the same verdict on every example and on generated responses.
 */
import type {
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireItemAnswerOption,
} from '@medplum/fhirtypes';
import type { ConformancePackage } from './conformance';
import { singlePrimitiveExtensions } from './fhir-schema';
// One table of answer types for both: the fast path and the walker must agree on them.
import { ANSWER_TYPES, MAX_OCCURS } from './questionnaire-conformance';

type JsonSchema = Record<string, unknown>;

const FHIR = 'fhir#/definitions/';
/** A primitive's `_x`, as the R4 schema here has it (ele-1 judged with `x`: primitive-pairs.ts). */
const PRIMITIVE_EXTENSIONS = singlePrimitiveExtensions(FHIR);

/** The R4 datatype definition each answer property refers to. */
const VALUE_TYPE: Record<string, string> = {
  valueBoolean: 'boolean',
  valueDecimal: 'decimal',
  valueInteger: 'integer',
  valueDate: 'date',
  valueDateTime: 'dateTime',
  valueTime: 'time',
  valueString: 'string',
  valueUri: 'uri',
  valueAttachment: 'Attachment',
  valueCoding: 'Coding',
  valueQuantity: 'Quantity',
  valueReference: 'Reference',
};

const ELEMENT_PROPERTIES: Record<string, JsonSchema> = {
  id: { $ref: `${FHIR}string` },
  extension: { type: 'array', minItems: 1, items: { $ref: `${FHIR}Extension` } },
  modifierExtension: { type: 'array', minItems: 1, items: { $ref: `${FHIR}Extension` } },
};

/** Counting rules for one level of items, checked by the `questionnaireItems` keyword. */
export interface LevelRule {
  /** linkIds that may appear at most once. */
  readonly once: readonly string[];
  /** Group linkIds with a questionnaire-maxOccurs. */
  readonly maxOccurs: Readonly<Record<string, number>>;
  /** linkIds that must appear (only in the schema for completed responses). */
  readonly required: readonly string[];
}

/** The keyword carrying a LevelRule; schema-verdict.ts compiles it inline. */
export const QUESTIONNAIRE_ITEMS_KEYWORD = 'questionnaireItems';

/**
 * The QuestionnaireResponse definition with `item` replaced by the Questionnaire's own items.
 * `completed`: whether required items must be there (a response in progress may lack them).
 * `fhirDefinitions` (the R4 schema's definitions), when given, let a coded answer among the
 * item's options be checked without the FHIR string patterns (see `optionCoding`).
 */
export function responseSchema(
  baseResponse: JsonSchema,
  questionnaire: Questionnaire,
  pkg: ConformancePackage,
  completed: boolean,
  fhirDefinitions?: Readonly<Record<string, JsonSchema>>,
): JsonSchema {
  const ctx: Ctx = {
    pkg,
    completed,
    definitions: {},
    ...(fhirDefinitions ? { fhir: fhirDefinitions } : {}),
  };
  const base = qualifyRefs(baseResponse) as JsonSchema;
  const properties = { ...(base.properties as Record<string, JsonSchema>) };
  properties.item = itemList(questionnaire.item ?? [], ctx);
  return { ...base, properties, definitions: ctx.definitions };
}

interface Ctx {
  readonly pkg: ConformancePackage;
  readonly completed: boolean;
  /**
   * Each item's schema is a named definition reached by $ref, so ajv compiles it to a function of
   * its own: one function for the whole Questionnaire grows past the size V8 will optimise.
   */
  readonly definitions: Record<string, JsonSchema>;
  readonly fhir?: Readonly<Record<string, JsonSchema>>;
}

function named(ctx: Ctx, name: string, schema: JsonSchema): JsonSchema {
  const key = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  ctx.definitions[key] = schema;
  return { $ref: `#/definitions/${key}` };
}

function itemList(definitions: QuestionnaireItem[], ctx: Ctx): JsonSchema {
  const { completed } = ctx;
  const rule: LevelRule = {
    once: definitions.filter((d) => !d.repeats).map((d) => d.linkId),
    maxOccurs: Object.fromEntries(
      definitions.flatMap((d) => {
        const max = maxOccursOf(d);
        return d.type === 'group' && max !== undefined ? [[d.linkId, max]] : [];
      }),
    ),
    required: completed ? definitions.filter((d) => d.required).map((d) => d.linkId) : [],
  };
  return {
    type: 'array',
    minItems: 1,
    [QUESTIONNAIRE_ITEMS_KEYWORD]: rule,
    items: {
      type: 'object',
      required: ['linkId'],
      discriminator: { propertyName: 'linkId' },
      oneOf: definitions.map((d) => itemSchema(d, ctx)),
    },
  };
}

function maxOccursOf(definition: QuestionnaireItem): number | undefined {
  return definition.extension?.find((e) => e.url === MAX_OCCURS)?.valueInteger;
}

function itemSchema(definition: QuestionnaireItem, ctx: Ctx): JsonSchema {
  const { completed } = ctx;
  const properties: Record<string, JsonSchema> = {
    ...ELEMENT_PROPERTIES,
    linkId: { const: definition.linkId },
    _linkId: PRIMITIVE_EXTENSIONS,
    definition: { $ref: `${FHIR}uri` },
    _definition: PRIMITIVE_EXTENSIONS,
    // A response usually copies the item's text from its Questionnaire: that string is known
    // good, and comparing it is cheaper than the FHIR string pattern over long question texts.
    text: definition.text
      ? { anyOf: [{ const: definition.text }, { $ref: `${FHIR}string` }] }
      : { $ref: `${FHIR}string` },
    _text: PRIMITIVE_EXTENSIONS,
  };
  const children = definition.item ?? [];
  const isContainer = definition.type === 'group' || definition.type === 'display';
  if (isContainer) {
    properties.item = itemList(children, ctx);
  } else {
    properties.answer = answerList(definition, ctx);
  }
  const required = ['linkId'];
  if (!isContainer && completed && definition.required) required.push('answer');
  // A group whose children must be answered must have them, not just an empty place for them.
  if (isContainer && completed && children.some((c) => c.required)) required.push('item');
  // Each item's schema is a definition of its own; the discriminator finds its linkId there.
  return named(ctx, `item:${definition.linkId}`, {
    type: 'object',
    properties,
    additionalProperties: false,
    required,
  });
}

function answerList(definition: QuestionnaireItem, ctx: Ctx): JsonSchema {
  const { pkg } = ctx;
  const limit = definition.repeats ? maxOccursOf(definition) : 1;
  const valueProperties = allowedValues(definition);
  const properties: Record<string, JsonSchema> = { ...ELEMENT_PROPERTIES };
  for (const property of valueProperties) {
    properties[property] = valueSchema(definition, property, pkg, ctx.fhir);
    // R4 JSON has `_x` for primitives only: no `_valueCoding` (the R4 schema refuses it too).
    if (/^[a-z]/.test(VALUE_TYPE[property] ?? ''))
      properties[`_${property}`] = PRIMITIVE_EXTENSIONS;
  }
  if ((definition.item ?? []).length > 0) properties.item = itemList(definition.item ?? [], ctx);
  return {
    type: 'array',
    minItems: 1,
    ...(limit !== undefined ? { maxItems: limit } : {}),
    items: {
      type: 'object',
      properties,
      additionalProperties: false,
      // Exactly one value: one of the allowed properties, and no second one.
      oneOf: valueProperties.map((p) => valuePresent(definition, p)),
      ...(ctx.completed && (definition.item ?? []).some((c) => c.required)
        ? { required: ['item'] }
        : {}),
    },
  };
}

/**
 * The answer holds `property` as its value[x]: as the property, or, for a primitive, only as its
 * `_x` (extensions and no value, which R4 allows; `value.exists()` in FHIRPath), as the walker
 * (questionnaire-conformance.ts answerValues) counts it. Not for a `choice` item's options: a
 * value given only by extensions is none of them (the walker says so at the value).
 */
function valuePresent(definition: QuestionnaireItem, property: string): JsonSchema {
  const primitive = /^[a-z]/.test(VALUE_TYPE[property] ?? '');
  if (!primitive || (definition.type === 'choice' && definition.answerOption))
    return { required: [property] };
  return { anyOf: [{ required: [property] }, { required: [`_${property}`] }] };
}

/** Answer properties the item accepts; for a choice with options, only the options' types. */
function allowedValues(definition: QuestionnaireItem): readonly string[] {
  const allowed = ANSWER_TYPES[definition.type] ?? [];
  if (definition.type !== 'choice' || !definition.answerOption) return allowed;
  const used = new Set(
    definition.answerOption.flatMap((o) => Object.keys(o).filter((k) => k.startsWith('value'))),
  );
  return allowed.filter((p) => used.has(p));
}

function valueSchema(
  definition: QuestionnaireItem,
  property: string,
  pkg: ConformancePackage,
  fhir?: Readonly<Record<string, JsonSchema>>,
): JsonSchema {
  const base: JsonSchema = { $ref: `${FHIR}${VALUE_TYPE[property] ?? 'Element'}` };
  if (definition.type !== 'choice') return base;
  if (definition.answerOption) {
    const known =
      property === 'valueCoding' && fhir ? optionCoding(definition.answerOption, fhir) : undefined;
    return known ?? { allOf: [base, optionSchema(definition.answerOption, property)] };
  }
  if (property === 'valueCoding' && definition.answerValueSet) {
    const codes = pkg.valueSetCodes(definition.answerValueSet);
    if (codes) return { allOf: [base, codingIn([...codes].map(splitCode))] };
  }
  return base;
}

function splitCode(systemAndCode: string): { system?: string; code: string } {
  const bar = systemAndCode.lastIndexOf('|');
  return { system: systemAndCode.slice(0, bar), code: systemAndCode.slice(bar + 1) };
}

function optionSchema(options: QuestionnaireItemAnswerOption[], property: string): JsonSchema {
  if (property === 'valueCoding') {
    return codingIn(
      options.flatMap((o) =>
        o.valueCoding?.code ? [{ ...o.valueCoding, code: o.valueCoding.code }] : [],
      ),
    );
  }
  if (property === 'valueReference') {
    const references = options.flatMap((o) =>
      o.valueReference?.reference ? [o.valueReference.reference] : [],
    );
    return { properties: { reference: { enum: references } }, required: ['reference'] };
  }
  return {
    enum: options.flatMap((o) =>
      (o as Record<string, unknown>)[property] === undefined
        ? []
        : [(o as Record<string, unknown>)[property]],
    ),
  };
}

/**
 * `allOf: [Coding, codingIn(options)]` as one object schema, when every option has the same
 * system: the system is that constant and the code one of the options' codes, so the FHIR `uri`
 * and `code` patterns (regular expressions, run on every answer) need not run; a display equal
 * to an option's is known good before the `string` pattern is tried. Exactly the same verdict:
 * the constants are kept only where they meet those patterns themselves. Undefined otherwise.
 */
function optionCoding(
  options: QuestionnaireItemAnswerOption[],
  fhir: Readonly<Record<string, JsonSchema>>,
): JsonSchema | undefined {
  const coding = fhir.Coding;
  const codings = options.flatMap((o) => (o.valueCoding?.code ? [o.valueCoding] : []));
  const system = codings[0]?.system;
  if (!coding || system === undefined || codings.some((c) => c.system !== system)) return undefined;
  const meets = (type: string, value: string): boolean => {
    const pattern = fhir[type]?.pattern;
    return typeof pattern === 'string' && new RegExp(pattern, 'u').test(value);
  };
  if (!meets('uri', system)) return undefined;
  const codes = codings.flatMap((c) => (c.code && meets('code', c.code) ? [c.code] : []));
  const displays = codings.flatMap((c) =>
    c.display !== undefined && meets('string', c.display) ? [c.display] : [],
  );
  const properties = qualifyRefs(coding.properties) as Record<string, JsonSchema>;
  return {
    type: 'object',
    additionalProperties: false,
    required: ['code', 'system'],
    properties: {
      ...properties,
      system: { const: system },
      code: { enum: codes },
      display:
        displays.length > 0
          ? { anyOf: [{ enum: [...new Set(displays)] }, { $ref: `${FHIR}string` }] }
          : { $ref: `${FHIR}string` },
    },
  };
}

/** A Coding whose code is among `codings` (an option without a system matches any system). */
function codingIn(codings: { system?: string; code: string }[]): JsonSchema {
  const bySystem = new Map<string | undefined, string[]>();
  for (const c of codings) bySystem.set(c.system, [...(bySystem.get(c.system) ?? []), c.code]);
  const alternatives = [...bySystem].map(([system, codes]) => ({
    properties: {
      code: { enum: codes },
      ...(system !== undefined ? { system: { const: system } } : {}),
    },
    required: system !== undefined ? ['code', 'system'] : ['code'],
  }));
  return alternatives.length === 1 ? (alternatives[0] as JsonSchema) : { anyOf: alternatives };
}

/** `#/definitions/X` in a copied definition → `fhir#/definitions/X`. */
function qualifyRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(qualifyRefs);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/')
        ? `fhir${v}`
        : qualifyRefs(v),
    ]),
  );
}
