/**
 * The search parameters the stores support, per resource type, and how a resource's values for
 * them are read at write time. Token values are `(system, code)`; reference values are
 * `(target type, target id)`, so one index shape serves both. Everything here is pure.
 *
 * The definitions follow the FHIR R4 SearchParameters of the same names (Goal has
 * `lifecycle-status`, not `status`; Task's `subject` and `patient` are `Task.for`). Only relative
 * references (`Type/id`, optionally `/_history/n`) are indexed: an absolute URL names a resource
 * on another server.
 */
import type { Resource } from '@medplum/fhirtypes';

export type SearchParamType = 'token' | 'reference' | 'date';

/** One indexed value. `system` is '' for a token without a system. */
export interface IndexValue {
  readonly system: string;
  readonly value: string;
}

export interface SearchParamInfo {
  readonly name: string;
  readonly type: SearchParamType;
  /** The FHIRPath the value is taken from (for the CapabilityStatement). */
  readonly expression: string;
}

interface IndexedParam extends SearchParamInfo {
  readonly type: 'token' | 'reference';
  readonly extract: (resource: Resource) => IndexValue[];
  /**
   * Answered from this other parameter's index rows (those whose system is `Patient`) rather than
   * rows of its own: `patient` is `subject` (or `target`, `for`) where that is a Patient.
   */
  readonly patientOf?: string;
  /** A code (`status`): its rows' system is always '' (a code has none). */
  readonly systemless?: true;
}

/** Loose view of a resource's JSON for extraction: FHIR shapes vary by type. */
type Json = Record<string, unknown>;

const REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** `Type/id` (or `Type/id/_history/v`) → its index value; anything else (absolute, urn, #) → none. */
export function referenceValue(reference: unknown): IndexValue | undefined {
  if (typeof reference !== 'string') return undefined;
  const match = REFERENCE.exec(reference);
  return match?.[1] && match[2] ? { system: match[1], value: match[2] } : undefined;
}

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function field(resource: Resource, name: string): unknown {
  return (resource as unknown as Json)[name];
}

function identifiers(resource: Resource): IndexValue[] {
  return list(field(resource, 'identifier')).flatMap((item) => {
    const { system, value } = (item ?? {}) as Json;
    return typeof value === 'string' && value !== ''
      ? [{ system: typeof system === 'string' ? system : '', value }]
      : [];
  });
}

function code(name: string): (resource: Resource) => IndexValue[] {
  return (resource) => {
    const value = field(resource, name);
    return typeof value === 'string' && value !== '' ? [{ system: '', value }] : [];
  };
}

/** The references at `path` (a chain of element names; arrays are followed). */
function references(...path: string[]): (resource: Resource) => IndexValue[] {
  return (resource) => {
    let nodes: unknown[] = [resource];
    for (const step of path) nodes = nodes.flatMap((node) => list((node as Json)[step]));
    return nodes.flatMap((node) => {
      const found = referenceValue((node as Json | null)?.reference);
      return found ? [found] : [];
    });
  };
}

function patientsOnly(
  extract: (resource: Resource) => IndexValue[],
): (resource: Resource) => IndexValue[] {
  return (resource) => extract(resource).filter((v) => v.system === 'Patient');
}

function identifierParam(type: string): IndexedParam {
  return {
    name: 'identifier',
    type: 'token',
    expression: `${type}.identifier`,
    extract: identifiers,
  };
}

function statusParam(type: string, name = 'status', element = 'status'): IndexedParam {
  return {
    name,
    type: 'token',
    expression: `${type}.${element}`,
    extract: code(element),
    systemless: true,
  };
}

function referenceParam(type: string, name: string, ...path: string[]): IndexedParam {
  return {
    name,
    type: 'reference',
    expression: `${type}.${path.join('.')}`,
    extract: references(...path),
  };
}

function patientParam(type: string, path: string[], patientOf?: string): IndexedParam {
  return {
    name: 'patient',
    type: 'reference',
    expression: `${type}.${path.join('.')}.where(resolve() is Patient)`,
    extract: patientsOnly(references(...path)),
    ...(patientOf !== undefined ? { patientOf } : {}),
  };
}

/** A subject that is a Patient: `subject` (any target) and `patient` (Patient targets). */
function subjectParams(type: string, element = 'subject'): IndexedParam[] {
  return [referenceParam(type, 'subject', element), patientParam(type, [element], 'subject')];
}

const INDEXED: Readonly<Record<string, readonly IndexedParam[]>> = {
  Patient: [identifierParam('Patient')],
  Questionnaire: [identifierParam('Questionnaire'), statusParam('Questionnaire')],
  QuestionnaireResponse: [
    identifierParam('QuestionnaireResponse'),
    statusParam('QuestionnaireResponse'),
    ...subjectParams('QuestionnaireResponse'),
  ],
  Observation: [
    identifierParam('Observation'),
    statusParam('Observation'),
    ...subjectParams('Observation'),
  ],
  CarePlan: [identifierParam('CarePlan'), statusParam('CarePlan'), ...subjectParams('CarePlan')],
  Goal: [
    identifierParam('Goal'),
    statusParam('Goal', 'lifecycle-status', 'lifecycleStatus'),
    ...subjectParams('Goal'),
  ],
  Task: [
    identifierParam('Task'),
    statusParam('Task'),
    ...subjectParams('Task', 'for'),
    referenceParam('Task', 'focus', 'focus'),
    referenceParam('Task', 'owner', 'owner'),
    referenceParam('Task', 'requester', 'requester'),
    statusParam('Task', 'priority', 'priority'),
  ],
  Provenance: [
    identifierParam('Provenance'),
    referenceParam('Provenance', 'target', 'target'),
    patientParam('Provenance', ['target'], 'target'),
  ],
  AuditEvent: [patientParam('AuditEvent', ['entity', 'what'])],
  RelatedPerson: [
    identifierParam('RelatedPerson'),
    referenceParam('RelatedPerson', 'patient', 'patient'),
  ],
  Consent: [
    identifierParam('Consent'),
    statusParam('Consent'),
    referenceParam('Consent', 'patient', 'patient'),
  ],
  // The directory: who the plan names (key worker, GP practice, care team members), found by
  // their identifiers (e.g. GMC number, ODS code) and, for roles, by practitioner or organisation.
  Practitioner: [identifierParam('Practitioner')],
  PractitionerRole: [
    identifierParam('PractitionerRole'),
    referenceParam('PractitionerRole', 'practitioner', 'practitioner'),
    referenceParam('PractitionerRole', 'organization', 'organization'),
  ],
  Organization: [identifierParam('Organization')],
};

/** The parameters every type has, answered from the resource row itself. */
const COMMON: readonly SearchParamInfo[] = [
  { name: '_id', type: 'token', expression: 'Resource.id' },
  { name: '_lastUpdated', type: 'date', expression: 'Resource.meta.lastUpdated' },
];

/** Result parameters (paging and order), accepted for every type. */
export const RESULT_PARAMETERS: readonly string[] = ['_count', '_offset', '_sort'];

/** The search parameters of a type (those beyond `_id` and `_lastUpdated` are indexed). */
export function searchParametersFor(type: string): SearchParamInfo[] {
  return [
    ...COMMON,
    ...(INDEXED[type] ?? []).map(({ name, type: kind, expression }) => ({
      name,
      type: kind,
      expression,
    })),
  ];
}

/** The definition of an indexed parameter, or undefined. */
export function indexedParameter(
  type: string,
  name: string,
): Pick<IndexedParam, 'name' | 'type'> | undefined {
  return (INDEXED[type] ?? []).find((p) => p.name === name);
}

/**
 * Where a parameter's values are in the index: the rows of `param`, only those of `system` when
 * it is given (a `patient` parameter is read from its `subject`'s rows whose system is Patient).
 */
export function indexRowsOf(
  type: string,
  name: string,
): { param: string; system?: string; selective: boolean } {
  const param = (INDEXED[type] ?? []).find((p) => p.name === name);
  if (param?.patientOf !== undefined)
    return { param: param.patientOf, system: 'Patient', selective: true };
  // A code's rows all have system '': saying so lets a lookup go straight to a resource's row.
  // A code (status) is shared by most resources of a type; references and identifiers name few.
  if (param?.systemless) return { param: name, system: '', selective: false };
  return { param: name, selective: true };
}

/** Every index row a resource gives: `[param, system, value]`, without duplicates. */
export function indexValues(resource: Resource): [string, string, string][] {
  return rowsOf(resource, false);
}

/**
 * The index rows a store keeps for a resource: those of `indexValues` but the rows a parameter
 * answered from another's rows (`patientOf`, see `indexRowsOf`) would repeat.
 */
export function storedIndexValues(resource: Resource): [string, string, string][] {
  return rowsOf(resource, true);
}

function rowsOf(resource: Resource, stored: boolean): [string, string, string][] {
  const rows = new Map<string, [string, string, string]>();
  for (const param of INDEXED[resource.resourceType] ?? []) {
    if (stored && param.patientOf !== undefined) continue;
    for (const { system, value } of param.extract(resource)) {
      rows.set(JSON.stringify([param.name, system, value]), [param.name, system, value]);
    }
  }
  return [...rows.values()];
}

/**
 * Names the current definitions: a store that indexed under another signature rebuilds its
 * index when it opens.
 */
export const INDEX_SIGNATURE = JSON.stringify([
  2, // bump when extraction changes without an expression changing (2: `patient` from `subject`)
  ...Object.entries(INDEXED).map(([type, params]) => [type, params.map((p) => p.expression)]),
]);
