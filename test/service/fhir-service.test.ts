/**
 * src/service/fhir-service.ts: a DIALOG session written by conditional update
 * (`PUT QuestionnaireResponse?identifier=…`) holds its condition's key from the search to the
 * write, the same key a session's If-None-Exist holds, so two such writes in one process make one
 * session. Both requests are started at once: each searches before either writes unless the
 * service keeps them apart. Across replicas (two services over one store, holding their own keys)
 * a session with a business identifier gets the id derived from it, so copies written at once
 * are one session, and the copy that loses the race is taken as a resubmission.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { authOffAccess } from '../../src/api/bearer-access';
import { FhirService } from '../../src/service/fhir-service';
import { EmbeddedStore } from '../../src/store';
import { DIALOG_NAMESPACE, uuidV5 } from '../../src/fhir';
import { newSession } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { sharedValidator } from '../support/service';

const SYSTEM = 'urn:dialog-fhir:test:session';
const CONDITION = `identifier=${SYSTEM}|twice`;

let dir: string;
let store: EmbeddedStore;
let service: FhirService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-service-'));
  store = EmbeddedStore.open({ dataDir: dir });
  await store.update(journeyPatient());
  service = new FhirService({
    store,
    validator: sharedValidator(),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
  });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The store as two replicas see it: each session transaction waits until the other replica's
 * is ready too, so both have read before either writes (the race the tests are about, every
 * time rather than when the event loop happens to interleave them so).
 */
function racingReplicas(): [FhirService, FhirService] {
  let waiting: (() => void)[] = [];
  const barrier = (): Promise<void> =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length < 2) return;
      for (const go of waiting) go();
      waiting = [];
    });
  const sessionsWait = new Proxy(store, {
    get(target, key, receiver) {
      if (key !== 'transaction') return Reflect.get(target, key, receiver) as unknown;
      return async (bundle: Bundle): Promise<Bundle> => {
        const once = bundle.entry?.some((e) => e.resource?.resourceType === 'Provenance');
        if (once) await barrier();
        return target.transaction(bundle);
      };
    },
  });
  // Clocks a second apart, so the two copies' Provenances differ (one written in the same
  // millisecond as the other would be the same record).
  const replica = (skew: number): FhirService =>
    new FhirService({
      store: sessionsWait,
      validator: sharedValidator(),
      now: () => new Date(Date.now() + skew),
      newId: () => crypto.randomUUID(),
    });
  return [replica(0), replica(1000)];
}

/** The session sent, without an id: the condition alone says which session it is. */
function session(): unknown {
  return newSession('twice', { subject: { reference: 'Patient/megan-price' } });
}

async function stored(): Promise<string[]> {
  const found = await store.search('QuestionnaireResponse', { identifier: `${SYSTEM}|twice` });
  return found.resources.map((r) => r.id ?? '');
}

describe('a session written by conditional update', () => {
  it('two at once with one condition: one created, the other updates it', async () => {
    const put = (): ReturnType<FhirService['conditionalUpdate']> =>
      service.conditionalUpdate(
        authOffAccess(),
        'QuestionnaireResponse',
        new URLSearchParams(CONDITION),
        session(),
      );
    const [a, b] = await Promise.all([put(), put()]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.resource.id).toBe(b.resource.id);
    expect(await stored()).toEqual([a.resource.id]);
  });

  it('and a create with that condition as If-None-Exist at once: one session', async () => {
    const [put, post] = await Promise.all([
      service.conditionalUpdate(
        authOffAccess(),
        'QuestionnaireResponse',
        new URLSearchParams(CONDITION),
        session(),
      ),
      service.create(authOffAccess(), 'QuestionnaireResponse', session(), CONDITION),
    ]);
    // The update came first: it created the session, and the create found it.
    expect(put.created).toBe(true);
    expect(post.created).toBe(false);
    expect(post.resource.id).toBe(put.resource.id);
    expect(await stored()).toEqual([put.resource.id]);
  });

  it('gets the id a create of the session would get, so two replicas make one session', async () => {
    // Two services over one store: each holds only its own keys, as replicas over one FHIR server.
    const [first, second] = racingReplicas();
    const put = (on: FhirService): ReturnType<FhirService['conditionalUpdate']> =>
      on.conditionalUpdate(
        authOffAccess(),
        'QuestionnaireResponse',
        new URLSearchParams(CONDITION),
        session(),
      );
    const [a, b] = await Promise.all([put(first), put(second)]);
    const derived = uuidV5(`${SYSTEM}|twice`, DIALOG_NAMESPACE);
    expect([a.resource.id, b.resource.id]).toEqual([derived, derived]);
    expect(await stored()).toEqual([derived]);
  });

  it('and a create of the session on each replica at once: one session, both answered', async () => {
    const [a, b] = await Promise.all(
      racingReplicas().map((on) => on.create(authOffAccess(), 'QuestionnaireResponse', session())),
    );
    const derived = uuidV5(`${SYSTEM}|twice`, DIALOG_NAMESPACE);
    expect([a?.resource.id, b?.resource.id]).toEqual([derived, derived]);
    expect(await stored()).toEqual([derived]);
    const provenance = await store.search('Provenance', {
      target: `QuestionnaireResponse/${derived}`,
    });
    expect(provenance.resources).toHaveLength(1);
  });
});
