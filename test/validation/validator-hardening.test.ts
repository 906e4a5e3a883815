import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { compileFhirPath, createValidator, hasErrors } from '../../src/validation';
import { MAX_ISSUES } from '../../src/validation/validator';
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

it('still accepts every valid example', () => {
  for (const { resource } of validExamples())
    expect(hasErrors(validator.validate(resource))).toBe(false);
});
