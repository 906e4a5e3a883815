/**
 * A batch entry `GET Type?search` over real HTTP (src/service/bundles.ts): one page, with the
 * total and `self`/`next`/`previous` links relative to the service base (src/service/page-links.ts),
 * so a client can page on by sending `next` as another entry; the route's links are the same
 * text under its base.
 */
import { fhir, startService, type Json, type TestService } from '../support/service';

let service: TestService;
/** Every person of this file, by their identifiers' system (as the links spell it). */
const PAGED = new URLSearchParams({ identifier: 'urn:test:paged|' }).toString();

beforeAll(async () => {
  service = await startService();
  for (let n = 1; n <= 5; n++)
    await service.store.update({
      resourceType: 'Patient',
      id: `paged-${n}`,
      identifier: [{ system: 'urn:test:paged', value: `p${n}` }],
    });
});
afterAll(() => service.close());

async function entryOf(url: string): Promise<Json> {
  const res = await fhir(service.base, 'POST', '/fhir', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [{ request: { method: 'GET', url } }],
  });
  expect(res.status).toBe(200);
  return (res.body.entry as Json[])[0];
}

const linksOf = (bundle: Json): Record<string, string> =>
  Object.fromEntries(((bundle.link ?? []) as Json[]).map((l) => [l.relation, l.url]));
const idsOf = (bundle: Json): string[] =>
  ((bundle.entry ?? []) as Json[]).map((e) => e.resource.id as string);

describe('a batch entry GET Type?search', () => {
  it('is one page with the total and links; following next as entries reads every match once', async () => {
    const first = await entryOf(`Patient?${PAGED}&_count=2`);
    expect(first.resource.total).toBe(5);
    expect(linksOf(first.resource)).toEqual({
      self: `Patient?${PAGED}&_count=2&_offset=0`,
      next: `Patient?${PAGED}&_count=2&_offset=2`,
    });
    expect(first.resource.entry[0].search).toEqual({ mode: 'match' });
    const seen = idsOf(first.resource);
    let next = linksOf(first.resource).next;
    let pages = 1;
    while (next !== undefined && pages < 10) {
      const entry = await entryOf(next);
      seen.push(...idsOf(entry.resource));
      next = linksOf(entry.resource).next;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(['paged-1', 'paged-2', 'paged-3', 'paged-4', 'paged-5']);
  });

  it('has the links the route has, relative to the service base', async () => {
    const entry = await entryOf(`Patient?${PAGED}&_count=2&_offset=2`);
    const route = await fhir(service.base, 'GET', `/fhir/Patient?${PAGED}&_count=2&_offset=2`);
    expect(route.status).toBe(200);
    const relative = Object.fromEntries(
      Object.entries(linksOf(route.body)).map(([rel, url]) => [
        rel,
        url.slice(url.indexOf('/fhir/') + '/fhir/'.length),
      ]),
    );
    expect(linksOf(entry.resource)).toEqual(relative);
    expect(Object.keys(relative).sort()).toEqual(['next', 'previous', 'self']);
    expect(idsOf(entry.resource)).toEqual(idsOf(route.body));
  });

  it('a bad parameter is that entry’s 400 at its url, naming the parameter; the next entry answers', async () => {
    const res = await fhir(service.base, 'POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient?nickname=x' } },
        { request: { method: 'GET', url: `Patient?${PAGED}&_count=1` } },
      ],
    });
    expect(res.status).toBe(200);
    const [bad, good] = res.body.entry as Json[];
    expect(bad.response.status).toMatch(/^400/);
    const issue = bad.response.outcome.issue[0];
    expect(issue.expression).toEqual(['Bundle.entry[0].request.url']);
    expect(JSON.stringify(issue)).toContain('nickname');
    expect(good.resource.total).toBe(5);
  });

  it('a count only (_count=0) has a self link and no next', async () => {
    const entry = await entryOf(`Patient?${PAGED}&_count=0`);
    expect(entry.resource.total).toBe(5);
    expect(Object.keys(linksOf(entry.resource))).toEqual(['self']);
  });
});
