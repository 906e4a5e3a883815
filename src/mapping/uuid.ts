/**
 * Name-based UUIDs (RFC 4122 version 5, SHA-1) in the dialog-fhir namespace, for session
 * identifiers derived from native records. Gives exactly `uuidV5(name, DIALOG_NAMESPACE)` of
 * src/fhir/stable-id.ts (a test checks it) but hashes in JavaScript: for names this short a
 * `crypto.createHash` per call costs several times more than the hashing.
 */
import { DIALOG_NAMESPACE } from '../fhir';

const NAMESPACE = Uint8Array.from(Buffer.from(DIALOG_NAMESPACE.replace(/-/g, ''), 'hex'));
const W = new Int32Array(80);
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let block = new Uint8Array(256);

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/** The SHA-1 state after hashing `length` bytes of `data` (already padded in place). */
function sha1(data: Uint8Array, blocks: number): Int32Array {
  let h0 = 0x67452301;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  for (let b = 0; b < blocks; b++) {
    const o = b * 64;
    for (let i = 0; i < 16; i++) {
      const j = o + i * 4;
      W[i] =
        ((data[j] ?? 0) << 24) |
        ((data[j + 1] ?? 0) << 16) |
        ((data[j + 2] ?? 0) << 8) |
        (data[j + 3] ?? 0);
    }
    for (let i = 16; i < 80; i++)
      W[i] = rotl((W[i - 3] ?? 0) ^ (W[i - 8] ?? 0) ^ (W[i - 14] ?? 0) ^ (W[i - 16] ?? 0), 1);
    let a = h0;
    let b2 = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let i = 0; i < 80; i++) {
      let f: number;
      let k: number;
      if (i < 20) {
        f = (b2 & c) | (~b2 & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b2 ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b2 & c) | (b2 & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b2 ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const t = (rotl(a, 5) + f + e + k + (W[i] ?? 0)) | 0;
      e = d;
      d = c;
      c = rotl(b2, 30);
      b2 = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b2) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  return Int32Array.of(h0, h1, h2, h3, h4);
}

/** `uuidV5(name, DIALOG_NAMESPACE)`. */
export function dialogUuid(name: string): string {
  const maxBytes = 16 + name.length * 3;
  const needed = Math.ceil((maxBytes + 9) / 64) * 64;
  if (block.length < needed) block = new Uint8Array(needed * 2);
  block.set(NAMESPACE, 0);
  const written = Buffer.from(block.buffer, block.byteOffset, block.length).write(name, 16, 'utf8');
  const length = 16 + written;
  const blocks = Math.ceil((length + 9) / 64);
  block.fill(0, length, blocks * 64);
  block[length] = 0x80;
  const bits = length * 8;
  const end = blocks * 64;
  block[end - 4] = (bits >>> 24) & 0xff;
  block[end - 3] = (bits >>> 16) & 0xff;
  block[end - 2] = (bits >>> 8) & 0xff;
  block[end - 1] = bits & 0xff;
  const h = sha1(block, blocks);
  const w0 = h[0] ?? 0;
  const w1 = h[1] ?? 0;
  // Version 5 in the high nibble of byte 6, the RFC 4122 variant in the top bits of byte 8.
  const w2 = ((h[2] ?? 0) & 0x3fffffff) | 0x80000000;
  const w3 = h[3] ?? 0;
  const byte = (word: number, shift: number): string => HEX[(word >>> shift) & 0xff] ?? '';
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
