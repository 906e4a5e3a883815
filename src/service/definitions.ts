/**
 * The definitions responses point at, kept where clients look for them: the package's
 * Questionnaires (DIALOG's) are written to the store at start-up, so `Questionnaire/dialog` can
 * be read and searched on a fresh server as the CapabilityStatement says. Written as they are
 * (update by id; an unchanged one writes nothing, a new package version writes a new version).
 */
import type { Resource } from '@medplum/fhirtypes';
import type { FhirStore } from '../store';
import type { ConformancePackage } from '../validation';

/** Stores the package's Questionnaires; resolves to how many were new or changed. */
export async function storeDefinitions(store: FhirStore, pkg: ConformancePackage): Promise<number> {
  let changed = 0;
  for (const resource of pkg.resources) {
    if (resource.resourceType !== 'Questionnaire' || resource.id === undefined) continue;
    const before = await store.read('Questionnaire', resource.id).catch(() => undefined);
    const written = await store.update(resource as Resource);
    if (written.resource.meta?.versionId !== before?.meta?.versionId) changed++;
  }
  return changed;
}
