/**
 * `If-Match: *` over real HTTP (src/service/if-match.ts): one rule on every update path — "only
 * if a current version exists". With none it is a 412 OperationOutcome and nothing is written;
 * with one the update is made. It was a 400 on plain updates and a 412 on DIALOG sessions.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type Json, type TestService } from '../support/service';

let service: TestService;
beforeEach(async () => {
  service = await startService();
  await service.store.update(journeyPatient());
});
afterEach(() => service.close());

const ANY = { 'if-match': '*' };
const organization = (id: string, name: string): Json => ({
  resourceType: 'Organization',
  id,
  name,
});

function expect412(res: { status: number; body: Json }, expression: string): void {
  expect(res.status).toBe(412);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe('not-found');
  expect(res.body.issue[0].diagnostics ?? res.body.issue[0].details?.text).toMatch(/If-Match: \*/);
  expect(res.body.issue[0].expression).toEqual([expression]);
}

describe('If-Match: * on a plain update', () => {
  it('is a 412 when nothing is stored, and creates nothing', async () => {
    const res = await fhir(
      service.base,
      'PUT',
      '/fhir/Organization/o1',
      organization('o1', 'A'),
      ANY,
    );
    expect412(res, 'Organization.meta.versionId');
    expect((await fhir(service.base, 'GET', '/fhir/Organization/o1')).status).toBe(404);
  });

  it('updates a stored resource, whatever its version', async () => {
    const put = (name: string, headers: Record<string, string> = {}): Promise<Json> =>
      fhir(service.base, 'PUT', '/fhir/Organization/o2', organization('o2', name), headers);
    expect((await put('A')).status).toBe(201);
    expect((await put('B')).status).toBe(200);
    const res = await put('C', ANY);
    expect(res.status).toBe(200);
    expect(res.body.meta.versionId).toBe('3');
    expect(res.body.name).toBe('C');
    // FHIR's own form still means "only this version".
    expect((await put('D', { 'if-match': 'W/"1"' })).status).toBe(412);
  });

  it('on a conditional update, needs a match', async () => {
    const body = { ...organization('o3', 'A'), identifier: [{ system: 'urn:test', value: 'o3' }] };
    const none = await fhir(
      service.base,
      'PUT',
      '/fhir/Organization?identifier=urn:test|o3',
      body,
      ANY,
    );
    expect412(none, 'Organization.meta.versionId');
    expect((await fhir(service.base, 'PUT', '/fhir/Organization/o3', body)).status).toBe(201);
    const res = await fhir(
      service.base,
      'PUT',
      '/fhir/Organization?identifier=urn:test|o3',
      { ...body, name: 'B' },
      ANY,
    );
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('B');
  });
});

describe('If-Match: * in a transaction', () => {
  const transaction = (id: string): Json => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        resource: organization(id, 'T'),
        request: { method: 'PUT', url: `Organization/${id}`, ifMatch: '*' },
      },
    ],
  });

  it('is a 412 at the entry when nothing is stored', async () => {
    const res = await fhir(service.base, 'POST', '/fhir', transaction('t1'));
    expect412(res, 'Bundle.entry[0].request.ifMatch');
    expect((await fhir(service.base, 'GET', '/fhir/Organization/t1')).status).toBe(404);
  });

  it('updates a stored resource', async () => {
    await fhir(service.base, 'PUT', '/fhir/Organization/t2', organization('t2', 'A'));
    const res = await fhir(service.base, 'POST', '/fhir', transaction('t2'));
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^200/);
  });
});

describe('If-Match: * on a DIALOG session', () => {
  const session = journeyResponses()[0] as QuestionnaireResponse;
  const { meta: _meta, ...sent } = session;
  void _meta;
  const id = 'any-version-session';

  it('is a 412 when the session is not stored, and stores nothing', async () => {
    const res = await fhir(
      service.base,
      'PUT',
      `/fhir/QuestionnaireResponse/${id}`,
      { ...sent, id },
      ANY,
    );
    expect412(res, 'QuestionnaireResponse.meta.versionId');
    expect((await fhir(service.base, 'GET', `/fhir/QuestionnaireResponse/${id}`)).status).toBe(404);
    const plans = await fhir(service.base, 'GET', '/fhir/CarePlan?subject=Patient/megan-price');
    expect(plans.body.total).toBe(0);
  });

  it('updates a stored session', async () => {
    const path = `/fhir/QuestionnaireResponse/${id}`;
    expect((await fhir(service.base, 'PUT', path, { ...sent, id })).status).toBe(201);
    const res = await fhir(service.base, 'PUT', path, { ...sent, id, status: 'amended' }, ANY);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('amended');
  });
});

describe('If-Match: * on a conditional update, racing another writer', () => {
  it('is a 412 when what matched changed before the write, never a create', async () => {
    // The store, but just before the conditional update is written (the service writes it as an
    // update of the match's id) another writer takes the identifier off the resource it found.
    let racing = false;
    const raced = await startService({
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, property) {
            const value = Reflect.get(target, property) as unknown;
            if (property !== 'conditionalUpdate' && property !== 'update')
              return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
            return async (...args: unknown[]) => {
              if (racing) {
                racing = false;
                await target.update({ ...organization('o9', 'moved'), identifier: [] } as never);
              }
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        }),
    });
    try {
      const body = { ...organization('o9', 'A'), identifier: [{ system: 'urn:t', value: 'o9' }] };
      expect((await fhir(raced.base, 'PUT', '/fhir/Organization/o9', body)).status).toBe(201);
      racing = true;
      const res = await fhir(
        raced.base,
        'PUT',
        '/fhir/Organization?identifier=urn:t|o9',
        { ...body, id: undefined, name: 'B' },
        ANY,
      );
      expect(res.status).toBe(412);
      expect(res.body.resourceType).toBe('OperationOutcome');
      const all = await fhir(raced.base, 'GET', '/fhir/Organization?_total=accurate');
      expect(all.body.total).toBe(1);
    } finally {
      await raced.close();
    }
  });
});
