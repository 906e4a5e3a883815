/**
 * Starting a handover: `POST /fhir/Patient/{id}/$transfer` (destination, reason), an HL7 v2
 * ADT^A01 / ^A03 received through `/native/hl7v2`, or an inpatient Encounter starting or ending
 * (encounter-trigger.ts). On discharge the same transaction records the plan's sending to everyone
 * named in it (plan-distribution.ts). In one store transaction the plan records the
 * handover itself (responsibility passes; inpatient sections open or close; the next rating due —
 * handover-effects.ts) and the handover Task is written, requested; the deliverer then sends it
 * (deliver.ts). Answered 202 with the Task, whose status the caller follows.
 */
import type { CarePlan, Parameters, Patient, Reference, Task } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { CARE_PLAN_IDENTIFIER_SYSTEM, tokenSearch } from '../fhir';
import type { AdtEvent } from '../mapping/types';
import type { Access } from '../service/access';
import type { FhirService } from '../service/fhir-service';
import { fault, statusOf } from '../service/outcomes';
import { HANDOVER_REASONS, planAfterHandover, type HandoverReason } from './handover-effects';
import { peerById, type Peer, type Peers } from './peers';
import { planSendEntries, responsibleSince } from './plan-distribution';
import { handoverTask } from './transfer-task';

const PLAN_RACE_ATTEMPTS = 3;

export interface TransferRequest {
  readonly patientId: string;
  readonly destination: string;
  readonly reason: HandoverReason;
  /**
   * The Task's id when the trigger names it (an Encounter's start or end: one handover per
   * Encounter and reason). A handover whose Task already exists is not started again.
   */
  readonly taskId?: string;
  /** What started the handover (the Encounter), kept on the Task as its reasonReference. */
  readonly trigger?: Reference;
}

export function readTransferParameters(patientId: string, params: Parameters): TransferRequest {
  const named = (name: string) => params.parameter?.find((p) => p.name === name);
  const destination = named('destination');
  const id = destination?.valueString ?? destination?.valueCode ?? destination?.valueId;
  if (!id)
    throw fault(
      400,
      'required',
      'Name the destination system (a peer id from the peers file) as destination',
      "Parameters.parameter.where(name = 'destination')",
    );
  const reason = named('reason')?.valueCode;
  if (!reason || !(HANDOVER_REASONS as readonly string[]).includes(reason))
    throw fault(
      400,
      'value',
      `The reason is one of ${HANDOVER_REASONS.join(', ')}`,
      "Parameters.parameter.where(name = 'reason')",
    );
  return { patientId, destination: id, reason: reason as HandoverReason };
}

export class Transfers {
  constructor(
    private readonly service: FhirService,
    readonly peers: Peers,
    private readonly now: () => Date,
    private readonly kick: () => void,
  ) {}

  /** Records the handover in the plan and writes its Task, in one transaction. */
  async request(access: Access, request: TransferRequest): Promise<Task> {
    access.check('create', 'Task');
    access.check('update', 'CarePlan');
    const peer = peerById(this.peers, request.destination);
    if (!peer)
      throw fault(
        422,
        'not-found',
        `No peer system "${request.destination}" is configured: see PEERS_FILE`,
        "Parameters.parameter.where(name = 'destination')",
      );
    await this.service.read(access, 'Patient', request.patientId);
    for (let attempt = 1; ; attempt++) {
      try {
        const started = await this.existing(request.taskId);
        if (started) return started;
        const task = await this.write(request, peer);
        this.kick();
        return task;
      } catch (err) {
        if (statusOf(err) !== 412 || attempt >= PLAN_RACE_ATTEMPTS) throw err;
      }
    }
  }

  /** The Task of a handover already started under this id (a repeated trigger), if any. */
  private async existing(taskId: string | undefined): Promise<Task | undefined> {
    if (taskId === undefined) return undefined;
    return (await this.service.deps.store.read('Task', taskId).catch((err: unknown) => {
      if (statusOf(err) === 404 || statusOf(err) === 410) return undefined;
      throw err;
    })) as Task | undefined;
  }

  private async write(request: TransferRequest, peer: Peer): Promise<Task> {
    const plan = await this.planOf(request.patientId);
    const now = this.now();
    const moved = planAfterHandover(plan, {
      reason: request.reason,
      from: this.peers.self,
      to: peer,
      at: now.toISOString(),
    });
    const task = handoverTask({
      id: request.taskId ?? randomUUID(),
      plan,
      patientId: request.patientId,
      reason: request.reason,
      from: this.peers.self,
      to: peer,
      now,
      ...(request.trigger ? { trigger: request.trigger } : {}),
    });
    const result = await this.service.deps.store.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: moved,
          request: {
            method: 'PUT',
            url: `CarePlan/${plan.id ?? ''}`,
            ifMatch: `W/"${plan.meta?.versionId ?? ''}"`,
          },
        },
        { resource: task, request: { method: 'PUT', url: `Task/${task.id ?? ''}` } },
        // On discharge, the plan goes to everyone named in it (plan-distribution.ts).
        ...(request.reason === 'discharge'
          ? await planSendEntries(this.service.deps.store, {
              plan: moved,
              patientId: request.patientId,
              dischargedAt: responsibleSince(moved) ?? now.toISOString(),
              from: this.peers.self,
              now,
            })
          : []),
      ],
    });
    return result.entry?.[1]?.resource as Task;
  }

  private async planOf(patientId: string): Promise<CarePlan> {
    const found = await this.service.deps.store.search(
      'CarePlan',
      { subject: `Patient/${patientId}`, _sort: '-_lastUpdated' },
      { count: 100 },
    );
    const plan = (found.resources as CarePlan[]).find((p) =>
      p.identifier?.some((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM),
    );
    if (!plan)
      throw fault(
        422,
        'business-rule',
        'The person has no DIALOG care plan to hand over yet: record a session first',
        'CarePlan',
      );
    return plan;
  }

  /**
   * An ADT event as a handover: an admission (A01) goes to the inpatient peer, a discharge (A03)
   * to the community peer — when exactly one peer has that setting; otherwise the event is only
   * reported. The person is found by the identifiers the message gives (NHS number first).
   */
  async fromAdt(access: Access, event: AdtEvent): Promise<Task | string> {
    const setting = event.event === 'admit' ? 'inpatient' : 'community';
    const candidates = this.peers.peers.filter((p) => p.setting === setting);
    if (candidates.length !== 1)
      return `No single ${setting} peer is configured, so the ${event.messageType} starts no handover`;
    const patient = await this.patientOf(access, event);
    if (!patient?.id) return `The person in the ${event.messageType} is not known here`;
    return this.request(access, {
      patientId: patient.id,
      destination: candidates[0]?.id ?? '',
      reason: event.event === 'admit' ? 'admission' : 'discharge',
    });
  }

  /** The people here with this identifier (`system|value`), as the caller may see them. */
  async findPatients(access: Access, identifier: string): Promise<Patient[]> {
    const found = await this.service.search(access, 'Patient', new URLSearchParams({ identifier }));
    return found.resources as Patient[];
  }

  private async patientOf(access: Access, event: AdtEvent): Promise<Patient | undefined> {
    const identifiers = [...event.patient.identifiers].sort((a, b) =>
      a.system === 'https://fhir.nhs.uk/Id/nhs-number' ? -1 : b.system === a.system ? 0 : 1,
    );
    for (const identifier of identifiers) {
      const found = await this.service.search(
        access,
        'Patient',
        new URLSearchParams({ identifier: tokenSearch(identifier.system, identifier.value) }),
      );
      if (found.total === 1) return found.resources[0] as Patient;
    }
    return undefined;
  }
}
