import fc from 'fast-check';
import { compileFhirPath, createValidator, loadConformancePackage } from '../../src/validation';
import type { CompiledFhirPath } from '../../src/validation/fhirpath-compile';
import { compileFhirPathVerdict } from '../../src/validation/fhirpath-verdict';
import { invalidExamples, validExamples } from '../support/examples';

/** What the full evaluator says the verdict must be: `[true]`, without an error. */
function holdsByEvaluation(
  evaluate: CompiledFhirPath,
  resource: unknown,
  context?: unknown,
): boolean {
  try {
    const result = evaluate(resource, context);
    return result.length === 1 && result[0] === true;
  } catch {
    return false;
  }
}

/** Every object in a JSON tree (each is a context an element's invariant may run on). */
function objectsIn(value: unknown, out: object[] = []): object[] {
  if (value === null || typeof value !== 'object') return out;
  if (!Array.isArray(value)) out.push(value);
  for (const child of Object.values(value)) objectsIn(child, out);
  return out;
}

const cases: { desc: string; expression: string; resource: object; holds: boolean }[] = [
  {
    desc: 'implies with an empty left side',
    expression: 'source.exists() implies source.reference = subject.reference',
    resource: { subject: { reference: 'Patient/1' } },
    holds: true,
  },
  {
    desc: 'equality of two paths',
    expression: 'source.reference = subject.reference',
    resource: { source: { reference: 'Patient/2' }, subject: { reference: 'Patient/1' } },
    holds: false,
  },
  {
    desc: 'equality with an empty side is empty, not true',
    expression: 'source.reference = subject.reference',
    resource: { subject: { reference: 'Patient/1' } },
    holds: false,
  },
  {
    desc: 'not of empty is empty',
    expression: "(status = 'completed').not()",
    resource: {},
    holds: false,
  },
  {
    desc: 'a list is never equal to one literal',
    expression: "code = 'a'",
    resource: { code: ['a', 'a'] },
    holds: false,
  },
  {
    desc: '!= with a literal',
    expression: "status != 'completed'",
    resource: { status: 'in-progress' },
    holds: true,
  },
  {
    desc: 'count through where',
    expression: "item.where(linkId='d').item.where(linkId='c').answer.count() <= 3",
    resource: {
      item: [
        { linkId: 'd', item: [{ linkId: 'c', answer: [{}, {}, {}, {}] }] },
        { linkId: 'x', item: [{ linkId: 'c', answer: [{}] }] },
      ],
    },
    holds: false,
  },
  {
    desc: 'choice element by type',
    expression: 'item.answer.value.ofType(Coding).exists()',
    resource: { item: [{ answer: [{ valueBoolean: true }, { valueCoding: { code: '1' } }] }] },
    holds: true,
  },
  {
    desc: 'choice element read without a type',
    expression: 'value.exists()',
    resource: { valueQuantity: { value: 1 } },
    holds: true,
  },
  {
    desc: 'primitive given only by its extensions',
    expression: 'status.exists()',
    resource: { _status: { extension: [{ url: 'x' }] } },
    holds: true,
  },
  {
    desc: 'all on empty is true',
    expression: 'name.all(given.exists())',
    resource: {},
    holds: true,
  },
  {
    desc: 'exists with criteria',
    expression: "telecom.exists(system = 'phone')",
    resource: { telecom: [{ system: 'email' }, { system: 'phone' }] },
    holds: true,
  },
  {
    desc: '%resource from a nested context',
    expression: "%resource.status = 'completed'",
    resource: { status: 'completed', item: [{ linkId: 'a' }] },
    holds: true,
  },
];

describe('FHIRPath verdicts', () => {
  it.each(cases.map((c) => [c.desc, c] as const))('%s', (_desc, c) => {
    const verdict = compileFhirPathVerdict(c.expression);
    expect(verdict).toBeDefined();
    expect(verdict?.(c.resource)).toBe(c.holds);
    expect(holdsByEvaluation(compileFhirPath(c.expression), c.resource)).toBe(c.holds);
  });

  it('has no fast path for what it does not follow exactly', () => {
    for (const expression of [
      'active', // a path read as one boolean
      'name.given.first()',
      'Patient.name.exists()',
      "iif(active, 'a', 'b') = 'a'",
      'value.ofType(integer).all($this >= 1)',
    ])
      expect([expression, compileFhirPathVerdict(expression)]).toEqual([expression, undefined]);
  });

  it('gives up (false) on a null in a list, where the full evaluator decides', () => {
    const verdict = compileFhirPathVerdict('item.answer.exists()');
    expect(verdict?.({ item: [null, { answer: [{}] }] })).toBe(false);
  });

  const validator = createValidator();
  const invariants = loadConformancePackage()
    .resources.filter((r) => r.resourceType === 'StructureDefinition')
    .flatMap((r) => validator.profile((r as { url: string }).url)?.invariants ?? []);
  const resources = [
    ...validExamples().map((e) => e.resource),
    ...invalidExamples().map((c) => c.resource),
  ];

  it("has a fast path for every invariant of the DIALOG response and R4's on it", () => {
    const response = validator.profile(
      'https://dialog-fhir.org/fhir/StructureDefinition/dialog-questionnaire-response',
    );
    // dlg-qr-8 restates R4's dateTime pattern for other validators; this one never evaluates it
    // (whatever reaches the invariants has passed the R4 schema: validator.ts).
    const evaluated = response?.invariants.filter((i) => i.key !== 'dlg-qr-8');
    expect(evaluated?.map((i) => [i.key, i.holds !== undefined])).toEqual(
      evaluated?.map((i) => [i.key, true]),
    );
    expect(invariants.filter((i) => i.holds).length).toBeGreaterThan(15);
  });

  it('agrees with the full evaluator on every invariant, over every object of every example', () => {
    let compared = 0;
    let held = 0;
    for (const invariant of invariants) {
      if (!invariant.holds) continue;
      for (const resource of resources) {
        for (const context of objectsIn(resource)) {
          const fast = invariant.holds(resource, context);
          const full = holdsByEvaluation(invariant.evaluate, resource, context);
          if (fast !== full)
            expect([invariant.key, context, fast]).toEqual([invariant.key, context, full]);
          compared++;
          if (fast) held++;
        }
      }
    }
    expect(compared).toBeGreaterThan(10000);
    expect(held).toBeGreaterThan(compared / 4);
  });

  it('agrees with the full evaluator on generated responses', () => {
    const response = invariants.filter((i) => i.holds && /^(dlg-qr|qrs|dom)-/.test(i.key));
    const linkId = fc.constantFrom(
      'ratings',
      'not-rated',
      'discussion',
      'chosen-items',
      'discussed-item',
      'x',
    );
    const answer = fc.oneof(
      fc.record({ valueCoding: fc.record({ code: fc.constantFrom('1', '7') }) }),
      fc.record({ valueBoolean: fc.boolean() }),
      fc.record({ valueString: fc.string({ maxLength: 2 }) }),
      fc.constant({}),
    );
    // Three levels of items, as a DIALOG response has (group, area, question; answers below).
    const leaf = fc.record(
      { linkId, answer: fc.array(answer, { maxLength: 4 }) },
      { requiredKeys: ['linkId'] },
    );
    const area = fc.record(
      {
        linkId,
        answer: fc.array(answer, { maxLength: 2 }),
        item: fc.array(leaf, { maxLength: 3 }),
      },
      { requiredKeys: ['linkId'] },
    );
    const item = fc.record(
      { linkId, item: fc.array(area, { maxLength: 4 }) },
      { requiredKeys: ['linkId'] },
    );
    const reference = fc.oneof(
      fc.record({ reference: fc.constantFrom('Patient/1', 'Patient/2') }),
      fc.record({ display: fc.constant('x') }),
      fc.constant([{ reference: 'Patient/1' }]),
    );
    const resource = fc.record(
      {
        resourceType: fc.constant('QuestionnaireResponse'),
        status: fc.constantFrom('completed', 'in-progress'),
        subject: reference,
        source: reference,
        item: fc.array(item, { maxLength: 4 }),
        contained: fc.array(
          fc.record({
            resourceType: fc.constant('Patient'),
            meta: fc.record({ versionId: fc.constant('1') }),
          }),
          { maxLength: 1 },
        ),
      },
      { requiredKeys: ['resourceType'] },
    );
    let held = 0;
    fc.assert(
      fc.property(resource, (r) => {
        const differ: unknown[] = [];
        for (const invariant of response)
          for (const context of objectsIn(r)) {
            const fast = invariant.holds?.(r, context) ?? false;
            if (fast !== holdsByEvaluation(invariant.evaluate, r, context))
              differ.push([invariant.key, context, fast]);
            if (fast) held++;
          }
        expect(differ).toEqual([]);
      }),
      { numRuns: 400, seed: 2 },
    );
    expect(held).toBeGreaterThan(100);
  });
});
