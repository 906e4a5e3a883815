/**
 * R4 JSON's repeating primitives (http://hl7.org/fhir/R4/json.html#primitive): a primitive `x`
 * that repeats has its values in `x` and its ids and extensions in `_x`. When both arrays are
 * there they have the same length, and `null` stands in either one where only the other side has
 * the entry: `"given": ["Alice", null], "_given": [null, {"extension": [...]}]`. So:
 * - the two arrays have the same number of entries;
 * - a `null` in `x` needs an entry in `_x` at its index, and a `null` in `_x` a value in `x`;
 * - an entry `null` on both sides is no element at all;
 * - ele-1 (`hasValue() or (children().count() > id.count())`) on each entry, which needs both
 *   sides: an entry with no value needs extensions in `_x` (an id alone is not enough), while
 *   beside a value an id alone is fine. `{}` in `_x` is refused either way: `null` is how R4 JSON
 *   writes "no id or extensions here", and its objects are never empty.
 * The schema (fhir-schema.ts) lets `null` into both arrays and marks them; this checks the
 * pairing, which needs both arrays at once. A single primitive's `_x` is judged with its `x` the
 * same way: with no value it needs an extension (ele-1), beside a value an id alone is fine and
 * `{}` is refused. Each fault is named where FHIRPath sees the element (`Patient.name[0].given[1]`,
 * `Patient.name[0].family`): FHIRPath has no `_given`, it holds one element per index.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import {
  definitionOf,
  PAIRED_ELEMENT,
  PRIMITIVE_PAIRS_KEYWORD,
  type PropertyRefs,
} from './fhir-schema';
import { error } from './outcome';

type Definitions = Record<string, Record<string, unknown>>;
/** FHIRPath for JSON property names and array indexes under the resource. */
type Locate = (segments: readonly string[]) => string;

interface PropertySchema extends PropertyRefs {
  readonly [PRIMITIVE_PAIRS_KEYWORD]?: unknown;
}

/**
 * Per definition: its repeating primitives, its single primitives that take `_x`, and its
 * properties of complex types (to enter).
 */
interface Shape {
  readonly paired: ReadonlySet<string>;
  readonly single: ReadonlySet<string>;
  readonly children: ReadonlyMap<string, string>;
}

const SINGLE_REF = `#/definitions/${PAIRED_ELEMENT}`;

const shapes = new WeakMap<Definitions, Map<string, Shape | undefined>>();

function shapeOf(definitions: Definitions, type: string): Shape | undefined {
  let known = shapes.get(definitions);
  if (!known) {
    known = new Map();
    shapes.set(definitions, known);
  }
  if (known.has(type)) return known.get(type);
  const properties = definitions[type]?.properties as Record<string, PropertySchema> | undefined;
  let shape: Shape | undefined;
  if (properties) {
    const paired = new Set<string>();
    const single = new Set<string>();
    const children = new Map<string, string>();
    for (const [name, property] of Object.entries(properties)) {
      if (name.startsWith('_') && property[PRIMITIVE_PAIRS_KEYWORD] === true)
        paired.add(name.slice(1));
      else if (name.startsWith('_') && property.$ref === SINGLE_REF) single.add(name.slice(1));
      const child = definitionOf(property);
      if (child === undefined) continue;
      // A resource inside this one (contained, Bundle.entry.resource…) is validated on its own.
      if (child === 'ResourceList' || child === 'Resource') continue;
      if (definitions[child]?.properties) children.set(name, child);
    }
    shape = { paired, single, children };
  }
  known.set(type, shape);
  return shape;
}

/** The pairing faults in one resource (resources held inside it are not entered). */
export function primitivePairIssues(
  resource: unknown,
  type: string,
  definitions: Definitions,
  locate: Locate,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const visit = (value: unknown, type: string, segments: string[]): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, type, [...segments, String(i)]));
      return;
    }
    const shape = shapeOf(definitions, type);
    if (!shape) return;
    const node = value as Record<string, unknown>;
    for (const key in node) {
      const extensions = key.startsWith('_');
      const name = extensions ? key.slice(1) : key;
      // Each pair once: at `x`, or at `_x` when there is no `x`.
      if (shape.paired.has(name) && (!extensions || node[name] === undefined))
        pairIssues(node[name], node[`_${name}`], [...segments, name], locate, issues);
      else if (extensions && shape.single.has(name))
        singleIssues(node[name], node[key], [...segments, name], locate, issues);
      const child = shape.children.get(key);
      // What `_x[i]` holds (its id, extensions) is the element `x[i]`'s in FHIRPath.
      if (child) visit(node[key], child, [...segments, extensions ? name : key]);
    }
  };
  visit(resource, type, []);
  return issues;
}

// Messages name the property (a name from the schema, never the caller's text), not its values.
const lengths = (x: string): string =>
  `${x} and _${x} must have the same number of entries (null stands for the side an entry ` +
  'does not have)';
const noExtensions = (x: string): string =>
  `null in ${x} stands for a value only where _${x} has an id or extensions at the same index; ` +
  'here it has none';
const noValue = (x: string): string =>
  `null in _${x} stands for an id and extensions only where ${x} has a value at the same ` +
  'index; here it has none';
const neither = (x: string): string =>
  `This entry is null in both ${x} and _${x}: it has no value, id or extension`;
const noContent = (x: string): string =>
  `Constraint ele-1 not met: All FHIR elements must have a @value or children (this entry has ` +
  `no value in ${x}, and its entry in _${x} has no extension: an id alone is not content)`;
const emptyObject = (x: string): string =>
  `An entry of _${x} is an empty object: write null where an entry has no id or extension`;
const noSingleContent = (x: string): string =>
  `Constraint ele-1 not met: All FHIR elements must have a @value or children (there is no ` +
  `${x}, and _${x} has no extension: an id alone is not content)`;
const emptySingle = (x: string): string =>
  `_${x} is an empty object: leave it out where the element has no id or extension`;

/** A single primitive: ele-1 on `x` and `_x` together (the schema has checked each one's shape). */
function singleIssues(
  value: unknown,
  extension: unknown,
  segments: readonly string[],
  locate: Locate,
  issues: OperationOutcomeIssue[],
): void {
  // `null` is no value for a single primitive: the schema refuses it, once is enough.
  if (value === null) return;
  const empty = emptiness(value, extension);
  if (!empty) return;
  const name = segments[segments.length - 1] ?? '';
  const message = empty.code === 'invariant' ? noSingleContent : emptySingle;
  issues.push(error(empty.code, message(name), locate(segments)));
}

function pairIssues(
  values: unknown,
  extensions: unknown,
  segments: readonly string[],
  locate: Locate,
  issues: OperationOutcomeIssue[],
): void {
  const name = segments[segments.length - 1] ?? '';
  const x = Array.isArray(values) ? (values as unknown[]) : undefined;
  const ext = Array.isArray(extensions) ? (extensions as unknown[]) : undefined;
  // The schema has refused anything else (a single value, or not an array at all).
  if (!x && !ext) return;
  // An empty array is the schema's to refuse (at the same place): not a second issue.
  if (x && ext && x.length !== ext.length && x.length > 0 && ext.length > 0)
    issues.push(error('structure', lengths(name), locate(segments)));
  const n = Math.max(x?.length ?? 0, ext?.length ?? 0);
  for (let i = 0; i < n; i++) {
    const value = x?.[i];
    const extension = ext?.[i];
    const message =
      value === null && extension === null
        ? neither
        : value === null && extension === undefined
          ? noExtensions
          : extension === null && value === undefined
            ? noValue
            : undefined;
    if (message) issues.push(error('structure', message(name), locate([...segments, String(i)])));
    else {
      const empty = emptiness(value, extension);
      if (empty)
        issues.push(error(empty.code, empty.message(name), locate([...segments, String(i)])));
    }
  }
}

/** ele-1 on one element whose `_x` side is an object (other values are the schema's to refuse). */
function emptiness(
  value: unknown,
  extension: unknown,
): { code: 'invariant' | 'structure'; message: (x: string) => string } | undefined {
  if (extension === null || typeof extension !== 'object' || Array.isArray(extension))
    return undefined;
  const held = extension as Record<string, unknown>;
  if ((value ?? null) === null) {
    return held.extension === undefined ? { code: 'invariant', message: noContent } : undefined;
  }
  return Object.keys(held).length === 0 ? { code: 'structure', message: emptyObject } : undefined;
}
