/**
 * Compiles a profile's snapshot into checks over parsed JSON, once per profile: cardinality,
 * allowed choice types, reference targets, fixed and pattern values, required bindings to
 * ValueSets that can be enumerated, and slices (extensions by url, others by pattern). The
 * FHIR JSON schema has already checked shapes and primitive formats; this adds what the profile
 * and the base resource's element definitions say beyond it.
 */
import type {
  ElementDefinition,
  OperationOutcomeIssue,
  StructureDefinition,
} from '@medplum/fhirtypes';
import type { ConformancePackage } from './conformance';
import {
  checkInvariants,
  compileElementInvariants,
  type CompiledInvariant,
  type ElementInvariants,
  invariantHolds,
} from './invariants';
import { error } from './outcome';

/**
 * A JSON value found in the resource, and how to name it: its FHIRPath is built only when an
 * issue needs it (building paths for every node costs more than the checks themselves).
 */
export interface Located {
  readonly value: unknown;
  readonly parent?: Located;
  /** The property name (the resource type at the root; `value` for a choice element). */
  readonly name: string;
  /** The position in a list, or -1. */
  readonly index: number;
  /** For a choice element, the FHIRPath type name (`Coding`, `integer`). */
  readonly type?: string;
}

function stepOf(node: Located): string {
  if (!node.parent) return node.name;
  const at = node.index >= 0 ? `.${node.name}[${node.index}]` : `.${node.name}`;
  return node.type ? `${at}.ofType(${node.type})` : at;
}

export function pathOf(node: Located): string {
  let path = stepOf(node);
  for (let p = node.parent; p; p = p.parent) path = stepOf(p) + path;
  return path;
}

/**
 * One rule of the profile: `issues` finds where it is broken; `holds`, where there is one, is
 * true exactly when `issues` finds nothing, and walks the resource without building nodes.
 */
interface Check {
  readonly issues: (find: NodeFinder) => OperationOutcomeIssue[];
  readonly holds?: (resource: unknown) => boolean;
}
/** The nodes of the element in a given slot (its index in the snapshot). */
type NodeFinder = (slot: number) => Located[];
/** An element id's slot, fixed at compile time so checks look nodes up by index. */
type SlotOf = (elementId: string) => number;

export interface CompiledProfile {
  readonly url: string;
  readonly type: string;
  readonly invariants: readonly CompiledInvariant[];
  /** `implied`: invariant keys already proven by an earlier check, not evaluated again. */
  check(resource: unknown, implied?: ReadonlySet<string>): OperationOutcomeIssue[];
  /**
   * The fast path `check` takes first: true exactly when `check` finds no issue (undefined when
   * some rule has no such predicate). Exposed for the test that holds the two to one verdict.
   */
  readonly holds?: (resource: unknown, implied?: ReadonlySet<string>) => boolean;
  /** The issues, looked for without the fast path (what `check` does when `holds` is false). */
  issues(resource: unknown, implied?: ReadonlySet<string>): OperationOutcomeIssue[];
}

export function compileProfile(sd: StructureDefinition, pkg: ConformancePackage): CompiledProfile {
  const elements = sd.snapshot?.element ?? [];
  const byId = new Map(elements.map((e) => [e.id ?? e.path, e]));
  const slots = new Map(elements.map((e, i) => [e.id ?? e.path, i]));
  const slotOf: SlotOf = (id) => slots.get(id) ?? -1;
  const locators: (Locator | undefined)[] = elements.map((element, i) =>
    i === 0 ? undefined : compileLocator(element.id ?? element.path, byId, slotOf),
  );
  // Each element's steps from the root (parents come before children in a snapshot); undefined
  // where an element's parent is not in the snapshot (it names no nodes).
  const stepsOf: (readonly Step[] | undefined)[] = [[]];
  locators.forEach((locator, i) => {
    if (locator)
      stepsOf[i] = locator.parent >= 0 ? stepsOf[locator.parent]?.concat(locator.step) : undefined;
  });
  const paths: Paths = { locators, stepsOf };
  // The schema already holds the base definition's cardinality and code enums: only what the
  // profile itself changes (its differential) is checked here.
  const changed = new Set(
    sd.derivation === 'constraint' ? (sd.differential?.element ?? []).map((e) => e.id) : [],
  );
  const checks = elements
    .slice(1)
    .filter((e) => changed.has(e.id))
    .flatMap((e) => compileChecks(e, pkg, paths, slotOf));
  const invariantSets = compileElementInvariants(sd).map((set) => ({
    set,
    slot: slotOf(set.elementId),
  }));
  const type = sd.type;
  const holds = fastPath(checks, invariantSets, stepsOf);
  const issues = (resource: unknown, implied?: ReadonlySet<string>): OperationOutcomeIssue[] => {
    const cache: (Located[] | undefined)[] = new Array<Located[] | undefined>(elements.length);
    cache[0] = [{ value: resource, name: type, index: -1 }];
    const find: NodeFinder = (slot) => {
      let found = cache[slot];
      if (!found) {
        const locator = locators[slot];
        found = locator ? collect(find(locator.parent), locator.fromParent) : [];
        cache[slot] = found;
      }
      return found;
    };
    const found: OperationOutcomeIssue[] = [];
    for (const check of checks) {
      const more = check.issues(find);
      if (more.length > 0) found.push(...more);
    }
    for (const { set, slot } of invariantSets) {
      if (implied && set.invariants.every((i) => implied.has(i.key))) continue;
      const nodes = slot >= 0 ? find(slot) : [];
      if (nodes.length > 0) found.push(...checkInvariants(resource, set, nodes, implied));
    }
    return found;
  };
  return {
    url: sd.url,
    type,
    invariants: invariantSets.flatMap(({ set }) => set.invariants),
    ...(holds ? { holds } : {}),
    issues,
    check: (resource, implied) => (holds?.(resource, implied) ? [] : issues(resource, implied)),
  };
}

/**
 * The whole profile as one predicate, when every rule has one: the checks' `holds`, then each
 * invariant on each node of its element (and where the element recurs), skipping those `implied`
 * as `check` does.
 */
function fastPath(
  checks: readonly Check[],
  invariantSets: readonly { set: ElementInvariants; slot: number }[],
  stepsOf: readonly (readonly Step[] | undefined)[],
): ((resource: unknown, implied?: ReadonlySet<string>) => boolean) | undefined {
  const predicates: ((resource: unknown) => boolean)[] = [];
  for (const check of checks) {
    if (!check.holds) return undefined;
    predicates.push(check.holds);
  }
  const sets = invariantSets.flatMap(({ set, slot }) => {
    const steps = slot >= 0 ? stepsOf[slot] : undefined;
    if (!steps) return [];
    const recursion = set.recursion.map((path) => path.map((name) => memberStep(name)));
    return [{ set, steps, recursion }];
  });
  return (resource, implied) => {
    for (const predicate of predicates) if (!predicate(resource)) return false;
    for (const { set, steps, recursion } of sets) {
      const invariants = implied ? remaining(set, implied) : set.invariants;
      if (invariants.length === 0) continue;
      const visit = (value: unknown): boolean => {
        for (const invariant of invariants)
          if (!invariantHolds(resource, value, invariant)) return false;
        for (const path of recursion) if (!everyAt(value, path, 0, visit)) return false;
        return true;
      };
      if (!everyAt(resource, steps, 0, visit)) return false;
    }
    return true;
  };
}

// The implied sets are the validator's constants: what is left of each element's invariants is
// worked out once per set, not filtered again for every resource.
const remainders = new WeakMap<ReadonlySet<string>, Map<ElementInvariants, CompiledInvariant[]>>();

function remaining(
  set: ElementInvariants,
  implied: ReadonlySet<string>,
): readonly CompiledInvariant[] {
  let bySet = remainders.get(implied);
  if (!bySet) remainders.set(implied, (bySet = new Map()));
  let left = bySet.get(set);
  if (!left) bySet.set(set, (left = set.invariants.filter((i) => !implied.has(i.key))));
  return left;
}

/** One step from an element's parent to its nodes: a property, a choice element, a slice. */
interface Step {
  /** The property (for a choice element, its name without `[x]`). */
  readonly name: string;
  readonly choice: boolean;
  readonly slice?: (value: unknown) => boolean;
}

function memberStep(name: string): Step {
  return { name, choice: false };
}

interface Paths {
  readonly locators: readonly (Locator | undefined)[];
  readonly stepsOf: readonly (readonly Step[] | undefined)[];
}

function isTypeSuffix(key: string, base: string): boolean {
  if (key.length <= base.length || !key.startsWith(base)) return false;
  const c = key.charCodeAt(base.length);
  return c >= 65 && c <= 90;
}

/**
 * Whether `test` holds for every value the steps reach from `value` (the nodes `children` and
 * the slices would locate; for a choice element with its FHIRPath type). Stops at the first
 * false; builds nothing.
 */
function everyAt(
  value: unknown,
  steps: readonly Step[],
  depth: number,
  test: (value: unknown, type?: string) => boolean,
): boolean {
  const step = steps[depth];
  if (!step) return test(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return true;
  const record = value as Record<string, unknown>;
  const last = depth === steps.length - 1;
  if (step.choice) {
    for (const key of Object.keys(record)) {
      if (!isTypeSuffix(key, step.name)) continue;
      const child = record[key];
      if (step.slice && !step.slice(child)) continue;
      const ok = last
        ? test(child, fhirPathType(key.slice(step.name.length)))
        : everyAt(child, steps, depth + 1, test);
      if (!ok) return false;
    }
    return true;
  }
  const child = record[step.name];
  if (child === undefined || child === null) return true;
  if (Array.isArray(child)) {
    for (const c of child as unknown[]) {
      if (step.slice && !step.slice(c)) continue;
      if (!(last ? test(c) : everyAt(c, steps, depth + 1, test))) return false;
    }
    return true;
  }
  if (step.slice && !step.slice(child)) return true;
  return last ? test(child) : everyAt(child, steps, depth + 1, test);
}

/** How many nodes one step names inside `parent` (what `fromParent(parent).length` says). */
function countAt(parent: unknown, step: Step): number {
  if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) return 0;
  const record = parent as Record<string, unknown>;
  if (step.choice) {
    let count = 0;
    for (const key of Object.keys(record))
      if (isTypeSuffix(key, step.name) && (!step.slice || step.slice(record[key]))) count++;
    return count;
  }
  const child = record[step.name];
  if (child === undefined || child === null) return 0;
  if (!Array.isArray(child)) return !step.slice || step.slice(child) ? 1 : 0;
  if (!step.slice) return child.length;
  let count = 0;
  for (const c of child as unknown[]) if (step.slice(c)) count++;
  return count;
}

/** `from` applied to each node, results concatenated (a loop: flatMap costs more here). */
function collect<T>(nodes: readonly Located[], from: (node: Located) => T[]): T[] {
  if (nodes.length === 1) return from(nodes[0] as Located);
  const out: T[] = [];
  for (const node of nodes) for (const found of from(node)) out.push(found);
  return out;
}

interface Locator {
  /** The parent element's slot. */
  readonly parent: number;
  /** The nodes this element names inside one node of its parent element. */
  readonly fromParent: (parent: Located) => Located[];
  /** The same, as a step `everyAt` follows. */
  readonly step: Step;
}

function compileLocator(id: string, byId: Map<string, ElementDefinition>, slotOf: SlotOf): Locator {
  const dot = parentSplit(id);
  const segment = id.slice(dot + 1);
  const [name = '', sliceName] = segment.split(':');
  const element = byId.get(id);
  const sliceTest =
    sliceName !== undefined && element ? slicePredicate(id, element, byId) : undefined;
  const choice = name.endsWith('[x]');
  const step: Step = {
    name: choice ? name.slice(0, -3) : name,
    choice,
    ...(sliceTest ? { slice: sliceTest } : {}),
  };
  return {
    parent: slotOf(id.slice(0, dot)),
    step,
    fromParent: sliceTest
      ? (parent) => children(parent, name).filter((c) => sliceTest(c.value))
      : (parent) => children(parent, name),
  };
}

/** Index of the dot before the last segment (slice names may themselves contain dots? no: ids use ':' ). */
function parentSplit(id: string): number {
  return id.lastIndexOf('.');
}

function children(parent: Located, name: string): Located[] {
  const record = parent.value;
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return [];
  const object = record as Record<string, unknown>;
  if (name.endsWith('[x]')) {
    const base = name.slice(0, -3);
    const out: Located[] = [];
    for (const key of Object.keys(object)) {
      if (isTypeSuffix(key, base)) {
        const type = key.slice(base.length);
        out.push({ value: object[key], parent, name: base, index: -1, type: fhirPathType(type) });
      }
    }
    return out;
  }
  const value = object[name];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((v, i) => ({ value: v, parent, name, index: i }));
  return [{ value, parent, name, index: -1 }];
}

function fhirPathType(jsonSuffix: string): string {
  const primitive =
    /^(Boolean|Integer|Decimal|String|Date|DateTime|Time|Instant|Uri|Url|Canonical|Code|Id|Oid|Uuid|Markdown|Base64Binary|PositiveInt|UnsignedInt)$/;
  return primitive.test(jsonSuffix)
    ? jsonSuffix.charAt(0).toLowerCase() + jsonSuffix.slice(1)
    : jsonSuffix;
}

/** Slices: extension slices by their profile's url; other slices by their pattern discriminator. */
function slicePredicate(
  id: string,
  element: ElementDefinition,
  byId: Map<string, ElementDefinition>,
): ((value: unknown) => boolean) | undefined {
  const extensionUrl = element.type?.find((t) => t.code === 'Extension')?.profile?.[0];
  if (extensionUrl) return (v) => (v as { url?: unknown })?.url === extensionUrl;
  const urlFixed = byId.get(`${id}.url`)?.fixedUri;
  if (urlFixed) return (v) => (v as { url?: unknown })?.url === urlFixed;
  const slicedId = id.slice(0, id.lastIndexOf(':'));
  const discriminators = byId.get(slicedId)?.slicing?.discriminator ?? [];
  const tests = discriminators.map((d) => {
    if (d.path === '$this') {
      const expected = fixedOrPattern(element)?.value;
      return (v: unknown) => expected !== undefined && matchesPattern(v, expected);
    }
    const sub = byId.get(`${id}.${d.path}`);
    const expected = sub ? (fixedOrPattern(sub)?.value ?? undefined) : undefined;
    return (v: unknown) =>
      expected !== undefined && matchesPattern((v as Record<string, unknown>)?.[d.path], expected);
  });
  if (tests.length === 0) return undefined;
  return (v) => tests.every((t) => t(v));
}

function compileChecks(
  element: ElementDefinition,
  pkg: ConformancePackage,
  paths: Paths,
  slotOf: SlotOf,
): Check[] {
  const id = element.id ?? element.path;
  const slot = slotOf(id);
  const checks: Check[] = [];
  const locator = paths.locators[slot];
  const steps = paths.stepsOf[slot];
  const parentSteps = locator ? paths.stepsOf[locator.parent] : undefined;
  const cardinality = locator && cardinalityCheck(element, id, locator, slot, parentSteps);
  if (cardinality) checks.push(cardinality);
  const types = typeCheck(element, id, slot, steps);
  if (types) checks.push(types);
  const fixed = fixedCheck(element, id, slot, steps);
  if (fixed) checks.push(fixed);
  const binding = bindingCheck(element, id, slot, pkg, steps);
  if (binding) checks.push(binding);
  const extension = extensionProfileCheck(element, slot, pkg, steps);
  if (extension) checks.push(extension);
  return checks;
}

/** `holds` for a rule on each node of an element: `test` on every value its steps reach. */
function everyNode(
  steps: readonly Step[] | undefined,
  test: (value: unknown, type?: string) => boolean,
): (resource: unknown) => boolean {
  // An element whose parent is not in the snapshot names no nodes: nothing to break.
  if (!steps) return () => true;
  return (resource) => everyAt(resource, steps, 0, test);
}

const extensionProfiles = new WeakMap<StructureDefinition, CompiledProfile>();

/**
 * An extension slice's nodes must also meet the extension's own definition (its value type,
 * binding and nested extensions), which the profile only names by URL. A simple extension (one
 * value, no nested extensions) is first tried against a direct predicate; the compiled
 * definition runs when that fails, to say why.
 */
function extensionProfileCheck(
  element: ElementDefinition,
  slot: number,
  pkg: ConformancePackage,
  steps: readonly Step[] | undefined,
): Check | undefined {
  const url = element.sliceName
    ? element.type?.find((t) => t.code === 'Extension')?.profile?.[0]
    : undefined;
  const sd = url ? pkg.structureDefinition(url) : undefined;
  if (!sd) return undefined;
  const simple = simpleExtensionVerdict(sd, pkg);
  const compiledExtension = (): CompiledProfile => {
    let compiled = extensionProfiles.get(sd);
    if (!compiled) {
      compiled = compileProfile(sd, pkg);
      extensionProfiles.set(sd, compiled);
    }
    return compiled;
  };
  const issues = (find: NodeFinder): OperationOutcomeIssue[] =>
    collect(find(slot), (node) => {
      if (simple?.(node.value)) return [];
      const found = compiledExtension().check(node.value);
      if (found.length === 0) return found;
      const at = pathOf(node);
      return found.map((issue) => ({
        ...issue,
        expression: (issue.expression ?? []).map((e) =>
          e.startsWith('Extension') ? at + e.slice('Extension'.length) : e,
        ),
      }));
    });
  return {
    issues,
    holds: everyNode(
      steps,
      (value) => simple?.(value) === true || compiledExtension().check(value).length === 0,
    ),
  };
}

/**
 * For an extension whose definition only fixes its url, forbids nested extensions and narrows
 * its value (types and a required binding to an enumerable value set): a predicate that is true
 * exactly when the compiled definition finds nothing (the R4 schema has already checked shapes).
 */
export function simpleExtensionVerdict(
  sd: StructureDefinition,
  pkg: ConformancePackage,
): ((value: unknown) => boolean) | undefined {
  const differential = sd.differential?.element ?? [];
  const known = new Set([
    'Extension',
    'Extension.extension',
    'Extension.url',
    'Extension.value[x]',
  ]);
  if (
    !differential.every((e) => known.has(e.id ?? '') && !e.slicing && !(e.constraint ?? []).length)
  )
    return undefined;
  const byId = new Map(differential.map((e) => [e.id, e]));
  const nested = byId.get('Extension.extension');
  if (nested && nested.max !== '0') return undefined;
  const value = byId.get('Extension.value[x]');
  if (value && ((value.min ?? 0) > 0 || value.fixedCoding || value.patternCoding)) return undefined;
  const types = (value?.type ?? []).map(
    (t) => `value${t.code.charAt(0).toUpperCase()}${t.code.slice(1)}`,
  );
  const binding =
    value?.binding?.strength === 'required' && value.binding.valueSet
      ? pkg.valueSetCodes(value.binding.valueSet)
      : undefined;
  if (value?.binding?.strength === 'required' && !binding) return undefined;
  if (
    binding &&
    types.some((t) => !['valueCoding', 'valueCode', 'valueCodeableConcept'].includes(t))
  )
    return undefined;
  const url = sd.url;
  const noNested = nested !== undefined;
  const index = binding ? indexCodes(binding) : undefined;
  return (node) => {
    const record = node as Record<string, unknown>;
    if (record.url !== url || (noNested && record.extension !== undefined)) return false;
    if (types.length === 0) return true;
    // Every value present must be of an allowed type and bound (the schema does not make
    // value[x] exclusive; the compiled definition checks each one).
    for (const key in record) {
      if (!key.startsWith('value')) continue;
      if (!types.includes(key)) return false;
      if (index && !codedIn(record[key], index)) return false;
    }
    return true;
  };
}

/**
 * A value set's `system|code` entries, looked up without building strings: by system, and the
 * codes alone. Every '|' of an entry is a place it may split, so a lookup answers exactly what
 * `codes.has(`${system}|${code}`)` and "some entry ends with `|${code}`" would.
 */
interface CodeIndex {
  readonly bySystem: ReadonlyMap<string, ReadonlySet<string>>;
  readonly bare: ReadonlySet<string>;
}

function indexCodes(codes: ReadonlySet<string>): CodeIndex {
  const bySystem = new Map<string, Set<string>>();
  const bare = new Set<string>();
  for (const entry of codes) {
    for (let i = entry.indexOf('|'); i >= 0; i = entry.indexOf('|', i + 1)) {
      const system = entry.slice(0, i);
      const code = entry.slice(i + 1);
      let set = bySystem.get(system);
      if (!set) bySystem.set(system, (set = new Set()));
      set.add(code);
      bare.add(code);
    }
  }
  return { bySystem, bare };
}

function hasCode(index: CodeIndex, system: unknown, code: unknown): boolean {
  return index.bySystem.get(String(system))?.has(String(code)) ?? false;
}

function codedIn(value: unknown, index: CodeIndex): boolean {
  if (typeof value === 'string') return index.bare.has(value);
  const v = value as {
    system?: unknown;
    code?: unknown;
    coding?: { system?: unknown; code?: unknown }[];
  };
  if (Array.isArray(v.coding)) return v.coding.some((c) => hasCode(index, c.system, c.code));
  return hasCode(index, v.system, v.code);
}

function cardinalityCheck(
  element: ElementDefinition,
  id: string,
  locator: Locator,
  slot: number,
  parentSteps: readonly Step[] | undefined,
): Check | undefined {
  const min = element.min ?? 0;
  const max = element.max === '*' || element.max === undefined ? Infinity : Number(element.max);
  if (min === 0 && max === Infinity) return undefined;
  if (min === 0 && max === 1 && !id.includes(':') && element.base?.max === '1') return undefined;
  const name = displayName(id);
  const step = locator.step;
  const holds = everyNode(parentSteps, (parent) => {
    const count = countAt(parent, step);
    return count >= min && count <= max;
  });
  const issues = (find: NodeFinder): OperationOutcomeIssue[] => {
    const issues: OperationOutcomeIssue[] = [];
    const parents = find(locator.parent);
    for (const parent of parents) {
      // With one parent its children are the element's nodes, already found (and cached).
      const count = parents.length === 1 ? find(slot).length : locator.fromParent(parent).length;
      if (count < min) {
        issues.push(
          error(
            'required',
            `${name} is required (at least ${min})`,
            `${pathOf(parent)}.${pathName(id)}`,
          ),
        );
      } else if (count > max) {
        issues.push(
          error(
            'structure',
            `${name} allows at most ${max}, found ${count}`,
            `${pathOf(parent)}.${pathName(id)}`,
          ),
        );
      }
    }
    return issues;
  };
  return { issues, holds };
}

function pathName(id: string): string {
  const segment = id.slice(parentSplit(id) + 1).split(':')[0] ?? '';
  return segment.endsWith('[x]') ? segment.slice(0, -3) : segment;
}

function displayName(id: string): string {
  return id.replace(/\[x\]/g, '');
}

function typeCheck(
  element: ElementDefinition,
  id: string,
  slot: number,
  steps: readonly Step[] | undefined,
): Check | undefined {
  const types = element.type ?? [];
  const checks: ((node: Located) => OperationOutcomeIssue | undefined)[] = [];
  const tests: ((value: unknown, type?: string) => boolean)[] = [];
  if (id.endsWith('[x]') && types.length > 0) {
    const allowed = new Set(
      types.map((t) => fhirPathType(t.code.charAt(0).toUpperCase() + t.code.slice(1))),
    );
    tests.push((_value, type) => !type || allowed.has(type));
    checks.push((node) => {
      const type = node.type;
      return type && !allowed.has(type)
        ? error(
            'structure',
            `${displayName(id)} must be ${[...allowed].join(' or ')}, not ${type}`,
            pathOf(node),
          )
        : undefined;
    });
  }
  const targets = types.find((t) => t.code === 'Reference')?.targetProfile;
  if (targets && targets.length > 0) {
    const allowed = targets.map((t) => t.slice(t.lastIndexOf('/') + 1));
    if (!allowed.includes('Resource')) {
      tests.push((value) => referenceTargetAllowed(value, allowed));
      checks.push((node) =>
        referenceTargetAllowed(node.value, allowed)
          ? undefined
          : error(
              'value',
              `${displayName(id)} must refer to ${allowed.join(' or ')}`,
              pathOf(node),
            ),
      );
    }
  }
  if (checks.length === 0) return undefined;
  const issues = (find: NodeFinder): OperationOutcomeIssue[] => {
    const found: OperationOutcomeIssue[] = [];
    for (const node of find(slot))
      for (const c of checks) {
        const issue = c(node);
        if (issue) found.push(issue);
      }
    return found;
  };
  return {
    issues,
    holds: everyNode(steps, (value, type) => tests.every((t) => t(value, type))),
  };
}

function referenceTargetAllowed(value: unknown, allowed: string[]): boolean {
  const reference = (value as { reference?: unknown } | null | undefined)?.reference;
  if (typeof reference !== 'string' || reference.startsWith('#') || reference.startsWith('urn:'))
    return true;
  // `Patient/1`, `http://server/fhir/Patient/1`, `Patient/1/_history/2`, or a conditional
  // reference `Patient?identifier=…` (allowed inside a transaction).
  const query = reference.indexOf('?');
  const type =
    query >= 0
      ? reference.slice(reference.lastIndexOf('/', query) + 1, query)
      : referencedType(reference);
  return type !== undefined && type !== '' && allowed.includes(type);
}

function referencedType(reference: string): string | undefined {
  const history = reference.indexOf('/_history/');
  const plain = history >= 0 ? reference.slice(0, history) : reference;
  const last = plain.lastIndexOf('/');
  if (last <= 0) return undefined;
  return plain.slice(plain.lastIndexOf('/', last - 1) + 1, last);
}

function fixedOrPattern(
  element: ElementDefinition,
): { value: unknown; exact: boolean } | undefined {
  for (const [key, value] of Object.entries(element)) {
    if (key.startsWith('fixed')) return { value, exact: true };
    if (key.startsWith('pattern')) return { value, exact: false };
  }
  return undefined;
}

function fixedCheck(
  element: ElementDefinition,
  id: string,
  slot: number,
  steps: readonly Step[] | undefined,
): Check | undefined {
  const constraint = fixedOrPattern(element);
  if (!constraint) return undefined;
  const { value, exact } = constraint;
  const message = exact
    ? `${displayName(id)} must have its fixed value`
    : `${displayName(id)} must match the profile's pattern`;
  const meets = (v: unknown): boolean => (exact ? deepEqual(v, value) : matchesPattern(v, value));
  return {
    issues: (find) => {
      const issues: OperationOutcomeIssue[] = [];
      for (const node of find(slot))
        if (!meets(node.value)) issues.push(error('value', message, pathOf(node)));
      return issues;
    },
    holds: everyNode(steps, meets),
  };
}

function bindingCheck(
  element: ElementDefinition,
  id: string,
  slot: number,
  pkg: ConformancePackage,
  steps: readonly Step[] | undefined,
): Check | undefined {
  const binding = element.binding;
  if (binding?.strength !== 'required' || !binding.valueSet) return undefined;
  const codes = pkg.valueSetCodes(binding.valueSet);
  if (!codes) return undefined;
  const typeCodes = (element.type ?? []).map((t) => t.code);
  const vsName = binding.valueSet.slice(binding.valueSet.lastIndexOf('/') + 1);
  const bareCodes = new Set([...codes].map((c) => c.slice(c.lastIndexOf('|') + 1)));
  const issues = (find: NodeFinder): OperationOutcomeIssue[] => {
    const found: OperationOutcomeIssue[] = [];
    for (const node of find(slot)) {
      const fault = bindingFault(node.value, typeCodes, codes, bareCodes);
      if (fault !== undefined)
        found.push(
          error(
            'code-invalid',
            `${displayName(id)} is not a code from ${vsName}`,
            pathOf(node) + fault,
          ),
        );
    }
    return found;
  };
  return {
    issues,
    holds: everyNode(
      steps,
      (value) => bindingFault(value, typeCodes, codes, bareCodes) === undefined,
    ),
  };
}

/**
 * Where the value breaks the binding, relative to the node ('' itself, '.coding', '.code'), or
 * undefined when it is bound correctly.
 */
function bindingFault(
  value: unknown,
  types: string[],
  codes: ReadonlySet<string>,
  bareCodes: ReadonlySet<string>,
): string | undefined {
  if (typeof value === 'string') return bareCodes.has(value) ? undefined : '';
  if (value === null || typeof value !== 'object') return undefined;
  const inCodes = (c: { system?: unknown; code?: unknown }): boolean =>
    codes.has(`${String(c.system)}|${String(c.code)}`);
  if (types.includes('CodeableConcept') || 'coding' in value) {
    const codings = ((value as { coding?: unknown[] }).coding ?? []) as {
      system?: unknown;
      code?: unknown;
    }[];
    // Text alone does not meet a required binding: a code from the value set must be there.
    return codings.some(inCodes) ? undefined : '.coding';
  }
  if ('code' in value || 'system' in value) {
    return inCodes(value as { system?: unknown; code?: unknown }) ? undefined : '.code';
  }
  return undefined;
}

/** FHIR pattern[x] semantics: every property in the pattern is present with a matching value. */
export function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    if (!Array.isArray(value)) return false;
    return pattern.every((p) => value.some((v) => matchesPattern(v, p)));
  }
  if (pattern !== null && typeof pattern === 'object') {
    if (value === null || typeof value !== 'object') return false;
    return Object.entries(pattern).every(([k, p]) =>
      matchesPattern((value as Record<string, unknown>)[k], p),
    );
  }
  return value === pattern;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return matchesPattern(a, b) && matchesPattern(b, a);
}
