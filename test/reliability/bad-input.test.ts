/**
 * The bad-input corpus over real HTTP (issue 7, part 1): every case in
 * test/reliability/bad-input/cases.json is sent to a service on loopback with AUTH on, as the
 * caller the case names, and must get
 * - the status the table gives it (README: the table of statuses),
 * - an OperationOutcome (FHIR JSON) whose first issue is an error with the table's code and, where
 *   the fault has a place, the table's FHIRPath expression — for /native imports a batch-response
 *   Bundle in which every refused record carries such an outcome with its place in the input,
 * - and a store exactly as it was: every current row, version, search-index row and outbox row
 *   compared before and after, read straight from the SQLite file. AuditEvents are left out of the
 *   comparison — every request, refused or not, is audited; that is the one expected difference.
 *   A native import with some good records keeps exactly those (and reports each bad one).
 * The answer never echoes the input: no answer is larger than 100 KB.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { bodyOf, loadCases, resolvePlaceholders, type CorpusCase } from './bad-input-corpus';
import {
  changes,
  send,
  parse,
  snapshot,
  startCorpusService,
  type CorpusService,
} from './bad-input-support';
import type { Json } from '../support/service';

let corpus: CorpusService;
beforeAll(async () => {
  corpus = await startCorpusService();
});
afterAll(() => corpus.service.close());

const cases = loadCases();

function expectOutcome(body: Json, code: string | undefined, expression?: string): void {
  expect(body?.resourceType).toBe('OperationOutcome');
  const first = body.issue?.[0];
  expect(first?.severity).toBe('error');
  if (code !== undefined) expect(first?.code).toBe(code);
  // Every issue this service writes names its place (README: Errors).
  expect(first?.expression?.length).toBeGreaterThan(0);
  if (expression !== undefined) expect(first.expression[0]).toBe(expression);
}

/** The records of a batch-response: kept (2xx with a location) and refused (with an outcome). */
function records(bundle: Json): { kept: Json[]; refused: Json[] } {
  const entries = (bundle.entry ?? []) as Json[];
  return {
    kept: entries.filter((e) => /^2/.test(String(e.response?.status)) && e.response?.location),
    refused: entries.filter((e) => !/^2/.test(String(e.response?.status))),
  };
}

async function run(c: CorpusCase) {
  const base = corpus.service.base;
  const path = await resolvePlaceholders(corpus.service, c.path);
  const body = await bodyOf(corpus.service, c);
  const headers: Record<string, string> = { ...corpus.auth(c.as) };
  for (const [name, value] of Object.entries(c.headers ?? {}))
    headers[name] = await resolvePlaceholders(corpus.service, value);
  const type = c.contentType ?? 'application/fhir+json';
  if (body !== undefined && type !== '') headers['content-type'] = type;
  const before = snapshot(corpus.service);
  const reply = await send(base, c.method, path, body, headers);
  const after = snapshot(corpus.service);
  return { reply, json: parse(reply.text), changed: changes(before, after), path };
}

describe('the bad-input corpus', () => {
  it('has cases for every kind of bad input the issue names', () => {
    const names = cases.map((c) => c.name).join('\n');
    for (const kind of [
      /malformed JSON/,
      /wrong resourceType/,
      /__proto__/,
      /constructor/,
      /10,000 deep/,
      /over the \/fhir limit/,
      /huge/,
      /30 February/,
      /offset/,
      /score code "0"/,
      /score code "8"/,
      /7 \(a number\)/,
      /7\.5/,
      /null/,
      /duplicate linkId/,
      /unknown linkId/,
      /four chosen items/,
      /wrong Questionnaire/,
      /another person's plan/,
      /patient-scoped token writing/,
      /XML/,
      /form body/,
      /"\.\."/,
      /search: .*SQL/,
      /search: .*unicode/,
      /HL7 v2 with another field separator/,
      /shifted columns/,
      /formulas/,
    ])
      expect(names).toMatch(kind);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { reply, json, changed, path } = await run(c);
    expect(reply.status).toBe(c.expect.status);
    expect(String(reply.headers['content-type'])).toMatch(/^application\/fhir\+json/);
    expect(reply.text.length).toBeLessThan(100_000);
    if (c.expect.batch) {
      // /native: a batch-response, each refused record with its outcome and place in the input.
      expect(json?.resourceType).toBe('Bundle');
      expect(json.type).toBe('batch-response');
      const { kept, refused } = records(json);
      expect(kept).toHaveLength(c.expect.accepted ?? 0);
      if (c.expect.refused !== undefined) expect(refused).toHaveLength(c.expect.refused);
      else expect(refused.length).toBeGreaterThan(0);
      for (const entry of refused) {
        expect(entry.response.outcome?.resourceType).toBe('OperationOutcome');
        const issue = entry.response.outcome.issue[0];
        expect(issue.severity).toBe('error');
        expect(issue.expression?.length).toBeGreaterThan(0);
        // A native record is placed in the input (row, line, segment), whoever refused it.
        if (path.startsWith('/native/')) expect(issue.location?.length).toBeGreaterThan(0);
      }
      if (c.expect.statuses !== undefined)
        expect((json.entry as Json[]).map((e) => String(e.response.status).slice(0, 3))).toEqual(
          c.expect.statuses,
        );
      expect(refused[0].response.outcome.issue[0].code).toBe(c.expect.code);
      // Exactly the good records were kept: one new response each, nothing removed.
      const added = changed.filter((k) => k.startsWith('added current QuestionnaireResponse/'));
      expect(added).toHaveLength(c.expect.accepted ?? 0);
      expect(changed.filter((k) => k.startsWith('removed'))).toEqual([]);
      if ((c.expect.accepted ?? 0) === 0) expect(changed).toEqual([]);
      return;
    }
    if (c.expect.total !== undefined) {
      // A search whose values are injection attempts: a value like any other, matching nothing.
      expect(json?.resourceType).toBe('Bundle');
      expect(json.type).toBe('searchset');
      expect(json.total).toBe(c.expect.total);
    } else expectOutcome(json, c.expect.code, c.expect.expression);
    expect(changed).toEqual([]);
  });
});

describe('formulas in CSV cells', () => {
  const FORMULA_START = /^[=+\-@\t\r]/;

  async function exported(format: string, patient: string): Promise<string[][]> {
    const reply = await send(
      corpus.service.base,
      'GET',
      `/native/${format}?patient=${patient}`,
      undefined,
      corpus.auth(),
    );
    expect(reply.status).toBe(200);
    return parseCsv(reply.text, { relax_column_count: true }) as string[][];
  }

  it('are kept as text on import and neutralised on export, so a spreadsheet never runs one', async () => {
    // The corpus case 'DIALOG+ app rows: formulas in actions and scores' stored the good row;
    // the formulas in its action cells are the person's words and are kept as written.
    const stored = await corpus.service.store.search('QuestionnaireResponse', {
      patient: 'Patient/megan-price',
    });
    const text = JSON.stringify(stored.resources);
    expect(text).toContain('=HYPERLINK(\\"http://example.invalid/x\\",\\"click me\\")');
    expect(text).toContain('-2+3');
    const rows = await exported('dialogplus-csv', 'megan-price');
    expect(rows.length).toBeGreaterThan(2);
    const cells = rows.flat();
    expect(cells.filter((cell) => FORMULA_START.test(cell))).toEqual([]);
    // Neutralised by one apostrophe, nothing lost.
    expect(cells).toContain('\'=HYPERLINK("http://example.invalid/x","click me")');
    expect(cells).toContain("'+1+1");
    expect(cells).toContain("'-2+3;@SUM(1,2)");
  });

  it('in an MHSDS identifier are neutralised on export too', async () => {
    // MHSDS rows hold no free text: the local patient id is the cell a person's data can start.
    const csv =
      'LocalPatientId,NHSNumber,CareActId,AssToolCompTimestamp,CodedAssToolType,PersScore\r\n' +
      '@SUM(1+1)*cmd,,CA-7,2025-10-03T09:40:00,1037651000000100,6\r\n';
    const imported = await send(corpus.service.base, 'POST', '/native/mhsds-csv', csv, {
      ...corpus.auth(),
      'content-type': 'text/csv',
    });
    expect(imported.status).toBe(200);
    const location = String(parse(imported.text).entry[0].response.location);
    const [type, id] = location.split('/');
    const response = await corpus.service.store.read(type as 'QuestionnaireResponse', id ?? '');
    const patient = String(response.subject?.reference).slice('Patient/'.length);
    const cells = (await exported('mhsds-csv', patient)).flat();
    expect(cells.filter((cell) => FORMULA_START.test(cell))).toEqual([]);
    expect(cells).toContain("'@SUM(1+1)*cmd");
  });
});
