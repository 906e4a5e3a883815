import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { extractObservations } from '../../src/fhir';
import { convertText, recordToResponse, type DialogRecord } from '../../src/mapping';
import { ExtractJson } from '../../src/mapping/extract-json';
import { asciiJson } from '../../src/mapping/response-json';
import { anyRecord, dialogPlusRecord, hl7Record, mhsdsRecord } from './arbitraries';

/** What the fast text must be: the response, then each Observation extractObservations gives. */
function canonical(record: DialogRecord): string {
  const response = recordToResponse(record);
  let text = `${asciiJson(JSON.stringify(response))}\n`;
  const result = extractObservations(response);
  if (result.ok) for (const o of result.observations) text += `${asciiJson(JSON.stringify(o))}\n`;
  return text;
}

/** Writes through writeTo into an output without putBytes, and joins the pieces. */
function written(json: ExtractJson, record: DialogRecord): string {
  let text = '';
  json.writeTo(record, { put: (p) => (text += typeof p === 'string' ? p : p.text) });
  return text;
}

/** Writes through writeTo as the engine does: bytes straight into a buffer (putBytes). */
function writtenBytes(json: ExtractJson, record: DialogRecord): string {
  let text = '';
  json.writeTo(record, {
    put: (p) => (text += typeof p === 'string' ? p : p.text),
    putBytes(length, fill) {
      // Room on both sides: what fill writes must be exactly its `length` bytes from `at`.
      const buffer = Buffer.alloc(length + 20, 0x7e);
      fill(buffer, 10);
      expect(buffer.subarray(0, 10).toString('latin1')).toBe('~'.repeat(10));
      expect(buffer.subarray(length + 10).toString('latin1')).toBe('~'.repeat(10));
      text += buffer.subarray(10, length + 10).toString('latin1');
    },
  });
  return text;
}

const CSV_DIR = join(__dirname, '..', 'data', 'dialogplus-csv');

describe('the fast response + Observations JSON', () => {
  it('is exactly the response and its extracted Observations, for any record', () => {
    // No verification window: every record is written from templates where eligible.
    const json = new ExtractJson(0);
    let observations = 0;
    fc.assert(
      fc.property(fc.oneof(dialogPlusRecord, mhsdsRecord, hl7Record, anyRecord), (record) => {
        const want = canonical(record);
        observations += want.split('\n').length - 2;
        expect(written(json, record)).toBe(want);
        expect(writtenBytes(json, record)).toBe(want);
        expect(json.stringify(record)).toBe(want);
      }),
      { numRuns: 400 },
    );
    // The templates stayed in use (a difference would have turned them off), and were needed.
    expect(json.fastPath).toBe(true);
    expect(observations).toBeGreaterThan(400);
  });

  it('gives the same text for the same record of another person and time (templates refilled)', () => {
    const json = new ExtractJson(0);
    fc.assert(
      fc.property(dialogPlusRecord, dialogPlusRecord, (a, b) => {
        const mixed: DialogRecord = { ...b, session: { ...b.session, scores: a.session.scores } };
        expect(written(json, a)).toBe(canonical(a));
        expect(writtenBytes(json, mixed)).toBe(canonical(mixed));
      }),
      { numRuns: 150 },
    );
    expect(json.fastPath).toBe(true);
  });

  it('is what the engine writes with `observations`: the same text as with an extract function', async () => {
    for (const file of readdirSync(CSV_DIR).filter((f) => f.endsWith('.csv'))) {
      const text = readFileSync(join(CSV_DIR, file), 'utf8');
      const options = { from: 'dialogplus-csv', to: 'fhir' } as const;
      const fast = await convertText(text, { ...options, observations: true });
      const slow = await convertText(text, {
        ...options,
        extract: (response) => {
          const result = extractObservations(response);
          return result.ok ? result.observations : [];
        },
      });
      expect(fast.output).toBe(slow.output);
      expect(fast.summary).toEqual(slow.summary);
    }
    const sample = readFileSync(join(CSV_DIR, 'export-app-order.csv'), 'utf8');
    const lines = (
      await convertText(sample, { from: 'dialogplus-csv', to: 'fhir', observations: true })
    ).output
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { resourceType: string });
    expect(lines.filter((r) => r.resourceType === 'Observation').length).toBeGreaterThan(3 * 11);
  });
});
