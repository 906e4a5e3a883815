/** Code tables from the mapping files, both ways, and identifier checks. */
import type { CodeTable } from './spec';

export type Decoded<T> = { readonly ok: true; readonly value: T | null } | { readonly ok: false };

/** A compiled code table: native text → value (null: absent), and value → native text. */
export class Codes<T extends number | boolean> {
  private readonly toValue = new Map<string, T | null>();
  private readonly toText = new Map<T | null, string>();

  constructor(table: CodeTable) {
    for (const [text, value] of Object.entries(table)) {
      this.toValue.set(text, value as T | null);
      if (!this.toText.has(value as T | null)) this.toText.set(value as T | null, text);
    }
  }

  /**
   * The value for a cell, surrounding white space ignored: `null` for "absent", `undefined` when
   * the table has no such code. Allocates nothing for a cell that is already trimmed.
   */
  lookup(text: string): T | null | undefined {
    const value = this.toValue.get(text);
    if (value !== undefined) return value;
    const trimmed = text.trim();
    return trimmed === text ? undefined : this.toValue.get(trimmed);
  }

  read(text: string): Decoded<T> {
    const value = this.toValue.get(text);
    return value === undefined && !this.toValue.has(text)
      ? { ok: false }
      : { ok: true, value: value ?? null };
  }

  /** Native text for a value; undefined when the table has no code for it. */
  write(value: T | null): string | undefined {
    return this.toText.get(value);
  }

  /** The texts the table accepts, for messages (these are codes, not patient data). */
  describe(): string {
    return [...this.toValue.keys()].map((k) => (k === '' ? 'empty' : `"${k}"`)).join(', ');
  }
}

/**
 * NHS number: 10 digits, not one digit ten times, the last a modulus 11 check digit (a check
 * digit of 10 is invalid). Every number of one repeated digit passes modulus 11 (the weights sum
 * to 54, -1 mod 11, so the check digit is the digit repeated), and NHS England treats them as
 * invalid: `0000000000` and `9999999999` are what placeholders and a held-down key look like.
 * One rule for the service and every mapper, so a record a mapper converts is never refused
 * by the service for its NHS number.
 */
export function isNhsNumber(value: string): boolean {
  if (!/^\d{10}$/.test(value) || /^(\d)\1{9}$/.test(value)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(value[i]) * (10 - i);
  const check = 11 - (sum % 11);
  const digit = check === 11 ? 0 : check;
  return digit !== 10 && digit === Number(value[9]);
}

// Verhoeff's dihedral-group tables, as the SNOMED CT identifier check digit uses them.
const VERHOEFF_D = [
  '0123456789', '1234067895', '2340178956', '3401289567', '4012395678',
  '5987604321', '6598710432', '7659821043', '8765932104', '9876543210',
].map((row) => [...row].map(Number)); // prettier-ignore
const VERHOEFF_P = [
  '0123456789', '1576283094', '5803796142', '8916043527',
  '9453126870', '4286573901', '2793806415', '7046913258',
].map((row) => [...row].map(Number)); // prettier-ignore

/**
 * A SNOMED CT identifier as its rules allow: 6 to 18 digits, no leading zero, a partition
 * identifier (the second and third digits from the right) that SNOMED CT uses, and a correct
 * Verhoeff check digit (the last). A code a spreadsheet has rounded to 15 significant digits
 * (`1037661000000102` saved as `1037661000000100`) or written as `1.03766E+15` fails it.
 */
export function isSnomedCtId(value: string): boolean {
  if (!/^[1-9]\d{5,17}$/.test(value)) return false;
  const partition = value.slice(-3, -1);
  if (!['00', '01', '02', '10', '11', '12'].includes(partition)) return false;
  let check = 0;
  [...value].reverse().forEach((digit, i) => {
    check = VERHOEFF_D[check]?.[VERHOEFF_P[i % 8]?.[Number(digit)] ?? 0] ?? 0;
  });
  return check === 0;
}
