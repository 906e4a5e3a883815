/**
 * Submitting a DIALOG session: one atomic write. A DIALOG QuestionnaireResponse sent to
 * `POST /fhir/QuestionnaireResponse` (or `PUT …/{id}`) is stored together with what it implies —
 * the Observations `$extract` gives, the person's one CarePlan and its Goals updated, and a
 * Provenance for the write — as one store transaction: all of it, or none of it.
 *
 * `in-progress` (and `stopped`) responses are saved over several sittings without extraction; the
 * plan changes only when the session is completed (or amended).
 *
 * Concurrency: submissions for one person, and of one session, are taken one at a time in this
 * process (a queue per response id, and per person the session is filed against: `submitInTurn`),
 * and every plan update carries If-Match of the version it was built from, so a writer
 * elsewhere (another replica in fhir-server mode, a handover) makes the transaction fail with 412
 * instead of losing an edit; the whole pipeline then runs again from fresh reads (a few times).
 * Every entry is idempotent (stable ids and conditional writes), so running it again never
 * duplicates anything.
 *
 * A person new to this service (matched by identifier, no Patient holds it: src/service/subject.ts)
 * is created in the same transaction, by a conditional create. If another writer created a Patient
 * with that identifier first, the store files the session against theirs; a first plan is created
 * only if that person has no DIALOG plan yet (`asFirstCreate`), so theirs is found rather than a
 * second one made, and the session runs again against it.
 */
import { createHash } from 'node:crypto';
import { OperationOutcomeError } from '@medplum/core';
import type {
  Bundle,
  BundleEntry,
  CarePlan,
  Goal,
  OperationOutcomeIssue,
  Provenance,
  QuestionnaireResponse,
  Reference,
} from '@medplum/fhirtypes';
import {
  buildCarePlan,
  CARE_PLAN_IDENTIFIER_SYSTEM,
  DIALOG_NAMESPACE,
  extractObservations,
  responseKey,
  sessionTransaction,
  uuidV5,
} from '../fhir';
import { RATED_STATUSES } from '../fhir/history';
import type { FhirStore } from '../store';
import { isAnyVersion, noCurrentVersion, versionCondition } from './if-match';
import { KeyedQueue } from './keyed-queue';
import { movedFrom, storedOrUndefined } from './references';
import { fault, stale, statusOf, unprocessable } from './outcomes';
import { holderOf, withNewPatient, type NewPatient } from './subject';

/** How many times a session is rebuilt after losing a race for the plan. */
const PLAN_RACE_ATTEMPTS = 5;
/** A person's whole history is read for paired change and review dates; this caps one page. */
const HISTORY_PAGE = 1000;
/** Names the content a session Provenance id is derived from (not an identifier system). */
export const PROVENANCE_ID_NAMESPACE = 'https://dialog-fhir.org/fhir/sid/session-provenance';
const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';

export interface SessionSubmission {
  /** The response as validated; its `subject` is a `Patient/<id>` reference. */
  readonly response: QuestionnaireResponse;
  /** The logical id to store it under (the caller's for PUT; chosen by `sessionId` for POST). */
  readonly id: string;
  /** PUT's If-Match, if any. */
  readonly ifMatch?: string;
  /** Who is writing, for Provenance (`Practitioner/…`, `Device/…`, or a display). */
  readonly agent: Reference;
  /** The response's subject is a Patient to create with the session (see subject.ts). */
  readonly newPatient?: NewPatient;
}

export interface SessionResult {
  readonly response: QuestionnaireResponse;
  readonly created: boolean;
  /** Warnings from extraction and the plan (e.g. history left out of paired change). */
  readonly issues: readonly OperationOutcomeIssue[];
}

export interface SessionDeps {
  readonly store: FhirStore;
  readonly now: () => Date;
}

/** One submission's attempts, across the persons it is filed against. */
interface Tries {
  /** Attempts that failed (a turn handed to another person's key is not one). */
  failed: number;
  /** Whether the response was absent when the first attempt read it (see `submitWithRetries`). */
  absent?: boolean;
}

/** What a turn under one person's key ends with: the result, or the submission re-filed. */
type Turn = { readonly result: SessionResult } | { readonly refiled: SessionSubmission };

export class SessionSubmitter {
  private readonly queue = new KeyedQueue();

  constructor(private readonly deps: SessionDeps) {}

  /** Stores the session and what it implies, all or nothing. */
  submit(submission: SessionSubmission): Promise<SessionResult> {
    // Per session: two copies of one session naming a new person have two subjects (each its own
    // new Patient id) but one response id, and must not both find it absent.
    const session = `QuestionnaireResponse/${submission.id}`;
    return this.queue.run(session, () => this.submitInTurn(submission));
  }

  /**
   * Holding the session's key, runs the submission under the key of the person it is filed
   * against. A new person can turn out to be stored under another id (another writer registered
   * them meanwhile: `againstStoredPatient`); the submission then leaves the new id's key and waits
   * for the stored Patient's, so its attempts against them do not run beside that person's other
   * submissions. (The transaction that finds them stored ran under the new id's key: it touches
   * their plan only by creating a first one if they have none, which If-None-Exist keeps to
   * one.) The session's key is kept meanwhile, so no other copy of the session runs in between
   * and finds it absent too. This cannot deadlock: the session's key is always taken first and a person's key
   * last, one person's at a time, so a task holding a person's key waits for no other key.
   */
  private async submitInTurn(submission: SessionSubmission): Promise<SessionResult> {
    const tries: Tries = { failed: 0 };
    let pending = submission;
    for (;;) {
      const filed = pending;
      const turn = await this.queue.run(personOf(filed), () =>
        this.submitWithRetries(filed, tries),
      );
      if ('result' in turn) return turn.result;
      pending = turn.refiled;
    }
  }

  /**
   * Whether the answer is "created" (201) is decided from what was stored when this submission
   * began, not from the store's status for the last attempt: a response absent then and stored
   * now was created by this submission, even when an earlier attempt's transaction committed it
   * and the store's answer to that was lost (the fhir-server store repeats the transaction, and
   * the repeat says 200 or fails with 412 on the plan), or that attempt lost the race for a
   * first plan. Within this process submissions of one session are taken in turn (the session's
   * key, held across re-filing too), so two cannot both find it absent; across replicas, two
   * copies racing can both be told 201 (they wrote the same session).
   *
   * Runs holding the key of `submission`'s person; a submission re-filed against another person
   * is handed back (`refiled`) to wait for theirs.
   */
  private async submitWithRetries(submission: SessionSubmission, tries: Tries): Promise<Turn> {
    let pending = submission;
    for (;;) {
      try {
        const turn = await this.attempt(pending, tries);
        if ('refiled' in turn) return turn;
        return { result: { ...turn.result, created: tries.absent ?? turn.result.created } };
      } catch (err) {
        if (++tries.failed >= PLAN_RACE_ATTEMPTS) throw err;
        // The new person was created by another writer meanwhile: file the session against them.
        const filed = await this.againstStoredPatient(pending).catch(() => {
          throw err; // the search failing says nothing new: the original error stands
        });
        if (filed !== pending) {
          if (personOf(filed) !== personOf(pending)) return { refiled: filed };
          pending = filed;
          continue;
        }
        // A 412 that is not the caller's own If-Match: someone changed the plan meanwhile. A 409
        // (a Provenance is never changed) for a response absent when this submission began and
        // stored now: a copy of this session was written meanwhile by another replica (each holds
        // only its own keys), and this one is tried again as a resubmission of it.
        if (!isStale(err) && !(await this.writtenMeanwhile(err, pending, tries))) throw err;
        await this.checkCallerVersion(pending);
      }
    }
  }

  private async writtenMeanwhile(
    err: unknown,
    pending: SessionSubmission,
    tries: Tries,
  ): Promise<boolean> {
    if (statusOf(err) !== 409 || tries.absent !== true) return false;
    const now = await storedOrUndefined(this.deps.store, 'QuestionnaireResponse', pending.id);
    return now !== undefined;
  }

  /**
   * The submission filed against the stored Patient holding its new person's identifier, if one
   * does now; else the submission as it was.
   */
  private async againstStoredPatient(submission: SessionSubmission): Promise<SessionSubmission> {
    const { newPatient, response } = submission;
    if (!newPatient) return submission;
    const holder = await holderOf(this.deps.store, newPatient.identifier);
    if (holder === undefined) return submission;
    const { newPatient: _created, ...rest } = submission;
    void _created;
    return { ...rest, response: { ...response, subject: { reference: `Patient/${holder}` } } };
  }

  private async attempt(pending: SessionSubmission, tries: Tries): Promise<Turn> {
    const current = await this.checkCallerVersion(pending);
    tries.absent ??= current === undefined;
    // A stored response and a person new to the service: the person may have been registered
    // meanwhile (by this session's own earlier attempt that lost the plan race, or a racing copy
    // of it). Filed against the Patient holding them first, so that is not taken for a move, and
    // under that Patient's key (`submitInTurn`).
    const submission =
      current && pending.newPatient ? await this.againstStoredPatient(pending) : pending;
    if (personOf(submission) !== personOf(pending)) return { refiled: submission };
    const { response } = submission;
    checkSamePersonAsStored(current, response);
    const stored: QuestionnaireResponse = { ...response, id: submission.id };
    const entries: BundleEntry[] = [responseEntry(stored, versionCondition(submission.ifMatch))];
    const issues: OperationOutcomeIssue[] = [];
    const provenance = provenanceEntry(stored, submission.agent, current, this.deps.now());
    // Read side by side: over the fhir-server store each read is a round trip to the server.
    const [built, recorded] = await Promise.all([
      RATED_STATUSES.has(stored.status) ? this.sessionEntries(stored, issues) : undefined,
      storedOrUndefined(this.deps.store, 'Provenance', provenance.resource?.id ?? ''),
    ]);
    if (built) entries.push(...built.entries);
    const planCreatedFresh = built?.newPlan ?? false;
    if (!recorded) entries.push(provenance);
    const { newPatient } = submission;
    const entry = newPatient ? withNewPatient(entries, newPatient) : entries;
    const result = await this.deps.store
      .transaction({ resourceType: 'Bundle', type: 'transaction', entry })
      .catch((err: unknown) => {
        throw inSessionTerms(err, entry);
      });
    const first = result.entry?.[0];
    const created = first?.response?.status?.startsWith('201') ?? false;
    if (planCreatedFresh && planWasFound(result)) throw staleOutcome();
    return { result: { response: first?.resource as QuestionnaireResponse, created, issues } };
  }

  /** The stored response, after checking the caller's If-Match against it. */
  private async checkCallerVersion(
    submission: SessionSubmission,
  ): Promise<QuestionnaireResponse | undefined> {
    const current = await storedOrUndefined(
      this.deps.store,
      'QuestionnaireResponse',
      submission.id,
    );
    if (submission.ifMatch === undefined) return current;
    if (isAnyVersion(submission.ifMatch)) {
      if (!current) throw noCurrentVersion('QuestionnaireResponse.meta.versionId');
      return current;
    }
    const wanted = submission.ifMatch.replace(/^W\//, '').replace(/"/g, '');
    if (current?.meta?.versionId !== wanted)
      throw stale(
        'The response has changed since the version named in If-Match',
        'QuestionnaireResponse.meta.versionId',
      );
    return current;
  }

  /** The Observations, Goals and plan for a completed session, from fresh reads. */
  private async sessionEntries(
    response: QuestionnaireResponse,
    issues: OperationOutcomeIssue[],
  ): Promise<{ entries: BundleEntry[]; newPlan: boolean }> {
    const subject = response.subject?.reference ?? '';
    const [history, plan, goals] = await Promise.all([
      this.history(subject, response.id ?? ''),
      this.currentPlan(subject),
      this.goals(subject),
    ]);
    const extracted = extractObservations(response, { history });
    // Content the schema let through but extraction cannot use (30 February): a 422, as invalid
    // content is everywhere else.
    if (!extracted.ok) throw unprocessable(extracted.outcome);
    issues.push(...extracted.issues);
    const built = buildCarePlan({
      response,
      ...(plan ? { existing: plan } : {}),
      existingGoals: goals,
      history,
      newPlanIdentifier: () =>
        uuidV5(`${CARE_PLAN_IDENTIFIER_SYSTEM}|${subject}`, DIALOG_NAMESPACE),
    });
    if (!built.ok) throw unprocessable(built.outcome);
    issues.push(...built.issues);
    const bundle = sessionTransaction(extracted.bundle, built);
    return { entries: asFirstCreate(bundle, plan, subject), newPlan: plan === undefined };
  }

  private async history(subject: string, ownId: string): Promise<QuestionnaireResponse[]> {
    const found = await this.deps.store.search(
      'QuestionnaireResponse',
      { subject, status: 'completed,amended' },
      { count: HISTORY_PAGE },
    );
    return found.resources.filter((r) => r.id !== ownId);
  }

  /** The person's one DIALOG plan: the one with dialog-fhir's identifier, latest first. */
  private async currentPlan(subject: string): Promise<CarePlan | undefined> {
    const found = await this.deps.store.search(
      'CarePlan',
      { subject, _sort: '-_lastUpdated' },
      { count: HISTORY_PAGE },
    );
    return found.resources.find((plan) =>
      plan.identifier?.some((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM),
    );
  }

  private async goals(subject: string): Promise<Goal[]> {
    const found = await this.deps.store.search('Goal', { subject }, { count: HISTORY_PAGE });
    return found.resources;
  }
}

function responseEntry(response: QuestionnaireResponse, ifMatch: string | undefined): BundleEntry {
  return {
    fullUrl: `QuestionnaireResponse/${response.id ?? ''}`,
    resource: response,
    request: {
      method: 'PUT',
      url: `QuestionnaireResponse/${response.id ?? ''}`,
      ...(ifMatch !== undefined ? { ifMatch } : {}),
    },
  };
}

/**
 * A first plan is created only if the person has no DIALOG plan yet (`If-None-Exist` on the
 * subject and dialog-fhir's plan identifier system), so two first sessions racing cannot make two
 * plans or overwrite each other's: the loser sees "found" (200) and runs again against the plan
 * the winner made. The same holds for a new person (the subject a placeholder the store resolves
 * to the Patient it finds or creates), whatever id each racing session gave them.
 */
function asFirstCreate(
  bundle: Bundle,
  existing: CarePlan | undefined,
  subject: string,
): BundleEntry[] {
  const entries = bundle.entry ?? [];
  if (existing) return entries;
  const ifNoneExist = new URLSearchParams({
    subject,
    identifier: `${CARE_PLAN_IDENTIFIER_SYSTEM}|`,
  }).toString();
  return entries.map((entry) => {
    if (entry.resource?.resourceType !== 'CarePlan' || entry.request?.method !== 'PUT')
      return entry;
    return { ...entry, request: { method: 'POST', url: 'CarePlan', ifNoneExist } };
  });
}

/**
 * The store names a fault in the session's transaction by its entry
 * (`Bundle.entry[2].resource.subject`), but the caller sent a QuestionnaireResponse, not that
 * Bundle: each location is named from the resource the entry holds instead
 * (`QuestionnaireResponse.subject`), as the checks before the write name it.
 */
function inSessionTerms(err: unknown, entries: readonly BundleEntry[]): unknown {
  if (!(err instanceof OperationOutcomeError)) return err;
  // Renamed in place: the error keeps its class, status, headers and Retry-After.
  for (const issue of err.outcome.issue) {
    if (!issue.expression) continue;
    issue.expression = issue.expression.map((e) => {
      const entry = /^Bundle\.entry\[(\d+)\]\.resource(?=\.|$)/.exec(e);
      const type = entry ? entries[Number(entry[1])]?.resource?.resourceType : undefined;
      return entry && type ? type + e.slice(entry[0].length) : e;
    });
  }
  return err;
}

function planWasFound(result: Bundle): boolean {
  return (result.entry ?? []).some(
    (e) => e.resource?.resourceType === 'CarePlan' && (e.response?.status ?? '').startsWith('200'),
  );
}

/**
 * Provenance of the write: what the session's response is, who wrote it, when. R4 Provenance has
 * no business identifier, so its logical id is derived from the response's content: the same
 * submission again names the same Provenance (and `attempt` leaves it out when it is there).
 */
function provenanceEntry(
  response: QuestionnaireResponse,
  agent: Reference,
  previous: QuestionnaireResponse | undefined,
  now: Date,
): BundleEntry {
  const key = responseKey(response) ?? `QuestionnaireResponse/${response.id ?? ''}`;
  const value = uuidV5(
    `${PROVENANCE_ID_NAMESPACE}|${key}|${contentHash(response)}`,
    DIALOG_NAMESPACE,
  );
  const provenance: Provenance = {
    resourceType: 'Provenance',
    id: value,
    // The person is a target too: that puts the Provenance in their compartment (FHIR's
    // Provenance `patient` parameter is `target.where(resolve() is Patient)`).
    target: [
      { reference: `QuestionnaireResponse/${response.id ?? ''}` },
      ...(response.subject?.reference ? [{ reference: response.subject.reference }] : []),
    ],
    recorded: now.toISOString(),
    activity: {
      coding: [
        previous
          ? { system: DATA_OPERATION, code: 'UPDATE', display: 'revise' }
          : { system: DATA_OPERATION, code: 'CREATE', display: 'create' },
      ],
    },
    agent: [{ who: agent }],
    ...(response.subject?.reference
      ? { entity: [{ role: 'source', what: { reference: response.subject.reference } }] }
      : {}),
  } as Provenance;
  return {
    fullUrl: `Provenance/${value}`,
    resource: provenance,
    request: { method: 'PUT', url: `Provenance/${value}` },
  };
}

/**
 * A stored session stays filed under its person: an update naming someone else would carry its
 * response, Observations and Provenance over to them and leave the first person's plan pointing
 * at a rating that is no longer theirs. Filing a rating under the wrong person is a clinical
 * safety hazard either way, so it is refused outright rather than done quietly (a session
 * submitted again by business identifier is refused the same way: FhirService.sessionId). Other
 * records get the same rule with a generic message (references.ts, `checkKeepsPerson`).
 */
function checkSamePersonAsStored(
  current: QuestionnaireResponse | undefined,
  response: QuestionnaireResponse,
): void {
  const before = movedFrom(current, response);
  if (before === undefined) return;
  throw fault(
    409,
    'conflict',
    `This session is stored for ${before}: an update cannot move it to another person. Submit the rating as a new session for the right person`,
    'QuestionnaireResponse.subject',
  );
}

/**
 * What the session says, without meta and without `subject`: who it is about is the store's
 * resolution of the person, which can name one person by two ids (a new person's first id, and
 * the stored Patient another writer created meanwhile), and the same session must still name one
 * Provenance. The response's id or identifier (`responseKey`) is bound to one person anyway.
 */
function contentHash(response: QuestionnaireResponse): string {
  const { meta: _meta, subject: _subject, ...content } = response;
  void _meta;
  void _subject;
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** The queue key of the person a submission is filed against: its `Patient/<id>` subject. */
function personOf(submission: SessionSubmission): string {
  return submission.response.subject?.reference ?? '';
}

function isStale(err: unknown): boolean {
  return statusOf(err) === 412;
}

function staleOutcome(): OperationOutcomeError {
  return stale('The plan was created by another session meanwhile', 'CarePlan');
}
