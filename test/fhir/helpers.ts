/** Small helpers the FHIR tests share. Not a test file itself. */
import { createValidator, type Validator } from '../../src/validation';

let validator: Validator | undefined;

/** The validator's errors for a resource, as `expression: message` lines (none: valid). */
export function errorsOf(resource: unknown): string[] {
  validator ??= createValidator();
  return validator
    .validate(resource)
    .issue.filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression?.[0]}: ${i.diagnostics}`);
}

/** A copy without the given keys. */
export function omit<T extends object, K extends keyof T>(value: T, ...keys: K[]): Omit<T, K> {
  const kept = Object.entries(value).filter(([key]) => !(keys as PropertyKey[]).includes(key));
  return Object.fromEntries(kept) as Omit<T, K>;
}
