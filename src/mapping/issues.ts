/**
 * Issues about native input. Each names the file, the place in it (`row 7, column "Mental Health
 * Rank"`, `message 2, segment 5 (OBX), field OBX-5`) in `location`, and in `expression` the FHIRPath
 * of the element the value was going to (or the native field when there is none). As in
 * src/validation, messages never repeat the offending value: outcomes are logged, and values may
 * be patient data.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { SESSION_START_EXTENSION } from './record';
import type { Target } from './spec';

export type IssueCode = OperationOutcomeIssue['code'];

export function placedIssue(
  code: IssueCode,
  message: string,
  expression: string,
  file: string,
  location: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcomeIssue {
  return {
    severity,
    code,
    details: { text: message },
    diagnostics: `${file}: ${location}: ${message}`,
    expression: [expression],
    location: [location],
  };
}

/** Adds the file and place to an issue found on the FHIR side (e.g. by responseToSession). */
export function placeIssue(
  issue: OperationOutcomeIssue,
  file: string,
  location: string,
): OperationOutcomeIssue {
  const text = issue.details?.text ?? issue.diagnostics ?? '';
  return { ...issue, diagnostics: `${file}: ${location}: ${text}`, location: [location] };
}

/**
 * The header's notices (columns.ts matchHeader) as the CSV readers report them: a column the
 * mapping does not read is a warning saying so, as HL7 v2's parts not read are (c7bd5e1). Its rows
 * are converted and the loss named (the column, and its place in `location`: `row 1, column 48
 * "Notes"`); as an error it made the CLI exit 1 on a file whose every row was converted. A header
 * that cannot be read (a column missing or repeated: matchHeader's `fatal` ones) stays as it is.
 */
export function headerNotice(issue: OperationOutcomeIssue, file: string): OperationOutcomeIssue {
  if (issue.severity === 'fatal') return issue;
  // matchHeader's other notices are about one unknown column each: its header text is the
  // expression, its place the location (`row 1, column 48 "Notes"`).
  const column = issue.expression?.[0] ?? '';
  const location = issue.location?.[0] ?? 'row 1';
  const position = /^row 1, column (\d+) /.exec(location)?.[1];
  const text =
    `Column "${column}"${position ? ` (column ${position} of the header)` : ''} is not read by ` +
    'this mapping; its cells are not converted';
  return placedIssue(issue.code, text, column, file, location, 'warning');
}

export function rejection(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

const RATINGS = "QuestionnaireResponse.item.where(linkId='ratings')";
const DISCUSSION = "QuestionnaireResponse.item.where(linkId='discussion')";

/** FHIRPath of the element a native value maps to. */
export function targetExpression(target: Target, concept?: string): string {
  switch (target) {
    case 'person.name':
      return 'QuestionnaireResponse.contained.ofType(Patient).name';
    case 'person.identifier':
      return 'QuestionnaireResponse.contained.ofType(Patient).identifier';
    case 'session.identifier':
      return 'QuestionnaireResponse.identifier';
    case 'session.start':
      return `QuestionnaireResponse.extension('${SESSION_START_EXTENSION}').value`;
    case 'session.end':
    case 'session.authored':
      return 'QuestionnaireResponse.authored';
    case 'item.code':
      return `${RATINGS}.item.linkId`;
    case 'item.score':
      return `${RATINGS}.item.where(linkId='${concept}').item.where(linkId='${concept}.score').answer.value`;
    case 'item.helpWanted':
      return `${RATINGS}.item.where(linkId='${concept}').item.where(linkId='${concept}.help').answer.value`;
    case 'item.chosen':
      return `${DISCUSSION}.item.where(linkId='chosen-items').answer`;
    case 'item.actions':
      return `${DISCUSSION}.item.where(linkId='discussed-item').item.where(linkId='discussed-item.action')`;
  }
}
