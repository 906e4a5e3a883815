/**
 * src/api/fhir-api.ts over real HTTP: what a /fhir request meets, in order. `metadata` needs no
 * token and is not audited; every other /fhir request is `no-store`, audited (refusals too),
 * authenticated and query-checked before any route; reads are answered ahead of the special
 * routes, except the types those routes read themselves (Encounter).
 */
import type { AuditEvent } from '@medplum/fhirtypes';
import { mintDevToken, type DevKey } from '../../src/auth';
import { fhir, startServiceWithDevKey, type TestService } from '../support/service';

let service: TestService;
let key: DevKey;
let token: string;
beforeAll(async () => {
  ({ service, key } = await startServiceWithDevKey());
  token = await mintDevToken(key, { scopes: ['system/*.cruds'] });
});
afterAll(() => service.close());

const bearer = () => ({ authorization: `Bearer ${token}` });

/** The AuditEvents written for a request, by its request id (X-Request-Id). */
async function auditedAs(requestId: string): Promise<AuditEvent[]> {
  await service.app.close();
  const found = await service.store.search('AuditEvent', new URLSearchParams({ _count: '1000' }));
  return (found.resources as AuditEvent[]).filter((e) => JSON.stringify(e).includes(requestId));
}

describe('the /fhir mount', () => {
  it('metadata needs no token, is no-store and is not audited', async () => {
    const res = await fhir(service.base, 'GET', '/fhir/metadata', undefined, {
      'x-request-id': 'api-metadata',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await auditedAs('api-metadata')).toHaveLength(0);
  });

  it('a read without a token is refused before any route, no-store, and audited', async () => {
    const res = await fhir(service.base, 'GET', '/fhir/Patient/anyone', undefined, {
      'x-request-id': 'api-no-token',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const events = await auditedAs('api-no-token');
    expect(events).toHaveLength(1);
    expect(events[0]?.outcome).toBe('4');
  });

  it('an unknown query parameter on a read is a 400 before the read route', async () => {
    const res = await fhir(service.base, 'GET', '/fhir/Patient/anyone?foo=1', undefined, bearer());
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('foo');
  });

  it('reads are answered, and an Encounter read by the Encounter routes', async () => {
    const put = await fhir(
      service.base,
      'PUT',
      '/fhir/Patient/api-reader',
      { resourceType: 'Patient', id: 'api-reader', name: [{ family: 'Reader' }] },
      bearer(),
    );
    expect(put.status).toBe(201);
    const read = await fhir(service.base, 'GET', '/fhir/Patient/api-reader', undefined, bearer());
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    const stay = await fhir(
      service.base,
      'GET',
      '/fhir/Encounter/no-such-stay',
      undefined,
      bearer(),
    );
    expect(stay.status).toBe(404);
    // Said by the Encounter routes' own store read, not FhirService's "does not serve that type".
    expect(stay.body.issue[0].code).toBe('not-found');
    expect(JSON.stringify(stay.body)).toContain('There is no Encounter with this id');
  });
});
