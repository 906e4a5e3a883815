/**
 * The SDC `Questionnaire/$populate` operation's FHIR `Parameters`, in and out. In: `subject`
 * (Reference, required) and the Questionnaire as `canonical` (SDC's current name), a
 * `questionnaire` resource, or `questionnaireRef` (SDC STU3). Out: `response` (the
 * QuestionnaireResponse) and, when there is anything to say, `issues` (an OperationOutcome).
 * What $populate needs beyond the parameters (the person's earlier responses, the time now) is
 * passed in by the caller, so this stays free of I/O.
 */
import type {
  OperationOutcome,
  OperationOutcomeIssue,
  Parameters,
  ParametersParameter,
  Questionnaire,
} from '@medplum/fhirtypes';
import { error, outcome } from '../validation/outcome';
import { DIALOG_QUESTIONNAIRE } from './canonical';
import { populateResponse, type PopulateRequest, type PopulateResult } from './populate';

export interface PopulateInput {
  readonly subject: string;
  readonly subjectDisplay?: string;
  /** The Questionnaire's canonical URL, without version. */
  readonly questionnaire: string;
}

export type ParametersResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly outcome: OperationOutcome };

/** The parameter of this name; none when `parameter` is not the list of objects FHIR says. */
function named(params: Parameters, name: string): ParametersParameter | undefined {
  const list: unknown = params.parameter;
  if (!Array.isArray(list)) return undefined;
  return (list as unknown[]).find(
    (p): p is ParametersParameter =>
      typeof p === 'object' && p !== null && (p as ParametersParameter).name === name,
  );
}

function where(name: string): string {
  return `Parameters.parameter.where(name = '${name}')`;
}

/** The Questionnaire the parameters name (canonical, questionnaire or questionnaireRef), unversioned. */
export function questionnaireOf(params: Parameters): string | undefined {
  const canonical = named(params, 'canonical');
  const fromCanonical = canonical?.valueCanonical ?? canonical?.valueUri ?? canonical?.valueUrl;
  const resource = named(params, 'questionnaire')?.resource;
  const fromResource =
    resource?.resourceType === 'Questionnaire' ? (resource as Questionnaire).url : undefined;
  const ref = named(params, 'questionnaireRef')?.valueReference?.reference;
  const fromRef = ref === 'Questionnaire/dialog' ? DIALOG_QUESTIONNAIRE : ref;
  return (fromCanonical ?? fromResource ?? fromRef)?.split('|')[0];
}

/** Reads $populate's input Parameters; only the DIALOG Questionnaire is populated here. */
export function readPopulateParameters(params: Parameters): ParametersResult<PopulateInput> {
  if (params.resourceType !== 'Parameters')
    return {
      ok: false,
      outcome: outcome([error('structure', 'Expected Parameters', 'Parameters')]),
    };
  const subject = named(params, 'subject')?.valueReference;
  const questionnaire = questionnaireOf(params);
  const problems: OperationOutcomeIssue[] = [];
  if (!subject?.reference)
    problems.push(
      error('required', 'subject (a Reference to the person) is required', where('subject')),
    );
  else if (params.parameter?.filter((p) => p?.name === 'subject').length !== 1)
    problems.push(error('structure', 'subject is given more than once', where('subject')));
  if (!questionnaire)
    problems.push(
      error('required', 'canonical (the Questionnaire) is required', where('canonical')),
    );
  else if (questionnaire !== DIALOG_QUESTIONNAIRE)
    problems.push(
      error('not-supported', 'Only the DIALOG Questionnaire is populated here', where('canonical')),
    );
  if (problems.length > 0 || !subject?.reference || !questionnaire)
    return { ok: false, outcome: outcome(problems) };
  return {
    ok: true,
    value: {
      subject: subject.reference,
      ...(subject.display ? { subjectDisplay: subject.display } : {}),
      questionnaire,
    },
  };
}

/** $populate's output Parameters: `response`, then `issues` when there are any. */
export function populateOutputParameters(result: PopulateResult): Parameters {
  const parameter: ParametersParameter[] = [{ name: 'response', resource: result.response }];
  if (result.issues.length > 0)
    parameter.push({
      name: 'issues',
      resource: { resourceType: 'OperationOutcome', issue: [...result.issues] },
    });
  return { resourceType: 'Parameters', parameter };
}

/** What the operation needs besides its parameters. */
export type PopulateContext = Omit<PopulateRequest, 'subject' | 'subjectDisplay'>;

/** The whole operation: input Parameters → output Parameters, or the OperationOutcome refusing it. */
export function populateOperation(
  params: Parameters,
  context: PopulateContext,
): ParametersResult<Parameters> {
  const input = readPopulateParameters(params);
  if (!input.ok) return input;
  const { subject, subjectDisplay } = input.value;
  const result = populateResponse({
    ...context,
    subject,
    ...(subjectDisplay ? { subjectDisplay } : {}),
  });
  return { ok: true, value: populateOutputParameters(result) };
}
