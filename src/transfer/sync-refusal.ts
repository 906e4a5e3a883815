/**
 * A peer's plan update that plan sync did not take (what it sent does not validate here) is work
 * for a clinician, not only a log line: the two systems' copies of the one plan now differ, and
 * someone has to find out why with the peer. So the refusal is a Task beside the person's plan:
 * one per refused state of the peer's record (which of its resources, in which versions, were at
 * fault and how), however often that state is pulled again.
 *
 * The Task names the faults as FHIRPath locations and issue codes only, as the log does: never the
 * values the peer sent. A later version that is taken does not close it; a clinician does.
 */
import type { BundleEntry, CarePlan, Task } from '@medplum/fhirtypes';
import { BASE } from '../fhir/canonical';
import { DIALOG_NAMESPACE, tokenSearch, uuidV5 } from '../fhir/stable-id';

export const SYNC_REFUSED_CODE = {
  system: `${BASE}/CodeSystem/dialog-task`,
  code: 'review-sync-refusal',
};
export const SYNC_REFUSAL_IDENTIFIER_SYSTEM = `${BASE}/sid/plan-sync-refusal`;

/** One fault of the peer's record: which resource type, where (FHIRPath) and what (issue code). */
export interface SyncFault {
  readonly resourceType: string;
  readonly code: string;
  readonly expression: string;
  /** The faulty resource as the peer sent it: `Type/id/version` (what makes this refusal). */
  readonly version: string;
}

/** Faults listed in the Task's description; the rest are counted. */
const LISTED = 10;

export interface SyncRefusal {
  readonly peerId: string;
  /** The plan's business identifier (`system|value`), the same on both sides. */
  readonly planKey: string;
  /** The peer's plan as read (its version is the one refused). */
  readonly theirs: CarePlan;
  /** This system's copy of the plan, left unchanged. */
  readonly ours: CarePlan;
  readonly faults: readonly SyncFault[];
  readonly now: Date;
}

/** The refusal Task, as a conditional create on its identifier (peer, plan, what was at fault). */
export function syncRefusalEntry(refusal: SyncRefusal): BundleEntry {
  const { peerId, theirs, ours, faults } = refusal;
  const theirVersion = theirs.meta?.versionId ?? '';
  // One Task per refusal: the peer, the plan, and which versions of which of the peer's resources
  // were faulty and how (a Goal changed alone is a new refusal; the same record polled again is
  // not). A resource without a version is told apart by its faults.
  const what = [...new Set(faults.map((f) => `${f.version}|${f.expression}|${f.code}`))].sort();
  const key = uuidV5(
    `sync-refusal|${peerId}|${refusal.planKey}|${theirVersion}|${what.join(',')}`,
    DIALOG_NAMESPACE,
  );
  const listed = faults
    .slice(0, LISTED)
    .map((f) => `${f.expression || f.resourceType} (${f.code})`)
    .join('; ');
  const more = faults.length > LISTED ? `; and ${faults.length - LISTED} more` : '';
  const task: Task = {
    resourceType: 'Task',
    identifier: [{ system: SYNC_REFUSAL_IDENTIFIER_SYSTEM, value: key }],
    status: 'requested',
    intent: 'order',
    code: {
      coding: [SYNC_REFUSED_CODE],
      text: 'Review a plan update from another system that was not taken',
    },
    description:
      `${peerId} changed this care plan (their version ${theirVersion}), but the change was not ` +
      `taken: what they sent does not pass this system's checks (${faults.length} fault(s): ` +
      `${listed}${more}). This system's plan is unchanged; the two copies differ until the ` +
      `cause is found with ${peerId}.`,
    focus: { reference: `CarePlan/${ours.id ?? ''}` },
    ...(ours.subject?.reference ? { for: { reference: ours.subject.reference } } : {}),
    authoredOn: refusal.now.toISOString(),
    input: [
      { type: { text: 'peer system' }, valueString: peerId },
      { type: { text: 'the peer’s plan version' }, valueString: theirVersion },
    ],
  };
  return {
    resource: task,
    request: {
      method: 'POST',
      url: 'Task',
      ifNoneExist: `identifier=${encodeURIComponent(tokenSearch(SYNC_REFUSAL_IDENTIFIER_SYSTEM, key))}`,
    },
  };
}
