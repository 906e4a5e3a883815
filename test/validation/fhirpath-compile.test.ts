import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import fc from 'fast-check';
import { compileFhirPath, createValidator, loadConformancePackage } from '../../src/validation';
import { invalidExamples, validExamples } from '../support/examples';

const model = r4 as Parameters<typeof fhirpath.evaluate>[3];
const slow = (resource: object, expression: string): unknown[] =>
  fhirpath.evaluate(resource, expression, { resource }, model) as unknown[];

/** Conformance cases as data, fhirpath.js style: description, expression, resource, result. */
const cases: { desc: string; expression: string; resource: object; result: unknown[] }[] = [
  {
    desc: 'member on a list',
    expression: 'name.given',
    resource: { resourceType: 'Patient', name: [{ given: ['A', 'B'] }, { given: ['C'] }] },
    result: ['A', 'B', 'C'],
  },
  {
    desc: 'choice type by suffix',
    expression: 'value.ofType(integer)',
    resource: { resourceType: 'Observation', valueInteger: 5 },
    result: [5],
  },
  {
    desc: 'choice type mismatch is empty',
    expression: 'value.ofType(Quantity)',
    resource: { resourceType: 'Observation', valueInteger: 5 },
    result: [],
  },
  {
    desc: 'implies with empty left',
    expression: 'source.exists() implies source.reference = subject.reference',
    resource: { resourceType: 'QuestionnaireResponse' },
    result: [true],
  },
  {
    desc: 'equality with empty is empty',
    expression: 'id = 1',
    resource: { resourceType: 'Patient' },
    result: [],
  },
  {
    desc: 'decimal subtraction keeps precision',
    expression: '4.1 - 3.2 = 0.9',
    resource: { resourceType: 'Patient' },
    result: [true],
  },
  {
    desc: 'iif',
    expression: "iif(active, 'yes', 'no')",
    resource: { resourceType: 'Patient', active: false },
    result: ['no'],
  },
  {
    desc: 'in a union',
    expression: "gender in ('male' | 'female')",
    resource: { resourceType: 'Patient', gender: 'female' },
    result: [true],
  },
  {
    desc: 'where + count',
    expression: "telecom.where(system = 'phone').count()",
    resource: {
      resourceType: 'Patient',
      telecom: [{ system: 'phone' }, { system: 'email' }, { system: 'phone' }],
    },
    result: [2],
  },
  {
    desc: 'all on empty is true',
    expression: 'name.all(given.exists())',
    resource: { resourceType: 'Patient' },
    result: [true],
  },
  {
    desc: 'not of empty is empty',
    expression: 'active.not()',
    resource: { resourceType: 'Patient' },
    result: [],
  },
  {
    desc: 'endsWith',
    expression: "id.endsWith('.score')",
    resource: { resourceType: 'Patient', id: 'x.score' },
    result: [true],
  },
  {
    desc: 'repeat',
    expression: 'repeat(item).count()',
    resource: {
      resourceType: 'QuestionnaireResponse',
      item: [{ linkId: 'a', item: [{ linkId: 'b' }] }],
    },
    result: [2],
  },
];

describe('compiled FHIRPath', () => {
  it.each(cases.map((c) => [c.desc, c] as const))('%s', (_desc, c) => {
    expect(compileFhirPath(c.expression)(c.resource)).toEqual(c.result);
    expect(slow(c.resource, c.expression)).toEqual(c.result);
  });

  const validator = createValidator();
  const invariants = loadConformancePackage()
    .resources.filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource')
    .flatMap((r) => validator.profile((r as { url: string }).url)?.invariants ?? []);
  const resources = [
    ...validExamples().map((e) => e.resource),
    ...invalidExamples().map((c) => c.resource),
  ];

  it('compiles every invariant of the dialog-fhir profiles to JavaScript', () => {
    expect(invariants.length).toBeGreaterThan(20);
    expect(invariants.filter((i) => !i.compiled).map((i) => i.key)).toEqual([]);
  });

  it('agrees with fhirpath.js on every invariant over every example', () => {
    let compared = 0;
    for (const invariant of invariants) {
      for (const resource of resources) {
        if (!invariant.expression.match(/^[a-z%(]/)) continue;
        const fast = invariant.evaluate(resource);
        expect([invariant.key, fast]).toEqual([
          invariant.key,
          slow(resource, invariant.expression),
        ]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('agrees with fhirpath.js on generated paired-change Observations', () => {
    const change = invariants.filter((i) => i.key.startsWith('dlg-change'));
    const quantity = fc.option(fc.record({ value: fc.integer({ min: -7, max: 14 }) }), {
      nil: undefined,
    });
    const observation = fc.record({
      resourceType: fc.constant('Observation'),
      valueQuantity: quantity,
      interpretation: fc.constantFrom(
        ...['reliable-improvement', 'reliable-deterioration', 'no-reliable-change'].map((code) => [
          {
            coding: [
              {
                system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-change-interpretation',
                code,
              },
            ],
          },
        ]),
      ),
      component: fc.tuple(quantity, quantity).map(([b, f]) => [
        { code: { coding: [{ code: 'baseline-score' }] }, ...(b ? { valueQuantity: b } : {}) },
        { code: { coding: [{ code: 'follow-up-score' }] }, ...(f ? { valueQuantity: f } : {}) },
      ]),
    });
    fc.assert(
      fc.property(observation, (resource) => {
        const clean = JSON.parse(JSON.stringify(resource)) as object;
        for (const invariant of change)
          expect(invariant.evaluate(clean)).toEqual(slow(clean, invariant.expression));
      }),
      { numRuns: 300 },
    );
  });
});
