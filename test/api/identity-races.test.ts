/**
 * Checks that must not interleave with the write they guard (src/service/fhir-service.ts,
 * `identityQueue`): a session's If-None-Exist, and an NHS number being one person's. Two requests
 * racing in one process — real concurrent HTTP requests — make exactly one resource.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { EmbeddedStore, type FhirStore } from '../../src/store';
import { newSession } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type TestService } from '../support/service';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** Valid NHS numbers (modulus 11) held by no one in the journey. */
const FREE_NHS = ['9434765919', '9434765870', '9449305552'];
/** How long a guarded search waits for a second one before going on alone (liveness only). */
const ALONE_MS = 300;

/**
 * The store, but the searches that guard a write (a Patient by identifier, a session's
 * If-None-Exist by status) wait for a second such search, so two racing requests both search
 * before either writes: the interleaving is made to happen every time unless the service keeps
 * the two apart (then each goes on alone after ALONE_MS).
 */
function searchesMeet(target: EmbeddedStore): FhirStore {
  let waiting: (() => void)[] = [];
  const meet = (): Promise<void> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      if (waiting.length >= 2) {
        for (const go of waiting) go();
        waiting = [];
        return;
      }
      setTimeout(() => {
        waiting = waiting.filter((go) => go !== resolve);
        resolve();
      }, ALONE_MS);
    });
  return new Proxy(target, {
    get(t, property) {
      if (property === 'search')
        return async (type: string, params: unknown, options?: unknown) => {
          const query = new URLSearchParams(params as Record<string, string>);
          const guards =
            (type === 'Patient' && query.has('identifier')) ||
            (type === 'QuestionnaireResponse' && query.has('status') && !query.has('_sort'));
          if (guards) await meet();
          return (t.search as (...a: unknown[]) => unknown)(type, params, options);
        };
      const value: unknown = Reflect.get(t, property, t);
      return typeof value === 'function' ? (value as () => unknown).bind(t) : value;
    },
  });
}

let service: TestService;
let store: EmbeddedStore;
let base: string;

beforeEach(async () => {
  service = await startService({ wrapStore: searchesMeet });
  store = service.store;
  base = service.base;
  await store.update(journeyPatient());
});

afterEach(() => service.close());

async function total(type: string, query: string): Promise<number> {
  const res = await fhir(base, 'GET', `/fhir/${type}?${query}`);
  expect(res.status).toBe(200);
  return res.body.total as number;
}

/** A session without a business identifier, so only If-None-Exist can make two POSTs one. */
function sittingWithoutIdentifier(): QuestionnaireResponse {
  const { identifier: _identifier, ...rest } = newSession('unused', { status: 'in-progress' });
  void _identifier;
  return rest;
}

describe('racing requests in one process make one resource', () => {
  it('two sessions with one If-None-Exist: one 201, one 200 naming it', async () => {
    const condition = { 'if-none-exist': 'subject=Patient/megan-price&status=in-progress' };
    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        fhir(base, 'POST', '/fhir/QuestionnaireResponse', sittingWithoutIdentifier(), condition),
      ),
    );
    expect([a?.status, b?.status].sort()).toEqual([200, 201]);
    expect(a?.body.id).toBe(b?.body.id);
    expect(await total('QuestionnaireResponse', 'subject=Patient/megan-price')).toBe(1);
  });

  it('two Patients with one NHS number: one 201, one 409 duplicate', async () => {
    const value = FREE_NHS[0] ?? '';
    const patient = (family: string): unknown => ({
      resourceType: 'Patient',
      identifier: [{ system: NHS, value }],
      name: [{ family }],
    });
    const [a, b] = await Promise.all(
      ['One', 'Two'].map((family) => fhir(base, 'POST', '/fhir/Patient', patient(family))),
    );
    expect([a?.status, b?.status].sort()).toEqual([201, 409]);
    const refused = a?.status === 409 ? a : b;
    expect(refused?.body.issue[0].code).toBe('duplicate');
    expect(await total('Patient', `identifier=${NHS}|${value}`)).toBe(1);
  });

  it('two transactions giving Patients one NHS number: one 200, one 409 at the entry', async () => {
    const value = FREE_NHS[2] ?? '';
    const transaction = (family: string): unknown => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Patient',
            identifier: [{ system: NHS, value }],
            name: [{ family }],
          },
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    });
    const [a, b] = await Promise.all(
      ['One', 'Two'].map((family) => fhir(base, 'POST', '/fhir', transaction(family))),
    );
    expect([a?.status, b?.status].sort()).toEqual([200, 409]);
    const refused = a?.status === 409 ? a : b;
    expect(refused?.body.issue[0].expression).toEqual([
      'Bundle.entry[0].resource.identifier[0].value',
    ]);
    expect(await total('Patient', `identifier=${NHS}|${value}`)).toBe(1);
  });

  it('a Patient and a session naming the same new person by NHS number: one Patient', async () => {
    const value = FREE_NHS[1] ?? '';
    const session = newSession('new-person', {
      subject: { identifier: { system: NHS, value } },
    });
    const [patient, submitted] = await Promise.all([
      fhir(base, 'POST', '/fhir/Patient', {
        resourceType: 'Patient',
        identifier: [{ system: NHS, value }],
      }),
      fhir(base, 'POST', '/fhir/QuestionnaireResponse', session),
    ]);
    expect(submitted.status).toBe(201);
    // Whichever came first made the Patient; the other found it (the Patient POST is then a 409).
    expect([201, 409]).toContain(patient.status);
    expect(await total('Patient', `identifier=${NHS}|${value}`)).toBe(1);
  });
});
