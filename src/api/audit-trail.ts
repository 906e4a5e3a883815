/**
 * An AuditEvent for every request to /fhir and /native — reads, writes, refusals and failed
 * logins alike — written to the store, where it is searchable like any resource.
 *
 * Events are queued and written in batches (one store transaction per batch, every
 * FLUSH_INTERVAL_MS or MAX_BATCH events) rather than one commit per request: an fsync per
 * request would halve the throughput of reads. A store that offers `append` (the embedded one:
 * plain inserts, no transaction Bundle to read and answer) takes the batch that way. The cost is that a crash loses at most the last
 * interval's events; a clean shutdown flushes them (`close`). This trade-off is stated in the
 * README.
 *
 * What each event names is read from the request and the response as sent: the interaction from
 * the method and path shape, the resource type and ids, the person (the caller's patient context,
 * else a Patient the resource names). Nothing else of the content goes in.
 */
import type { Request, Response } from 'express';
import type { AuditEvent, BundleEntry, Resource } from '@medplum/fhirtypes';
import type winston from 'winston';
import { auditEvent, type AuditInteraction } from '../auth';
import { isNhsNumber } from '../mapping/codes';
import type { Access } from '../service/access';
import { statusOf } from '../service/outcomes';
import type { FhirStore } from '../store';

const FLUSH_INTERVAL_MS = 200;
const MAX_BATCH = 500;
/** Events kept for a store that does not take them (a FHIR server down): about a minute's worth. */
const MAX_PENDING = 100_000;
const RETRY_MAX_MS = 30_000;

/** A store that can append records without a transaction Bundle (see EmbeddedStore.append). */
interface AppendingStore {
  append(resources: readonly AuditEvent[]): Promise<number>;
}

function canAppend(store: FhirStore): store is FhirStore & AppendingStore {
  return typeof (store as Partial<AppendingStore>).append === 'function';
}
const SOURCE = 'dialog-fhir';
const PATIENT_REF = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const PATIENT_OR_ID = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/;

export class AuditTrail {
  private queue: AuditEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Failed writes in a row (the backoff's exponent). */
  private failures = 0;
  /** After close: a failed write is not tried again. */
  private closed = false;

  constructor(
    private readonly store: FhirStore,
    private readonly logger: winston.Logger,
    private readonly now: () => Date,
  ) {}

  /** Express middleware: records the request once its response is finished. */
  middleware() {
    return (req: Request, res: Response, next: () => void): void => {
      const skip = req.baseUrl === '/ui' && !isAuditedUiPath(req.path);
      if (!skip)
        res.on('finish', () => {
          this.record(req, res);
        });
      next();
    };
  }

  private record(req: Request, res: Response): void {
    const access = res.locals.access as Access | undefined;
    const sent = res.locals.sentResource as Resource | undefined;
    const shape = requestShape(req);
    const event = auditEvent({
      ...(access ? { ctx: access.context } : {}),
      interaction: shape.interaction,
      status: res.statusCode,
      ...(shape.type ? { resourceType: shape.type } : {}),
      ids: withoutOtherPeople(access, shape, idsOf(shape, sent)),
      ...patientOf(access, shape, sent),
      ...(shape.operation ? { operation: shape.operation } : {}),
      requestId: String(res.locals.requestId ?? ''),
      now: this.now(),
      source: SOURCE,
    });
    this.queue.push(event);
    // While the store is failing, the retry's backoff decides when to write, not the batch size.
    if (this.queue.length >= MAX_BATCH && this.failures === 0) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  /** Writes what is queued; resolves when it is stored (or queued again to be retried). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.queue;
    this.queue = [];
    if (pending.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() => this.writeAll(pending));
    return this.flushing;
  }

  /** MAX_BATCH at a time, one store transaction each; after a passing failure, none more. */
  private async writeAll(events: AuditEvent[]): Promise<void> {
    for (let at = 0; at < events.length; at += MAX_BATCH) {
      const batch = events.slice(at, at + MAX_BATCH);
      const error = await this.write(batch);
      if (error === undefined) continue;
      if (this.failed(batch, error) === 'retry') {
        this.retry(events.slice(at), error);
        return;
      }
    }
  }

  /** Writes one batch; the error, if the store did not take it. */
  private async write(batch: AuditEvent[]): Promise<unknown> {
    try {
      if (canAppend(this.store)) await this.store.append(batch);
      else {
        const entry: BundleEntry[] = batch.map((resource) => ({
          resource,
          request: { method: 'POST', url: 'AuditEvent' },
        }));
        await this.store.transaction({ resourceType: 'Bundle', type: 'transaction', entry });
      }
      this.failures = 0;
      return undefined;
    } catch (err) {
      return err ?? new Error('unknown');
    }
  }

  /**
   * A batch the store did not take. A passing failure (the FHIR server down, busy or slow: 5xx,
   * 429, 408, unreachable) is tried again; a refusal (another 4xx: the store's token may not write
   * AuditEvents) would be refused again, and is logged and given up, as is anything at close.
   */
  private failed(batch: AuditEvent[], err: unknown): 'retry' | 'given up' {
    const status = statusOf(err);
    if ((status >= 500 || status === 429 || status === 408) && !this.closed) return 'retry';
    this.logger.error('audit events could not be written', {
      events: batch.length,
      error: err instanceof Error ? err.message : String(err),
    });
    return 'given up';
  }

  /**
   * Queues `events` again, before newer ones, and writes them after a backoff; at most
   * MAX_PENDING events are kept (the oldest beyond that are given up, and said so).
   */
  private retry(events: AuditEvent[], err: unknown): void {
    this.queue = [...events, ...this.queue];
    const over = this.queue.length - MAX_PENDING;
    if (over > 0) {
      this.queue = this.queue.slice(over);
      this.logger.error('audit events given up: the store has not taken them', { events: over });
    }
    this.failures++;
    const delay = Math.min(RETRY_MAX_MS, FLUSH_INTERVAL_MS * 2 ** this.failures);
    this.logger.warn('audit events not written yet: trying again', {
      events: this.queue.length,
      inMs: delay,
      error: err instanceof Error ? err.message : String(err),
    });
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  /** Writes what is queued; a failure now is logged, not tried again. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface Shape {
  readonly interaction: AuditInteraction;
  readonly type?: string;
  readonly id?: string;
  readonly operation?: string;
  /** The person a whole request is about (`/native/{format}?patient=`), as a Patient id. */
  readonly patient?: string;
  /** The one person a search's `patient` or `subject` names, as a Patient id. */
  readonly searched?: string;
}

/** `/fhir/Type/id/_history/v`, `/fhir/Type/$op`, `/native/format`… as an audit interaction. */
export function requestShape(req: Request): Shape {
  const path = req.path.split('?')[0] ?? '';
  const [root, ...parts] = (req.baseUrl + path).split('/').filter((p) => p.length > 0);
  if (root === 'ui') return uiShape(req.method, parts);
  if (root === 'native') {
    const query = (req.query as Record<string, unknown> | undefined)?.patient;
    const named = typeof query === 'string' ? query : '';
    const patient = PATIENT_OR_ID.exec(named)?.[1];
    return {
      interaction: req.method === 'GET' ? 'search' : 'create',
      type: 'QuestionnaireResponse',
      operation: `native-${parts[0] ?? ''}`,
      ...(patient ? { patient } : {}),
    };
  }
  const op = parts.find((p) => p.startsWith('$'));
  const [type, id, history, version] = parts.filter((p) => !p.startsWith('$'));
  if (op)
    return {
      interaction: 'operation',
      ...(type ? { type } : {}),
      ...(id ? { id } : {}),
      operation: op,
    };
  if (type === undefined) return { interaction: req.method === 'POST' ? 'transaction' : 'search' };
  if (req.method === 'POST') return { interaction: 'create', type };
  if (req.method === 'PUT') return { interaction: 'update', type, ...(id ? { id } : {}) };
  if (req.method === 'DELETE') return { interaction: 'delete', type, ...(id ? { id } : {}) };
  if (id === undefined) {
    const searched = searchedPatient(req.query as Record<string, unknown> | undefined);
    return { interaction: 'search', type, ...(searched ? { searched } : {}) };
  }
  if (history === '_history') return { interaction: version ? 'vread' : 'history', type, id };
  return { interaction: 'read', type, id };
}

/** The search parameters that name the person a search is about (`patient`, `subject`). */
const PERSON_PARAMETERS = ['patient', 'subject'] as const;

/**
 * The one person a search asks about (`?patient=p1`, `?subject=Patient/p1`), so its AuditEvent
 * names whose record was searched even when nothing was found. Several people, or none: undefined.
 */
function searchedPatient(query: Record<string, unknown> | undefined): string | undefined {
  const named = new Set<string>();
  for (const name of PERSON_PARAMETERS) {
    const given = query?.[name];
    for (const value of Array.isArray(given) ? given : [given]) {
      if (typeof value !== 'string') continue;
      for (const part of value.split(',')) {
        const id = (name === 'patient' ? PATIENT_OR_ID : PATIENT_REF).exec(part)?.[1];
        // An NHS number typed as an id is a search value, which audit events never hold.
        if (id && !isNhsNumber(id)) named.add(id);
        else return undefined;
      }
    }
  }
  return named.size === 1 ? [...named][0] : undefined;
}

const UI_TYPES: Readonly<Record<string, string>> = {
  patients: 'Patient',
  tasks: 'Task',
  plans: 'CarePlan',
};

/**
 * The clinician page's requests, as what they touch: `/ui/patients/:id` reads a Patient (and its
 * plan), `/ui/patients/:id/session` reads or writes the session, `/ui/tasks/:id/resolve` updates a
 * conflict Task, `/ui/plans/:id/letter` reads a plan, `/ui/` searches people.
 */
function uiShape(method: string, parts: readonly string[]): Shape {
  const [section, id, action] = parts;
  const type = section ? UI_TYPES[section] : undefined;
  if (!type || !id) return { interaction: 'search', type: 'Patient' };
  const writes = method === 'POST' && (action === 'session' || action === 'resolve');
  return { interaction: writes ? 'update' : 'read', type, id };
}

/** Sign-in pages and the style sheet touch no records and are not audited. */
export function isAuditedUiPath(path: string): boolean {
  return !/^\/(static|login|logout)(\/|$)/.test(path);
}

/**
 * The ids of `shape.type` the request touched: the one its path names (an operation on an
 * instance touches it, whatever it answers), those of that type in a Bundle answered, or the id of
 * what was written. An answer of another type (the Task `$transfer` answers) is not named as one of
 * `shape.type`: that would name a resource that does not exist.
 */
function idsOf(shape: Shape, sent: Resource | undefined): string[] {
  const own = shape.id ? [shape.id] : [];
  if (sent?.resourceType === 'Bundle')
    return [
      ...own,
      ...(sent.entry ?? []).flatMap((e) =>
        e.resource?.id && e.resource.resourceType === shape.type ? [e.resource.id] : [],
      ),
    ];
  if (sent && sent.resourceType === shape.type && sent.id) return [sent.id];
  return own;
}

/**
 * A confined caller's event names no other person's Patient: an AuditEvent naming a Patient is in
 * that person's trail (its `patient`), so the person would find there which other patient, or
 * whose carer, tried to reach their record. The refused attempt stays in the caller's own trail,
 * named by interaction, type and outcome.
 */
function withoutOtherPeople(access: Access | undefined, shape: Shape, ids: string[]): string[] {
  if (access?.patient === undefined || shape.type !== 'Patient') return ids;
  return ids.filter((id) => id === access.patient);
}

function patientOf(
  access: Access | undefined,
  shape: Shape,
  sent: Resource | undefined,
): { patientId?: string } {
  // A confined caller's request (a person's, a carer's) stays in their own person's trail,
  // whatever it names: the person it named never finds in theirs which other patient, or whose
  // carer, tried to reach their record (the attempt was refused, and is in the caller's trail).
  if (access?.patient) return { patientId: access.patient };
  // For clinicians and systems, the person a request names is the one it touched (or tried to),
  // and a search names the person it asks about.
  if (shape.patient) return { patientId: shape.patient };
  if (shape.searched) return { patientId: shape.searched };
  if (shape.type === 'Patient' && shape.id) return { patientId: shape.id };
  const named = sent as
    { subject?: { reference?: string }; patient?: { reference?: string } } | undefined;
  const match = PATIENT_REF.exec(named?.subject?.reference ?? named?.patient?.reference ?? '');
  return match?.[1] ? { patientId: match[1] } : {};
}
