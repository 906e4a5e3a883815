/**
 * src/service/fhir-service.ts: a DIALOG session written by conditional update
 * (`PUT QuestionnaireResponse?identifier=…`) holds its condition's key from the search to the
 * write, the same key a session's If-None-Exist holds, so two such writes in one process make one
 * session. Both requests are started at once: each searches before either writes unless the
 * service keeps them apart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authOffAccess } from '../../src/api/bearer-access';
import { FhirService } from '../../src/service/fhir-service';
import { EmbeddedStore } from '../../src/store';
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
});
