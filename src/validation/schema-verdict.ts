/**
 * Compiles the JSON-schema subset our schemas use into JavaScript that only says valid or not:
 * the fast path. ajv stays the reference and the reporter: a resource that fails here is run
 * through ajv to say where and why, and a test holds both to the same verdict on every example
 * and on generated resources.
 *
 * Why not ajv alone: ajv's code builds an error path and a context object at every nested call,
 * and checks every property a type declares (Extension declares 73) instead of the few an object
 * has; on a freshly parsed DIALOG response it costs more than JSON.parse. Here each definition
 * becomes one function whose object check is a `switch` over the keys present, and nothing is
 * allocated. Code is generated (one function per definition) rather than built from closures:
 * a closure shared by every schema sees every object shape and V8 cannot optimise it.
 */
import { ELEMENT_KEYWORD, LOCAL_REFERENCE_KEYWORD, PRIMITIVE_PAIRS_KEYWORD } from './fhir-schema';
import type { LevelRule } from './questionnaire-schema';
import { QUESTIONNAIRE_ITEMS_KEYWORD } from './questionnaire-schema';

export type Verdict = (data: unknown) => boolean;

/**
 * What a verdict saw on its way, besides valid or not: `localReference` is set (never cleared)
 * when a `Reference.reference` starting with `#` was passed (the `fhirLocalReference` keyword),
 * so the validator resolves local references only in the resources that have one. The caller
 * clears it before a verdict; it is reliable only when the verdict says valid (a verdict stops at
 * the first fault). `primitivePairs` likewise, when a repeating primitive's `_x` array or a `null`
 * placeholder was passed (the `fhirPrimitivePairs` keyword): its pairing is checked then.
 */
export interface VerdictSignals {
  localReference: boolean;
  primitivePairs: boolean;
}
type Schema = Record<string, unknown>;

export class UnsupportedSchema extends Error {}

/** Keywords that only annotate, or that are read together with another keyword. */
const IGNORED = new Set([
  'description',
  '$schema',
  '$id',
  'id',
  'title',
  'definitions',
  'then',
  'else',
  'discriminator',
  'additionalProperties',
  'required',
  // Read with `properties` (objectCode), where the loop over the keys counts them.
  ELEMENT_KEYWORD,
]);

const IS_OBJECT = (v: string): string =>
  `(${v}!==null&&typeof ${v}==="object"&&!Array.isArray(${v}))`;

/** `documents`: schemas reachable by `<name>#/definitions/X` refs (e.g. `fhir`). */
export function compileVerdict(
  schema: Schema,
  root: Schema,
  documents: Record<string, Schema>,
  signals: VerdictSignals = { localReference: false, primitivePairs: false },
): Verdict {
  return new Generator(documents).build(schema, root, signals);
}

class Generator {
  private readonly names = new Map<Schema, string>();
  private readonly queue: { schema: Schema; root: Schema; name: string }[] = [];
  private readonly functions: string[] = [];
  private readonly regexps: RegExp[] = [];
  private readonly constants: unknown[] = [];
  private vars = 0;

  constructor(private readonly documents: Record<string, Schema>) {}

  build(schema: Schema, root: Schema, signals: VerdictSignals): Verdict {
    const entry = this.functionFor(schema, root);
    while (this.queue.length > 0) {
      const next = this.queue.shift() as { schema: Schema; root: Schema; name: string };
      const body = this.code(next.schema, next.root, 'd');
      this.functions.push(`function ${next.name}(d){${body}return true;}`);
    }
    const source = `${this.functions.join('\n')}\nreturn ${entry};`;
    const factory = new Function('R', 'C', 'E', 'S', source) as (...args: unknown[]) => Verdict;
    return factory(this.regexps, this.constants, equal, signals);
  }

  /** The name of the generated function for a schema (generated once per schema object). */
  private functionFor(schema: Schema, root: Schema): string {
    let name = this.names.get(schema);
    if (!name) {
      name = `f${this.names.size}`;
      this.names.set(schema, name);
      this.queue.push({ schema, root, name });
    }
    return name;
  }

  private variable(): string {
    return `v${this.vars++}`;
  }

  private resolve(ref: string, root: Schema): { schema: Schema; root: Schema } {
    const hash = ref.indexOf('#');
    const document = hash > 0 ? this.documents[ref.slice(0, hash)] : root;
    const pointer = ref.slice(hash + 1);
    if (!document || !pointer.startsWith('/definitions/'))
      throw new UnsupportedSchema(`unsupported $ref ${ref}`);
    const definitions = document.definitions as Record<string, Schema> | undefined;
    const schema = definitions?.[pointer.slice('/definitions/'.length)];
    if (!schema) throw new UnsupportedSchema(`unresolved $ref ${ref}`);
    return { schema, root: document };
  }

  /** Statements that `return false` when `v` fails `schema`. */
  private code(schema: Schema, root: Schema, v: string): string {
    let out = '';
    const level = this.levelWithItems(schema, root, v);
    for (const [keyword, value] of Object.entries(schema)) {
      if (IGNORED.has(keyword)) continue;
      if (level !== undefined && (keyword === QUESTIONNAIRE_ITEMS_KEYWORD || keyword === 'items'))
        continue;
      out += this.keyword(keyword, value, schema, root, v);
    }
    if (level !== undefined) out += level;
    if (
      !('properties' in schema) &&
      ('required' in schema || 'additionalProperties' in schema || ELEMENT_KEYWORD in schema)
    ) {
      out += this.objectCode(schema, root, v);
    }
    return out;
  }

  private call(schema: Schema, root: Schema, v: string): string {
    return `${this.functionFor(schema, root)}(${v})`;
  }

  private keyword(
    keyword: string,
    value: unknown,
    schema: Schema,
    root: Schema,
    v: string,
  ): string {
    switch (keyword) {
      case '$ref': {
        const target = this.resolve(value as string, root);
        return `if(!${this.call(target.schema, target.root, v)})return false;`;
      }
      case 'type':
        return `if(!${typeTest(value as string, v)})return false;`;
      case 'properties':
        return this.objectCode(schema, root, v);
      case 'items': {
        const i = this.variable();
        const x = this.variable();
        const inner = this.code(value as Schema, root, x);
        return `if(Array.isArray(${v})){for(let ${i}=0;${i}<${v}.length;${i}++){const ${x}=${v}[${i}];${inner}}}`;
      }
      case 'minItems':
        return `if(Array.isArray(${v})&&${v}.length<${Number(value)})return false;`;
      case 'maxItems':
        return `if(Array.isArray(${v})&&${v}.length>${Number(value)})return false;`;
      case 'pattern':
        this.regexps.push(new RegExp(value as string, 'u'));
        return `if(typeof ${v}==="string"&&!R[${this.regexps.length - 1}].test(${v}))return false;`;
      case 'minimum':
        return `if(typeof ${v}==="number"&&${v}<${Number(value)})return false;`;
      case 'enum':
        return `if(!(${(value as unknown[]).map((o) => this.equalTo(o, v)).join('||') || 'false'}))return false;`;
      case 'const':
        return `if(!(${this.equalTo(value, v)}))return false;`;
      case 'allOf':
        return (value as Schema[])
          .map((s) => `if(!${this.call(s, root, v)})return false;`)
          .join('');
      case 'anyOf':
        return `if(!(${(value as Schema[]).map((s) => this.call(s, root, v)).join('||')}))return false;`;
      case 'oneOf':
        if (!schema.discriminator && (value as Schema[]).length === 1) {
          return `if(!${this.call((value as Schema[])[0] as Schema, root, v)})return false;`;
        }
        return schema.discriminator
          ? this.discriminated(schema, root, v)
          : this.exactlyOne(value as Schema[], root, v);
      case 'not':
        return `if(${this.call(value as Schema, root, v)})return false;`;
      case 'if': {
        const inline = this.inlineIf(value as Schema, schema, root, v);
        if (inline !== undefined) return inline;
        const then = schema.then
          ? `if(!${this.call(schema.then as Schema, root, v)})return false;`
          : '';
        const otherwise = schema.else
          ? `if(!${this.call(schema.else as Schema, root, v)})return false;`
          : '';
        return `if(${this.call(value as Schema, root, v)}){${then}}else{${otherwise}}`;
      }
      case QUESTIONNAIRE_ITEMS_KEYWORD:
        return this.levelCode(value as LevelRule, v);
      case PRIMITIVE_PAIRS_KEYWORD:
        return value === true ? 'S.primitivePairs=true;' : '';
      case LOCAL_REFERENCE_KEYWORD:
        return value === true
          ? `if(typeof ${v}==="string"&&${v}.charCodeAt(0)===35)S.localReference=true;`
          : '';
      default:
        throw new UnsupportedSchema(`unsupported keyword ${keyword}`);
    }
  }

  /**
   * `if: {type: T}` (a repeating primitive's item: `null` or a value) as one test in place, its
   * branches inlined: no calls beyond what the item's own schema makes. Undefined otherwise.
   */
  private inlineIf(test: Schema, schema: Schema, root: Schema, v: string): string | undefined {
    const keys = Object.keys(test);
    if (keys.length !== 1 || typeof test.type !== 'string') return undefined;
    // A branch may be absent or a boolean schema (`true` passes all, `false` none).
    const branch = (s: unknown): string =>
      s !== null && typeof s === 'object'
        ? this.code(s as Schema, root, v)
        : s === false
          ? 'return false;'
          : '';
    return `if(${typeTest(test.type, v)}){${branch(schema.then)}}else{${branch(schema.else)}}`;
  }

  /**
   * The `questionnaireItems` rule inlined: one counter per linkId that has a limit or must be
   * there, counted in a single pass (questionnaire-conformance.ts says the same for issues).
   */
  private levelCode(rule: LevelRule, v: string): string {
    const limits = new Map<string, number>(rule.once.map((id) => [id, 1]));
    for (const [id, max] of Object.entries(rule.maxOccurs))
      limits.set(id, Math.min(limits.get(id) ?? max, max));
    const counted = [...new Set([...limits.keys(), ...rule.required])];
    if (counted.length === 0) return '';
    const counter = new Map(counted.map((id) => [id, this.variable()]));
    const i = this.variable();
    const declarations = `let ${[...counter.values()].map((c) => `${c}=0`).join(',')};`;
    const cases = counted
      .map((id) => {
        const c = counter.get(id) as string;
        const max = limits.get(id);
        return `case ${JSON.stringify(id)}:${c}++;${max !== undefined ? `if(${c}>${max})return false;` : ''}break;`;
      })
      .join('');
    const present = rule.required.map((id) => `if(${counter.get(id)}===0)return false;`).join('');
    return `if(Array.isArray(${v})){${declarations}for(let ${i}=0;${i}<${v}.length;${i}++){const it=${v}[${i}];if(it!==null&&typeof it==="object")switch(it.linkId){${cases}}}${present}}`;
  }

  /**
   * A level of response items (the `questionnaireItems` rule, and `items` that are objects
   * told apart by linkId) in one loop: each item is counted in the same switch that sends it to
   * its definition. The same verdict as the two loops apart (both only ever return false; every
   * counted linkId is a branch of the switch, and an item that is not an object fails either
   * way). Undefined when the schema is not of that form.
   */
  private levelWithItems(schema: Schema, root: Schema, v: string): string | undefined {
    const rule = schema[QUESTIONNAIRE_ITEMS_KEYWORD] as LevelRule | undefined;
    const items = schema.items as Schema | undefined;
    if (!rule || !items) return undefined;
    const discriminator = items.discriminator as { propertyName?: string } | undefined;
    const keys = Object.keys(items).sort().join(',');
    if (
      discriminator?.propertyName !== 'linkId' ||
      keys !== 'discriminator,oneOf,required,type' ||
      items.type !== 'object' ||
      JSON.stringify(items.required) !== '["linkId"]' ||
      !Array.isArray(items.oneOf)
    )
      return undefined;
    const limits = new Map<string, number>(rule.once.map((id) => [id, 1]));
    for (const [id, max] of Object.entries(rule.maxOccurs))
      limits.set(id, Math.min(limits.get(id) ?? max, max));
    const counted = [...new Set([...limits.keys(), ...rule.required])];
    const counter = new Map(counted.map((id) => [id, this.variable()]));
    const x = this.variable();
    const branches: { values: unknown[]; call: string }[] = [];
    for (const choice of items.oneOf as Schema[]) {
      const target =
        typeof choice.$ref === 'string'
          ? this.resolve(choice.$ref, root)
          : { schema: choice, root };
      const tag = (target.schema.properties as Record<string, Schema> | undefined)?.linkId;
      const values = tag?.const !== undefined ? [tag.const] : ((tag?.enum as unknown[]) ?? []);
      if (values.length === 0) return undefined;
      branches.push({ values, call: this.call(target.schema, target.root, x) });
    }
    const labelled = new Set(branches.flatMap((b) => b.values));
    if (!counted.every((id) => labelled.has(id))) return undefined;
    const cases = branches
      .flatMap(({ values, call }) =>
        values.map((value) => {
          const c = typeof value === 'string' ? counter.get(value) : undefined;
          const max = typeof value === 'string' ? limits.get(value) : undefined;
          const count = c
            ? `${c}++;${max !== undefined ? `if(${c}>${max})return false;` : ''}`
            : '';
          return `case ${JSON.stringify(value)}:${count}if(!${call})return false;break;`;
        }),
      )
      .join('');
    const i = this.variable();
    const declarations =
      counter.size > 0 ? `let ${[...counter.values()].map((c) => `${c}=0`).join(',')};` : '';
    const present = rule.required.map((id) => `if(${counter.get(id)}===0)return false;`).join('');
    return `if(Array.isArray(${v})){${declarations}for(let ${i}=0;${i}<${v}.length;${i}++){const ${x}=${v}[${i}];if(!${IS_OBJECT(x)})return false;switch(${x}.linkId){${cases}default:return false;}}${present}}`;
  }

  private equalTo(value: unknown, v: string): string {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
      return `${v}===${JSON.stringify(value)}`;
    this.constants.push(value);
    return `E(C[${this.constants.length - 1}],${v})`;
  }

  private objectCode(schema: Schema, root: Schema, v: string): string {
    if (
      schema.additionalProperties !== undefined &&
      typeof schema.additionalProperties !== 'boolean'
    ) {
      throw new UnsupportedSchema('additionalProperties schema');
    }
    const required = ((schema.required ?? []) as string[]).map(
      (r) => `if(${v}[${JSON.stringify(r)}]===undefined)return false;`,
    );
    const properties = Object.entries((schema.properties ?? {}) as Record<string, Schema>);
    const closed = schema.additionalProperties === false;
    // ele-1 (isNonEmptyElement) in the same loop: a key other than `id` marks the element filled.
    const element = schema[ELEMENT_KEYWORD] === true;
    if (properties.length === 0 && !closed && !element)
      return `if(${IS_OBJECT(v)}){${required.join('')}}`;
    const k = this.variable();
    const x = this.variable();
    const filled = element ? this.variable() : '';
    const mark = (name: string): string => (element && name !== 'id' ? `${filled}=true;` : '');
    const cases = properties
      .map(
        ([name, s]) => `case ${JSON.stringify(name)}:{${mark(name)}${this.code(s, root, x)}break;}`,
      )
      .join('');
    const fallback = closed ? 'default:return false;' : element ? `default:${filled}=true;` : '';
    const declare = element ? `let ${filled}=false;` : '';
    const check = element ? `if(!${filled})return false;` : '';
    return `if(${IS_OBJECT(v)}){${required.join('')}${declare}for(const ${k} in ${v}){const ${x}=${v}[${k}];switch(${k}){${cases}${fallback}}}${check}}`;
  }

  private discriminated(schema: Schema, root: Schema, v: string): string {
    const tag = (schema.discriminator as { propertyName: string }).propertyName;
    const cases = (schema.oneOf as Schema[]).map((choice) => {
      // A branch may be a $ref to the definition that holds the tag.
      const branch =
        typeof choice.$ref === 'string' ? this.resolve(choice.$ref, root).schema : choice;
      const tagSchema = (branch.properties as Record<string, Schema> | undefined)?.[tag];
      const values =
        tagSchema?.const !== undefined ? [tagSchema.const] : ((tagSchema?.enum as unknown[]) ?? []);
      if (values.length === 0) throw new UnsupportedSchema('discriminator branch without const');
      const labels = values.map((t) => `case ${JSON.stringify(t)}:`).join('');
      const target =
        typeof choice.$ref === 'string'
          ? this.resolve(choice.$ref, root)
          : { schema: branch, root };
      return `${labels}if(!${this.call(target.schema, target.root, v)})return false;break;`;
    });
    return `if(${IS_OBJECT(v)}){switch(${v}[${JSON.stringify(tag)}]){${cases.join('')}default:return false;}}`;
  }

  private exactlyOne(branches: Schema[], root: Schema, v: string): string {
    const n = this.variable();
    const counts = branches.map((s) => `if(${this.call(s, root, v)})${n}++;`).join('');
    return `{let ${n}=0;${counts}if(${n}!==1)return false;}`;
  }
}

function typeTest(type: string, v: string): string {
  switch (type) {
    case 'object':
      return IS_OBJECT(v);
    case 'array':
      return `Array.isArray(${v})`;
    case 'null':
      return `(${v}===null)`;
    case 'string':
      return `(typeof ${v}==="string")`;
    case 'boolean':
      return `(typeof ${v}==="boolean")`;
    case 'number':
      return `(typeof ${v}==="number"&&Number.isFinite(${v}))`;
    case 'integer':
      return `(typeof ${v}==="number"&&Number.isInteger(${v}))`;
    default:
      throw new UnsupportedSchema(`unsupported type ${type}`);
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(
    (k) => Object.prototype.hasOwnProperty.call(b, k) && equal((a as Schema)[k], (b as Schema)[k]),
  );
}
