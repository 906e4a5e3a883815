/**
 * Control characters FHIR strings may not hold (below U+0020 other than tab, LF, CR: NUL, BEL…)
 * never reach FHIR from a native format: the record holding one is rejected, naming the row and
 * column or the segment and field, and the other records are still converted (review-mappers
 * L5). Tab, CR and LF stay allowed.
 */
import { fixture, rejectSummary, responses, run } from './helpers';

const NUL = '\u0000';
const BEL = '\u0007';

describe('dialogplus-csv', () => {
  const APP = fixture('dialogplus-csv', 'export-app-order.csv');

  it.each([
    ['NUL in a name', 'Price, Megan Rose', `Price, Megan${NUL} Rose`, 'Client Name'],
    ['BEL in a name', 'Price, Megan Rose', `Price${BEL}, Megan Rose`, 'Client Name'],
    [
      'BEL in an action',
      'Ask Dr Nair about sleep',
      `Ask Dr Nair${BEL} about sleep`,
      'Mental Health Action Items',
    ],
  ])(
    '%s: that row is rejected at its column, the others converted',
    async (_, from, to, column) => {
      expect(APP).toContain(from);
      const r = await run(APP.replace(from, to), 'dialogplus-csv', 'fhir');
      expect(r.summary).toMatchObject({ read: 4, converted: 3, rejected: 1 });
      expect(rejectSummary(r)).toEqual([
        expect.stringMatching(
          new RegExp(`^row 3: row 3, column "${column}" \\| ${column} holds a control character`),
        ),
      ]);
      expect(r.output).not.toMatch(/\\u000[07]/);
    },
  );

  it('read as bytes (a file), the same', async () => {
    const text = APP.replace('Price, Megan Rose', `Price, Megan${NUL} Rose`);
    const r = await run(Buffer.from(text, 'utf8') as unknown as string, 'dialogplus-csv', 'fhir');
    expect(r.summary).toMatchObject({ read: 4, converted: 3, rejected: 1 });
  });

  it('tab, CR and LF in a quoted action are text, not refused', async () => {
    const actions = 'Try the wind-down routine every night;Ask Dr Nair about sleep';
    expect(APP).toContain(actions);
    const text = APP.replace(actions, `"${actions.replace(' about ', '\tabout\r\n')}"`);
    const r = await run(text, 'dialogplus-csv', 'fhir');
    expect(r.summary).toMatchObject({ read: 4, converted: 4, rejected: 0 });
  });
});

describe('mhsds-csv', () => {
  const ROWS = fixture('mhsds-csv', 'assessments.csv');

  it('BEL in LocalPatientId on one row rejects that whole session, naming the row', async () => {
    const clean = await run(ROWS, 'mhsds-csv', 'fhir');
    const lines = ROWS.split('\n');
    // The third row of the first session (rows 2–12).
    lines[3] = (lines[3] ?? '').replace('RX1-000123', `RX1-${BEL}000123`);
    const r = await run(lines.join('\n'), 'mhsds-csv', 'fhir');
    expect(r.summary.rejected).toBe(clean.summary.rejected + 1);
    expect(rejectSummary(r).join('\n')).toMatch(
      /row 4, column "LocalPatientId" \| LocalPatientId holds a control character/,
    );
    expect(responses(r.output)).toHaveLength(responses(clean.output).length - 1);
  });

  it('NUL in CareActId: the same', async () => {
    const r = await run(ROWS.replace('CA-1001', `CA-${NUL}1001`), 'mhsds-csv', 'fhir');
    expect(rejectSummary(r).join('\n')).toMatch(
      /row 2, column "CareActId" \| CareActId holds a control character/,
    );
  });
});

describe('hl7v2', () => {
  const ORU = fixture('hl7v2', 'oru-r01.hl7');

  it.each([
    ['a raw BEL in PID-5', 'Price^Megan^Rose', `Price^Me${BEL}gan^Rose`, 'PID-5', 2],
    ['\\X00\\ in PID-5', 'Price^Megan^Rose', 'Price^Me\\X00\\gan^Rose', 'PID-5', 2],
    ['\\X07\\ in OBR-3', 'ORD-77', 'ORD\\X07\\77', 'OBR-3', 3],
    ['\\X0C\\ (form feed) in a PID-3 identifier', 'RX1-000123', 'RX1\\X0C\\000123', 'PID-3', 2],
  ])(
    '%s: the message is rejected at that field, the next one converted',
    async (_, from, to, field, segment) => {
      const text = ORU.replace(from, to);
      const r = await run(text, 'hl7v2', 'fhir');
      expect(r.summary).toMatchObject({ read: 2, converted: 1, rejected: 1 });
      expect(rejectSummary(r)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^message 1 \\(line 1\\): message 1 \\(line 1\\), segment ${segment} \\([A-Z]{3}, line ${segment}\\), field ${field} \\| ${field} holds a control character`,
          ),
        ),
      ]);
    },
  );

  it('\\X0D0A\\ and \\.br\\ (line breaks) and \\X09\\ (tab) are text, not refused', async () => {
    const text = ORU.replace('Price^Megan^Rose', 'Price^Me\\X09\\gan^Ro\\X0D0A\\se\\.br\\');
    const r = await run(text, 'hl7v2', 'fhir');
    expect(r.summary).toMatchObject({ read: 2, converted: 2, rejected: 0 });
  });
});
