/**
 * RFC 4122 name-based UUIDs (version 5, SHA-1) hashed in JavaScript. `crypto.createHash` costs
 * several microseconds per call here (most of it OpenSSL's per-call set-up, not hashing), and an
 * extraction derives ~20 identifiers per response, all sharing one long prefix
 * (`<system>|<response key>#`): so the prefix is hashed once (its SHA-1 state after its whole
 * 64-byte blocks is kept) and each name costs the one or two blocks that hold its own bytes.
 * Tests check every result against `node:crypto`.
 */

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, '0'),
);
const HYPHEN = 0x2d;

type Compress = (h: Int32Array, data: Uint8Array, offset: number, blocks: number) => void;

/** Each group of 20 rounds: its function of b, c, d plus its constant (as a signed 32-bit number). */
const ROUND_TERMS = [
  '(d ^ (b & (c ^ d))) + 0x5a827999', // choose
  '(b ^ c ^ d) + 0x6ed9eba1', // parity
  '((b & c) | (d & (b | c))) - 0x70e44324', // majority, 0x8f1bbcdc
  '(b ^ c ^ d) - 0x359d3e2a', // parity, 0xca62c1d6
];

/**
 * SHA-1's compression over `blocks` 64-byte blocks of `data` from `offset`, on `h`, unrolled: the
 * 80 rounds written out with the message schedule in 16 local words, so V8 keeps the state in
 * registers — about twice as fast here as a loop over an 80-word schedule array. The source is
 * written once per process and compiled, as the validators' verdicts are
 * (src/validation/schema-verdict.ts); nothing in it comes from input.
 */
function compileCompress(): Compress {
  const lines = [
    'let h0 = h[0] | 0, h1 = h[1] | 0, h2 = h[2] | 0, h3 = h[3] | 0, h4 = h[4] | 0;',
    'for (let n = 0; n < blocks; n++) {',
    'const j = offset + n * 64;',
  ];
  for (let i = 0; i < 16; i++) {
    const at = (k: number): string => `data[j + ${4 * i + k}]`;
    lines.push(`let w${i} = (${at(0)} << 24) | (${at(1)} << 16) | (${at(2)} << 8) | ${at(3)};`);
  }
  lines.push('let a = h0, b = h1, c = h2, d = h3, e = h4, t, x;');
  for (let r = 0; r < 80; r++) {
    const w = r % 16;
    if (r >= 16)
      lines.push(
        `x = w${(r - 3) % 16} ^ w${(r - 8) % 16} ^ w${(r - 14) % 16} ^ w${w};`,
        `w${w} = (x << 1) | (x >>> 31);`,
      );
    const terms = ROUND_TERMS[Math.floor(r / 20)] ?? '';
    lines.push(
      `t = (((a << 5) | (a >>> 27)) + ${terms} + e + w${w}) | 0;`,
      'e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;',
    );
  }
  lines.push(
    'h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;',
    '}',
    'h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4;',
  );
  return new Function('h', 'data', 'offset', 'blocks', lines.join('\n')) as Compress;
}

const compress = compileCompress();

const INITIAL = Int32Array.of(
  0x67452301,
  0xefcdab89 | 0,
  0x98badcfe | 0,
  0x10325476,
  0xc3d2e1f0 | 0,
);

function byte(word: number, shift: number): string {
  return HEX[(word >>> shift) & 0xff] ?? '';
}

/** The UUID text of a SHA-1 state: version 5, RFC 4122 variant. */
function uuidText(h: Int32Array): string {
  const w0 = h[0] ?? 0;
  const w1 = h[1] ?? 0;
  const w2 = ((h[2] ?? 0) & 0x3fffffff) | 0x80000000;
  const w3 = h[3] ?? 0;
  return (
    byte(w0, 24) +
    byte(w0, 16) +
    byte(w0, 8) +
    byte(w0, 0) +
    '-' +
    byte(w1, 24) +
    byte(w1, 16) +
    '-' +
    (HEX[(((w1 >>> 8) & 0x0f) | 0x50) & 0xff] ?? '') +
    byte(w1, 0) +
    '-' +
    byte(w2, 24) +
    byte(w2, 16) +
    '-' +
    byte(w2, 8) +
    byte(w2, 0) +
    byte(w3, 24) +
    byte(w3, 16) +
    byte(w3, 8) +
    byte(w3, 0)
  );
}

/** ASCII codes of each byte's two hex digits: byte b at 2b and 2b + 1. */
const HEX_PAIRS = Uint8Array.from(Buffer.from(HEX.join(''), 'latin1'));

/** The two hex digits of the low byte of `value` into `target` at `at`. */
function hexByte(target: Uint8Array, at: number, value: number): void {
  const i = (value & 0xff) * 2;
  target[at] = HEX_PAIRS[i] ?? 0;
  target[at + 1] = HEX_PAIRS[i + 1] ?? 0;
}

/** The 16 bytes of a UUID given as text (hyphens anywhere). */
export function uuidBytes(uuid: string): Uint8Array {
  return Uint8Array.from(Buffer.from(uuid.replace(/-/g, ''), 'hex'));
}

let scratch = Buffer.alloc(512);
/** Where a prefix's bytes are put together to be hashed. */
let prefixScratch = Buffer.alloc(512);
const state = new Int32Array(5);

/**
 * Version 5 UUIDs of names that share a prefix, in one namespace: `uuid(suffix)` is
 * `uuidV5(prefix + suffix, namespace)` (the suffix as text, or as its UTF-8 bytes).
 */
export class Uuid5Prefix {
  /** SHA-1 state after the prefix's whole blocks. */
  private readonly midstate = new Int32Array(5);
  private readonly hashed: number;
  /** How many of the prefix's bytes follow its whole blocks (fewer than 64). */
  private readonly restLength: number;
  /** Those bytes, then room for a suffix and the padding (hashBytes). */
  private block: Uint8Array;

  constructor(namespace: Uint8Array, prefix: string) {
    const most = namespace.length + prefix.length * 3;
    if (prefixScratch.length < most) prefixScratch = Buffer.alloc(most * 2);
    prefixScratch.set(namespace, 0);
    const total = namespace.length + prefixScratch.write(prefix, namespace.length, 'utf8');
    const whole = total >>> 6;
    this.midstate.set(INITIAL);
    compress(this.midstate, prefixScratch, 0, whole);
    this.hashed = whole * 64;
    this.restLength = total - this.hashed;
    this.block = new Uint8Array(128);
    /* eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- within both */
    for (let i = 0; i < this.restLength; i++) this.block[i] = prefixScratch[this.hashed + i]!;
  }

  /** The UUID of prefix + suffix as 36 ASCII bytes (lower-case hex, hyphens) into `target`. */
  uuidInto(suffix: Uint8Array, target: Uint8Array, at: number): void {
    this.hashBytes(suffix);
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- state has 5 words */
    const w0 = state[0]!;
    const w1 = state[1]!;
    // RFC 4122 variant in the top bits of byte 8; version 5 in the high nibble of byte 6.
    const w2 = (state[2]! & 0x3fffffff) | 0x80000000;
    const w3 = state[3]!;
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
    hexByte(target, at, w0 >>> 24);
    hexByte(target, at + 2, w0 >>> 16);
    hexByte(target, at + 4, w0 >>> 8);
    hexByte(target, at + 6, w0);
    target[at + 8] = HYPHEN;
    hexByte(target, at + 9, w1 >>> 24);
    hexByte(target, at + 11, w1 >>> 16);
    target[at + 13] = HYPHEN;
    hexByte(target, at + 14, ((w1 >>> 8) & 0x0f) | 0x50);
    hexByte(target, at + 16, w1);
    target[at + 18] = HYPHEN;
    hexByte(target, at + 19, w2 >>> 24);
    hexByte(target, at + 21, w2 >>> 16);
    target[at + 23] = HYPHEN;
    hexByte(target, at + 24, w2 >>> 8);
    hexByte(target, at + 26, w2);
    hexByte(target, at + 28, w3 >>> 24);
    hexByte(target, at + 30, w3 >>> 16);
    hexByte(target, at + 32, w3 >>> 8);
    hexByte(target, at + 34, w3);
  }

  uuid(suffix: string | Uint8Array): string {
    this.hash(suffix);
    return uuidText(state);
  }

  /** Leaves the SHA-1 state of prefix + suffix in `state`. */
  private hash(suffix: string | Uint8Array): void {
    if (typeof suffix !== 'string') {
      this.hashBytes(suffix);
      return;
    }
    const restLength = this.restLength;
    const most = restLength + suffix.length * 3 + 72;
    if (scratch.length < most) scratch = Buffer.alloc(most * 2);
    scratch.set(this.block.subarray(0, restLength), 0);
    const length = restLength + scratch.write(suffix, restLength, 'utf8');
    this.finish(scratch, length);
  }

  /**
   * hash() of bytes: the suffix copied after the prefix's rest, which this instance keeps in its
   * own block buffer (a prefix derives ~20 names: the rest is copied there once).
   */
  private hashBytes(suffix: Uint8Array): void {
    const restLength = this.restLength;
    const length = restLength + suffix.length;
    let block = this.block;
    if (block.length < length + 72) {
      block = new Uint8Array((length + 72) * 2);
      block.set(this.block.subarray(0, restLength), 0);
      this.block = block;
    }
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- within both arrays */
    for (let i = 0; i < suffix.length; i++) block[restLength + i] = suffix[i]!;
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
    this.finish(block, length);
  }

  /** Pads the message in `data` (its first `length` bytes after the hashed blocks) and hashes it. */
  private finish(data: Uint8Array, length: number): void {
    const blocks = (length + 9 + 63) >>> 6;
    const end = blocks * 64;
    data[length] = 0x80;
    for (let i = length + 1; i < end - 4; i++) data[i] = 0;
    const bits = (this.hashed + length) * 8;
    // Names here are far below 2^32 bits: the length's upper word stays zero.
    data[end - 4] = (bits >>> 24) & 0xff;
    data[end - 3] = (bits >>> 16) & 0xff;
    data[end - 2] = (bits >>> 8) & 0xff;
    data[end - 1] = bits & 0xff;
    state.set(this.midstate);
    compress(state, data, 0, blocks);
  }
}
