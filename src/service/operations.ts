/**
 * The SDC operations over stored data: `QuestionnaireResponse/$extract` (the Observations a
 * response gives, as a transaction Bundle, without storing anything) and `Questionnaire/$populate`
 * (a new DIALOG response pre-filled from the person's latest rating and last time's actions).
 * Both read the person's earlier responses from the store, within the caller's access.
 */
import type {
  Bundle,
  Parameters,
  Questionnaire,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { extractObservations, populateOperation, readPopulateParameters } from '../fhir';
import { questionnaireOf } from '../fhir/populate-parameters';
import { hasErrors } from '../validation';
import type { Access } from './access';
import { bodyOfType, type FhirService } from './fhir-service';
import { fault, HttpOutcomeError, unprocessable } from './outcomes';
import { storedOrUndefined } from './references';

const PAGE = 1000;

/** The response a `$extract` request names: the body itself, or a `questionnaire-response` parameter. */
export function extractInput(body: unknown): QuestionnaireResponse {
  const resource = body as Resource | undefined;
  if (resource?.resourceType === 'QuestionnaireResponse') return resource;
  if (resource?.resourceType === 'Parameters') {
    const named = resource.parameter?.find((p) => p.name === 'questionnaire-response')?.resource;
    if (named?.resourceType === 'QuestionnaireResponse') return named;
  }
  throw fault(
    400,
    'invalid',
    'Send a QuestionnaireResponse, or Parameters with a questionnaire-response',
    'Parameters.parameter',
  );
}

export async function extract(
  service: FhirService,
  access: Access,
  response: QuestionnaireResponse,
): Promise<Bundle> {
  access.check('read', 'QuestionnaireResponse');
  access.check('search', 'QuestionnaireResponse');
  if (!access.inCompartment(response))
    throw fault(
      403,
      'forbidden',
      'The response is about someone else',
      'QuestionnaireResponse.subject',
    );
  const validation = service.validate(response);
  if (hasErrors(validation)) throw unprocessable(validation);
  const subject = response.subject?.reference;
  const history = subject ? await responsesOf(service, access, subject) : [];
  const result = extractObservations(response, { history });
  if (!result.ok) throw new HttpOutcomeError(422, result.outcome);
  return result.bundle;
}

const VALIDATE_INPUTS = new Set(['resource', 'mode', 'profile']);
const VALIDATE_AT = (name: string): string => `Parameters.parameter.where(name = '${name}')`;

/**
 * What `$validate` (or `Type/$validate`, `type`) validates: the body itself, or FHIR's
 * Parameters form of the operation (`resource`, with `mode` create or update) as HAPI and
 * Medplum clients send it. A Parameters body naming only those inputs is the operation's input;
 * any other Parameters is itself the resource to validate. `profile` is refused: a resource is
 * validated against the profiles it declares (`meta.profile`).
 */
export function validateInput(body: unknown, type: string | undefined): Resource {
  const params = (body as Partial<Parameters> | null)?.parameter;
  const isInput =
    type !== 'Parameters' &&
    (body as Partial<Parameters> | null)?.resourceType === 'Parameters' &&
    Array.isArray(params) &&
    params.some((p) => (p as { name?: unknown } | null)?.name === 'resource') &&
    params.every((p) => VALIDATE_INPUTS.has(String((p as { name?: unknown } | null)?.name)));
  if (!isInput) return bodyOfType(body, type ?? resourceTypeOf(body));
  const named = (name: string) => params.filter((p) => p.name === name);
  if (named('resource').length > 1 || named('mode').length > 1)
    throw fault(400, 'invalid', 'resource and mode are given once each', VALIDATE_AT('resource'));
  const mode = named('mode')[0];
  if (mode && !['create', 'update'].includes(mode.valueCode ?? ''))
    throw fault(400, 'not-supported', 'mode is create or update here', VALIDATE_AT('mode'));
  if (named('profile').length > 0)
    throw fault(
      400,
      'not-supported',
      'Resources are validated against the profiles they declare (meta.profile)',
      VALIDATE_AT('profile'),
    );
  const inner: unknown = named('resource')[0]?.resource;
  return bodyOfType(inner, type ?? resourceTypeOf(inner));
}

function resourceTypeOf(body: unknown): string {
  const type = (body as { resourceType?: unknown } | null)?.resourceType;
  return typeof type === 'string' ? type : 'Resource';
}

/**
 * `Questionnaire/{id}/$populate`: the Parameters with the stored Questionnaire `id` as their
 * `canonical` (404 when there is none). Parameters that name a Questionnaire as well must name the
 * same one (400 otherwise: which one was meant cannot be told).
 */
export async function withStoredQuestionnaire(
  service: FhirService,
  access: Access,
  id: string,
  params: Parameters,
): Promise<Parameters> {
  const stored = await service.read(access, 'Questionnaire', id);
  const url = (stored as Questionnaire).url ?? '';
  const at = "Parameters.parameter.where(name = 'canonical')";
  const names = ['canonical', 'questionnaire', 'questionnaireRef'];
  const given = (params.parameter ?? []).some((p) => names.includes(p.name ?? ''));
  if (!given)
    return {
      ...params,
      parameter: [...(params.parameter ?? []), { name: 'canonical', valueCanonical: url }],
    };
  if (questionnaireOf(params) !== url.split('|')[0])
    throw fault(400, 'invalid', `The parameters name another Questionnaire than ${id}`, at);
  return params;
}

export async function populate(
  service: FhirService,
  access: Access,
  params: Parameters,
  now: Date,
): Promise<Parameters> {
  access.check('read', 'QuestionnaireResponse');
  const input = readPopulateParameters(params);
  if (!input.ok) throw new HttpOutcomeError(400, input.outcome);
  const subject = input.value.subject;
  if (
    !access.inCompartment({
      resourceType: 'QuestionnaireResponse',
      status: 'in-progress',
      subject: { reference: subject },
    })
  )
    throw fault(
      403,
      'forbidden',
      'The subject is someone else',
      "Parameters.parameter.where(name = 'subject')",
    );
  // A response for no one stored would point at nothing: the subject must be a stored Patient.
  const id = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject)?.[1];
  if (id === undefined || !(await storedOrUndefined(service.deps.store, 'Patient', id)))
    throw fault(
      404,
      'not-found',
      'The subject is not a stored Patient',
      "Parameters.parameter.where(name = 'subject')",
    );
  const history = await responsesOf(service, access, subject);
  const result = populateOperation(params, { authored: now.toISOString(), history });
  if (!result.ok) throw new HttpOutcomeError(422, result.outcome);
  return result.value;
}

async function responsesOf(
  service: FhirService,
  access: Access,
  subject: string,
): Promise<QuestionnaireResponse[]> {
  const params = new URLSearchParams({
    subject,
    status: 'completed,amended',
    _count: String(PAGE),
  });
  const found = await service.search(access, 'QuestionnaireResponse', params);
  return found.resources as QuestionnaireResponse[];
}
