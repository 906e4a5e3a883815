import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { DIALOG_NAMESPACE, derivedIdentifier, uuidV5 } from '../../src/fhir';
import { Uuid5Prefix, uuidBytes } from '../../src/fhir/sha1';

/** RFC 4122 version 5 by node:crypto: the reference the JavaScript SHA-1 must match. */
function reference(name: string, namespace: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Names of every length around the 64-byte block edges, multi-byte characters included.
const names = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 0, max: 200 }).map((n) => 'x'.repeat(n)),
);

describe('JavaScript SHA-1 UUIDs', () => {
  it('uuidV5 equals node:crypto for any name', () => {
    fc.assert(
      fc.property(names, (name) => {
        expect(uuidV5(name, DIALOG_NAMESPACE)).toBe(reference(name, DIALOG_NAMESPACE));
      }),
      { numRuns: 500 },
    );
  });

  it('a hashed prefix then a suffix equals hashing the whole name, at every block edge', () => {
    for (let p = 0; p < 140; p++)
      for (const suffix of ['', 'a', 'physical-health.score', 'é'.repeat(40), 'z'.repeat(70)]) {
        const prefix = 'p'.repeat(p);
        expect(new Uuid5Prefix(uuidBytes(DIALOG_NAMESPACE), prefix).uuid(suffix)).toBe(
          reference(prefix + suffix, DIALOG_NAMESPACE),
        );
      }
    fc.assert(
      fc.property(names, names, (prefix, suffix) => {
        expect(new Uuid5Prefix(uuidBytes(DIALOG_NAMESPACE), prefix).uuid(suffix)).toBe(
          reference(prefix + suffix, DIALOG_NAMESPACE),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('derived identifiers are uuidV5 of system|key#part, across many keys (the prefix cache)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(names, names), { minLength: 1, maxLength: 40 }), (pairs) => {
        for (const [key, part] of pairs)
          expect(derivedIdentifier('https://s.example/sid', key, part).value).toBe(
            reference(`https://s.example/sid|${key}#${part}`, DIALOG_NAMESPACE),
          );
      }),
      { numRuns: 100 },
    );
  });
});
