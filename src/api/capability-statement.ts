/**
 * The instance CapabilityStatement served at /fhir/metadata, built from what the code does: the
 * types the service serves, the search parameters the stores index, the operations routed. It
 * names the package's draft statement in `instantiates`. With AUTH=off it says so in `security`.
 */
import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceOperation,
  CapabilityStatementRestSecurity,
  ResourceType,
} from '@medplum/fhirtypes';
import { Profiles } from '../fhir/canonical';
import { SERVED_TYPES } from '../service/fhir-service';
import { searchParametersFor } from '../store';
import type { ConformancePackage } from '../validation';

const OPERATIONS: CapabilityStatementRestResourceOperation[] = [
  { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
  {
    name: 'extract',
    definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract',
  },
  {
    name: 'populate',
    definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate',
  },
  {
    name: 'letter',
    definition: 'https://dialog-fhir.org/fhir/OperationDefinition/CarePlan-letter',
    documentation: 'The plan for the person: ?format=html|pdf|sms',
  },
  {
    name: 'chart',
    definition: 'https://dialog-fhir.org/fhir/OperationDefinition/CarePlan-chart',
    documentation: 'The ratings over time as SVG',
  },
  {
    name: 'transfer',
    definition: 'https://dialog-fhir.org/fhir/OperationDefinition/Patient-transfer',
    documentation: 'Hand the one plan over to a peer system (destination, reason)',
  },
  {
    name: 'dialog-summary',
    definition: 'https://dialog-fhir.org/fhir/OperationDefinition/Patient-dialog-summary',
    documentation: 'A person’s ratings over time, paired changes and the timepoint due next',
  },
];

/** Operations on the whole system (not one type). */
const SYSTEM_OPERATIONS: CapabilityStatementRestResourceOperation[] = [
  {
    name: 'plan-sync-notification',
    definition: 'https://dialog-fhir.org/fhir/OperationDefinition/plan-sync-notification',
    documentation:
      'POST /fhir/$plan-sync-notification/{peer}: a peer’s rest-hook Subscription notification; the plans it names are pulled and merged (src/transfer/plan-sync.ts)',
  },
];

/**
 * Encounters are kept for one purpose, starting a handover (src/api/encounter-routes.ts): no
 * profile, and only `_id` and `_lastUpdated` searches.
 */
function encounter(): CapabilityStatementRestResource {
  return {
    ...resource('Encounter'),
    documentation:
      'An inpatient Encounter in-progress hands the plan to the inpatient peer; finished, back to the community peer. Not open to patient-confined callers.',
    conditionalCreate: false,
    conditionalUpdate: false,
    searchParam: [
      { name: '_id', type: 'token' },
      { name: '_lastUpdated', type: 'date' },
    ],
  };
}

/** AuditEvents are this service's own record of every request: read and searched only. */
function auditEvent(): CapabilityStatementRestResource {
  const {
    conditionalCreate: _c,
    conditionalUpdate: _u,
    updateCreate: _uc,
    ...rest
  } = resource('AuditEvent');
  void _c;
  void _u;
  void _uc;
  return {
    ...rest,
    documentation:
      'Written by this service, one for every request to /fhir and /native; read and searched, never created or changed through the API.',
    interaction: ['read', 'vread', 'search-type', 'history-instance'].map(
      (code) => ({ code }) as { code: 'read' },
    ),
  };
}

const PROFILE_OF: Readonly<Record<string, string>> = {
  QuestionnaireResponse: Profiles.response,
  CarePlan: Profiles.carePlan,
  Goal: Profiles.goal,
};

function resource(type: ResourceType): CapabilityStatementRestResource {
  const profile = PROFILE_OF[type];
  return {
    type,
    ...(profile ? { supportedProfile: [profile] } : {}),
    interaction: ['read', 'vread', 'search-type', 'create', 'update', 'history-instance'].map(
      (code) => ({ code }) as { code: 'read' },
    ),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    // If-None-Match only (src/api/caching.ts).
    conditionalRead: 'not-match',
    conditionalCreate: true,
    conditionalUpdate: true,
    conditionalDelete: 'not-supported',
    searchParam: searchParametersFor(type).map((p) => ({ name: p.name, type: p.type })),
  };
}

export function capabilityStatement(
  pkg: ConformancePackage,
  auth: 'jwt' | 'off',
  now: Date,
): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: now.toISOString(),
    kind: 'instance',
    instantiates: [`${pkg.canonical}/CapabilityStatement/dialog-fhir-server`],
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: 'dialog-fhir', version: pkg.version },
    implementation: { description: 'dialog-fhir: the DIALOG+ care plan as FHIR R4' },
    implementationGuide: [`${pkg.canonical}/ImplementationGuide/${pkg.name}`],
    rest: [
      {
        mode: 'server',
        documentation:
          'Sessions (DIALOG QuestionnaireResponses) are submitted atomically with their Observations, plan update and Provenance. Transactions store what they are given; batches handle each entry as a single request. Nothing is deleted.',
        security: security(auth),
        resource: [
          ...SERVED_TYPES.map((t) => (t === 'AuditEvent' ? auditEvent() : resource(t))),
          encounter(),
        ],
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        operation: [...OPERATIONS, ...SYSTEM_OPERATIONS],
      },
    ],
  };
}

function security(auth: 'jwt' | 'off'): CapabilityStatementRestSecurity {
  if (auth === 'off')
    return {
      cors: false,
      description:
        'WARNING: AUTH=off. Authentication is disabled on this instance: anyone who can reach it can read and change every record. Never run it like this with real patient data.',
    };
  return {
    cors: false,
    service: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
            code: 'SMART-on-FHIR',
          },
        ],
      },
    ],
    description:
      'Bearer JWTs with SMART v2 scopes (patient/, user/, system/) and a patient context; a carer sees only what the person’s Consent shares.',
  };
}
