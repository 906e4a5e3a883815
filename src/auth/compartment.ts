/**
 * The patient compartment: which stored resources are about one person. A caller confined to a
 * patient (patient/ scopes, the person themselves, a carer) reads, searches and writes only these.
 *
 * Membership follows the elements the store's `patient` search parameter indexes
 * (src/store/search-parameters.ts), so a resource a confined caller may read is also one its
 * pinned search finds:
 *   Patient — its own id; QuestionnaireResponse, Observation, CarePlan, Goal — `subject`;
 *   Task — `for`; Provenance — `target` (the FHIR R4 Patient compartment's rule: a Provenance
 *   whose targets are only the person's other resources is not in it); AuditEvent —
 *   `entity.what` (R4 also lists `agent.who`; left out so read and search agree, and our audit
 *   events always name the person as an entity); RelatedPerson, Consent — `patient`.
 * Questionnaire (and other definitions) hold no patient data: see DEFINITIONAL_TYPES.
 * Practitioner, PractitionerRole and Organization (the directory) are in no one's compartment
 * and are not definitions either: a confined caller may neither read nor write them (403), so a
 * patient token cannot list the staff of a trust; clinicians and systems use them as their
 * scopes allow.
 *
 * References match as `Patient/<id>` (optionally `/_history/<v>`), or as an absolute URL whose
 * base is one of the server's own `baseUrls`; an absolute URL on any other base names a resource
 * on another server, even when the id is the same. Logical references (identifier only, such as
 * an NHS number) cannot be decided without resolving them, so they do not match.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface ReferenceOptions {
  /** The server's own FHIR base URLs (e.g. `https://trust.example/fhir`); none by default. */
  readonly baseUrls?: readonly string[];
}

/** Elements (paths from the resource) whose references put a resource in the compartment. */
const COMPARTMENT_PATHS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  QuestionnaireResponse: [['subject']],
  Observation: [['subject']],
  CarePlan: [['subject']],
  Goal: [['subject']],
  Task: [['for']],
  Provenance: [['target']],
  AuditEvent: [['entity', 'what']],
  RelatedPerson: [['patient']],
  Consent: [['patient']],
};

/**
 * Types that hold no patient data (definitions): a confined caller may read and search them as
 * its scopes allow, unpinned, but not write them.
 */
export const DEFINITIONAL_TYPES: ReadonlySet<string> = new Set([
  'Questionnaire',
  'CapabilityStatement',
  'StructureDefinition',
  'ValueSet',
  'CodeSystem',
  'SearchParameter',
  'OperationDefinition',
]);

/** Whether a type has a patient compartment rule (Patient included). */
export function isPatientDataType(type: string): boolean {
  return type === 'Patient' || type in COMPARTMENT_PATHS;
}

/** Whether `reference` names `<type>/<id>` here (relative, or absolute on one of our bases). */
export function referencesResource(
  reference: unknown,
  type: string,
  id: string,
  options: ReferenceOptions = {},
): boolean {
  if (typeof reference !== 'string') return false;
  const relative = localPart(reference, options.baseUrls ?? []);
  if (relative === undefined) return false;
  const match =
    /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(
      relative,
    );
  return match?.[1] === type && match[2] === id;
}

/** The part of a reference after one of our bases, or the reference itself when relative. */
function localPart(reference: string, baseUrls: readonly string[]): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(reference)) return reference;
  for (const base of baseUrls) {
    const prefix = base.endsWith('/') ? base : `${base}/`;
    if (reference.startsWith(prefix)) return reference.slice(prefix.length);
  }
  return undefined;
}

type Json = Record<string, unknown>;

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Every `.reference` string at `path` (arrays followed at each step). */
function referencesAt(resource: Resource, path: readonly string[]): unknown[] {
  let nodes: unknown[] = [resource];
  for (const step of path) {
    nodes = nodes.flatMap((node) =>
      node !== null && typeof node === 'object' ? list((node as Json)[step]) : [],
    );
  }
  return nodes.map((node) =>
    node !== null && typeof node === 'object' ? (node as Json).reference : undefined,
  );
}

/** Whether `resource` is about the person `patientId` (see the rules above). */
export function inPatientCompartment(
  resource: Resource,
  patientId: string,
  options: ReferenceOptions = {},
): boolean {
  if (resource.resourceType === 'Patient') return resource.id === patientId;
  const paths = COMPARTMENT_PATHS[resource.resourceType];
  if (!paths) return false;
  return paths.some((path) =>
    referencesAt(resource, path).some((ref) =>
      referencesResource(ref, 'Patient', patientId, options),
    ),
  );
}

/**
 * The search parameter that pins a search of `type` to one person: `_id` for Patient, `patient`
 * for the compartment types above (the store indexes it from the same elements); undefined for
 * a type with no patient data rule.
 */
export function patientSearchParameter(type: string): string | undefined {
  if (type === 'Patient') return '_id';
  return type in COMPARTMENT_PATHS ? 'patient' : undefined;
}

/**
 * The parameter and value to add to a confined caller's search of `type` (as a repeated
 * parameter, so it must hold in addition to the caller's own), e.g. `patient=Patient/p1`.
 */
export function patientSearch(
  type: string,
  patientId: string,
): { readonly name: string; readonly value: string } | undefined {
  const name = patientSearchParameter(type);
  if (name === undefined) return undefined;
  return { name, value: name === '_id' ? patientId : `Patient/${patientId}` };
}
