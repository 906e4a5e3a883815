/**
 * fast-check generators for the mapping tests: whole DIALOG records (anything a DIALOG response
 * may hold, for FHIR → native → FHIR), and records as each native format writes them (for
 * native → FHIR → native). Not a test file.
 */
import fc from 'fast-check';
import {
  CARE_SETTINGS,
  DIALOG_ITEMS,
  DIALOG_ITEMS_APP_ORDER,
  type DialogItemConcept,
  type DialogScore,
  TIMEPOINT_KINDS,
} from '../../src/dialog';
import type { DialogSession, DiscussedItem, ResponseStatus } from '../../src/fhir';
import {
  CONTAINED_SUBJECT,
  type DialogRecord,
  type PersonDetails,
  type PersonName,
} from '../../src/mapping';
import { nativeSession } from '../../src/mapping/record';
import { fhirDateTime, ZoneClock } from '../../src/mapping/datetime';

export const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const LOCAL_ID_SYSTEM = 'https://dialog-fhir.org/fhir/sid/local-patient-id';
export const CARE_ACTIVITY_SYSTEM = 'https://dialog-fhir.org/fhir/sid/mhsds-care-activity';
export const FILLER_ORDER_SYSTEM = 'https://dialog-fhir.org/fhir/sid/hl7v2-filler-order';

const CONCEPTS: readonly DialogItemConcept[] = DIALOG_ITEMS.map((i) => i.concept);
const london = new ZoneClock('Europe/London');

/** A valid NHS number (10 digits, not all the same, modulus 11 check digit). */
export const nhsNumber = fc
  .array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 })
  .map((digits) => {
    const sum = digits.reduce((acc, d, i) => acc + d * (10 - i), 0);
    const check = 11 - (sum % 11);
    return { digits, check: check === 11 ? 0 : check };
  })
  .filter(({ check }) => check !== 10)
  .map(({ digits, check }) => `${digits.join('')}${check}`)
  // One digit ten times passes modulus 11 but is not an NHS number (src/mapping/codes.ts).
  .filter((n) => !/^(\d)\1{9}$/.test(n));

/** Name parts: letters (some beyond ASCII), apostrophes and hyphens, no spaces or commas. */
const namePart = fc.stringMatching(/^[A-Za-zÀ-ÿ'][A-Za-zÀ-ÿ'-]{0,11}$/);

export const personName: fc.Arbitrary<PersonName> = fc.record({
  family: fc.array(namePart, { minLength: 1, maxLength: 2 }).map((p) => p.join(' ')),
  given: fc.array(namePart, { minLength: 0, maxLength: 3 }),
});

/** Text a person might type for an action: punctuation, quotes, formula-like starts, no `;`. */
export const actionText = fc
  .tuple(
    fc.constantFrom('', '=', '+', '-', '@', "'", "'=", '"', ' '),
    fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme-ascii' }),
    fc.constantFrom('', ', then more', ' — über', ' "quoted"'),
  )
  .map(([start, middle, end]) =>
    `${start}${middle}${end}`.replace(/;/g, ',').replace(/\s+/g, ' ').trim(),
  )
  .filter((s) => s.length > 0);

/** A local wall time in London that happens exactly once, as a FHIR dateTime at minute precision. */
export const londonMinute = fc
  .record({
    year: fc.integer({ min: 2015, max: 2035 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
  })
  .map((w) => london.instantOf({ ...w, second: 0, millisecond: 0 }))
  .filter((r) => r.ok)
  .map((r) => (r.ok ? fhirDateTime(r.instant, r.offset) : ''));

/** A FHIR dateTime with seconds (sometimes milliseconds) and any offset, 2000–2039. */
export const anyDateTime = fc
  .record({
    ms: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2039, 11, 31) }),
    offsetQuarterHours: fc.integer({ min: -12 * 4, max: 14 * 4 }),
    withMillis: fc.boolean(),
  })
  .map(({ ms, offsetQuarterHours, withMillis }) =>
    fhirDateTime(withMillis ? ms : ms - (ms % 1000), offsetQuarterHours * 15 * 60_000),
  );

const score = fc.integer({ min: 1, max: 7 }) as fc.Arbitrary<DialogScore>;

export const scores = fc
  .subarray([...CONCEPTS], { minLength: 1 })
  .chain((concepts) => fc.tuple(...concepts.map((c) => score.map((s) => [c, s] as const))))
  .map((pairs) => Object.fromEntries(pairs) as Partial<Record<DialogItemConcept, DialogScore>>);

export const helpWanted = fc
  .subarray([...CONCEPTS])
  .chain((concepts) => fc.tuple(...concepts.map((c) => fc.boolean().map((b) => [c, b] as const))))
  .map((pairs) => Object.fromEntries(pairs) as Partial<Record<DialogItemConcept, boolean>>);

function appOrder<T extends { concept: DialogItemConcept }>(items: T[]): T[] {
  const rank = (c: DialogItemConcept): number =>
    DIALOG_ITEMS_APP_ORDER.findIndex((i) => i.concept === c);
  return [...items].sort((a, b) => rank(a.concept) - rank(b.concept));
}

/** What a DIALOG+ app CSV row holds: name, dates, ranks, help, Discussed, action texts. */
export const dialogPlusRecord: fc.Arbitrary<DialogRecord> = fc
  .record({
    name: personName,
    start: londonMinute,
    minutes: fc.integer({ min: 0, max: 180 }),
    completed: fc.boolean(),
    scores,
    helpWanted,
    chosen: fc.subarray([...CONCEPTS], { maxLength: 3 }),
    discussed: fc
      .subarray([...CONCEPTS], { maxLength: 3 })
      .chain((concepts) =>
        fc.tuple(
          ...concepts.map((concept) =>
            fc
              .array(actionText, { minLength: 1, maxLength: 3 })
              .map((actions) => ({ concept, actions })),
          ),
        ),
      ),
  })
  .map((r) => {
    const startAt = Date.parse(r.start);
    const end = london.formatDateTime(startAt + r.minutes * 60_000);
    const person: PersonDetails = { identifiers: [], name: r.name };
    const chosen = DIALOG_ITEMS_APP_ORDER.map((i) => i.concept).filter((c) => r.chosen.includes(c));
    const discussed: DiscussedItem[] = appOrder(r.discussed).map((d) => ({
      concept: d.concept,
      actions: d.actions.map((what) => ({ what })),
    }));
    const status: ResponseStatus = r.completed ? 'completed' : 'in-progress';
    const authored = r.completed ? end : r.start;
    return {
      session: nativeSession({
        status,
        person,
        subject: undefined,
        authored,
        start: r.start,
        scores: r.scores,
        helpWanted: r.helpWanted,
        chosen,
        discussed,
      }),
      person,
      ...(r.completed && end !== r.start ? { startedAt: r.start } : {}),
    };
  });

/** What MHSDS rows hold: a completed session's scores, person ids, time, care activity id. */
export const mhsdsRecord: fc.Arbitrary<DialogRecord> = fc
  .record({
    local: fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{2,14}$/),
    nhs: fc.option(nhsNumber, { nil: undefined }),
    careActivity: fc.option(fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{2,14}$/), { nil: undefined }),
    at: londonMinute,
    second: fc.integer({ min: 0, max: 59 }),
    scores,
  })
  .map((r) => {
    const authored = london.formatDateTime(Date.parse(r.at) + r.second * 1000);
    const person: PersonDetails = {
      identifiers: [
        { system: LOCAL_ID_SYSTEM, value: r.local },
        ...(r.nhs ? [{ system: NHS_SYSTEM, value: r.nhs }] : []),
      ],
    };
    return {
      session: nativeSession({
        status: 'completed',
        person,
        subject: undefined,
        authored,
        identifier: r.careActivity
          ? { system: CARE_ACTIVITY_SYSTEM, value: r.careActivity }
          : undefined,
        scores: r.scores,
      }),
      person,
    };
  });

/** What one ORU^R01 holds: ids, name, birth date, sex, time (with its offset), status, scores, help. */
export const hl7Record: fc.Arbitrary<DialogRecord> = fc
  .record({
    nhs: nhsNumber,
    mrn: fc.option(fc.stringMatching(/^[A-Z0-9]{4,10}$/), { nil: undefined }),
    name: fc.option(personName, { nil: undefined }),
    givenSecondWord: fc.option(namePart, { nil: undefined }),
    prefix: fc.option(fc.constantFrom('Mr', 'Ms', 'Dr', 'Mx'), { nil: undefined }),
    birthDate: fc.option(
      fc.date({ min: new Date('1930-01-01'), max: new Date('2010-12-31'), noInvalidDate: true }),
      { nil: undefined },
    ),
    gender: fc.option(fc.constantFrom('male', 'female', 'other', 'unknown' as const), {
      nil: undefined,
    }),
    order: fc.option(fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{2,14}$/), { nil: undefined }),
    authored: anyDateTime,
    status: fc.constantFrom<ResponseStatus>('completed', 'in-progress', 'amended'),
    scores,
    helpWanted,
  })
  .map((r) => {
    // XPN-2 holds a first given name of two words whole (`Mary Ann`).
    const given =
      r.name && r.name.given.length > 0 && r.givenSecondWord
        ? [`${r.name.given[0] ?? ''} ${r.givenSecondWord}`, ...r.name.given.slice(1)]
        : (r.name?.given ?? []);
    const name: PersonName | undefined = r.name
      ? {
          ...(r.name.family ? { family: r.name.family } : {}),
          given,
          ...(r.prefix ? { prefix: [r.prefix] } : {}),
        }
      : undefined;
    const person: PersonDetails = {
      identifiers: [
        { system: NHS_SYSTEM, value: r.nhs, type: 'NH' },
        ...(r.mrn
          ? [
              {
                system: 'https://dialog-fhir.org/fhir/sid/hl7v2-authority/RX1',
                value: r.mrn,
                type: 'MR',
              },
            ]
          : []),
      ],
      ...(name ? { name } : {}),
      ...(r.birthDate ? { birthDate: r.birthDate.toISOString().slice(0, 10) } : {}),
      ...(r.gender ? { gender: r.gender } : {}),
    };
    return {
      session: nativeSession({
        status: r.status,
        person,
        subject: undefined,
        authored: r.authored,
        identifier: r.order ? { system: FILLER_ORDER_SYSTEM, value: r.order } : undefined,
        scores: r.scores,
        helpWanted: r.helpWanted,
      }),
      person,
    };
  });

const FHIR_TEXT = fc
  .string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
  .map((s) => s.trim())
  .filter((s) => s.length > 0 && /^[ \r\n\t\S]+$/.test(s));

/**
 * Any record a DIALOG response may hold — more than any native format can: timepoints, the
 * DIALOG+ steps, who and by when, previous actions, other subjects and identifiers.
 */
export const anyRecord: fc.Arbitrary<DialogRecord> = fc
  .record({
    base: fc.oneof(dialogPlusRecord, mhsdsRecord, hl7Record),
    id: fc.option(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,20}$/), { nil: undefined }),
    timepoint: fc.option(fc.constantFrom(...TIMEPOINT_KINDS), { nil: undefined }),
    setting: fc.option(fc.constantFrom(...CARE_SETTINGS), { nil: undefined }),
    understanding: fc.option(FHIR_TEXT, { nil: undefined }),
    who: fc.option(FHIR_TEXT, { nil: undefined }),
    previous: fc.array(FHIR_TEXT, { maxLength: 2 }),
    seconds: fc.integer({ min: 0, max: 59 }),
    author: fc.option(fc.constant({ reference: 'Practitioner/sam', display: 'Sam Whitfield' }), {
      nil: undefined,
    }),
  })
  .map(({ base, id, timepoint, setting, understanding, who, previous, seconds, author }) => {
    const s = base.session;
    const authored = new Date(Date.parse(s.authored) + seconds * 1000);
    const session: DialogSession = {
      ...s,
      ...(id ? { id } : {}),
      ...(timepoint ? { timepoint } : {}),
      ...(setting ? { setting } : {}),
      ...(author ? { author } : {}),
      authored: fhirDateTime(authored.getTime(), 0),
      discussed: s.discussed.map((d, i) => ({
        ...d,
        ...(understanding && i === 0 ? { understanding } : {}),
        actions: d.actions.map((a) => ({ ...a, ...(who ? { who } : {}) })),
      })),
      previousActions: previous.map((what) => ({ what })),
    };
    return { ...base, session };
  });

export { CONTAINED_SUBJECT };
