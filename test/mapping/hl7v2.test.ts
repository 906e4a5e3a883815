import type { Patient } from '@medplum/fhirtypes';
import type { Hl7Mapping } from '../../src/mapping/spec';
import { escapeHl7, readDtm, unescapeHl7, writeDtm } from '../../src/mapping/hl7v2';
import { ZoneClock } from '../../src/mapping/datetime';
import { convert } from '../../src/mapping/engine';
import { fixture, rejectSummary, responses, run, validationErrors } from './helpers';

const ORU = fixture('hl7v2', 'oru-r01.hl7');
const ENC = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

describe('HL7 v2 pieces', () => {
  it('escape and unescape delimiters in text', () => {
    const text = 'a|b^c~d&e\\f\rg';
    expect(escapeHl7(text, ENC)).toBe('a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f\\X0D\\g');
    expect(unescapeHl7(escapeHl7(text, ENC), ENC)).toBe(text);
    expect(unescapeHl7('x\\Y\\z', ENC)).toBe('x\\Y\\z');
    // Names of Object's own properties are no escapes either.
    for (const code of ['constructor', '__proto__', 'toString'])
      expect(unescapeHl7(`a\\${code}\\b`, ENC)).toBe(`a\\${code}\\b`);
  });

  it('read DTM with or without seconds and offset; refuse a local time that is not once', () => {
    const clock = new ZoneClock('Europe/London');
    expect(readDtm('20250916151000+0100', clock)).toEqual({
      ok: true,
      value: '2025-09-16T15:10:00+01:00',
    });
    expect(readDtm('202509161510', clock)).toEqual({
      ok: true,
      value: '2025-09-16T15:10:00+01:00',
    });
    expect(readDtm('20250916151000.25-0500', clock)).toEqual({
      ok: true,
      value: '2025-09-16T15:10:00.250-05:00',
    });
    expect(readDtm('20251026013000', clock)).toMatchObject({ ok: false });
    expect(readDtm('20250230101000', clock)).toEqual({
      ok: false,
      message: 'is not a real date and time',
    });
    expect(readDtm('20250916', clock)).toMatchObject({ ok: false });
    expect(writeDtm('2025-09-16T15:10:00.250-05:00')).toBe('20250916151000.250-0500');
    expect(writeDtm('2025-09-16T14:10:00Z')).toBe('20250916141000+0000');
  });
});

describe('hl7v2 ORU^R01 → FHIR', () => {
  it('reads each result into a valid DIALOG response', async () => {
    const r = await run(ORU, 'hl7v2', 'fhir');
    expect(r.summary).toMatchObject({ read: 2, converted: 2, rejected: 0 });
    const [price, oneill] = responses(r.output);
    for (const qr of [price, oneill]) expect(qr && validationErrors(qr)).toEqual([]);
    expect(price?.identifier).toEqual({
      system: 'https://dialog-fhir.org/fhir/sid/hl7v2-filler-order',
      value: 'ORD-77',
    });
    expect(price?.authored).toBe('2025-09-16T15:10:00+01:00');
    expect(price?.contained?.[0]).toEqual({
      resourceType: 'Patient',
      id: 'subject',
      identifier: [
        {
          type: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NH' }],
          },
          system: 'https://fhir.nhs.uk/Id/nhs-number',
          value: '9434765919',
        },
        {
          type: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
          },
          system: 'https://dialog-fhir.org/fhir/sid/hl7v2-authority/RX1',
          value: 'RX1-000123',
        },
      ],
      name: [{ family: 'Price', given: ['Megan', 'Rose'], prefix: ['Ms'] }],
      gender: 'female',
      birthDate: '1991-04-12',
    });
    expect(JSON.stringify(price)).toContain(
      '"linkId":"friendships.help","text":"Do you need more help in this area?","answer":[{"valueBoolean":true}]',
    );
    expect(oneill?.status).toBe('in-progress');
    expect((oneill?.contained?.[0] as Patient).name).toEqual([
      { family: "O'Neill", given: ['Siân'] },
    ]);
  });

  it('reads a trust system’s message (LF, MLLP, batch, local times, CE, any OBX order) the same', async () => {
    const theirs = await run(fixture('hl7v2', 'oru-r01-from-trust-system.hl7'), 'hl7v2', 'fhir');
    const ours = await run(ORU, 'hl7v2', 'fhir');
    expect(theirs.summary).toMatchObject({ read: 1, converted: 1 });
    expect(theirs.output).toBe(ours.output.split('\n')[0] + '\n');
  });

  it('gives back the same messages after a trip through FHIR (same clock for MSH-7)', async () => {
    const fhir = await run(ORU, 'hl7v2', 'fhir');
    const back = await run(fhir.output, 'fhir', 'hl7v2');
    expect(back.output).toBe(ORU);
  });
});

describe('hl7v2 ADT', () => {
  it('reads A01 and A03 as typed events, not sessions', async () => {
    const r = await run(fixture('hl7v2', 'adt-admit-discharge.hl7'), 'hl7v2', 'fhir');
    expect(r.summary).toMatchObject({ read: 0, converted: 0, events: 2 });
    expect(r.output).toBe('');
    expect(r.events.map((e) => e.event)).toEqual([
      {
        event: 'admit',
        messageType: 'ADT^A01',
        messageControlId: 'PAS0001',
        patient: {
          identifiers: [
            { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919', type: 'NH' },
          ],
          name: { family: 'Price', given: ['Megan', 'Rose'], prefix: ['Ms'] },
          birthDate: '1991-04-12',
        },
        occurredAt: '2025-10-20T14:15:00+01:00',
        recordedAt: '2025-10-20T14:30:00+01:00',
        location: { pointOfCare: 'WILLOW', room: 'Bay 2', bed: 'Bed 4', facility: 'RX1HOSP' },
        visitNumber: 'SPELL-5501',
        organisation: 'RX1',
      },
      expect.objectContaining({
        event: 'discharge',
        messageType: 'ADT^A03',
        occurredAt: '2025-11-03T10:00:00+00:00',
      }),
    ]);
  });
});

describe('hl7v2: bad messages', () => {
  it('rejects each with a clear issue and converts the good ones', async () => {
    const file = 'with-bad-messages.hl7';
    const r = await run(fixture('hl7v2', file), 'hl7v2', 'fhir', { file });
    expect(r.summary).toMatchObject({ read: 11, converted: 2, rejected: 9 });
    expect(rejectSummary(r)).toEqual([
      'message 2 (line 5): message 2 (line 5), field MSH-1 | MSH-1 declares a field separator other than "|", which this mapping reads',
      'message 3 (line 7): message 3 (line 7), field MSH-2 | MSH-2 declares encoding characters other than "^~\\&", which this mapping reads',
      'message 4 (line 11): message 4 (line 11), segment 4 (OBX, line 14), field OBX-5 | OBX-5 is not a whole number from 1 to 7',
      'message 5 (line 15): message 5 (line 15), segment 5 (OBX, line 19), field OBX-3 | OBX-3 is not a DIALOG item (SNOMED CT) or "more help" code',
      'message 6 (line 20): message 6 (line 20), segment 5 (OBX, line 24), field OBX-14 | OBX-14 differs from OBR-7: one session is rated at one point in time',
      'message 7 (line 25): message 7 (line 25), segment 2 (PID, line 26), field PID-3 | PID-3: the NHS number is not valid (10 digits, not all the same, with a correct check digit)',
      'message 8 (line 29): message 8 (line 29), field MSH-9 | Message type ADT^A08 is not mapped (this mapping reads ORU^R01, ADT^A01, ADT^A03)',
      'message 9 (line 31): message 9 (line 31), segment 3 (line 33) | Not an HL7 segment (a segment starts with a three-character name and a field separator)',
      'message 10 (line 35): message 10 (line 35), segment 4 (OBX, line 38), field OBX-2 | OBX-2 is not NM for an item score',
    ]);
    expect(r.rejects[2]?.outcome.issue[0]?.diagnostics).toMatch(
      /^with-bad-messages\.hl7: message 4 /,
    );
  });

  it('refuses a declared character set it would misread, and segments outside a message', async () => {
    const latin1 = ORU.split('\n')[0]?.replace('UNICODE UTF-8', '8859/1') ?? '';
    const r = await run(`PID|1\r\n${latin1}\n`, 'hl7v2', 'fhir');
    expect(rejectSummary(r)).toEqual([
      'line 1: line 1 | Segments outside any message (no MSH segment before them)',
      'message 1 (line 2): message 1 (line 2), field MSH-18 | MSH-18 declares a character set this reader does not decode (it reads ASCII and UTF-8)',
    ]);
  });
});

describe('FHIR → hl7v2', () => {
  it('needs an NHS number or an identifier with an assigning authority', async () => {
    const r = await run(
      fixture('dialogplus-csv', 'export-app-order.csv'),
      'dialogplus-csv',
      'hl7v2',
    );
    expect(r.summary).toMatchObject({ converted: 0, rejected: 4 });
    expect(rejectSummary(r)[0]).toMatch(/PID-3 needs a patient identifier/);
  });

  it('writes the journey’s first session from its Bundle (Patient found by reference)', async () => {
    const r = await run(
      fixture('..', '..', 'examples', 'journey', '01-community-start.json'),
      'fhir',
      'hl7v2',
    );
    expect(r.summary).toMatchObject({ converted: 1 });
    const pid = r.output.split('\r')[1];
    // The NHS number gets its identifier type (NH) from the mapping's authority.
    expect(pid).toBe('PID|1||9992468017^^^NHS^NH||Price^Megan^Rose^^Ms||19910412|F');
  });
});

// One ORU^R01 built from segments, as the review's repro inputs are (segments end with \r).
const MSH = 'MSH|^~\\&|EPR|RX1|||20251101100500+0000||ORU^R01|C1|P|2.5.1';
const PID = 'PID|1||9434765919^^^NHS^NH||Jones^Bob';
const OBR = 'OBR|1||ORD1|dialog^DIALOG+|||20251101100000+0000||||||||||||||||||F';
const OBX = 'OBX|1|NM|1037651000000100^^SCT||5||||||F|||20251101100000+0000';
const oru = (...segments: string[]): string => segments.join('\r') + '\r';

describe('hl7v2 ORU^R01: one session per message, never merged (review F1, F2)', () => {
  it('refuses a second PID (another patient), naming that segment', async () => {
    const r = await run(
      oru(
        MSH,
        PID,
        OBR,
        OBX,
        'PID|2||9992468017^^^NHS^NH||Other^Alice',
        'OBR|2||ORD2|dialog^DIALOG+|||20251215100000+0000||||||||||||||||||F',
        'OBX|1|NM|1037661000000102^^SCT||2||||||F',
      ),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ read: 1, converted: 0, rejected: 1 });
    expect(r.output).toBe('');
    expect(rejectSummary(r)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 5 (PID, line 5) | A second PID segment: this mapping reads one patient and one order (OBR) per ORU^R01, so the message is not converted',
    ]);
    expect(r.rejects[0]?.outcome.issue[0]?.expression).toEqual(['PID']);
  });

  it('refuses a second OBR (another session of the same patient), naming that segment', async () => {
    const r = await run(
      oru(
        MSH,
        PID,
        OBR,
        OBX,
        'OBR|2||ORD2|dialog^DIALOG+|||20251215100000+0000||||||||||||||||||F',
        'OBX|1|NM|1037661000000102^^SCT||2||||||F',
      ),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ read: 1, converted: 0, rejected: 1 });
    expect(rejectSummary(r)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 5 (OBR, line 5) | A second OBR segment: this mapping reads one patient and one order (OBR) per ORU^R01, so the message is not converted',
    ]);
  });

  it('refuses an OBX that does not follow the OBR, and a PID after it', async () => {
    const before = await run(oru(MSH, PID, OBX, OBR), 'hl7v2', 'fhir');
    expect(rejectSummary(before)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 3 (OBX, line 3) | An OBX segment before the OBR: each OBX must belong to the order group (OBR) it follows',
    ]);
    const none = await run(oru(MSH, PID, OBX), 'hl7v2', 'fhir');
    expect(rejectSummary(none)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 3 (OBX, line 3) | An OBX segment before the OBR: each OBX must belong to the order group (OBR) it follows',
    ]);
    const late = await run(oru(MSH, OBR, PID, OBX), 'hl7v2', 'fhir');
    expect(rejectSummary(late)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 3 (PID, line 3) | The PID segment comes after the OBR: the patient must come before their order group',
    ]);
    // The good shape still converts.
    expect((await run(oru(MSH, PID, OBR, OBX), 'hl7v2', 'fhir')).summary).toMatchObject({
      converted: 1,
      rejected: 0,
    });
  });
});

describe('hl7v2 OBX-3 / OBX-5: one code and one value per OBX, never the first of several (review F3)', () => {
  const obx = (code: string, type: string, value: string): string =>
    `OBX|1|${type}|${code}||${value}||||||F|||20251101100000+0000`;
  const score = '1037651000000100^^SCT';
  const help = 'help-mental-health^^99DLG';
  const cases: [string, string, string][] = [
    [
      obx(`${score}~1037661000000102^^SCT`, 'NM', '5'),
      'OBX-3',
      'OBX-3 repeats: an OBX holds one code, so what it rates would be a guess',
    ],
    [obx(score, 'NM', '5~6'), 'OBX-5', 'OBX-5 repeats: an OBX holds one value here'],
    [obx(help, 'CWE', 'Y~N'), 'OBX-5', 'OBX-5 repeats: an OBX holds one value here'],
    [obx(score, 'NM', '5^7'), 'OBX-5', 'OBX-5 has more components than a NM value holds (1)'],
    [
      obx(help, 'CWE', 'Y^Yes^HL70136^N^No^HL70136'),
      'OBX-5',
      'OBX-5 has more components than a CWE value holds here (3: code, text, coding system)',
    ],
    [obx(score, 'NM', '5&7'), 'OBX-5', 'OBX-5 has subcomponents, which this value does not have'],
    [
      obx('1037651000000100&x^^SCT', 'NM', '5'),
      'OBX-3',
      'OBX-3 has subcomponents, which this value does not have',
    ],
    [
      obx(`${score}^1037661000000102^^SCT`, 'NM', '5'),
      'OBX-3',
      'OBX-3 has more components than a code holds here (3: code, text, coding system)',
    ],
    [
      obx(help, 'CWE', 'Y^Yes^OTHER'),
      'OBX-5',
      'OBX-5 names a coding system (CWE-3) other than HL70136',
    ],
  ];
  it.each(cases)('refuses %s, naming %s', async (segment, field, message) => {
    const r = await run(
      oru(MSH, PID, OBR, OBX, segment.replace('OBX|1|', 'OBX|2|')),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ converted: 0, rejected: 1 });
    expect(rejectSummary(r)).toEqual([
      `message 1 (line 1): message 1 (line 1), segment 5 (OBX, line 5), field ${field} | ${message}`,
    ]);
  });

  it('still reads a help answer written code^text^system, and trailing empty components', async () => {
    const r = await run(
      oru(MSH, PID, OBR, OBX, obx(help, 'CWE', 'N^No^HL70136').replace('OBX|1|', 'OBX|2|')),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ converted: 1 });
    expect(r.output).toContain('"linkId":"mental-health.help"');
    const trailing = await run(oru(MSH, PID, OBR, obx(`${score}^^`, 'NM', '5^')), 'hl7v2', 'fhir');
    expect(trailing.summary).toMatchObject({ converted: 1 });
  });
});

describe('hl7v2 ORU^R01: what the mapping does not read is reported, never dropped silently (review F4)', () => {
  it('converts the session and names each unread segment and field once, with counts', async () => {
    const message = oru(
      MSH,
      PID,
      'PV1|1|O|CMHT-NORTH',
      'ORC|RE|PLC-9',
      'OBR|1|PLC-9|ORD1|dialog^DIALOG+|||20251101100000+0000||||||||||||||||||F',
      'NTE|1||Patient very distressed; safeguarding concern raised',
      'OBX|1|NM|1037651000000100^^SCT||5|score|1-7|L|||F|||20251101100000+0000||Dr Who^Who',
      'NTE|1||Score given after long discussion',
      'ZDS|custom^data',
    );
    const r = await run(message + message.replace('|C1|', '|C2|'), 'hl7v2', 'fhir', {
      file: 'f4.hl7',
    });
    expect(r.summary).toMatchObject({ read: 2, converted: 2, rejected: 0, notices: 9 });
    // Warnings: every session was converted, so the CLI exits 0 (it exits 1 on noticeErrors).
    expect(r.summary.noticeErrors).toBe(0);
    expect(r.notices.map((n) => n.severity)).toEqual(Array(9).fill('warning'));
    expect(r.notices.map((n) => `${n.location?.[0] ?? ''} | ${n.details?.text ?? ''}`)).toEqual([
      'message 1 (line 1), segment 3 (PV1, line 3) | PV1 segments are not read by this mapping; their content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 4 (ORC, line 4) | ORC segments are not read by this mapping; their content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 5 (OBR, line 5), field OBR-2 | OBR-2 is not read by this mapping; its content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 6 (NTE, line 6) | NTE segments are not read by this mapping; their content is not converted (4, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 7 (OBX, line 7), field OBX-6 | OBX-6 is not read by this mapping; its content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 7 (OBX, line 7), field OBX-7 | OBX-7 is not read by this mapping; its content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 7 (OBX, line 7), field OBX-8 | OBX-8 is not read by this mapping; its content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 7 (OBX, line 7), field OBX-16 | OBX-16 is not read by this mapping; its content is not converted (2, in 2 message(s); the first is here)',
      'message 1 (line 1), segment 9 (ZDS, line 9) | ZDS segments are not read by this mapping; their content is not converted (2, in 2 message(s); the first is here)',
    ]);
    expect(r.notices[0]?.diagnostics).toMatch(/^f4\.hl7: message 1 /);
    // The notices name fields and segments, never their content (it may be patient data).
    expect(JSON.stringify(r.notices)).not.toMatch(/distressed|Who|CMHT|custom/);
    expect(responses(r.output)).toHaveLength(2);
  });

  it('reports components it does not read in the fields it does (other names, EI namespace)', async () => {
    const r = await run(
      oru(
        MSH,
        'PID|1||9434765919^^^NHS^NH||Jones^Bob^^^^MD^L~Smith^Bob',
        'OBR|1||ORD1^LAB^1.2.3^ISO|dialog^DIALOG+|||20251101100000+0000||||||||||||||||||F',
        OBX,
      ),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ converted: 1 });
    expect(r.notices.map((n) => n.details?.text ?? '')).toEqual([
      'PID-5 repetitions after the first (other names) are not read by this mapping; their content is not converted (1, in 1 message(s); the first is here)',
      'PID-5 components after the fifth (XPN-6 and later: degree, name type, …) are not read by this mapping; their content is not converted (1, in 1 message(s); the first is here)',
      'OBR-3 components after the first (EI-2 to EI-4: the namespace and universal id) are not read by this mapping; their content is not converted (1, in 1 message(s); the first is here)',
    ]);
  });

  it('reports nothing for what it writes itself, nor for a rejected message', async () => {
    const ours = await run(fixture('hl7v2', 'oru-r01.hl7'), 'hl7v2', 'fhir');
    expect(ours.summary).toMatchObject({ converted: 2, notices: 0 });
    const rejected = await run(
      oru(MSH, PID, OBR, 'NTE|1||note', 'OBX|1|NM|1037651000000100^^SCT||9||||||F'),
      'hl7v2',
      'fhir',
    );
    expect(rejected.summary).toMatchObject({ rejected: 1, notices: 0 });
  });
});

describe('hl7v2 PID: birth date, HL7 null, identifiers and name parts (review F7, F10, F13, F6)', () => {
  const withPid = (pid: string, obr = OBR, obx = OBX): Promise<Awaited<ReturnType<typeof run>>> =>
    run(oru(MSH, pid, obr, obx), 'hl7v2', 'fhir');
  const patientOf = (r: Awaited<ReturnType<typeof run>>): Patient | undefined =>
    responses(r.output)[0]?.contained?.[0] as Patient | undefined;

  it('reads PID-7 only when the whole field is a date (F7)', async () => {
    for (const bad of ['1980-05-17', '1980051', '19800517junk', '19800517+01', '1980051712x']) {
      const r = await withPid(`PID|1||9434765919^^^NHS^NH||Jones^Bob||${bad}|M`);
      expect(rejectSummary(r)).toEqual([
        'message 1 (line 1): message 1 (line 1), segment 2 (PID, line 2), field PID-7 | PID-7 is not a date',
      ]);
    }
    const cases: [string, string][] = [
      ['19800517', '1980-05-17'],
      ['198005', '1980-05'],
      ['1980', '1980'],
      ['198005171230+0100', '1980-05-17'],
      ['19800517123015.5', '1980-05-17'],
    ];
    for (const [text, date] of cases) {
      const r = await withPid(`PID|1||9434765919^^^NHS^NH||Jones^Bob||${text}|M`);
      expect(patientOf(r)?.birthDate).toBe(date);
    }
  });

  it('reads the HL7 null "" as no value, never as text or an identifier (F10)', async () => {
    const r = await withPid(
      'PID|1||9434765919^^^NHS^NH~""||""^Bob||""|""',
      'OBR|1||""|dialog^DIALOG+|||20251101100000+0000||||||||||||||||||F',
      'OBX|1|NM|1037651000000100^^SCT||5||||||F|||""',
    );
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0, notices: 0 });
    const qr = responses(r.output)[0];
    // OBR-3 "" is no filler order number: the response gets the derived identifier instead.
    expect(qr?.identifier?.system).toBe('https://dialog-fhir.org/fhir/sid/native-session');
    expect(qr?.identifier?.value).not.toContain('"');
    expect(qr?.authored).toBe('2025-11-01T10:00:00+00:00');
    const patient = patientOf(r);
    expect(patient?.name).toEqual([{ given: ['Bob'] }]);
    expect(patient?.birthDate).toBeUndefined();
    expect(patient?.gender).toBeUndefined();
    expect(patient?.identifier?.map((i) => i.value)).toEqual(['9434765919']);
    const noName = await withPid('PID|1||9434765919^^^NHS^NH||""');
    expect(patientOf(noName)?.name).toBeUndefined();
    const nullScore = await withPid(PID, OBR, 'OBX|1|NM|1037651000000100^^SCT||""||||||F');
    expect(rejectSummary(nullScore)[0]).toMatch(/field OBX-5 \| OBX-5 is not a whole number/);
  });

  it('reads "" in an ADT location as no value (F10)', async () => {
    const adt = fixture('hl7v2', 'adt-admit-discharge.hl7')
      .split('\n')[0]
      ?.replace('WILLOW^Bay 2^Bed 4^RX1HOSP', 'WILLOW^""^""^RX1HOSP')
      .replace('SPELL-5501', '""');
    const r = await run(`${adt ?? ''}\n`, 'hl7v2', 'fhir');
    expect(r.events[0]?.event.location).toEqual({ pointOfCare: 'WILLOW', facility: 'RX1HOSP' });
    expect(r.events[0]?.event.visitNumber).toBeUndefined();
  });

  it('refuses two different NHS numbers in PID-3; one repeated is one identifier (F13)', async () => {
    const r = await withPid('PID|1||9434765919^^^NHS^NH~9992468017^^^NHS^NH||Jones^Bob');
    expect(rejectSummary(r)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 2 (PID, line 2), field PID-3 | PID-3 holds two different NHS numbers: which is the person’s would be a guess',
    ]);
    const same = await withPid('PID|1||9434765919^^^NHS^NH~9434765919^^^NHS^NH||Jones^Bob');
    expect(patientOf(same)?.identifier?.map((i) => i.value)).toEqual(['9434765919']);
  });

  it('matches CX-4 on its first subcomponent (HD-1) and checks the NHS number (F6)', async () => {
    const r = await withPid('PID|1||9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH||Jones^Bob');
    expect(r.summary).toMatchObject({ converted: 1 });
    expect(patientOf(r)?.identifier?.[0]).toMatchObject({
      system: 'https://fhir.nhs.uk/Id/nhs-number',
      value: '9434765919',
    });
    expect(responses(r.output)[0]?.subject?.identifier?.system).toBe(
      'https://fhir.nhs.uk/Id/nhs-number',
    );
    // HD-2 and HD-3 are not held: reported, not dropped silently.
    expect(r.notices.map((n) => n.details?.text)).toEqual([
      'PID-3 assigning authority subcomponents after the first (HD-2, HD-3: universal id and its type) are not read by this mapping; their content is not converted (1, in 1 message(s); the first is here)',
    ]);
    const bad = await withPid(
      'PID|1||1234567890^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH||Jones^Bob',
    );
    expect(rejectSummary(bad)[0]).toMatch(/PID-3: the NHS number is not valid/);
    const back = await run(r.output, 'fhir', 'hl7v2');
    expect(back.output.split('\r')[1]).toBe('PID|1||9434765919^^^NHS^NH||Jones^Bob');
  });

  it('refuses subcomponents in a name part or an identifier, never keeping a literal & (F6)', async () => {
    const cases: [string, string, string][] = [
      [
        'PID|1||9434765919^^^NHS^NH||van&Dijk^Jan',
        'PID-5',
        'PID-5 has subcomponents in the family name (FN-2 to FN-5: surname prefixes, own and partner surnames), which this mapping does not read',
      ],
      [
        'PID|1||9434765919^^^NHS^NH||Dijk^Jan&Piet',
        'PID-5',
        'PID-5 has subcomponents in a name part that has none',
      ],
      [
        'PID|1||9434765919&x^^^NHS^NH||Dijk^Jan',
        'PID-3',
        'PID-3 has subcomponents in an identifier (CX-1) or its type (CX-5), which have none',
      ],
    ];
    for (const [pid, field, message] of cases) {
      const r = await withPid(pid);
      expect(rejectSummary(r)).toEqual([
        `message 1 (line 1): message 1 (line 1), segment 2 (PID, line 2), field ${field} | ${message}`,
      ]);
    }
    // FN-1 alone, with empty subcomponents after it, is the family name.
    const plain = await withPid('PID|1||9434765919^^^NHS^NH||Dijk&&^Jan');
    expect(patientOf(plain)?.name).toEqual([{ family: 'Dijk', given: ['Jan'] }]);
  });
});

describe('hl7v2 escapes: multi-byte hex and line breaks are text, never literal escapes (review F9)', () => {
  it('decodes \\Xhhhh…\\ as UTF-8 bytes (also split over several escapes) and \\.br\\ as a line break', () => {
    expect(unescapeHl7('Ren\\XC3A9\\e', ENC)).toBe('Renée');
    expect(unescapeHl7('Ren\\XC3\\\\XA9\\e', ENC)).toBe('Renée');
    expect(unescapeHl7('a\\X0D0A\\b', ENC)).toBe('a\r\nb');
    expect(unescapeHl7('\\XF09F9883\\', ENC)).toBe('😃');
    expect(unescapeHl7('line one\\.br\\line two', ENC)).toBe('line one\nline two');
    expect(unescapeHl7('\\H\\bold\\N\\ text', ENC)).toBe('bold text');
    // A literal backslash followed by text that looks like an escape stays literal.
    expect(unescapeHl7('\\E\\XC3A9\\E\\', ENC)).toBe('\\XC3A9\\');
  });

  it('reads them into the response and writes them back as text, not as escaped escapes', async () => {
    const r = await run(
      oru(MSH, 'PID|1||9434765919^^^NHS^NH||Ren\\XC3A9\\e^Jo\\XC3\\\\XAB\\l', OBR, OBX),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ converted: 1 });
    const patient = responses(r.output)[0]?.contained?.[0] as Patient | undefined;
    expect(patient?.name).toEqual([{ family: 'Renée', given: ['Joël'] }]);
    const back = await run(r.output, 'fhir', 'hl7v2');
    expect(back.output.split('\r')[1]).toBe('PID|1||9434765919^^^NHS^NH||Renée^Joël');
  });

  it('refuses hex bytes that are not UTF-8, naming the field', async () => {
    const r = await run(
      oru(MSH, 'PID|1||9434765919^^^NHS^NH||Ren\\XE9\\^Jo', OBR, OBX),
      'hl7v2',
      'fhir',
    );
    expect(rejectSummary(r)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 2 (PID, line 2), field PID-5 | PID-5 has a hex escape (\\X…\\) whose bytes are not UTF-8 text',
    ]);
  });
});

describe('hl7v2 ORU^R01: a single-valued field read with a second value is refused, not cut', () => {
  const repeats = 'repeats: it holds one value here';
  const cases: [string, string[], string, string][] = [
    [
      'OBR-3 ~',
      [MSH, PID, OBR.replace('|ORD1|', '|ORD1~ORD2|'), OBX],
      'segment 3 (OBR, line 3), field OBR-3',
      repeats,
    ],
    [
      'OBR-3 &',
      [MSH, PID, OBR.replace('|ORD1|', '|ORD1&X|'), OBX],
      'segment 3 (OBR, line 3), field OBR-3',
      'has subcomponents, which a filler order number (EI-1) does not have',
    ],
    [
      'OBR-7 ~',
      [
        MSH,
        PID,
        OBR.replace('20251101100000+0000', '20251101100000+0000~20251215100000+0000'),
        OBX,
      ],
      'segment 3 (OBR, line 3), field OBR-7',
      repeats,
    ],
    [
      'OBX-11 ~',
      [MSH, PID, OBR, OBX.replace('|F|', '|F~P|')],
      'segment 4 (OBX, line 4), field OBX-11',
      repeats,
    ],
    [
      'PID-7 ~',
      [MSH, `${PID}||19800517~19810101|M`, OBR, OBX],
      'segment 2 (PID, line 2), field PID-7',
      repeats,
    ],
  ];
  it.each(cases)('refuses %s', async (_name, segments, place, message) => {
    const r = await run(oru(...segments), 'hl7v2', 'fhir');
    expect(r.summary).toMatchObject({ converted: 0, rejected: 1 });
    const field = place.slice(place.lastIndexOf(' ') + 1);
    expect(rejectSummary(r)).toEqual([
      `message 1 (line 1): message 1 (line 1), ${place} | ${field} ${message}`,
    ]);
  });
});

describe('hl7v2 export: text that is exactly "" is not written as the HL7 null', () => {
  it('escapes it as hex, which reads back as the text', async () => {
    expect(escapeHl7('""', ENC)).toBe('\\X2222\\');
    expect(escapeHl7('say ""', ENC)).toBe('say ""');
    const r = await run(
      oru(MSH, 'PID|1||9434765919^^^NHS^NH||\\X2222\\^Bob', OBR, OBX),
      'hl7v2',
      'fhir',
    );
    const patient = responses(r.output)[0]?.contained?.[0] as Patient | undefined;
    expect(patient?.name).toEqual([{ family: '""', given: ['Bob'] }]);
    const back = await run(r.output, 'fhir', 'hl7v2');
    expect(back.output.split('\r')[1]).toBe('PID|1||9434765919^^^NHS^NH||\\X2222\\^Bob');
  });
});

describe('hl7v2: text that is not UTF-8', () => {
  it('a message with Latin-1 bytes is refused at MSH-18; the UTF-8 messages around it are read', async () => {
    const first = ORU.split(/(?=MSH\|)/)[0] ?? '';
    const utf8 = Buffer.from(first, 'utf8');
    const latin1 = Buffer.from(first.replace('Price', 'Pr\u00efce'), 'latin1');
    expect(latin1.includes(Buffer.from([0xef]))).toBe(true); // ï as one Latin-1 byte
    const rejects: [string, string][] = [];
    let output = '';
    const summary = await convert(
      [utf8, latin1, utf8],
      (chunk) => {
        output += chunk;
      },
      {
        from: 'hl7v2',
        to: 'fhir',

        onReject: (outcome, location) =>
          rejects.push([location, outcome.issue[0]?.expression?.[0] ?? '']),
      },
    );
    expect(rejects).toEqual([[expect.stringMatching(/^message 2/), 'MSH-18']]);
    // A byte that is not UTF-8 as the input's very last byte is refused too.
    const atEnd: string[] = [];
    await convert(
      [utf8, Buffer.from(first.trimEnd(), 'utf8'), Buffer.from([0xe9])],
      () => undefined,
      {
        from: 'hl7v2',
        to: 'fhir',
        onReject: (_outcome, location) => atEnd.push(location),
      },
    );
    expect(atEnd).toEqual([expect.stringMatching(/^message 2/)]);
    expect(summary.converted).toBe(2);
    expect(summary.rejected).toBe(1);
    expect(output).not.toContain('\uFFFD');
  });
});

describe('hl7v2 names: a first given name of two words stays one (review L1)', () => {
  const GIVEN = 'Price^Megan^Rose^^Ms';

  it('PID-5 Smith^Mary Ann comes back as Smith^Mary Ann, one given name in FHIR', async () => {
    expect(ORU).toContain(GIVEN);
    const text = ORU.replace(GIVEN, 'Smith^Mary Ann^^^Ms');
    const fhir = await run(text, 'hl7v2', 'fhir');
    const qr = responses(fhir.output)[0];
    const patient = qr?.contained?.[0] as Patient | undefined;
    expect(patient?.name).toEqual([{ family: 'Smith', given: ['Mary Ann'], prefix: ['Ms'] }]);
    const back = await run(fhir.output, 'fhir', 'hl7v2');
    expect(back.summary.notHeld).toEqual({});
    expect(back.output).toContain('|Smith^Mary Ann^^^Ms|');
    expect(back.output).toBe(text);
  });

  it('FHIR given ["Mary Ann", "Rose"] comes back the same; a space in a further given name splits it (XPN-3)', async () => {
    const fhir = await run(ORU, 'hl7v2', 'fhir');
    const [qr] = responses(fhir.output);
    if (!qr) throw new Error('no response');
    const patient = qr.contained?.[0] as Patient;
    const trip = async (given: string[]): Promise<unknown> => {
      patient.name = [{ family: 'Smith', given }];
      qr.subject = { ...qr.subject, display: `Smith, ${given.join(' ')}` };
      qr.source = { ...qr.source, display: `Smith, ${given.join(' ')}` };
      const hl7 = await run(JSON.stringify(qr), 'fhir', 'hl7v2');
      const again = responses((await run(hl7.output, 'hl7v2', 'fhir')).output)[0];
      return (again?.contained?.[0] as Patient | undefined)?.name?.[0]?.given;
    };
    expect(await trip(['Mary Ann', 'Rose'])).toEqual(['Mary Ann', 'Rose']);
    expect(await trip(['Mary', 'Ann Rose'])).toEqual(['Mary', 'Ann', 'Rose']);
  });
});

describe('hl7v2 times: the fourth digit of a second is kept, more are named as not held (review L3)', () => {
  const TIME = '20250916151000+0100';

  it('reads and writes DTM .SSSS whole', () => {
    const clock = new ZoneClock('Europe/London');
    expect(readDtm('20250916151000.1234+0100', clock)).toEqual({
      ok: true,
      value: '2025-09-16T15:10:00.1234+01:00',
    });
    expect(readDtm('20250916151000.0004', clock)).toEqual({
      ok: true,
      value: '2025-09-16T15:10:00.0004+01:00',
    });
    // A trailing zero is no digit lost.
    expect(readDtm('20250916151000.1230+0100', clock)).toEqual({
      ok: true,
      value: '2025-09-16T15:10:00.123+01:00',
    });
    expect(writeDtm('2025-09-16T15:10:00.1234+01:00')).toBe('20250916151000.1234+0100');
    expect(writeDtm('2025-09-16T15:10:00.0004Z')).toBe('20250916151000.0004+0000');
  });

  it('an ORU with .1234 comes back byte for byte through FHIR', async () => {
    expect(ORU).toContain(TIME);
    const text = ORU.replaceAll(TIME, '20250916151000.1234+0100');
    const fhir = await run(text, 'hl7v2', 'fhir');
    expect(responses(fhir.output)[0]?.authored).toBe('2025-09-16T15:10:00.1234+01:00');
    const back = await run(fhir.output, 'fhir', 'hl7v2');
    expect(back.summary.notHeld).toEqual({});
    expect(back.output).toBe(text);
  });

  it('OBR-7 .1234 and OBX-14 .1239 disagree (they were both read as .123)', async () => {
    const all = ORU.replaceAll(TIME, '20250916151000.1234+0100');
    const last = all.lastIndexOf('20250916151000.1234+0100');
    const text = `${all.slice(0, last)}20250916151000.1239+0100${all.slice(last + 24)}`;
    const r = await run(text, 'hl7v2', 'fhir');
    expect(r.summary).toMatchObject({ converted: 1, rejected: 1 });
    expect(rejectSummary(r)).toEqual([
      expect.stringMatching(
        /segment 17 \(OBX, line 17\), field OBX-14 \| OBX-14 differs from OBR-7/,
      ),
    ]);
    // The same with .1234 everywhere is one time.
    expect((await run(all, 'hl7v2', 'fhir')).summary).toMatchObject({ converted: 2, rejected: 0 });
  });

  it('FHIR microseconds: written to four digits, and named as not held', async () => {
    const fhir = await run(ORU, 'hl7v2', 'fhir');
    const [qr] = responses(fhir.output);
    if (!qr) throw new Error('no response');
    qr.authored = '2025-09-16T15:10:00.123456+01:00';
    const hl7 = await run(JSON.stringify(qr), 'fhir', 'hl7v2');
    expect(hl7.summary.notHeld).toEqual({ 'authored (fraction of a second beyond 4 digits)': 1 });
    expect(hl7.output).toContain('|20250916151000.1234+0100|');
    qr.authored = '2025-09-16T15:10:00.123400+01:00';
    expect((await run(JSON.stringify(qr), 'fhir', 'hl7v2')).summary.notHeld).toEqual({});
  });
});

describe('hl7v2 with a copied mapping using other delimiters (review L8)', () => {
  it('writes OBR-4 with the mapping’s component separator, and reads its own output back', async () => {
    const stock = JSON.parse(fixture('..', '..', 'mappings', 'hl7v2.json')) as Hl7Mapping;
    const custom: Hl7Mapping = {
      ...stock,
      encoding: { field: '#', component: '@', repetition: '*', escape: '!', subcomponent: '%' },
    };
    const fhir = await run(ORU, 'hl7v2', 'fhir');
    const out = await run(fhir.output, 'fhir', custom);
    expect(out.summary).toMatchObject({ converted: 2, rejected: 0 });
    const obr = out.output.split('\r').find((s) => s.startsWith('OBR#'));
    expect(obr?.split('#')[4]).toBe('dialog@DIALOG+ session@99DLG');
    expect(out.output).not.toContain('^');
    const back = await run(out.output, custom, 'fhir');
    expect(back.summary).toMatchObject({ converted: 2, rejected: 0 });
    expect(responses(back.output)).toEqual(responses(fhir.output));
  });
});

describe('hl7v2 escapes: formatting commands are text, escapes needing an agreement refuse the message', () => {
  const ADT_A01 = `${fixture('hl7v2', 'adt-admit-discharge.hl7').split('\n')[0] ?? ''}\n`;

  it('reads the formatting commands of FT text as line breaks and spaces, or as nothing', () => {
    expect(unescapeHl7('line one\\.sp\\line two', ENC)).toBe('line one\nline two');
    expect(unescapeHl7('a\\.sp2\\b\\.sp 3\\c', ENC)).toBe('a\n\nb\n\n\nc');
    expect(unescapeHl7('Heading\\.ce\\Centred', ENC)).toBe('Heading\nCentred');
    expect(unescapeHl7('a\\.sk3\\b\\.sk\\c', ENC)).toBe('a   b c');
    expect(unescapeHl7('a\\.sk 0\\b\\.sp 0\\c', ENC)).toBe('ab\nc');
    // Word wrap and indents lay out lines: plain text has no place for them.
    expect(unescapeHl7('\\.in+4\\\\.ti-4\\1. first\\.br\\\\.fi\\next\\.nf\\', ENC)).toBe(
      '1. first\nnext',
    );
    // Not a formatting command, or escaped escape characters: text, as before.
    expect(unescapeHl7('a\\.xx\\b', ENC)).toBe('a\\.xx\\b');
    expect(unescapeHl7('a\\E\\.sp\\E\\b', ENC)).toBe('a\\.sp\\b');
  });

  it('converts a message whose names and order number hold formatting commands', async () => {
    const r = await run(
      oru(
        MSH,
        'PID|1||9434765919^^^NHS^NH||Jones\\.sp\\^Bob\\.br\\Rose',
        'OBR|1||ORD\\.sk2\\1|dialog^DIALOG+|||20251101100000+0000||||||||||||||||||F',
        OBX,
      ),
      'hl7v2',
      'fhir',
    );
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0, notices: 0 });
    const qr = responses(r.output)[0];
    expect(qr?.identifier?.value).toBe('ORD  1');
    // A line break in a name part is white space, read as one space (as before).
    expect((qr?.contained?.[0] as Patient | undefined)?.name).toEqual([
      { family: 'Jones', given: ['Bob Rose'] },
    ]);
  });

  it('refuses \\Z…\\, \\C…\\ and \\M…\\ in a field it reads, naming each field', async () => {
    const r = await run(
      oru(
        MSH,
        'PID|1||9434765919^^^NHS^NH||Jones\\Zsmall\\^Bob',
        'OBR|1||ORD\\C2842\\1|dialog^DIALOG+|||20251101100000+0000||||||||||||||||||F',
        OBX,
      ) +
        oru(MSH, 'PID|1||9434765919^^^NHS^NH||\\M2442\\Jones^Bob', OBR, OBX) +
        ADT_A01.replace('WILLOW^', 'WILLOW\\Zw\\^'),
      'hl7v2',
      'fhir',
      { file: 'escapes.hl7' },
    );
    expect(r.summary).toMatchObject({ read: 3, converted: 0, rejected: 3, events: 0 });
    expect(rejectSummary(r)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 2 (PID, line 2), field PID-5 | PID-5 holds a locally defined escape (\\Z…\\), whose meaning only an agreement with the sender gives: the message is not converted',
      'message 1 (line 1): message 1 (line 1), segment 3 (OBR, line 3), field OBR-3 | OBR-3 holds a character-set escape (\\C…\\ or \\M…\\, ISO 2022), and this mapping reads UTF-8 text only: the message is not converted',
      'message 2 (line 5): message 2 (line 5), segment 2 (PID, line 6), field PID-5 | PID-5 holds a character-set escape (\\C…\\ or \\M…\\, ISO 2022), and this mapping reads UTF-8 text only: the message is not converted',
      'message 3 (line 9): message 3 (line 9), segment 4 (PV1, line 12), field PV1-3 | PV1-3 holds a locally defined escape (\\Z…\\), whose meaning only an agreement with the sender gives: the message is not converted',
    ]);
    const issues = r.rejects.flatMap((x) => x.outcome.issue);
    expect(issues.map((i) => [i.severity, i.code, i.expression?.[0]])).toEqual([
      ['error', 'not-supported', 'QuestionnaireResponse.contained.ofType(Patient).name'],
      ['error', 'not-supported', 'QuestionnaireResponse.identifier'],
      ['error', 'not-supported', 'QuestionnaireResponse.contained.ofType(Patient).name'],
      ['error', 'not-supported', 'PV1-3'],
    ]);
    expect(issues[0]?.diagnostics).toMatch(/^escapes\.hl7: message 1 \(line 1\), segment 2 /);
    // The issue names the escape's kind, never the text around it.
    expect(JSON.stringify(issues)).not.toMatch(/Jones|small|WILLOW/);
  });

  it('converts a message holding such an escape only in a segment it does not read (reported so)', async () => {
    const r = await run(oru(MSH, PID, OBR, OBX, 'NTE|1||see \\Zlocal\\ note'), 'hl7v2', 'fhir');
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0, notices: 1 });
    expect(r.notices[0]?.details?.text).toMatch(/^NTE segments are not read by this mapping/);
  });

  it('text that looks like an escape comes back from FHIR the same, through HL7', async () => {
    const message = oru(
      MSH,
      'PID|1||9434765919^^^NHS^NH~X1^^^RX1^M\\T\\R||A\\E\\.sp\\E\\B\\E\\Z1\\E\\C\\E\\C2842\\E\\^Bob',
      OBR,
      OBX,
    );
    const r = await run(message, 'hl7v2', 'fhir');
    const patient = responses(r.output)[0]?.contained?.[0] as Patient | undefined;
    expect(patient?.name?.[0]?.family).toBe('A\\.sp\\B\\Z1\\C\\C2842\\');
    const back = await run(r.output, 'fhir', 'hl7v2');
    // CX-5 is unescaped too (it was kept as written): M\T\R is the type M&R.
    expect(patient?.identifier?.[1]?.type?.coding?.[0]?.code).toBe('M&R');
    expect(back.output.split('\r')[1]).toBe(
      'PID|1||9434765919^^^NHS^NH~X1^^^RX1^M\\T\\R||A\\E\\.sp\\E\\B\\E\\Z1\\E\\C\\E\\C2842\\E\\^Bob',
    );
    const again = await run(back.output, 'hl7v2', 'fhir');
    expect(again.output).toBe(r.output);
  });
});

describe('hl7v2 ADT: one event per message, and what is not read is reported, as for ORU^R01', () => {
  const [A01 = '', A03 = ''] = fixture('hl7v2', 'adt-admit-discharge.hl7').split('\n');
  const notices = (r: Awaited<ReturnType<typeof run>>): string[] =>
    r.notices.map(
      (n) => `${n.severity ?? ''} | ${n.location?.[0] ?? ''} | ${n.details?.text ?? ''}`,
    );

  it('refuses a second PID, EVN or PV1, and a second value in a field it reads, naming it', async () => {
    const pid = 'PID|1||9434765919^^^NHS^NH||Price^Megan^Rose^^Ms||19910412';
    const r = await run(
      [
        A01.replace(pid, `${pid}\rPID|1||9992468017^^^NHS^NH||Other^Ann`),
        A01.replace('PV1|1|I|', 'PV1|1|I|OAK\rPV1|1|I|'),
        A01.replace('EVN|A01|', 'EVN|A01|20251020143000+0100\rEVN|A01|'),
        A01.replace('SPELL-5501', 'SPELL-5501~SPELL-5502'),
        A01.replace('SPELL-5501', 'SPELL&5501'),
        A03,
        '',
      ].join('\n'),
      'hl7v2',
      'fhir',
      { file: 'adt.hl7' },
    );
    expect(r.summary).toMatchObject({ read: 5, rejected: 5, events: 1 });
    expect(r.events.map((e) => e.event.event)).toEqual(['discharge']);
    expect(rejectSummary(r)).toEqual([
      'message 1 (line 1): message 1 (line 1), segment 4 (PID, line 4) | A second PID segment: an ADT^A01 is one event for one patient (EVN, PID, PV1 once each), so the message is not converted',
      'message 2 (line 6): message 2 (line 6), segment 5 (PV1, line 10) | A second PV1 segment: an ADT^A01 is one event for one patient (EVN, PID, PV1 once each), so the message is not converted',
      'message 3 (line 11): message 3 (line 11), segment 3 (EVN, line 13) | A second EVN segment: an ADT^A01 is one event for one patient (EVN, PID, PV1 once each), so the message is not converted',
      'message 4 (line 16): message 4 (line 16), segment 4 (PV1, line 19), field PV1-19 | PV1-19 repeats: it holds one value here',
      'message 5 (line 20): message 5 (line 20), segment 4 (PV1, line 23), field PV1-19 | PV1-19 has subcomponents in its first component, which has none',
    ]);
    expect(r.rejects.map((x) => x.outcome.issue[0]?.expression?.[0])).toEqual([
      'PID',
      'PV1',
      'EVN',
      'PV1-19',
      'PV1-19',
    ]);
    // Only the converted event's unread fields are reported (PV1-2, and PV1-44 in a discharge).
    expect(notices(r)).toEqual([
      'warning | message 6 (line 24), segment 4 (PV1, line 27), field PV1-2 | PV1-2 is not read by this mapping; its content is not converted (1, in 1 message(s); the first is here)',
      'warning | message 6 (line 24), segment 4 (PV1, line 27), field PV1-44 | PV1-44 is not read by this mapping; its content is not converted (1, in 1 message(s); the first is here)',
    ]);
  });

  it('reports the segments, fields and components of a converted event it does not read', async () => {
    const message = A01.replace(
      'WILLOW^Bay 2^Bed 4^RX1HOSP',
      'WILLOW^Bay\\T\\2^Bed 4^RX1HOSP&1.2.3&ISO^^^N^Ward block',
    ).replace('SPELL-5501', 'SPELL-5501^^^RX1^VN');
    const r = await run(`${message}NK1|1|Price^John\rZPV|x\r\n`, 'hl7v2', 'fhir', {
      file: 'adt.hl7',
    });
    expect(r.summary).toMatchObject({ events: 1, rejected: 0, notices: 6, noticeErrors: 0 });
    // PL-4 is an HD: its namespace is the facility; an escaped & stays text in a name.
    expect(r.events[0]?.event.location).toEqual({
      pointOfCare: 'WILLOW',
      room: 'Bay&2',
      bed: 'Bed 4',
      facility: 'RX1HOSP',
    });
    expect(r.events[0]?.event.visitNumber).toBe('SPELL-5501');
    const at = 'message 1 (line 1), segment 4 (PV1, line 4)';
    const once =
      'not read by this mapping; its content is not converted (1, in 1 message(s); the first is here)';
    const some =
      'not read by this mapping; their content is not converted (1, in 1 message(s); the first is here)';
    expect(notices(r)).toEqual([
      `warning | ${at}, field PV1-2 | PV1-2 is ${once}`,
      `warning | ${at}, field PV1-3 | PV1-3 components after the fourth (PL-5 and later: location status, type, building, floor, description…) are ${some}`,
      `warning | ${at}, field PV1-3 | PV1-3 subcomponents after the first (HD-2, HD-3: universal id and its type) are ${some}`,
      `warning | ${at}, field PV1-19 | PV1-19 components after the first (CX-2 and later: check digit, assigning authority, type…) are ${some}`,
      `warning | message 1 (line 1), segment 5 (NK1, line 5) | NK1 segments are ${some}`,
      `warning | message 1 (line 1), segment 6 (ZPV, line 6) | ZPV segments are ${some}`,
    ]);
    expect(r.notices[0]?.diagnostics).toMatch(/^adt\.hl7: message 1 /);
    expect(JSON.stringify(r.notices)).not.toMatch(/John|Ward block|1\.2\.3/);
  });
});
