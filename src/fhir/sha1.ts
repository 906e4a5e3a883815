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
const W = new Int32Array(80);
/** ASCII codes of the hex digits. */
const HEX_CODES = Uint8Array.from(Buffer.from('0123456789abcdef', 'latin1'));
const HYPHEN = 0x2d;

/**
 * Runs SHA-1's compression over `blocks` 64-byte blocks of `data` from `offset`, on `h`. Written
 * for V8: the rotations inline, no per-round branches, and (indices here are always in range)
 * no undefined checks on typed-array reads.
 */
function compress(h: Int32Array, data: Uint8Array, offset: number, blocks: number): void {
  /* eslint-disable @typescript-eslint/no-non-null-assertion */
  const w = W;
  let h0 = h[0]! | 0;
  let h1 = h[1]! | 0;
  let h2 = h[2]! | 0;
  let h3 = h[3]! | 0;
  let h4 = h[4]! | 0;
  for (let n = 0; n < blocks; n++) {
    let j = offset + n * 64;
    for (let i = 0; i < 16; i++, j += 4)
      w[i] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    // The four kinds of round, each its own loop (no branch per round).
    for (let i = 0; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + (d ^ (b & (c ^ d))) + e + 0x5a827999 + w[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 20; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 40; i < 60; i++) {
      // 0x8f1bbcdc as a signed 32-bit number.
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (d & (b | c))) + e - 0x70e44324 + w[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 60; i < 80; i++) {
      // 0xca62c1d6 as a signed 32-bit number.
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + w[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  h[0] = h0;
  h[1] = h1;
  h[2] = h2;
  h[3] = h3;
  h[4] = h4;
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
}

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

/** Hex digits `from`..`to` (0: the highest nibble) of a 32-bit word, as ASCII into `target`. */
function hexInto(word: number, from: number, to: number, target: Uint8Array, at: number): void {
  let o = at;
  for (let shift = 28 - from * 4; shift >= 28 - to * 4; shift -= 4)
    target[o++] = HEX_CODES[(word >>> shift) & 0xf] ?? 0;
}

/** The 16 bytes of a UUID given as text (hyphens anywhere). */
export function uuidBytes(uuid: string): Uint8Array {
  return Uint8Array.from(Buffer.from(uuid.replace(/-/g, ''), 'hex'));
}

let scratch = Buffer.alloc(512);
const state = new Int32Array(5);

/**
 * Version 5 UUIDs of names that share a prefix, in one namespace: `uuid(suffix)` is
 * `uuidV5(prefix + suffix, namespace)` (the suffix as text, or as its UTF-8 bytes).
 */
export class Uuid5Prefix {
  /** SHA-1 state after the prefix's whole blocks. */
  private readonly midstate = new Int32Array(5);
  /** The prefix's bytes after its whole blocks (fewer than 64). */
  private readonly rest: Uint8Array;
  private readonly hashed: number;

  constructor(namespace: Uint8Array, prefix: string) {
    const bytes = Buffer.concat([namespace, Buffer.from(prefix, 'utf8')]);
    const whole = Math.floor(bytes.length / 64);
    this.midstate.set(INITIAL);
    compress(this.midstate, bytes, 0, whole);
    this.hashed = whole * 64;
    this.rest = Uint8Array.from(bytes.subarray(this.hashed));
  }

  /** The UUID of prefix + suffix as 36 ASCII bytes (lower-case hex, hyphens) into `target`. */
  uuidInto(suffix: Uint8Array, target: Uint8Array, at: number): void {
    this.hash(suffix);
    const w0 = state[0] ?? 0;
    const w1 = state[1] ?? 0;
    const w2 = ((state[2] ?? 0) & 0x3fffffff) | 0x80000000;
    const w3 = state[3] ?? 0;
    hexInto(w0, 0, 7, target, at);
    target[at + 8] = HYPHEN;
    hexInto(w1, 0, 3, target, at + 9);
    target[at + 13] = HYPHEN;
    // Version 5 in the high nibble of byte 6.
    target[at + 14] = HEX_CODES[5] ?? 0;
    hexInto(w1, 5, 7, target, at + 15);
    target[at + 18] = HYPHEN;
    hexInto(w2, 0, 3, target, at + 19);
    target[at + 23] = HYPHEN;
    hexInto(w2, 4, 7, target, at + 24);
    hexInto(w3, 0, 7, target, at + 28);
  }

  uuid(suffix: string | Uint8Array): string {
    this.hash(suffix);
    return uuidText(state);
  }

  /** Leaves the SHA-1 state of prefix + suffix in `state`. */
  private hash(suffix: string | Uint8Array): void {
    const restLength = this.rest.length;
    const most = restLength + suffix.length * 3 + 72;
    if (scratch.length < most) scratch = Buffer.alloc(most * 2);
    scratch.set(this.rest, 0);
    let length: number;
    if (typeof suffix === 'string') length = restLength + scratch.write(suffix, restLength, 'utf8');
    else {
      scratch.set(suffix, restLength);
      length = restLength + suffix.length;
    }
    const blocks = Math.ceil((length + 9) / 64);
    const end = blocks * 64;
    for (let i = length; i < end; i++) scratch[i] = 0;
    scratch[length] = 0x80;
    const bits = (this.hashed + length) * 8;
    // Names here are far below 2^32 bits: the length's upper word stays zero.
    scratch[end - 4] = (bits >>> 24) & 0xff;
    scratch[end - 3] = (bits >>> 16) & 0xff;
    scratch[end - 2] = (bits >>> 8) & 0xff;
    scratch[end - 1] = bits & 0xff;
    state.set(this.midstate);
    compress(state, scratch, 0, blocks);
  }
}
