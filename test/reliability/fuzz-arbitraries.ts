/**
 * fast-check generators for the fuzz test: arbitrary text and bytes, JSON-ish values, and
 * mutations of valid examples (JSON edits at any path; text edits around the delimiters native
 * formats use). Not a test file.
 */
import fc from 'fast-check';

/** JSON values, deep and wide enough to reach most shapes a parser meets. */
export const jsonValue: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });

/** Strings biased towards what breaks parsers: delimiters, quotes, control and astral characters. */
export const hostileText: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ maxLength: 6, unit: 'binary' }),
      fc.constantFrom(
        ',',
        '"',
        '""',
        '\r',
        '\n',
        '\r\n',
        '|',
        '^',
        '~',
        '\\',
        '&',
        ';',
        '=',
        '+',
        '-',
        '@',
        "'",
        '\t',
        '\u0000',
        '\ufeff',
        '\ud800',
        '😀',
        'MSH|^~\\&|',
        'PID|1||9434765919^^^NHS^NH',
        'OBX|1|NM|1037651000000100^^SCT||',
        '{"resourceType":"QuestionnaireResponse"',
        '__proto__',
        '9434765919',
        '2025-02-30T10:00:00+00:00',
        '16/9/2025 14:30',
      ),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

/** One text edit: insert, delete or replace a stretch at a position (taken modulo the length). */
const textEdit = fc.record({
  at: fc.nat(),
  remove: fc.nat({ max: 8 }),
  insert: fc.oneof(
    fc.constant(''),
    fc.constantFrom(',', '"', '\r', '\n', '|', '^', '~', '\\', '&', '=', '-', '8', '0', 'x', ' '),
    hostileText,
  ),
});

/** A valid text with a few edits: mostly still the format, wrong somewhere. */
export function mutatedText(valid: string): fc.Arbitrary<string> {
  return fc.array(textEdit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let text = valid;
    for (const edit of edits) {
      const at = text.length === 0 ? 0 : edit.at % (text.length + 1);
      text = text.slice(0, at) + edit.insert + text.slice(at + edit.remove);
    }
    return text;
  });
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every place in a JSON document: the container and the key or index in it. */
function places(doc: Json): { parent: Json[] | Record<string, Json>; key: string | number }[] {
  const out: { parent: Json[] | Record<string, Json>; key: string | number }[] = [];
  const walk = (node: Json): void => {
    if (Array.isArray(node))
      node.forEach((child, i) => {
        out.push({ parent: node, key: i });
        walk(child);
      });
    else if (node !== null && typeof node === 'object')
      for (const [k, child] of Object.entries(node)) {
        out.push({ parent: node, key: k });
        walk(child);
      }
  };
  walk(doc);
  return out;
}

const jsonEdit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('replace', 'remove', 'duplicate', 'stringify', 'number', 'empty', 'key'),
  value: jsonValue,
  key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('id', 'linkId', 'valueInteger')),
});

/** A valid resource with a few edits at any depth: values replaced, removed, doubled, retyped. */
export function mutatedJson(valid: unknown): fc.Arbitrary<unknown> {
  return fc.array(jsonEdit, { minLength: 1, maxLength: 4 }).map((edits) => {
    const doc = JSON.parse(JSON.stringify(valid)) as Json;
    for (const edit of edits) {
      const all = places(doc);
      const place = all[edit.at % Math.max(1, all.length)];
      if (!place) continue;
      const { parent, key } = place;
      const current = Array.isArray(parent)
        ? parent[key as number]
        : (parent as Record<string, Json>)[key as string];
      const set = (v: Json): void => {
        if (Array.isArray(parent)) parent[key as number] = v;
        else (parent as Record<string, Json>)[key as string] = v;
      };
      switch (edit.kind) {
        case 'replace':
          set(edit.value as Json);
          break;
        case 'remove':
          if (Array.isArray(parent)) parent.splice(key as number, 1);
          else Reflect.deleteProperty(parent, key);
          break;
        case 'duplicate':
          if (Array.isArray(parent)) parent.splice(key as number, 0, current ?? null);
          else set([current ?? null]);
          break;
        case 'stringify':
          set(JSON.stringify(current ?? null));
          break;
        case 'number':
          set(typeof current === 'string' && current !== '' ? Number(current) : 7.5);
          break;
        case 'empty':
          set(Array.isArray(current) ? [] : typeof current === 'object' ? {} : '');
          break;
        case 'key':
          if (!Array.isArray(parent)) (parent as Record<string, Json>)[edit.key] = current ?? null;
          break;
      }
    }
    return doc;
  });
}

/** Reproduce a failure with FUZZ_SEED=<seed> (fast-check prints the seed and path it failed at). */
export function fuzzParameters(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED;
  return { numRuns, ...(seed !== undefined && seed !== '' ? { seed: Number(seed) } : {}) };
}
