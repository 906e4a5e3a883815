// Builds the FHIR package: SUSHI (with snapshots) over input/fsh, then lays the resources out as
// a FHIR NPM package in profiles/package (package.json + .index.json + one file per resource).
// The built package is committed so the service starts without SUSHI; CI rebuilds it and fails
// when the committed copy is stale.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const profiles = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
execFileSync(process.execPath, [join(profiles, 'scripts', 'prepare-fhir-cache.mjs')], {
  stdio: 'inherit',
});

const sushi = join(dirname(require.resolve('fsh-sushi/package.json')), 'dist', 'app.js');
let log;
try {
  log = execFileSync(process.execPath, [sushi, 'build', profiles, '--snapshot'], {
    encoding: 'utf8',
  });
} catch (error) {
  process.stderr.write(error.stdout ?? String(error));
  process.exit(1);
}
// SUSHI reports problems as "error"/"warn" lines. The only warnings accepted are the three
// automatic dependencies the offline machines cannot fetch (their extensions are used by URL).
const problems = log
  .split('\n')
  .filter((line) => /^(error|warn)\s/.test(line))
  .filter((line) => !/Failed to load automatically-provided/.test(line))
  .filter((line) => !/FSHOnly property is set to true/.test(line));
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}

const config = readFileSync(join(profiles, 'sushi-config.yaml'), 'utf8');
const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(config)?.[1].trim();
const out = join(profiles, 'package');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const generated = join(profiles, 'fsh-generated', 'resources');
const files = [];
// SUSHI leaves extension slices folded: the snapshot has `X.extension:slice` but not its `url`.
// Validators that find slice members by the discriminator's element (Medplum does) then match
// nothing, so each extension slice gets its fixed `url` element, as a full snapshot would have.
function unfoldExtensionUrls(sd) {
  const elements = sd.snapshot?.element;
  if (!elements) return;
  const ids = new Set(elements.map((e) => e.id));
  for (let i = elements.length - 1; i >= 0; i--) {
    const element = elements[i];
    const url = element.type?.find((t) => t.code === 'Extension')?.profile?.[0];
    if (!url || !element.sliceName || ids.has(`${element.id}.url`)) continue;
    elements.splice(i + 1, 0, {
      id: `${element.id}.url`,
      path: `${element.path}.url`,
      min: 1,
      max: '1',
      base: { path: 'Extension.url', min: 1, max: '1' },
      type: [{ code: 'uri' }],
      fixedUri: url,
    });
  }
}

for (const name of readdirSync(generated).sort()) {
  const resource = JSON.parse(readFileSync(join(generated, name), 'utf8'));
  if (resource.resourceType === 'StructureDefinition') unfoldExtensionUrls(resource);
  writeFileSync(join(out, name), `${JSON.stringify(resource, null, 2)}\n`);
  files.push({
    filename: name,
    resourceType: resource.resourceType,
    id: resource.id,
    url: resource.url,
    version: resource.version,
    kind: resource.kind,
    type: resource.type,
  });
}
const manifest = {
  name: field('id'),
  version: field('version'),
  canonical: field('canonical'),
  title: field('title'),
  description:
    'DIALOG+ care planning on FHIR R4: the DIALOG Questionnaire, profiles, extensions, terminology, search parameters and a CapabilityStatement.',
  fhirVersions: ['4.0.1'],
  type: 'fhir.ig',
  license: 'Apache-2.0',
  dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
};
writeFileSync(join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
writeFileSync(
  join(out, '.index.json'),
  `${JSON.stringify({ 'index-version': 1, files }, null, 2)}\n`,
);
console.log(`profiles/package: ${files.length} resources (${manifest.name}#${manifest.version})`);
