import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { compileFhirPath, createValidator, hasErrors } from '../../src/validation';
import Ajv from 'ajv';
import { addFhirKeywords, ELEMENT_KEYWORD } from '../../src/validation/fhir-schema';
import { MAX_ISSUES, refusedIssues, schemaIssues } from '../../src/validation/validator';
import { validExamples } from '../support/examples';

// Hostile and unusual input, found in review: each must get an OperationOutcome, never a throw,
// never "All OK" for something invalid, and never an echo of the caller's text.
const validator = createValidator();
const errors = (result: OperationOutcome) => result.issue.filter((i) => i.severity === 'error');
const journeyResponse = validExamples().find(
  (e) => e.resource.resourceType === 'QuestionnaireResponse',
)?.resource as Resource & {
  extension: { url: string; valueCoding?: unknown; valueString?: string }[];
};

describe('hostile shapes', () => {
  it('answers nesting 10,000 deep with too-costly instead of overflowing the stack', () => {
    // Built as text: JSON.stringify itself cannot go this deep.
    const depth = 10000;
    const nested =
      '{"url":"x","extension":['.repeat(depth) +
      '{"url":"x","valueString":"end"}' +
      ']}'.repeat(depth);
    const text = `{"resourceType":"Patient","extension":[${nested}]}`;
    const { outcome } = validator.validateJson(text);
    expect(errors(outcome)).toEqual([expect.objectContaining({ code: 'too-costly' })]);
  });

  it.each(['Resource', 'DomainResource', 'ResourceList', 'Coding', 'Project'])(
    'does not take %s for a resource type',
    (resourceType) => {
      const result = validator.validate({ resourceType, anything: 'Jane Smith' });
      expect(errors(result)).toEqual([
        expect.objectContaining({ code: 'not-supported', expression: ['Resource.resourceType'] }),
      ]);
      expect(JSON.stringify(result)).not.toContain('Jane');
    },
  );

  it('names an unknown property in the message only when it is a plain name', () => {
    const result = validator.validate({ resourceType: 'Patient', 'Jane Smith 9434765919': 1 });
    expect(errors(result)).toEqual([
      expect.objectContaining({
        code: 'structure',
        expression: ['Patient.`Jane Smith 9434765919`'],
      }),
    ]);
    expect(result.issue[0]?.details?.text).not.toContain('Jane');
  });

  it(`lists at most ${MAX_ISSUES} issues`, () => {
    const resource = {
      resourceType: 'Patient',
      name: Array.from({ length: 500 }, () => ({ given: [7] })),
    };
    const result = validator.validate(resource);
    expect(result.issue).toHaveLength(MAX_ISSUES + 1);
    expect(result.issue[MAX_ISSUES]?.diagnostics).toMatch(/more issue/);
  });
});

describe('resources inside resources', () => {
  it('validates contained resources in full, at their path', () => {
    const plan = {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 'plan',
      subject: { reference: 'Patient/1' },
      contained: [
        {
          resourceType: 'Observation',
          id: 'o',
          status: 'nonsense',
          code: { text: 'x' },
          valueInteger: 'seven',
        },
      ],
    };
    const found = errors(validator.validate(plan)).map((i) => i.expression?.[0]);
    expect(found).toEqual(
      expect.arrayContaining([
        'CarePlan.contained[0].status',
        'CarePlan.contained[0].value.ofType(integer)',
      ]),
    );
  });
});

describe('profiles', () => {
  it("applies an extension's own definition to its slice", () => {
    const response = JSON.parse(JSON.stringify(journeyResponse)) as typeof journeyResponse;
    const timepoint = response.extension.find((e) => e.url.endsWith('dialog-timepoint'));
    if (!timepoint) throw new Error('the example has a timepoint');
    delete timepoint.valueCoding;
    timepoint.valueString = 'Jane Smith';
    const found = errors(validator.validate(response));
    expect(found.length).toBeGreaterThan(0);
    expect(found.map((i) => i.expression?.[0])).toContainEqual(
      expect.stringMatching(/^QuestionnaireResponse\.extension\[\d\]/),
    );
  });

  it('does not let text alone meet a required binding', () => {
    const score = validExamples().find((e) => e.resource.id === 'obs-01-mental-health-score')
      ?.resource as Resource & {
      code: unknown;
    };
    const edited = { ...score, code: { text: 'Jane is unhappy' } };
    expect(errors(validator.validate(edited))).toContainEqual(
      expect.objectContaining({ code: 'code-invalid', expression: ['Observation.code.coding'] }),
    );
  });

  it('refuses a requested profile that is unknown or for another resource type', () => {
    const patient = { resourceType: 'Patient' };
    expect(
      errors(validator.validate(patient, { profile: 'https://example.org/nope' }))[0]?.code,
    ).toBe('not-found');
    const carePlan = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-care-plan';
    expect(errors(validator.validate(patient, { profile: carePlan }))[0]?.code).toBe('invalid');
  });
});

describe('required code bindings the R4 JSON schema leaves open', () => {
  const plan = {
    resourceType: 'CarePlan',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p' },
    activity: [{ detail: { status: 'in-progress', description: 'Walk daily' } }],
  };

  it.each([
    ['CarePlan.status', { ...plan, status: 'half-done' }],
    ['CarePlan.intent', { ...plan, intent: 'wish' }],
    [
      'CarePlan.activity[0].detail.status',
      { ...plan, activity: [{ detail: { status: 'nearly' } }] },
    ],
    [
      'Bundle.entry[0].request.method',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'FETCH', url: 'Patient/p' } }],
      },
    ],
  ])('refuses a code outside the value set at %s', (where, resource) => {
    const found = errors(validator.validate(resource as Resource));
    expect(found).toEqual([expect.objectContaining({ code: 'code-invalid', expression: [where] })]);
  });

  it('accepts the codes those value sets hold, and any code where the value set is open', () => {
    expect(errors(validator.validate(plan as Resource))).toEqual([]);
    const binary = { resourceType: 'Binary', contentType: 'application/x-dialog-test' };
    expect(errors(validator.validate(binary as Resource))).toEqual([]);
  });
});

describe('compiled FHIRPath matches fhirpath.js where review found it did not', () => {
  const model = r4 as Parameters<typeof fhirpath.evaluate>[3];
  const cases: [string, string, object][] = [
    [
      'a leading type name',
      "Appointment.cancelationReason.exists() implies Appointment.status = 'cancelled'",
      { resourceType: 'Appointment', status: 'booked', cancelationReason: { text: 'x' } },
    ],
    [
      'instants with offsets',
      'authoredOn <= lastModified',
      {
        resourceType: 'Task',
        authoredOn: '2024-01-01T10:00:00Z',
        lastModified: '2024-01-01T11:00:00+05:00',
      },
    ],
    [
      'a value given only by extensions',
      'dataAbsentReason.empty() or value.empty()',
      {
        resourceType: 'Observation',
        dataAbsentReason: { text: 'x' },
        _valueString: { extension: [{ url: 'u', valueCode: 'c' }] },
      },
    ],
  ];
  it.each(cases)('%s', (_desc, expression, resource) => {
    expect(compileFhirPath(expression)(resource)).toEqual(
      fhirpath.evaluate(resource, expression, { resource }, model),
    );
  });

  it('intersects long lists in one pass', () => {
    const codings = Array.from({ length: 4000 }, (_, i) => ({ system: 's', code: String(i) }));
    const resource = {
      resourceType: 'Observation',
      code: { coding: codings },
      component: [{ code: { coding: codings } }],
    };
    expect(
      compileFhirPath('component.code.coding.intersect(%resource.code.coding).count()')(resource),
    ).toEqual([4000]);
  });
});

describe('a refusal by the schema is never silent (review 2026-11-24 s5, finding 4)', () => {
  // The shape eb1a520 gave _x entries, with ele-1 still on them: ajv reports ele-1 and the `if`
  // around it at the same place; skipping the `if` dropped the ele-1 with it, and no issue at
  // all read as valid. Real ajv errors, from a small schema of that shape.
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFhirKeywords(ajv);
  const element = {
    type: 'object',
    properties: { id: { type: 'string' }, extension: { type: 'array' } },
    additionalProperties: false,
    [ELEMENT_KEYWORD]: true,
  };
  const entry = { if: { type: 'null' }, then: {}, else: element };
  const check = ajv.compile({
    type: 'object',
    properties: {
      name: {
        type: 'array',
        items: { type: 'object', properties: { _given: { type: 'array', items: entry } } },
      },
    },
  });

  it.each([
    ['{}', {}],
    ['an id alone', { id: 'only-id' }],
  ])('reports ele-1 beside the if it sits in (%s)', (_what, value) => {
    const resource = { resourceType: 'Patient', name: [{ _given: [value] }] };
    expect(check(resource)).toBe(false);
    const errors = check.errors ?? [];
    expect(errors.map((e) => e.keyword).sort()).toEqual([ELEMENT_KEYWORD, 'if']);
    expect(
      schemaIssues(errors, 'Patient', resource).map((i) => [i.code, i.expression?.[0]]),
    ).toEqual([['invariant', 'Patient.name[0].given[0]']]);
  });

  it('still reports an empty element by what it lacks, not by ele-1 too', () => {
    const issues = schemaIssues(
      [
        {
          keyword: ELEMENT_KEYWORD,
          instancePath: '/text',
          schemaPath: '#/fhirElement',
          params: {},
        },
        {
          keyword: 'required',
          instancePath: '/text',
          schemaPath: '#/required',
          params: { missingProperty: 'div' },
        },
      ],
      'Patient',
      { resourceType: 'Patient', text: {} },
    );
    expect(issues.map((i) => [i.code, i.expression?.[0]])).toEqual([
      ['required', 'Patient.text.div'],
    ]);
  });

  it('refuses a resource the schema failed when no issue says why', () => {
    const only = schemaIssues(
      [{ keyword: 'if', instancePath: '/name/0', schemaPath: '#/if', params: {} }],
      'Patient',
      {},
    );
    expect(only).toEqual([]);
    const refused = refusedIssues(only, 'Patient');
    expect(refused).toEqual([
      expect.objectContaining({ severity: 'error', code: 'structure', expression: ['Patient'] }),
    ]);
    expect(hasErrors({ resourceType: 'OperationOutcome', issue: refused })).toBe(true);
  });

  it('leaves the issues as they are when there are some', () => {
    const issues = schemaIssues(
      [
        {
          keyword: 'type',
          instancePath: '/active',
          schemaPath: '#/type',
          params: { type: 'boolean' },
        },
      ],
      'Patient',
      { active: 'yes' },
    );
    expect(refusedIssues(issues, 'Patient')).toBe(issues);
  });
});

it('still accepts every valid example', () => {
  for (const { resource } of validExamples())
    expect(hasErrors(validator.validate(resource))).toBe(false);
});
