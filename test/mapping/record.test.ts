/**
 * FHIR → native: every element of a DIALOG response, and of the Patient it names, that the
 * native record cannot carry is named in the conversion's not-held summary (review-mappers F12);
 * a response without such elements names none.
 */
import type { Bundle, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import { fixture, responses, run } from './helpers';

const FORMATS = [
  { format: 'hl7v2', file: 'oru-r01.hl7' },
  { format: 'dialogplus-csv', file: 'export-app-order.csv' },
  { format: 'mhsds-csv', file: 'assessments.csv' },
] as const;

/** A response the format holds whole: the first one read from the format's own fixture. */
async function baseResponse(format: string, file: string): Promise<QuestionnaireResponse> {
  const read = await run(fixture(format, file), format, 'fhir');
  const first = responses(read.output)[0];
  if (!first) throw new Error(`${file} gave no response`);
  return first;
}

function subjectPatient(qr: QuestionnaireResponse): Patient {
  const patient = qr.contained?.find((r): r is Patient => r.resourceType === 'Patient');
  if (!patient) throw new Error('no contained Patient');
  return patient;
}

type Change = (qr: QuestionnaireResponse) => void;

const RESPONSE_ELEMENTS: readonly [string, Change][] = [
  ['encounter', (qr) => (qr.encounter = { reference: 'Encounter/e1' })],
  ['basedOn', (qr) => (qr.basedOn = [{ reference: 'CarePlan/cp' }])],
  ['partOf', (qr) => (qr.partOf = [{ reference: 'Procedure/p' }])],
  [
    "extension('urn:other-ext')",
    (qr) => (qr.extension = [...(qr.extension ?? []), { url: 'urn:other-ext', valueString: 'x' }]),
  ],
  ['meta.tag', (qr) => (qr.meta = { ...qr.meta, tag: [{ system: 'urn:t', code: 'c' }] })],
  ['meta.source', (qr) => (qr.meta = { ...qr.meta, source: 'urn:trust' })],
  [
    'meta.profile',
    (qr) => (qr.meta = { ...qr.meta, profile: [...(qr.meta?.profile ?? []), 'urn:p'] }),
  ],
  [
    'text',
    (qr) =>
      (qr.text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' }),
  ],
  ['language', (qr) => (qr.language = 'en-GB')],
  [
    'authored.extension',
    (qr) => Object.assign(qr, { _authored: { extension: [{ url: 'urn:e', valueString: 'x' }] } }),
  ],
  ['questionnaire (version)', (qr) => (qr.questionnaire = `${qr.questionnaire ?? ''}|1.0`)],
  ['identifier.use', (qr) => (qr.identifier = { ...qr.identifier, use: 'official' })],
  ['subject.type', (qr) => (qr.subject = { ...qr.subject, type: 'Patient' })],
  [
    'contained.ofType(Practitioner)',
    (qr) => qr.contained?.push({ resourceType: 'Practitioner', id: 'pr' }),
  ],
  [
    "item.where(linkId='my-note')",
    (qr) => qr.item?.push({ linkId: 'my-note', answer: [{ valueString: 'x' }] }),
  ],
  ['Patient.telecom', (qr) => (subjectPatient(qr).telecom = [{ system: 'phone', value: '0123' }])],
  ['Patient.address', (qr) => (subjectPatient(qr).address = [{ city: 'Leeds' }])],
  [
    'Patient.name (another name)',
    (qr) => {
      const p = subjectPatient(qr);
      p.name = [
        ...(p.name ?? [{ family: 'Price', given: ['Megan'] }]),
        { use: 'usual', given: ['Meg'] },
      ];
    },
  ],
  [
    'Patient.name.text',
    (qr) => {
      const p = subjectPatient(qr);
      const [first, ...rest] = p.name ?? [{ family: 'Price', given: ['Megan'] }];
      p.name = [{ ...first, text: 'Megan Price' }, ...rest];
    },
  ],
  [
    'Patient.identifier (without system or value)',
    (qr) => {
      const p = subjectPatient(qr);
      p.identifier = [...(p.identifier ?? []), { value: 'X-1' }];
    },
  ],
  [
    'Patient.extension',
    (qr) => (subjectPatient(qr).extension = [{ url: 'urn:e', valueString: 'x' }]),
  ],
  ['Patient.deceasedBoolean', (qr) => (subjectPatient(qr).deceasedBoolean = false)],
];

describe.each(FORMATS)('FHIR → $format names what the record does not hold', ({ format, file }) => {
  let base: QuestionnaireResponse;
  beforeAll(async () => {
    base = await baseResponse(format, file);
  });

  it('a response the format holds whole: nothing not held', async () => {
    const r = await run(JSON.stringify(base), 'fhir', format);
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0 });
    expect(r.summary.notHeld).toEqual({});
  });

  it.each(RESPONSE_ELEMENTS)('%s', async (name, change) => {
    const qr = structuredClone(base);
    change(qr);
    const r = await run(JSON.stringify(qr), 'fhir', format);
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0 });
    expect(r.summary.notHeld[name]).toBe(1);
    // The format's own losses aside (MHSDS holds no name at all), nothing else is named.
    const others = Object.keys(r.summary.notHeld).filter(
      (k) => k !== name && !(format === 'mhsds-csv' && k === 'person.name'),
    );
    expect(others).toEqual([]);
  });

  it('all of them at once, each counted once per response', async () => {
    const qr = structuredClone(base);
    for (const [, change] of RESPONSE_ELEMENTS) change(qr);
    const r = await run(`${JSON.stringify(qr)}\n${JSON.stringify(qr)}\n`, 'fhir', format);
    expect(r.summary).toMatchObject({ converted: 2, rejected: 0 });
    for (const [name] of RESPONSE_ELEMENTS)
      expect([name, r.summary.notHeld[name]]).toEqual([name, 2]);
  });

  it('a Patient named by reference, found in the same Bundle: its elements and the reference', async () => {
    const qr = structuredClone(base);
    const contained = subjectPatient(qr);
    const patient: Patient = {
      ...contained,
      id: 'p1',
      meta: { versionId: '3' },
      telecom: [{ system: 'email', value: 'a@b.c' }],
    };
    delete qr.contained;
    qr.subject = { ...qr.subject, reference: 'Patient/p1' };
    qr.source = { ...qr.source, reference: 'Patient/p1' };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: patient }, { resource: qr }],
    };
    const r = await run(JSON.stringify(bundle), 'fhir', format);
    expect(r.summary).toMatchObject({ converted: 1, rejected: 0 });
    // The Patient's id and meta are its own bookkeeping, not the person: not named.
    expect(Object.keys(r.summary.notHeld).sort()).toEqual(['Patient.telecom', 'subject.reference']);
  });
});

// MHSDS rows carry no names (pseudonymised).
const NAMED_FORMATS = FORMATS.filter((f) => f.format !== 'mhsds-csv');

describe.each(NAMED_FORMATS)(
  'FHIR → $format: a name part that is only a JSON null placeholder',
  ({ format, file }) => {
    it('is left out of the name, which is converted; what _given held is named as not held', async () => {
      const qr = await baseResponse(format, file);
      const patient = subjectPatient(qr);
      const name = patient.name?.[0];
      if (!name?.given?.length) throw new Error('the fixture names no given name');
      const given = [...name.given];
      // R4 JSON: the third part has no value, only an id (json.html#primitive).
      Object.assign(name, {
        given: [...given, null],
        _given: [...given.map(() => null), { id: 'g3' }],
      });
      const r = await run(JSON.stringify(qr), 'fhir', format);
      expect(r.summary).toMatchObject({ converted: 1, rejected: 0 });
      const back = responses((await run(r.output, format, 'fhir')).output)[0];
      expect(back && subjectPatient(back).name?.[0]?.given).toEqual(given);
      expect(r.summary.notHeld).toEqual({ 'Patient.name.given.extension': 1 });
    });
  },
);

describe('subject.display that is not the name', () => {
  it.each(['hl7v2', 'dialogplus-csv'])(
    'FHIR → %s names a display the name does not give; the name’s own display is not named',
    async (format) => {
      const file = format === 'hl7v2' ? 'oru-r01.hl7' : 'export-app-order.csv';
      const qr = await baseResponse(format, file);
      expect(qr.subject?.display).toBe('Price, Megan Rose');
      qr.subject = { ...qr.subject, display: 'Megan Price' };
      const r = await run(JSON.stringify(qr), 'fhir', format);
      expect(r.summary.notHeld).toEqual({ 'subject.display': 1 });
    },
  );
});
