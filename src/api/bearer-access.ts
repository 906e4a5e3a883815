/**
 * The caller's `Access` from src/auth: a verified bearer token's context (or AUTH=off's), its
 * scopes checked per interaction, its patient context, and — for a carer — the person's active
 * Consents, read once per request, deciding what the carer sees.
 */
import type { Consent, Resource } from '@medplum/fhirtypes';
import {
  agentReference,
  authOffContext,
  authorize,
  compartmentPatient,
  consentView,
  DEFINITIONAL_TYPES,
  inPatientCompartment,
  requiredConsentSearch,
  type AccessContext,
  type TokenVerifier,
} from '../auth';
import type { Access } from '../service/access';
import type { FhirStore } from '../store';
import type { Authenticate } from './access';

const CONSENT_PAGE = 1000;

export function accessOfContext(
  context: AccessContext,
  view: Access['view'] = (resource) => resource,
): Access {
  const patient = compartmentPatient(context);
  return {
    context,
    check: (interaction, type) => {
      authorize(context, interaction, type);
    },
    ...(patient !== undefined ? { patient } : {}),
    inCompartment: (resource: Resource) =>
      patient === undefined ||
      DEFINITIONAL_TYPES.has(resource.resourceType) ||
      inPatientCompartment(resource, patient),
    view,
    agent: agentReference(context),
  };
}

export function authOffAccess(): Access {
  return accessOfContext(authOffContext());
}

/** Authentication by bearer JWT; carers get the person's Consents applied to what they see. */
export function bearerAuthenticate(
  verifier: TokenVerifier,
  store: FhirStore,
  now: () => Date,
): Authenticate {
  return async (req) => {
    const context = await verifier.verify(req.headers.authorization);
    if (context.role !== 'carer' || context.patient === undefined) return accessOfContext(context);
    const { params } = requiredConsentSearch(context.patient);
    const consents = await store.search('Consent', params, { count: CONSENT_PAGE });
    const view = consentView(context, consents.resources as Consent[], now());
    return accessOfContext(context, <T extends Resource>(r: T) => view(r) as T | undefined);
  };
}
