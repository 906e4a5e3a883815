/**
 * SMS length as networks count it. GSM 03.38 (GSM-7): 160 septets in one message, 153 per part
 * when concatenated (the rest carries the part header); the extension characters (`^ { } \ [ ~ ]
 * | €` and form feed) take two septets and are never split across parts. A single character
 * outside GSM-7 turns the whole message into UCS-2: 70 UTF-16 units in one message, 67 per part,
 * a surrogate pair never split.
 */

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '^{}\\[~]|€\f';

const BASIC = new Set(GSM_BASIC);
const EXTENSION = new Set(GSM_EXTENSION);

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsLength {
  readonly encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  readonly units: number;
  readonly segments: number;
}

export function isGsm7(text: string): boolean {
  for (const char of text) if (!BASIC.has(char) && !EXTENSION.has(char)) return false;
  return true;
}

function parts(sizes: readonly number[], capacity: number): number {
  let count = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > capacity) {
      count += 1;
      used = size;
    } else used += size;
  }
  return count;
}

/** How many SMS segments `text` takes, and in which encoding. */
export function smsLength(text: string): SmsLength {
  const chars = [...text];
  if (isGsm7(text)) {
    const sizes = chars.map((c) => (EXTENSION.has(c) ? 2 : 1));
    const units = sizes.reduce((a, b) => a + b, 0);
    return { encoding: 'GSM-7', units, segments: units <= 160 ? 1 : parts(sizes, 153) };
  }
  const sizes = chars.map((c) => c.length);
  const units = text.length;
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : parts(sizes, 67) };
}

const REPLACEMENTS: readonly (readonly [RegExp, string])[] = [
  [/[\u2018\u2019\u201A\u201B\u2032\u00B4`]/g, "'"],
  [/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"'],
  [/[\u2010-\u2015\u2212\u2043]/g, '-'],
  [/\u2026/g, '...'],
  [/[\u00A0\u2000-\u200A\u202F\u205F\u3000\t]/g, ' '],
  [/[\u200B-\u200D\u2060\uFEFF]/g, ''],
  [/[\u2022\u00B7\u2027]/g, '-'],
  [/\r\n?/g, '\n'],
];

/**
 * Punctuation that has a GSM-7 equivalent replaced by it (typographic quotes, dashes, ellipsis,
 * odd spaces, bullets), so ordinary text stays GSM-7. Letters are left alone: a name written with
 * a letter outside GSM-7 is kept as written and the message is counted as UCS-2.
 */
export function toGsmPunctuation(text: string): string {
  return REPLACEMENTS.reduce((t, [pattern, to]) => t.replace(pattern, to), text);
}
