/** The example journey (examples/journey) loaded into a real embedded store. Not a test file. */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { EmbeddedStore } from '../../src/store';
import { EXAMPLES_DIR } from '../support/examples';

export const PLAN_ID = 'care-plan-megan-price';

/** Every resource of the journey files, in journey order (later versions after earlier ones). */
export function journeyResources(upTo = '04'): Resource[] {
  const dir = join(EXAMPLES_DIR, 'journey');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f.slice(0, 2) <= upTo)
    .sort()
    .flatMap((file) => {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle;
      return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    });
}

export interface OpenStore {
  readonly store: EmbeddedStore;
  close(): Promise<void>;
}

/** A new embedded store in a temporary folder holding the journey up to step `upTo`. */
export async function journeyStore(
  upTo = '04',
  extra: readonly Resource[] = [],
): Promise<OpenStore> {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-letter-'));
  const store = await EmbeddedStore.open({ dataDir: dir });
  for (const resource of [...journeyResources(upTo), ...extra]) await store.update(resource);
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
