/**
 * OperationOutcome building blocks. Every fault carries severity, an IssueType code, a message a
 * person can act on, and a FHIRPath `expression` naming where it is. Messages never repeat the
 * offending value: validation results are logged, and values may be patient data.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];
export type Severity = OperationOutcomeIssue['severity'];

export function issue(
  severity: Severity,
  code: IssueCode,
  message: string,
  expression: string,
): OperationOutcomeIssue {
  return {
    severity,
    code,
    details: { text: message },
    diagnostics: message,
    expression: [expression],
  };
}

export function error(code: IssueCode, message: string, expression: string): OperationOutcomeIssue {
  return issue('error', code, message, expression);
}

export function outcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  if (issues.length > 0) return { resourceType: 'OperationOutcome', issue: issues };
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'information', code: 'informational', details: { text: 'All OK' } }],
  };
}

export function hasErrors(result: OperationOutcome): boolean {
  return result.issue.some((i) => i.severity === 'error' || i.severity === 'fatal');
}

const TYPE_SUFFIX =
  /^([a-z][A-Za-z]*?)(Boolean|Integer|Decimal|String|Date|DateTime|Time|Instant|Uri|Url|Canonical|Code|Id|Oid|Uuid|Markdown|Base64Binary|PositiveInt|UnsignedInt|Coding|CodeableConcept|Quantity|Period|Range|Ratio|Reference|Attachment|Identifier|HumanName|Address|ContactPoint|Timing|Annotation|SampledData|Signature|Age|Distance|Duration|Count|Money|Expression|Meta|Dosage)$/;
const PRIMITIVE_TYPES = new Set([
  'Boolean',
  'Integer',
  'Decimal',
  'String',
  'Date',
  'DateTime',
  'Time',
  'Instant',
  'Uri',
  'Url',
  'Canonical',
  'Code',
  'Id',
  'Oid',
  'Uuid',
  'Markdown',
  'Base64Binary',
  'PositiveInt',
  'UnsignedInt',
]);

/** `value` + `Coding` → `value.ofType(Coding)`; primitive type names are lower camel case in FHIRPath. */
export function propertyToFhirPath(property: string, isChoice: (base: string) => boolean): string {
  const match = TYPE_SUFFIX.exec(property);
  if (!match?.[1] || !match[2] || !isChoice(match[1])) return property;
  const type = match[2];
  const typeName = PRIMITIVE_TYPES.has(type) ? type.charAt(0).toLowerCase() + type.slice(1) : type;
  return `${match[1]}.ofType(${typeName})`;
}

/** JSON pointer segments → FHIRPath: `/item/1/answer/0/valueCoding` → `.item[1].answer[0].value.ofType(Coding)`. */
export function pointerToFhirPath(
  root: string,
  segments: readonly string[],
  isChoice: (base: string) => boolean,
): string {
  let path = root;
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) path += `[${segment}]`;
    else path += `.${propertyToFhirPath(segment, isChoice)}`;
  }
  return path;
}
