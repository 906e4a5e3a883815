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
