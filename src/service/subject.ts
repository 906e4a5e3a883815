/**
 * Who a submitted session is about. A response may name the person by a literal reference
 * (`Patient/<id>`, which must exist), by a logical reference (an NHS number or a local
 * identifier), or by a contained Patient (how native records arrive, see src/mapping/record.ts).
 * The last two are matched to the Patient holding that identifier, created when there is none
 * yet, so one person is one Patient however their systems name them.
 */
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { Identifier, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import type { FhirStore } from '../store';
import { nhsNumberIssues, NHS_NUMBER_SYSTEM } from './nhs-number';
import { fault, unprocessable } from './outcomes';
import { outcome } from '../validation';

const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const AT = 'QuestionnaireResponse.subject';

/** The response with `subject` a literal `Patient/<id>` of a stored Patient. */
export async function resolveSubject(
  store: FhirStore,
  response: QuestionnaireResponse,
): Promise<QuestionnaireResponse> {
  const subject = response.subject;
  const literal = subject?.reference ? PATIENT_REFERENCE.exec(subject.reference) : null;
  if (literal?.[1]) {
    await mustExist(store, literal[1]);
    return response;
  }
  if (subject?.reference?.startsWith('#')) return fromContained(store, response);
  if (subject?.identifier) {
    const id = await patientFor(store, { identifier: [subject.identifier] }, `${AT}.identifier`);
    return { ...response, subject: { reference: `Patient/${id}` } };
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
): Promise<QuestionnaireResponse> {
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
  const id = await patientFor(store, person, 'QuestionnaireResponse.contained');
  const rest = (response.contained ?? []).filter((r) => r !== contained);
  const { contained: _all, ...withoutContained } = response;
  void _all;
  return {
    ...withoutContained,
    ...(rest.length > 0 ? { contained: rest } : {}),
    subject: { reference: `Patient/${id}` },
  };
}

/**
 * The id of the Patient holding the person's identifier, preferring the NHS number; a new Patient
 * with these details when none does (conditional create, so two sessions for a new person at once
 * make one Patient).
 */
async function patientFor(
  store: FhirStore,
  person: Omit<Patient, 'resourceType'>,
  at: string,
): Promise<string> {
  const issues = nhsNumberIssues(person.identifier, at);
  if (issues.length > 0) throw unprocessable(outcome(issues));
  const key = linkingIdentifier(person.identifier ?? []);
  if (!key?.system || !key.value)
    throw fault(422, 'required', 'The identifier needs a system and a value', at);
  const { resource } = await store.create<Patient>(
    { ...person, resourceType: 'Patient' },
    { ifNoneExist: { identifier: `${key.system}|${key.value}` } },
  );
  return resource.id ?? '';
}

function linkingIdentifier(identifiers: readonly Identifier[]): Identifier | undefined {
  return identifiers.find((i) => i.system === NHS_NUMBER_SYSTEM) ?? identifiers[0];
}
