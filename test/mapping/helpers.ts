/** Shared by the mapping tests: fixtures, conversions in memory, one validator. Not a test file. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OperationOutcomeIssue, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import {
  convertText,
  type ConvertOptions,
  type MappingSpec,
  type TextConversion,
} from '../../src/mapping';
import { createValidator, hasErrors, type Validator } from '../../src/validation';

export const DATA_DIR = join(__dirname, '..', 'data');

export function fixture(...parts: string[]): string {
  return readFileSync(join(DATA_DIR, ...parts), 'utf8');
}

/** A fixed clock for HL7 headers (MSH-7), as the HL7 fixtures were written with. */
export const FIXED_NOW = (): Date => new Date(Date.UTC(2026, 0, 5, 9, 0, 0));

export function run(
  text: string,
  from: string | MappingSpec,
  to: string | MappingSpec,
  options: Partial<Omit<ConvertOptions, 'from' | 'to'>> = {},
): Promise<TextConversion> {
  return convertText(text, { now: FIXED_NOW, ...options, from, to });
}

export function lines(ndjson: string): Resource[] {
  return ndjson
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Resource);
}

export function responses(ndjson: string): QuestionnaireResponse[] {
  return lines(ndjson).filter(
    (r): r is QuestionnaireResponse => r.resourceType === 'QuestionnaireResponse',
  );
}

let validator: Validator | undefined;

/** Error issues the dialog-fhir validator finds in a resource (none expected for our output). */
export function validationErrors(resource: Resource): OperationOutcomeIssue[] {
  validator ??= createValidator();
  const outcome = validator.validate(resource);
  return hasErrors(outcome) ? outcome.issue.filter((i) => i.severity === 'error') : [];
}

/** Each rejected record as "location: issue location | message", for readable expectations. */
export function rejectSummary(result: TextConversion): string[] {
  return result.rejects.flatMap((r) =>
    r.outcome.issue.map(
      (i) => `${r.location}: ${i.location?.[0] ?? ''} | ${i.details?.text ?? ''}`,
    ),
  );
}
