/**
 * `dialog-fhir validate <file|dir>…`: validates FHIR JSON files (a resource, a Bundle, or NDJSON
 * with one resource per line) and prints an OperationOutcome for each file with problems.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { createValidator, hasErrors, type Validator } from '../validation';

export interface FileResult {
  readonly file: string;
  readonly outcome: OperationOutcome;
}

export function listJsonFiles(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target)
    .sort()
    .flatMap((name) => listJsonFiles(join(target, name)))
    .filter((f) => f.endsWith('.json') || f.endsWith('.ndjson'));
}

export function validateFile(validator: Validator, file: string): FileResult {
  const text = readFileSync(file, 'utf8');
  if (!file.endsWith('.ndjson')) return { file, outcome: validator.validateJson(text).outcome };
  const issues = text
    .split('\n')
    .map((line, i) => ({ line: line.trim(), i }))
    .filter(({ line }) => line.length > 0)
    .flatMap(({ line, i }) =>
      validator
        .validateJson(line)
        .outcome.issue.filter((issue) => issue.severity !== 'information')
        .map((issue) => ({ ...issue, location: [`line ${i + 1}`] })),
    );
  return { file, outcome: { resourceType: 'OperationOutcome', issue: issues } };
}

/** Returns the process exit code: 0 when every file is valid, 1 when any has an error. */
export function runValidate(targets: string[], print: (line: string) => void): number {
  if (targets.length === 0) {
    print('usage: dialog-fhir validate <file|dir> [more…]');
    return 2;
  }
  const validator = createValidator();
  let failed = 0;
  let count = 0;
  for (const file of targets.flatMap(listJsonFiles)) {
    count++;
    const { outcome } = validateFile(validator, file);
    if (hasErrors(outcome)) {
      failed++;
      print(`✗ ${file}`);
      print(JSON.stringify(outcome, null, 2));
    } else {
      print(`✓ ${file}`);
    }
  }
  print(`${count} file(s) checked, ${failed} invalid`);
  return failed > 0 ? 1 : 0;
}
