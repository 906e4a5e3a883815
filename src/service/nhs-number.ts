/**
 * NHS numbers (`https://fhir.nhs.uk/Id/nhs-number`) as identifiers of Patients and in searches,
 * checked by the mappers' `isNhsNumber` (ten digits, not one digit ten times, modulus-11 check
 * digit; UK Core writes the value without spaces). Patients are matched across systems on this
 * identifier, so a mistyped one must be refused at the door rather than create a second person.
 */
import type {
  Identifier,
  OperationOutcomeIssue,
  Patient,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { NHS_NUMBER_SYSTEM } from '../fhir/canonical';
import { isNhsNumber } from '../mapping/codes';
import type { FhirStore } from '../store';
import { error } from '../validation';
import { fault } from './outcomes';

export { NHS_NUMBER_SYSTEM };

const RULE = 'ten digits, not all the same, with a matching modulus-11 check digit';

/**
 * An issue for each NHS-number identifier whose value fails the check (the value is not echoed),
 * at `valueAt(index)`: by default the value in `path`'s `identifier` list.
 */
export function nhsNumberIssues(
  identifiers: readonly Identifier[] | undefined,
  path: string,
  valueAt: (index: number) => string = (index) => `${path}.identifier[${index}].value`,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  (identifiers ?? []).forEach((identifier, index) => {
    if (identifier.system !== NHS_NUMBER_SYSTEM) return;
    if (identifier.value !== undefined && isNhsNumber(identifier.value)) return;
    issues.push(error('value', `This NHS number is not valid: it needs ${RULE}`, valueAt(index)));
  });
  return issues;
}

/** The issue for a search token `https://fhir.nhs.uk/Id/nhs-number|<value>` whose value fails. */
export function nhsNumberSearchIssue(
  type: string,
  token: string,
): OperationOutcomeIssue | undefined {
  const bar = token.indexOf('|');
  if (bar < 0 || token.slice(0, bar) !== NHS_NUMBER_SYSTEM) return undefined;
  const value = token.slice(bar + 1);
  if (isNhsNumber(value)) return undefined;
  return error('value', `The NHS number searched for is not valid (${RULE})`, `${type}.identifier`);
}

/**
 * Refuses (409 `duplicate`) a Patient written with an NHS number another Patient holds: one NHS
 * number is one person. Stored, the pair would make every later session that names the person
 * by NHS number a 412 (two matches). `self` is the stored Patient this write replaces, if any.
 * Checked before writing, not inside the store's transaction: callers hold the number's key
 * (`nhsNumberKeys`) from this check to their write, so within one process two writes of one
 * number take turns; two replicas racing can still make a pair, which the sessions' 412 then
 * tells. The value is not echoed.
 */
export async function checkNhsNumberFree(
  store: FhirStore,
  patient: Patient,
  self: string | undefined,
  where: string,
): Promise<void> {
  const identifiers = patient.identifier ?? [];
  for (const [index, identifier] of identifiers.entries()) {
    if (identifier.system !== NHS_NUMBER_SYSTEM || identifier.value === undefined) continue;
    const found = await store.search('Patient', {
      identifier: `${NHS_NUMBER_SYSTEM}|${identifier.value}`,
      _count: '2',
    });
    if (found.resources.some((other) => other.id !== self))
      throw fault(
        409,
        'duplicate',
        'Another Patient holds this NHS number: one NHS number is one person (to find the Patient or create it, use If-None-Exist)',
        `${where}.identifier[${index}].value`,
      );
  }
}

/**
 * What a write must be kept apart from other writes on (`FhirService.withIdentities`): each NHS
 * number it gives a Patient — a Patient's own, or a session's person new to the service (named
 * by identifier or contained) — so checking that no one else holds it and writing cannot
 * interleave with another write of it in this process.
 */
export function nhsNumberKeys(resource: Resource): string[] {
  const identifiers: Identifier[] = [];
  if (resource.resourceType === 'Patient') identifiers.push(...(resource.identifier ?? []));
  if (resource.resourceType === 'QuestionnaireResponse') {
    const response: QuestionnaireResponse = resource;
    if (response.subject?.identifier) identifiers.push(response.subject.identifier);
    for (const contained of response.contained ?? [])
      if (contained.resourceType === 'Patient') identifiers.push(...(contained.identifier ?? []));
  }
  return identifiers
    .filter((i) => i.system === NHS_NUMBER_SYSTEM && typeof i.value === 'string')
    .map((i) => `${NHS_NUMBER_SYSTEM}|${i.value ?? ''}`);
}
