/**
 * Property-based fuzzing (issue 7, part 1): no input throws outside an OperationOutcome.
 *
 * The contracts, as the code states them:
 * - the mapping engine (`convertText` / `convert`, src/mapping) never rejects: what it cannot
 *   read is a reject with an OperationOutcome (each error issue placed in the input), and every
 *   record it does convert is a QuestionnaireResponse — for every format, from text or bytes,
 *   arbitrary or a valid file with a few edits, and on export from any FHIR NDJSON;
 * - the validator (`validate`, `validateJson`) answers every value with an OperationOutcome;
 * - the session functions behind the pipeline (`responseToSession`, `extractObservations`)
 *   answer every response the validator passes with a result, never a throw;
 * - over HTTP no body, media type or endpoint gets a 5xx, and every 4xx is an OperationOutcome.
 * Runs are kept modest so the file stays well under a minute. fast-check prints the seed and
 * path of a failure; `FUZZ_SEED=<seed> npx jest test/reliability/fuzz.test.ts` replays it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { extractObservations, responseToSession } from '../../src/fhir';
import { convert, convertText, FORMATS, type FormatName } from '../../src/mapping';
import { DIALOG_QR_PROFILE, hasErrors } from '../../src/validation';
import { sharedValidator, startService, type Json, type TestService } from '../support/service';
import { send, sessionFor } from './bad-input-support';
import {
  fuzzParameters,
  hostileText,
  jsonValue,
  mutatedJson,
  mutatedText,
} from './fuzz-arbitraries';

const DATA = join(__dirname, '..', 'data');
const session = sessionFor('megan-price');
const VALID_INPUT: Readonly<Record<FormatName, string>> = {
  'dialogplus-csv': readFileSync(join(DATA, 'dialogplus-csv', 'export-app-order.csv'), 'utf8'),
  'mhsds-csv': readFileSync(join(DATA, 'mhsds-csv', 'assessments.csv'), 'utf8'),
  hl7v2: readFileSync(join(DATA, 'hl7v2', 'oru-r01.hl7'), 'utf8'),
  fhir: `${JSON.stringify(session)}\n`,
};

function expectOutcome(outcome: Json): void {
  expect(outcome?.resourceType).toBe('OperationOutcome');
  expect(Array.isArray(outcome.issue)).toBe(true);
  for (const issue of outcome.issue as Json[]) {
    expect(['fatal', 'error', 'warning', 'information']).toContain(issue.severity);
    expect(typeof issue.code).toBe('string');
  }
}

/**
 * What every conversion must give: rejects as placed OperationOutcomes; records as responses (FHIR
 * to FHIR passes other resources through unchanged, so there every line is some resource).
 */
function expectConversion(result: Awaited<ReturnType<typeof convertText>>, from: FormatName): void {
  for (const reject of result.rejects) {
    expectOutcome(reject.outcome);
    expect(reject.outcome.issue.some((i) => i.severity === 'error')).toBe(true);
    expect(reject.location.length).toBeGreaterThan(0);
  }
  for (const line of result.output.split('\n')) {
    if (line.trim() === '') continue;
    const type = (JSON.parse(line) as { resourceType?: unknown }).resourceType;
    if (from === 'fhir') expect(typeof type).toBe('string');
    else expect(type).toBe('QuestionnaireResponse');
  }
  expect(result.summary.read).toBeGreaterThanOrEqual(result.summary.rejected);
}

describe('the mappers', () => {
  it.each(FORMATS)('%s → FHIR: arbitrary text is converted or rejected, never thrown', (from) =>
    fc.assert(
      fc.asyncProperty(hostileText, async (text) => {
        expectConversion(await convertText(text, { from, to: 'fhir', file: 'fuzz' }), from);
      }),
      fuzzParameters(150),
    ),
  );

  it.each(FORMATS)('%s → FHIR: a valid input with a few edits is converted or rejected', (from) =>
    fc.assert(
      fc.asyncProperty(mutatedText(VALID_INPUT[from]), async (text) => {
        expectConversion(await convertText(text, { from, to: 'fhir', file: 'fuzz' }), from);
      }),
      fuzzParameters(120),
    ),
  );

  it.each(FORMATS)('%s → FHIR: arbitrary bytes in arbitrary chunks are never thrown', (from) =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }),
        async (chunks) => {
          const summary = await convert(chunks, () => undefined, {
            from,
            to: 'fhir',
            file: 'fuzz',
          });
          expect(summary.read).toBeGreaterThanOrEqual(summary.rejected);
        },
      ),
      fuzzParameters(80),
    ),
  );

  it.each(FORMATS.filter((f) => f !== 'fhir'))(
    'FHIR → %s (export): any edited response is written or rejected, never thrown',
    (to) =>
      fc.assert(
        fc.asyncProperty(mutatedJson(session), async (resource) => {
          const result = await convertText(`${JSON.stringify(resource)}\n`, {
            from: 'fhir',
            to,
            file: 'fuzz',
          });
          for (const reject of result.rejects) expectOutcome(reject.outcome);
          expect(result.summary.converted + result.summary.rejected).toBeLessThanOrEqual(
            result.summary.read,
          );
        }),
        fuzzParameters(100),
      ),
  );
});

describe('the validator', () => {
  const validator = sharedValidator();

  it('answers any JSON value with an OperationOutcome', () =>
    fc.assert(
      fc.property(jsonValue, (value) => {
        expectOutcome(validator.validate(value));
      }),
      fuzzParameters(300),
    ));

  it('answers any text with an OperationOutcome (validateJson)', () =>
    fc.assert(
      fc.property(fc.oneof(hostileText, mutatedText(JSON.stringify(session))), (text) => {
        expectOutcome(validator.validateJson(text).outcome);
      }),
      fuzzParameters(200),
    ));

  it('answers any edit of a valid session with an OperationOutcome, and the pipeline functions never throw on what it passes', () =>
    fc.assert(
      fc.property(mutatedJson(session), (resource) => {
        const result = validator.validate(resource, { profile: DIALOG_QR_PROFILE });
        expectOutcome(result);
        if (hasErrors(result)) return;
        const response = resource as QuestionnaireResponse;
        expect(typeof responseToSession(response).ok).toBe('boolean');
        expect(typeof extractObservations(response).ok).toBe('boolean');
      }),
      fuzzParameters(200),
    ));

  it('holds with a resourceType that invites every code path', () =>
    fc.assert(
      fc.property(
        fc.constantFrom(
          'QuestionnaireResponse',
          'Observation',
          'CarePlan',
          'Goal',
          'Patient',
          'Bundle',
          'Parameters',
          'Consent',
        ),
        fc.dictionary(fc.string({ maxLength: 12 }), jsonValue, { maxKeys: 6 }),
        (resourceType, rest) => {
          expectOutcome(validator.validate({ ...rest, resourceType }));
        },
      ),
      fuzzParameters(200),
    ));
});

describe('the HTTP body path', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService();
    await service.store.update({ resourceType: 'Patient', id: 'megan-price' });
  });
  afterAll(() => service.close());

  const endpoints = fc.constantFrom(
    ['POST', '/fhir/QuestionnaireResponse'],
    ['POST', '/fhir/Observation'],
    ['PUT', '/fhir/QuestionnaireResponse/fuzz-1'],
    ['POST', '/fhir'],
    ['POST', '/fhir/$validate'],
    ['POST', '/fhir/QuestionnaireResponse/$validate'],
    ['POST', '/fhir/QuestionnaireResponse/$extract'],
    ['POST', '/fhir/Questionnaire/$populate'],
    ['POST', '/native/dialogplus-csv?patient=megan-price'],
    ['POST', '/native/mhsds-csv'],
    ['POST', '/native/hl7v2'],
    ['POST', '/native/fhir'],
  );
  const mediaTypes = fc.constantFrom(
    'application/fhir+json',
    'application/json',
    'application/fhir+ndjson',
    'text/csv',
    'text/plain',
    'x-application/hl7-v2+er7',
    'application/xml',
    'application/x-www-form-urlencoded',
    '',
  );
  /** Deep nesting (arrays, objects or extensions) in a session, a batch or a transaction. */
  const deepBody = fc
    .record({
      depth: fc.integer({ min: 100, max: 20_000 }),
      shape: fc.constantFrom(['[', ']'], ['{"a":', '}'], ['[{"url":"urn:x","extension":', '}]']),
      wrapper: fc.constantFrom('session', 'batch', 'transaction'),
    })
    .map(({ depth, shape, wrapper }) => {
      const [open, close] = shape as [string, string];
      const inner = open === '[' ? '' : '[]';
      const text = JSON.stringify(session);
      const deep = `${text.slice(0, -1)},"modifierExtension":${open.repeat(depth)}${inner}${close.repeat(depth)}}`;
      if (wrapper === 'session') return deep;
      return `{"resourceType":"Bundle","type":"${wrapper}","entry":[{"request":{"method":"POST","url":"QuestionnaireResponse"},"resource":${deep}}]}`;
    });
  const bodies = fc.oneof(
    hostileText,
    jsonValue.map((v) => JSON.stringify(v)),
    mutatedJson(session).map((v) => JSON.stringify(v)),
    mutatedText(JSON.stringify(session)),
    deepBody,
  );

  async function expectNo5xx(method: string, path: string, body: string, type: string) {
    const reply = await send(
      service.base,
      method,
      path,
      body,
      type ? { 'content-type': type } : {},
    );
    expect(reply.status).toBeLessThan(500);
    const json = JSON.parse(reply.text) as Json;
    // /native answers a batch-response Bundle, each refused record with its OperationOutcome.
    if (reply.status >= 400 && path.startsWith('/native/') && json.resourceType === 'Bundle')
      for (const entry of json.entry as Json[])
        if (!String(entry.response.status).startsWith('2')) expectOutcome(entry.response.outcome);
    if (reply.status >= 400 && json.resourceType !== 'Bundle') expectOutcome(json);
    expect(typeof json.resourceType).toBe('string');
  }

  it('never answers 5xx, whatever the body, media type and endpoint', () =>
    fc.assert(
      fc.asyncProperty(endpoints, mediaTypes, bodies, async ([method, path], type, body) => {
        await expectNo5xx(method ?? 'POST', path ?? '/fhir', body, type);
      }),
      fuzzParameters(250),
    ));

  it('never answers 5xx to an edited session, which reaches the whole pipeline', () =>
    fc.assert(
      fc.asyncProperty(mutatedJson(session), async (resource) => {
        await expectNo5xx(
          'POST',
          '/fhir/QuestionnaireResponse',
          JSON.stringify(resource),
          'application/fhir+json',
        );
      }),
      fuzzParameters(120),
    ));

  /**
   * Every byte of the text's UTF-8 percent-encoded; lone surrogates become U+FFFD as they would on
   * the wire. Raw bytes (invalid UTF-8 such as %C0%AF) come from the hostile text's binary units.
   */
  const percent = (text: string): string =>
    [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

  it('never answers 5xx to a search or read, whatever its parameters and path', () =>
    fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'QuestionnaireResponse',
          'Observation',
          'CarePlan',
          'Patient',
          'Task',
          'Goal',
        ),
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.constantFrom(
                '_id',
                'identifier',
                'subject',
                'patient',
                'status',
                '_count',
                '_sort',
              ),
              fc.constantFrom('_lastUpdated', '_offset', '_total', 'date', 'status:not', 'x'),
              hostileText,
            ),
            hostileText,
          ),
          { maxLength: 4 },
        ),
        fc.option(hostileText, { nil: undefined }),
        async (type, params, id) => {
          const query = params.map(([k, v]) => `${percent(k)}=${percent(v)}`).join('&');
          const path =
            id === undefined
              ? `/fhir/${type}?${query}`
              : `/fhir/${type}/${percent(id)}${query ? `?${query}` : ''}`;
          const reply = await send(service.base, 'GET', path);
          expect(reply.status).toBeLessThan(500);
          const json = JSON.parse(reply.text) as Json;
          if (reply.status >= 400) expectOutcome(json);
          else expect(['Bundle', type]).toContain(json.resourceType);
        },
      ),
      fuzzParameters(200),
    ));

  it('logged no unhandled error while being fuzzed', () => {
    expect(service.logs.filter((line) => line.includes('unhandled error'))).toEqual([]);
  });
});
