/**
 * An `Encounter` starting or ending as a handover (issue 5): an inpatient Encounter (class
 * `IMP`, `ACUTE` or `NONAC` of v3 ActCode, or a class coded `inpatient`) that is `in-progress`
 * is an admission, handed to the one inpatient peer; one that is `finished` is a discharge,
 * handed back to the one community peer. The same path as `$transfer` and ADT^A01/A03
 * (handover.ts). Other Encounters (outpatient, planned, cancelled…) start nothing.
 *
 * Once per Encounter and reason: the handover Task's id is derived from the Encounter's id and the
 * reason, so the same Encounter written again (a retry, an edit of another field) does not start
 * a second handover, while a write whose handover did not start (no plan yet, a crash between the
 * two) starts it when written again.
 */
import type { Encounter, Patient, Task } from '@medplum/fhirtypes';
import { DIALOG_NAMESPACE, tokenSearch, uuidV5 } from '../fhir';
import type { Access } from '../service/access';
import type { HandoverReason } from './handover-effects';
import type { Transfers } from './handover';
import type { CareSetting } from '../dialog';

const INPATIENT_CLASSES = new Set(['IMP', 'ACUTE', 'NONAC', 'inpatient']);

export interface EncounterHandover {
  readonly reason: Extract<HandoverReason, 'admission' | 'discharge'>;
  readonly setting: CareSetting;
}

/** The handover an Encounter's state asks for, if any. */
export function encounterHandover(encounter: Encounter): EncounterHandover | undefined {
  const code = encounter.class?.code;
  if (code === undefined || !INPATIENT_CLASSES.has(code)) return undefined;
  if (encounter.status === 'in-progress') return { reason: 'admission', setting: 'inpatient' };
  if (encounter.status === 'finished') return { reason: 'discharge', setting: 'community' };
  return undefined;
}

/** The id of the one handover Task an Encounter may start for a reason. */
export function encounterTaskId(encounterId: string, reason: HandoverReason): string {
  return uuidV5(`encounter-handover|${encounterId}|${reason}`, DIALOG_NAMESPACE);
}

/**
 * Starts the handover a stored Encounter asks for: the Task (new, or the one already started for
 * this Encounter and reason), or a sentence saying why none starts.
 */
export async function handoverFromEncounter(
  transfers: Transfers,
  access: Access,
  encounter: Encounter,
): Promise<Task | string> {
  const wanted = encounterHandover(encounter);
  if (!wanted) return 'The Encounter is not an inpatient stay starting or ending';
  const candidates = transfers.peers.peers.filter((p) => p.setting === wanted.setting);
  if (candidates.length !== 1)
    return `No single ${wanted.setting} peer is configured, so the Encounter starts no handover`;
  const patientId = await patientOf(transfers, access, encounter);
  if (patientId === undefined) return 'The person the Encounter is about is not known here';
  return transfers.request(access, {
    patientId,
    destination: candidates[0]?.id ?? '',
    reason: wanted.reason,
    taskId: encounterTaskId(encounter.id ?? '', wanted.reason),
    trigger: { reference: `Encounter/${encounter.id ?? ''}` },
  });
}

/** `Patient/<id>`, or a subject given by identifier (an NHS number) that names one person here. */
async function patientOf(
  transfers: Transfers,
  access: Access,
  encounter: Encounter,
): Promise<string | undefined> {
  const subject = encounter.subject;
  const match = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject?.reference ?? '');
  if (match?.[1]) return match[1];
  const identifier = subject?.identifier;
  if (!identifier?.system || !identifier.value) return undefined;
  const found = await transfers.findPatients(
    access,
    tokenSearch(identifier.system, identifier.value),
  );
  return found.length === 1 ? (found[0] as Patient).id : undefined;
}
