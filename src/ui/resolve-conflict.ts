/**
 * Resolving a handover conflict (a Task coded resolve-plan-conflict, src/transfer/deliver.ts and
 * shared-merge.ts): the merge left this system's version of a part in the plan, a Goal, a carer
 * (RelatedPerson) or a Consent — the Task's focus — (and, for a plan activity, the sending
 * system's beside it as a marked copy). Keeping this system's version removes the copy; keeping
 * the sending system's puts it in place of this system's (or removes the part, when the sender
 * had removed it). Then the resource is written with If-Match and the Task completed, both through
 * FhirService, as any API client would.
 */
import type { CarePlanActivity, Resource, Task } from '@medplum/fhirtypes';
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

/** The resources a conflict Task may be focused on (what is merged three ways). */
const MERGED = /^(CarePlan|Goal|RelatedPerson|Consent)\/([A-Za-z0-9\-.]{1,64})$/;

/** The resource (plan, Goal, carer, Consent) with one version of the conflicting part kept. */
export function keepVersion<T extends Resource>(
  resource: T,
  task: Task,
  keep: 'here' | 'sending',
): T {
  const part = input(task, 'part') ?? '';
  const type = resource.resourceType;
  const name = new RegExp(`^${type}\\.([A-Za-z]+)`).exec(part)?.[1];
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
  const out = structuredClone(resource) as unknown as Json;
  // The sending system's activity, kept beside this one as a marked copy, goes either way.
  if (type === 'CarePlan' && name === 'activity' && Array.isArray(out.activity)) {
    out.activity = (out.activity as CarePlanActivity[]).filter(
      (a) =>
        !a.extension?.some((e) => e.url === CONFLICTING_COPY_EXTENSION && e.valueString === copyOf),
    );
  }
  if (keep === 'sending') {
    const current = out[name];
    // A list's part is one element of it; another part is the element's whole value.
    const isList = Array.isArray(current) || (current === undefined && part !== `${type}.${name}`);
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
  return out as unknown as T;
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
  const [, type, id] = MERGED.exec(task.focus?.reference ?? '') ?? [];
  if (!type || !id)
    throw fault(
      422,
      'invalid',
      'The task names no care plan, Goal, carer or consent',
      'Task.focus',
    );
  const current = await service.read(access, type, id);
  const resolved = keepVersion(current, task, keep);
  if (canonicalJson(resolved) !== canonicalJson(current))
    await service.update(access, type, id, resolved, `W/"${current.meta?.versionId ?? ''}"`);
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
