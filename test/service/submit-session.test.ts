/**
 * src/service/submit-session.ts: a session's one transaction, as the caller sees its faults. The
 * store names a fault by the transaction's entry; the caller sent a QuestionnaireResponse, so the
 * answer names the fault in the response's terms, as the checks before the write do. And a
 * session re-filed against a person already stored waits for that person's other submissions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, QuestionnaireResponse } from '@medplum/fhirtypes';
import { tokenSearch } from '../../src/fhir';
import { KeyedQueue } from '../../src/service/keyed-queue';
import { statusOf } from '../../src/service/outcomes';
import { SessionSubmitter, type SessionSubmission } from '../../src/service/submit-session';
import { EmbeddedStore, type FhirStore } from '../../src/store';
import { newSession } from '../fhir/journey';

let dir: string;
let store: EmbeddedStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-submit-'));
  store = EmbeddedStore.open({ dataDir: dir });
  for (const id of ['megan-price', 'someone-else'])
    await store.update({ resourceType: 'Patient', id });
});

afterEach(async () => {
  jest.restoreAllMocks();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The store, but another writer stores `first` just before the session's transaction: the race
 * between the submitter's checks and its write, made to happen every time.
 */
function withWriterFirst(first: QuestionnaireResponse): FhirStore {
  let raced = false;
  return new Proxy(store, {
    get(target, property) {
      if (property === 'transaction')
        return async (bundle: Bundle): Promise<Bundle> => {
          if (!raced) {
            raced = true;
            await target.update(first);
          }
          return target.transaction(bundle);
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

describe('submitting a session', () => {
  it('names a person conflict the store found in the race as QuestionnaireResponse.subject', async () => {
    const response = newSession('raced', { subject: { reference: 'Patient/megan-price' } });
    const id = 'raced-session';
    const theirs = { ...response, id, subject: { reference: 'Patient/someone-else' } };
    const submitter = new SessionSubmitter({
      store: withWriterFirst(theirs),
      now: () => new Date('2026-11-24T10:00:00Z'),
    });
    const failure = await submitter
      .submit({ response, id, agent: { reference: 'Practitioner/sam-whitfield' } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(failure).toBeInstanceOf(OperationOutcomeError);
    expect(statusOf(failure)).toBe(409);
    const issue = (failure as OperationOutcomeError).outcome.issue[0];
    expect(issue?.code).toBe('conflict');
    expect(issue?.expression).toEqual(['QuestionnaireResponse.subject']);
    // The other writer's session stands; nothing of this one was stored.
    const stored = await store.read('QuestionnaireResponse', id);
    expect(stored.subject?.reference).toBe('Patient/someone-else');
    const plans = await store.search('CarePlan', { subject: 'Patient/megan-price' });
    expect(plans.resources).toHaveLength(0);
  });
});

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** A valid NHS number (modulus 11), given to megan-price in these tests. */
const MEGAN_NHS = '9434765919';
const PERSON = 'Patient/megan-price';
const agent = { reference: 'Practitioner/sam-whitfield' };
const now = (): Date => new Date('2026-11-24T10:00:00Z');

/** A session for megan-price, submitted as if no Patient held her NHS number when it was matched. */
function asNewPerson(response: QuestionnaireResponse, id: string): SessionSubmission {
  const newId = 'matched-as-new';
  return {
    response: { ...response, subject: { reference: `Patient/${newId}` } },
    id,
    agent,
    newPatient: {
      patient: {
        resourceType: 'Patient',
        id: newId,
        identifier: [{ system: NHS, value: MEGAN_NHS }],
      },
      identifier: tokenSearch(NHS, MEGAN_NHS),
    },
  };
}

/**
 * Another submission for megan-price (`theirs`, by id) is held at its write while `ours` runs:
 * ours must not read her plan until theirs is written. Theirs goes on once ours either reads her
 * plan (they overlap: recorded) or waits in the submitter's queue for her key. Records the
 * transactions as they commit (by response id) and the plan updates refused for a stale version.
 */
async function whileTheirsIsWriting(
  submitter: (store: FhirStore) => SessionSubmitter,
  theirs: SessionSubmission,
  ours: SessionSubmission,
): Promise<{ overlapped: boolean; committed: string[]; stale: number }> {
  const seen = { overlapped: false, committed: [] as string[], stale: 0 };
  let holding = false;
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let reached = (): void => undefined;
  const atWrite = new Promise<void>((resolve) => (reached = resolve));
  const letTheirsGo = (): void => {
    holding = false;
    release();
  };
  const run = KeyedQueue.prototype.run;
  jest.spyOn(KeyedQueue.prototype, 'run').mockImplementation(function <T>(
    this: KeyedQueue,
    key: string,
    task: () => Promise<T>,
  ): Promise<T> {
    if (holding && key === PERSON) letTheirsGo();
    return run.call(this, key, task) as Promise<T>;
  });
  const watched = new Proxy(store, {
    get(target, property) {
      if (property === 'transaction')
        return async (bundle: Bundle): Promise<Bundle> => {
          const id = bundle.entry?.[0]?.resource?.id ?? '';
          if (id === theirs.id && !seen.committed.includes(id)) {
            holding = true;
            reached();
            await held;
          }
          try {
            const result = await target.transaction(bundle);
            seen.committed.push(id);
            return result;
          } catch (err) {
            if (statusOf(err) === 412) seen.stale++;
            throw err;
          }
        };
      if (property === 'search')
        return (type: string, params: Record<string, string>, options?: { count?: number }) => {
          if (holding && type === 'CarePlan' && params.subject === PERSON) {
            seen.overlapped = true;
            letTheirsGo();
          }
          return target.search(type as 'CarePlan', params, options);
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  const submitting = submitter(watched);
  const theirsDone = submitting.submit(theirs);
  await atWrite;
  const oursDone = submitting.submit(ours);
  const [a, b] = await Promise.all([theirsDone, oursDone]);
  expect(a.response.subject?.reference).toBe(PERSON);
  expect(b.response.subject?.reference).toBe(PERSON);
  return seen;
}

describe('a session re-filed against a person already stored', () => {
  beforeEach(async () => {
    await store.update({
      resourceType: 'Patient',
      id: 'megan-price',
      identifier: [{ system: NHS, value: MEGAN_NHS }],
    });
  });

  it('after losing the race for the person, waits for their other submission before running again', async () => {
    const submitter = (s: FhirStore): SessionSubmitter => new SessionSubmitter({ store: s, now });
    // Her plan exists, so a session written as if she were new finds it and runs again.
    await submitter(store).submit({
      response: newSession('earlier', { subject: { reference: PERSON } }),
      id: 'earlier',
      agent,
    });
    const seen = await whileTheirsIsWriting(
      submitter,
      { response: newSession('theirs', { subject: { reference: PERSON } }), id: 'theirs', agent },
      asNewPerson(newSession('ours'), 'ours'),
    );
    expect(seen.overlapped).toBe(false);
    expect(seen.stale).toBe(0);
    // Ours first as written by the store against her (the plan found, so run again), then theirs,
    // then ours again under her key.
    expect(seen.committed).toEqual(['ours', 'theirs', 'ours']);
    const sessions = await store.search('QuestionnaireResponse', { subject: PERSON });
    expect(sessions.resources.map((r) => r.id).sort()).toEqual(['earlier', 'ours', 'theirs']);
    expect((await store.search('CarePlan', { subject: PERSON })).total).toBe(1);
  });

  it('a stored session sent again naming a new person waits for that person’s other submission', async () => {
    const submitter = (s: FhirStore): SessionSubmitter => new SessionSubmitter({ store: s, now });
    const ours = newSession('ours');
    await submitter(store).submit({
      response: { ...ours, subject: { reference: PERSON } },
      id: 'ours',
      agent,
    });
    const seen = await whileTheirsIsWriting(
      submitter,
      { response: newSession('theirs', { subject: { reference: PERSON } }), id: 'theirs', agent },
      asNewPerson({ ...ours, status: 'amended' }, 'ours'),
    );
    expect(seen.overlapped).toBe(false);
    expect(seen.stale).toBe(0);
    expect(seen.committed).toEqual(['theirs', 'ours']);
    expect((await store.read('QuestionnaireResponse', 'ours')).status).toBe('amended');
  });
});
