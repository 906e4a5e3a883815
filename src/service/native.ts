/**
 * Native formats over HTTP (`/native/{format}`), through the mappings (src/mapping, mappings/):
 * - import: the text is converted to DIALOG QuestionnaireResponses; each is submitted as a session
 *   exactly as `POST /fhir/QuestionnaireResponse` would (validated, the person matched by NHS
 *   number or local identifier, extracted, the plan updated). A record the mapper rejects, or the
 *   service refuses, is reported with why; every good record is kept. The answer is a
 *   `batch-response` Bundle, one entry per record in input order.
 * - export: the person's DIALOG responses, converted to the format.
 * ADT events (HL7 v2 A01/A03) are reported as events; handover on them is issue 5's work.
 */
import type {
  Bundle,
  BundleEntry,
  OperationOutcome,
  QuestionnaireResponse,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { convertText, isFormatName, type FormatName } from '../mapping';
import type { AdtEvent } from '../mapping/types';
import { error, issue, outcome } from '../validation';
import type { Access } from './access';
import type { FhirService } from './fhir-service';
import { fault, statusOf } from './outcomes';

const PAGE = 1000;

export function formatOf(name: string): FormatName {
  if (isFormatName(name)) return name;
  throw fault(
    404,
    'not-supported',
    'Unknown native format: use dialogplus-csv, mhsds-csv, hl7v2 or fhir',
    'format',
  );
}

export interface ImportResult {
  readonly bundle: Bundle;
  readonly accepted: number;
  readonly rejected: number;
  /** Nothing kept, and something refused or an error about the input as a whole. */
  readonly failed: boolean;
}

export async function importNative(
  service: FhirService,
  access: Access,
  format: FormatName,
  text: string,
  patient?: string,
  transfers?: AdtHandler,
): Promise<ImportResult> {
  access.check('create', 'QuestionnaireResponse');
  // Records that name the person only by name (the DIALOG+ app's export) need the caller to say
  // who they are about: nothing is matched by name.
  const subject =
    patient === undefined ? undefined : await patientReference(service, access, patient);
  const converted = await convertText(text, {
    from: format,
    to: 'fhir',
    file: 'body',
    ...(subject ? { subject } : {}),
  });
  // One entry per record, in input order: the mapper's refusal, or what the service answered.
  const entries: BundleEntry[] = [];
  const lines = converted.output.split('\n');
  let accepted = 0;
  let refused = 0;
  const passedOver = new Map<string, number>();
  for (const record of converted.records) {
    if ('reject' in record) {
      const reject = converted.rejects[record.reject];
      if (reject) entries.push(rejected(reject.outcome, reject.location));
      refused++;
      continue;
    }
    const resource = JSON.parse(lines[record.line] ?? '{}') as Resource;
    // FHIR input passes other resources (the Patient beside its responses) through unchanged:
    // they are not sessions, so they are not submitted as one.
    if (resource.resourceType !== 'QuestionnaireResponse') {
      passedOver.set(resource.resourceType, (passedOver.get(resource.resourceType) ?? 0) + 1);
      continue;
    }
    const entry = await submitRecord(service, access, resource, record.location);
    entries.push(entry);
    if (entry.response?.status?.startsWith('2')) accepted++;
    else refused++;
  }
  for (const event of converted.events) entries.push(await adtEntry(access, event, transfers));
  const allNotices = [...converted.notices];
  if (passedOver.size > 0)
    allNotices.push(
      issue(
        'information',
        'informational',
        `Only DIALOG sessions are imported here; not imported: ${[...passedOver]
          .map(([type, n]) => `${n} ${type}`)
          .join(', ')}`,
        'Bundle',
      ),
    );
  // A fault that stops the input as a whole (a header that is not the format's: `fatal`) with
  // nothing kept is the import failing, not an import of nothing; an unknown column is not.
  const stopped = allNotices.some((i) => i.severity === 'fatal');
  const failed = accepted === 0 && (refused > 0 || stopped);
  const notices = allNotices.length > 0 ? [noticeEntry(allNotices, failed && stopped)] : [];
  return {
    bundle: { resourceType: 'Bundle', type: 'batch-response', entry: [...notices, ...entries] },
    accepted,
    rejected: refused,
    failed,
  };
}

/** What starts a handover from an ADT event (src/transfer); a message when none is started. */
export interface AdtHandler {
  fromAdt(access: Access, event: AdtEvent): Promise<Task | string>;
}

/** An ADT event's entry: the handover Task it started (202), or why it started none. */
async function adtEntry(
  access: Access,
  event: { readonly event: AdtEvent; readonly location: string },
  transfers: AdtHandler | undefined,
): Promise<BundleEntry> {
  const result = transfers
    ? await transfers.fromAdt(access, event.event).catch((err: unknown) => err)
    : 'No peer systems are configured here (PEERS_FILE), so ADT events start no handover';
  if (typeof result === 'object' && result !== null && 'resourceType' in result)
    return {
      resource: result as Task,
      response: { status: '202 Accepted', location: `Task/${(result as Task).id ?? ''}` },
    };
  if (typeof result === 'string')
    return {
      response: {
        status: '200 OK',
        outcome: outcome([issue('information', 'informational', result, event.location)]),
      },
    };
  const failure = (result as { outcome?: OperationOutcome }).outcome;
  return {
    response: {
      status: String(statusOf(result)),
      outcome: failure ?? outcome([error('exception', 'Internal error', event.location)]),
    },
  };
}

async function submitRecord(
  service: FhirService,
  access: Access,
  response: QuestionnaireResponse,
  location: string,
): Promise<BundleEntry> {
  try {
    const written = await service.create(access, 'QuestionnaireResponse', response);
    const stored = written.resource;
    return {
      response: {
        status: written.created ? '201 Created' : '200 OK',
        location: `QuestionnaireResponse/${stored.id ?? ''}/_history/${stored.meta?.versionId ?? ''}`,
      },
    };
  } catch (err) {
    const result = (err as { outcome?: OperationOutcome }).outcome;
    return {
      response: {
        status: String(statusOf(err)),
        // The service's refusal, placed at the record in the input as the mapper's are.
        outcome: placed(
          result ?? outcome([error('exception', 'Internal error', 'QuestionnaireResponse')]),
          location,
        ),
      },
    };
  }
}

function placed(result: OperationOutcome, location: string): OperationOutcome {
  return {
    ...result,
    issue: result.issue.map((i) => ({ ...i, location: [...(i.location ?? []), location] })),
  };
}

function rejected(result: OperationOutcome, location: string): BundleEntry {
  return { response: { status: '422', outcome: placed(result, location) } };
}

function noticeEntry(notices: OperationOutcome['issue'], failed: boolean): BundleEntry {
  return { response: { status: failed ? '422' : '200 OK', outcome: outcome([...notices]) } };
}

async function patientReference(
  service: FhirService,
  access: Access,
  patient: string,
): Promise<string> {
  const id = patient.startsWith('Patient/') ? patient.slice('Patient/'.length) : patient;
  const stored = await service.read(access, 'Patient', id);
  return `Patient/${stored.id ?? id}`;
}

export interface ExportResult {
  readonly text: string;
  /** Responses the format cannot hold (e.g. MHSDS holds completed assessments only). */
  readonly leftOut: number;
}

/**
 * The person's DIALOG responses (every status the format holds), in the native format. The
 * Patient goes first so the mappings find the person's identifiers (NHS number, local id).
 */
export async function exportNative(
  service: FhirService,
  access: Access,
  format: FormatName,
  patient: string,
): Promise<ExportResult> {
  const subject = await patientReference(service, access, patient);
  const person = await service.read(access, 'Patient', subject.slice('Patient/'.length));
  const found = await service.search(
    access,
    'QuestionnaireResponse',
    new URLSearchParams({ subject, _count: String(PAGE) }),
  );
  const ndjson = [person, ...found.resources].map((r) => JSON.stringify(r)).join('\n');
  const converted = await convertText(ndjson, { from: 'fhir', to: format, file: 'store' });
  return { text: converted.output, leftOut: converted.summary.rejected };
}

export const NATIVE_MEDIA_TYPES: Readonly<Record<FormatName, string>> = {
  'dialogplus-csv': 'text/csv',
  'mhsds-csv': 'text/csv',
  hl7v2: 'x-application/hl7-v2+er7',
  fhir: 'application/fhir+ndjson',
};
