import type { OperationOutcome, Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import {
  createValidator,
  DIALOG_QUESTIONNAIRE,
  loadConformancePackage,
} from '../../src/validation';
import { loadFhirSchema } from '../../src/validation/fhir-schema';
import { responseSchema } from '../../src/validation/questionnaire-schema';
import { compileVerdict, type VerdictSignals } from '../../src/validation/schema-verdict';
import { validExamples } from '../support/examples';

// The DIALOG Questionnaire's compiled schema (the fast path for its responses) must not accept
// what the R4 schema refuses: a response it passes skips the R4 schema altogether.
const pkg = loadConformancePackage();
const validator = createValidator(pkg);
const questionnaire = pkg.questionnaire(DIALOG_QUESTIONNAIRE) as Questionnaire;
const fhir = loadFhirSchema();
const definitions = fhir.definitions as Record<string, Record<string, unknown>>;
const signals: VerdictSignals = { localReference: false, primitivePairs: false };
const gate = (() => {
  const schema = responseSchema(
    definitions.QuestionnaireResponse ?? {},
    questionnaire,
    pkg,
    true,
    definitions,
  );
  return compileVerdict(schema, schema, { fhir }, signals);
})();
const errors = (result: OperationOutcome) =>
  result.issue.filter((i) => i.severity === 'error').map((i) => [i.code, i.expression?.[0]]);

const journeyResponse = validExamples().find(
  (e) => e.resource.resourceType === 'QuestionnaireResponse',
)?.resource as QuestionnaireResponse;
/** The example response with its first score's answer changed by `change`. */
const withFirstScore = (change: (answer: Record<string, unknown>) => void): unknown => {
  const response = JSON.parse(JSON.stringify(journeyResponse)) as {
    item: { item: { item: { answer: Record<string, unknown>[] }[] }[] }[];
  };
  const answer = response.item[0]?.item[0]?.item[0]?.answer[0];
  if (!answer) throw new Error('the example has a first score');
  change(answer);
  return response;
};
const extension = { extension: [{ url: 'https://example.org/fhir/note', valueString: 'x' }] };

describe("a response's answers take _x for primitive values only", () => {
  it('passes the example as it is', () => {
    expect(gate(journeyResponse)).toBe(true);
  });

  it.each([
    ['extensions', extension],
    ['an id', { id: 'a' }],
  ])('refuses _valueCoding holding %s, as the R4 schema does (Coding is no primitive)', (_w, x) => {
    const response = withFirstScore((answer) => {
      answer._valueCoding = x;
    });
    expect(gate(response)).toBe(false);
    expect(errors(validator.validate(response))).toEqual([
      ['structure', 'QuestionnaireResponse.item[0].item[0].item[0].answer[0]._valueCoding'],
    ]);
  });
});

describe("a response's primitives take _x as the R4 schema here does", () => {
  /** The example response with its first item changed by `change`. */
  const withFirstItem = (change: (item: Record<string, unknown>) => void): unknown => {
    const response = JSON.parse(JSON.stringify(journeyResponse)) as {
      item: Record<string, unknown>[];
    };
    const item = response.item[0];
    if (!item) throw new Error('the example has an item');
    change(item);
    return response;
  };

  it('passes an id beside a linkId on the fast path (ele-1 holds: there is a value)', () => {
    const response = withFirstItem((item) => {
      item._linkId = { id: 'l' };
    });
    signals.primitivePairs = false;
    expect(gate(response)).toBe(true);
    expect(signals.primitivePairs).toBe(true);
    expect(errors(validator.validate(response))).toEqual([]);
  });

  it('does not signal for _x with extensions (ele-1 holds whatever the value)', () => {
    const response = withFirstItem((item) => {
      item._text = extension;
    });
    signals.primitivePairs = false;
    expect(gate(response)).toBe(true);
    expect(signals.primitivePairs).toBe(false);
  });

  it('refuses {} beside a text, at the element', () => {
    const response = withFirstItem((item) => {
      item._text = {};
    });
    expect(errors(validator.validate(response))).toEqual([
      ['structure', 'QuestionnaireResponse.item[0].text'],
    ]);
  });
});
