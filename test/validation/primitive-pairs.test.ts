import Ajv from 'ajv';
import fc from 'fast-check';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { createValidator } from '../../src/validation';
import { addFhirKeywords, loadFhirSchema } from '../../src/validation/fhir-schema';
import { compileVerdict, type VerdictSignals } from '../../src/validation/schema-verdict';
import { medplumIssues } from '../support/medplum';

// R4 JSON's `null` placeholder in repeating primitives (http://hl7.org/fhir/R4/json.html#primitive):
// `x` and `_x` have the same length, and `null` stands for the side an entry does not have.
const validator = createValidator();
const errors = (result: OperationOutcome) =>
  result.issue
    .filter((i) => i.severity === 'error')
    .map((i) => ({ code: i.code, expression: i.expression?.[0] }));

const extension = {
  extension: [{ url: 'https://example.org/fhir/pronunciation', valueString: 'x' }],
};
const patient = (name: Record<string, unknown>): Resource =>
  ({ resourceType: 'Patient', id: 'p-1', name: [{ family: 'Smith', ...name }] }) as Resource;
/** A key worker's plan whose activity repeats on some days (Timing.repeat.dayOfWeek: codes). */
const plan = (repeat: Record<string, unknown>): Resource =>
  ({
    resourceType: 'CarePlan',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p-1' },
    activity: [{ detail: { status: 'scheduled', scheduledTiming: { repeat } } }],
  }) as Resource;

const valid: [string, Resource][] = [
  [
    'a value, then an entry with extensions only',
    patient({ given: ['Alice', null], _given: [null, extension] }),
  ],
  ['extensions only, with no values at all', patient({ _given: [extension, extension] })],
  [
    'both sides on every entry (no null)',
    patient({ given: ['Alice', 'Jo'], _given: [extension, { id: 'g2' }] }),
  ],
  [
    'an id for the second entry only',
    patient({ given: ['Alice', 'Jo'], _given: [null, { id: 'g2' }] }),
  ],
  // ele-1 holds beside a value: the element has its @value, whatever its entry in _x holds.
  ['an id alone beside a value', patient({ given: ['Alice'], _given: [{ id: 'g1' }] })],
  [
    'no value, an id and extensions',
    patient({ given: ['Alice', null], _given: [null, { id: 'g2', ...extension }] }),
  ],
  [
    'codes with an enumerated binding',
    plan({ dayOfWeek: ['mon', null], _dayOfWeek: [null, extension] }),
  ],
  [
    'a contained resource with placeholders',
    {
      ...plan({ dayOfWeek: ['mon'] }),
      contained: [
        { resourceType: 'Patient', id: 'c', name: [{ given: [null], _given: [extension] }] },
      ],
    } as unknown as Resource,
  ],
];

describe('null placeholders the validator accepts', () => {
  it.each(valid)('%s', (_name, resource) => {
    expect(errors(validator.validate(resource))).toEqual([]);
  });

  it.each(valid)('%s: Medplum accepts it too', (_name, resource) => {
    expect(medplumIssues(resource)).toEqual([]);
  });

  it('accepts them in JSON text as parsed', () => {
    const text =
      '{"resourceType":"Patient","name":[{"given":["Alice",null],' +
      '"_given":[null,{"extension":[{"url":"https://example.org/fhir/p","valueString":"x"}]}]}]}';
    expect(errors(validator.validateJson(text).outcome)).toEqual([]);
  });
});

/** Each case: the resource, and its issues (code and FHIRPath), exactly. */
const invalid: [string, Resource, { code: string; expression: string }[]][] = [
  [
    'null with no _x at all',
    patient({ given: ['Alice', null] }),
    [{ code: 'structure', expression: 'Patient.name[0].given[1]' }],
  ],
  [
    'a lone [null]',
    patient({ given: [null] }),
    [{ code: 'structure', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'null where _x has null too',
    patient({ given: ['Alice', null], _given: [null, null] }),
    [{ code: 'structure', expression: 'Patient.name[0].given[1]' }],
  ],
  [
    'null in _x with no x at all',
    patient({ _given: [null, extension] }),
    [{ code: 'structure', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'arrays of different lengths',
    patient({ given: ['Alice', 'Jo'], _given: [extension] }),
    [{ code: 'structure', expression: 'Patient.name[0].given' }],
  ],
  [
    'different lengths, and a null beyond the shorter side',
    patient({ given: ['Alice'], _given: [extension, null] }),
    [
      { code: 'structure', expression: 'Patient.name[0].given' },
      { code: 'structure', expression: 'Patient.name[0].given[1]' },
    ],
  ],
  [
    'codes: null with nothing beside it',
    plan({ dayOfWeek: ['mon', null] }),
    [
      {
        code: 'structure',
        expression: 'CarePlan.activity[0].detail.scheduled.ofType(Timing).repeat.dayOfWeek[1]',
      },
    ],
  ],
  [
    'a placeholder inside the extensions of an entry',
    patient({
      given: ['Alice'],
      _given: [
        {
          extension: [{ url: 'https://example.org/fhir/alias', valueHumanName: { given: [null] } }],
        },
      ],
    }),
    [
      {
        code: 'structure',
        expression: 'Patient.name[0].given[0].extension[0].value.ofType(HumanName).given[0]',
      },
    ],
  ],
  [
    'a contained resource',
    {
      ...plan({ dayOfWeek: ['mon'] }),
      contained: [{ resourceType: 'Patient', id: 'c', name: [{ given: ['A', null] }] }],
    } as unknown as Resource,
    [{ code: 'structure', expression: 'CarePlan.contained[0].name[0].given[1]' }],
  ],
  [
    'a Bundle entry',
    {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: patient({ _given: [null] }) }],
    } as unknown as Resource,
    [{ code: 'structure', expression: 'Bundle.entry[0].resource.name[0].given[0]' }],
  ],
  // ele-1 (hasValue() or (children().count() > id.count())) needs both arrays: an entry with no
  // value has content only through extensions in _x; an id is counted out.
  [
    'an empty object in _x, with no x',
    patient({ _given: [{}] }),
    [{ code: 'invariant', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'an id alone in _x, with no x',
    patient({ _given: [{ id: 'only-id' }] }),
    [{ code: 'invariant', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'a null value, and an id alone in _x',
    patient({ given: [null], _given: [{ id: 'only-id' }] }),
    [{ code: 'invariant', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'a null value, and an empty object in _x',
    patient({ given: [null], _given: [{}] }),
    [{ code: 'invariant', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'the second entry of three has only an id',
    patient({ given: ['Alice', null, 'Jo'], _given: [null, { id: 'g2' }, extension] }),
    [{ code: 'invariant', expression: 'Patient.name[0].given[1]' }],
  ],
  [
    // ele-1 holds (the value is there), but R4 JSON's objects are never empty: null says "none".
    'an empty object in _x beside a value',
    patient({ given: ['Alice'], _given: [{}] }),
    [{ code: 'structure', expression: 'Patient.name[0].given[0]' }],
  ],
  [
    'codes: an id alone where the value is null',
    plan({ dayOfWeek: ['mon', null], _dayOfWeek: [null, { id: 'd2' }] }),
    [
      {
        code: 'invariant',
        expression: 'CarePlan.activity[0].detail.scheduled.ofType(Timing).repeat.dayOfWeek[1]',
      },
    ],
  ],
  [
    'an id alone inside the extensions of an entry',
    patient({
      given: ['Alice'],
      _given: [
        {
          extension: [
            { url: 'https://example.org/fhir/alias', valueHumanName: { _given: [{ id: 'a' }] } },
          ],
        },
      ],
    }),
    [
      {
        code: 'invariant',
        expression: 'Patient.name[0].given[0].extension[0].value.ofType(HumanName).given[0]',
      },
    ],
  ],
  [
    'an id alone in a contained resource',
    {
      ...plan({ dayOfWeek: ['mon'] }),
      contained: [{ resourceType: 'Patient', id: 'c', name: [{ _given: [{ id: 'x' }] }] }],
    } as unknown as Resource,
    [{ code: 'invariant', expression: 'CarePlan.contained[0].name[0].given[0]' }],
  ],
  // A single primitive's _x is judged with its value too (below), at the element.
  [
    'an empty object for a single primitive',
    { resourceType: 'Patient', name: [{ _family: {} }] } as unknown as Resource,
    [{ code: 'invariant', expression: 'Patient.name[0].family' }],
  ],
  // null outside repeating primitives stays what it was: a value of the wrong type.
  [
    'a single primitive',
    { resourceType: 'Patient', birthDate: null } as unknown as Resource,
    [{ code: 'structure', expression: 'Patient.birthDate' }],
  ],
  [
    'a single primitive with its _x',
    { resourceType: 'Patient', birthDate: null, _birthDate: extension } as unknown as Resource,
    [{ code: 'structure', expression: 'Patient.birthDate' }],
  ],
  [
    'an array of a complex type',
    { resourceType: 'Patient', name: [null, { family: 'Smith' }] } as unknown as Resource,
    [{ code: 'structure', expression: 'Patient.name[0]' }],
  ],
  [
    'an array of a complex type with a (made-up) _x',
    { resourceType: 'Patient', name: [null], _name: [{ id: 'n' }] } as unknown as Resource,
    [
      { code: 'structure', expression: 'Patient._name' },
      { code: 'structure', expression: 'Patient.name[0]' },
    ],
  ],
  [
    'a placeholder beside a value of the wrong type (both said)',
    patient({ given: [null, 3] }),
    [
      { code: 'structure', expression: 'Patient.name[0].given[1]' },
      { code: 'structure', expression: 'Patient.name[0].given[0]' },
    ],
  ],
];

describe('null placeholders the validator refuses', () => {
  it.each(invalid)('%s', (_name, resource, expected) => {
    expect(errors(validator.validate(resource))).toEqual(expected);
  });

  it('says ele-1, and why, for an entry holding only an id', () => {
    const result = validator.validate(patient({ given: [null], _given: [{ id: 'only-id' }] }));
    expect(result.issue[0]?.diagnostics).toMatch(/^Constraint ele-1 not met/);
    expect(result.issue[0]?.diagnostics).toContain('an id alone');
    expect(JSON.stringify(result)).not.toContain('only-id');
  });

  it('names the property in the message, never a value', () => {
    const result = validator.validate(patient({ given: ['Alice Smith', null] }));
    const text = JSON.stringify(result);
    expect(result.issue[0]?.diagnostics).toContain('_given');
    expect(text).not.toContain('Alice');
  });

  it('stops at the shape: later layers do not run on a faulty pairing', () => {
    // ref-1 (a local reference names a contained resource) would fail too, if it were checked.
    const broken = { ...patient({ given: [null] }), generalPractitioner: [{ reference: '#gp' }] };
    expect(errors(validator.validate(broken))).toEqual([
      { code: 'structure', expression: 'Patient.name[0].given[0]' },
    ]);
    expect(errors(validator.validate({ ...broken, name: undefined }))).toEqual([
      { code: 'invariant', expression: 'Patient.generalPractitioner[0].reference' },
    ]);
  });

  it("says a faulty pairing beside the schema's own issues", () => {
    const broken = { ...plan({ dayOfWeek: [null] }), subject: undefined };
    const result = errors(validator.validate(broken));
    expect(result).toEqual([
      { code: 'required', expression: 'CarePlan.subject' },
      {
        code: 'structure',
        expression: 'CarePlan.activity[0].detail.scheduled.ofType(Timing).repeat.dayOfWeek[0]',
      },
    ]);
  });
});

// A single primitive's `_x` (`family`, `_family`), by the same rule: ele-1 is
// `hasValue() or (children().count() > id.count())` on the one element both make.
const named = (name: Record<string, unknown>): Resource =>
  ({ resourceType: 'Patient', name: [name] }) as unknown as Resource;
const noted = (value: Record<string, unknown>): Resource =>
  ({
    resourceType: 'Patient',
    extension: [{ url: 'https://example.org/fhir/note', ...value }],
  }) as unknown as Resource;

const singleValid: [string, Resource][] = [
  ['an id beside a value', named({ family: 'Smith', _family: { id: 'f' } })],
  ['extensions beside a value', named({ family: 'Smith', _family: extension })],
  ['extensions and no value', named({ _family: extension })],
  ['an id and extensions, no value', named({ _family: { id: 'f', ...extension } })],
  [
    'an id beside a code with a required binding',
    { resourceType: 'Patient', gender: 'unknown', _gender: { id: 'g' } } as Resource,
  ],
  ['an id beside a choice value', noted({ valueString: 'x', _valueString: { id: 'v' } })],
  [
    "an id in a contained resource's primitive",
    {
      ...plan({ dayOfWeek: ['mon'] }),
      contained: [{ resourceType: 'Patient', id: 'c', birthDate: '1990', _birthDate: { id: 'b' } }],
    } as unknown as Resource,
  ],
];

const singleInvalid: [string, Resource, { code: string; expression: string }[]][] = [
  // With no value, an id is counted out: no content (ele-1), as for an entry of a repeating _x.
  [
    'an id alone, no value',
    named({ _family: { id: 'f' } }),
    [{ code: 'invariant', expression: 'Patient.name[0].family' }],
  ],
  [
    '{} beside a value (null is never written for a single primitive: leave _x out)',
    named({ family: 'Smith', _family: {} }),
    [{ code: 'structure', expression: 'Patient.name[0].family' }],
  ],
  [
    '{} beside a choice value',
    noted({ valueString: 'x', _valueString: {} }),
    [{ code: 'structure', expression: 'Patient.extension[0].value.ofType(string)' }],
  ],
  [
    'an id alone in a contained resource',
    {
      ...plan({ dayOfWeek: ['mon'] }),
      contained: [{ resourceType: 'Patient', id: 'c', _birthDate: { id: 'b' } }],
    } as unknown as Resource,
    [{ code: 'invariant', expression: 'CarePlan.contained[0].birthDate' }],
  ],
  [
    'an id alone in a Bundle entry',
    {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Patient', _active: { id: 'a' } } }],
    } as unknown as Resource,
    [{ code: 'invariant', expression: 'Bundle.entry[0].resource.active' }],
  ],
  [
    "an id alone inside an extension of a repeating primitive's _x entry",
    patient({
      given: ['Alice'],
      _given: [
        {
          extension: [
            { url: 'https://example.org/fhir/alias', valueHumanName: { _family: { id: 'a' } } },
          ],
        },
      ],
    }),
    [
      {
        code: 'invariant',
        expression: 'Patient.name[0].given[0].extension[0].value.ofType(HumanName).family',
      },
    ],
  ],
  // What the schema refuses inside _x is named at the element FHIRPath sees, too.
  [
    'an extension with no url in _family',
    named({ family: 'Smith', _family: { extension: [{ valueString: 'x' }] } }),
    [{ code: 'required', expression: 'Patient.name[0].family.extension[0].url' }],
  ],
  [
    "an extension with no url in _given's second entry",
    patient({ given: ['Alice', 'Jo'], _given: [null, { extension: [{ valueString: 'x' }] }] }),
    [{ code: 'required', expression: 'Patient.name[0].given[1].extension[0].url' }],
  ],
  [
    "an extension's value of the wrong type in _valueString",
    noted({
      valueString: 'x',
      _valueString: { extension: [{ url: 'https://example.org/n', valueInteger: 'one' }] },
    }),
    [
      {
        code: 'structure',
        expression: 'Patient.extension[0].value.ofType(string).extension[0].value.ofType(integer)',
      },
    ],
  ],
  [
    // Said by what it holds wrong, not by ele-1 too (it has no extension either).
    'an unknown property in _family',
    named({ family: 'Smith', _family: { note: 'x' } }),
    [{ code: 'structure', expression: 'Patient.name[0].family.note' }],
  ],
  [
    'null for _family',
    named({ family: 'Smith', _family: null }),
    [{ code: 'structure', expression: 'Patient.name[0].family' }],
  ],
  [
    // Empty: the schema says so; the lengths are not said a second time.
    'an empty _given beside given',
    patient({ given: ['Alice'], _given: [] }),
    [{ code: 'structure', expression: 'Patient.name[0].given' }],
  ],
];

describe("a single primitive's _x, judged with its value", () => {
  it.each(singleValid)('accepts %s', (_name, resource) => {
    expect(errors(validator.validate(resource))).toEqual([]);
  });

  it.each(singleInvalid)('refuses %s', (_name, resource, expected) => {
    expect(errors(validator.validate(resource))).toEqual(expected);
  });

  it('says ele-1, and why, without the id', () => {
    const result = validator.validate(named({ _family: { id: 'only-id' } }));
    expect(result.issue[0]?.diagnostics).toMatch(/^Constraint ele-1 not met/);
    expect(result.issue[0]?.diagnostics).toContain('an id alone');
    expect(JSON.stringify(result)).not.toContain('only-id');
  });

  it('accepts an id beside a value as Medplum 4.5.2 does (refused before)', () => {
    const resource = named({ family: 'Smith', _family: { id: 'f' } });
    expect(medplumIssues(resource)).toEqual([]);
    expect(errors(validator.validate(resource))).toEqual([]);
  });

  it('accepts exactly what R4 allows, on generated family/_family', () => {
    fc.assert(
      fc.property(
        fc.option(fc.constant('Smith'), { nil: undefined }),
        fc.option(fc.constantFrom<object>(extension, { id: 'f' }, { id: 'f', ...extension }, {}), {
          nil: undefined,
        }),
        (family, _family) => {
          const name = { ...(family ? { family } : {}), ...(_family ? { _family } : {}) };
          const content = _family === undefined || 'extension' in _family;
          const allowed =
            Object.keys(name).length > 0 &&
            (family ? _family === undefined || Object.keys(_family).length > 0 : content);
          const found = errors(validator.validate(named(name)));
          expect(found.length === 0).toBe(allowed);
          for (const issue of found) expect(issue.expression).toMatch(/^Patient\.name\[0\]/);
        },
      ),
    );
  });
});

describe('Medplum on the faults', () => {
  // Medplum refuses an unpaired null, as this validator does (it names `_x` where this names
  // the element FHIRPath sees)…
  it.each([
    patient({ given: ['Alice', null] }),
    patient({ given: ['Alice', null], _given: [null, null] }),
    patient({ _given: [null, extension] }),
  ])('refuses an unpaired null too (%#)', (resource) => {
    expect(medplumIssues(resource)).not.toEqual([]);
  });

  // …but Medplum 4.5.2 does not evaluate ele-1 on an entry of _x (an id alone, or {}, where
  // there is no value): R4's ele-1 refuses them, and so does this validator. Pinned, as below.
  it.each([
    patient({ _given: [{}] }),
    patient({ _given: [{ id: 'only-id' }] }),
    patient({ given: [null], _given: [{ id: 'only-id' }] }),
    patient({ given: ['Alice'], _given: [{}] }),
  ])('accepts an entry of _x with no content, which this validator refuses (%#)', (resource) => {
    expect(medplumIssues(resource)).toEqual([]);
    expect(errors(validator.validate(resource))).not.toEqual([]);
  });

  // …and Medplum 4.5.2 does not compare the two lengths, which R4 requires: pinned, so that a
  // Medplum that starts to is noticed.
  it('accepts arrays of different lengths, which this validator refuses', () => {
    const resource = patient({ given: ['Alice', 'Jo'], _given: [extension] });
    expect(medplumIssues(resource)).toEqual([]);
    expect(errors(validator.validate(resource))).not.toEqual([]);
  });
});

describe('the fast path and ajv on placeholders', () => {
  const fhir = loadFhirSchema();
  const definitions = fhir.definitions as Record<string, Record<string, unknown>>;
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  addFhirKeywords(ajv);
  ajv.addSchema(fhir, 'fhir');
  const signals: VerdictSignals = { localReference: false, primitivePairs: false };
  const fast = compileVerdict(definitions.Patient ?? {}, fhir, { fhir }, signals);
  const reference = ajv.getSchema('fhir#/definitions/Patient');

  it.each([
    ['a placeholder', patient({ given: ['Alice', null], _given: [null, extension] }), true, true],
    ['an _x array with no null', patient({ given: ['Alice'], _given: [extension] }), true, true],
    ['no _x, no null', patient({ given: ['Alice'] }), true, false],
    [
      'a single _x',
      { resourceType: 'Patient', birthDate: '1990', _birthDate: extension },
      true,
      false,
    ],
    ['a single _x with an id only', named({ family: 'Smith', _family: { id: 'f' } }), true, true],
    ['a single _x, {}', named({ family: 'Smith', _family: {} }), true, true],
    ['a single _x with no value', named({ _family: { id: 'f' } }), true, true],
    ['null for a name', { resourceType: 'Patient', name: [null] }, false, false],
    ['a number among names', patient({ given: [null, 3] }), false, true],
  ] as const)(
    '%s: the same verdict, and the pairing signalled where needed',
    (_n, r, ok, signal) => {
      signals.primitivePairs = false;
      expect(fast(r)).toBe(ok);
      expect(reference?.(r)).toBe(ok);
      // A verdict that fails may stop before the placeholder: the signal is read only on a pass.
      if (ok) expect(signals.primitivePairs).toBe(signal);
    },
  );
});

describe('the R4 rule, as an oracle', () => {
  /**
   * R4 JSON, read directly: whether `x` and `_x` (each absent, or a non-empty array) pair up, and
   * each element meets ele-1 (`hasValue() or (children().count() > id.count())`); `{}` is no
   * JSON object FHIR writes.
   */
  const pairs = (x?: (string | null)[], ext?: (object | null)[]): boolean => {
    if (x && ext && x.length !== ext.length) return false;
    const n = Math.max(x?.length ?? 0, ext?.length ?? 0);
    for (let i = 0; i < n; i++) {
      const value = x?.[i] ?? null;
      const extended = ext?.[i] ?? null;
      if (extended && Object.keys(extended).length === 0) return false;
      if (value === null && !(extended && 'extension' in extended)) return false;
    }
    return true;
  };
  const side = <T>(item: fc.Arbitrary<T>) =>
    fc.option(fc.array(fc.option(item, { freq: 3 }), { minLength: 1, maxLength: 4 }), {
      nil: undefined,
    });

  it('accepts exactly the pairings R4 allows, on generated given/_given', () => {
    fc.assert(
      fc.property(
        side(fc.constantFrom('Alice', 'Jo')),
        side(fc.constantFrom<object>(extension, { id: 'g' }, { id: 'g', ...extension }, {})),
        (given, _given) => {
          const name = { ...(given ? { given } : {}), ...(_given ? { _given } : {}) };
          const found = errors(validator.validate(patient(name)));
          expect(found.length === 0).toBe(pairs(given, _given));
          for (const issue of found) expect(issue.expression).toMatch(/^Patient\.name\[0\]\.given/);
        },
      ),
      { numRuns: 500 },
    );
  });
});
