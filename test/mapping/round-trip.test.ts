/**
 * Lossless round trips, on generated records: native → FHIR → native gives back the same text,
 * and FHIR → native → FHIR gives back the same response for everything the format holds (what
 * `project` says it holds; the rest is named in `notHeld` or the record is refused).
 */
import fc from 'fast-check';
import {
  createWriter,
  type DialogRecord,
  loadMapping,
  project,
  recordToResponse,
} from '../../src/mapping';
import { anyRecord, dialogPlusRecord, hl7Record, mhsdsRecord } from './arbitraries';
import { FIXED_NOW, rejectSummary, responses, run, validationErrors } from './helpers';

const FORMATS: { name: string; native: fc.Arbitrary<DialogRecord> }[] = [
  { name: 'dialogplus-csv', native: dialogPlusRecord },
  { name: 'mhsds-csv', native: mhsdsRecord },
  { name: 'hl7v2', native: hl7Record },
];

function write(format: string, records: readonly DialogRecord[]): string {
  const writer = createWriter(loadMapping(format), { now: FIXED_NOW });
  let text = writer.begin();
  for (const record of records) {
    const written = writer.write(record);
    if (!written.ok) throw new Error(JSON.stringify(written.issues));
    text += written.text;
  }
  return text + writer.end();
}

describe.each(FORMATS)('$name round trips', ({ name, native }) => {
  it('native → FHIR → native gives back the same text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(native, { minLength: 1, maxLength: 4 }), async (records) => {
        const text = write(name, records);
        const fhir = await run(text, name, 'fhir');
        expect(rejectSummary(fhir)).toEqual([]);
        expect(fhir.summary.converted).toBe(records.length);
        const back = await run(fhir.output, 'fhir', name);
        expect(back.summary.notHeld).toEqual({});
        expect(back.output).toBe(text);
      }),
      { numRuns: 60 },
    );
  });

  it('FHIR → native → FHIR gives back the response, for what the format holds', async () => {
    await fc.assert(
      fc.asyncProperty(anyRecord, async (record) => {
        const held = project(loadMapping(name), record);
        const there = await run(JSON.stringify(recordToResponse(record)), 'fhir', name);
        if (!held.ok) {
          expect(there.summary.rejected).toBe(1);
          return;
        }
        expect(rejectSummary(there)).toEqual([]);
        const back = await run(there.output, name, 'fhir');
        expect(responses(back.output)).toEqual([recordToResponse(held.record)]);
        // What the format holds, it holds whole: a second trip changes nothing.
        const again = project(loadMapping(name), held.record);
        expect(again.ok && again.record).toEqual(held.record);
        expect(again.ok && again.notHeld).toEqual([]);
      }),
      { numRuns: 80 },
    );
  });

  it('every response read from the format is valid against the dialog-fhir profiles', async () => {
    const records = fc.sample(native, { numRuns: 25, seed: 42 });
    const fhir = await run(write(name, records), name, 'fhir');
    const qrs = responses(fhir.output);
    expect(qrs).toHaveLength(records.length);
    for (const qr of qrs) expect(validationErrors(qr)).toEqual([]);
  });
});

describe('a time the clock shows twice (the night the clocks go back)', () => {
  // 26 October 2003: UK clocks went back from 02:00 BST to 01:00 GMT, so 01:00–02:00 happened
  // twice. A native form without an offset cannot say which; found by the property above.
  const at = (authored: string): DialogRecord => ({
    session: {
      status: 'completed',
      subject: '#subject',
      authored,
      scores: { meetings: 1 },
      helpWanted: {},
      chosen: [],
      discussed: [],
      previousActions: [],
    },
    person: {
      identifiers: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
      name: { family: 'Price', given: ['Megan'] },
    },
  });

  it.each(['dialogplus-csv', 'mhsds-csv'])('%s: refused on export, named at authored', (name) => {
    const issuesOf = (authored: string): string => {
      const projected = project(loadMapping(name), at(authored));
      return JSON.stringify(projected.ok ? [] : projected.issues);
    };
    const fold = issuesOf('2003-10-26T00:30:00+00:00');
    expect(fold).toMatch(/clocks go back/);
    expect(fold).toContain('QuestionnaireResponse.authored');
    // An hour later (02:30 GMT), and an hour before (00:30 BST), the wall time is shown once.
    expect(issuesOf('2003-10-26T02:30:00+00:00')).not.toMatch(/clocks go back/);
    expect(issuesOf('2003-10-25T23:30:00+00:00')).not.toMatch(/clocks go back/);
  });

  it('the DIALOG+ CSV export refuses that record, and takes the one an hour later both ways', async () => {
    const fold = recordToResponse(at('2003-10-26T00:30:00+00:00'));
    expect((await run(JSON.stringify(fold), 'fhir', 'dialogplus-csv')).summary.rejected).toBe(1);
    const after = recordToResponse(at('2003-10-26T02:30:00+00:00'));
    const written = await run(JSON.stringify(after), 'fhir', 'dialogplus-csv');
    expect(rejectSummary(written)).toEqual([]);
    const back = responses((await run(written.output, 'dialogplus-csv', 'fhir')).output);
    expect(back.map((r) => r.authored)).toEqual(['2003-10-26T02:30:00+00:00']);
  });
});

describe('between native formats, through FHIR', () => {
  it('HL7 → MHSDS needs the local patient id; HL7 → CSV carries the name and scores', async () => {
    const records = fc.sample(hl7Record, { numRuns: 10, seed: 7 });
    const text = write('hl7v2', records);
    const toMhsds = await run(text, 'hl7v2', 'mhsds-csv');
    expect(toMhsds.summary.converted).toBe(0);
    const toCsv = await run(text, 'hl7v2', 'dialogplus-csv');
    const named = records.filter((r) => r.person.name && r.session.status !== 'amended').length;
    expect(toCsv.summary.converted).toBe(named);
    expect(toCsv.summary.rejected).toBe(records.length - named);
  });

  it('MHSDS → HL7 → MHSDS keeps the rows when the person has an NHS number', async () => {
    const records = fc
      .sample(mhsdsRecord, { numRuns: 20, seed: 11 })
      .filter((r) => r.person.identifiers.length === 2);
    const text = write('mhsds-csv', records);
    const hl7 = await run(text, 'mhsds-csv', 'hl7v2');
    expect(hl7.summary.converted).toBe(records.length);
    // HL7 keeps the NHS number (an authority it knows) but not the local id (no authority) nor
    // the care activity id (not a filler order number): both are named as not held.
    expect(Object.keys(hl7.summary.notHeld).sort()).toEqual(
      ['person.identifier (system without an assigning authority)']
        .concat(
          records.some((r) => r.session.identifier?.system.endsWith('mhsds-care-activity'))
            ? ['identifier']
            : [],
        )
        .sort(),
    );
  });
});
