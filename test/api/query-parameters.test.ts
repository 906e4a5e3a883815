/**
 * src/api/query-parameters.ts and src/api/history-page.ts over real HTTP: every endpoint refuses
 * the query parameters it does not take (400 at the parameter), `_format` and Accept ask for JSON
 * or get a 406, and a history is paged (`_count`, `_offset`, `_since`).
 */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fhir, type Json, startService, type TestService } from '../support/service';

let service: TestService;
beforeAll(async () => {
  service = await startService();
  const patient = {
    resourceType: 'Patient',
    id: 'paged',
    identifier: [{ system: 'urn:test', value: 'paged' }],
  };
  // Five versions, each at least 5 ms after the one before (for `_since`).
  for (const family of ['Price', 'Price-Jones', 'Jones', 'Jones-Price', 'Pryce']) {
    const res = await fhir(service.base, 'PUT', '/fhir/Patient/paged', {
      ...patient,
      name: [{ family }],
    });
    expect([200, 201]).toContain(res.status);
    await sleep(5);
  }
});
afterAll(() => service.close());

const get = (path: string, headers: Record<string, string> = {}) =>
  fhir(service.base, 'GET', path, undefined, headers);

function expectRefusedAt(res: { status: number; body: Json }, status: number, at: string): void {
  expect(res.status).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].expression).toEqual([at]);
}

describe('parameters an endpoint does not take', () => {
  it.each([
    ['a read', 'GET', '/fhir/Patient/paged?bogus=1'],
    ['a vread', 'GET', '/fhir/Patient/paged/_history/1?bogus=1'],
    ['a history', 'GET', '/fhir/Patient/paged/_history?bogus=1'],
    ['$dialog-summary', 'GET', '/fhir/Patient/paged/$dialog-summary?bogus=1'],
    ['$chart', 'GET', '/fhir/CarePlan/any/$chart?bogus=1'],
    ['$letter', 'GET', '/fhir/CarePlan/any/$letter?format=html&bogus=1'],
    ['a stored response’s $extract', 'GET', '/fhir/QuestionnaireResponse/any/$extract?bogus=1'],
    ['an Encounter read', 'GET', '/fhir/Encounter/any?bogus=1'],
  ])('%s answers 400 at the parameter, not as if it were absent', async (_what, method, path) => {
    expectRefusedAt(await fhir(service.base, method, path), 400, 'bogus');
  });

  it('a create and an update take no query parameters', async () => {
    const body = { resourceType: 'Patient', identifier: [{ system: 'urn:test', value: 'new' }] };
    expectRefusedAt(await fhir(service.base, 'POST', '/fhir/Patient?bogus=1', body), 400, 'bogus');
    expectRefusedAt(
      await fhir(service.base, 'PUT', '/fhir/Patient/other?bogus=1', { ...body, id: 'other' }),
      400,
      'bogus',
    );
    // Nothing was written by either.
    expect((await get('/fhir/Patient/other')).status).toBe(404);
    expect((await get('/fhir/Patient?identifier=urn:test|new')).body.total).toBe(0);
  });

  it('/native takes `patient` only', async () => {
    const res = await get('/native/fhir?patient=paged&bogus=1');
    expectRefusedAt(res, 400, 'bogus');
    expect((await get('/native/fhir?patient=paged')).status).toBe(200);
  });

  it('a search still judges its own parameters (its parser: unknown ones are 400 too)', async () => {
    expect((await get('/fhir/Patient?identifier=urn:test|paged')).status).toBe(200);
    expectRefusedAt(await get('/fhir/Patient?bogus=1'), 400, 'bogus');
  });
});

describe('values of one parameter', () => {
  it('more than 100 is a 400 too-costly at the parameter, 100 a search', async () => {
    const subjects = (n: number): string =>
      Array.from({ length: n }, (_, i) => `Patient/p${i}`).join(',');
    const many = await get(`/fhir/Observation?subject=${subjects(101)}&status=final`);
    expectRefusedAt(many, 400, 'subject');
    expect(many.body.issue[0].code).toBe('too-costly');
    const hundred = await get(`/fhir/Observation?subject=${subjects(100)}&status=final`);
    expect(hundred.status).toBe(200);
    expect(hundred.body.type).toBe('searchset');
  });
});

describe('_format and Accept', () => {
  it('_format=json (or a JSON media type) is taken everywhere, searches included', async () => {
    for (const format of ['json', 'application/fhir%2Bjson', 'application/json']) {
      const read = await get(`/fhir/Patient/paged?_format=${format}`);
      expect(read.status).toBe(200);
      expect(read.body.id).toBe('paged');
      const search = await get(`/fhir/Patient?identifier=urn:test|paged&_format=${format}`);
      expect(search.status).toBe(200);
      expect(search.body.total).toBe(1);
    }
  });

  it('a format other than JSON is a 406, by _format or by Accept', async () => {
    expectRefusedAt(await get('/fhir/Patient/paged?_format=xml'), 406, '_format');
    expectRefusedAt(await get('/fhir/Patient?_format=application/fhir%2Bxml'), 406, '_format');
    expectRefusedAt(
      await get('/fhir/Patient/paged', { accept: 'application/fhir+xml' }),
      406,
      'Accept',
    );
    expectRefusedAt(
      await get('/fhir/Patient/paged', { accept: 'application/fhir+json;q=0, text/html' }),
      406,
      'Accept',
    );
  });

  it('an Accept that admits JSON (a browser’s, `*/*`, FHIR JSON) gets JSON', async () => {
    for (const accept of [
      'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      '*/*',
      'application/fhir+json',
      'application/json; charset=utf-8',
    ]) {
      const res = await get('/fhir/Patient/paged', { accept });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    }
  });
});

describe('a history, paged', () => {
  it('is newest first, `_count` at a time, with next and previous links that work', async () => {
    const first = await get('/fhir/Patient/paged/_history?_count=2');
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(5);
    expect(first.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['5', '4']);
    const next = first.body.link.find((l: Json) => l.relation === 'next').url as string;
    expect(first.body.link.some((l: Json) => l.relation === 'previous')).toBe(false);
    const second = await get(next.slice(next.indexOf('/fhir/')));
    expect(second.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['3', '2']);
    const last = await get('/fhir/Patient/paged/_history?_count=2&_offset=4');
    expect(last.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['1']);
    expect(last.body.link.map((l: Json) => l.relation)).toEqual(['self', 'previous']);
  });

  it('an Encounter’s history (its own routes, mounted at /fhir/Encounter) pages the same way', async () => {
    for (const status of ['planned', 'in-progress', 'finished']) {
      const res = await fhir(service.base, 'PUT', '/fhir/Encounter/stay-paged', {
        resourceType: 'Encounter',
        id: 'stay-paged',
        status,
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
      });
      expect([200, 201]).toContain(res.status);
    }
    const first = await get('/fhir/Encounter/stay-paged/_history?_count=2');
    const self = first.body.link.find((l: Json) => l.relation === 'self').url as string;
    expect(self).toMatch(/\/fhir\/Encounter\/stay-paged\/_history\?/);
    const next = first.body.link.find((l: Json) => l.relation === 'next').url as string;
    const second = await get(next.slice(next.indexOf('/fhir/')));
    expect(second.status).toBe(200);
    expect(second.body.entry.map((e: Json) => e.resource.status)).toEqual(['planned']);
  });

  it('without `_count`, the page is the search default (all five here)', async () => {
    const all = await get('/fhir/Patient/paged/_history');
    expect(all.body.entry).toHaveLength(5);
    expect(all.body.link.map((l: Json) => l.relation)).toEqual(['self']);
  });

  it('`_since` keeps the versions written at or after the instant', async () => {
    const v3 = await get('/fhir/Patient/paged/_history/3');
    const since = encodeURIComponent(v3.body.meta.lastUpdated as string);
    const res = await get(`/fhir/Patient/paged/_history?_since=${since}`);
    expect(res.body.total).toBe(3);
    expect(res.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['5', '4', '3']);
    // The paging links keep `_since`.
    const paged = await get(`/fhir/Patient/paged/_history?_since=${since}&_count=1`);
    expect(paged.body.link.find((l: Json) => l.relation === 'next').url).toContain('_since=');
  });

  it.each([
    ['_since=2026-01-01', '_since'],
    ['_since=yesterday', '_since'],
    ['_count=-1', '_count'],
    ['_count=1&_count=2', '_count'],
    ['_offset=x', '_offset'],
  ])('%s is a 400 at the parameter', async (query, at) => {
    expectRefusedAt(await get(`/fhir/Patient/paged/_history?${query}`), 400, at);
  });

  it('a search page of 0 at an offset has no previous link (it would be itself)', async () => {
    const res = await get('/fhir/Patient?_count=0&_offset=10');
    expect(res.status).toBe(200);
    expect(res.body.link.map((l: Json) => l.relation)).toEqual(['self']);
  });
});

describe('the address links are written with', () => {
  /** A raw request with a forged Host header (fetch does not let one be set). */
  function withHost(base: string, host: string): Promise<{ location: string; body: Json }> {
    const url = new URL(`${base}/fhir/Patient`);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { host, 'content-type': 'application/fhir+json' },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
          res.on('end', () =>
            resolve({ location: String(res.headers.location), body: JSON.parse(text) as Json }),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ resourceType: 'Patient' }));
    });
  }

  it('without BASE_URL: the Host the caller used', async () => {
    const { location } = await withHost(service.base, 'elsewhere.example');
    expect(location).toMatch(/^http:\/\/elsewhere\.example\/fhir\/Patient\//);
  });

  it('with BASE_URL: that address, whatever Host says', async () => {
    const configured = await startService({ baseUrl: 'https://dialog.example/trust-a' });
    try {
      const { location } = await withHost(configured.base, 'evil.example');
      expect(location).toMatch(
        /^https:\/\/dialog\.example\/trust-a\/fhir\/Patient\/[^/]+\/_history\/1$/,
      );
      const page = await fhir(configured.base, 'GET', '/fhir/Patient?_count=1');
      expect(page.body.link[0].url).toMatch(/^https:\/\/dialog\.example\/trust-a\/fhir\/Patient\?/);
    } finally {
      await configured.close();
    }
  });
});
