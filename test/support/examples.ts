/** Loads the examples/ folder: every valid resource, and the invalid cases with their expectations. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';

import { PACKAGE_DIR } from '../../src/validation';

/** examples/ beside profiles/ (found the same way from src, dist-bench and tests). */
export const EXAMPLES_DIR = join(dirname(dirname(PACKAGE_DIR)), 'examples');

export interface NamedResource {
  readonly name: string;
  readonly resource: Resource;
}

export interface InvalidCase {
  readonly file: string;
  readonly profile: string | null;
  readonly why: string;
  readonly expect: { code: string; expression: string; invariant?: string };
  readonly resource: Resource;
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** Every resource in examples/journey and examples/valid; bundles are opened into their entries. */
export function validExamples(): NamedResource[] {
  return ['journey', 'valid'].flatMap((folder) =>
    readdirSync(join(EXAMPLES_DIR, folder))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .flatMap((file) => {
        const resource = readJson<Resource>(join(EXAMPLES_DIR, folder, file));
        if (resource.resourceType !== 'Bundle') return [{ name: `${folder}/${file}`, resource }];
        return ((resource as Bundle).entry ?? []).map((entry, i) => ({
          name: `${folder}/${file}#${i} ${entry.resource?.resourceType}/${entry.resource?.id}`,
          resource: entry.resource as Resource,
        }));
      }),
  );
}

export function invalidExamples(): InvalidCase[] {
  const dir = join(EXAMPLES_DIR, 'invalid');
  const manifest = readJson<Omit<InvalidCase, 'resource'>[]>(join(dir, 'manifest.json'));
  return manifest.map((entry) => ({
    ...entry,
    resource: readJson<Resource>(join(dir, entry.file)),
  }));
}
