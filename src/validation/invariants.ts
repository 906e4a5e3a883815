/**
 * A profile's FHIRPath invariants (ElementDefinition.constraint), compiled once. Each is compiled
 * to JavaScript by fhirpath-compile; the few that use FHIRPath beyond it are evaluated by
 * fhirpath.js with the R4 model. As in Medplum's validator, only error-severity constraints are
 * enforced; ele-1 and ext-1 are enforced by the schema instead, and dom-3 (contained resources
 * must be referenced, which needs descendants()) is left out, as Medplum leaves it out.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type {
  ElementDefinition,
  OperationOutcomeIssue,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { compileFhirPath, type CompiledFhirPath, UnsupportedFhirPath } from './fhirpath-compile';
import { compileFhirPathVerdict, type FhirPathVerdict } from './fhirpath-verdict';
import { error } from './outcome';
import { type Located, pathOf } from './profile-rules';

// ele-1 and ext-1 are schema rules (fhir-schema.ts); dom-3 needs descendants() (as in Medplum).
const SKIPPED = new Set(['ele-1', 'ext-1', 'dom-3']);

export interface CompiledInvariant {
  readonly key: string;
  readonly expression: string;
  readonly human: string;
  /** True when compiled to JavaScript; false when fhirpath.js evaluates it. */
  readonly compiled: boolean;
  readonly evaluate: CompiledFhirPath;
  /**
   * The fast path (fhirpath-verdict.ts): true only where `evaluate` gives `[true]`; when false,
   * `evaluate` decides and says why. Undefined where the expression is outside its subset.
   */
  readonly holds?: FhirPathVerdict;
}

export interface ElementInvariants {
  readonly elementId: string;
  /** Paths, relative to the element, where the same element recurs (contentReference). */
  readonly recursion: readonly string[][];
  readonly invariants: readonly CompiledInvariant[];
}

export function compileInvariant(
  key: string,
  expression: string,
  human: string,
): CompiledInvariant {
  try {
    const evaluate = compileFhirPath(expression);
    const holds = compileFhirPathVerdict(expression);
    return { key, expression, human, compiled: true, evaluate, ...(holds ? { holds } : {}) };
  } catch (e) {
    if (!(e instanceof UnsupportedFhirPath)) throw e;
    // The R4 model's typings do not fit exactOptionalPropertyTypes; its shape is what compile expects.
    // A no-op trace: an invariant using trace() (the Questionnaire's do) would print to stdout,
    // into the JSON logs.
    const slow = fhirpath.compile(expression, r4 as Parameters<typeof fhirpath.compile>[1], {
      traceFn: () => undefined,
    });
    return {
      key,
      expression,
      human,
      compiled: false,
      evaluate: (resource, context) =>
        slow((context ?? resource) as object, { resource: resource as object }) as unknown[],
    };
  }
}

export function compileElementInvariants(sd: StructureDefinition): ElementInvariants[] {
  const elements = sd.snapshot?.element ?? [];
  const keysById = new Map(
    elements.map((e) => [e.id ?? e.path, new Set((e.constraint ?? []).map((c) => c.key))]),
  );
  return elements
    .map((e) => {
      const elementId = e.id ?? e.path;
      // A slice's nodes are also its sliced element's nodes: a constraint both carry runs once.
      const unsliced = keysById.get(elementId.replace(/:[^.]+/g, ''));
      const own = (e.constraint ?? []).filter(
        (c) => enforced(c) && (!elementId.includes(':') || !unsliced?.has(c.key)),
      );
      return {
        elementId,
        recursion: recursionPaths(elementId, elements),
        invariants: own.map((c) =>
          compileInvariant(c.key ?? '', c.expression ?? '', c.human ?? ''),
        ),
      };
    })
    .filter((set) => set.invariants.length > 0);
}

function enforced(c: NonNullable<ElementDefinition['constraint']>[number]): boolean {
  return c.severity === 'error' && !!c.key && !!c.expression && !SKIPPED.has(c.key);
}

/** `QuestionnaireResponse.item.answer.item` refers back to `#QuestionnaireResponse.item`: ['answer','item']. */
function recursionPaths(elementId: string, elements: ElementDefinition[]): string[][] {
  return elements
    .filter(
      (e) => e.contentReference === `#${elementId}` && (e.id ?? e.path).startsWith(`${elementId}.`),
    )
    .map((e) => (e.id ?? e.path).slice(elementId.length + 1).split('.'));
}

export function checkInvariants(
  resource: unknown,
  element: ElementInvariants,
  nodes: Located[],
  implied?: ReadonlySet<string>,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const invariants =
    implied && element.invariants.some((i) => implied.has(i.key))
      ? element.invariants.filter((i) => !implied.has(i.key))
      : element.invariants;
  for (const node of withRecursion(nodes, element.recursion)) {
    for (const invariant of invariants) {
      const fault = evaluateOn(resource, node, invariant);
      if (fault) issues.push(fault);
    }
  }
  return issues;
}

/** Whether the invariant holds on one node: what `checkInvariants` reports nothing for. */
export function invariantHolds(
  resource: unknown,
  value: unknown,
  invariant: CompiledInvariant,
): boolean {
  if (invariant.holds?.(resource, value)) return true;
  try {
    const result = invariant.evaluate(resource, value);
    return result.length === 1 && result[0] === true;
  } catch {
    return false;
  }
}

function evaluateOn(
  resource: unknown,
  node: Located,
  invariant: CompiledInvariant,
): OperationOutcomeIssue | undefined {
  if (invariant.holds?.(resource, node.value)) return undefined;
  try {
    const result = invariant.evaluate(resource, node.value);
    if (result.length === 1 && result[0] === true) return undefined;
    return error(
      'invariant',
      `Constraint ${invariant.key} not met: ${invariant.human}`,
      pathOf(node),
    );
  } catch {
    return error(
      'invariant',
      `Constraint ${invariant.key} could not be evaluated: ${invariant.human}`,
      pathOf(node),
    );
  }
}

function withRecursion(nodes: Located[], recursion: readonly string[][]): Located[] {
  if (recursion.length === 0) return nodes;
  const out = [...nodes];
  for (let i = 0; i < out.length; i++) {
    for (const path of recursion) descend(out[i] as Located, path, 0, out);
  }
  return out;
}

/** Appends the nodes found along `path` (from `depth`) below `node` to `out`. */
function descend(node: Located, path: readonly string[], depth: number, out: Located[]): void {
  const name = path[depth] as string;
  const value = node.value;
  if (value === null || typeof value !== 'object') return;
  const child = (value as Record<string, unknown>)[name];
  if (child === undefined || child === null) return;
  const last = depth === path.length - 1;
  const visit = (found: Located): void => {
    if (last) out.push(found);
    else descend(found, path, depth + 1, out);
  };
  if (!Array.isArray(child)) {
    visit({ value: child, parent: node, name, index: -1 });
    return;
  }
  for (let i = 0; i < child.length; i++) visit({ value: child[i], parent: node, name, index: i });
}
