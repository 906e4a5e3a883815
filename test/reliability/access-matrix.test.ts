/**
 * Who may do what, over real HTTP with real signed tokens: every route the app serves (FHIR
 * interactions, operations, letters, handover, native formats, the clinician page) against every
 * kind of caller — nobody, the person, another person, a clinician, a read-only clinician, a peer
 * system, and carers with a Consent that shares the plan, one that has run out and one that is
 * denied. Each cell's status is written in the table below; on top of it, for every answer:
 *   - a 401 carries `WWW-Authenticate`; a 403 on /fhir or /native is an OperationOutcome;
 *   - a caller confined to one person gets back nothing stored about anyone else, and a carer
 *     nothing the person's Consent does not share (search results filtered, not only reads refused);
 *   - no answer holds another person's NHS number, name or words.
 * Then: badly made, out-of-date and wrongly signed tokens are 401 everywhere; every request is
 * exactly one AuditEvent with its outcome, agent and entities; and the service's logs hold none of
 * the test data's NHS numbers, names, free text, identifiers or tokens.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AuditEvent,
  CarePlan,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Resource,
  ResourceType,
  Task,
} from '@medplum/fhirtypes';
import { DEFINITIONAL_TYPES, inPatientCompartment } from '../../src/auth';
import { CONFLICT_CODE } from '../../src/transfer/deliver';
import type { Json } from '../support/service';
import {
  Caller,
  MEGAN,
  MEGAN_NHS,
  NHS_SYSTEM,
  OTHER,
  OTHER_NHS,
  PLAN,
  QR,
  ROLES,
  ROLE_NAMES,
  badAuthorizations,
  journeyResponse,
  journeyStart,
  sign,
  startMatrixService,
  type Answer,
  type MatrixService,
  type Role,
  type RoleName,
  type Sent,
} from './access-parties';

// ---- the table ---------------------------------------------------------------------------------

/**
 * Statuses by column, in this order:
 *   anonymous  person  otherPerson  clinician  readOnlyClinician  system  carerShared  carerLapsed  carerDenied
 */
type Row = string;

const ANYONE = '200 200 200 200 200 200 200 200 200';
const SIGNED_IN = '401 200 200 200 200 200 200 200 200';
const MEGANS = '401 200 403 200 200 200 403 403 403';
const MEGANS_PLAN = '401 200 403 200 200 200 200 403 403';
const NAMING_MEGAN = '401 200 403 200 200 200 200 200 200';
const STAFF = '401 403 403 200 200 200 403 403 403';
const CLINICAL_WRITE = (ok: number): Row => `401 403 403 ${ok} 403 ${ok} 403 403 403`;
const UI_MEGANS = '403 200 403 200 200 200 403 403 403';
const UI_PLAN = '403 200 403 200 200 200 200 403 403';
const UI_WRITE = '403 403 403 303 403 303 403 403 403';

interface Body {
  readonly text?: string;
  readonly type?: string;
  readonly form?: Record<string, string>;
}

interface Cell {
  readonly label: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string | ((role: Role) => string);
  readonly body?: (role: Role) => Body;
  readonly expect: Row;
  /** The resource the request names, for the AuditEvent's entity. */
  readonly target?: string;
  /** The answer is computed from what the caller sent (so may repeat it). */
  readonly echoes?: boolean;
  readonly check?: (answer: Answer, role: Role) => void;
}

const json = (value: unknown): Body => ({ text: JSON.stringify(value) });
const stored = <T extends Resource>(type: T['resourceType'], id: string): T => {
  const found = journeyStart().find((r) => r.resourceType === type && r.id === id) as T;
  const { meta: _meta, ...rest } = found;
  void _meta;
  return rest as T;
};

/** A new session about Megan, with an identifier of its own per caller and route. */
function session(role: Role, route: string): QuestionnaireResponse {
  const { id: _id, meta: _meta, ...rest } = journeyResponse();
  void _id;
  void _meta;
  return {
    ...rest,
    identifier: { system: 'urn:matrix:session', value: `mx-${route}-${role.name}-4411` },
  };
}

const populateParameters = {
  resourceType: 'Parameters',
  parameter: [
    { name: 'subject', valueReference: { reference: `Patient/${MEGAN}` } },
    { name: 'canonical', valueCanonical: 'https://dialog-fhir.org/fhir/Questionnaire/dialog' },
  ],
};

const ADMISSION_A01 = [
  'MSH|^~\\&|PAS|RX1|DIALOG|RX1|20251020143000+0100||ADT^A01^ADT_A01|MX0001|P|2.5.1',
  'EVN|A01|20251020143000+0100',
  `PID|1||${MEGAN_NHS}^^^NHS^NH||Price^Megan^Rose^^Ms||19910412`,
  'PV1|1|I|WILLOW^Bay 2^Bed 4^RX1HOSP||||||||||||||||SPELL-7701|||||||||||||||||||||||||20251020141500+0100',
].join('\r');

/** One session from the DIALOG+ app's export (its two header rows and the first record). */
const DIALOGPLUS_CSV = readFileSync(
  join(__dirname, '..', 'data', 'dialogplus-csv', 'export-app-order.csv'),
  'utf8',
)
  .split(/\r?\n/)
  .slice(0, 3)
  .join('\r\n');

/** Entries of a batch-response Bundle, as their status codes. */
const entryStatuses = (answer: Answer): string[] =>
  ((answer.json?.entry ?? []) as Json[]).map((e) => String(e.response?.status ?? '').slice(0, 3));

const carers: readonly RoleName[] = ['carerShared', 'carerLapsed', 'carerDenied'];
const refusedRecord = (answer: Answer, role: Role): void => {
  if (role.name === 'otherPerson') expect(entryStatuses(answer)).toEqual(['403']);
};

const TABLE: Readonly<Record<string, readonly Cell[]>> = {
  'open endpoints': [
    { label: 'CapabilityStatement', method: 'GET', path: '/fhir/metadata', expect: ANYONE },
    { label: 'liveness', method: 'GET', path: '/healthz', expect: ANYONE },
    { label: 'readiness', method: 'GET', path: '/readyz', expect: ANYONE },
  ],
  'reads, vreads, history': [
    {
      label: 'read Patient',
      method: 'GET',
      path: `/fhir/Patient/${MEGAN}`,
      expect: MEGANS,
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'vread Patient',
      method: 'GET',
      path: `/fhir/Patient/${MEGAN}/_history/1`,
      expect: MEGANS,
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'history Patient',
      method: 'GET',
      path: `/fhir/Patient/${MEGAN}/_history`,
      expect: MEGANS,
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'read the other person',
      method: 'GET',
      path: `/fhir/Patient/${OTHER}`,
      expect: '401 403 200 200 200 200 403 403 403',
      target: `Patient/${OTHER}`,
    },
    {
      label: 'read QuestionnaireResponse',
      method: 'GET',
      path: `/fhir/QuestionnaireResponse/${QR}`,
      expect: MEGANS,
      target: `QuestionnaireResponse/${QR}`,
    },
    {
      label: 'history QuestionnaireResponse',
      method: 'GET',
      path: `/fhir/QuestionnaireResponse/${QR}/_history`,
      expect: MEGANS,
      target: `QuestionnaireResponse/${QR}`,
    },
    {
      label: 'read Observation',
      method: 'GET',
      path: '/fhir/Observation/obs-01-sqol',
      expect: MEGANS,
      target: 'Observation/obs-01-sqol',
    },
    {
      label: 'read Goal',
      method: 'GET',
      path: '/fhir/Goal/goal-01-mental-health',
      expect: MEGANS,
      target: 'Goal/goal-01-mental-health',
    },
    {
      label: 'read CarePlan',
      method: 'GET',
      path: `/fhir/CarePlan/${PLAN}`,
      expect: MEGANS_PLAN,
      target: `CarePlan/${PLAN}`,
    },
    {
      label: 'vread CarePlan',
      method: 'GET',
      path: `/fhir/CarePlan/${PLAN}/_history/1`,
      expect: MEGANS_PLAN,
      target: `CarePlan/${PLAN}`,
    },
    {
      label: 'read RelatedPerson',
      method: 'GET',
      path: '/fhir/RelatedPerson/hannah-price',
      expect: MEGANS,
      target: 'RelatedPerson/hannah-price',
    },
    {
      label: 'read Consent',
      method: 'GET',
      path: '/fhir/Consent/consent-share-with-hannah',
      expect: MEGANS,
      target: 'Consent/consent-share-with-hannah',
    },
    {
      label: 'read a type not served',
      method: 'GET',
      path: '/fhir/Device/infusion-pump-1',
      expect: '401 404 404 404 404 404 404 404 404',
    },
  ],
  searches: [
    { label: 'search Patient', method: 'GET', path: '/fhir/Patient', expect: SIGNED_IN },
    {
      label: 'search Patient by Megan’s NHS number',
      method: 'GET',
      path: `/fhir/Patient?identifier=${encodeURIComponent(`${NHS_SYSTEM}|${MEGAN_NHS}`)}`,
      expect: SIGNED_IN,
      check: (answer, role) => {
        const sees = ['person', 'clinician', 'readOnlyClinician', 'system'].includes(role.name);
        expect([role.name, answer.json.entry?.length ?? 0]).toEqual([role.name, sees ? 1 : 0]);
      },
    },
    {
      label: 'search Patient by _id',
      method: 'GET',
      path: `/fhir/Patient?_id=${MEGAN}`,
      expect: NAMING_MEGAN,
    },
    {
      label: 'search QuestionnaireResponse',
      method: 'GET',
      path: '/fhir/QuestionnaireResponse',
      expect: SIGNED_IN,
      check: (answer, role) => {
        if (role.name === 'person' || role.name === 'otherPerson')
          expect(answer.json.entry?.length).toBeGreaterThan(0);
        if (carers.includes(role.name)) expect(answer.json.total).toBe(0);
      },
    },
    {
      label: 'search QuestionnaireResponse by subject',
      method: 'GET',
      path: `/fhir/QuestionnaireResponse?subject=Patient/${MEGAN}`,
      expect: NAMING_MEGAN,
    },
    {
      label: 'search QuestionnaireResponse by patient and _id',
      method: 'GET',
      path: `/fhir/QuestionnaireResponse?_id=${QR}`,
      expect: SIGNED_IN,
      check: (answer, role) => {
        const sees = ['person', 'clinician', 'readOnlyClinician', 'system'].includes(role.name);
        expect([role.name, answer.json.entry?.length ?? 0]).toEqual([role.name, sees ? 1 : 0]);
      },
    },
    {
      label: 'search Observation by patient',
      method: 'GET',
      path: `/fhir/Observation?patient=Patient/${MEGAN}`,
      expect: NAMING_MEGAN,
    },
    { label: 'search Observation', method: 'GET', path: '/fhir/Observation', expect: SIGNED_IN },
    { label: 'search Goal', method: 'GET', path: '/fhir/Goal', expect: SIGNED_IN },
    {
      label: 'search CarePlan',
      method: 'GET',
      path: '/fhir/CarePlan',
      expect: SIGNED_IN,
      check: (answer, role) => {
        const plans = (answer.json.entry ?? []).length as number;
        if (role.name === 'carerShared') expect(plans).toBe(1);
        if (role.name === 'carerLapsed' || role.name === 'carerDenied') expect(plans).toBe(0);
      },
    },
    { label: 'search Task', method: 'GET', path: '/fhir/Task', expect: SIGNED_IN },
    { label: 'search Provenance', method: 'GET', path: '/fhir/Provenance', expect: SIGNED_IN },
    {
      label: 'search RelatedPerson',
      method: 'GET',
      path: '/fhir/RelatedPerson',
      expect: SIGNED_IN,
    },
    { label: 'search Consent', method: 'GET', path: '/fhir/Consent', expect: SIGNED_IN },
    { label: 'search AuditEvent', method: 'GET', path: '/fhir/AuditEvent', expect: SIGNED_IN },
    // The directory is no one's patient data: refused to anyone confined to a person.
    { label: 'search Practitioner', method: 'GET', path: '/fhir/Practitioner', expect: STAFF },
    { label: 'search Organization', method: 'GET', path: '/fhir/Organization', expect: STAFF },
    {
      label: 'search Questionnaire',
      method: 'GET',
      path: '/fhir/Questionnaire',
      expect: SIGNED_IN,
      check: (answer, role) => {
        // A definition holds no one's data: everyone who may search it finds it.
        expect([role.name, answer.json.entry?.length ?? 0]).toEqual([role.name, 1]);
      },
    },
    {
      label: 'read Questionnaire',
      method: 'GET',
      path: '/fhir/Questionnaire/dialog',
      expect: SIGNED_IN,
      target: 'Questionnaire/dialog',
    },
    {
      label: 'search with _include',
      method: 'GET',
      path: '/fhir/Observation?_include=Observation:subject',
      expect: '401 400 400 400 400 400 400 400 400',
    },
    {
      label: 'search with a chained parameter',
      method: 'GET',
      path: `/fhir/Observation?subject.identifier=${MEGAN_NHS}`,
      expect: '401 400 400 400 400 400 400 400 400',
    },
  ],
  operations: [
    {
      label: '$validate (system)',
      method: 'POST',
      path: '/fhir/$validate',
      body: () => json(stored('Patient', MEGAN)),
      expect: SIGNED_IN,
      echoes: true,
    },
    {
      label: '$validate (type)',
      method: 'POST',
      path: '/fhir/QuestionnaireResponse/$validate',
      body: () => json(session(ROLES.clinician, 'validate')),
      expect: SIGNED_IN,
      echoes: true,
    },
    {
      label: '$extract of a response sent',
      method: 'POST',
      path: '/fhir/QuestionnaireResponse/$extract',
      body: () => json(journeyResponse()),
      expect: '401 200 403 200 200 200 200 200 200',
      echoes: true,
    },
    {
      label: '$extract of a stored response',
      method: 'GET',
      path: `/fhir/QuestionnaireResponse/${QR}/$extract`,
      expect: MEGANS,
      target: `QuestionnaireResponse/${QR}`,
    },
    {
      label: '$populate',
      method: 'POST',
      path: '/fhir/Questionnaire/$populate',
      body: () => json(populateParameters),
      expect: '401 200 403 200 200 200 200 200 200',
    },
    {
      label: '$dialog-summary',
      method: 'GET',
      path: `/fhir/Patient/${MEGAN}/$dialog-summary`,
      expect: MEGANS,
      target: `Patient/${MEGAN}`,
    },
    {
      label: '$letter html',
      method: 'GET',
      path: `/fhir/CarePlan/${PLAN}/$letter?format=html`,
      expect: MEGANS_PLAN,
      target: `CarePlan/${PLAN}`,
    },
    {
      label: '$letter pdf',
      method: 'GET',
      path: `/fhir/CarePlan/${PLAN}/$letter?format=pdf`,
      expect: MEGANS_PLAN,
      target: `CarePlan/${PLAN}`,
    },
    {
      label: '$letter sms',
      method: 'GET',
      path: `/fhir/CarePlan/${PLAN}/$letter?format=sms`,
      expect: MEGANS_PLAN,
      target: `CarePlan/${PLAN}`,
    },
    {
      label: '$chart',
      method: 'GET',
      path: `/fhir/CarePlan/${PLAN}/$chart`,
      expect: MEGANS_PLAN,
      target: `CarePlan/${PLAN}`,
    },
  ],
  'batch and transaction': [
    {
      label: 'batch of reads and a search',
      method: 'POST',
      path: '/fhir',
      body: () =>
        json({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { request: { method: 'GET', url: `Patient/${MEGAN}` } },
            { request: { method: 'GET', url: 'QuestionnaireResponse' } },
            { request: { method: 'GET', url: `Patient/${OTHER}` } },
          ],
        }),
      expect: SIGNED_IN,
      check: (answer, role) => {
        const expected: Partial<Record<RoleName, string[]>> = {
          person: ['200', '200', '403'],
          otherPerson: ['403', '200', '200'],
          clinician: ['200', '200', '200'],
          readOnlyClinician: ['200', '200', '200'],
          system: ['200', '200', '200'],
          carerShared: ['403', '200', '403'],
          carerLapsed: ['403', '200', '403'],
          carerDenied: ['403', '200', '403'],
        };
        expect([role.name, entryStatuses(answer)]).toEqual([role.name, expected[role.name]]);
      },
    },
    {
      label: 'transaction',
      method: 'POST',
      path: '/fhir',
      body: () =>
        json({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: stored('Patient', MEGAN),
              request: { method: 'PUT', url: `Patient/${MEGAN}` },
            },
          ],
        }),
      expect: CLINICAL_WRITE(200),
    },
  ],
  writes: [
    {
      label: 'create Practitioner',
      method: 'POST',
      path: '/fhir/Practitioner',
      body: () =>
        json({
          resourceType: 'Practitioner',
          name: [{ family: 'Whitfield', given: ['Sam'] }],
          telecom: [{ system: 'email', value: 'sam.whitfield@nhs.net' }],
        }),
      expect: CLINICAL_WRITE(201),
    },
    {
      label: 'create Patient',
      method: 'POST',
      path: '/fhir/Patient',
      body: () => json({ resourceType: 'Patient', name: [{ family: 'Newcombe', given: ['Ada'] }] }),
      expect: CLINICAL_WRITE(201),
    },
    {
      label: 'update Patient',
      method: 'PUT',
      path: `/fhir/Patient/${MEGAN}`,
      body: () => json(stored('Patient', MEGAN)),
      expect: CLINICAL_WRITE(200),
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'conditional update Patient',
      method: 'PUT',
      path: `/fhir/Patient?identifier=${encodeURIComponent(`${NHS_SYSTEM}|${MEGAN_NHS}`)}`,
      body: () => json(stored('Patient', MEGAN)),
      expect: CLINICAL_WRITE(200),
    },
    {
      label: 'create a session',
      method: 'POST',
      path: '/fhir/QuestionnaireResponse',
      body: (role) => json(session(role, 'post')),
      expect: CLINICAL_WRITE(201),
    },
    {
      label: 'update a session',
      method: 'PUT',
      path: `/fhir/QuestionnaireResponse/${QR}`,
      body: () => json(stored('QuestionnaireResponse', QR)),
      expect: CLINICAL_WRITE(200),
      target: `QuestionnaireResponse/${QR}`,
    },
    {
      label: 'update a Goal',
      method: 'PUT',
      path: '/fhir/Goal/goal-01-friendships',
      body: () => json(stored('Goal', 'goal-01-friendships')),
      expect: CLINICAL_WRITE(200),
      target: 'Goal/goal-01-friendships',
    },
    {
      label: 'create a Consent',
      method: 'POST',
      path: '/fhir/Consent',
      body: () => {
        const { id: _id, ...rest } = stored('Consent', 'consent-share-with-hannah');
        void _id;
        return json({ ...rest, status: 'draft' });
      },
      expect: CLINICAL_WRITE(201),
    },
    {
      label: 'delete',
      method: 'DELETE',
      path: `/fhir/Goal/goal-01-friendships`,
      expect: '401 405 405 405 405 405 405 405 405',
      target: 'Goal/goal-01-friendships',
    },
  ],
  'native formats': [
    ...(['fhir', 'dialogplus-csv', 'mhsds-csv', 'hl7v2'] as const).map((format): Cell => ({
      label: `export ${format}`,
      method: 'GET',
      path: `/native/${format}?patient=${MEGAN}`,
      expect: MEGANS,
      target: `Patient/${MEGAN}`,
    })),
    {
      label: 'import fhir',
      method: 'POST',
      path: '/native/fhir',
      body: (role) => ({
        text: JSON.stringify(session(role, 'native')),
        type: 'application/fhir+ndjson',
      }),
      expect: '401 403 422 200 403 200 403 403 403',
      check: refusedRecord,
    },
    {
      label: 'import dialogplus-csv for a named person',
      method: 'POST',
      path: `/native/dialogplus-csv?patient=${MEGAN}`,
      body: () => ({ text: DIALOGPLUS_CSV, type: 'text/csv' }),
      expect: '401 403 403 200 403 200 403 403 403',
      target: `Patient/${MEGAN}`,
      check: (answer, role) => {
        // The record's identifier makes it one session: the second import finds it unchanged.
        const first = role.name === 'clinician';
        expect([role.name, entryStatuses(answer)]).toEqual([role.name, [first ? '201' : '200']]);
      },
    },
    {
      label: 'import hl7v2 ADT (admission: a handover)',
      method: 'POST',
      path: '/native/hl7v2',
      body: () => ({ text: ADMISSION_A01, type: 'x-application/hl7-v2+er7' }),
      expect: '401 403 200 200 403 200 403 403 403',
      check: (answer, role) => {
        // The other person's pinned search finds no one: nothing is handed over. First comes
        // the notice of what the message holds that is not read (PV1-2, PV1-44): warnings only.
        const started = ['clinician', 'system'].includes(role.name);
        expect([role.name, entryStatuses(answer)]).toEqual([
          role.name,
          ['200', started ? '202' : '200'],
        ]);
        const notice = ((answer.json?.entry ?? []) as Json[])[0]?.response?.outcome as
          { issue?: { severity?: string }[] } | undefined;
        const severities = new Set((notice?.issue ?? []).map((i) => i.severity));
        expect([role.name, [...severities]]).toEqual([role.name, ['warning']]);
      },
    },
  ],
  handover: [
    {
      label: '$transfer',
      method: 'POST',
      path: `/fhir/Patient/${MEGAN}/$transfer`,
      body: () =>
        json({
          resourceType: 'Parameters',
          parameter: [
            { name: 'destination', valueString: 'ward' },
            { name: 'reason', valueCode: 'admission' },
          ],
        }),
      expect: CLINICAL_WRITE(202),
      target: `Patient/${MEGAN}`,
    },
  ],
  'clinician page': [
    { label: 'ui style sheet', method: 'GET', path: '/ui/static/ui.css', expect: ANYONE },
    { label: 'ui sign-in page', method: 'GET', path: '/ui/login', expect: ANYONE },
    {
      label: 'ui find a person',
      method: 'GET',
      path: '/ui/',
      expect: '403 200 200 200 200 200 200 200 200',
      check: (answer, role) => {
        if (role.name === 'person') expect(answer.text).toContain('Megan Rose Price');
        if (role.name === 'otherPerson') expect(answer.text).toContain('Tobias Quennell');
        if (carers.includes(role.name)) expect(answer.text).toContain('No one found');
      },
    },
    {
      label: 'ui find a person by NHS number',
      method: 'GET',
      path: `/ui/?q=${MEGAN_NHS}`,
      expect: '403 200 200 200 200 200 200 200 200',
      echoes: true,
      check: (answer, role) => {
        if (role.name === 'clinician') expect(answer.text).toContain('Megan Rose Price');
        if (role.name === 'otherPerson' || carers.includes(role.name))
          expect(answer.text).toContain('No one found');
      },
    },
    {
      label: 'ui plan page',
      method: 'GET',
      path: `/ui/patients/${MEGAN}`,
      expect: UI_MEGANS,
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'ui session form',
      method: 'GET',
      path: `/ui/patients/${MEGAN}/session`,
      expect: UI_MEGANS,
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'ui save a session for later',
      method: 'POST',
      path: `/ui/patients/${MEGAN}/session`,
      body: () => ({ form: { intent: 'save', 'score.mental-health': '4' } }),
      expect: UI_WRITE,
      target: `Patient/${MEGAN}`,
    },
    {
      label: 'ui resolve a handover conflict',
      method: 'POST',
      path: (role) => `/ui/tasks/${conflictFor(role)}/resolve`,
      body: () => ({ form: { keep: 'here' } }),
      expect: UI_WRITE,
    },
    ...(['html', 'pdf', 'sms'] as const).map((format): Cell => ({
      label: `ui letter ${format}`,
      method: 'GET',
      path: `/ui/plans/${PLAN}/letter?format=${format}`,
      expect: UI_PLAN,
      target: `CarePlan/${PLAN}`,
    })),
    {
      label: 'ui sign out',
      method: 'POST',
      path: '/ui/logout',
      body: () => ({ form: {} }),
      expect: '303 303 303 303 303 303 303 303 303',
    },
    {
      label: 'ui after signing out',
      method: 'GET',
      path: `/ui/patients/${MEGAN}`,
      expect: '403 403 403 403 403 403 403 403 403',
      target: `Patient/${MEGAN}`,
      check: (answer) => {
        expect(answer.text).toContain('href="/ui/login"');
      },
    },
  ],
};

function conflictFor(role: Role): string {
  return role.name === 'clinician' || role.name === 'system'
    ? `conflict-${role.name}`
    : 'conflict-open';
}

function conflictTask(id: string, description: string | undefined): Task {
  return {
    resourceType: 'Task',
    id,
    status: 'requested',
    intent: 'order',
    code: { coding: [CONFLICT_CODE] },
    focus: { reference: `CarePlan/${PLAN}` },
    for: { reference: `Patient/${MEGAN}` },
    input: [
      { type: { text: 'part' }, valueString: 'CarePlan.description' },
      { type: { text: 'the sending system’s version' }, valueString: JSON.stringify('Sent') },
      { type: { text: 'this system’s version' }, valueString: JSON.stringify(description) },
    ],
  };
}

// ---- what must never be shown or logged ----------------------------------------------------------

/** The free text of a response's answers, with the linkId of the item each answers. */
function freeText(
  items: readonly QuestionnaireResponseItem[] | undefined,
): { linkId: string; text: string }[] {
  return (items ?? []).flatMap((item) => [
    ...(item.answer ?? []).flatMap((a) => [
      ...(a.valueString !== undefined ? [{ linkId: item.linkId, text: a.valueString }] : []),
      ...freeText(a.item),
    ]),
    ...freeText(item.item),
  ]);
}

const MEGAN_ANSWERS = freeText(journeyResponse().item).filter((a) => a.text.length > 20);
const MEGAN_WORDS = MEGAN_ANSWERS.map((a) => a.text);
/**
 * What a carer the plan is shared with is still never shown: what was said in her sessions
 * (understanding, looking forward, options) stays in the sessions; only the agreed actions are in
 * the plan.
 */
const MEGAN_SESSION_WORDS = MEGAN_ANSWERS.filter((a) =>
  /\.(understanding|looking-forward|exploring-options)$/.test(a.linkId),
).map((a) => a.text);
const OTHER_WORDS = [
  'Tobias worries most about money and rent arrears since the spring',
  'Ring the housing officer on Monday about the arrears letter',
];

/** Tobias's session: Megan's journey response, about him, in his own words. */
function otherSession(): QuestionnaireResponse {
  let n = 0;
  const rewrite = (items: QuestionnaireResponseItem[] | undefined): QuestionnaireResponseItem[] =>
    (items ?? []).map((item) => ({
      ...item,
      ...(item.answer
        ? {
            answer: item.answer.map((a) => ({
              ...a,
              ...(a.valueString !== undefined
                ? { valueString: OTHER_WORDS[n++ % OTHER_WORDS.length] }
                : {}),
              ...(a.item ? { item: rewrite(a.item) } : {}),
            })),
          }
        : {}),
      ...(item.item ? { item: rewrite(item.item) } : {}),
    }));
  const { id: _id, meta: _meta, ...rest } = journeyResponse();
  void _id;
  void _meta;
  return {
    ...rest,
    identifier: { system: 'urn:matrix:session', value: 'mx-tobias-first-9021' },
    subject: { reference: `Patient/${OTHER}` },
    source: { reference: `Patient/${OTHER}` },
    item: rewrite(rest.item),
  };
}

const MEGAN_PRIVATE = [MEGAN_NHS, 'Megan', 'Hannah', ...MEGAN_WORDS];
const OTHER_PRIVATE = [OTHER_NHS, 'Tobias', 'Quennell', ...OTHER_WORDS];

/** Strings a role must never be shown, whatever it asks. */
function undisclosed(role: Role | undefined): string[] {
  switch (role?.name) {
    case 'person':
      return OTHER_PRIVATE;
    case 'otherPerson':
      return MEGAN_PRIVATE;
    case 'clinician':
    case 'readOnlyClinician':
    case 'system':
      return [];
    case 'carerShared':
      return [MEGAN_NHS, ...MEGAN_SESSION_WORDS, ...OTHER_PRIVATE];
    case 'carerLapsed':
    case 'carerDenied':
      return [MEGAN_NHS, ...MEGAN_WORDS, ...OTHER_PRIVATE];
    default:
      return [...MEGAN_PRIVATE, ...OTHER_PRIVATE];
  }
}

// ---- checks on every answer ----------------------------------------------------------------------

const SHARED_SECTIONS = new Set(['agreed-action', 'safety-plan']);

/** Stored resources in an answer: a resource read, or each resource of a (nested) Bundle. */
function storedResources(body: Json): Resource[] {
  if (!body || typeof body !== 'object' || typeof body.resourceType !== 'string') return [];
  if (body.resourceType === 'Bundle')
    return ((body.entry ?? []) as Json[]).flatMap((e) => storedResources(e.resource));
  if (['OperationOutcome', 'Parameters', 'CapabilityStatement'].includes(body.resourceType))
    return [];
  return [body as Resource];
}

function checkAnswer(cell: Cell, path: string, answer: Answer, role: Role | undefined): void {
  const where = `${cell.label} as ${role?.name ?? 'a bad token'}`;
  const api = path.startsWith('/fhir') || path.startsWith('/native');
  if (answer.status === 401) {
    expect([where, answer.headers.get('www-authenticate')]).toEqual([
      where,
      expect.stringMatching(/^Bearer realm="dialog-fhir"/),
    ]);
    expect([where, answer.json?.issue?.[0]?.code]).toEqual([where, 'login']);
  }
  if (answer.status === 403 && api)
    expect([where, answer.json?.resourceType, answer.json?.issue?.[0]?.code]).toEqual([
      where,
      'OperationOutcome',
      'forbidden',
    ]);
  if (answer.status === 403 && !api && role?.claims === undefined)
    expect([where, answer.text.includes('href="/ui/login"')]).toEqual([where, true]);
  // A page refused to someone signed in is refused for who they are (not a stale form).
  if (
    answer.status === 403 &&
    !api &&
    role?.claims !== undefined &&
    cell.label !== 'ui after signing out'
  )
    expect([where, /<h1>\s*Not allowed\s*<\/h1>/.test(answer.text)]).toEqual([where, true]);
  // A search Bundle's links repeat the caller's own query: what is shown is the rest.
  const shown =
    answer.json?.resourceType === 'Bundle'
      ? JSON.stringify({ ...answer.json, link: undefined })
      : answer.text;
  if (!cell.echoes)
    for (const secret of undisclosed(role))
      expect([where, shown.includes(secret) ? secret : 'not shown']).toEqual([where, 'not shown']);
  // Whatever a confined caller gets back that is stored is about its person, and for a carer
  // shared by Consent (an operation's answer is built, not stored: checked by the lines above).
  const patient = role?.patient;
  if (patient === undefined || path.includes('$')) return;
  for (const resource of storedResources(answer.json)) {
    const what = `${where}: ${resource.resourceType}/${resource.id ?? ''}`;
    if (DEFINITIONAL_TYPES.has(resource.resourceType)) continue;
    expect([what, inPatientCompartment(resource, patient)]).toEqual([what, true]);
    if (role?.shares === undefined) continue;
    expect([what, role.shares.has(resource.resourceType)]).toEqual([what, true]);
    if (resource.resourceType === 'CarePlan')
      for (const activity of (resource as CarePlan).activity ?? [])
        for (const coding of activity.detail?.code?.coding ?? [])
          expect([what, SHARED_SECTIONS.has(coding.code ?? '')]).toEqual([what, true]);
  }
}

// ---- the run -------------------------------------------------------------------------------------

const sent: Sent[] = [];
const tokens: string[] = [];
const callers = {} as Record<RoleName, Caller>;
let m: MatrixService;

beforeAll(async () => {
  m = await startMatrixService();
  // Held by the store, yet of a type the API does not serve: still a 404 for everyone.
  await m.service.store.update({ resourceType: 'Device', id: 'infusion-pump-1' });
  const plan = stored<CarePlan>('CarePlan', PLAN);
  for (const id of ['conflict-open', 'conflict-clinician', 'conflict-system'])
    await m.service.store.update(conflictTask(id, plan.description));
  for (const name of ROLE_NAMES) {
    const role = ROLES[name];
    const token = role.claims ? await sign(m.key, role.claims) : undefined;
    const caller = new Caller(m.service.base, name, token ? `Bearer ${token}` : undefined, sent);
    callers[name] = caller;
    if (token) {
      tokens.push(token);
      await caller.signIn(token);
    } else await caller.send('ui sign-in page', 'GET', '/ui/login');
  }
  // Tobias's own record: a session, its Observations and his plan (through the API).
  const res = await callers.clinician.send('setup', 'POST', '/fhir/QuestionnaireResponse', {
    body: JSON.stringify(otherSession()),
  });
  expect(res.status).toBe(201);
  // The checks on what carers are shown below would prove nothing without these words.
  expect(MEGAN_SESSION_WORDS.length).toBeGreaterThan(3);
}, 30_000);

afterAll(() => m.service.close());

const statusRow = (statuses: Readonly<Record<RoleName, number>>): string =>
  ROLE_NAMES.map((name) => statuses[name]).join(' ');

describe.each(Object.entries(TABLE))('%s', (_section, cells) => {
  it.each(cells.map((cell) => [cell.label, cell] as const))('%s', async (_label, cell) => {
    const answers: [Role, string, Answer][] = [];
    const statuses = {} as Record<RoleName, number>;
    for (const name of ROLE_NAMES) {
      const role = ROLES[name];
      const path = typeof cell.path === 'string' ? cell.path : cell.path(role);
      const body = cell.body?.(role);
      const answer = await callers[name].send(cell.label, cell.method, path, {
        ...(body?.text !== undefined ? { body: body.text } : {}),
        ...(body?.type ? { type: body.type } : {}),
        ...(body?.form ? { form: body.form } : {}),
        ...(cell.target ? { target: cell.target } : {}),
      });
      statuses[name] = answer.status;
      answers.push([role, path, answer]);
    }
    expect(statusRow(statuses)).toBe(cell.expect);
    for (const [role, path, answer] of answers) {
      checkAnswer(cell, path, answer, role);
      // Refusals are checked above; a cell's own check is about what was answered.
      if (![401, 403].includes(answer.status)) cell.check?.(answer, role);
    }
  });
});

// ---- tokens that are not good enough ---------------------------------------------------------------

describe('tokens that are not good enough', () => {
  it('are 401 on every kind of route, and never sign anyone in to the clinician page', async () => {
    const claims = ROLES.clinician.claims ?? {};
    const bad = await badAuthorizations(m.key, claims);
    const routes: [string, string, string?][] = [
      ['GET', `/fhir/Patient/${MEGAN}`],
      ['GET', '/fhir/QuestionnaireResponse'],
      ['POST', '/fhir/QuestionnaireResponse', JSON.stringify(session(ROLES.clinician, 'bad'))],
      ['POST', '/fhir', JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [] })],
      ['GET', `/fhir/CarePlan/${PLAN}/$letter?format=pdf`],
      ['GET', `/native/fhir?patient=${MEGAN}`],
    ];
    const refused: string[] = [];
    for (const [kind, authorization] of Object.entries(bad)) {
      tokens.push(authorization.replace(/^\S+\s*/, ''));
      const caller = new Caller(m.service.base, 'bad-token', authorization, sent);
      for (const [method, path, body] of routes) {
        const cell: Cell = { label: `${kind}: ${method} ${path}`, method: 'GET', path, expect: '' };
        const answer = await caller.send(cell.label, method, path, {
          ...(body !== undefined ? { body } : {}),
        });
        refused.push(`${cell.label} → ${answer.status}`);
        checkAnswer(cell, path, answer, undefined);
      }
      // The clinician page neither signs in with it nor accepts it as its cookie.
      await caller.send(`${kind}: ui sign-in page`, 'GET', '/ui/login');
      const login = await caller.send(`${kind}: ui sign-in`, 'POST', '/ui/login', {
        form: { token: authorization.replace(/^\S+\s*/, '') },
      });
      refused.push(`${kind}: ui sign-in → ${login.status}`);
      caller.setCookie('dlg_ui_token', encodeURIComponent(authorization.replace(/^\S+\s*/, '')));
      const page = await caller.send(`${kind}: ui page`, 'GET', `/ui/patients/${MEGAN}`, {
        target: `Patient/${MEGAN}`,
      });
      refused.push(`${kind}: ui page → ${page.status}`);
      expect(page.text).toContain('href="/ui/login"');
    }
    expect(refused).toEqual(
      Object.keys(bad).flatMap((kind) => [
        ...routes.map(([method, path]) => `${kind}: ${method} ${path} → 401`),
        `${kind}: ui sign-in → 401`,
        `${kind}: ui page → 403`,
      ]),
    );
    // The same claims, properly signed, are let in: the refusals are the tokens' doing.
    const good = new Caller(
      m.service.base,
      'clinician',
      `Bearer ${await sign(m.key, claims)}`,
      sent,
    );
    expect((await good.send('good token', 'GET', `/fhir/Patient/${MEGAN}`)).status).toBe(200);
  });
});

// ---- the audit trail and the logs ----------------------------------------------------------------

async function allAuditEvents(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (;;) {
    const page = await m.service.store.search(
      'AuditEvent',
      {},
      { count: 1000, offset: events.length },
    );
    events.push(...(page.resources as AuditEvent[]));
    if (page.resources.length === 0 || events.length >= page.total) return events;
  }
}

const requestIdOf = (event: AuditEvent): string | undefined =>
  event.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value;

/** Everything that must never be written to a log or an AuditEvent. */
function secrets(): string[] {
  return [
    MEGAN_NHS,
    OTHER_NHS,
    ...['Megan', 'Price', 'Hannah', 'Tobias', 'Quennell', 'Ashdown', 'Robin', 'Newcombe'],
    ...MEGAN_WORDS,
    ...OTHER_WORDS,
    'Sister and carer',
    'Megan chooses what is shared',
    '07700 900267',
    'megan.price@example.com',
    'Willow Court',
    ...['post', 'native', 'validate', 'bad'].flatMap((route) =>
      ROLE_NAMES.map((name) => `mx-${route}-${name}-4411`),
    ),
    'mx-tobias-first-9021',
    'subject-of-',
    ...tokens.filter((t) => t.length > 10),
    ...tokens.flatMap((t) => t.split('.').filter((part) => part.length > 30)),
  ];
}

describe('afterwards', () => {
  it('refused writes left nothing behind; allowed ones wrote what they said', async () => {
    const count = async (type: ResourceType, params: Record<string, string> = {}) =>
      (await m.service.store.search(type, params, { count: 0 })).total;
    // Megan's sessions: her first, two posted (clinician, system), two imported as FHIR, one
    // from the DIALOG+ app's export (the second import found it), one saved for later on the page.
    expect(await count('QuestionnaireResponse', { subject: `Patient/${MEGAN}` })).toBe(7);
    // Megan, Tobias, and the two the clinician and the system created.
    expect(await count('Patient')).toBe(4);
    // The four seeded, and the two drafts the clinician and the system wrote.
    expect(await count('Consent')).toBe(6);
    // Three conflicts, and four handovers: $transfer and the ADT admission, each by two.
    expect(await count('Task')).toBe(7);
    const open = (await m.service.store.read('Task', 'conflict-open')) as Task;
    expect(open.status).toBe('requested');
    for (const id of ['conflict-clinician', 'conflict-system'])
      expect(((await m.service.store.read('Task', id)) as Task).status).toBe('completed');
    // Unchanged updates wrote no new version.
    expect(await m.service.store.history('Patient', MEGAN)).toHaveLength(1);
  });

  it('every audited request is one AuditEvent with its outcome, agent and entities', async () => {
    // A clean shutdown writes what the audit trail still holds (it writes in batches).
    await m.service.app.close();
    const events = await allAuditEvents();
    const byRequest = new Map<string, AuditEvent[]>();
    for (const event of events) {
      const id = requestIdOf(event) ?? 'none';
      byRequest.set(id, [...(byRequest.get(id) ?? []), event]);
    }
    const audited = sent.filter((s) => s.audited);
    expect(audited.length).toBeGreaterThan(500);
    expect(sent.filter((s) => !s.audited).length).toBeGreaterThan(30);
    // Each request is written once, and nothing else is written.
    expect(
      sent
        .map((s) => [s.label, s.role, (byRequest.get(s.requestId) ?? []).length])
        .filter(([, , n], i) => n !== (sent[i]?.audited ? 1 : 0)),
    ).toEqual([]);
    expect(events.length).toBe(audited.length);

    const wrong: string[] = [];
    for (const s of audited) {
      const event = byRequest.get(s.requestId)?.[0] as AuditEvent;
      const where = `${s.label} as ${s.role} (${s.status})`;
      const outcome = s.status < 400 ? '0' : s.status < 500 ? '4' : '8';
      if (event.outcome !== outcome) wrong.push(`${where}: outcome ${event.outcome ?? ''}`);
      const agents = event.agent;
      const role = s.role === 'bad-token' ? undefined : ROLES[s.role];
      const identified = s.status !== 401 && s.credentials && role?.agent !== undefined;
      if (!identified) {
        if (agents.some((a) => a.who !== undefined)) wrong.push(`${where}: an agent is named`);
      } else {
        const requestor = agents.find((a) => a.requestor);
        const expected = role.agent?.reference;
        if (expected !== undefined && requestor?.who?.reference !== expected)
          wrong.push(`${where}: requestor ${JSON.stringify(requestor?.who)}`);
        if (!agents.some((a) => a.who?.identifier?.value === role.agent?.clientId))
          wrong.push(`${where}: no client agent`);
      }
      const named = new Set((event.entity ?? []).map((e) => e.what?.reference));
      // A confined caller's event names no other person's Patient (it would be in their trail).
      const confined = identified && role.patient !== undefined;
      const otherPerson =
        confined && s.target?.startsWith('Patient/') && s.target !== `Patient/${role.patient}`;
      if (s.target !== undefined && !otherPerson && !named.has(s.target))
        wrong.push(`${where}: no entity ${s.target}`);
      if (otherPerson && named.has(s.target)) wrong.push(`${where}: names ${s.target}`);
      // The person: a confined caller's own, whatever it names (its request of Megan's record
      // stays in its trail: hers would show her who tried); else the one a /native request or a
      // search (patient, subject) names.
      const searched =
        /^\/fhir\/[A-Za-z]+\?(?:.*&)?(?:patient|subject)=(?:Patient(?:\/|%2F))?([^&,%]+)(?:&|$)/.exec(
          s.path,
        )?.[1];
      const asked = confined
        ? undefined
        : s.path.startsWith('/native')
          ? /[?&]patient=([^&]+)/.exec(s.path)?.[1]
          : searched;
      const patient = asked ?? (identified ? role.patient : undefined);
      if (patient !== undefined) {
        const person = event.entity?.find((e) => e.role?.code === '1')?.what?.reference;
        if (person !== `Patient/${patient}`) wrong.push(`${where}: the person is ${person}`);
      }
      for (const id of s.listed)
        if (!named.has(`${s.listedType ?? ''}/${id}`))
          wrong.push(`${where}: result ${s.listedType ?? ''}/${id} not named`);
    }
    expect(wrong).toEqual([]);
    // Every resource an AuditEvent names exists: none is named under another's type.
    const references = new Set(
      events.flatMap((e) => (e.entity ?? []).flatMap((x) => x.what?.reference ?? [])),
    );
    const missing: string[] = [];
    for (const reference of references) {
      const [type = '', id = ''] = reference.split('/');
      const found = await m.service.store.read(type as ResourceType, id).then(
        () => true,
        () => false,
      );
      if (!found) missing.push(reference);
    }
    expect(missing).toEqual([]);
    const written = JSON.stringify(events);
    expect(secrets().filter((secret) => written.includes(secret))).toEqual([]);
  });

  it('the logs have one line per request and none of the test data, names, words or tokens', () => {
    const lines = m.service.logs.map((line) => JSON.parse(line) as Json);
    const perRequest = new Map<string, number>();
    for (const line of lines)
      if (line.message === 'request')
        perRequest.set(line.requestId, (perRequest.get(line.requestId) ?? 0) + 1);
    expect(sent.filter((s) => perRequest.get(s.requestId) !== 1).map((s) => s.label)).toEqual([]);
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
    const text = m.service.logs.join('\n');
    expect(secrets().length).toBeGreaterThan(40);
    expect(secrets().filter((secret) => text.includes(secret))).toEqual([]);
    expect(text).not.toContain(MEGAN);
    expect(text).not.toContain(OTHER);
  });
});
