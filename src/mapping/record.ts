/**
 * One record on its way between a native format and FHIR: the `DialogSession` (the typed view of
 * the DIALOG QuestionnaireResponse) plus what the native record says about the person, and, for
 * the DIALOG+ app, when the session started. Converting to FHIR goes through `sessionToResponse`;
 * reading FHIR goes through `responseToSession`. Nothing here is a third data model: every field
 * lands in the QuestionnaireResponse.
 *
 * The person. Native records carry a name (the DIALOG+ app), local and NHS identifiers (MHSDS,
 * HL7 PID-3), sometimes a birth date — never a FHIR id. Unless the caller says which Patient the
 * records are about (`subject` option), the response holds the person as the source described
 * them, in a contained Patient `#subject`, with `subject.identifier` set to the NHS number (or
 * the first identifier) so a store or MPI can link it later. Nothing is matched by name.
 */
import type {
  Extension,
  HumanName,
  Identifier,
  OperationOutcomeIssue,
  Patient,
  QuestionnaireResponse,
  Reference,
} from '@medplum/fhirtypes';
import {
  BASE,
  DIALOG_QUESTIONNAIRE,
  Extensions,
  NHS_NUMBER_SYSTEM,
  Profiles,
  responseToSession,
  sessionToResponse,
} from '../fhir';
import type { DialogSession, DiscussedItem, ResponseStatus } from '../fhir';
import {
  type DialogItemConcept,
  type DialogScore,
  isDateTimeWithOffset,
  parseDateTime,
} from '../dialog';
import { error } from '../validation/outcome';
import { dialogUuid } from './uuid';

/** Id of the contained Patient that holds the person as the native record described them. */
export const CONTAINED_SUBJECT_ID = 'subject';
export const CONTAINED_SUBJECT = `#${CONTAINED_SUBJECT_ID}`;

/**
 * When the session started (the DIALOG+ app's "Date Start"), when it differs from `authored`
 * (defined in the dialog-fhir package: `dialog-session-start`).
 */
export const SESSION_START_EXTENSION = `${BASE}/StructureDefinition/dialog-session-start`;

export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

export interface PersonIdentifier {
  readonly system: string;
  readonly value: string;
  /** Identifier type code (HL7 table 0203, e.g. NH, MR). */
  readonly type?: string;
}

export interface PersonName {
  readonly family?: string;
  readonly given: readonly string[];
  readonly prefix?: readonly string[];
  readonly suffix?: readonly string[];
  /** The name as one text, when the source did not split it (never split by guessing). */
  readonly text?: string;
}

export interface PersonDetails {
  readonly identifiers: readonly PersonIdentifier[];
  readonly name?: PersonName;
  /** FHIR date. */
  readonly birthDate?: string;
  readonly gender?: 'male' | 'female' | 'other' | 'unknown';
}

export interface DialogRecord {
  readonly session: DialogSession;
  readonly person: PersonDetails;
  /** FHIR dateTime: when the session started, if earlier than `session.authored`. */
  readonly startedAt?: string;
  /**
   * Read from FHIR: the elements of the response, and of the Patient it names, that a record
   * does not hold (`encounter`, `meta.tag`, `Patient.telecom`…; see `notHeldByRecord`). Every
   * native format drops them, and names them among what it does not hold.
   */
  readonly dropped?: readonly string[];
}

/**
 * The business identifier of a session read from a native record that has no id of its own:
 * a UUID v5 of who (the subject reference given, else the NHS number or first identifier, else
 * the name) and when the session started. Importing the same record again gives the same
 * identifier, so a store updates instead of adding a copy, and an in-progress session exported
 * again once completed (same person, same start) is found again.
 */
export const NATIVE_SESSION_SYSTEM = `${BASE}/sid/native-session`;

export function derivedSessionIdentifier(
  person: PersonDetails,
  subject: string | undefined,
  start: string,
  startInstant: number | undefined = parseDateTime(start),
): { readonly system: string; readonly value: string } {
  const linking = linkingIdentifier(person);
  const who =
    subject !== undefined
      ? `subject|${subject}`
      : linking
        ? `${linking.system}|${linking.value}`
        : `name|${nameDisplay(person.name) ?? ''}`;
  const when = startInstant === undefined ? start : new Date(startInstant).toISOString();
  return { system: NATIVE_SESSION_SYSTEM, value: dialogUuid(`${who}|${when}`) };
}

/** What a native record gives of a session; `nativeSession` fills in the rest the same way for all. */
export interface NativeSessionParts {
  readonly status: ResponseStatus;
  readonly person: PersonDetails;
  /** The caller's subject reference (ReadOptions.subject), if any. */
  readonly subject: string | undefined;
  readonly authored: string;
  /** When the session started; `authored` when the record does not say. */
  readonly start?: string;
  /** `start` as epoch milliseconds, when the reader has it already. */
  readonly startInstant?: number;
  /** The record's own session id, when the format has one. */
  readonly identifier?: { readonly system: string; readonly value: string } | undefined;
  readonly scores: Partial<Record<DialogItemConcept, DialogScore>>;
  readonly helpWanted?: Partial<Record<DialogItemConcept, boolean>>;
  readonly chosen?: readonly DialogItemConcept[];
  readonly discussed?: readonly DiscussedItem[];
}

/**
 * A session from a native record. The person rated their own answers, so `source` is the subject
 * (the DIALOG profile requires it: no proxy ratings); the subject is the caller's reference or
 * the contained Patient; the identifier is the record's own or a derived one.
 */
export function nativeSession(parts: NativeSessionParts): DialogSession {
  const subject = parts.subject ?? CONTAINED_SUBJECT;
  const display = nameDisplay(parts.person.name);
  return {
    identifier:
      parts.identifier ??
      derivedSessionIdentifier(
        parts.person,
        parts.subject,
        parts.start ?? parts.authored,
        parts.startInstant,
      ),
    status: parts.status,
    subject,
    ...(display !== undefined ? { subjectDisplay: display } : {}),
    source: { reference: subject, ...(display !== undefined ? { display } : {}) },
    authored: parts.authored,
    scores: parts.scores,
    helpWanted: parts.helpWanted ?? {},
    chosen: parts.chosen ?? [],
    discussed: parts.discussed ?? [],
    previousActions: [],
  };
}

export type RecordResult =
  | { readonly ok: true; readonly record: DialogRecord }
  | { readonly ok: false; readonly issues: OperationOutcomeIssue[] };

/** "Family, Given Middle", or the name's text: the display used for `subject.display`. */
export function nameDisplay(name: PersonName | undefined): string | undefined {
  if (!name) return undefined;
  if (name.family === undefined && name.given.length === 0) return name.text;
  const given = name.given.join(' ');
  return given ? `${name.family ?? ''}, ${given}` : (name.family ?? '');
}

/**
 * A name's parts that have a value. R4 JSON may hold `null` in a repeating primitive where only
 * the `_given` beside it (an id, extensions) is there; no native format holds such a part.
 */
function nameParts(parts: readonly (string | null)[] | undefined): string[] | undefined {
  return parts?.filter((part): part is string => typeof part === 'string');
}

function humanName(name: PersonName): HumanName {
  return {
    ...(name.text !== undefined ? { text: name.text } : {}),
    ...(name.family !== undefined ? { family: name.family } : {}),
    ...(name.given.length > 0 ? { given: [...name.given] } : {}),
    ...(name.prefix && name.prefix.length > 0 ? { prefix: [...name.prefix] } : {}),
    ...(name.suffix && name.suffix.length > 0 ? { suffix: [...name.suffix] } : {}),
  };
}

function fhirIdentifier(id: PersonIdentifier): Identifier {
  return {
    ...(id.type ? { type: { coding: [{ system: V2_0203, code: id.type }] } } : {}),
    system: id.system,
    value: id.value,
  };
}

/** The contained Patient for a person described only by a native record. */
export function containedPatient(person: PersonDetails): Patient {
  return {
    resourceType: 'Patient',
    id: CONTAINED_SUBJECT_ID,
    ...(person.identifiers.length > 0
      ? { identifier: person.identifiers.map(fhirIdentifier) }
      : {}),
    ...(person.name ? { name: [humanName(person.name)] } : {}),
    ...(person.gender ? { gender: person.gender } : {}),
    ...(person.birthDate ? { birthDate: person.birthDate } : {}),
  };
}

/** The identifier a store would link the subject by: the NHS number, else the first one. */
export function linkingIdentifier(person: PersonDetails): PersonIdentifier | undefined {
  return person.identifiers.find((i) => i.system === NHS_NUMBER_SYSTEM) ?? person.identifiers[0];
}

/** A record as the DIALOG QuestionnaireResponse (the session through `sessionToResponse`). */
export function recordToResponse(record: DialogRecord): QuestionnaireResponse {
  const response = sessionToResponse(record.session);
  const contained = record.session.subject === CONTAINED_SUBJECT;
  // With the caller's reference too: the NHS number stays with the response either way.
  const linking = linkingIdentifier(record.person);
  const subject: Reference = {
    ...response.subject,
    ...(linking ? { identifier: { system: linking.system, value: linking.value } } : {}),
  };
  const extension: Extension[] = [...(response.extension ?? [])];
  if (record.startedAt)
    extension.push({ url: SESSION_START_EXTENSION, valueDateTime: record.startedAt });
  // FHIR's usual key order, `item` last (response-json.ts relies on that).
  const {
    resourceType,
    id,
    meta,
    identifier,
    questionnaire,
    status,
    authored,
    author,
    source,
    item,
  } = response;
  const other: Record<string, unknown> = {};
  for (const key of Object.keys(response))
    if (!RESPONSE_ELEMENTS.has(key))
      other[key] = (response as unknown as Record<string, unknown>)[key];
  return {
    resourceType,
    ...(id ? { id } : {}),
    ...(meta ? { meta } : {}),
    ...(contained ? { contained: [containedPatient(record.person)] } : {}),
    ...(extension.length > 0 ? { extension } : {}),
    ...(identifier ? { identifier } : {}),
    ...(questionnaire ? { questionnaire } : {}),
    status,
    subject,
    ...(authored ? { authored } : {}),
    ...(author ? { author } : {}),
    ...(source ? { source } : {}),
    ...other,
    ...(item ? { item } : {}),
  };
}

/**
 * The response elements a record holds, in the order a response is written back (the rest is
 * carried after them as it came); what is not among them is counted as not held (a format's
 * projection reports id and author itself).
 */
const RESPONSE_ELEMENTS = new Set([
  'resourceType',
  'id',
  'meta',
  'contained',
  'extension',
  'identifier',
  'questionnaire',
  'status',
  'subject',
  'authored',
  'author',
  'source',
  'item',
]);

function personFromPatient(patient: Patient): PersonDetails {
  const identifiers = (patient.identifier ?? []).flatMap((i): PersonIdentifier[] => {
    if (!i.system || !i.value) return [];
    const type = i.type?.coding?.find((c) => c.system === V2_0203)?.code;
    return [{ system: i.system, value: i.value, ...(type ? { type } : {}) }];
  });
  const official = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const name: PersonName | undefined = official
    ? {
        ...(official.family !== undefined ? { family: official.family } : {}),
        given: nameParts(official.given) ?? [],
        ...(official.prefix ? { prefix: nameParts(official.prefix) ?? [] } : {}),
        ...(official.suffix ? { suffix: nameParts(official.suffix) ?? [] } : {}),
        ...(official.text !== undefined && official.family === undefined && !official.given
          ? { text: official.text }
          : {}),
      }
    : undefined;
  return {
    identifiers,
    ...(name ? { name } : {}),
    ...(patient.birthDate ? { birthDate: patient.birthDate } : {}),
    ...(patient.gender ? { gender: patient.gender } : {}),
  };
}

function personFromReference(subject: Reference | undefined): PersonDetails {
  const id = subject?.identifier;
  return {
    identifiers: id?.system && id.value ? [{ system: id.system, value: id.value }] : [],
    ...(subject?.display ? { name: { given: [], text: subject.display } } : {}),
  };
}

/** Patients the reader has seen (from a Bundle, or earlier NDJSON lines), by reference. */
export type PatientLookup = (reference: string) => Patient | undefined;

/**
 * Reads a DIALOG QuestionnaireResponse into a record. The person comes from the contained
 * Patient the subject points to, or a Patient the lookup knows, or else the subject reference's
 * own identifier and display.
 */
export function responseToRecord(
  response: QuestionnaireResponse,
  lookup: PatientLookup = () => undefined,
): RecordResult {
  const questionnaire = response.questionnaire?.split('|')[0];
  if (questionnaire !== DIALOG_QUESTIONNAIRE)
    return {
      ok: false,
      issues: [
        error(
          'not-supported',
          'Not a response to the DIALOG Questionnaire',
          'QuestionnaireResponse.questionnaire',
        ),
      ],
    };
  const read = responseToSession(response);
  if (!read.ok)
    return { ok: false, issues: read.faults.map((f) => error('invalid', f.message, f.expression)) };
  const reference = response.subject?.reference ?? '';
  let person: PersonDetails;
  let patientRead: Patient | undefined;
  if (reference.startsWith('#')) {
    const patient = response.contained?.find(
      (r): r is Patient => r.resourceType === 'Patient' && `#${r.id ?? ''}` === reference,
    );
    if (!patient)
      return {
        ok: false,
        issues: [
          error(
            'not-found',
            'The subject points to a contained Patient that is not there',
            'QuestionnaireResponse.subject.reference',
          ),
        ],
      };
    person = personFromPatient(patient);
    patientRead = patient;
  } else {
    const patient = lookup(reference);
    person = patient ? personFromPatient(patient) : personFromReference(response.subject);
    patientRead = patient;
  }
  const start = response.extension?.find((e) => e.url === SESSION_START_EXTENSION);
  if (start && !isDateTimeWithOffset(start.valueDateTime))
    return {
      ok: false,
      issues: [
        error(
          'invalid',
          'The session start is not a dateTime with time and offset',
          `QuestionnaireResponse.extension('${SESSION_START_EXTENSION}').value`,
        ),
      ],
    };
  const dropped = notHeldByRecord(response, patientRead, person);
  return {
    ok: true,
    record: {
      session: read.session,
      person,
      ...(start?.valueDateTime ? { startedAt: start.valueDateTime } : {}),
      ...(dropped.length > 0 ? { dropped } : {}),
    },
  };
}

/**
 * What no native format holds of a record: the elements of the response it was read from that
 * the record does not carry, and the subject's FHIR reference (a native record names the person
 * by identifiers and name, never by id), unless the caller gives the same subject back.
 */
export function notHeldByNative(record: DialogRecord, subject: string | undefined): string[] {
  const out = record.dropped ? [...record.dropped] : [];
  const reference = record.session.subject;
  if (!reference.startsWith('#') && reference !== subject) out.push('subject.reference');
  return out;
}

/**
 * Whether the response's `subject.display` says something else than the person's name does:
 * a format that writes the name, and makes the display from it again, does not hold it.
 */
export function displayNotFromName(record: DialogRecord): boolean {
  const display = record.session.subjectDisplay;
  return (
    display !== undefined &&
    record.person.name !== undefined &&
    display !== nameDisplay(record.person.name)
  );
}

// ---- what a record does not hold of a response ----------------------------------------------

/** Response extensions a record holds. */
const EXTENSIONS_HELD = new Set([
  SESSION_START_EXTENSION,
  Extensions.timepoint,
  Extensions.setting,
  Extensions.reusedRating,
]);

/** The response's top-level groups responseToSession reads. */
const ITEMS_HELD = new Set(['previous-actions', 'ratings', 'discussion', 'not-rated']);

/**
 * Patient elements that are the resource's bookkeeping, not the person: not counted (the
 * Patient is not what is converted; its id is in the subject reference, counted by a format).
 */
const PATIENT_BOOKKEEPING = new Set([
  'resourceType',
  'id',
  'meta',
  'text',
  'implicitRules',
  'language',
]);

/** Patient elements a record holds (`identifier` and `name` in part: checked one by one). */
const PATIENT_HELD = new Set(['identifier', 'name', 'birthDate', 'gender']);

/** `_x` is the extension of primitive `x` in FHIR JSON. */
function elementName(key: string): string {
  return key.startsWith('_') && key.length > 1 ? `${key.slice(1)}.extension` : key;
}

function keysBeyond(value: unknown, held: readonly string[], path: string, out: string[]): void {
  if (typeof value !== 'object' || value === null) return;
  for (const key of Object.keys(value))
    if (!held.includes(key)) out.push(`${path}.${elementName(key)}`);
}

/**
 * The elements of a DIALOG response, and of the Patient it names (contained, or found in the
 * same input), that `responseToRecord` does not carry into the record: lost on the way to any
 * native format, so each format names them among what it does not hold. Named FHIRPath-like:
 * `encounter`, `meta.tag`, `extension('<url>')`, `Patient.telecom`, `Patient.name.text`… The
 * DIALOG items inside the groups are read by responseToSession, which refuses what it does not
 * know; a top-level group it does not read is named here.
 */
export function notHeldByRecord(
  response: QuestionnaireResponse,
  patient: Patient | undefined,
  person: PersonDetails,
): string[] {
  const out: string[] = [];
  const r = response as unknown as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!RESPONSE_ELEMENTS.has(key)) out.push(elementName(key));
  const meta = response.meta;
  if (meta) {
    keysBeyond(meta, ['profile'], 'meta', out);
    if (Array.isArray(meta.profile) && meta.profile.some((p) => p !== Profiles.response))
      out.push('meta.profile');
  }
  if (response.questionnaire?.includes('|')) out.push('questionnaire (version)');
  const identifier = response.identifier;
  if (identifier) {
    if (!identifier.system || !identifier.value) out.push('identifier (without system or value)');
    keysBeyond(identifier, ['system', 'value'], 'identifier', out);
  }
  const subject = response.subject;
  if (subject) {
    keysBeyond(subject, ['reference', 'display', 'identifier'], 'subject', out);
    const id = subject.identifier;
    const linking = linkingIdentifier(person);
    if (
      id &&
      (Object.keys(id).some((k) => k !== 'system' && k !== 'value') ||
        !linking ||
        linking.system !== id.system ||
        linking.value !== id.value)
    )
      out.push('subject.identifier');
  }
  keysBeyond(response.author, ['reference', 'display'], 'author', out);
  keysBeyond(response.source, ['reference', 'display'], 'source', out);
  for (const e of response.extension ?? [])
    if (!EXTENSIONS_HELD.has(e.url)) out.push(`extension('${e.url}')`);
  for (const c of response.contained ?? [])
    if (c !== patient) out.push(`contained.ofType(${c.resourceType})`);
  for (const item of response.item ?? [])
    if (!ITEMS_HELD.has(item.linkId)) out.push(`item.where(linkId='${item.linkId}')`);
  if (patient) patientNotHeld(patient, out);
  return [...new Set(out)];
}

function patientNotHeld(patient: Patient, out: string[]): void {
  for (const key of Object.keys(patient))
    if (!PATIENT_BOOKKEEPING.has(key) && !PATIENT_HELD.has(key))
      out.push(`Patient.${elementName(key)}`);
  for (const i of patient.identifier ?? []) {
    if (!i.system || !i.value) {
      out.push('Patient.identifier (without system or value)');
      continue;
    }
    keysBeyond(i, ['system', 'value', 'type'], 'Patient.identifier', out);
    const coding = i.type?.coding ?? [];
    if (
      i.type &&
      (Object.keys(i.type).some((k) => k !== 'coding') ||
        coding.length !== 1 ||
        coding[0]?.system !== V2_0203 ||
        Object.keys(coding[0]).some((k) => k !== 'system' && k !== 'code'))
    )
      out.push('Patient.identifier.type');
  }
  const names = patient.name ?? [];
  const official = names.find((n) => n.use === 'official') ?? names[0];
  if (names.length > 1) out.push('Patient.name (another name)');
  if (official) {
    keysBeyond(official, ['family', 'given', 'prefix', 'suffix', 'text'], 'Patient.name', out);
    if (official.text !== undefined && (official.family !== undefined || official.given))
      out.push('Patient.name.text');
  }
}
