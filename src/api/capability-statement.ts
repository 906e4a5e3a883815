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

/** Operations on one type, by the type they are on (`/fhir/Type/$op`, `/fhir/Type/id/$op`). */
const TYPE_OPERATIONS: Readonly<Record<string, CapabilityStatementRestResourceOperation[]>> = {
  QuestionnaireResponse: [
    {
      name: 'extract',
      definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract',
    },
  ],
  Questionnaire: [
    {
      name: 'populate',
      definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate',
    },
  ],
  CarePlan: [
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
  ],
  Patient: [
    {
      name: 'dialog-summary',
      definition: 'https://dialog-fhir.org/fhir/OperationDefinition/Patient-dialog-summary',
      documentation: 'A person’s ratings over time, paired changes and the timepoint due next',
    },
  ],
};

/** Operations there only when peer systems are configured (PEERS_FILE). */
const TRANSFER: CapabilityStatementRestResourceOperation = {
  name: 'transfer',
  definition: 'https://dialog-fhir.org/fhir/OperationDefinition/Patient-transfer',
  documentation: 'Hand the one plan over to a peer system (destination, reason)',
};

const VALIDATE: CapabilityStatementRestResourceOperation = {
  name: 'validate',
  definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
};

/** Operations on the whole system (not one type), with peers configured. */
const PEER_OPERATIONS: CapabilityStatementRestResourceOperation[] = [
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
  options: { readonly peers?: boolean } = {},
): CapabilityStatement {
  const withOperations = (r: CapabilityStatementRestResource): CapabilityStatementRestResource => {
    const operation = [
      ...(TYPE_OPERATIONS[r.type] ?? []),
      ...(r.type === 'Patient' && options.peers ? [TRANSFER] : []),
    ];
    return operation.length > 0 ? { ...r, operation } : r;
  };
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
        ].map(withOperations),
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        operation: [VALIDATE, ...(options.peers ? PEER_OPERATIONS : [])],
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
  // Not the SMART-on-FHIR service coding: that promises /.well-known/smart-configuration and an
  // authorization server's endpoints, which are the token issuer's, not this service's.
  return {
    cors: false,
    service: [{ text: 'Bearer JWT (OAuth 2.0 access tokens from the configured issuer)' }],
    description:
      'Bearer JWTs with SMART v2 scopes (patient/, user/, system/) and a patient context, from the issuer this instance is configured with (AUTH_ISSUER); a carer sees only what the person’s Consent shares.',
  };
}
