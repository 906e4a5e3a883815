/**
 * One R4 `AuditEvent` per read or write (and per refused attempt), after the shape of IHE Basic
 * Audit Log Patterns (BALP) for RESTful interactions:
 *   type     `audit-event-type#rest`; subtype the `restful-interaction` code (plus the operation
 *            name under `urn:dialog-fhir:operation` for `$` operations);
 *   action   C create, R read/vread/history, U update/patch, D delete, E search, transaction,
 *            batch and operations (FHIR's guidance: a query is an execute);
 *   outcome  0 success, 4 refused or a client error (4xx), 8 a server failure (5xx);
 *   agent    the user (fhirUser reference) as requestor, and the client application (its
 *            `client_id`); without a fhirUser the client is the requestor;
 *   source   this system (`observer.display` = its name; type Application Server);
 *   entity   each resource touched (`Type/id`, System Object / Domain Resource), the person
 *            (`Patient/id`, Person / Patient: the store's `patient` search finds the event by it),
 *            and the request id (BALP `XrequestId`).
 * Only references and technical identifiers go in: no names, no NHS numbers, no free text, no
 * search query (its parameters may carry identifiers), and not the token's `sub` (it may identify
 * a person outside FHIR). Ids and the request id are checked against FHIR's id syntax and left
 * out when they do not match, so caller text cannot get in that way either.
 */
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import { FHIR_ID, type AccessContext } from './access-context';
import type { Interaction } from './scopes';

export type AuditInteraction = Interaction | 'transaction' | 'batch' | 'operation';

export interface AuditInput {
  /** The caller; undefined when authentication failed (the 401 is audited too). */
  readonly ctx?: AccessContext;
  readonly interaction: AuditInteraction;
  /** The HTTP status answered. */
  readonly status: number;
  /** The type the interaction was on (absent for a system-level search, transaction, batch). */
  readonly resourceType?: string;
  /** Ids of the resources read or written (for a search: those returned). */
  readonly ids?: readonly string[];
  /** The person the data is about, when known. */
  readonly patientId?: string;
  /** An operation's name, e.g. `$extract`. */
  readonly operation?: string;
  readonly requestId: string;
  readonly now: Date;
  /** This system's name, e.g. `dialog-fhir`. */
  readonly source: string;
}

export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
export const OPERATION_SYSTEM = 'urn:dialog-fhir:operation';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const DICOM = 'http://dicom.nema.org/resources/ontology/DCM';
export const CLIENT_ID_SYSTEM = 'urn:ietf:params:oauth:client-id';
const TECHNICAL_ID = /^[A-Za-z0-9\-._:]{1,128}$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const OPERATION = /^\$[a-z][a-z-]{0,63}$/;

const ACTION: Readonly<Record<AuditInteraction, NonNullable<AuditEvent['action']>>> = {
  create: 'C',
  read: 'R',
  vread: 'R',
  history: 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  search: 'E',
  transaction: 'E',
  batch: 'E',
  operation: 'E',
};

function subtypeCode(input: AuditInput, hasIds: boolean): string {
  switch (input.interaction) {
    case 'search':
      return input.resourceType ? 'search-type' : 'search-system';
    case 'history':
      return hasIds ? 'history-instance' : input.resourceType ? 'history-type' : 'history-system';
    default:
      return input.interaction;
  }
}

function outcomeCode(status: number): NonNullable<AuditEvent['outcome']> {
  if (status < 400) return '0';
  return status < 500 ? '4' : '8';
}

function agents(ctx: AccessContext | undefined): AuditEventAgent[] {
  const requestorType = { coding: [{ system: PARTICIPATION, code: 'IRCP' }] };
  const clientType = { coding: [{ system: DICOM, code: '110153', display: 'Source Role ID' }] };
  if (ctx === undefined) return [{ type: requestorType, requestor: true }];
  if (ctx.mode === 'off') {
    return [
      {
        type: requestorType,
        who: { identifier: { system: 'urn:dialog-fhir:auth', value: 'off' } },
        requestor: true,
      },
    ];
  }
  const client: AuditEventAgent | undefined =
    ctx.clientId !== undefined && TECHNICAL_ID.test(ctx.clientId)
      ? {
          type: clientType,
          who: { identifier: { system: CLIENT_ID_SYSTEM, value: ctx.clientId } },
          requestor: ctx.fhirUser === undefined,
        }
      : undefined;
  const user: AuditEventAgent | undefined =
    ctx.fhirUser !== undefined
      ? { type: requestorType, who: { reference: ctx.fhirUser }, requestor: true }
      : undefined;
  const list = [user, client].filter((a): a is AuditEventAgent => a !== undefined);
  return list.length > 0 ? list : [{ type: requestorType, requestor: true }];
}

function resourceEntity(reference: string): AuditEventEntity {
  return {
    what: { reference },
    type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
  };
}

function patientEntity(patientId: string): AuditEventEntity {
  return {
    what: { reference: `Patient/${patientId}` },
    type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
    role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  };
}

/** The AuditEvent of one interaction (see the header for its shape). */
export function auditEvent(input: AuditInput): AuditEvent {
  const type =
    input.resourceType !== undefined && RESOURCE_TYPE.test(input.resourceType)
      ? input.resourceType
      : undefined;
  const ids =
    type === undefined ? [] : [...new Set(input.ids ?? [])].filter((id) => FHIR_ID.test(id));
  const patientId =
    input.patientId !== undefined && FHIR_ID.test(input.patientId) ? input.patientId : undefined;
  const subtype: Coding[] = [
    { system: RESTFUL_INTERACTION, code: subtypeCode(input, ids.length > 0) },
  ];
  if (input.operation !== undefined && OPERATION.test(input.operation)) {
    subtype.push({ system: OPERATION_SYSTEM, code: input.operation });
  }
  const entity: AuditEventEntity[] = ids
    .filter((id) => !(type === 'Patient' && id === patientId))
    .map((id) => resourceEntity(`${type}/${id}`));
  if (patientId !== undefined) entity.unshift(patientEntity(patientId));
  if (TECHNICAL_ID.test(input.requestId)) {
    entity.push({
      what: { identifier: { value: input.requestId } },
      type: { system: BALP_ENTITY_TYPE, code: 'XrequestId' },
    });
  }
  return {
    resourceType: 'AuditEvent',
    type: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
    subtype,
    action: ACTION[input.interaction],
    recorded: input.now.toISOString(),
    outcome: outcomeCode(input.status),
    agent: agents(input.ctx),
    source: {
      observer: { display: input.source },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    ...(entity.length > 0 ? { entity } : {}),
  };
}
