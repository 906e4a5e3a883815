import type { Bundle, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { fixture, lines, rejectSummary, responses, run } from './helpers';

const JOURNEY = ['01-community-start', '02-admission', '03-inpatient-review', '04-discharge'].map(
  (name) => JSON.parse(fixture('..', '..', 'examples', 'journey', `${name}.json`)) as Bundle,
);

function journeyNdjson(): string {
  return JOURNEY.flatMap((b) => (b.entry ?? []).map((e) => JSON.stringify(e.resource))).join('\n');
}

describe('fhir (the identity mapping)', () => {
  it('passes every resource through, NDJSON out, DIALOG responses checked', async () => {
    const r = await run(journeyNdjson(), 'fhir', 'fhir');
    const all = JOURNEY.flatMap((b) => (b.entry ?? []).map((e) => e.resource as Resource));
    const qrs = all.filter((x) => x.resourceType === 'QuestionnaireResponse').length;
    expect(r.summary).toMatchObject({
      read: qrs,
      converted: qrs,
      rejected: 0,
      skipped: all.length - qrs,
    });
    expect(lines(r.output)).toEqual(all);
  });

  it('reads a Bundle document and finds the person in its Patient entry', async () => {
    const r = await run(JSON.stringify(JOURNEY[0]), 'fhir', 'dialogplus-csv');
    expect(r.output.split('\r\n')[2]).toMatch(/^"Price, Megan Rose",/);
  });

  it('a Bundle whose entries are not objects is reported, not thrown; its good entries are read', async () => {
    const bundle = JOURNEY[0] as { entry: unknown[] };
    const broken = { ...bundle, entry: [null, ...bundle.entry, 'x'] };
    const r = await run(JSON.stringify(broken), 'fhir', 'dialogplus-csv', { file: 'in.json' });
    expect(r.summary.converted).toBeGreaterThan(0);
    expect(r.rejects.map((x) => x.outcome.issue[0]?.details?.text)).toEqual([
      'The entry is not an object',
      'The entry is not an object',
    ]);
    const notAList = await run(JSON.stringify({ ...bundle, entry: 'x' }), 'fhir', 'fhir');
    expect(notAList.rejects.map((x) => x.outcome.issue[0]?.details?.text)).toEqual([
      'Bundle.entry is not a list',
    ]);
  });

  it('in NDJSON, finds a Patient from an earlier line', async () => {
    const r = await run(journeyNdjson(), 'fhir', 'hl7v2');
    const qrs = responses(journeyNdjson()).length;
    expect(r.summary).toMatchObject({ read: qrs, converted: qrs, rejected: 0 });
  });

  it('rejects lines that are not JSON, not resources, or not readable DIALOG responses', async () => {
    const qr = JOURNEY[0]?.entry?.find((e) => e.resource?.resourceType === 'QuestionnaireResponse')
      ?.resource as QuestionnaireResponse;
    const bad: QuestionnaireResponse = {
      ...qr,
      item: [{ linkId: 'ratings', item: [{ linkId: 'wellbeing', item: [] }] }],
    };
    const other: QuestionnaireResponse = {
      ...qr,
      questionnaire: 'http://example.org/Questionnaire/phq-9',
    };
    const text = [
      '{not json',
      '[1,2]',
      '{"a":1}',
      JSON.stringify(bad),
      JSON.stringify(other),
      JSON.stringify(qr),
    ].join('\n');
    const r = await run(text, 'fhir', 'dialogplus-csv', { file: 'in.ndjson' });
    expect(rejectSummary(r)).toEqual([
      'line 1: line 1 | The line is not JSON',
      'line 2: line 2 | Not a FHIR resource (a JSON object)',
      'line 3: line 3 | The JSON object has no resourceType',
      'line 4: line 4 | Not a DIALOG item',
      'line 5: line 5 | Not a response to the DIALOG Questionnaire',
    ]);
    expect(r.rejects[3]?.outcome.issue[0]?.expression).toEqual([
      'QuestionnaireResponse.item[0].item[0].linkId',
    ]);
    expect(r.summary.converted).toBe(1);
  });

  it('writes ASCII NDJSON: characters beyond ASCII as \\u escapes, the same JSON values', async () => {
    const r = await run(
      fixture('dialogplus-csv', 'export-app-order.csv'),
      'dialogplus-csv',
      'fhir',
    );
    expect([...r.output].every((c) => c.charCodeAt(0) < 0x80)).toBe(true);
    expect(r.output).toContain('Si\\u00e2n');
    expect(responses(r.output)[1]?.subject?.display).toBe("O'Neill, Siân");
  });

  it('refuses a pretty-printed document larger than the mapping allows', async () => {
    const big = JSON.stringify(JOURNEY[0], null, 2);
    const small = {
      format: 'fhir',
      title: 'FHIR',
      kind: 'fhir',
      output: 'ndjson',
      maxJsonBytes: 1000,
    } as const;
    const r = await run(big, small, 'fhir');
    expect(rejectSummary(r)).toEqual([
      'document: document | The JSON document is larger than 1000 bytes; give large inputs as NDJSON (one resource per line)',
    ]);
  });
});
