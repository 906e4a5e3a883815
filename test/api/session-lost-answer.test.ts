/**
 * A first session whose transaction committed but whose answer was lost (src/service/submit-session.ts):
 * the fhir-server store repeats the transaction, and the repeat says 200 (the response is there
 * now) or fails with 412 (the plan's If-Match has moved on). The client sent one create, so it is
 * told 201 with a Location, once; sending the session again is then a 200.
 */
import type { Bundle, QuestionnaireResponse } from '@medplum/fhirtypes';
import { stale } from '../../src/service/outcomes';
import { EmbeddedStore, type FhirStore } from '../../src/store';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type TestService } from '../support/service';

/** How the store loses the answer to the next transaction, after committing it. */
type Loss = 'repeat-succeeds' | 'repeat-412' | 'none';

let service: TestService;
let store: EmbeddedStore;
let base: string;
let loss: Loss = 'none';

/** The store, but its next transaction's answer is lost as `loss` says (then it behaves). */
function losingAnswers(target: EmbeddedStore): FhirStore {
  return new Proxy(target, {
    get(t, property) {
      if (property === 'transaction')
        return async (bundle: Bundle): Promise<Bundle> => {
          const now = loss;
          loss = 'none';
          if (now === 'none') return t.transaction(bundle);
          await t.transaction(bundle); // committed; its answer never arrives
          if (now === 'repeat-412') throw stale('The version has changed', 'Bundle.entry[3]');
          return t.transaction(bundle);
        };
      const value: unknown = Reflect.get(t, property, t);
      return typeof value === 'function' ? (value as () => unknown).bind(t) : value;
    },
  });
}

beforeEach(async () => {
  service = await startService({ wrapStore: losingAnswers });
  store = service.store;
  base = service.base;
  await store.update(journeyPatient());
});

afterEach(() => service.close());

const [first, second] = journeyResponses() as [QuestionnaireResponse, QuestionnaireResponse];

function asSent(qr: QuestionnaireResponse, value: string): QuestionnaireResponse {
  const { id: _id, meta: _meta, ...rest } = qr;
  void _id;
  void _meta;
  return { ...rest, identifier: { system: 'urn:dialog-fhir:test:session', value } };
}

async function post(qr: QuestionnaireResponse): Promise<{ status: number; location: string }> {
  const res = await fhir(base, 'POST', '/fhir/QuestionnaireResponse', qr);
  return { status: res.status, location: res.headers.get('location') ?? '' };
}

describe('a first session whose answer was lost and repeated', () => {
  it('is 201 with a Location when the repeated transaction says 200', async () => {
    loss = 'repeat-succeeds';
    const sent = asSent(first, 'lost-1');
    const created = await post(sent);
    expect(created.status).toBe(201);
    expect(created.location).toMatch(/\/fhir\/QuestionnaireResponse\/[^/]+\/_history\/\d+$/);
    // The same session sent again is the stored one: 200, and still one resource.
    expect((await post(sent)).status).toBe(200);
    const found = await fhir(base, 'GET', '/fhir/QuestionnaireResponse?identifier=lost-1');
    expect(found.body.total).toBe(1);
  });

  it('is 201 when the repeat fails on the plan’s If-Match and the session runs again', async () => {
    // A plan already exists, so the second session's transaction updates it with If-Match.
    expect((await post(asSent(first, 'earlier'))).status).toBe(201);
    loss = 'repeat-412';
    const created = await post(asSent(second, 'lost-2'));
    expect(created.status).toBe(201);
    expect(created.location).toContain('/fhir/QuestionnaireResponse/');
    const plans = await fhir(base, 'GET', '/fhir/CarePlan?subject=Patient/megan-price');
    expect(plans.body.total).toBe(1);
  });

  it('is still 200 for an update of a stored session whose answer was lost', async () => {
    const sent = asSent(first, 'stored');
    expect((await post(sent)).status).toBe(201);
    loss = 'repeat-succeeds';
    expect((await post({ ...sent, status: 'amended' })).status).toBe(200);
  });
});
