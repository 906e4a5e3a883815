/**
 * A batch entry `GET Type/id/_history` over real HTTP (src/service/bundles.ts): one page of the
 * history, as `GET /fhir/Type/id/_history` answers — `_count`, `_offset`, `_since`, `total`,
 * links relative to the service base — cut by the store, never every version in one entry. Its
 * bad parameters are refused as the route refuses them, at the entry's url.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FhirStore } from '../../src/store';
import { fhir, notingCalls, startService, type Json, type TestService } from '../support/service';

let service: TestService;
/** The history calls the app made of its store, by method name. */
const calls: string[] = [];

/** The store as the app sees it, noting every history call. */
const noting = (store: FhirStore): FhirStore =>
  notingCalls(store, ['history', 'historyPage'], calls);

beforeAll(async () => {
  service = await startService({ wrapStore: noting });
  const paged = { resourceType: 'Patient' as const, id: 'paged' };
  // Five versions, each at least 5 ms after the one before (for `_since`).
  for (const family of ['Price', 'Price-Jones', 'Jones', 'Jones-Price', 'Pryce']) {
    await service.store.update({ ...paged, name: [{ family }] });
    await sleep(5);
  }
  // One more version than a page holds when no `_count` is given (20, as for searches).
  for (let n = 1; n <= 21; n++)
    await service.store.update({
      resourceType: 'Patient',
      id: 'long',
      name: [{ family: `F${n}` }],
    });
});
afterAll(() => service.close());

/** The entries of a batch of GET entries, one per url. */
async function batchOf(...urls: string[]): Promise<Json[]> {
  const res = await fhir(service.base, 'POST', '/fhir', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: urls.map((url) => ({ request: { method: 'GET', url } })),
  });
  expect(res.status).toBe(200);
  return res.body.entry as Json[];
}

const versionsOf = (bundle: Json): string[] =>
  (bundle.entry ?? []).map((e: Json) => e.resource.meta.versionId as string);
const linksOf = (bundle: Json): Record<string, string> =>
  Object.fromEntries((bundle.link as Json[]).map((l) => [l.relation, l.url]));

describe('a batch entry GET Type/id/_history', () => {
  it('_count=2&_offset=2 is that page, with the total and links, cut by the store', async () => {
    calls.length = 0;
    const [entry] = await batchOf('Patient/paged/_history?_count=2&_offset=2');
    expect(entry.response.status).toBe('200 OK');
    expect(entry.resource.type).toBe('history');
    expect(entry.resource.total).toBe(5);
    expect(versionsOf(entry.resource)).toEqual(['3', '2']);
    expect(linksOf(entry.resource)).toEqual({
      self: 'Patient/paged/_history?_count=2&_offset=2',
      next: 'Patient/paged/_history?_count=2&_offset=4',
      previous: 'Patient/paged/_history?_count=2&_offset=0',
    });
    // The store was asked for the page only: the whole history was not read for it.
    expect(calls).toEqual(['historyPage']);
  });

  it('with no parameters is the first page of 20, as the route’s, not every version', async () => {
    const [entry] = await batchOf('Patient/long/_history');
    const route = await fhir(service.base, 'GET', '/fhir/Patient/long/_history');
    expect(entry.resource.total).toBe(21);
    expect(versionsOf(entry.resource)).toEqual(versionsOf(route.body));
    expect(versionsOf(entry.resource)).toHaveLength(20);
    expect(linksOf(entry.resource).next).toBe('Patient/long/_history?_count=20&_offset=20');
    // The route's next link is the same, under the service's base.
    const routeNext = (route.body.link as Json[]).find((l) => l.relation === 'next');
    expect(routeNext.url).toBe(`${service.base}/fhir/${linksOf(entry.resource).next}`);
  });

  it('its next links, sent as batch entries, lead through every version once', async () => {
    const seen: string[] = [];
    let url: string | undefined = 'Patient/paged/_history?_count=2';
    while (url !== undefined) {
      const [entry] = await batchOf(url);
      expect(entry.resource.total).toBe(5);
      seen.push(...versionsOf(entry.resource));
      url = linksOf(entry.resource).next;
    }
    expect(seen).toEqual(['5', '4', '3', '2', '1']);
  });

  it('_since keeps the versions written since, paged and counted as the route does', async () => {
    const v3 = await fhir(service.base, 'GET', '/fhir/Patient/paged/_history/3');
    const since = encodeURIComponent(v3.body.meta.lastUpdated as string);
    const query = `_since=${since}&_count=2`;
    const [entry] = await batchOf(`Patient/paged/_history?${query}`);
    const route = await fhir(service.base, 'GET', `/fhir/Patient/paged/_history?${query}`);
    expect(entry.resource.total).toBe(3);
    expect(versionsOf(entry.resource)).toEqual(['5', '4']);
    expect(route.body.total).toBe(3);
    expect(linksOf(entry.resource).next).toBe(
      `Patient/paged/_history?_since=${since}&_count=2&_offset=2`,
    );
  });

  it.each([
    ['an unknown parameter', 'bogus=1'],
    ['a _count that is no whole number', '_count=two'],
    ['a _count given twice', '_count=1&_count=2'],
    ['a negative _offset', '_offset=-1'],
    ['a _since that is no instant', '_since=2020-01-01'],
    ['a second ? in the query', '_count=2?_offset=4'],
  ])('%s is refused as the route refuses it, at the entry’s url', async (_what, query) => {
    const [refused, after] = await batchOf(
      `Patient/paged/_history?${query}`,
      'Patient/paged/_history?_count=1',
    );
    const route = await fhir(service.base, 'GET', `/fhir/Patient/paged/_history?${query}`);
    expect(route.status).toBe(400);
    expect(refused.response.status).toBe('400');
    const issue = refused.response.outcome.issue[0];
    expect(refused.response.outcome.resourceType).toBe('OperationOutcome');
    expect(issue.code).toBe(route.body.issue[0].code);
    expect(issue.expression).toEqual(['Bundle.entry[0].request.url']);
    // The parameter is named, as the route names it by its location.
    expect(issue.diagnostics ?? issue.details?.text).toContain(
      route.body.issue[0].expression[0] as string,
    );
    // The batch went on.
    expect(versionsOf(after.resource)).toEqual(['5']);
  });

  it('of a resource that never existed is a 404 entry', async () => {
    const [entry] = await batchOf('Patient/nobody/_history?_count=2');
    expect(entry.response.status).toBe('404');
    expect(entry.response.outcome.resourceType).toBe('OperationOutcome');
  });

  it('a read or vread entry still takes no parameters', async () => {
    const entries = await batchOf('Patient/paged?_count=2', 'Patient/paged/_history/1?_count=2');
    expect(entries.map((e) => e.response.status)).toEqual(['400', '400']);
    expect(entries[1].response.outcome.issue[0].expression).toEqual([
      'Bundle.entry[1].request.url',
    ]);
  });
});
