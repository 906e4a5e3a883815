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
import { checkInvariants, compileElementInvariants, type CompiledInvariant } from './invariants';
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

type Check = (find: NodeFinder) => OperationOutcomeIssue[];
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
}

export function compileProfile(sd: StructureDefinition, pkg: ConformancePackage): CompiledProfile {
  const elements = sd.snapshot?.element ?? [];
  const byId = new Map(elements.map((e) => [e.id ?? e.path, e]));
  const slots = new Map(elements.map((e, i) => [e.id ?? e.path, i]));
  const slotOf: SlotOf = (id) => slots.get(id) ?? -1;
  const locators: (Locator | undefined)[] = elements.map((element, i) =>
    i === 0 ? undefined : compileLocator(element.id ?? element.path, byId, slotOf),
  );
  // The schema already holds the base definition's cardinality and code enums: only what the
  // profile itself changes (its differential) is checked here.
  const changed = new Set(
    sd.derivation === 'constraint' ? (sd.differential?.element ?? []).map((e) => e.id) : [],
  );
  const checks = elements
    .slice(1)
    .filter((e) => changed.has(e.id))
    .flatMap((e) => compileChecks(e, pkg, locators, slotOf));
  const invariantSets = compileElementInvariants(sd).map((set) => ({
    set,
    slot: slotOf(set.elementId),
  }));
  const type = sd.type;
  return {
    url: sd.url,
    type,
    invariants: invariantSets.flatMap(({ set }) => set.invariants),
    check(resource, implied) {
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
      const issues: OperationOutcomeIssue[] = [];
      for (const check of checks) {
        const found = check(find);
        if (found.length > 0) issues.push(...found);
      }
      for (const { set, slot } of invariantSets) {
        if (implied && set.invariants.every((i) => implied.has(i.key))) continue;
        const nodes = slot >= 0 ? find(slot) : [];
        if (nodes.length > 0) issues.push(...checkInvariants(resource, set, nodes, implied));
      }
      return issues;
    },
  };
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
}

function compileLocator(id: string, byId: Map<string, ElementDefinition>, slotOf: SlotOf): Locator {
  const dot = parentSplit(id);
  const segment = id.slice(dot + 1);
  const [name = '', sliceName] = segment.split(':');
  const element = byId.get(id);
  const sliceTest =
    sliceName !== undefined && element ? slicePredicate(id, element, byId) : undefined;
  return {
    parent: slotOf(id.slice(0, dot)),
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
      if (
        key.length > base.length &&
        key.startsWith(base) &&
        /^[A-Z]/.test(key.slice(base.length))
      ) {
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
  locators: readonly (Locator | undefined)[],
  slotOf: SlotOf,
): Check[] {
  const id = element.id ?? element.path;
  const slot = slotOf(id);
  const checks: Check[] = [];
  const locator = locators[slot];
  const cardinality = locator && cardinalityCheck(element, id, locator, slot);
  if (cardinality) checks.push(cardinality);
  const types = typeCheck(element, id, slot);
  if (types) checks.push(types);
  const fixed = fixedCheck(element, id, slot);
  if (fixed) checks.push(fixed);
  const binding = bindingCheck(element, id, slot, pkg);
  if (binding) checks.push(binding);
  const extension = extensionProfileCheck(element, slot, pkg);
  if (extension) checks.push(extension);
  return checks;
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
): Check | undefined {
  const url = element.sliceName
    ? element.type?.find((t) => t.code === 'Extension')?.profile?.[0]
    : undefined;
  const sd = url ? pkg.structureDefinition(url) : undefined;
  if (!sd) return undefined;
  const simple = simpleExtensionVerdict(sd, pkg);
  return (find) =>
    collect(find(slot), (node) => {
      if (simple?.(node.value)) return [];
      let compiled = extensionProfiles.get(sd);
      if (!compiled) {
        compiled = compileProfile(sd, pkg);
        extensionProfiles.set(sd, compiled);
      }
      const found = compiled.check(node.value);
      if (found.length === 0) return found;
      const at = pathOf(node);
      return found.map((issue) => ({
        ...issue,
        expression: (issue.expression ?? []).map((e) =>
          e.startsWith('Extension') ? at + e.slice('Extension'.length) : e,
        ),
      }));
    });
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
  return (node) => {
    const record = node as Record<string, unknown>;
    if (record.url !== url || (noNested && record.extension !== undefined)) return false;
    if (types.length === 0) return true;
    // Every value present must be of an allowed type and bound (the schema does not make
    // value[x] exclusive; the compiled definition checks each one).
    for (const key in record) {
      if (!key.startsWith('value')) continue;
      if (!types.includes(key)) return false;
      if (binding && !codedIn(record[key], binding)) return false;
    }
    return true;
  };
}

function codedIn(value: unknown, codes: ReadonlySet<string>): boolean {
  if (typeof value === 'string') {
    for (const c of codes) if (c.endsWith(`|${value}`)) return true;
    return false;
  }
  const v = value as {
    system?: unknown;
    code?: unknown;
    coding?: { system?: unknown; code?: unknown }[];
  };
  if (Array.isArray(v.coding))
    return v.coding.some((c) => codes.has(`${String(c.system)}|${String(c.code)}`));
  return codes.has(`${String(v.system)}|${String(v.code)}`);
}

function cardinalityCheck(
  element: ElementDefinition,
  id: string,
  locator: Locator,
  slot: number,
): Check | undefined {
  const min = element.min ?? 0;
  const max = element.max === '*' || element.max === undefined ? Infinity : Number(element.max);
  if (min === 0 && max === Infinity) return undefined;
  if (min === 0 && max === 1 && !id.includes(':') && element.base?.max === '1') return undefined;
  const name = displayName(id);
  return (find) => {
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
}

function pathName(id: string): string {
  const segment = id.slice(parentSplit(id) + 1).split(':')[0] ?? '';
  return segment.endsWith('[x]') ? segment.slice(0, -3) : segment;
}

function displayName(id: string): string {
  return id.replace(/\[x\]/g, '');
}

function typeCheck(element: ElementDefinition, id: string, slot: number): Check | undefined {
  const types = element.type ?? [];
  const checks: ((node: Located) => OperationOutcomeIssue | undefined)[] = [];
  if (id.endsWith('[x]') && types.length > 0) {
    const allowed = new Set(
      types.map((t) => fhirPathType(t.code.charAt(0).toUpperCase() + t.code.slice(1))),
    );
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
    if (!allowed.includes('Resource'))
      checks.push((node) => referenceTargetIssue(node, allowed, id));
  }
  if (checks.length === 0) return undefined;
  return (find) => {
    const issues: OperationOutcomeIssue[] = [];
    for (const node of find(slot))
      for (const c of checks) {
        const found = c(node);
        if (found) issues.push(found);
      }
    return issues;
  };
}

function referenceTargetIssue(
  node: Located,
  allowed: string[],
  id: string,
): OperationOutcomeIssue | undefined {
  const reference = (node.value as { reference?: unknown })?.reference;
  if (typeof reference !== 'string' || reference.startsWith('#') || reference.startsWith('urn:'))
    return undefined;
  // `Patient/1`, `http://server/fhir/Patient/1`, `Patient/1/_history/2`, or a conditional
  // reference `Patient?identifier=…` (allowed inside a transaction).
  const query = reference.indexOf('?');
  const type =
    query >= 0
      ? reference.slice(reference.lastIndexOf('/', query) + 1, query)
      : referencedType(reference);
  if (type && allowed.includes(type)) return undefined;
  return error('value', `${displayName(id)} must refer to ${allowed.join(' or ')}`, pathOf(node));
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

function fixedCheck(element: ElementDefinition, id: string, slot: number): Check | undefined {
  const constraint = fixedOrPattern(element);
  if (!constraint) return undefined;
  const { value, exact } = constraint;
  const message = exact
    ? `${displayName(id)} must have its fixed value`
    : `${displayName(id)} must match the profile's pattern`;
  return (find) => {
    const issues: OperationOutcomeIssue[] = [];
    for (const node of find(slot))
      if (!(exact ? deepEqual(node.value, value) : matchesPattern(node.value, value)))
        issues.push(error('value', message, pathOf(node)));
    return issues;
  };
}

function bindingCheck(
  element: ElementDefinition,
  id: string,
  slot: number,
  pkg: ConformancePackage,
): Check | undefined {
  const binding = element.binding;
  if (binding?.strength !== 'required' || !binding.valueSet) return undefined;
  const codes = pkg.valueSetCodes(binding.valueSet);
  if (!codes) return undefined;
  const typeCodes = (element.type ?? []).map((t) => t.code);
  const vsName = binding.valueSet.slice(binding.valueSet.lastIndexOf('/') + 1);
  const bareCodes = new Set([...codes].map((c) => c.slice(c.lastIndexOf('|') + 1)));
  return (find) => {
    const issues: OperationOutcomeIssue[] = [];
    for (const node of find(slot)) {
      const fault = bindingFault(node, typeCodes, codes, bareCodes);
      if (fault)
        issues.push(
          error('code-invalid', `${displayName(id)} is not a code from ${vsName}`, fault),
        );
    }
    return issues;
  };
}

/** Returns the path of the offending code, or undefined when the node is bound correctly. */
function bindingFault(
  node: Located,
  types: string[],
  codes: ReadonlySet<string>,
  bareCodes: ReadonlySet<string>,
): string | undefined {
  const value = node.value;
  if (typeof value === 'string') return bareCodes.has(value) ? undefined : pathOf(node);
  if (value === null || typeof value !== 'object') return undefined;
  const inCodes = (c: { system?: unknown; code?: unknown }): boolean =>
    codes.has(`${String(c.system)}|${String(c.code)}`);
  if (types.includes('CodeableConcept') || 'coding' in value) {
    const codings = ((value as { coding?: unknown[] }).coding ?? []) as {
      system?: unknown;
      code?: unknown;
    }[];
    // Text alone does not meet a required binding: a code from the value set must be there.
    return codings.some(inCodes) ? undefined : `${pathOf(node)}.coding`;
  }
  if ('code' in value || 'system' in value) {
    return inCodes(value as { system?: unknown; code?: unknown })
      ? undefined
      : `${pathOf(node)}.code`;
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
