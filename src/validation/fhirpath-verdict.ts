/**
 * FHIRPath invariants as generated JavaScript predicates that only say "holds": the fast path in
 * front of fhirpath-compile.ts, as schema-verdict.ts is in front of ajv.
 *
 * `compileFhirPathVerdict(expression)` returns a function that is true only when the compiled
 * expression (fhirpath-compile.ts) evaluates to `[true]` without an error. It may be false where
 * the expression holds (it gives up on anything it does not follow exactly: a null in a list, an
 * equality between paths holding lists or objects); the caller then evaluates the
 * expression fully, which also says why it fails. test/validation/fhirpath-verdict.test.ts holds
 * the two to the same verdict on every invariant over every example and on generated resources.
 *
 * Why: the compiled closures build a list at every step (`item.where(…).item.answer`) and the
 * DIALOG response's invariants walk every item; here each path is a set of nested loops that
 * counts or stops at the first match, and nothing is allocated.
 *
 * The subset: paths from the context, `$this` or `%resource` through members (arrays flatten,
 * choice elements resolve by type suffix as in fhirpath-compile), `member.ofType(T)`,
 * `where(criteria)`; on a path `exists()`, `exists(criteria)`, `all(criteria)`, `empty()`,
 * `count()` compared with a number, `= / !=` with a literal or with another path; `and`, `or`,
 * `implies`, `not()`, boolean literals. Anything else: undefined (no fast path).
 */
import fhirpath from 'fhirpath';
import { CHOICE_BASES, choiceValue, unquote } from './fhirpath-compile';

export type FhirPathVerdict = (resource: unknown, context?: unknown) => boolean;

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

class Unsupported extends Error {}

type Step =
  | { readonly kind: 'member'; readonly name: string; readonly choice: boolean }
  | { readonly kind: 'typed'; readonly property: string }
  | { readonly kind: 'where'; readonly criteria: AstNode };

interface Path {
  readonly from: 'context' | 'resource';
  readonly steps: readonly Step[];
}

/** Thrown inside generated code where it gives up; the wrapper turns it into false. */
const GIVE_UP = Symbol('give up');

export function compileFhirPathVerdict(expression: string): FhirPathVerdict | undefined {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(expression) as AstNode;
  } catch {
    return undefined;
  }
  try {
    return new Generator().build(ast);
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

function kids(node: AstNode): AstNode[] {
  return node.children ?? [];
}

function only(node: AstNode, index = 0): AstNode {
  const found = kids(node)[index];
  if (!found) throw new Unsupported(`malformed ${node.type}`);
  return found;
}

function identifier(node: AstNode): string {
  const text = node.text ?? '';
  return text.startsWith('`') ? text.slice(1, -1) : text;
}

/** The expression inside EntireExpression / TermExpression(ParenthesizedTerm) wrappers. */
function unwrap(node: AstNode): AstNode {
  let current = node;
  for (;;) {
    if (current.type === 'EntireExpression') current = only(current);
    else if (current.type === 'TermExpression' && only(current).type === 'ParenthesizedTerm')
      current = only(only(current));
    else return current;
  }
}

/** A function call at the end of an InvocationExpression: its name and parameters. */
function call(node: AstNode): { base: AstNode; name: string; params: AstNode[] } | undefined {
  if (node.type !== 'InvocationExpression') return undefined;
  const invocation = only(node, 1);
  if (invocation.type !== 'FunctionInvocation') return undefined;
  const functn = only(invocation);
  const paramList = kids(functn)[1];
  return {
    base: only(node),
    name: identifier(only(functn)),
    params: paramList ? kids(paramList) : [],
  };
}

/** The path `node` denotes, or undefined when it is not a path of the subset. */
function pathOf(node: AstNode): Path | undefined {
  const n = unwrap(node);
  if (n.type === 'TermExpression') {
    const term = only(n);
    if (term.type === 'ExternalConstantTerm') {
      return term.text === 'resource' || term.text === 'rootResource'
        ? { from: 'resource', steps: [] }
        : undefined;
    }
    if (term.type !== 'InvocationTerm') return undefined;
    const invocation = only(term);
    if (invocation.type === 'ThisInvocation') return { from: 'context', steps: [] };
    if (invocation.type !== 'MemberInvocation') return undefined;
    const name = identifier(only(invocation));
    // A capital names the context's type (`Patient.name`): left to fhirpath-compile.
    if (/^[A-Z]/.test(name)) return undefined;
    return { from: 'context', steps: [memberStep(name)] };
  }
  if (n.type !== 'InvocationExpression') return undefined;
  const last = only(n, 1);
  if (last.type === 'MemberInvocation') {
    const base = pathOf(only(n));
    return base && { from: base.from, steps: [...base.steps, memberStep(identifier(only(last)))] };
  }
  const fn = call(n);
  if (fn?.name === 'where' && fn.params.length === 1) {
    const base = pathOf(fn.base);
    return (
      base && {
        from: base.from,
        steps: [...base.steps, { kind: 'where', criteria: fn.params[0] as AstNode }],
      }
    );
  }
  if (fn?.name === 'ofType' && fn.params.length === 1) {
    // Only `member.ofType(T)`, which reads the property `memberT` (as fhirpath-compile does).
    const base = pathOf(fn.base);
    const type = fn.params[0]?.text ?? '';
    const lastStep = base?.steps[base.steps.length - 1];
    if (!base || lastStep?.kind !== 'member' || !/^[A-Za-z]+$/.test(type)) return undefined;
    const property = lastStep.name + type.charAt(0).toUpperCase() + type.slice(1);
    return { from: base.from, steps: [...base.steps.slice(0, -1), { kind: 'typed', property }] };
  }
  return undefined;
}

function memberStep(name: string): Step {
  return { kind: 'member', name, choice: CHOICE_BASES.has(name) };
}

type Literal = string | number | boolean;

function literalOf(node: AstNode): Literal | undefined {
  const n = unwrap(node);
  if (n.type !== 'TermExpression' || only(n).type !== 'LiteralTerm') return undefined;
  const literal = only(only(n));
  const text = literal.text ?? '';
  switch (literal.type) {
    case 'StringLiteral':
      return unquote(text);
    case 'NumberLiteral':
      return Number(text);
    case 'BooleanLiteral':
      return text === 'true';
    default:
      return undefined;
  }
}

/** `path.count()`: the path counted. */
function countOf(node: AstNode): Path | undefined {
  const fn = call(unwrap(node));
  return fn?.name === 'count' && fn.params.length === 0 ? pathOf(fn.base) : undefined;
}

const COMPARE: Record<string, string> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

/**
 * Each boolean node becomes a function `(c, r) => 0 | 1 | 2` (false, true, empty) of the
 * context item and the resource; paths are loops inlined in them.
 */
class Generator {
  private readonly functions: string[] = [];
  private vars = 0;

  build(ast: AstNode): FhirPathVerdict {
    const entry = this.boolean(ast);
    const source = `${this.functions.join('\n')}\nreturn function verdict(r,c){try{return ${entry}(c===undefined||c===null?r:c,r)===1;}catch(e){if(e===G)return false;throw e;}};`;
    const factory = new Function('H', 'G', source) as (...args: unknown[]) => FhirPathVerdict;
    return factory(choiceValue, GIVE_UP);
  }

  private variable(): string {
    return `v${this.vars++}`;
  }

  /** The name of the generated function for a boolean node. */
  private boolean(node: AstNode): string {
    const n = unwrap(node);
    const slot = this.functions.length;
    this.functions.push('');
    const body = this.booleanBody(n);
    const name = `b${slot}`;
    this.functions[slot] = `function ${name}(c,r){${body}}`;
    return name;
  }

  private booleanBody(n: AstNode): string {
    switch (n.type) {
      case 'AndExpression':
      case 'OrExpression':
      case 'ImpliesExpression':
        return this.logical(n);
      case 'EqualityExpression':
        return this.equality(n);
      case 'InequalityExpression':
        return this.inequality(n);
      default:
        break;
    }
    const literal = literalOf(n);
    if (typeof literal === 'boolean') return `return ${literal ? 1 : 0};`;
    const fn = call(n);
    if (fn) {
      const path = pathOf(fn.base);
      if (fn.name === 'not' && fn.params.length === 0) {
        const operand = this.boolean(fn.base);
        return `const a=${operand}(c,r);return a===2?2:1-a;`;
      }
      if (path && fn.name === 'exists' && fn.params.length === 0)
        return `${this.visit(path, () => 'return 1;')}return 0;`;
      if (path && fn.name === 'empty' && fn.params.length === 0)
        return `${this.visit(path, () => 'return 0;')}return 1;`;
      if (path && (fn.name === 'exists' || fn.name === 'all') && fn.params.length === 1) {
        const criteria = this.boolean(fn.params[0] as AstNode);
        return fn.name === 'exists'
          ? `${this.visit(path, (z) => `if(${criteria}(${z},r)===1)return 1;`)}return 0;`
          : `${this.visit(path, (z) => `if(${criteria}(${z},r)!==1)return 0;`)}return 1;`;
      }
    }
    // A path read as one boolean is left out: a list there is an error in fhirpath-compile, and
    // the loops here stop early, before every item is seen, so they could miss that error.
    throw new Unsupported(`unsupported ${n.type}`);
  }

  private logical(n: AstNode): string {
    const left = this.boolean(only(n, 0));
    const right = this.boolean(only(n, 1));
    const a = `const a=${left}(c,r);`;
    const b = `const b=${right}(c,r);`;
    if (n.type === 'AndExpression')
      return `${a}if(a===0)return 0;${b}if(b===0)return 0;return a===1&&b===1?1:2;`;
    if (n.type === 'ImpliesExpression')
      return `${a}if(a===0)return 1;${b}if(b===1)return 1;return a===1?b:2;`;
    if (n.text !== 'or') throw new Unsupported(`unsupported ${n.text ?? ''}`);
    return `${a}if(a===1)return 1;${b}if(b===1)return 1;return a===0&&b===0?0:2;`;
  }

  private equality(n: AstNode): string {
    const negate = n.text === '!=';
    if (n.text !== '=' && !negate) throw new Unsupported(`unsupported ${n.text ?? ''}`);
    const [yes, no] = negate ? [0, 1] : [1, 0];
    const left = only(n, 0);
    const right = only(n, 1);
    // count() against a number.
    const counted = countOf(left) ?? countOf(right);
    const number = literalOf(countOf(left) ? right : left);
    if (counted && typeof number === 'number') {
      const count = this.variable();
      return `let ${count}=0;${this.visit(counted, () => `${count}++;`)}return ${count}===${number}?${yes}:${no};`;
    }
    const leftPath = pathOf(left);
    const rightPath = pathOf(right);
    const literal = literalOf(leftPath ? right : left);
    const path = leftPath ?? rightPath;
    if (path && literal !== undefined && !(leftPath && rightPath)) {
      // A list of more than one is never equal to one literal.
      const count = this.variable();
      const value = this.variable();
      return `let ${count}=0,${value};${this.visit(path, (z) => `if(++${count}>1)return ${no};${value}=${z};`)}if(${count}===0)return 2;return ${value}===${JSON.stringify(literal)}?${yes}:${no};`;
    }
    if (leftPath && rightPath) {
      // One primitive each side; lists and objects are given up (compared by deep equality).
      const [n1, v1, n2, v2] = [this.variable(), this.variable(), this.variable(), this.variable()];
      const collect = (count: string, value: string) => (z: string) =>
        `if(++${count}>1||(${z}!==null&&typeof ${z}==="object"))throw G;${value}=${z};`;
      return `let ${n1}=0,${v1},${n2}=0,${v2};${this.visit(leftPath, collect(n1, v1))}${this.visit(rightPath, collect(n2, v2))}if(${n1}===0||${n2}===0)return 2;return ${v1}===${v2}?${yes}:${no};`;
    }
    throw new Unsupported('unsupported equality');
  }

  private inequality(n: AstNode): string {
    const operator = COMPARE[n.text ?? ''];
    if (!operator) throw new Unsupported(`unsupported ${n.text ?? ''}`);
    const counted = countOf(only(n, 0));
    const number = literalOf(only(n, 1));
    if (!counted || typeof number !== 'number')
      throw new Unsupported('only path.count() compared with a number');
    const count = this.variable();
    return `let ${count}=0;${this.visit(counted, () => `${count}++;`)}return ${count}${operator}${number}?1:0;`;
  }

  /** Statements running `body(item)` for each item the path reaches, in order. */
  private visit(path: Path, body: (item: string) => string): string {
    return this.steps(path.from === 'resource' ? 'r' : 'c', path.steps, 0, body);
  }

  private steps(
    item: string,
    steps: readonly Step[],
    index: number,
    body: (item: string) => string,
  ): string {
    const step = steps[index];
    if (!step) return body(item);
    if (step.kind === 'where') {
      const criteria = this.boolean(step.criteria);
      return `if(${criteria}(${item},r)===1){${this.steps(item, steps, index + 1, body)}}`;
    }
    const [o, isArray, length, i, z] = [
      this.variable(),
      this.variable(),
      this.variable(),
      this.variable(),
      this.variable(),
    ];
    let read: string;
    if (step.kind === 'typed') {
      read = `const ${o}=${item}[${JSON.stringify(step.property)}];`;
    } else {
      const key = JSON.stringify(step.name);
      const extensionsOnly = JSON.stringify(`_${step.name}`);
      read = step.choice
        ? `let ${o}=${item}[${key}];if(${o}===undefined){${o}=H(${item},${key});if(${o}===undefined||${o}===null)${o}=${item}[${extensionsOnly}];}`
        : `let ${o}=${item}[${key}];if(${o}===undefined)${o}=${item}[${extensionsOnly}];`;
    }
    const inner = this.steps(z, steps, index + 1, body);
    // A null inside a list is given up: the compiled evaluator's steps differ on it.
    return `if(${item}!==null&&typeof ${item}==="object"&&!Array.isArray(${item})){${read}if(${o}!==undefined&&${o}!==null){const ${isArray}=Array.isArray(${o});const ${length}=${isArray}?${o}.length:1;for(let ${i}=0;${i}<${length};${i}++){const ${z}=${isArray}?${o}[${i}]:${o};if(${z}===null)throw G;${inner}}}}`;
  }
}
