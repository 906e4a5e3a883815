/**
 * src/service/submit-session.ts: a session's one transaction, as the caller sees its faults. The
 * store names a fault by the transaction's entry; the caller sent a QuestionnaireResponse, so the
 * answer names the fault in the response's terms, as the checks before the write do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, QuestionnaireResponse } from '@medplum/fhirtypes';
import { statusOf } from '../../src/service/outcomes';
import { SessionSubmitter } from '../../src/service/submit-session';
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
