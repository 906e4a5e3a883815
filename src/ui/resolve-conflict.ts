/**
 * Resolving a handover conflict (a Task coded resolve-plan-conflict, src/transfer/deliver.ts):
 * the merge left this system's version of a part in the plan (and, for an activity, the sending
 * system's beside it as a marked copy). Keeping this system's version removes the copy; keeping
 * the sending system's puts it in place of this system's (or removes the part, when the sender
 * had removed it). Then the plan is written with If-Match and the Task completed, both through
 * FhirService, as any API client would.
 */
import type { CarePlan, CarePlanActivity, Task } from '@medplum/fhirtypes';
import type { Access } from '../service/access';
import type { FhirService } from '../service/fhir-service';
import { fault } from '../service/outcomes';
import { CONFLICT_CODE } from '../transfer/deliver';
import { canonicalJson, CONFLICTING_COPY_EXTENSION } from '../transfer/plan-three-way-merge';
import type { ConflictTask } from './plan-page';

const SENDING = 'the sending system’s version';
const HERE = 'this system’s version';

export function isConflictTask(task: Task): boolean {
  return (
    task.code?.coding?.some(
      (c) => c.system === CONFLICT_CODE.system && c.code === CONFLICT_CODE.code,
    ) ?? false
  );
}

function input(task: Task, text: string): string | undefined {
  return task.input?.find((i) => i.type.text === text)?.valueString;
}

function parsed(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

function pretty(value: string | undefined): string | undefined {
  const v = parsed(value);
  return v === undefined ? undefined : JSON.stringify(v, null, 2);
}

export function conflictOf(task: Task): ConflictTask {
  const sending = pretty(input(task, SENDING));
  const here = pretty(input(task, HERE));
  return {
    task,
    part: input(task, 'part') ?? 'CarePlan',
    ...(sending !== undefined ? { sending } : {}),
    ...(here !== undefined ? { here } : {}),
  };
}

type Json = Record<string, unknown>;

/** The plan with one version of the conflicting part kept. */
export function keepVersion(plan: CarePlan, task: Task, keep: 'here' | 'sending'): CarePlan {
  const part = input(task, 'part') ?? '';
  const name = /^CarePlan\.([A-Za-z]+)/.exec(part)?.[1];
  if (!name || name === 'id' || name === 'meta' || name === 'resourceType')
    throw fault(
      422,
      'not-supported',
      `This conflict (${part}) cannot be resolved here`,
      'Task.input',
    );
  const sending = parsed(input(task, SENDING));
  const here = parsed(input(task, HERE));
  const copyOf =
    (here as CarePlanActivity | undefined)?.id ?? (sending as CarePlanActivity | undefined)?.id;
  const out = structuredClone(plan) as unknown as Json;
  // The sending system's activity, kept beside this one as a marked copy, goes either way.
  if (name === 'activity' && Array.isArray(out.activity)) {
    out.activity = (out.activity as CarePlanActivity[]).filter(
      (a) =>
        !a.extension?.some((e) => e.url === CONFLICTING_COPY_EXTENSION && e.valueString === copyOf),
    );
  }
  if (keep === 'sending') {
    const current = out[name];
    // A list's part is one element of it; another part is the element's whole value.
    const isList = Array.isArray(current) || (current === undefined && part !== `CarePlan.${name}`);
    if (isList) {
      const list = Array.isArray(current) ? [...(current as unknown[])] : [];
      const at =
        here === undefined ? -1 : list.findIndex((v) => canonicalJson(v) === canonicalJson(here));
      if (at >= 0) {
        if (sending === undefined) list.splice(at, 1);
        else list[at] = sending;
      } else if (sending !== undefined) list.push(sending);
      if (list.length > 0) out[name] = list;
      else Reflect.deleteProperty(out, name);
    } else if (sending === undefined) Reflect.deleteProperty(out, name);
    else out[name] = sending;
  }
  return out as unknown as CarePlan;
}

export async function resolveConflict(
  service: FhirService,
  access: Access,
  taskId: string,
  keep: 'here' | 'sending',
  now: Date,
): Promise<Task> {
  const task = (await service.read(access, 'Task', taskId)) as Task;
  if (!isConflictTask(task))
    throw fault(400, 'invalid', 'This task is not a plan conflict', 'Task.code');
  if (task.status !== 'requested' && task.status !== 'ready' && task.status !== 'in-progress')
    throw fault(409, 'conflict', 'This conflict is already resolved', 'Task.status');
  const planId = /^CarePlan\/([^/]+)/.exec(task.focus?.reference ?? '')?.[1];
  if (!planId) throw fault(422, 'invalid', 'The task names no care plan', 'Task.focus');
  const plan = (await service.read(access, 'CarePlan', planId)) as CarePlan;
  const resolved = keepVersion(plan, task, keep);
  if (canonicalJson(resolved) !== canonicalJson(plan))
    await service.update(access, 'CarePlan', planId, resolved, `W/"${plan.meta?.versionId ?? ''}"`);
  const done: Task = {
    ...task,
    status: 'completed',
    lastModified: now.toISOString(),
    businessStatus: {
      text: keep === 'here' ? 'Kept this system’s version' : 'Kept the sending system’s version',
    },
  };
  const written = await service.update(
    access,
    'Task',
    taskId,
    done,
    `W/"${task.meta?.versionId ?? ''}"`,
  );
  return written.resource as Task;
}
