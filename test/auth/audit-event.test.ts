import type { AuditEvent } from '@medplum/fhirtypes';
import { auditEvent, authOffContext, contextFromClaims, type AuditInput } from '../../src/auth';

const NOW = new Date('2025-10-01T12:00:00Z');
const clinician = contextFromClaims({
  sub: 'alice@trust.example',
  fhirUser: 'Practitioner/pr1',
  client_id: 'ehr-app',
  scope: 'user/*.cruds',
});
const peer = contextFromClaims({ sub: 'svc', client_id: 'ward-system', scope: 'system/*.cruds' });

/** Overrides; an `undefined` value removes the default. */
type Overrides = { [K in keyof AuditInput]?: AuditInput[K] | undefined };

function event(overrides: Overrides): AuditEvent {
  const input = Object.fromEntries(
    Object.entries({
      ctx: clinician,
      interaction: 'read',
      status: 200,
      resourceType: 'CarePlan',
      ids: ['c1'],
      patientId: 'p1',
      requestId: 'req-1',
      now: NOW,
      source: 'dialog-fhir',
      ...overrides,
    }).filter(([, value]) => value !== undefined),
  ) as unknown as AuditInput;
  return auditEvent(input);
}

/** Every string value in a JSON tree, with its path. */
function strings(value: unknown, path = ''): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => strings(v, path ? `${path}.${k}` : k));
  }
  return [];
}

describe('auditEvent', () => {
  it('a clinician reading a CarePlan', () => {
    expect(event({})).toEqual({
      resourceType: 'AuditEvent',
      type: {
        system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
        code: 'rest',
        display: 'RESTful Operation',
      },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }],
      action: 'R',
      recorded: '2025-10-01T12:00:00.000Z',
      outcome: '0',
      agent: [
        {
          type: {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
                code: 'IRCP',
              },
            ],
          },
          who: { reference: 'Practitioner/pr1' },
          requestor: true,
        },
        {
          type: {
            coding: [
              {
                system: 'http://dicom.nema.org/resources/ontology/DCM',
                code: '110153',
                display: 'Source Role ID',
              },
            ],
          },
          who: { identifier: { system: 'urn:ietf:params:oauth:client-id', value: 'ehr-app' } },
          requestor: false,
        },
      ],
      source: {
        observer: { display: 'dialog-fhir' },
        type: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
            code: '4',
            display: 'Application Server',
          },
        ],
      },
      entity: [
        {
          what: { reference: 'Patient/p1' },
          type: {
            system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
            code: '1',
            display: 'Person',
          },
          role: {
            system: 'http://terminology.hl7.org/CodeSystem/object-role',
            code: '1',
            display: 'Patient',
          },
        },
        {
          what: { reference: 'CarePlan/c1' },
          type: {
            system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
            code: '2',
            display: 'System Object',
          },
          role: {
            system: 'http://terminology.hl7.org/CodeSystem/object-role',
            code: '4',
            display: 'Domain Resource',
          },
        },
        {
          what: { identifier: { value: 'req-1' } },
          type: {
            system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
            code: 'XrequestId',
          },
        },
      ],
    });
  });

  /** interaction, extra input, subtype code, action */
  const ACTIONS: [AuditInput['interaction'], Overrides, string, string][] = [
    ['create', {}, 'create', 'C'],
    ['read', {}, 'read', 'R'],
    ['vread', {}, 'vread', 'R'],
    ['history', {}, 'history-instance', 'R'],
    ['history', { ids: [] }, 'history-type', 'R'],
    ['update', {}, 'update', 'U'],
    ['patch', {}, 'patch', 'U'],
    ['delete', {}, 'delete', 'D'],
    ['search', { ids: ['c1', 'c2'] }, 'search-type', 'E'],
    ['search', { resourceType: undefined, ids: [] }, 'search-system', 'E'],
    ['transaction', { resourceType: undefined }, 'transaction', 'E'],
    ['batch', { resourceType: undefined }, 'batch', 'E'],
    ['operation', { operation: '$extract' }, 'operation', 'E'],
  ];
  it.each(ACTIONS)('%s %j → %s, %s', (interaction, extra, subtype, action) => {
    const e = event({ interaction, ...extra });
    expect(e.subtype?.[0]?.code).toBe(subtype);
    expect(e.action).toBe(action);
  });

  it('names the operation', () => {
    expect(event({ interaction: 'operation', operation: '$extract' }).subtype?.[1]).toEqual({
      system: 'urn:dialog-fhir:operation',
      code: '$extract',
    });
  });

  it.each([
    [200, '0'],
    [201, '0'],
    [304, '0'],
    [400, '4'],
    [401, '4'],
    [403, '4'],
    [404, '4'],
    [500, '8'],
    [504, '8'],
  ])('status %i → outcome %s', (status, outcome) => {
    expect(event({ status }).outcome).toBe(outcome);
  });

  it('a search lists every resource returned', () => {
    const refs = event({ interaction: 'search', ids: ['c1', 'c2', 'c1'] }).entity?.map(
      (e) => e.what?.reference,
    );
    expect(refs).toEqual(['Patient/p1', 'CarePlan/c1', 'CarePlan/c2', undefined]);
  });

  it('a Patient read names the person once', () => {
    const refs = event({ resourceType: 'Patient', ids: ['p1'] }).entity?.map(
      (e) => e.what?.reference,
    );
    expect(refs).toEqual(['Patient/p1', undefined]);
  });

  it('a system without fhirUser: the client is the requestor', () => {
    expect(event({ ctx: peer }).agent).toEqual([
      expect.objectContaining({
        who: { identifier: { system: 'urn:ietf:params:oauth:client-id', value: 'ward-system' } },
        requestor: true,
      }),
    ]);
  });

  it('AUTH=off and a failed authentication are audited too', () => {
    expect(event({ ctx: authOffContext() }).agent[0]?.who).toEqual({
      identifier: { system: 'urn:dialog-fhir:auth', value: 'off' },
    });
    const failed = event({ ctx: undefined, status: 401, ids: [], patientId: undefined });
    expect(failed.outcome).toBe('4');
    expect(failed.agent).toEqual([expect.objectContaining({ requestor: true })]);
    expect(failed.agent[0]?.who).toBeUndefined();
  });

  it('carries no value but references, codes and technical identifiers', () => {
    const e = event({ interaction: 'search', ids: ['c1', 'c2'] });
    const allowed = new Set(['resourceType', 'recorded', 'action', 'outcome']);
    for (const [path, value] of strings(e)) {
      const ok =
        allowed.has(path) ||
        /\.(system|code|display)$/.test(path) ||
        /\.what\.reference$/.test(path) ||
        /\.who\.reference$/.test(path) ||
        /observer\.display$/.test(path) ||
        (/identifier\.value$/.test(path) && ['ehr-app', 'req-1'].includes(value));
      expect([path, ok]).toEqual([path, true]);
    }
    // The token's subject (here an e-mail address) never appears.
    expect(JSON.stringify(e)).not.toContain('alice');
  });

  it('drops ids, patient ids, request ids and operation names that are not plain identifiers', () => {
    const e = event({
      ids: ['c1', 'Megan Price', '9000000009 '],
      patientId: 'NHS 900 000 0009',
      requestId: 'x'.repeat(200),
      interaction: 'operation',
      operation: '$extract; drop table',
    });
    expect(e.entity?.map((x) => x.what?.reference)).toEqual(['CarePlan/c1']);
    expect(e.subtype).toHaveLength(1);
    expect(JSON.stringify(e)).not.toMatch(/Megan|NHS|drop/);
  });

  it('ignores ids when the resource type is not a type name', () => {
    expect(
      event({ resourceType: 'Patient/../x', ids: ['a'] }).entity?.map((x) => x.what?.reference),
    ).toEqual(['Patient/p1', undefined]);
  });
});
