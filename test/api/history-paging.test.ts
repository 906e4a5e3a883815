/**
 * GET /fhir/{type}/{id}/_history paged by the store (src/api/fhir-routes.ts, history-page.ts,
 * FhirService.historyPage): the page, total and links are what they were when the whole history
 * was read and cut here, the store is asked for the page only, and a version that is not the
 * caller's leaves its page short without moving the pages after it.
 */
import type { Resource } from '@medplum/fhirtypes';
import { mintDevToken, type DevKey } from '../../src/auth';
import type { FhirStore } from '../../src/store';
import {
  fhir,
  notingCalls,
  startServiceWithDevKey,
  type Json,
  type TestService,
} from '../support/service';

let service: TestService;
let key: DevKey;
/** The history calls the app made of its store, by method name. */
const calls: string[] = [];

/** The store as the app sees it, noting every history call. */
const noting = (store: FhirStore): FhirStore =>
  notingCalls(store, ['history', 'historyPage'], calls);

beforeAll(async () => {
  ({ service, key } = await startServiceWithDevKey({ wrapStore: noting }));
  const patient = {
    resourceType: 'Patient' as const,
    id: 'paged',
    identifier: [{ system: 'urn:test', value: 'paged' }],
  };
  for (const family of ['Price', 'Price-Jones', 'Jones', 'Jones-Price', 'Pryce'])
    await service.store.update({ ...patient, name: [{ family }] });
  await service.store.update({ resourceType: 'Patient', id: 'megan' });
  // A rating first stored with no one's name on it, then given the person's (not a move).
  const rating: Resource = {
    resourceType: 'Observation',
    id: 'rating',
    status: 'preliminary',
    code: { text: 'a rating' },
  };
  await service.store.update(rating);
  await service.store.update({ ...rating, subject: { reference: 'Patient/megan' } });
  await service.store.update({
    ...rating,
    status: 'final',
    subject: { reference: 'Patient/megan' },
  });
});
afterAll(() => service.close());

const get = async (path: string, scopes: string[], fhirUser?: string) => {
  const token = await mintDevToken(key, { scopes, ...(fhirUser ? { fhirUser } : {}) });
  return fhir(service.base, 'GET', path, undefined, { authorization: `Bearer ${token}` });
};
const versionsOf = (bundle: Json): string[] =>
  (bundle.entry ?? []).map((e: Json) => e.resource.meta.versionId as string);
/** The page's links, relation to `_offset` (each keeps `_count`). */
function offsetsOf(bundle: Json, count: number): Record<string, string | null> {
  return Object.fromEntries(
    (bundle.link as Json[]).map((l) => {
      const url = new URL(l.url as string);
      expect(url.pathname).toMatch(/\/fhir\/[A-Za-z]+\/[a-z]+\/_history$/);
      expect(url.searchParams.get('_count')).toBe(String(count));
      return [l.relation as string, url.searchParams.get('_offset')];
    }),
  );
}

describe('a history page', () => {
  it('_count=2&_offset=2 of five versions: the third and second, total 5, both links', async () => {
    calls.length = 0;
    const res = await get('/fhir/Patient/paged/_history?_count=2&_offset=2', ['system/*.rs']);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('history');
    expect(res.body.total).toBe(5);
    expect(versionsOf(res.body)).toEqual(['3', '2']);
    expect(res.body.entry.map((e: Json) => e.resource.name[0].family)).toEqual([
      'Jones',
      'Price-Jones',
    ]);
    expect(offsetsOf(res.body, 2)).toEqual({ self: '2', next: '4', previous: '0' });
    // The store cut the page: the whole history was not read for it.
    expect(calls).toEqual(['historyPage']);
  });

  it('the links lead through every version once, newest first', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/fhir/Patient/paged/_history?_count=2';
    while (path !== undefined) {
      const res = await get(path, ['system/*.rs']);
      expect(res.body.total).toBe(5);
      seen.push(...versionsOf(res.body));
      const next = (res.body.link as Json[]).find((l) => l.relation === 'next');
      path = next
        ? new URL(next.url as string).pathname + new URL(next.url as string).search
        : undefined;
    }
    expect(seen).toEqual(['5', '4', '3', '2', '1']);
  });

  it('past the end is an empty page with the total and a previous link', async () => {
    const res = await get('/fhir/Patient/paged/_history?_count=2&_offset=6', ['system/*.rs']);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(5);
    expect(res.body.entry ?? []).toEqual([]);
    expect(offsetsOf(res.body, 2)).toEqual({ self: '6', previous: '4' });
  });

  it('of a resource that never existed is a 404 OperationOutcome', async () => {
    const res = await get('/fhir/Patient/nobody/_history?_count=2&_offset=2', ['system/*.rs']);
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});

describe('a history page for the person (patient/*.rs)', () => {
  const person = (path: string) => get(path, ['patient/*.rs'], 'Patient/megan');

  it('leaves out a version that was no one’s, counted in the total, the next page unmoved', async () => {
    const first = await person('/fhir/Observation/rating/_history?_count=2');
    expect(first.status).toBe(200);
    expect(versionsOf(first.body)).toEqual(['3', '2']);
    expect(first.body.total).toBe(3);
    expect(offsetsOf(first.body, 2)).toEqual({ self: '0', next: '2' });
    const second = await person('/fhir/Observation/rating/_history?_count=2&_offset=2');
    expect(second.status).toBe(200);
    // Version 1 named no one: not the person's, so the page is short, not filled from elsewhere.
    expect(versionsOf(second.body)).toEqual([]);
    expect(second.body.total).toBe(3);
    expect(offsetsOf(second.body, 2)).toEqual({ self: '2', previous: '0' });
  });

  it('of a page that does not start with the current version still asks whose it is', async () => {
    const other = await person('/fhir/Patient/paged/_history?_count=2&_offset=2');
    expect(other.status).toBe(403);
    expect(other.body.resourceType).toBe('OperationOutcome');
    const since = await person('/fhir/Patient/paged/_history?_since=2000-01-01T00:00:00Z');
    expect(since.status).toBe(403);
  });
});
