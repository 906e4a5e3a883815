/**
 * The bad-input corpus (test/reliability/bad-input/cases.json) turned into requests: each case's
 * body is built from a base (a valid session, an item-score Observation, a Goal, an example file
 * or a stored resource) and a few JSON-Patch-style edits, from literal text, from a file in the
 * folder, or generated (depth and size cases, too big to keep as files). `{{<patient>.<Type>}}`
 * in a path, header or body names the first stored resource of that type about that person.
 * Not a test file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestService } from '../support/service';
import { EXAMPLES_DIR } from '../support/examples';
import { firstOf, journeyResource, sessionFor, type Caller } from './bad-input-support';

export const CORPUS_DIR = join(__dirname, 'bad-input');

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A value, or `{"$repeat": [text, times]}` for text too long to keep in the table. */
type PatchValue = JsonValue | { $repeat: [string, number] };

export interface PatchOp {
  readonly op: 'add' | 'replace' | 'remove';
  /** A JSON pointer; `-` appends to an array. */
  readonly path: string;
  readonly value?: PatchValue;
}

export type CaseBody =
  | {
      /** session[:patient] | observation | goal | example:<examples path> | stored:<Type/id> */
      readonly base: string;
      readonly patch: readonly PatchOp[];
      /** Raw text put into the serialised body after the first `after` (keys JSON cannot set). */
      readonly insert?: { readonly after: string; readonly text: string };
    }
  | { readonly text: string }
  | { readonly file: string }
  | {
      readonly generate:
        | 'nested-extensions'
        | 'nested-items'
        | 'nested-arrays'
        | 'nested-bundle'
        | 'nested-transaction'
        | 'padded-session'
        | 'padded-csv'
        | 'huge-key';
      readonly depth?: number;
      readonly bytes?: number;
      readonly length?: number;
    };

export interface CorpusCase {
  readonly name: string;
  readonly why: string;
  readonly method: string;
  readonly path: string;
  readonly as?: Caller;
  readonly headers?: Readonly<Record<string, string>>;
  /** The media type sent; application/fhir+json when absent, none when empty. */
  readonly contentType?: string;
  readonly body?: CaseBody;
  readonly note?: string;
  readonly expect: {
    readonly status: number;
    /** issue[0].code of the OperationOutcome (native: of the first refused record's). */
    readonly code?: string;
    /** issue[0].expression[0], where the fault has a location. */
    readonly expression?: string;
    /** /native imports and batches: a batch-response Bundle with this many records kept. */
    readonly batch?: boolean;
    readonly accepted?: number;
    /** The entries' statuses (first three characters), in order: records in input order. */
    readonly statuses?: readonly string[];
    /** … and this many refused (every refused record when absent: at least one). */
    readonly refused?: number;
    /** Searches that are answered (200): how many matched. */
    readonly total?: number;
  };
}

export function loadCases(): CorpusCase[] {
  return JSON.parse(readFileSync(join(CORPUS_DIR, 'cases.json'), 'utf8')) as CorpusCase[];
}

/** Replaces every `{{patient.Type}}` with `Type/<id>` of that person's first stored resource. */
export async function resolvePlaceholders(service: TestService, text: string): Promise<string> {
  let out = text;
  for (const match of text.matchAll(/\{\{([A-Za-z0-9-]+)\.([A-Za-z]+)\}\}/g)) {
    const [whole, patient, type] = match;
    if (!whole || !patient || !type) continue;
    out = out.split(whole).join(`${type}/${await firstOf(service, type, patient)}`);
  }
  return out;
}

/** The value with every `{"$repeat": [text, times]}` in it spelled out. */
function value(v: PatchValue | undefined): JsonValue {
  if (v === undefined || v === null || typeof v !== 'object') return v ?? null;
  if (Array.isArray(v)) return v.map((x) => value(x));
  if ('$repeat' in v && Array.isArray(v.$repeat)) {
    const [text, times] = v.$repeat as [string, number];
    return text.repeat(times);
  }
  const out: Record<string, JsonValue> = {};
  for (const [k, x] of Object.entries(v as Record<string, JsonValue>)) out[k] = value(x);
  return out;
}

/** RFC 6902 add / replace / remove, enough for the corpus. */
export function applyPatch(doc: JsonValue, ops: readonly PatchOp[]): JsonValue {
  const root = JSON.parse(JSON.stringify(doc)) as JsonValue;
  for (const op of ops) {
    const keys = op.path
      .split('/')
      .slice(1)
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    if (last === undefined) throw new Error(`bad patch path ${op.path}`);
    let parent: JsonValue = root;
    for (const key of keys) {
      const next: JsonValue | undefined = Array.isArray(parent)
        ? parent[Number(key)]
        : (parent as Record<string, JsonValue>)[key];
      if (next === undefined || next === null || typeof next !== 'object')
        throw new Error(`patch path ${op.path} does not exist`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const at = last === '-' ? parent.length : Number(last);
      if (op.op === 'remove') parent.splice(at, 1);
      else if (op.op === 'add') parent.splice(at, 0, value(op.value));
      else parent[at] = value(op.value);
    } else {
      const obj = parent as Record<string, JsonValue>;
      if (op.op === 'remove') Reflect.deleteProperty(obj, last);
      else obj[last] = value(op.value);
    }
  }
  return root;
}

async function baseOf(service: TestService, base: string): Promise<JsonValue> {
  if (base === 'session') return sessionFor('megan-price') as JsonValue;
  if (base.startsWith('session:')) return sessionFor(base.slice('session:'.length)) as JsonValue;
  if (base === 'observation') return journeyResource('obs-01-mental-health-score') as JsonValue;
  if (base === 'goal') return journeyResource('goal-01-mental-health') as JsonValue;
  if (base.startsWith('example:')) {
    const example = JSON.parse(
      readFileSync(join(EXAMPLES_DIR, base.slice('example:'.length)), 'utf8'),
    ) as Record<string, JsonValue>;
    delete example.id;
    return example;
  }
  if (base.startsWith('stored:')) {
    const [type, id] = (await resolvePlaceholders(service, base.slice('stored:'.length))).split(
      '/',
    );
    const stored = await service.store.read(type as 'CarePlan', id ?? '');
    return JSON.parse(JSON.stringify(stored)) as JsonValue;
  }
  throw new Error(`unknown base ${base}`);
}

const SESSION_TEXT = (): string => JSON.stringify(sessionFor('megan-price'));

/** The session's JSON with `,"<key>":<raw>` added at the end (raw text, any depth). */
function withRaw(key: string, raw: string): string {
  const text = SESSION_TEXT();
  return `${text.slice(0, -1)},"${key}":${raw}}`;
}

function nested(open: string, inner: string, close: string, depth: number): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

function generate(body: Extract<CaseBody, { generate: string }>): string {
  const depth = body.depth ?? 10_000;
  switch (body.generate) {
    case 'nested-extensions':
      return withRaw(
        'modifierExtension',
        nested('[{"url":"urn:x","extension":', '[{"url":"urn:x","valueString":"x"}]', '}]', depth),
      );
    case 'nested-items': {
      const text = SESSION_TEXT();
      const items = nested('[{"linkId":"x","item":', '[{"linkId":"y"}]', '}]', depth);
      return text.replace('"item":[', `"item":[{"linkId":"nested","item":${items}},`);
    }
    case 'nested-arrays':
      return withRaw('deep', nested('[', '', ']', depth));
    case 'nested-bundle':
      return JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'POST', url: 'QuestionnaireResponse' }, resource: 'RESOURCE' },
        ],
      }).replace(
        '"RESOURCE"',
        withRaw(
          'modifierExtension',
          nested(
            '[{"url":"urn:x","extension":',
            '[{"url":"urn:x","valueString":"x"}]',
            '}]',
            depth,
          ),
        ),
      );
    case 'nested-transaction':
      return JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'QuestionnaireResponse' }, resource: 'RESOURCE' },
        ],
      }).replace('"RESOURCE"', withRaw('deep', nested('[', '', ']', depth)));
    case 'padded-session': {
      const session = sessionFor('megan-price');
      const div = `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(body.bytes ?? 0)}</div>`;
      return JSON.stringify({ ...session, text: { status: 'generated', div } });
    }
    case 'padded-csv': {
      const header =
        'LocalPatientId,NHSNumber,CareActId,AssToolCompTimestamp,CodedAssToolType,PersScore\r\n';
      const row = 'RX1-000999,,CA-9,2025-09-16T15:10:00,1037651000000100,3\r\n';
      return header + row.repeat(Math.ceil((body.bytes ?? 0) / row.length));
    }
    case 'huge-key': {
      const text = SESSION_TEXT();
      return `{"${'k'.repeat(body.length ?? 0)}":1,${text.slice(1)}`;
    }
  }
}

/** The body text a case sends (undefined: no body). */
export async function bodyOf(service: TestService, c: CorpusCase): Promise<string | undefined> {
  const body = c.body;
  if (body === undefined) return undefined;
  if ('text' in body) return resolvePlaceholders(service, body.text);
  if ('file' in body) return readFileSync(join(CORPUS_DIR, body.file), 'utf8');
  if ('generate' in body) return generate(body);
  const doc = applyPatch(await baseOf(service, body.base), body.patch);
  let text = await resolvePlaceholders(service, JSON.stringify(doc));
  if (body.insert) {
    const at = text.indexOf(body.insert.after);
    if (at < 0) throw new Error(`insert: "${body.insert.after}" not in the body`);
    const end = at + body.insert.after.length;
    text = text.slice(0, end) + body.insert.text + text.slice(end);
  }
  return text;
}
