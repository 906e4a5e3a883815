import type { Patient } from '@medplum/fhirtypes';
import { fixture, rejectSummary, responses, run, validationErrors } from './helpers';

const GOOD = fixture('mhsds-csv', 'assessments.csv');

describe('mhsds-csv → FHIR', () => {
  it('groups item rows into one session per person and time, each a valid response', async () => {
    const r = await run(GOOD, 'mhsds-csv', 'fhir');
    expect(r.summary).toMatchObject({ read: 3, converted: 3, rejected: 0, skipped: 0 });
    const qrs = responses(r.output);
    for (const qr of qrs) expect(validationErrors(qr)).toEqual([]);
    const [first, second] = qrs;
    expect(first?.authored).toBe('2025-09-16T15:10:00+01:00');
    expect(first?.identifier).toEqual({
      system: 'https://dialog-fhir.org/fhir/sid/mhsds-care-activity',
      value: 'CA-1001',
    });
    expect((first?.contained?.[0] as Patient).identifier).toEqual([
      { system: 'https://dialog-fhir.org/fhir/sid/local-patient-id', value: 'RX1-000123' },
      { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' },
    ]);
    // The NHS number links the subject when there is one; else the local id.
    expect(first?.subject?.identifier).toEqual({
      system: 'https://fhir.nhs.uk/Id/nhs-number',
      value: '9434765919',
    });
    expect(second?.subject?.identifier?.value).toBe('RX1-000456');
    // No CareActId: a derived identifier, so the same rows imported again find the same session.
    expect(second?.identifier?.system).toBe('https://dialog-fhir.org/fhir/sid/native-session');
    const again = responses((await run(GOOD, 'mhsds-csv', 'fhir')).output);
    expect(again[1]?.identifier).toEqual(second?.identifier);
  });

  it('gives back the same rows after a trip through FHIR', async () => {
    const fhir = await run(GOOD, 'mhsds-csv', 'fhir');
    const back = await run(fhir.output, 'fhir', 'mhsds-csv');
    expect(back.output).toBe(GOOD);
  });
});

describe('mhsds-csv: bad rows', () => {
  const file = 'assessments-with-bad-rows.csv';
  let result: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    result = await run(fixture('mhsds-csv', file), 'mhsds-csv', 'fhir', { file });
  });

  it('skips other tools’ scores, rejects a bad row with its whole session, keeps good sessions', () => {
    expect(result.summary).toMatchObject({ read: 9, converted: 3, rejected: 6, skipped: 1 });
    expect(rejectSummary(result)).toEqual([
      'rows 6–7: row 6, column "PersScore" | PersScore is not one of "1", "2", "3", "4", "5", "6", "7"',
      'row 8: row 8, column "NHSNumber" | NHSNumber is not a valid NHS number (10 digits, not all the same, with a correct check digit)',
      'row 11: row 11 | These rows belong to the session at row 9, which was already converted without them (so that session lacks these items): rows of one session must be adjacent — sort the extract by person and assessment time',
      'row 12: row 12, column "AssToolCompTimestamp" | AssToolCompTimestamp is a local time that happens twice (daylight saving ends), so the moment is ambiguous (expected yyyy-MM-dd\'T\'HH:mm:ss)',
      'rows 13–14: row 14, column "CodedAssToolType" | The session has two scores for the same item (CodedAssToolType)',
      'row 15: row 15 | The row has 5 cells where the header has 6: an unquoted delimiter has probably shifted the cells. The row is not imported',
    ]);
  });

  it('a code a spreadsheet rounded rejects its session, rather than leaving it short of items', async () => {
    // Excel keeps 15 significant digits (1037661000000102 → 1037661000000100) or writes
    // 1.03766E+15; the first session's codes saved so, the other two as they were.
    const eol = GOOD.includes('\r\n') ? '\r\n' : '\n';
    const lines = GOOD.trimEnd().split(eol);
    const rounded = (code: string): string => `${code.slice(0, 15)}0`;
    const excel = lines.map((line, i) => {
      if (i === 0 || !line.includes('CA-1001')) return line;
      const cells = line.split(',');
      cells[4] = i === 1 ? '1.03765E+15' : rounded(cells[4] ?? '');
      return cells.join(',');
    });
    // Another tool's score (HoNOS total, a real SNOMED CT code) is still skipped.
    excel.push('RX1-000999,,CA-9,2025-09-16T15:10:00,979641000000103,12');
    const r = await run(`${excel.join(eol)}${eol}`, 'mhsds-csv', 'fhir', { file: 'excel.csv' });
    expect(r.summary).toMatchObject({ converted: 2, rejected: 1, skipped: 1 });
    const reasons = rejectSummary(r);
    // Each of the 11 rows is named: the first in E-notation, the others rounded (the first
    // item's code, 1037651000000100, is the only one rounding leaves as it was).
    expect(reasons.length).toBe(11);
    expect(reasons[0]).toBe(
      'rows 2–12: row 2, column "CodedAssToolType" | CodedAssToolType is not a SNOMED CT code (its form or check digit is wrong): a spreadsheet may have rounded it or written it as a number like 1.03766E+15 — keep the column as text',
    );
    expect(responses(r.output).map((qr) => qr.identifier?.value)).not.toContain('CA-1001');
  });

  it('points each issue at the FHIR element', () => {
    const score = result.rejects[0]?.outcome.issue[0];
    expect(score?.expression).toEqual([
      "QuestionnaireResponse.item.where(linkId='ratings').item.where(linkId='mental-health').item.where(linkId='mental-health.score').answer.value",
    ]);
  });
});

describe('FHIR → mhsds-csv', () => {
  it('refuses sessions MHSDS cannot hold and names what it drops', async () => {
    const journey = fixture('..', '..', 'examples', 'journey', '01-community-start.json');
    const r = await run(journey, 'fhir', 'mhsds-csv');
    // The journey knows the person by NHS number only: MHSDS rows need the local patient id.
    expect(rejectSummary(r)).toEqual([
      'document, Bundle.entry[7]: document, Bundle.entry[7] | LocalPatientId needs a person identifier with system https://dialog-fhir.org/fhir/sid/local-patient-id',
    ]);
    const inProgress = fixture('..', '..', 'examples', 'valid', 'qr-in-progress.json');
    const r2 = await run(inProgress, 'fhir', 'mhsds-csv');
    expect(rejectSummary(r2).join('\n')).toMatch(/hold completed assessments only/);
  });
});

describe('FHIR → mhsds-csv: a fraction of a second is named when it is dropped (review L3)', () => {
  it('microseconds on authored are named as not held', async () => {
    const fhir = await run(fixture('mhsds-csv', 'assessments.csv'), 'mhsds-csv', 'fhir');
    const [qr] = responses(fhir.output);
    if (!qr) throw new Error('no response');
    expect((await run(JSON.stringify(qr), 'fhir', 'mhsds-csv')).summary.notHeld).toEqual({});
    qr.authored = (qr.authored ?? '').replace(/:00\+/, ':00.000001+');
    expect(qr.authored).toContain('.000001');
    const r = await run(JSON.stringify(qr), 'fhir', 'mhsds-csv');
    expect(r.summary.notHeld).toEqual({ 'authored (fraction of a second, offset)': 1 });
  });
});
