import Ajv from 'ajv';
import fc from 'fast-check';
import type { QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { loadConformancePackage } from '../../src/validation';
import { addFhirKeywords, loadFhirSchema } from '../../src/validation/fhir-schema';
import { checkAgainstQuestionnaire } from '../../src/validation/questionnaire-conformance';
import { responseSchema } from '../../src/validation/questionnaire-schema';
import { compileVerdict } from '../../src/validation/schema-verdict';
import { invalidExamples, validExamples } from '../support/examples';

// The fast path must give ajv's verdict (and, for responses, ajv + the Questionnaire walker's):
// it decides alone when a resource is valid.
const fhir = loadFhirSchema();
const definitions = fhir.definitions as Record<string, Record<string, unknown>>;
const pkg = loadConformancePackage();
const found = pkg.questionnaire('https://dialog-fhir.org/fhir/Questionnaire/dialog');
if (!found) throw new Error('the DIALOG Questionnaire is missing from the package');
const questionnaire = found;
const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
addFhirKeywords(ajv);
ajv.addSchema(fhir, 'fhir');

const verdicts = new Map<string, (d: unknown) => boolean>();
function fastBase(type: string): (d: unknown) => boolean {
  let verdict = verdicts.get(type);
  if (!verdict) {
    verdict = compileVerdict(definitions[type] ?? {}, fhir, { fhir });
    verdicts.set(type, verdict);
  }
  return verdict;
}
const gates = [false, true].map((completed) => {
  const schema = responseSchema(
    definitions.QuestionnaireResponse ?? {},
    questionnaire,
    pkg,
    completed,
    definitions,
  );
  return compileVerdict(schema, schema, { fhir });
});

function referenceVerdict(resource: Resource): boolean {
  const schema = ajv.getSchema(`fhir#/definitions/${resource.resourceType}`);
  return schema ? schema(resource) === true : false;
}

function gateAgrees(response: QuestionnaireResponse): void {
  const gate = gates[response.status === 'completed' ? 1 : 0] as (d: unknown) => boolean;
  // The walker assumes the R4 schema held (as in the validator), so it runs only then.
  const expected =
    referenceVerdict(response) &&
    checkAgainstQuestionnaire(response, questionnaire, pkg).length === 0;
  expect(gate(response)).toBe(expected);
}

const examples: Resource[] = [
  ...validExamples().map((e) => e.resource),
  ...invalidExamples().map((c) => c.resource),
];
const responses = examples.filter(
  (r): r is QuestionnaireResponse => r.resourceType === 'QuestionnaireResponse',
);

/** A random edit somewhere in a JSON document: the kinds of fault the bad-input corpus holds. */
const edit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('delete', 'replace', 'duplicate', 'add'),
  value: fc.constantFrom<unknown>(
    null,
    0,
    8,
    7.5,
    '7',
    '',
    'x y',
    [],
    {},
    true,
    { code: '8' },
    [{ linkId: 'x' }],
    '2026-03-29T10:00',
    // ele-1, the characters no FHIR string holds, and a local reference (a signal, not a fault).
    { id: 'a' },
    'a\u0000b',
    'a\ud800',
    '\u001f',
    { reference: '#x' },
  ),
  key: fc.constantFrom(
    'foo',
    '__proto__',
    'linkId',
    'answer',
    'item',
    'valueCoding',
    'valueInteger',
    'extension',
    'code',
  ),
});

function mutate(
  document: unknown,
  change: { at: number; kind: string; value: unknown; key: string },
): unknown {
  const copy = JSON.parse(JSON.stringify(document)) as unknown;
  const containers: (Record<string, unknown> | unknown[])[] = [];
  const walk = (node: unknown): void => {
    if (node !== null && typeof node === 'object') {
      containers.push(node as Record<string, unknown>);
      Object.values(node).forEach(walk);
    }
  };
  walk(copy);
  const target = containers[change.at % containers.length];
  if (!target) return copy;
  if (Array.isArray(target)) {
    if (change.kind === 'delete') target.pop();
    else if (change.kind === 'duplicate' && target.length > 0)
      target.push(JSON.parse(JSON.stringify(target[0])));
    else target.push(change.value);
  } else {
    const keys = Object.keys(target);
    const key = keys[change.at % Math.max(keys.length, 1)];
    if (change.kind === 'delete' && key) Reflect.deleteProperty(target, key);
    else if (change.kind === 'replace' && key) target[key] = change.value;
    else if (change.kind === 'add')
      Object.defineProperty(target, change.key, {
        value: change.value,
        enumerable: true,
        configurable: true,
        writable: true,
      });
    else if (key) target[key] = JSON.parse(JSON.stringify([target[key], target[key]]));
  }
  return JSON.parse(JSON.stringify(copy));
}

describe('fast schema verdicts agree with ajv', () => {
  it.each(examples.map((r) => [`${r.resourceType}/${r.id}`, r] as const))(
    '%s',
    (_name, resource) => {
      expect(fastBase(resource.resourceType)(resource)).toBe(referenceVerdict(resource));
    },
  );

  it('on random edits of every example', () => {
    fc.assert(
      fc.property(fc.constantFrom(...examples), edit, (resource, change) => {
        const edited = mutate(resource, change) as Resource;
        const type =
          typeof edited?.resourceType === 'string' && definitions[edited.resourceType]
            ? edited.resourceType
            : resource.resourceType;
        const schema = ajv.getSchema(`fhir#/definitions/${type}`);
        expect(fastBase(type)(edited)).toBe(schema?.(edited) === true);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('the compiled Questionnaire agrees with ajv and the Questionnaire walker', () => {
  it.each(responses.map((r) => [r.id ?? '', r] as const))('%s', (_id, response) =>
    gateAgrees(response),
  );

  it('on random edits of every response', () => {
    fc.assert(
      fc.property(fc.constantFrom(...responses), edit, (response, change) => {
        const edited = mutate(response, change) as QuestionnaireResponse;
        if (edited?.resourceType !== 'QuestionnaireResponse') return;
        gateAgrees(edited);
      }),
      { numRuns: 3000 },
    );
  });
});
