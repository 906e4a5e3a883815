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

/** NHS number: 10 digits, the last a modulus 11 check digit (a check digit of 10 is invalid). */
export function isNhsNumber(value: string): boolean {
  if (!/^\d{10}$/.test(value)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(value[i]) * (10 - i);
  const check = 11 - (sum % 11);
  const digit = check === 11 ? 0 : check;
  return digit !== 10 && digit === Number(value[9]);
}
