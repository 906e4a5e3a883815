/**
 * Every canonical URL of ours the service uses (an extension it writes, a CodeSystem of a coding
 * it writes, an OperationDefinition it names) is defined in the dialog-fhir package, so servers
 * and EHRs that validate against the package meet no undefined extension or code system.
 *
 * The URLs are found in src/ as the code builds them: string literals, template literals and `+`
 * concatenations, with the constants they use (`${BASE}/StructureDefinition/dialog-delivery`)
 * resolved through the TypeScript syntax tree. A canonical URL is `<BASE>/<ResourceType>/<id>` (a
 * capitalised path segment); `<BASE>/sid/...` identifier systems and `<BASE>/rel/...` link
 * relations are plain URIs, not resources, and need no definition. A URL the scan cannot resolve
 * (built from a value known only at run time) fails the test too: it could name anything.
 *
 * Then each extension the package gained is checked as the service writes it, produced by the src
 * function that writes it (a handover's origin marks, a plan-sync merge into a real store, the
 * three-way plan merge, the handover and plan-sending Tasks in each state, a real pull between two
 * stores, a native record read back as a response): the resource is valid in this project's
 * validator and Medplum's, the extension meets its definition and sits in its context, and a
 * wrong value type or a missing required part is refused. On the DIALOG care plan, goal and
 * response profiles, which now slice these extensions, the validator refuses the resource itself.
 * Medplum 4.5.2 checks less of an extension than this project's validator: the last block pins
 * what.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import * as ts from 'typescript';
import { validateTypedValue } from '@medplum/core';
import type {
  Basic,
  CapabilityStatement,
  CarePlan,
  CarePlanActivity,
  CodeSystem,
  Consent,
  Extension,
  Goal,
  OperationOutcomeIssue,
  Patient,
  QuestionnaireResponse,
  RelatedPerson,
  Resource,
  StructureDefinition,
} from '@medplum/fhirtypes';
import winston from 'winston';
import { CONSENT_SCOPE_SYSTEM } from '../../src/auth/consent';
import {
  CARE_PLAN_IDENTIFIER_SYSTEM,
  CodeSystems,
  Extensions,
  NHS_NUMBER_SYSTEM,
  Profiles,
} from '../../src/fhir/canonical';
import { DIALOG_GOAL_SYSTEM } from '../../src/fhir/stable-id';
import {
  recordToResponse,
  responseToRecord,
  SESSION_START_EXTENSION,
} from '../../src/mapping/record';
import { openEmbeddedStore, type EmbeddedStore } from '../../src/store';
import { withOrigin } from '../../src/transfer/deliver';
import { HANDOVER_REASONS } from '../../src/transfer/handover-effects';
import type { Peer, SystemIdentity } from '../../src/transfer/peers';
import { PLAN_SEND_CODE, planSendTask } from '../../src/transfer/plan-distribution';
import { PlanSync, SYNC_STATE_EXTENSION } from '../../src/transfer/plan-sync';
import { CONFLICTING_COPY_EXTENSION, mergePlans } from '../../src/transfer/plan-three-way-merge';
import {
  CONFLICT_CODE,
  HANDOVER_ORIGIN_EXTENSION,
  MERGED_FROM_EXTENSION,
  withOriginMark,
  writeMergedResources,
} from '../../src/transfer/shared-merge';
import {
  claimed,
  completed,
  DELIVERY_EXTENSION,
  failed,
  HANDOVER_CODE,
  handoverTask,
  REASON_SYSTEM,
  retrying,
} from '../../src/transfer/transfer-task';
import { createValidator, loadConformancePackage } from '../../src/validation';
import { compileProfile } from '../../src/validation/profile-rules';
import { journeyResponses } from '../fhir/journey';
import { medplumIssues, medplumProfiles } from '../support/medplum';

const ROOT = join(__dirname, '..', '..');
const SRC = join(ROOT, 'src');
const OURS = 'https://dialog-fhir.org/fhir';
/** Stands for a part of a string the scan cannot know (a run-time value). */
const UNKNOWN = '\u0000';

interface SourceFile {
  readonly path: string;
  readonly text: string;
}

interface Found {
  readonly url: string;
  readonly at: string;
}

interface Scan {
  /** Each canonical URL of ours, with where it is built. */
  readonly urls: ReadonlyMap<string, readonly string[]>;
  /** Canonical URLs of ours the scan could not resolve, with where they are built. */
  readonly unresolved: readonly Found[];
  /**
   * Codings of our CodeSystems whose code is fixed in the source: `{ system, code }` literals and
   * `packageCoding(system, code)` calls (codes chosen at run time are typed unions, not scanned).
   */
  readonly codings: readonly { readonly system: string; readonly code: string; at: string }[];
}

function sourceFiles(dir: string): SourceFile[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return sourceFiles(path);
      return /\.ts$/.test(name) && !name.endsWith('.d.ts')
        ? [{ path: relative(ROOT, path), text: readFileSync(path, 'utf8') }]
        : [];
    });
}

/**
 * The canonical URLs of ours in these sources. Constants (`const X = ...`, and the properties of
 * `const X = { a: ... }`) are resolved by name: within the file first, else across the sources
 * when only one declaration has that name.
 */
function canonicalUrls(files: readonly SourceFile[]): Scan {
  const parsed = files.map((f) => ({
    path: f.path,
    source: ts.createSourceFile(f.path, f.text, ts.ScriptTarget.ES2022, true),
  }));
  // name (or `Object.property`) -> declarations, by file
  const declared = new Map<string, { path: string; init: ts.Expression }[]>();
  const declare = (name: string, path: string, init: ts.Expression): void => {
    const list = declared.get(name) ?? [];
    list.push({ path, init });
    declared.set(name, list);
  };
  for (const { path, source } of parsed) {
    const visit = (node: ts.Node): void => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
        declare(node.name.text, path, node.initializer);
        const object = unwrap(node.initializer);
        if (ts.isObjectLiteralExpression(object))
          for (const p of object.properties)
            if (
              ts.isPropertyAssignment(p) &&
              (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))
            )
              declare(`${node.name.text}.${p.name.text}`, path, p.initializer);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }

  const resolving = new Set<string>();
  const lookup = (name: string, path: string): string => {
    const all = declared.get(name) ?? [];
    const here = all.filter((d) => d.path === path);
    const candidates = here.length > 0 ? here : all;
    const values = new Set(candidates.map((d) => evaluate(d.init, d.path, name)));
    return values.size === 1 ? ([...values][0] ?? UNKNOWN) : UNKNOWN;
  };
  const evaluate = (node: ts.Expression, path: string, name?: string): string => {
    if (name !== undefined) {
      const key = `${path}#${name}`;
      if (resolving.has(key)) return UNKNOWN;
      resolving.add(key);
      try {
        return evaluate(node, path);
      } finally {
        resolving.delete(key);
      }
    }
    const expr = unwrap(node);
    if (ts.isStringLiteral(expr) || ts.isNoSubstitutionTemplateLiteral(expr)) return expr.text;
    if (ts.isTemplateExpression(expr))
      return (
        expr.head.text +
        expr.templateSpans.map((s) => evaluate(s.expression, path) + s.literal.text).join('')
      );
    if (ts.isBinaryExpression(expr) && expr.operatorToken.kind === ts.SyntaxKind.PlusToken)
      return evaluate(expr.left, path) + evaluate(expr.right, path);
    if (ts.isIdentifier(expr)) return lookup(expr.text, path);
    if (ts.isPropertyAccessExpression(expr) && ts.isIdentifier(expr.expression))
      return lookup(`${expr.expression.text}.${expr.name.text}`, path);
    return UNKNOWN;
  };

  const urls = new Map<string, string[]>();
  const unresolved: Found[] = [];
  const codings: { system: string; code: string; at: string }[] = [];
  for (const { path, source } of parsed) {
    const visit = (node: ts.Node): void => {
      const pair = codingOf(node);
      if (pair) {
        const [system, code] = [evaluate(pair.system, path), evaluate(pair.code, path)];
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        if (system.startsWith(`${OURS}/CodeSystem/`) && !code.includes(UNKNOWN))
          codings.push({ system, code, at: `${path}:${line}` });
      }
      if (isStringBuilding(node) && !isStringBuilding(outer(node))) {
        const value = evaluate(node as ts.Expression, path);
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        const at = `${path}:${line}`;
        for (const url of canonicalsIn(value)) {
          if (url.includes(UNKNOWN)) unresolved.push({ url: url.replace(/\0/g, '${…}'), at });
          else urls.set(url, [...(urls.get(url) ?? []), at]);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { urls, unresolved, codings };
}

/** The system and code expressions of a coding written in the source, if this node is one. */
function codingOf(node: ts.Node): { system: ts.Expression; code: ts.Expression } | undefined {
  if (
    ts.isCallExpression(node) &&
    ts.isIdentifier(node.expression) &&
    node.expression.text === 'packageCoding' &&
    node.arguments[0] &&
    node.arguments[1]
  )
    return { system: node.arguments[0], code: node.arguments[1] };
  if (!ts.isObjectLiteralExpression(node)) return undefined;
  const prop = (name: string): ts.Expression | undefined =>
    node.properties.find(
      (p): p is ts.PropertyAssignment =>
        ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === name,
    )?.initializer;
  const [system, code] = [prop('system'), prop('code')];
  return system && code ? { system, code } : undefined;
}

function unwrap(node: ts.Expression): ts.Expression {
  let e = node;
  while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e))
    e = e.expression;
  return e;
}

/** The node this one is part of, past parentheses, casts and template spans. */
function outer(node: ts.Node): ts.Node {
  let p = node.parent;
  while (
    p &&
    (ts.isParenthesizedExpression(p) ||
      ts.isAsExpression(p) ||
      ts.isSatisfiesExpression(p) ||
      ts.isTemplateSpan(p))
  )
    p = p.parent;
  return p;
}

function isStringBuilding(node: ts.Node | undefined): boolean {
  if (!node) return false;
  return (
    ts.isStringLiteral(node) ||
    ts.isNoSubstitutionTemplateLiteral(node) ||
    ts.isTemplateExpression(node) ||
    (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken)
  );
}

/**
 * `<BASE>/<ResourceType>/<id>` URLs in a string, without a `|version`; also those whose base or
 * id is not known (they hold UNKNOWN) where the path names a conformance resource type.
 */
function canonicalsIn(value: string): string[] {
  const found: string[] = [];
  const ours = /https:\/\/dialog-fhir\.org\/fhir\/([A-Z][A-Za-z]+)\/([^\s'"`|#?/]*)/g;
  for (const m of value.matchAll(ours)) found.push(m[0]);
  // A base known only at run time in front of a conformance resource's path: it may be ours.
  const unknownBase =
    /\0\/(StructureDefinition|CodeSystem|ValueSet|OperationDefinition|SearchParameter|Questionnaire)\/([^\s'"`|#?/]*)/g;
  for (const m of value.matchAll(unknownBase)) found.push(m[0]);
  return found.filter((u) => !u.endsWith('/'));
}

const pkg = loadConformancePackage();
const byUrl = new Map<string, Resource>(
  pkg.resources.flatMap((r) => {
    const url = (r as { url?: string }).url;
    return url ? [[url, r] as const] : [];
  }),
);

describe('every canonical URL of ours in src/ is defined in the package', () => {
  const scan = canonicalUrls(sourceFiles(SRC));

  it('the scan finds the URLs as the code builds them', () => {
    // Literals, `${BASE}` templates and object constants: a scan that finds none proves nothing.
    expect([...scan.urls.keys()]).toEqual(
      expect.arrayContaining([
        `${OURS}/StructureDefinition/dialog-carer`,
        `${OURS}/StructureDefinition/dialog-delivery`,
        `${OURS}/StructureDefinition/dialog-conflicting-copy`,
        `${OURS}/StructureDefinition/dialog-handover-origin`,
        `${OURS}/StructureDefinition/dialog-merged-from`,
        `${OURS}/StructureDefinition/dialog-plan-sync`,
        `${OURS}/StructureDefinition/dialog-session-start`,
        `${OURS}/CodeSystem/dialog-task`,
        `${OURS}/CodeSystem/dialog-handover-reason`,
        `${OURS}/CodeSystem/dialog-delivery-channels`,
        `${OURS}/Questionnaire/dialog`,
      ]),
    );
    expect([...scan.urls.keys()].some((u) => u.includes('/sid/'))).toBe(false);
  });

  it('none is built from a value the scan cannot know', () => {
    expect(scan.unresolved).toEqual([]);
  });

  it('each one is a resource of that type in profiles/package', () => {
    const missing = [...scan.urls]
      .filter(([url]) => {
        const type = url.slice(OURS.length + 1).split('/')[0];
        return byUrl.get(url)?.resourceType !== type;
      })
      .map(([url, at]) => `${url} (${at.join(', ')})`);
    expect(missing).toEqual([]);
  });
});

describe('every code of ours fixed in src/ is in its CodeSystem', () => {
  const scan = canonicalUrls(sourceFiles(SRC));
  const concepts = (url: string): Set<string> => {
    const all = new Set<string>();
    const walk = (list: CodeSystem['concept']): void => {
      for (const c of list ?? []) {
        all.add(c.code);
        walk(c.concept);
      }
    };
    walk((byUrl.get(url) as CodeSystem | undefined)?.concept);
    return all;
  };

  it('codings written as literals or through packageCoding', () => {
    // The scan sees the Task codes and the plan sections, among others.
    expect(scan.codings.map((c) => `${c.system}|${c.code}`)).toEqual(
      expect.arrayContaining([
        `${OURS}/CodeSystem/dialog-task|handover`,
        `${OURS}/CodeSystem/dialog-task|send-plan`,
        `${OURS}/CodeSystem/dialog-task|resolve-plan-conflict`,
        `${OURS}/CodeSystem/dialog-plan-sections|agreed-action`,
        `${OURS}/CodeSystem/dialog|dialog-care-plan`,
      ]),
    );
    expect(
      scan.codings
        .filter((c) => !concepts(c.system).has(c.code))
        .map((c) => `${c.system}|${c.code} (${c.at})`),
    ).toEqual([]);
  });

  it('and would catch one that is not', () => {
    const scan = canonicalUrls([
      {
        path: 'src/x.ts',
        text: [
          "const BASE = 'https://dialog-fhir.org/fhir';",
          "export const A = { system: `${BASE}/CodeSystem/dialog-task`, code: 'handover' };",
          "export const B = packageCoding(`${BASE}/CodeSystem/dialog-task`, 'hand-back');",
        ].join('\n'),
      },
    ]);
    expect(scan.codings.filter((c) => !concepts(c.system).has(c.code)).map((c) => c.code)).toEqual([
      'hand-back',
    ]);
  });
});

describe('the package names no canonical of ours it does not hold', () => {
  it('in its profiles, bindings, CapabilityStatement and OperationDefinitions', () => {
    const named = new Set<string>();
    for (const resource of pkg.resources)
      for (const url of canonicalsIn(JSON.stringify(resource))) named.add(url);
    // The FSH-only build makes no ImplementationGuide resource; the CapabilityStatement names it.
    expect([...named].filter((url) => !byUrl.has(url))).toEqual([
      `${OURS}/ImplementationGuide/dialog-fhir.r4`,
    ]);
  });

  it('the draft CapabilityStatement names each OperationDefinition of ours', () => {
    const statement = pkg.resources.find((r) => r.resourceType === 'CapabilityStatement') as
      CapabilityStatement | undefined;
    const named = (statement?.rest?.[0]?.operation ?? []).map((o) => o.definition);
    const defined = pkg.resources
      .filter((r) => r.resourceType === 'OperationDefinition')
      .map((r) => (r as { url?: string }).url);
    expect(defined).toHaveLength(5);
    expect(named).toEqual(expect.arrayContaining(defined));
  });
});

describe('the scan would catch a new undefined URL', () => {
  const base = {
    path: 'src/fhir/canonical.ts',
    text: "export const BASE = 'https://dialog-fhir.org/fhir';",
  };

  it('however the URL is built', () => {
    const scan = canonicalUrls([
      base,
      {
        path: 'src/transfer/new.ts',
        text: [
          "import { BASE } from '../fhir/canonical';",
          'export const A = `${BASE}/StructureDefinition/dialog-new-a`;',
          "const SD = BASE + '/StructureDefinition/';",
          "const B = SD + 'dialog-new-b';",
          'const Ext = { c: `${SD}dialog-new-c` } as const;',
          "const url = { url: Ext.c, system: (`${BASE}/CodeSystem/` + 'dialog-new-d') as string };",
          "const id = { system: `${BASE}/sid/not-a-resource`, rel: 'https://dialog-fhir.org/fhir/rel/x' };",
          'void [A, B, url, id];',
        ].join('\n'),
      },
    ]);
    const urls = [...scan.urls.keys()].sort();
    expect(urls).toEqual([
      `${OURS}/CodeSystem/dialog-new-d`,
      `${OURS}/StructureDefinition/dialog-new-a`,
      `${OURS}/StructureDefinition/dialog-new-b`,
      `${OURS}/StructureDefinition/dialog-new-c`,
    ]);
    expect(urls.filter((u) => byUrl.has(u))).toEqual([]);
    expect(scan.urls.get(`${OURS}/StructureDefinition/dialog-new-b`)).toEqual([
      'src/transfer/new.ts:4',
    ]);
  });

  it('and refuses one built from a run-time value', () => {
    const scan = canonicalUrls([
      base,
      {
        path: 'src/x.ts',
        text: [
          "import { BASE } from './fhir/canonical';",
          'export function ext(name: string): string {',
          '  return `${BASE}/StructureDefinition/${name}`;',
          '}',
          'export function cs(base: string): string {',
          "  return base + '/CodeSystem/dialog-x';",
          '}',
        ].join('\n'),
      },
    ]);
    expect(scan.unresolved.map((u) => u.at)).toEqual(['src/x.ts:3', 'src/x.ts:6']);
  });
});

// ---- the extensions as the service writes them ------------------------------------------------

const validator = createValidator(pkg);
const COMMUNITY = 'https://community.example/fhir';
const WARD = 'https://ward.example/fhir';
const NOW = new Date('2026-03-02T10:00:00Z');
const quiet = winston.createLogger({
  transports: [
    new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, done) => done() }) }),
  ],
});

const community: SystemIdentity = {
  id: 'community',
  setting: 'community',
  organization: { reference: 'Organization/northbrook', display: 'Northbrook CMHT' },
  baseUrl: COMMUNITY,
};
const ward: Peer = {
  id: 'ward',
  setting: 'inpatient',
  organization: { reference: 'Organization/westmere', display: 'Larch Ward' },
  baseUrl: WARD,
  auth: { type: 'none' },
};

function patient(id: string): Patient {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: '9434765919' }],
    name: [{ family: 'Price', given: ['Megan'] }],
  };
}

function plan(id: string, patientId: string, activity: CarePlanActivity[] = []): CarePlan {
  return {
    resourceType: 'CarePlan',
    id,
    meta: { profile: [Profiles.carePlan] },
    identifier: [{ system: CARE_PLAN_IDENTIFIER_SYSTEM, value: 'plan-megan' }],
    status: 'active',
    intent: 'plan',
    category: [{ coding: [{ system: CodeSystems.dialog, code: 'dialog-care-plan' }] }],
    subject: { reference: `Patient/${patientId}` },
    ...(activity.length > 0 ? { activity } : {}),
  };
}

/** The plan as a store holds it: with a version. */
function versioned(id: string, versionId: string): CarePlan {
  const p = plan(id, 'p-1');
  return { ...p, meta: { ...p.meta, versionId } };
}

function action(id: string, text: string): CarePlanActivity {
  return {
    id,
    detail: {
      status: 'in-progress',
      code: { coding: [{ system: CodeSystems.planSections, code: 'agreed-action' }] },
      description: text,
    },
  };
}

/** The id of the plan's (first) conflicting copy. */
function copyId(merged: CarePlan): string {
  return (merged.activity ?? []).find((a) => a.id?.startsWith('conflict-'))?.id ?? '';
}

function goal(id: string, patientId: string, text: string): Goal {
  return {
    resourceType: 'Goal',
    id,
    meta: { profile: [Profiles.goal] },
    identifier: [{ system: DIALOG_GOAL_SYSTEM, value: 'goal-friendships' }],
    extension: [
      {
        url: Extensions.measure,
        valueCoding: { system: 'http://snomed.info/sct', code: '1037701000000108' },
      },
    ],
    lifecycleStatus: 'active',
    description: { text },
    subject: { reference: `Patient/${patientId}` },
    addresses: [{ reference: 'Observation/friendships-score' }],
  };
}

/** The extensions with this url anywhere in a resource (at any depth), with where they sit. */
function written(resource: Resource, url: string): { ext: Extension; at: string }[] {
  const found: { ext: Extension; at: string }[] = [];
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, at));
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'extension' && Array.isArray(value))
        for (const e of value as Extension[]) if (e.url === url) found.push({ ext: e, at });
      walk(value, key === 'extension' ? `${at}.extension` : `${at}.${key}`);
    }
  };
  walk(resource, resource.resourceType);
  return found;
}

function definition(url: string): StructureDefinition {
  const sd = pkg.structureDefinition(url);
  if (!sd) throw new Error(`${url} is not in the package`);
  return sd;
}

/** This project's validator's issues for one extension against its definition. */
function ourIssues(ext: Extension): OperationOutcomeIssue[] {
  return compileProfile(definition(ext.url), pkg)
    .check(ext)
    .filter((i) => i.severity === 'error');
}

/** Medplum's issues for one extension against its definition (the package's, loaded). */
function medplumExtensionIssues(ext: Extension): OperationOutcomeIssue[] {
  const profile = medplumProfiles().get(ext.url);
  if (!profile) throw new Error(`${ext.url} is not loaded into Medplum`);
  try {
    return validateTypedValue({ type: 'Extension', value: ext }, { profile }).filter(
      (i) => i.severity === 'error',
    );
  } catch (e) {
    const issues = (e as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome?.issue;
    if (issues) return issues.filter((i) => i.severity === 'error');
    throw e;
  }
}

function errorsOf(resource: Resource): OperationOutcomeIssue[] {
  return (validator.validate(resource).issue ?? []).filter((i) => i.severity === 'error');
}

/**
 * The resource is valid (this project's validator and Medplum's), each extension with this url on
 * it meets its definition, and sits where the definition's context allows. Medplum checks each
 * extension against its definition too, except where it cannot (`medplumNested: false`, see the
 * last describe block).
 */
function expectConforms(
  resource: Resource,
  url: string,
  options: { readonly medplumNested?: boolean } = {},
): Extension[] {
  const found = written(resource, url);
  expect(found.length).toBeGreaterThan(0);
  expect(errorsOf(resource)).toEqual([]);
  expect(medplumIssues(resource)).toEqual([]);
  const contexts = (definition(url).context ?? []).map((c) => c.expression);
  for (const { ext, at } of found) {
    expect(contexts).toContain(at.replace(/\.extension$/, ''));
    expect(ourIssues(ext)).toEqual([]);
    if (options.medplumNested !== false) expect(medplumExtensionIssues(ext)).toEqual([]);
  }
  return found.map((f) => f.ext);
}

/** This project's validator refuses this (wrongly typed or shaped) extension. */
function expectRefused(ext: Extension): void {
  expect(ourIssues(ext)).not.toEqual([]);
}

/** Both validators refuse it (what Medplum checks of an extension: its parts' cardinality). */
function expectRefusedByBoth(ext: Extension): void {
  expect(ourIssues(ext)).not.toEqual([]);
  expect(medplumExtensionIssues(ext)).not.toEqual([]);
}

/**
 * On a resource of a profile that slices the extension (DIALOG care plan, goal and response), the
 * validator itself refuses the resource with the extension's value replaced by a wrong type.
 */
function expectProfileRefuses(resource: Resource, url: string, wrong: Partial<Extension>): void {
  expect(resource.meta?.profile?.length ?? 0).toBeGreaterThan(0);
  const swap = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(swap);
    if (!node || typeof node !== 'object') return node;
    const record = node as Record<string, unknown>;
    if (record.url === url)
      return {
        ...Object.fromEntries(Object.entries(record).filter(([k]) => !k.startsWith('value'))),
        ...wrong,
      };
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, swap(v)]));
  };
  const changed = swap(resource) as Resource;
  expect(written(changed, url).every((f) => Object.keys(wrong).every((k) => k in f.ext))).toBe(
    true,
  );
  expect(errorsOf(changed).map((i) => i.expression?.[0] ?? '')).toEqual(
    expect.arrayContaining([expect.stringContaining('extension')]),
  );
}

/** The extension with one sub-extension's value replaced (by path of urls). */
function withPart(ext: Extension, path: readonly string[], value: Partial<Extension>): Extension {
  const [head, ...rest] = path;
  return {
    ...ext,
    extension: (ext.extension ?? []).map((e) => {
      if (e.url !== head) return e;
      if (rest.length > 0) return withPart(e, rest, value);
      const kept = Object.fromEntries(
        Object.entries(e).filter(([k]) => !k.startsWith('value')),
      ) as Extension;
      return { ...kept, ...value };
    }),
  };
}

let dir: string;
let local: EmbeddedStore;
let peer: EmbeddedStore;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'package-extensions-'));
  local = openEmbeddedStore({ dataDir: join(dir, 'community'), now: () => NOW });
  peer = openEmbeddedStore({ dataDir: join(dir, 'ward'), now: () => NOW });
});

afterAll(async () => {
  await local.close();
  await peer.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('each extension the service writes meets its definition in the package', () => {
  it('dialog-handover-origin: on the plan and the Goals, carers and consent a handover sends', () => {
    const sent: Resource[] = [
      withOrigin(versioned('cp-1', '4'), COMMUNITY),
      withOriginMark(
        {
          ...goal('g-1', 'p-1', 'See friends'),
          meta: { profile: [Profiles.goal], versionId: '2' },
        },
        COMMUNITY,
      ),
      withOriginMark(
        {
          resourceType: 'RelatedPerson',
          id: 'rp-1',
          meta: { versionId: '1' },
          patient: { reference: 'Patient/p-1' },
          name: [{ text: 'Hannah Price' }],
        } satisfies RelatedPerson,
        COMMUNITY,
      ),
      withOriginMark(
        {
          resourceType: 'Consent',
          id: 'c-1',
          meta: { versionId: '3' },
          status: 'active',
          scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
          category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
          patient: { reference: 'Patient/p-1' },
          policyRule: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }],
          },
        } satisfies Consent,
        COMMUNITY,
      ),
    ];
    for (const resource of sent) {
      const [mark] = expectConforms(resource, HANDOVER_ORIGIN_EXTENSION);
      expect(mark?.valueUri).toMatch(
        new RegExp(`^${COMMUNITY}/${resource.resourceType}/[^/]+/_history/\\d+$`),
      );
      // As a Reference (which a handover bundle would rewrite) or a string, it is refused.
      expectRefused({ url: HANDOVER_ORIGIN_EXTENSION, valueString: mark?.valueUri ?? '' });
      expectRefused({
        url: HANDOVER_ORIGIN_EXTENSION,
        valueReference: { reference: 'CarePlan/x' },
      });
    }
    // The DIALOG care plan and goal profiles slice it: the validator refuses the resource itself.
    const profiled = sent.filter((r) => r.meta?.profile);
    expect(profiled.map((r) => r.resourceType)).toEqual(['CarePlan', 'Goal']);
    for (const resource of profiled)
      expectProfileRefuses(resource, HANDOVER_ORIGIN_EXTENSION, { valueString: 'CarePlan/x' });

    // A plan merge with no agreed version to start from keeps both sides' marks (each is a part
    // of its own): the DIALOG plan profile must take more than one, or the write is refused.
    const { merged } = mergePlans({
      local: withOrigin(versioned('cp-1', '4'), COMMUNITY),
      remote: withOrigin(versioned('w-1', '2'), WARD),
    });
    const marks = expectConforms(merged, HANDOVER_ORIGIN_EXTENSION).map((m) => m.valueUri);
    expect(marks.sort()).toEqual([
      `${COMMUNITY}/CarePlan/cp-1/_history/4`,
      `${WARD}/CarePlan/w-1/_history/2`,
    ]);
  });

  it('dialog-merged-from: on a Goal a plan-sync merge changed (writeMergedResources, a real store)', async () => {
    const agreed = (await local.update(goal('g-merge', 'p-1', 'See friends'))).resource;
    const report = await writeMergedResources(
      local,
      [
        {
          type: 'Goal',
          id: 'g-merge',
          incoming: { ...agreed, description: { text: 'See friends every Sunday' } },
          current: agreed,
          base: () => Promise.resolve(agreed),
          mergedFrom: `${WARD}/Goal/w-goal/_history/7`,
        },
      ],
      { now: () => NOW, keepMark: 'current', activity: 'Plan sync' },
    );
    expect(report.written).toBe(1);
    const merged = (await local.read('Goal', 'g-merge')) as Goal;
    expect(merged.description.text).toBe('See friends every Sunday');
    const [mark] = expectConforms(merged, MERGED_FROM_EXTENSION);
    expect(mark?.valueUri).toBe(`${WARD}/Goal/w-goal/_history/7`);
    expectRefused({ url: MERGED_FROM_EXTENSION, valueString: `${WARD}/Goal/w-goal/_history/7` });
    expectRefused({ url: MERGED_FROM_EXTENSION, valueInteger: 7 });
    expectProfileRefuses(merged, MERGED_FROM_EXTENSION, { valueInteger: 7 });
  });

  it('dialog-conflicting-copy: on the local activity both sides changed differently (mergePlans)', () => {
    const base = plan('cp-1', 'p-1', [action('a1', 'Walk to the shop')]);
    const { merged, conflicts } = mergePlans({
      base,
      local: plan('cp-1', 'p-1', [action('a1', 'Walk to the shop with Hannah')]),
      remote: plan('cp-1', 'p-1', [action('a1', 'Walk to the shop with a nurse')]),
    });
    expect(conflicts).toHaveLength(1);
    const [copy] = expectConforms(merged, CONFLICTING_COPY_EXTENSION);
    expect(copy?.valueString).toBe('a1');
    expectRefused({ url: CONFLICTING_COPY_EXTENSION, valueInteger: 1 });
    expectRefused({ url: CONFLICTING_COPY_EXTENSION, valueReference: { reference: '#a1' } });
    expectProfileRefuses(merged, CONFLICTING_COPY_EXTENSION, { valueInteger: 1 });

    // The copy changed differently on both sides again: the copy of the copy keeps the first
    // mark and adds its own, so the DIALOG plan profile allows more than one on an activity.
    const edited = (text: string): CarePlan => ({
      ...merged,
      activity: (merged.activity ?? []).map((a) =>
        a.id === 'a1' ? a : { ...a, detail: { ...a.detail, description: text } },
      ) as CarePlanActivity[],
    });
    const again = mergePlans({
      base: merged,
      local: edited('Walk to the shop with Hannah on Sunday'),
      remote: edited('Walk to the shop with Hannah on Monday'),
    });
    expect(again.conflicts).toHaveLength(1);
    const marks = expectConforms(again.merged, CONFLICTING_COPY_EXTENSION);
    expect(marks.map((m) => m.valueString)).toEqual(['a1', 'a1', copyId(merged)]);
  });

  it('dialog-delivery: on handover and plan-sending Tasks, in every state they pass through', () => {
    const at = NOW.getTime();
    const requested = handoverTask({
      id: 'handover-1',
      plan: plan('cp-1', 'p-1'),
      patientId: 'p-1',
      reason: 'admission',
      from: community,
      to: ward,
      now: NOW,
    });
    const sending = claimed(requested, at, 30_000);
    const tasks = [
      requested,
      sending,
      retrying(sending, at + 1, at + 60_000, 'The ward system answered 503'),
      failed(sending, at + 2, 'The ward system refused the plan (422)'),
      completed(sending, at + 3, `${WARD}/CarePlan/w1/_history/2`, 'digest'),
      planSendTask(
        {
          plan: plan('cp-1', 'p-1'),
          patientId: 'p-1',
          dischargedAt: NOW.toISOString(),
          from: community,
          now: NOW,
        },
        { recipient: { reference: 'Patient/p-1', display: 'Megan Price' }, role: 'person' },
      ),
    ];
    const parts = new Set<string>();
    for (const task of tasks) {
      for (const ext of expectConforms(task, DELIVERY_EXTENSION))
        for (const part of ext.extension ?? []) parts.add(part.url);
    }
    // Every part the definition has was written by one of the states.
    expect([...parts].sort()).toEqual(
      ['attempts', 'destination', 'lastError', 'leaseUntil', 'nextAttempt'].sort(),
    );
    const [delivery] = written(sending, DELIVERY_EXTENSION).map((f) => f.ext);
    if (!delivery) throw new Error('no delivery state');
    expectRefused(withPart(delivery, ['attempts'], { valueString: '1' }));
    expectRefused(withPart(delivery, ['leaseUntil'], { valueInteger: at }));
    expectRefusedByBoth({
      ...delivery,
      extension: (delivery.extension ?? []).filter((e) => e.url !== 'destination'),
    });
    expectRefused({ url: DELIVERY_EXTENSION, valueString: 'ward' });
  });

  it('dialog-plan-sync: the Basic a real pull from a peer leaves (PlanSync over two stores)', async () => {
    await local.update(patient('p-c'));
    await local.update(plan('cp-c', 'p-c', [action('a1', 'Walk to the shop')]));
    await peer.update(patient('p-w'));
    await peer.update(goal('g-w', 'p-w', 'See friends'));
    await peer.update({
      ...plan('cp-w', 'p-w', [action('a1', 'Walk to the shop with a nurse')]),
      goal: [{ reference: 'Goal/g-w' }],
    });
    const sync = new PlanSync({
      store: local,
      peers: { self: community, peers: [ward] },
      logger: quiet,
      now: () => NOW,
      remoteFor: () => peer,
    });
    expect((await sync.poll('ward')).pulled).toBe(1);
    const state = (await local.read('Basic', 'plan-sync-ward')) as Basic;
    const [ext] = expectConforms(state, SYNC_STATE_EXTENSION, { medplumNested: false });
    if (!ext) throw new Error('no plan-sync state');
    const planState = ext.extension?.find((e) => e.url === 'plan');
    expect(planState?.extension?.find((e) => e.url === 'identifier')?.valueString).toBe(
      `${CARE_PLAN_IDENTIFIER_SYSTEM}|plan-megan`,
    );
    expect(planState?.extension?.filter((e) => e.url === 'resource')).toHaveLength(1);
    expectRefused(withPart(ext, ['since'], { valueString: 'yesterday' }));
    expectRefused(withPart(ext, ['plan', 'theirVersion'], { valueInteger: 1 }));
    expectRefused(withPart(ext, ['plan', 'resource', 'at'], { valueBoolean: true }));
    expectRefusedByBoth({
      ...ext,
      extension: (ext.extension ?? []).filter((e) => e.url !== 'peer'),
    });
  });

  it('dialog-session-start: on a response read from a native record that started earlier', () => {
    const response = journeyResponses()[0] as QuestionnaireResponse;
    const read = responseToRecord(response);
    if (!read.ok) throw new Error('the journey response does not read as a record');
    const startedAt = '2026-01-05T09:10:00+00:00';
    const response2 = recordToResponse({ ...read.record, startedAt });
    const [start] = expectConforms(response2, SESSION_START_EXTENSION);
    expect(start?.valueDateTime).toBe(startedAt);
    expectRefused({ url: SESSION_START_EXTENSION, valueString: startedAt });
    expectRefused({ url: SESSION_START_EXTENSION, valuePeriod: { start: startedAt } });
    expectProfileRefuses(
      { ...response2, meta: { profile: [Profiles.response] } },
      SESSION_START_EXTENSION,
      { valueString: startedAt },
    );
  });
});

describe('the codes of the Tasks the service writes are in the package', () => {
  const codes = (url: string): string[] => {
    const cs = byUrl.get(url) as CodeSystem | undefined;
    return (cs?.concept ?? []).map((c) => c.code);
  };

  it('dialog-task: handover, send-plan and resolve-plan-conflict', () => {
    for (const coding of [HANDOVER_CODE, PLAN_SEND_CODE, CONFLICT_CODE])
      expect(codes(coding.system)).toContain(coding.code);
  });

  it('dialog-handover-reason: every reason a handover takes, and only those', () => {
    expect(codes(REASON_SYSTEM).sort()).toEqual([...HANDOVER_REASONS].sort());
    const task = handoverTask({
      id: 'h',
      plan: plan('cp-1', 'p-1'),
      patientId: 'p-1',
      reason: 'discharge',
      from: community,
      to: ward,
      now: NOW,
    });
    expect(task.reasonCode?.coding?.[0]?.system).toBe(REASON_SYSTEM);
  });

  it('the new terminology and OperationDefinitions are themselves valid resources', () => {
    const added = pkg.resources.filter(
      (r) =>
        r.resourceType === 'OperationDefinition' ||
        [
          `${OURS}/CodeSystem/dialog-task`,
          `${OURS}/CodeSystem/dialog-handover-reason`,
          `${OURS}/ValueSet/dialog-handover-reason`,
        ].includes((r as { url?: string }).url ?? ''),
    );
    expect(added).toHaveLength(8);
    for (const resource of added) {
      expect(errorsOf(resource)).toEqual([]);
      expect(medplumIssues(resource)).toEqual([]);
    }
  });
});

// Medplum 4.5.2, the second opinion, checks less of an extension than this project's validator:
// pinned here so that the tests above say exactly which validator enforces what, and so that an
// upgrade that closes these gaps shows up (the exemption above can then go).
describe('what Medplum does not check of an extension', () => {
  it('its value type: a wrong type passes, even on a profile’s extension slice', () => {
    const ext = { url: HANDOVER_ORIGIN_EXTENSION, valueString: `${COMMUNITY}/CarePlan/cp-1` };
    expect(ourIssues(ext)).not.toEqual([]);
    expect(medplumExtensionIssues(ext)).toEqual([]);
    // An extension the package defined already: the key worker, as a string, on a DIALOG plan.
    const planWithString = {
      ...plan('cp-1', 'p-1'),
      extension: [{ url: Extensions.keyWorker, valueString: 'Dr Jones' }],
    };
    expect(errorsOf(planWithString)).not.toEqual([]);
    expect(medplumIssues(planWithString)).toEqual([]);
  });

  it('sub-extensions two levels deep: it misreads the valid plan-sync state’s slices', () => {
    const state: Extension = {
      url: SYNC_STATE_EXTENSION,
      extension: [
        { url: 'peer', valueString: 'ward' },
        { url: 'since', valueInstant: NOW.toISOString() },
        {
          url: 'plan',
          extension: [
            { url: 'identifier', valueString: `${CARE_PLAN_IDENTIFIER_SYSTEM}|plan-megan` },
            { url: 'theirVersion', valueString: '3' },
            { url: 'base', valueString: '{}' },
            {
              url: 'resource',
              extension: [
                { url: 'key', valueString: 'Goal|urn:uuid:1' },
                { url: 'theirs', valueString: 'Goal/g-w/_history/1' },
                { url: 'at', valueInstant: NOW.toISOString() },
                { url: 'base', valueString: '{}' },
              ],
            },
          ],
        },
      ],
    };
    expect(ourIssues(state)).toEqual([]);
    // Each level is missing the other level's parts, in Medplum's reading.
    const missing = medplumExtensionIssues(state).map(
      (i) => /slice '([^']+)'/.exec(i.details?.text ?? '')?.[1],
    );
    expect(missing.sort()).toEqual(['at', 'identifier', 'key', 'theirVersion', 'theirs']);
  });
});
