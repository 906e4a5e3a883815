/**
 * A primitive given only through its `_x`: extensions and no value
 * (`"_valueString": {"extension": [...]}` with no `valueString`). R4 allows it: ele-1 holds
 * through the extension, and FHIRPath's `value.exists()` is true for it. It was refused twice
 * over: in an extension, by ext-1 as this validator's schema had it (neither a value nor nested
 * extensions); in an answer, as "An answer has exactly one value" (no value[x] property at all),
 * by the DIALOG Questionnaire's schema and by the walker for any Questionnaire. Medplum 4.5.2
 * accepts both, as fhirpath.js's ext-1 does.
 */
import Ajv from 'ajv';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type {
  OperationOutcome,
  Questionnaire,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import {
  createValidator,
  DIALOG_QUESTIONNAIRE,
  loadConformancePackage,
} from '../../src/validation';
import { addFhirKeywords, loadFhirSchema } from '../../src/validation/fhir-schema';
import { checkAgainstQuestionnaire } from '../../src/validation/questionnaire-conformance';
import { responseSchema } from '../../src/validation/questionnaire-schema';
import { compileVerdict } from '../../src/validation/schema-verdict';
import { validExamples } from '../support/examples';
import { medplumIssues } from '../support/medplum';

const model = r4 as Parameters<typeof fhirpath.evaluate>[3];
const pkg = loadConformancePackage();
const validator = createValidator(pkg);
const errors = (result: OperationOutcome) =>
  result.issue
    .filter((i) => i.severity === 'error')
    .map((i) => ({ code: i.code, expression: i.expression?.[0] }));

const note = { extension: [{ url: 'http://example.org/fhir/note', valueString: 'y' }] };
const withExtension = (extension: Record<string, unknown>): Resource =>
  ({
    resourceType: 'Patient',
    extension: [{ url: 'http://example.org/fhir/a', ...extension }],
  }) as unknown as Resource;

const fhir = loadFhirSchema();
const definitions = fhir.definitions as Record<string, Record<string, unknown>>;
const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
addFhirKeywords(ajv);
ajv.addSchema(fhir, 'fhir');
const fastPatient = compileVerdict(definitions.Patient ?? {}, fhir, { fhir });
const ajvPatient = ajv.getSchema('fhir#/definitions/Patient');

describe('an extension whose value is given only through _valueX', () => {
  it.each([
    ['_valueString with extensions', { _valueString: note }],
    ['_valueBoolean with an id and extensions', { _valueBoolean: { id: 'b', ...note } }],
  ])('accepts %s (ext-1 holds: the value exists), as Medplum does', (_w, extension) => {
    const resource = withExtension(extension);
    expect(errors(validator.validate(resource))).toEqual([]);
    expect(medplumIssues(resource)).toEqual([]);
    expect(fhirpath.evaluate(resource, 'Patient.extension.value.exists()', {}, model)).toEqual([
      true,
    ]);
    // Both layers of the schema agree: the fast path and ajv.
    expect(fastPatient(resource)).toBe(true);
    expect(ajvPatient?.(resource)).toBe(true);
  });

  it('still refuses it beside nested extensions (ext-1: both), as Medplum does', () => {
    const resource = withExtension({ extension: note.extension, _valueString: note });
    expect(errors(validator.validate(resource))).toEqual([
      { code: 'structure', expression: 'Patient.extension[0]' },
    ]);
    expect(medplumIssues(resource)).not.toEqual([]);
    expect(fastPatient(resource)).toBe(false);
  });

  it('refuses _valueString holding an id alone as ele-1 at the value (Medplum 4.5.2 accepts it)', () => {
    const resource = withExtension({ _valueString: { id: 'only-id' } });
    expect(errors(validator.validate(resource))).toEqual([
      { code: 'invariant', expression: 'Patient.extension[0].value.ofType(string)' },
    ]);
    expect(medplumIssues(resource)).toEqual([]);
  });

  it('still refuses an extension with neither', () => {
    expect(errors(validator.validate(withExtension({})))).toEqual([
      { code: 'structure', expression: 'Patient.extension[0]' },
    ]);
  });
});

type Answer = Record<string, unknown>;
type Item = { linkId: string; answer?: Answer[]; item?: Item[] };

/** A copy of the DIALOG example response with the first answer to `linkId` changed. */
function changedAnswer(
  example: QuestionnaireResponse,
  linkId: string,
  change: (answer: Answer) => void,
): { response: QuestionnaireResponse; path: string } {
  const response = JSON.parse(JSON.stringify(example)) as QuestionnaireResponse;
  const find = (items: Item[] | undefined, at: string): string | undefined => {
    for (const [i, item] of (items ?? []).entries()) {
      const path = `${at}.item[${i}]`;
      const answer = item.answer?.[0];
      if (item.linkId === linkId && answer) {
        change(answer);
        return `${path}.answer[0]`;
      }
      const found =
        find(item.item, path) ??
        (item.answer ?? []).reduce<string | undefined>(
          (done, a, j) => done ?? find(a.item as Item[] | undefined, `${path}.answer[${j}]`),
          undefined,
        );
      if (found) return found;
    }
    return undefined;
  };
  const path = find(response.item as Item[], 'QuestionnaireResponse');
  if (!path) throw new Error(`no answer to ${linkId} in the example`);
  return { response, path };
}

const dialogResponses = validExamples()
  .map((e) => e.resource)
  .filter(
    (r): r is QuestionnaireResponse =>
      r.resourceType === 'QuestionnaireResponse' && r.status === 'completed',
  );
/** The first completed example with an answer to linkId. */
function exampleWith(linkId: string): QuestionnaireResponse {
  const found = dialogResponses.find((r) => JSON.stringify(r).includes(`"linkId":"${linkId}"`));
  if (!found) throw new Error(`no example answers ${linkId}`);
  return found;
}

const dialog = pkg.questionnaire(DIALOG_QUESTIONNAIRE) as Questionnaire;
const completedGate = (() => {
  const schema = responseSchema(
    definitions.QuestionnaireResponse ?? {},
    dialog,
    pkg,
    true,
    definitions,
  );
  return compileVerdict(schema, schema, { fhir });
})();

describe('a DIALOG answer given only through _valueX', () => {
  it.each([
    ['an action (string, required)', 'discussed-item.action.what', 'valueString'],
    ['an understanding (text)', 'discussed-item.understanding', 'valueString'],
    ['help wanted (boolean)', 'mental-health.help', 'valueBoolean'],
  ])('accepts %s: the value[x] is there, as that type', (_w, linkId, property) => {
    const { response } = changedAnswer(exampleWith(linkId), linkId, (answer) => {
      expect(answer[property]).toBeDefined();
      Reflect.deleteProperty(answer, property);
      answer[`_${property}`] = note;
    });
    expect(errors(validator.validate(response))).toEqual([]);
    expect(completedGate(response)).toBe(true);
    expect(checkAgainstQuestionnaire(response, dialog, pkg)).toEqual([]);
    expect(medplumIssues(response)).toEqual([]);
  });

  it('refuses an id alone there as ele-1 at the value', () => {
    const linkId = 'discussed-item.understanding';
    const { response, path } = changedAnswer(exampleWith(linkId), linkId, (answer) => {
      delete answer.valueString;
      answer._valueString = { id: 'only-id' };
    });
    expect(errors(validator.validate(response))).toEqual([
      { code: 'invariant', expression: `${path}.value.ofType(string)` },
    ]);
  });

  // The choice made: a value given only by extensions holds nothing to compare, so it is none of
  // a closed choice's options.
  it("refuses it for a choice's options (previous-action.status), at the value", () => {
    const linkId = 'previous-action.status';
    const { response, path } = changedAnswer(exampleWith(linkId), linkId, (answer) => {
      delete answer.valueString;
      answer._valueString = note;
    });
    expect(completedGate(response)).toBe(false);
    expect(errors(validator.validate(response))).toEqual([
      { code: 'code-invalid', expression: `${path}.value.ofType(string)` },
    ]);
  });
});

describe('the walker, for any Questionnaire', () => {
  const questionnaire: Questionnaire = {
    resourceType: 'Questionnaire',
    status: 'active',
    item: [
      { linkId: 's', type: 'string', required: true },
      { linkId: 'i', type: 'integer' },
      {
        linkId: 'c',
        type: 'choice',
        answerOption: [{ valueString: 'a' }, { valueString: 'b' }],
      },
      { linkId: 'o', type: 'open-choice', answerOption: [{ valueString: 'a' }] },
      { linkId: 'k', type: 'choice', answerOption: [{ valueCoding: { code: 'a' } }] },
      { linkId: 'r', type: 'choice', answerOption: [{ valueReference: { reference: 'X/1' } }] },
    ],
  };
  const respond = (items: Item[]): QuestionnaireResponse =>
    ({ resourceType: 'QuestionnaireResponse', status: 'completed', item: items }) as never;
  const issues = (items: Item[]) =>
    checkAgainstQuestionnaire(respond(items), questionnaire, pkg).map((i) => [
      i.code,
      i.expression?.[0],
      i.details?.text,
    ]);

  it('counts _valueString alone as the answer (a required item is answered)', () => {
    expect(issues([{ linkId: 's', answer: [{ _valueString: note }] }])).toEqual([]);
    expect(issues([{ linkId: 's', answer: [{ valueString: 'x', _valueString: note }] }])).toEqual(
      [],
    );
  });

  it('judges its type by the property: a string is no answer to an integer item', () => {
    expect(
      issues([
        { linkId: 's', answer: [{ valueString: 'x' }] },
        { linkId: 'i', answer: [{ _valueString: note }] },
      ]),
    ).toEqual([
      [
        'structure',
        'QuestionnaireResponse.item[1].answer[0].value.ofType(string)',
        'i is a integer item: its answer cannot be string',
      ],
    ]);
  });

  it('counts it beside another type as a second value', () => {
    expect(
      issues([
        { linkId: 's', answer: [{ valueString: 'x' }] },
        { linkId: 'i', answer: [{ valueInteger: 1, _valueString: note }] },
      ]),
    ).toEqual([
      ['structure', 'QuestionnaireResponse.item[1].answer[0]', 'An answer has exactly one value'],
    ]);
  });

  it("is none of a choice's options, and taken by an open-choice", () => {
    expect(
      issues([
        { linkId: 's', answer: [{ valueString: 'x' }] },
        { linkId: 'c', answer: [{ _valueString: note }] },
        { linkId: 'o', answer: [{ _valueString: note }] },
      ]),
    ).toEqual([
      [
        'code-invalid',
        'QuestionnaireResponse.item[1].answer[0].value.ofType(string)',
        'The answer to c is not one of its options',
      ],
    ]);
  });

  // JSON gives complex types no `_x` form, and primitive-pairs.ts refuses these before the
  // walker; called on its own (it is exported), the walker still answers rather than throws.
  it('takes a complex type given as _x (_valueCoding, _valueReference) for no option, not a crash', () => {
    expect(
      issues([
        { linkId: 's', answer: [{ valueString: 'x' }] },
        { linkId: 'k', answer: [{ _valueCoding: note } as never] },
        { linkId: 'r', answer: [{ _valueReference: note } as never] },
      ]).map(([code, at]) => [code, at]),
    ).toEqual([
      ['code-invalid', 'QuestionnaireResponse.item[1].answer[0].value.ofType(Coding).code'],
      ['code-invalid', 'QuestionnaireResponse.item[2].answer[0].value.ofType(Reference)'],
    ]);
  });
});
