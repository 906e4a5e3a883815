/**
 * src/api/caching.ts over real HTTP: conditional reads by version (If-None-Match → 304), never by
 * time (If-Modified-Since is ignored), and `Cache-Control: no-store` on patient data.
 */
import { fhir, startService, type TestService } from '../support/service';

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${service.base}${path}`, { headers });

async function putPatient(family: string): Promise<string> {
  const res = await fhir(service.base, 'PUT', '/fhir/Patient/cached', {
    resourceType: 'Patient',
    id: 'cached',
    name: [{ family }],
  });
  expect([200, 201]).toContain(res.status);
  return res.headers.get('etag') ?? '';
}

describe('conditional reads', () => {
  it('If-None-Match with the current version is a 304; an older one gets the new version', async () => {
    const first = await putPatient('Price');
    expect(first).toBe('W/"1"');
    const same = await get('/fhir/Patient/cached', { 'if-none-match': first });
    expect(same.status).toBe(304);
    expect(await same.text()).toBe('');
    expect(same.headers.get('etag')).toBe(first);
    const second = await putPatient('Price-Jones');
    expect(second).toBe('W/"2"');
    const changed = await get('/fhir/Patient/cached', { 'if-none-match': first });
    expect(changed.status).toBe(200);
    expect(((await changed.json()) as { name: { family: string }[] }).name[0]?.family).toBe(
      'Price-Jones',
    );
    // A version never changes: its vread is a 304 for its own ETag.
    const version = await get('/fhir/Patient/cached/_history/1', { 'if-none-match': first });
    expect(version.status).toBe(304);
  });

  it('If-Modified-Since is ignored: Last-Modified has whole seconds, versions do not', async () => {
    await putPatient('Price');
    const future = new Date(Date.now() + 86_400_000).toUTCString();
    const res = await get('/fhir/Patient/cached', { 'if-modified-since': future });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('Patient');
  });

  it('the CapabilityStatement says so: conditional read by If-None-Match only', async () => {
    const cs = (await (await get('/fhir/metadata')).json()) as {
      rest: { resource: { type: string; conditionalRead?: string }[] }[];
    };
    const resources = cs.rest[0]?.resource ?? [];
    expect(resources.length).toBeGreaterThan(5);
    for (const r of resources) expect(r.conditionalRead).toBe('not-match');
  });
});

describe('Cache-Control', () => {
  it('no-store on reads, 304s, searches, native exports and the clinician page', async () => {
    const etag = await putPatient('Price');
    const answers = [
      await get('/fhir/Patient/cached'),
      await get('/fhir/Patient/cached', { 'if-none-match': etag }),
      await get('/fhir/Patient?_id=cached'),
      await get('/native/dialogplus-csv?patient=cached'),
      await get('/ui/patients/cached'),
      await get('/fhir/Patient/not-stored'),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 304, 200, 200, 200, 404]);
    for (const res of answers) expect(res.headers.get('cache-control')).toBe('no-store');
    // The page's stylesheet holds no one's data: it may be kept a while.
    const css = await get('/ui/static/ui.css');
    expect(css.headers.get('cache-control')).toBe('public, max-age=300');
  });
});
