/**
 * fast-check generators for DIALOG sessions that a DIALOG response may hold: every value is one
 * the profiles accept, so a generated response that fails validation is a writer bug. Not a test
 * file itself.
 */
import fc from 'fast-check';
import {
  CARE_SETTINGS,
  DIALOG_ITEMS,
  type DialogItemConcept,
  type DialogScore,
  NOT_RATED_REASONS,
  TIMEPOINT_KINDS,
} from '../../src/dialog';
import {
  type DialogAction,
  type DialogSession,
  type DiscussedItem,
  PREVIOUS_ACTION_STATUSES,
  type PreviousAction,
  type ReusedRating,
} from '../../src/fhir';

const CONCEPTS: readonly DialogItemConcept[] = DIALOG_ITEMS.map((i) => i.concept);

/** An optional property: absent (never `undefined`) or present with a value. */
function maybe<K extends string, T>(
  key: K,
  value: fc.Arbitrary<T>,
): fc.Arbitrary<Partial<Record<K, T>>> {
  return fc
    .option(value, { nil: undefined })
    .map((v) => (v === undefined ? {} : ({ [key]: v } as Partial<Record<K, T>>)));
}

// FHIR strings: non-empty, and whitespace other than space, tab, CR and LF is not allowed.
const FHIR_STRING = /^[ \r\n\t\S]+$/;
export const text = fc
  .string({ minLength: 1, maxLength: 60, unit: 'grapheme' })
  .map((s) => s.trim())
  .filter((s) => s.length > 0 && FHIR_STRING.test(s));

export const fhirId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,20}$/);

const pad = (n: number): string => String(n).padStart(2, '0');

/** A FHIR date, 2000–2039. */
export const fhirDate = fc
  .record({
    year: fc.integer({ min: 2000, max: 2039 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
  })
  .map(({ year, month, day }) => `${year}-${pad(month)}-${pad(day)}`);

/** A FHIR dateTime with seconds and an offset, as DIALOG ratings are stated. */
export const dateTimeWithOffset = fc
  .record({
    date: fhirDate,
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    offset: fc.constantFrom('Z', '+00:00', '+01:00', '-05:00', '+05:30'),
  })
  .map(({ date, hour, minute, offset }) => `${date}T${pad(hour)}:${pad(minute)}:00${offset}`);

const score = fc.integer({ min: 1, max: 7 }) as fc.Arbitrary<DialogScore>;

function byConcept<T>(
  value: fc.Arbitrary<T>,
  minKeys = 0,
): fc.Arbitrary<Partial<Record<DialogItemConcept, T>>> {
  return fc
    .tuple(
      fc.subarray([...CONCEPTS], { minLength: minKeys }),
      fc.array(value, { minLength: 11, maxLength: 11 }),
    )
    .map(([concepts, values]) => {
      const out: Partial<Record<DialogItemConcept, T>> = {};
      concepts.forEach((c, i) => (out[c] = values[i] as T));
      return out;
    });
}

const action: fc.Arbitrary<DialogAction> = fc
  .tuple(text, maybe('who', text), maybe('byWhen', fhirDate))
  .map(([what, who, byWhen]) => ({ what, ...who, ...byWhen }));

const discussed: fc.Arbitrary<DiscussedItem> = fc
  .tuple(
    fc.constantFrom(...CONCEPTS),
    maybe('understanding', text),
    maybe('lookingForward', text),
    maybe('exploringOptions', text),
    fc.array(action, { maxLength: 3 }),
  )
  .map(([concept, u, l, e, actions]) => ({ concept, ...u, ...l, ...e, actions }));

const previousAction: fc.Arbitrary<PreviousAction> = fc
  .tuple(text, maybe('status', fc.constantFrom(...PREVIOUS_ACTION_STATUSES)))
  .map(([what, status]) => ({ what, ...status }));

const reused: fc.Arbitrary<ReusedRating> = fc
  .tuple(
    fhirId,
    fc.constantFrom(...TIMEPOINT_KINDS),
    maybe('originalSetting', fc.constantFrom(...CARE_SETTINGS)),
    maybe('reason', text),
  )
  .map(([id, originalTimepoint, setting, reason]) => ({
    source: `QuestionnaireResponse/${id}`,
    originalTimepoint,
    ...setting,
    ...reason,
  }));

const party = (type: string): fc.Arbitrary<{ reference?: string; display?: string }> =>
  fc.oneof(
    fc
      .tuple(fhirId, maybe('display', text))
      .map(([id, d]) => ({ reference: `${type}/${id}`, ...d })),
    text.map((display) => ({ display })),
  );

/** What was rated: scores (at least one) with help answers, or the reason there are none. */
const rated = fc.oneof(
  fc.record({ scores: byConcept(score, 1), helpWanted: byConcept(fc.boolean()) }),
  fc
    .tuple(fc.constantFrom(...NOT_RATED_REASONS), maybe('note', text))
    .map(([reason, note]) => ({ scores: {}, helpWanted: {}, notRated: { reason, ...note } })),
);

export const session: fc.Arbitrary<DialogSession> = fc
  .record({
    patient: fhirId,
    subjectDisplay: maybe('subjectDisplay', text),
    id: maybe('id', fhirId),
    identifier: maybe(
      'identifier',
      fc.record({ system: fc.constant('https://trust.example/sid/dialog-session'), value: fhirId }),
    ),
    status: fc.constantFrom(
      'in-progress',
      'completed',
      'amended',
      'entered-in-error',
      'stopped' as const,
    ),
    authored: dateTimeWithOffset,
    author: maybe('author', party('Practitioner')),
    sourceDisplay: fc.option(maybe('display', text), { nil: undefined }),
    timepoint: maybe('timepoint', fc.constantFrom(...TIMEPOINT_KINDS)),
    setting: maybe('setting', fc.constantFrom(...CARE_SETTINGS)),
    rated,
    chosen: fc.subarray([...CONCEPTS], { maxLength: 3 }),
    discussed: fc.array(discussed, { maxLength: 3 }),
    previousActions: fc.array(previousAction, { maxLength: 4 }),
    reusedFrom: maybe('reusedFrom', reused),
  })
  .map((g) => {
    const subject = `Patient/${g.patient}`;
    // The person is the source (dlg-qr-3), or nobody is.
    const source =
      g.sourceDisplay === undefined ? {} : { source: { reference: subject, ...g.sourceDisplay } };
    return {
      ...g.id,
      ...g.identifier,
      status: g.status,
      subject,
      ...g.subjectDisplay,
      authored: g.authored,
      ...g.author,
      ...source,
      ...g.timepoint,
      ...g.setting,
      ...g.rated,
      chosen: g.chosen,
      discussed: g.discussed,
      previousActions: g.previousActions,
      ...g.reusedFrom,
    } as DialogSession;
  });
