/**
 * Request bodies over real HTTP (src/api/body.ts): bytes that are not UTF-8 and charsets other
 * than UTF-8 are refused, never decoded into something else and stored; numbers JSON cannot
 * hold as written (1e400) and FHIR integers outside their 32-bit range are refused at their
 * element (422, by the validator); the 413 names the limit of the route it came from.
 */
import { BODY_LIMIT_BYTES, BUNDLE_LIMIT_BYTES } from '../../src/api/body';
import { NATIVE_BODY_LIMIT_BYTES } from '../../src/api/native-routes';
import { hasErrors } from '../../src/validation';
import { mintDevToken } from '../../src/auth';
import {
  sharedValidator,
  startService,
  startServiceWithDevKey,
  type Json,
  type TestService,
} from '../support/service';

let service: TestService;
let base: string;

beforeAll(async () => {
  service = await startService();
  base = service.base;
});
afterAll(() => service.close());

async function post(
  path: string,
  body: string | Uint8Array,
  type = 'application/fhir+json',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': type, ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Every stored resource of a type, read over HTTP. */
async function stored(type: string): Promise<Json[]> {
  const res = await fetch(`${base}/fhir/${type}?_count=1000`);
  expect(res.status).toBe(200);
  const bundle = (await res.json()) as { entry?: { resource: Json }[] };
  return (bundle.entry ?? []).map((e) => e.resource);
}

const patientCount = async (): Promise<number> => (await stored('Patient')).length;

const patientJson = (family: string): string =>
  JSON.stringify({ resourceType: 'Patient', name: [{ family }] });

/** A Patient body whose family name is given as raw bytes. */
function patientBytes(family: Uint8Array): Uint8Array {
  const [before, after] = patientJson('\u0000').split('\\u0000');
  return Buffer.concat([Buffer.from(before ?? ''), family, Buffer.from(after ?? '')]);
}

describe('request bodies are UTF-8, never decoded into something else', () => {
  it('refuses bytes that are not UTF-8 with 400 at the element holding them, storing nothing', async () => {
    const before = await patientCount();
    // "Zoë" in Latin-1: 0xEB is not UTF-8.
    const res = await post('/fhir/Patient', patientBytes(Buffer.from([0x5a, 0x6f, 0xeb])));
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('structure');
    expect(res.body.issue[0].details.text).toMatch(/UTF-8/);
    expect(res.body.issue[0].expression).toEqual(['Patient.name[0].family']);
    expect(await patientCount()).toBe(before);
  });

  it('refuses an invalid sequence it cannot place in a resource at Resource', async () => {
    // A truncated two-byte sequence outside any string: the JSON is not readable either way.
    const res = await post('/fhir/$validate', Buffer.from([0x7b, 0xc3, 0x7d]));
    expect(res.status).toBe(400);
    expect(res.body.issue[0].code).toBe('structure');
    expect(res.body.issue[0].expression).toEqual(['Resource']);
  });

  describe("names what a primitive's _x holds as FHIRPath sees it, as the validator does", () => {
    const ext = { url: 'http://example.org/x', valueString: '\u0000' };
    it.each([
      [
        "a repeating primitive's _x entry",
        {
          resourceType: 'Patient',
          name: [{ given: ['A', 'B'], _given: [null, { extension: [ext] }] }],
        },
        'Patient.name[0].given[1].extension[0].value.ofType(string)',
      ],
      [
        "a single primitive's _x",
        { resourceType: 'Patient', name: [{ family: 'X', _family: { extension: [ext] } }] },
        'Patient.name[0].family.extension[0].value.ofType(string)',
      ],
      [
        "an answer's _valueString",
        {
          resourceType: 'QuestionnaireResponse',
          status: 'completed',
          item: [
            {
              linkId: 'a',
              item: [{ linkId: 'b', answer: [{ _valueString: { extension: [ext] } }] }],
            },
          ],
        },
        'QuestionnaireResponse.item[0].item[0].answer[0].value.ofType(string).extension[0].value.ofType(string)',
      ],
      [
        "a contained resource's _x",
        {
          resourceType: 'Observation',
          contained: [
            { resourceType: 'Patient', birthDate: '2000-01-01', _birthDate: { extension: [ext] } },
          ],
        },
        'Observation.contained[0].birthDate.extension[0].value.ofType(string)',
      ],
      [
        'an _x the R4 schema does not have there (named as written)',
        { resourceType: 'Patient', _name: { extension: [ext] } },
        'Patient._name.extension[0].value.ofType(string)',
      ],
    ])('%s', async (_label, resource, at) => {
      const [before, after] = JSON.stringify(resource).split('\\u0000');
      const bytes = Buffer.concat([
        Buffer.from(before ?? ''),
        Buffer.from([0xeb]),
        Buffer.from(after ?? ''),
      ]);
      const res = await post('/fhir/$validate', bytes);
      expect(res.status).toBe(400);
      expect(res.body.issue[0].code).toBe('structure');
      expect(res.body.issue[0].expression).toEqual([at]);
    });
  });

  it.each([
    'charset=iso-8859-1',
    'charset=latin1',
    'charset=utf-16',
    'charset=UTF-16LE',
    'charset=windows-1252',
    'charset=bogus',
    'charset="us-ascii"',
  ])('refuses Content-Type %s with 415 naming UTF-8, storing nothing', async (param) => {
    const before = await patientCount();
    // UTF-8 bytes: a server honouring the label would store "ZoÃ«".
    const res = await post('/fhir/Patient', patientJson('Zoë'), `application/fhir+json; ${param}`);
    expect(res.status).toBe(415);
    expect(res.body.issue[0].code).toBe('not-supported');
    expect(res.body.issue[0].details.text).toMatch(/utf-8/i);
    expect(await patientCount()).toBe(before);
  });

  it.each([
    ['no charset', 'application/fhir+json'],
    ['charset=utf-8', 'application/fhir+json; charset=utf-8'],
    ['charset=UTF-8', 'application/fhir+json;charset=UTF-8'],
    ['a quoted charset', 'application/json; charset="utf-8"'],
  ])('accepts UTF-8 with %s and stores the name byte for byte', async (_label, type) => {
    const family = `Zoë Müller ${type.length}`;
    const res = await post('/fhir/Patient', patientJson(family), type);
    expect(res.status).toBe(201);
    expect(res.body.name[0].family).toBe(family);
    const families = (await stored('Patient')).map((p) => p.name?.[0]?.family as string);
    expect(families.filter((f) => f === family)).toHaveLength(1);
  });

  it('refuses an unknown Content-Encoding with 415 not-supported', async () => {
    const res = await post('/fhir/Patient', patientJson('Encoded'), 'application/fhir+json', {
      'content-encoding': 'bogus',
    });
    expect(res.status).toBe(415);
    expect(res.body.issue[0].code).toBe('not-supported');
  });

  it('applies the same rules on /native', async () => {
    const path = '/native/dialogplus-csv?patient=nobody';
    const latin1 = await post(path, Buffer.from('a,b\nZo\xeb,1\n', 'latin1'), 'text/csv');
    expect(latin1.status).toBe(400);
    expect(latin1.body.issue[0].code).toBe('structure');
    expect(latin1.body.issue[0].details.text).toMatch(/UTF-8.*line 2/);
    const labelled = await post(path, 'a,b\n', 'text/csv; charset=iso-8859-1');
    expect(labelled.status).toBe(415);
    expect(labelled.body.issue[0].code).toBe('not-supported');
  });
});

describe('the 413 names the limit of its route', () => {
  it('on /fhir', async () => {
    const res = await post('/fhir/$validate', `"${'x'.repeat(BODY_LIMIT_BYTES + 10)}"`);
    expect(res.status).toBe(413);
    expect(res.body.issue[0].code).toBe('too-costly');
    expect(res.body.issue[0].details.text).toContain(String(BODY_LIMIT_BYTES));
  });

  it('on a transaction or batch at /fhir, which takes more (a handover is one)', async () => {
    // Over a single resource's limit: read and answered (a batch of one Patient).
    const padded = (bytes: number): string =>
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            request: { method: 'POST', url: 'Patient' },
            resource: { resourceType: 'Patient', name: [{ text: 'x'.repeat(bytes) }] },
          },
        ],
      });
    const taken = await post('/fhir', padded(BODY_LIMIT_BYTES + 10));
    expect(taken.status).toBe(200);
    expect(taken.body.type).toBe('batch-response');
    const refused = await post('/fhir', padded(BUNDLE_LIMIT_BYTES + 10));
    expect(refused.status).toBe(413);
    expect(refused.body.issue[0].code).toBe('too-costly');
    expect(refused.body.issue[0].details.text).toContain(String(BUNDLE_LIMIT_BYTES));
  });

  it('a transaction or batch over 1 MB from a user (not a system) is a 413 at 1 MB', async () => {
    const { service: secured, key } = await startServiceWithDevKey();
    try {
      const batch = JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            request: { method: 'POST', url: 'Organization' },
            resource: { resourceType: 'Organization', name: 'x'.repeat(BODY_LIMIT_BYTES + 10) },
          },
        ],
      });
      const send = async (scopes: string[]) => {
        const token = await mintDevToken(key, { scopes, fhirUser: 'Practitioner/p1' });
        const res = await fetch(`${secured.base}/fhir`, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
          body: batch,
        });
        return { status: res.status, body: (await res.json()) as Json };
      };
      const user = await send(['user/*.cruds']);
      expect(user.status).toBe(413);
      expect(user.body.issue[0].details.text).toContain(String(BODY_LIMIT_BYTES));
      const system = await send(['system/*.cruds']);
      expect(system.status).toBe(200);
      expect(system.body.type).toBe('batch-response');
    } finally {
      await secured.close();
    }
  });

  it('on /native, which takes more', async () => {
    const res = await post(
      '/native/dialogplus-csv?patient=nobody',
      'x'.repeat(NATIVE_BODY_LIMIT_BYTES + 10),
      'text/csv',
    );
    expect(res.status).toBe(413);
    expect(res.body.issue[0].code).toBe('too-costly');
    expect(res.body.issue[0].details.text).toContain(String(NATIVE_BODY_LIMIT_BYTES));
    expect(res.body.issue[0].details.text).not.toContain(String(BODY_LIMIT_BYTES));
  });
});

describe('numbers JSON cannot hold as written', () => {
  it.each([
    [
      '1e400',
      '{"resourceType":"Patient","multipleBirthInteger":1e400}',
      'Patient.multipleBirth.ofType(integer)',
    ],
    [
      '-1E+999',
      '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-1E+999}}',
      'Observation.value.ofType(Quantity).value',
    ],
    [
      'a 400-digit integer',
      `{"resourceType":"Patient","multipleBirthInteger":${'9'.repeat(400)}}`,
      'Patient.multipleBirth.ofType(integer)',
    ],
  ])('refuses %s at its element, storing nothing (never null)', async (_label, body, at) => {
    const type = /"resourceType":"(\w+)"/.exec(body)?.[1] ?? '';
    const before = (await stored(type)).length;
    const res = await post(`/fhir/${type}`, body);
    expect(res.status).toBe(422);
    expect(res.body.issue).toContainEqual(
      expect.objectContaining({ severity: 'error', code: 'value', expression: [at] }),
    );
    // $validate says so too (it said "All OK").
    const checked = await post('/fhir/$validate', body);
    expect(checked.body.issue).toContainEqual(
      expect.objectContaining({ severity: 'error', code: 'value', expression: [at] }),
    );
    const after = await stored(type);
    expect(after).toHaveLength(before);
    // Nothing anywhere holds a null where the number was.
    expect(JSON.stringify(after)).not.toContain('null');
  });

  it('leaves numbers alone in strings and keeps finite exponents', async () => {
    const res = await post(
      '/fhir/Observation',
      '{"resourceType":"Observation","status":"final","code":{"text":"1e400"},"valueQuantity":{"value":1.5e2}}',
    );
    expect(res.status).toBe(201);
    expect(res.body.valueQuantity.value).toBe(150);
    expect(res.body.code.text).toBe('1e400');
  });

  it.each([
    [
      'an integer above 2^31-1',
      '"multipleBirthInteger":2147483648',
      'Patient.multipleBirth.ofType(integer)',
    ],
    [
      'an integer below -2^31',
      '"multipleBirthInteger":-2147483649',
      'Patient.multipleBirth.ofType(integer)',
    ],
    [
      'an unsignedInt above 2^31-1',
      '"photo":[{"contentType":"image/png","size":3000000000}]',
      'Patient.photo[0].size',
    ],
    [
      'a positiveInt above 2^31-1',
      '"telecom":[{"system":"phone","value":"1","rank":2147483648}]',
      'Patient.telecom[0].rank',
    ],
  ])('refuses %s with 422 at the element', async (_label, fields, at) => {
    const res = await post('/fhir/Patient', `{"resourceType":"Patient",${fields}}`);
    expect(res.status).toBe(422);
    expect(res.body.issue).toContainEqual(
      expect.objectContaining({ severity: 'error', code: 'value', expression: [at] }),
    );
  });

  it.each([2147483647, -2147483648])('accepts the integer bound %d', async (n) => {
    const res = await post(
      '/fhir/Patient',
      `{"resourceType":"Patient","multipleBirthInteger":${n}}`,
    );
    expect(res.status).toBe(201);
    expect(res.body.multipleBirthInteger).toBe(n);
  });

  it('the validator refuses non-finite numbers handed to it as objects', () => {
    const result = sharedValidator().validate({
      resourceType: 'Patient',
      multipleBirthInteger: Number.POSITIVE_INFINITY,
    });
    expect(hasErrors(result)).toBe(true);
    expect(result.issue[0]?.expression).toEqual(['Patient.multipleBirth.ofType(integer)']);
    const decimal = sharedValidator().validate({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueQuantity: { value: Number.NEGATIVE_INFINITY },
    });
    expect(hasErrors(decimal)).toBe(true);
  });
});
