/**
 * Who a submitted session is about. A response may name the person by a literal reference
 * (`Patient/<id>`, which must exist), by a logical reference (an NHS number or a local
 * identifier), or by a contained Patient (how native records arrive, see src/mapping/record.ts).
 * The last two are matched to the Patient holding that identifier, so one person is one Patient
 * however their systems name them.
 *
 * Nothing is written here. When no stored Patient holds the identifier, the person is new: the
 * response is given a new `Patient/<id>` and the Patient to create comes back beside it
 * (`NewPatient`), for the session's own transaction to create with everything else
 * (src/service/submit-session.ts). So a session that is then refused (someone else's record in
 * it, a patient token's own person missing, a race lost) leaves no Patient behind.
 */
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { BundleEntry, Identifier, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import type { FhirStore } from '../store';
import { nhsNumberIssues, NHS_NUMBER_SYSTEM } from './nhs-number';
import { fault, unprocessable } from './outcomes';
import { outcome } from '../validation';
import { tokenSearch } from '../fhir';

const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const AT = 'QuestionnaireResponse.subject';

/** A person matched by identifier whom no stored Patient holds yet: created with the session. */
export interface NewPatient {
  /** The Patient to create, with its new id (the response's subject already names it). */
  readonly patient: Patient;
  /** The identifier it was matched by (preferring the NHS number) as a token search, escaped. */
  readonly identifier: string;
}

export interface ResolvedSubject {
  /** The response with `subject` a literal `Patient/<id>`. */
  readonly response: QuestionnaireResponse;
  /** Set when that Patient is new: to be created in the session's transaction. */
  readonly newPatient?: NewPatient;
}

/**
 * The response with `subject` a literal `Patient/<id>`: of a stored Patient, or of the new one
 * returned beside it (`newId` gives its id).
 */
export async function resolveSubject(
  store: FhirStore,
  response: QuestionnaireResponse,
  newId: () => string,
): Promise<ResolvedSubject> {
  const subject = response.subject;
  const literal = subject?.reference ? PATIENT_REFERENCE.exec(subject.reference) : null;
  if (literal?.[1]) {
    await mustExist(store, literal[1]);
    return { response };
  }
  if (subject?.reference?.startsWith('#')) return fromContained(store, response, newId);
  if (subject?.identifier) {
    // One identifier, not a list: its value is at `subject.identifier.value`.
    const at = `${AT}.identifier`;
    const matched = await patientFor(
      store,
      { identifier: [subject.identifier] },
      at,
      newId,
      () => `${at}.value`,
    );
    return withSubject({ ...response, subject: { reference: `Patient/${matched.id}` } }, matched);
  }
  throw fault(
    422,
    'required',
    'A DIALOG session needs a subject: Patient/<id>, an NHS number or a local identifier',
    AT,
  );
}

async function mustExist(store: FhirStore, id: string): Promise<void> {
  try {
    await store.read('Patient', id);
  } catch (err) {
    if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 404)
      throw fault(422, 'not-found', 'The subject is not a stored Patient', `${AT}.reference`);
    throw err;
  }
}

async function fromContained(
  store: FhirStore,
  response: QuestionnaireResponse,
  newId: () => string,
): Promise<ResolvedSubject> {
  const localId = response.subject?.reference?.slice(1);
  const contained = (response.contained ?? []).find(
    (r): r is Patient => r.resourceType === 'Patient' && r.id === localId,
  );
  if (!contained?.identifier?.length)
    throw fault(
      422,
      'required',
      'The contained subject needs an identifier (NHS number or local) to be matched to a person',
      `${AT}.reference`,
    );
  const { id: _local, ...person } = contained;
  void _local;
  const matched = await patientFor(store, person, 'QuestionnaireResponse.contained', newId);
  const rest = (response.contained ?? []).filter((r) => r !== contained);
  const { contained: _all, ...withoutContained } = response;
  void _all;
  // The person's other references to the contained Patient (a native record's `source`: the
  // person rated their own answers) follow it out, or they would point at nothing.
  const pointed = repointed(withoutContained, `#${localId ?? ''}`, `Patient/${matched.id}`);
  return withSubject(
    {
      ...pointed,
      ...(rest.length > 0 ? { contained: rest } : {}),
      subject: { reference: `Patient/${matched.id}` },
    },
    matched,
  );
}

function withSubject(response: QuestionnaireResponse, matched: Matched): ResolvedSubject {
  return matched.newPatient ? { response, newPatient: matched.newPatient } : { response };
}

interface Matched {
  readonly id: string;
  readonly newPatient?: NewPatient;
}

/**
 * The Patient holding the person's identifier, preferring the NHS number; when none does, a new
 * Patient with these details (not written here: see `NewPatient`). Two holding it is ambiguous.
 */
async function patientFor(
  store: FhirStore,
  person: Omit<Patient, 'resourceType'>,
  at: string,
  newId: () => string,
  valueAt?: (index: number) => string,
): Promise<Matched> {
  const issues = nhsNumberIssues(person.identifier, at, valueAt);
  if (issues.length > 0) throw unprocessable(outcome(issues));
  const key = linkingIdentifier(person.identifier ?? []);
  if (!key?.system || !key.value)
    throw fault(422, 'required', 'The identifier needs a system and a value', at);
  const identifier = tokenSearch(key.system, key.value);
  const found = await holderOf(store, identifier);
  if (found !== undefined) return { id: found };
  const id = newId();
  return { id, newPatient: { patient: { ...person, resourceType: 'Patient', id }, identifier } };
}

/** The id of the one stored Patient holding `system|value`; refused when several do. */
export async function holderOf(store: FhirStore, identifier: string): Promise<string | undefined> {
  const found = await store.search('Patient', { identifier }, { count: 2 });
  if (found.total > 1 || found.resources.length > 1)
    throw fault(
      412,
      'multiple-matches',
      'More than one Patient holds this identifier; the person cannot be told apart',
      AT,
    );
  return found.resources[0]?.id;
}

/**
 * The session's transaction entries with the new person in them: the Patient as a conditional
 * create (`If-None-Exist` by its identifier) under a `urn:uuid:` placeholder, and every reference
 * to it (references, and conditions such as the first plan's `If-None-Exist`) in the other entries
 * pointing at that placeholder. If another writer created a Patient with this identifier
 * meanwhile, the store files the whole session against theirs rather than making a second one.
 * This is FHIR's conditional create in a transaction, which the embedded store and Medplum's
 * fhir-router both honour (tested); an update naming a new id under a condition would be simpler,
 * but Medplum refuses it. A server whose conditional creates race can still make two Patients;
 * later sessions for that person are then refused as ambiguous (412), never filed at random.
 */
export function withNewPatient(entries: BundleEntry[], newPatient: NewPatient): BundleEntry[] {
  const { id = '', ...patient } = newPatient.patient;
  const literal = `Patient/${id}`;
  const placeholder = `urn:uuid:${id}`;
  const pointed = entries.map((entry) => ({
    ...entry,
    ...(entry.resource ? { resource: repointed(entry.resource, literal, placeholder) } : {}),
    ...(entry.request ? { request: conditionRepointed(entry.request, literal, placeholder) } : {}),
  }));
  return [
    ...pointed,
    {
      fullUrl: placeholder,
      resource: patient as Patient,
      request: {
        method: 'POST',
        url: 'Patient',
        ifNoneExist: `identifier=${encodeURIComponent(newPatient.identifier)}`,
      },
    },
  ];
}

/** The request with `from` in its conditions (URL query, If-None-Exist) reading `to`. */
function conditionRepointed(
  request: NonNullable<BundleEntry['request']>,
  from: string,
  to: string,
): NonNullable<BundleEntry['request']> {
  const swap = (text: string): string =>
    text.split(from).join(to).split(encodeURIComponent(from)).join(encodeURIComponent(to));
  return {
    ...request,
    url: swap(request.url),
    ...(request.ifNoneExist !== undefined ? { ifNoneExist: swap(request.ifNoneExist) } : {}),
  };
}

/** A copy of `value` whose references `from` read `to` (nothing else is changed). */
function repointed<T>(value: T, from: string, to: string): T {
  if (Array.isArray(value)) return value.map((item: unknown) => repointed(item, from, to)) as T;
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>))
    copy[key] = key === 'reference' && item === from ? to : repointed(item, from, to);
  return copy as T;
}

function linkingIdentifier(identifiers: readonly Identifier[]): Identifier | undefined {
  return identifiers.find((i) => i.system === NHS_NUMBER_SYSTEM) ?? identifiers[0];
}
