import type { Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import type { DiscussedItem } from '../../src/fhir';
import {
  CONTAINED_SUBJECT,
  type DialogRecord,
  recordToResponse,
  responseToRecord,
  SESSION_START_EXTENSION,
} from '../../src/mapping';
import { fixture, rejectSummary, responses, run, validationErrors } from './helpers';

const APP = fixture('dialogplus-csv', 'export-app-order.csv');

function answer(qr: QuestionnaireResponse, linkId: string): unknown {
  const walk = (items: QuestionnaireResponse['item']): unknown => {
    for (const item of items ?? []) {
      if (item.linkId === linkId)
        return item.answer?.map((a) => a.valueCoding?.code ?? a.valueBoolean ?? a.valueString);
      const found = walk(item.item);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(qr.item);
}

describe('dialogplus-csv → FHIR', () => {
  it('converts every row of the app export into a valid DIALOG response', async () => {
    const result = await run(APP, 'dialogplus-csv', 'fhir', { file: 'export-app-order.csv' });
    expect(result.summary).toMatchObject({ read: 4, converted: 4, rejected: 0, notices: 0 });
    const qrs = responses(result.output);
    expect(qrs).toHaveLength(4);
    for (const qr of qrs) expect(validationErrors(qr)).toEqual([]);
  });

  it('maps items by concept, help 2/1/empty, Discussed 1/0 and action items', async () => {
    const [price] = responses((await run(APP, 'dialogplus-csv', 'fhir')).output);
    if (!price) throw new Error('no response');
    expect(answer(price, 'mental-health.score')).toEqual(['3']);
    // App order puts Partner / Family 6th and Friendships 7th: by concept, not position.
    expect(answer(price, 'partner-family.score')).toEqual(['5']);
    expect(answer(price, 'friendships.score')).toEqual(['2']);
    expect(answer(price, 'mental-health.help')).toEqual([true]);
    expect(answer(price, 'physical-health.help')).toEqual([false]);
    expect(answer(price, 'chosen-items')).toEqual(['1037651000000100', '1037701000000108']);
    expect(JSON.stringify(price)).toContain(
      '"valueString":"Try the wind-down routine every night"',
    );
    expect(JSON.stringify(price)).toContain('"valueString":"Ask Dr Nair about sleep"');
  });

  it('holds the person as a contained Patient (name only), Date End as authored, Date Start in an extension', async () => {
    const [price, siân, khan] = responses((await run(APP, 'dialogplus-csv', 'fhir')).output);
    expect(price?.contained).toEqual([
      {
        resourceType: 'Patient',
        id: 'subject',
        name: [{ family: 'Price', given: ['Megan', 'Rose'] }],
      },
    ]);
    expect(price?.subject).toEqual({ reference: CONTAINED_SUBJECT, display: 'Price, Megan Rose' });
    expect(price?.source).toEqual({ reference: CONTAINED_SUBJECT, display: 'Price, Megan Rose' });
    expect(price?.status).toBe('completed');
    expect(price?.authored).toBe('2025-09-16T15:10:00+01:00');
    expect(price?.extension).toEqual([
      { url: SESSION_START_EXTENSION, valueDateTime: '2025-09-16T14:30:00+01:00' },
    ]);
    expect((siân?.contained?.[0] as Patient).name).toEqual([
      { family: "O'Neill", given: ['Siân'] },
    ]);
    // No Date End: in progress, authored = Date Start, no start extension.
    expect(khan?.status).toBe('in-progress');
    expect(khan?.authored).toBe('2025-10-20T11:00:00+01:00');
    expect(khan?.extension).toBeUndefined();
  });

  it('derives a stable business identifier from the name and Date Start', async () => {
    const first = responses((await run(APP, 'dialogplus-csv', 'fhir')).output);
    const again = responses((await run(APP, 'dialogplus-csv', 'fhir')).output);
    expect(first.map((qr) => qr.identifier)).toEqual(again.map((qr) => qr.identifier));
    expect(new Set(first.map((qr) => qr.identifier?.value)).size).toBe(4);
    expect(first[0]?.identifier?.system).toBe('https://dialog-fhir.org/fhir/sid/native-session');
  });

  it('takes the caller’s subject reference when given', async () => {
    const [qr] = responses(
      (await run(APP, 'dialogplus-csv', 'fhir', { subject: 'Patient/123' })).output,
    );
    expect(qr?.contained).toBeUndefined();
    expect(qr?.subject).toEqual({ reference: 'Patient/123', display: 'Price, Megan Rose' });
    expect(qr && validationErrors(qr)).toEqual([]);
  });

  it('takes off the formula guard it puts on (and keeps the quotes and commas inside cells)', async () => {
    const [, siân] = responses((await run(APP, 'dialogplus-csv', 'fhir')).output);
    const text = JSON.stringify(siân);
    expect(text).toContain('"valueString":"=HYPERLINK(\\"x\\") is what the letter said"');
    expect(text).toContain('"valueString":"Call the housing officer, Mr \\"Bob\\" Lee"');
  });

  it('reads SNOMED column order, the "Leisure Activitie" spelling, no question row, loose spacing: same FHIR', async () => {
    const quirks = fixture('dialogplus-csv', 'export-snomed-order-quirks.csv');
    const a = await run(APP, 'dialogplus-csv', 'fhir');
    const b = await run(quirks, 'dialogplus-csv', 'fhir');
    expect(b.summary).toMatchObject({ read: 4, converted: 4, notices: 0 });
    expect(b.output).toBe(a.output);
  });
});

describe('dialogplus-csv: bad rows', () => {
  const file = 'export-with-bad-rows.csv';
  let result: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    result = await run(fixture('dialogplus-csv', file), 'dialogplus-csv', 'fhir', { file });
  });

  it('still converts the good rows and rejects each bad one with its own outcome', () => {
    expect(result.summary).toMatchObject({
      read: 15,
      converted: 3,
      rejected: 12,
      notices: 1,
      // The unknown column is a warning: the rejected rows alone make this a failed run.
      noticeErrors: 0,
    });
    expect(result.rejects.map((r) => r.location)).toEqual([
      'row 4',
      'row 5',
      'row 6',
      'row 7',
      'row 8',
      'row 9',
      'row 10',
      'row 11',
      'row 12',
      'row 13',
      'row 15',
      'row 16',
    ]);
  });

  it('names file, row, column, and the FHIRPath the value was going to', () => {
    const score8 = result.rejects.find((r) => r.location === 'row 5')?.outcome.issue[0];
    expect(score8).toMatchObject({
      severity: 'error',
      code: 'code-invalid',
      location: ['row 5, column "Mental Health Rank"'],
      expression: [
        "QuestionnaireResponse.item.where(linkId='ratings').item.where(linkId='mental-health').item.where(linkId='mental-health.score').answer.value",
      ],
    });
    expect(score8?.diagnostics).toMatch(
      /^export-with-bad-rows\.csv: row 5, column "Mental Health Rank": /,
    );
  });

  it('says why, without repeating the values', () => {
    expect(rejectSummary(result)).toEqual([
      'row 4: row 4, column "Date Start" | Date Start is not a real date and time (expected d/M/yyyy HH:mm)',
      'row 4: row 4, column "Date End" | Date End is not a real date and time (expected d/M/yyyy HH:mm)',
      'row 5: row 5, column "Mental Health Rank" | Mental Health Rank is not one of "1", "2", "3", "4", "5", "6", "7", empty',
      'row 6: row 6, column "Date Start" | Date Start is not a real date and time (expected d/M/yyyy HH:mm)',
      'row 6: row 6, column "Date End" | Date End is not a real date and time (expected d/M/yyyy HH:mm)',
      'row 7: row 7, column "Date Start" | Date Start is a local time that happens twice (daylight saving ends), so the moment is ambiguous (expected d/M/yyyy HH:mm)',
      'row 7: row 7, column "Date End" | Date End is a local time that happens twice (daylight saving ends), so the moment is ambiguous (expected d/M/yyyy HH:mm)',
      'row 8: row 8, column "Date Start" | Date Start is a local time the clocks skip (daylight saving starts) (expected d/M/yyyy HH:mm)',
      'row 9: row 9, column "Date End" | Date End is before Date Start',
      'row 10: row 10, column "Physical Health Additional Help" | Physical Health Additional Help is not one of "1", "2", empty',
      'row 10: row 10, column "Job Situation Discussed" | Job Situation Discussed is not one of "0", "1"',
      'row 11: row 11 | 4 items are marked Discussed; at most 3 can be chosen',
      'row 12: row 12 | A completed session (it has a Date End) holds no rank: a completed DIALOG needs at least one rating',
      'row 13: row 13, column "Client Name" | Client Name is empty',
      'row 15: row 15 | The row has 49 cells where the header has 48: an unquoted comma (in a name or an action item) has probably shifted the cells. The row is not imported',
      'row 16: row 16, column "Date Start" | The row has 49 cells where the header has 48: an unquoted comma (in a name or an action item) has probably shifted the cells; the first cell that does not fit is under "Date Start". The row is not imported',
    ]);
    const messages = JSON.stringify(result.rejects);
    expect(messages).not.toContain('Megan');
    expect(messages).not.toContain('13/25/2026');
  });

  // A warning since the CSV readers followed HL7 v2's "not read" notices (it was an error, which
  // made the CLI exit 1 on a file whose every row was converted).
  it('reports the unknown column once, as a warning naming it and its place, and converts the rest of the row', () => {
    expect(result.notices).toEqual([
      expect.objectContaining({
        severity: 'warning',
        location: ['row 1, column 48 "Notes"'],
        expression: ['Notes'],
        details: {
          text: 'Column "Notes" (column 48 of the header) is not read by this mapping; its cells are not converted',
        },
        diagnostics:
          'export-with-bad-rows.csv: row 1, column 48 "Notes": Column "Notes" (column 48 of the header) is not read by this mapping; its cells are not converted',
      }),
    ]);
  });

  it('stops the whole file when a column is missing or repeated (rows cannot be read without guessing)', async () => {
    const header = APP.split('\r\n')[0] ?? '';
    const missing = header.replace(',Meetings Action Items', '');
    const r1 = await run(`${missing}\r\nx\r\n`, 'dialogplus-csv', 'fhir');
    expect(r1.notices.map((n) => n.details?.text)).toEqual([
      'Column "Meetings Action Items" is missing from the header',
    ]);
    expect(r1.summary).toMatchObject({ read: 1, rejected: 1, converted: 0 });
    const twice = `${header},Mental Health Rank\r\n`;
    const r2 = await run(twice, 'dialogplus-csv', 'fhir');
    expect(r2.notices.map((n) => n.details?.text)).toEqual([
      'Column "Mental Health Rank" appears twice',
    ]);
  });

  it('says a row is shifted when the cell count fits but the cells do not', async () => {
    const lines = APP.split('\r\n');
    // An unquoted comma in the name, and the last (empty) action cell missing: 47 cells again.
    const shifted = (lines[5] ?? '').replace('"Wright, Tom"', 'Wright, Tom').replace(/,$/, '');
    const r = await run([lines[0], lines[1], shifted, ''].join('\r\n'), 'dialogplus-csv', 'fhir');
    expect(rejectSummary(r)[0]).toBe(
      'row 3: row 3, column "Date Start" | 34 cells do not fit their columns, from "Date Start" on: the cells are probably shifted (an unquoted comma, and a cell missing elsewhere). The row is not imported',
    );
  });

  it('reports an unclosed quote instead of swallowing the rest of the file silently', async () => {
    const lines = APP.split('\r\n');
    const broken = [lines[0], lines[1], lines[2], '"Smith, Ann,1/1/2026 10:00', ''].join('\r\n');
    const r = await run(broken, 'dialogplus-csv', 'fhir');
    expect(r.summary).toMatchObject({ converted: 1, rejected: 1 });
    expect(rejectSummary(r)).toEqual([
      'row 4: row 4 | Not valid CSV: a quoted cell is never closed, so the rest of the file cannot be read',
    ]);
  });
});

describe('dialogplus-csv: a quote never closed', () => {
  it('names the lines it ran into the row, which are lost with it', async () => {
    // Row 4's last cell (the header is row 1) opens a quote that never closes: csv-parse reads
    // the next line into it.
    const file = 'export-unclosed-quote.csv';
    const r = await run(fixture('dialogplus-csv', file), 'dialogplus-csv', 'fhir', { file });
    expect(r.summary).toMatchObject({ converted: 2, rejected: 1 });
    expect(rejectSummary(r)).toEqual([
      expect.stringMatching(
        /^row 4: .*a quote that is never closed has probably run the 1 line\(s\) after this row into it .* so those lines are not imported either/,
      ),
    ]);
  });
});

describe('dialogplus-csv: a month-first export', () => {
  const text = fixture('dialogplus-csv', 'export-month-first.csv');

  it('read whole (a file, or text in memory): every date that reads either way is rejected, not guessed', async () => {
    const r = await run(text, 'dialogplus-csv', 'fhir');
    expect(r.summary).toMatchObject({ read: 3, converted: 1, rejected: 2 });
    expect(rejectSummary(r)[0]).toMatch(
      /row 3, column "Date Start" \| Date Start could be read day first or month first/,
    );
    expect(rejectSummary(r)[2]).toMatch(
      /row 4, column "Date Start" \| Date Start has a month over 12 when read day first/,
    );
    // 12/12 reads the same either way.
    expect(responses(r.output)[0]?.authored).toBe('2026-12-12T10:40:00+00:00');
  });

  it('streamed without a scan: the rows converted before the evidence are named in an error', async () => {
    const r = await run(text, 'dialogplus-csv', 'fhir', { monthFirstSeen: false });
    expect(r.summary).toMatchObject({ converted: 2, rejected: 1, noticeErrors: 1 });
    expect(r.notices[0]?.location).toEqual(['row 3']);
    expect(r.notices[0]?.details?.text).toMatch(
      /^Row 4 has a date that reads only month first, but 1 earlier row/,
    );
  });
});

describe('FHIR → dialogplus-csv', () => {
  it('gives back the app export byte for byte', async () => {
    const fhir = await run(APP, 'dialogplus-csv', 'fhir');
    const back = await run(fhir.output, 'fhir', 'dialogplus-csv');
    expect(back.summary.notHeld).toEqual({});
    expect(back.output).toBe(APP);
  });

  it('neutralises cells a spreadsheet would run', async () => {
    const fhir = await run(APP, 'dialogplus-csv', 'fhir');
    const back = await run(fhir.output, 'fhir', 'dialogplus-csv');
    expect(back.output).toContain(`"'=HYPERLINK(""x"") is what the letter said;`);
  });

  it('names what the CSV cannot hold, and refuses what it cannot write without loss', async () => {
    const journey = fixture('..', '..', 'examples', 'journey', '01-community-start.json');
    const r = await run(journey, 'fhir', 'dialogplus-csv');
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0 });
    expect(Object.keys(r.summary.notHeld).sort()).toEqual(
      [
        // The journey's Patient, found in the Bundle by reference: what a record does not hold
        // of it, and the reference itself (review-mappers F12).
        'Patient.active',
        'Patient.address',
        'Patient.communication',
        'Patient.managingOrganization',
        'Patient.name.use',
        'Patient.telecom',
        'subject.reference',
        // "Megan Price": the row's name gives "Price, Megan Rose" instead.
        'subject.display',
        'author',
        'discussed.action.who/byWhen',
        'discussed.steps',
        'id',
        'person.birthDate',
        'person.gender',
        'person.identifier',
        'person.name.prefix',
        'setting',
        'timepoint',
      ].sort(),
    );
    // The journey's Patient is in the Bundle: its name is used.
    expect(r.output.split('\r\n')[2]).toMatch(
      /^"Price, Megan Rose",16\/9\/2025 14:30,16\/9\/2025 14:30,3,2,1,/,
    );
    const notRated = fixture('..', '..', 'examples', 'valid', 'qr-not-rated.json');
    const refused = await run(notRated, 'fhir', 'dialogplus-csv');
    expect(rejectSummary(refused).join('\n')).toMatch(/cannot hold why a session was not rated/);
  });
});

describe('FHIR → dialogplus-csv: seconds are named when they are dropped (review L3)', () => {
  it('a session start with seconds or a fraction is named as not held, one to the minute is not', async () => {
    const fhir = await run(APP, 'dialogplus-csv', 'fhir');
    const [qr] = responses(fhir.output);
    const start = qr?.extension?.find((e) => e.url === SESSION_START_EXTENSION);
    if (!qr || !start) throw new Error('no session start');
    expect(start.valueDateTime).toBe('2025-09-16T14:30:00+01:00');
    expect((await run(JSON.stringify(qr), 'fhir', 'dialogplus-csv')).summary.notHeld).toEqual({});
    start.valueDateTime = '2025-09-16T14:30:00.000001+01:00';
    const r = await run(JSON.stringify(qr), 'fhir', 'dialogplus-csv');
    expect(r.summary.notHeld).toEqual({ 'startedAt (seconds, offset)': 1 });
    qr.authored = '2025-09-16T15:10:07+01:00';
    expect(
      Object.keys((await run(JSON.stringify(qr), 'fhir', 'dialogplus-csv')).summary.notHeld).sort(),
    ).toEqual(['authored (seconds, offset)', 'startedAt (seconds, offset)']);
  });
});

describe('dialogplus-csv names with more than one comma (review L6)', () => {
  it('Smith, Jr., John stays whole as name.text, never split by guessing, and comes back the same', async () => {
    expect(APP).toContain('"Price, Megan Rose"');
    const text = APP.replace('"Price, Megan Rose"', '"Smith, Jr., John"');
    const fhir = await run(text, 'dialogplus-csv', 'fhir');
    expect(fhir.summary).toMatchObject({ converted: 4, rejected: 0 });
    const [qr] = responses(fhir.output);
    const patient = qr?.contained?.[0] as Patient | undefined;
    expect(patient?.name).toEqual([{ text: 'Smith, Jr., John' }]);
    expect(qr?.subject?.display).toBe('Smith, Jr., John');
    const back = await run(fhir.output, 'fhir', 'dialogplus-csv');
    expect(back.summary.notHeld).toEqual({});
    expect(back.output).toBe(text);
  });

  it('from FHIR, a given name holding a comma is named: the cell reads back as text', async () => {
    const fhir = await run(APP, 'dialogplus-csv', 'fhir');
    const [qr] = responses(fhir.output);
    const patient = qr?.contained?.[0] as Patient | undefined;
    if (!qr || !patient) throw new Error('no response');
    patient.name = [{ family: 'Smith', given: ['Jr.,', 'John'] }];
    const r = await run(JSON.stringify(qr), 'fhir', 'dialogplus-csv');
    expect(r.summary.notHeld).toMatchObject({
      'person.name (a given name with a comma: read back as text)': 1,
    });
    expect(r.output).toContain('"Smith, Jr., John"');
  });
});

describe('FHIR → dialogplus-csv: discussed items a row cannot hold are named (review L10)', () => {
  async function priceRecord(): Promise<DialogRecord> {
    const [qr] = responses((await run(APP, 'dialogplus-csv', 'fhir')).output);
    if (!qr) throw new Error('no response');
    const read = responseToRecord(qr);
    if (!read.ok) throw new Error('not a record');
    return read.record;
  }
  const exported = async (record: DialogRecord): Promise<Record<string, number>> =>
    (await run(JSON.stringify(recordToResponse(record)), 'fhir', 'dialogplus-csv')).summary.notHeld;

  it('a discussed item without actions, and an action of white space only', async () => {
    const record = await priceRecord();
    expect(await exported(record)).toEqual({});
    const { session } = record;
    expect(session.discussed.map((d) => d.concept)).toEqual(['mental-health', 'friendships']);
    const withoutActions: DiscussedItem = { concept: 'accommodation', actions: [] };
    expect(
      await exported({
        ...record,
        session: { ...session, discussed: [...session.discussed, withoutActions] },
      }),
    ).toEqual({ 'discussed (an item without actions)': 1 });
    const blank: DiscussedItem = { concept: 'accommodation', actions: [{ what: '  ' }] };
    expect(
      await exported({
        ...record,
        session: { ...session, discussed: [...session.discussed, blank] },
      }),
    ).toEqual({
      'discussed.action (no text but white space)': 1,
      'discussed (an item without actions)': 1,
    });
  });
});
