/**
 * Compiles FHIRPath invariants to plain JavaScript closures over parsed FHIR JSON.
 *
 * Why: fhirpath.js evaluates a DIALOG invariant in 10–140 µs (it wraps every node with type
 * information); validation must cost less than JSON.parse of the same resource. Profile
 * invariants use a small part of FHIRPath, so that part is compiled here, once, from the AST
 * fhirpath.js itself parses. Anything outside it throws `UnsupportedFhirPath` at compile time and
 * the caller evaluates that expression with fhirpath.js instead. test/validation/fhirpath-compile
 * checks both evaluators agree on every example and on generated resources.
 *
 * Collections are arrays of JSON values. Choice elements (`value` → `valueQuantity`) resolve by
 * the FHIR type suffix; `x.ofType(T)` on a member resolves to the property `xT`.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';

export type FhirPathCollection = unknown[];
export type CompiledFhirPath = (resource: unknown, context?: unknown) => FhirPathCollection;

export class UnsupportedFhirPath extends Error {}

// Shared results: compiled expressions never mutate a collection they are given or return.
const TRUE: FhirPathCollection = [true];
const FALSE: FhirPathCollection = [false];
const EMPTY: FhirPathCollection = [];
const bool = (value: boolean): FhirPathCollection => (value ? TRUE : FALSE);

/** Thrown at evaluation where FHIRPath itself makes the expression an error (e.g. `<` on a list). */
export class FhirPathEvaluationError extends Error {}

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

interface Env {
  resource: unknown;
}

type Fn = (input: FhirPathCollection, env: Env) => FhirPathCollection;

const FHIR_TYPE_SUFFIXES = new Set(
  (
    'Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid ' +
    'PositiveInt String Time UnsignedInt Uri Url Uuid Address Age Annotation Attachment ' +
    'CodeableConcept Coding ContactPoint Count Distance Duration HumanName Identifier Money ' +
    'Period Quantity Range Ratio Reference SampledData Signature Timing ContactDetail ' +
    'Contributor DataRequirement Expression ParameterDefinition RelatedArtifact TriggerDefinition ' +
    'UsageContext Dosage Meta'
  ).split(' '),
);

export function compileFhirPath(expression: string): CompiledFhirPath {
  const ast = fhirpath.parse(expression) as AstNode;
  const fn = compileNode(ast);
  return (resource, context) => fn([context ?? resource], { resource });
}

function kids(node: AstNode): AstNode[] {
  return node.children ?? [];
}

function child(node: AstNode, index: number): AstNode {
  const found = kids(node)[index];
  if (!found) throw new UnsupportedFhirPath(`malformed ${node.type}`);
  return found;
}

function compileNode(node: AstNode): Fn {
  const compiler = COMPILERS[node.type];
  if (!compiler) throw new UnsupportedFhirPath(`unsupported ${node.type}`);
  return compiler(node);
}

const COMPILERS: Record<string, (node: AstNode) => Fn> = {
  EntireExpression: (n) => compileNode(child(n, 0)),
  TermExpression: (n) => compileNode(child(n, 0)),
  InvocationTerm: (n) =>
    compileLeadingType(child(n, 0)) ?? compileInvocation(child(n, 0), (input) => input),
  ParenthesizedTerm: (n) => compileNode(child(n, 0)),
  LiteralTerm: (n) => compileLiteral(child(n, 0)),
  ExternalConstantTerm: (n) => compileExternal(n),
  InvocationExpression: (n) => compileInvocation(child(n, 1), compileNode(child(n, 0))),
  IndexerExpression: (n) => compileIndexer(n),
  PolarityExpression: (n) => compilePolarity(n),
  AdditiveExpression: (n) => compileArithmetic(n),
  UnionExpression: (n) => binary(n, (a, b) => union(a, b)),
  EqualityExpression: (n) => compileEquality(n),
  InequalityExpression: (n) => compileInequality(n),
  MembershipExpression: (n) => compileMembership(n),
  AndExpression: (n) => logical(n, and3),
  OrExpression: (n) => logical(n, n.text === 'xor' ? xor3 : or3),
  ImpliesExpression: (n) => logical(n, implies3),
};

function compileLiteral(node: AstNode): Fn {
  const text = node.text ?? '';
  let value: FhirPathCollection;
  switch (node.type) {
    case 'NullLiteral':
      value = [];
      break;
    case 'BooleanLiteral':
      value = [text === 'true'];
      break;
    case 'StringLiteral':
      value = [unquote(text)];
      break;
    case 'NumberLiteral':
      value = [Number(text)];
      break;
    default:
      throw new UnsupportedFhirPath(`unsupported literal ${node.type}`);
  }
  return () => value;
}

/** A FHIRPath string literal's value (shared with fhirpath-verdict.ts). */
export function unquote(text: string): string {
  return text
    .slice(1, -1)
    .replace(
      /\\(['"`\\/fnrt])/g,
      (_m, c: string) => ({ f: '\f', n: '\n', r: '\r', t: '\t' })[c] ?? c,
    );
}

function compileExternal(node: AstNode): Fn {
  const name = node.text;
  if (name === 'resource' || name === 'rootResource') return (_input, env) => [env.resource];
  throw new UnsupportedFhirPath(`unsupported constant %${name}`);
}

/**
 * A path that starts with a type name (`Appointment.status`) starts from the context when it
 * is of that type: in FHIR, element names start lower case, so a capital names a type.
 */
function compileLeadingType(invocation: AstNode): Fn | undefined {
  if (invocation.type !== 'MemberInvocation') return undefined;
  const name = identifier(child(invocation, 0));
  if (!/^[A-Z]/.test(name)) return undefined;
  return (items) =>
    items.filter((i) => (i as { resourceType?: unknown } | null)?.resourceType === name);
}

function compileInvocation(invocation: AstNode, input: Fn): Fn {
  switch (invocation.type) {
    case 'MemberInvocation': {
      const name = identifier(child(invocation, 0));
      const key = memberKey(name);
      return (items, env) => member(input(items, env), key);
    }
    case 'ThisInvocation':
      return input;
    case 'FunctionInvocation':
      return compileFunction(child(invocation, 0), input);
    default:
      throw new UnsupportedFhirPath(`unsupported ${invocation.type}`);
  }
}

function identifier(node: AstNode): string {
  const text = node.text ?? '';
  return text.startsWith('`') ? text.slice(1, -1) : text;
}

/** Child values of every item; arrays flatten; choice elements resolve by type suffix. */
/** A member name with what its lookups need, worked out once at compile time. */
interface MemberKey {
  readonly name: string;
  /** `_name`: a primitive given only by its extensions. */
  readonly extensionsOnly: string;
  /** Whether `name` is a choice element somewhere in R4 (`value` → `valueQuantity`). */
  readonly choice: boolean;
}

export const CHOICE_BASES: ReadonlySet<string> = new Set(
  Object.keys(r4.choiceTypePaths as Record<string, unknown>).map((path) =>
    path.slice(path.lastIndexOf('.') + 1),
  ),
);

function memberKey(name: string): MemberKey {
  return { name, extensionsOnly: `_${name}`, choice: CHOICE_BASES.has(name) };
}

function member(items: FhirPathCollection, key: MemberKey): FhirPathCollection {
  if (items.length === 1) return memberOfOne(items[0], key);
  const out: unknown[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    const record = item as Record<string, unknown>;
    const value = valueOf(record, key);
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const v of value) if (v !== null && v !== undefined) out.push(v);
    } else out.push(value);
  }
  return out;
}

/** The common case, one item in: returns its list as is (never copied; never mutated). */
function memberOfOne(item: unknown, key: MemberKey): FhirPathCollection {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return EMPTY;
  const value = valueOf(item as Record<string, unknown>, key);
  if (value === undefined || value === null) return EMPTY;
  if (!Array.isArray(value)) return [value];
  return value.includes(null) ? value.filter((v) => v !== null) : value;
}

/**
 * The property's value; else a choice element's (`value` → `valueQuantity`); else a primitive
 * given only by its extensions (`_valueString`), which FHIRPath sees as a value without a value.
 */
function valueOf(record: Record<string, unknown>, key: MemberKey): unknown {
  const value = record[key.name];
  if (value !== undefined) return value;
  return (key.choice ? choiceValue(record, key.name) : undefined) ?? record[key.extensionsOnly];
}

/** A choice element's value (`value` → `valueQuantity`), or undefined. */
export function choiceValue(record: Record<string, unknown>, name: string): unknown {
  for (const key in record) {
    const base = key.startsWith('_') ? key.slice(1) : key;
    if (
      base.length > name.length &&
      base.startsWith(name) &&
      FHIR_TYPE_SUFFIXES.has(base.slice(name.length))
    ) {
      return record[key];
    }
  }
  return undefined;
}

type FunctionCompiler = (input: Fn, params: AstNode[], fnName: string) => Fn;

function compileFunction(functn: AstNode, input: Fn): Fn {
  const name = identifier(child(functn, 0));
  const paramList = kids(functn)[1];
  const params = paramList ? kids(paramList) : [];
  // Own keys only: `toString` or `constructor` must not find Object.prototype's.
  const compiler = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
  if (!compiler) throw new UnsupportedFhirPath(`unsupported function ${name}()`);
  return compiler(input, params, name);
}

function noParams(fn: (items: FhirPathCollection) => FhirPathCollection): FunctionCompiler {
  return (input, params, name) => {
    if (params.length > 0) throw new UnsupportedFhirPath(`${name}() takes no arguments`);
    return (items, env) => fn(input(items, env));
  };
}

type Quantifier = 'where' | 'all' | 'exists';

/**
 * where / all / exists(criteria): the criteria is evaluated per item with $this bound to it.
 * The one-item input is a scratch list reused per call: criteria results are read at once and
 * never kept (a compiled node is not re-entered while it runs).
 */
function perItem(kind: Quantifier): FunctionCompiler {
  return (input, params, name) => {
    const [criteria] = params;
    if (!criteria || params.length > 1)
      throw new UnsupportedFhirPath(`${name}() needs one argument`);
    const test = compileNode(criteria);
    return (items, env) => {
      const source = input(items, env);
      const one: unknown[] = [undefined];
      let kept: unknown[] | undefined;
      for (let i = 0; i < source.length; i++) {
        one[0] = source[i];
        const passed = toBoolean(test(one, env)) === true;
        if (kind === 'exists' && passed) return TRUE;
        if (kind === 'all' && !passed) return FALSE;
        if (kind === 'where' && passed) (kept ??= []).push(source[i]);
      }
      if (kind === 'where') return kept ?? EMPTY;
      return kind === 'all' ? TRUE : FALSE;
    };
  };
}

const FUNCTIONS: Record<string, FunctionCompiler> = {
  exists: (input, params, name) => {
    if (params.length === 0) return (items, env) => bool(input(items, env).length > 0);
    return perItem('exists')(input, params, name);
  },
  empty: noParams((items) => bool(items.length === 0)),
  count: noParams((items) => [items.length]),
  first: noParams((items) => items.slice(0, 1)),
  last: noParams((items) => items.slice(-1)),
  not: noParams((items) => {
    const value = toBoolean(items);
    return value === undefined ? EMPTY : bool(!value);
  }),
  hasValue: noParams((items) => [items.length === 1 && isPrimitive(items[0])]),
  distinct: noParams((items) => union(items, [])),
  repeat: (input, params) => {
    const [projection] = params;
    if (!projection || params.length > 1)
      throw new UnsupportedFhirPath('repeat() needs one argument');
    const project = compileNode(projection);
    return (items, env) => {
      const out: unknown[] = [];
      let frontier = input(items, env);
      while (frontier.length > 0) {
        frontier = frontier.flatMap((item) => project([item], env)).filter((v) => !out.includes(v));
        out.push(...frontier);
      }
      return out;
    };
  },
  where: perItem('where'),
  all: perItem('all'),
  select: (input, params) => {
    const [projection] = params;
    if (!projection || params.length > 1)
      throw new UnsupportedFhirPath('select() needs one argument');
    const project = compileNode(projection);
    return (items, env) => input(items, env).flatMap((item) => project([item], env));
  },
  iif: (input, params) => {
    const [condition, whenTrue, whenFalse] = params.map(compileNode);
    if (!condition || !whenTrue || params.length > 3)
      throw new UnsupportedFhirPath('iif() arguments');
    return (items, env) => {
      const context = input(items, env);
      if (toBoolean(condition(context, env)) === true) return whenTrue(context, env);
      return whenFalse ? whenFalse(context, env) : [];
    };
  },
  endsWith: stringTest((s, arg) => s.endsWith(arg)),
  startsWith: stringTest((s, arg) => s.startsWith(arg)),
  contains: stringTest((s, arg) => s.includes(arg)),
  matches: stringTest((s, arg) => new RegExp(arg, 'su').test(s)),
  length: noParams((items) => {
    const s = singleton(items);
    return typeof s === 'string' ? [s.length] : [];
  }),
  // Primitives as JSON holds them: a string (dates and times too), a number or a boolean.
  toString: noParams((items) => {
    const s = singleton(items);
    return typeof s === 'string' || typeof s === 'number' || typeof s === 'boolean'
      ? [String(s)]
      : [];
  }),
  toInteger: noParams((items) => {
    const s = singleton(items);
    if (typeof s === 'number' && Number.isInteger(s)) return [s];
    if (typeof s === 'string' && /^[+-]?\d+$/.test(s)) return [Number(s)];
    if (typeof s === 'boolean') return [s ? 1 : 0];
    return [];
  }),
  intersect: (input, params) => {
    const [other] = params;
    if (!other || params.length > 1)
      throw new UnsupportedFhirPath('intersect() needs one argument');
    const right = compileNode(other);
    return (items, env) => {
      const theirs = new Set(right(items, env).map(keyOf));
      return union(
        input(items, env).filter((v) => theirs.has(keyOf(v))),
        EMPTY,
      );
    };
  },
  ofType: typed,
  as: typed,
};

function stringTest(test: (s: string, arg: string) => boolean): FunctionCompiler {
  return (input, params, name) => {
    const [argument] = params;
    if (!argument || params.length > 1)
      throw new UnsupportedFhirPath(`${name}() needs one argument`);
    const arg = compileNode(argument);
    return (items, env) => {
      const s = singleton(input(items, env));
      const a = singleton(arg(items, env));
      if (s === undefined || a === undefined) return [];
      if (typeof s !== 'string' || typeof a !== 'string') {
        throw new FhirPathEvaluationError(`${name}() applies to strings`);
      }
      return [test(s, a)];
    };
  };
}

/**
 * `member.ofType(T)` reads the choice property `memberT` directly: in FHIR JSON the type of a
 * choice element is spelled in its property name. Other uses need type information the JSON does
 * not carry, so they are left to fhirpath.js.
 */
function typed(input: Fn, params: AstNode[], name: string): Fn {
  void input;
  void params;
  throw new UnsupportedFhirPath(`${name}() outside member.${name}(Type)`);
}

function compileTypedMember(node: AstNode): Fn | undefined {
  if (node.type !== 'InvocationExpression') return undefined;
  const fnInvocation = child(node, 1);
  if (fnInvocation.type !== 'FunctionInvocation') return undefined;
  const functn = child(fnInvocation, 0);
  const fnName = identifier(child(functn, 0));
  if (fnName !== 'ofType' && fnName !== 'as') return undefined;
  const target = child(node, 0);
  const memberNode =
    target.type === 'InvocationExpression' ? child(target, 1) : firstInvocation(target);
  if (!memberNode || memberNode.type !== 'MemberInvocation') return undefined;
  const typeName = typeArgument(functn);
  const property =
    identifier(child(memberNode, 0)) + typeName.charAt(0).toUpperCase() + typeName.slice(1);
  const base: Fn =
    target.type === 'InvocationExpression' ? compileNode(child(target, 0)) : (items) => items;
  return (items, env) => directMember(base(items, env), property);
}

function firstInvocation(term: AstNode): AstNode | undefined {
  if (term.type !== 'TermExpression') return undefined;
  const invocationTerm = kids(term)[0];
  return invocationTerm?.type === 'InvocationTerm' ? kids(invocationTerm)[0] : undefined;
}

function typeArgument(functn: AstNode): string {
  const params = kids(kids(functn)[1] ?? { type: 'none' });
  const text = params.length === 1 ? (params[0]?.text ?? '') : '';
  if (!/^[A-Za-z]+$/.test(text)) throw new UnsupportedFhirPath('ofType() needs a type name');
  return text;
}

function directMember(items: FhirPathCollection, property: string): FhirPathCollection {
  const out: unknown[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    const value = (item as Record<string, unknown>)[property];
    if (Array.isArray(value)) out.push(...value);
    else if (value !== undefined && value !== null) out.push(value);
  }
  return out;
}

// Typed member access and `path.exists()` are shapes of InvocationExpression: try them before
// the generic rule.
const genericInvocation = COMPILERS.InvocationExpression as (n: AstNode) => Fn;
COMPILERS.InvocationExpression = (n) =>
  compileExistsPath(n) ?? compileTypedMember(n) ?? genericInvocation(n);

interface Step {
  readonly property: string;
  readonly key: MemberKey;
  /** A typed member (`value.ofType(Coding)` → `valueCoding`): no choice resolution. */
  readonly direct: boolean;
}

/**
 * `a.b.c.exists()` searches depth-first and stops at the first value, instead of building every
 * list along the path (the DIALOG invariants ask this of every item of a response).
 */
function compileExistsPath(node: AstNode): Fn | undefined {
  const invocation = child(node, 1);
  if (invocation.type !== 'FunctionInvocation') return undefined;
  const functn = child(invocation, 0);
  if (identifier(child(functn, 0)) !== 'exists' || kids(functn).length > 1) return undefined;
  const steps: Step[] = [];
  let rest: AstNode | undefined = child(node, 0);
  for (let peeled = rest && peelStep(rest); peeled; peeled = rest && peelStep(rest)) {
    steps.unshift(peeled.step);
    rest = peeled.rest;
  }
  if (steps.length < 2) return undefined;
  const base: Fn = rest ? compileNode(rest) : (items) => items;
  return (items, env) => bool(base(items, env).some((item) => existsAlong(item, steps, 0)));
}

/**
 * The member (or typed member) a path ends with, and the path before it (undefined when the
 * member starts the path).
 */
function peelStep(node: AstNode): { step: Step; rest: AstNode | undefined } | undefined {
  const last = node.type === 'InvocationExpression' ? child(node, 1) : firstInvocation(node);
  const before = node.type === 'InvocationExpression' ? child(node, 0) : undefined;
  if (last?.type === 'MemberInvocation') {
    const property = identifier(child(last, 0));
    // A capital at the start names the context's type, not a property (compileLeadingType).
    if (!before && /^[A-Z]/.test(property)) return undefined;
    return { step: { property, key: memberKey(property), direct: false }, rest: before };
  }
  if (last?.type !== 'FunctionInvocation' || !before) return undefined;
  const functn = child(last, 0);
  if (identifier(child(functn, 0)) !== 'ofType') return undefined;
  const memberNode =
    before.type === 'InvocationExpression' ? child(before, 1) : firstInvocation(before);
  if (memberNode?.type !== 'MemberInvocation') return undefined;
  const type = typeArgument(functn);
  const property = identifier(child(memberNode, 0)) + type.charAt(0).toUpperCase() + type.slice(1);
  return {
    step: { property, key: memberKey(property), direct: true },
    rest: before.type === 'InvocationExpression' ? child(before, 0) : undefined,
  };
}

function existsAlong(item: unknown, steps: readonly Step[], depth: number): boolean {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return false;
  const step = steps[depth] as Step;
  const record = item as Record<string, unknown>;
  const value = step.direct ? record[step.property] : valueOf(record, step.key);
  if (value === undefined || value === null) return false;
  const last = depth === steps.length - 1;
  if (!Array.isArray(value)) return last || existsAlong(value, steps, depth + 1);
  for (const v of value) if (v !== null && (last || existsAlong(v, steps, depth + 1))) return true;
  return false;
}

function compileIndexer(node: AstNode): Fn {
  const base = compileNode(child(node, 0));
  const index = compileNode(child(node, 1));
  return (items, env) => {
    const i = singleton(index(items, env));
    if (typeof i !== 'number') return [];
    const source = base(items, env);
    return i >= 0 && i < source.length ? [source[i]] : [];
  };
}

function compilePolarity(node: AstNode): Fn {
  const operand = compileNode(child(node, 0));
  const negate = node.text === '-';
  return (items, env) => {
    const value = singleton(operand(items, env));
    if (value === undefined) return [];
    if (typeof value !== 'number') throw new FhirPathEvaluationError('polarity applies to numbers');
    return [negate ? -value : value];
  };
}

function binary(
  node: AstNode,
  op: (a: FhirPathCollection, b: FhirPathCollection) => FhirPathCollection,
): Fn {
  const left = compileNode(child(node, 0));
  const right = compileNode(child(node, 1));
  return (items, env) => op(left(items, env), right(items, env));
}

function compileArithmetic(node: AstNode): Fn {
  const operator = node.text;
  if (operator !== '+' && operator !== '-' && operator !== '&') {
    throw new UnsupportedFhirPath(`unsupported operator ${operator}`);
  }
  return binary(node, (a, b) => {
    if (operator === '&') return [String(singleton(a) ?? '') + String(singleton(b) ?? '')];
    const x = singleton(a);
    const y = singleton(b);
    if (x === undefined || y === undefined) return [];
    if (operator === '+' && typeof x === 'string' && typeof y === 'string') return [x + y];
    if (typeof x !== 'number' || typeof y !== 'number') {
      throw new FhirPathEvaluationError(`${operator} applies to numbers`);
    }
    return [decimalArithmetic(x, y, operator)];
  });
}

/** Keeps decimal results exact to the operands' precision (4.1 − 3.2 is 0.9, not 0.8999…). */
function decimalArithmetic(x: number, y: number, operator: '+' | '-'): number {
  const places = Math.max(decimalPlaces(x), decimalPlaces(y));
  const result = operator === '+' ? x + y : x - y;
  return Number(result.toFixed(places));
}

function decimalPlaces(n: number): number {
  const text = String(n);
  const dot = text.indexOf('.');
  return dot < 0 || text.includes('e') ? 0 : text.length - dot - 1;
}

function compileEquality(node: AstNode): Fn {
  const operator = node.text;
  if (operator !== '=' && operator !== '!=')
    throw new UnsupportedFhirPath(`unsupported operator ${operator}`);
  return binary(node, (a, b) => {
    if (a.length === 0 || b.length === 0) return [];
    const equal = a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
    return [operator === '=' ? equal : !equal];
  });
}

function compileInequality(node: AstNode): Fn {
  const operator = node.text ?? '';
  const compare = {
    '<': (c: number) => c < 0,
    '<=': (c: number) => c <= 0,
    '>': (c: number) => c > 0,
    '>=': (c: number) => c >= 0,
  }[operator];
  if (!compare) throw new UnsupportedFhirPath(`unsupported operator ${operator}`);
  return binary(node, (a, b) => {
    const x = singleton(a);
    const y = singleton(b);
    if (x === undefined || y === undefined) return [];
    if (typeof x === 'number' && typeof y === 'number') return [compare(x - y)];
    if (typeof x === 'string' && typeof y === 'string') {
      const order = compareStrings(x, y);
      return order === undefined ? EMPTY : [compare(order)];
    }
    throw new FhirPathEvaluationError(`cannot compare ${typeof x} with ${typeof y}`);
  });
}

const DATE_TIME = /^(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * FHIRPath compares dates as dates: instants with offsets by the moment they name, and values
 * of different precision not at all (empty). Other strings compare as strings.
 */
function compareStrings(x: string, y: string): number | undefined {
  const a = DATE_TIME.exec(x);
  const b = DATE_TIME.exec(y);
  if (!a || !b) return x < y ? -1 : x > y ? 1 : 0;
  if (precision(a) !== precision(b)) return undefined;
  const zoned = a[7] !== undefined && b[7] !== undefined;
  if (zoned) return Date.parse(x) - Date.parse(y);
  if ((a[7] === undefined) !== (b[7] === undefined) && a[4] !== undefined) return undefined;
  return x < y ? -1 : x > y ? 1 : 0;
}

function precision(match: RegExpExecArray): number {
  return [match[2], match[3], match[4], match[5]].filter((part) => part !== undefined).length;
}

function compileMembership(node: AstNode): Fn {
  const containment = node.text === 'contains';
  return binary(node, (a, b) => {
    const [element, collection] = containment ? [b, a] : [a, b];
    if (element.length === 0) return [];
    const value = singleton(element);
    return [collection.some((c) => deepEqual(c, value))];
  });
}

type Logic = (a: boolean | undefined, b: () => boolean | undefined) => boolean | undefined;

function logical(node: AstNode, op: Logic): Fn {
  const left = compileNode(child(node, 0));
  const right = compileNode(child(node, 1));
  return (items, env) => {
    const result = op(toBoolean(left(items, env)), () => toBoolean(right(items, env)));
    return result === undefined ? EMPTY : bool(result);
  };
}

const and3: Logic = (a, b) => {
  if (a === false) return false;
  const r = b();
  if (r === false) return false;
  return a === true && r === true ? true : undefined;
};
const or3: Logic = (a, b) => {
  if (a === true) return true;
  const r = b();
  if (r === true) return true;
  return a === false && r === false ? false : undefined;
};
const xor3: Logic = (a, b) => {
  const r = b();
  return a === undefined || r === undefined ? undefined : a !== r;
};
const implies3: Logic = (a, b) => {
  if (a === false) return true;
  const r = b();
  if (r === true) return true;
  return a === true ? r : undefined;
};

/** FHIRPath singleton evaluation of a collection as a boolean (undefined = empty). */
function toBoolean(items: FhirPathCollection): boolean | undefined {
  if (items.length === 0) return undefined;
  if (items.length > 1) throw new FhirPathEvaluationError('expected a single boolean, got a list');
  const [value] = items;
  return typeof value === 'boolean' ? value : true;
}

function singleton(items: FhirPathCollection): unknown {
  if (items.length > 1) throw new FhirPathEvaluationError('expected a single value, got a list');
  return items[0];
}

function isPrimitive(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** Distinct values of both lists, in order; linear (objects compare by a canonical key). */
function union(a: FhirPathCollection, b: FhirPathCollection): FhirPathCollection {
  const seen = new Set<unknown>();
  const out: unknown[] = [];
  for (const list of [a, b]) {
    for (const v of list) {
      const key = keyOf(v);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(v);
      }
    }
  }
  return out;
}

/** Primitives stand for themselves; objects by JSON with sorted keys (equal iff deepEqual). */
function keyOf(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return `\u0000${JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  )}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}
