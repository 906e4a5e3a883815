/**
 * Every /fhir route over real HTTP against a real embedded store (AUTH=off here; access is
 * tested in access.test.ts): the interactions, their headers, paging, conditional create,
 * transaction and batch, the operations, and the error paths with their OperationOutcomes.
 */
import type { Patient } from '@medplum/fhirtypes';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { storeDefinitions } from '../../src/service/definitions';
import {
  fhir,
  sharedValidator,
  startService,
  type Json,
  type TestService,
} from '../support/service';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
let service: TestService;
beforeEach(async () => {
  service = await startService();
});
afterEach(() => service.close());

const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  fhir(service.base, method, path, body, headers);

function person(value: string, more: Partial<Patient> = {}): Patient {
  return { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value }], ...more };
}

function expectOutcome(body: Json, code: string, expression?: string): void {
  expect(body.resourceType).toBe('OperationOutcome');
  expect(body.issue[0].code).toBe(code);
  if (expression !== undefined) expect(body.issue[0].expression).toEqual([expression]);
}

describe('create, read, vread, update, history', () => {
  it('creates with Location and ETag, reads, updates with If-Match, and keeps history', async () => {
    const created = await call('POST', '/fhir/Patient', person('a'));
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toContain('application/fhir+json');
    const id = created.body.id as string;
    expect(created.headers.get('location')).toBe(`${service.base}/fhir/Patient/${id}/_history/1`);
    expect(created.headers.get('etag')).toBe('W/"1"');
    const read = await call('GET', `/fhir/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(read.headers.get('last-modified')).toBeTruthy();
    const updated = await call(
      'PUT',
      `/fhir/Patient/${id}`,
      { ...person('a'), id, gender: 'female' },
      { 'if-match': 'W/"1"' },
    );
    expect(updated.status).toBe(200);
    expect(updated.body.meta.versionId).toBe('2');
    const stale = await call(
      'PUT',
      `/fhir/Patient/${id}`,
      { ...person('a'), id, gender: 'male' },
      { 'if-match': 'W/"1"' },
    );
    expect(stale.status).toBe(412);
    expectOutcome(stale.body, 'conflict');
    const v1 = await call('GET', `/fhir/Patient/${id}/_history/1`);
    expect(v1.body.gender).toBeUndefined();
    const history = await call('GET', `/fhir/Patient/${id}/_history`);
    expect(history.body.type).toBe('history');
    expect(history.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2', '1']);
  });

  it('answers 404s with OperationOutcomes', async () => {
    const missing = await call('GET', '/fhir/Patient/nobody');
    expect(missing.status).toBe(404);
    expectOutcome(missing.body, 'not-found');
    expect((await call('GET', '/fhir/Patient/nobody/_history/1')).status).toBe(404);
    const unknownType = await call('GET', '/fhir/Medication/x');
    expect(unknownType.status).toBe(404);
    expectOutcome(unknownType.body, 'not-supported', 'Resource.resourceType');
  });

  it('refuses a body of the wrong type, an id that differs from the URL, and DELETE', async () => {
    const wrong = await call('POST', '/fhir/Patient', { resourceType: 'Observation' });
    expect(wrong.status).toBe(400);
    expectOutcome(wrong.body, 'invalid', 'Patient.resourceType');
    const other = await call('PUT', '/fhir/Patient/a', { ...person('a'), id: 'b' });
    expect(other.status).toBe(400);
    expectOutcome(other.body, 'invalid', 'Patient.id');
    const deleted = await call('DELETE', '/fhir/Patient/a');
    expect(deleted.status).toBe(405);
    expectOutcome(deleted.body, 'not-supported');
  });

  it('refuses invalid resources with 422 naming the fault', async () => {
    const res = await call('POST', '/fhir/Patient', { ...person('a'), gender: 'sometimes' });
    expect(res.status).toBe(422);
    expect(res.body.issue.some((i: Json) => i.expression?.[0] === 'Patient.gender')).toBe(true);
  });

  it('enforces the NHS number check digit on Patients and in searches', async () => {
    const bad = await call('POST', '/fhir/Patient', {
      resourceType: 'Patient',
      identifier: [{ system: NHS, value: '9992468018' }],
    });
    expect(bad.status).toBe(422);
    expectOutcome(bad.body, 'value', 'Patient.identifier[0].value');
    expect(JSON.stringify(bad.body)).not.toContain('9992468018');
    const good = await call('POST', '/fhir/Patient', {
      resourceType: 'Patient',
      identifier: [{ system: NHS, value: '9992468017' }],
    });
    expect(good.status).toBe(201);
    const search = await call('GET', `/fhir/Patient?identifier=${NHS}|9992468018`);
    expect(search.status).toBe(400);
    expectOutcome(search.body, 'value', 'Patient.identifier');
    const found = await call('GET', `/fhir/Patient?identifier=${NHS}|9992468017`);
    expect(found.body.total).toBe(1);
  });
});

describe('search', () => {
  it('pages with _count and next links that keep the parameters', async () => {
    for (let i = 0; i < 5; i++) await call('POST', '/fhir/Patient', person(`p${i}`));
    const page1 = await call('GET', '/fhir/Patient?_count=2&_sort=_lastUpdated');
    expect(page1.body.type).toBe('searchset');
    expect(page1.body.total).toBe(5);
    expect(page1.body.entry).toHaveLength(2);
    const next = page1.body.link.find((l: Json) => l.relation === 'next').url as string;
    expect(next).toContain('_sort=_lastUpdated');
    const page2 = await fhir(service.base, 'GET', next.slice(service.base.length));
    expect(page2.body.entry).toHaveLength(2);
    const last = await fhir(
      service.base,
      'GET',
      (page2.body.link.find((l: Json) => l.relation === 'next').url as string).slice(
        service.base.length,
      ),
    );
    expect(last.body.entry).toHaveLength(1);
    expect(last.body.link.some((l: Json) => l.relation === 'next')).toBe(false);
  });

  it('rejects unknown search parameters rather than ignoring them', async () => {
    const res = await call('GET', '/fhir/Patient?name=Smith');
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body)).not.toContain('Smith');
  });

  it('finds by identifier, subject and status', async () => {
    await service.store.update(journeyPatient());
    for (const qr of journeyResponses().slice(0, 2))
      await call('PUT', `/fhir/QuestionnaireResponse/${qr.id}`, { ...qr, meta: undefined });
    const bySubject = await call(
      'GET',
      '/fhir/QuestionnaireResponse?subject=Patient/megan-price&status=completed',
    );
    expect(bySubject.body.total).toBe(2);
  });
});

describe('conditional create', () => {
  it('If-None-Exist: no match creates, one match returns it, several is a 412', async () => {
    const header = { 'if-none-exist': 'identifier=urn:test:mrn|a' };
    const first = await call('POST', '/fhir/Patient', person('a'), header);
    expect(first.status).toBe(201);
    const again = await call('POST', '/fhir/Patient', person('a'), header);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    await call('POST', '/fhir/Patient', person('a'));
    const several = await call('POST', '/fhir/Patient', person('a'), header);
    expect(several.status).toBe(412);
    expect(several.body.resourceType).toBe('OperationOutcome');
  });
});

describe('an update cannot move a record to another person', () => {
  const observation = (id: string, subject?: string): Json => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { text: 'Sleep, hours a night' },
    valueInteger: 6,
    ...(subject ? { subject: { reference: subject } } : {}),
  });
  const goal = (id: string, subject: string): Json => ({
    resourceType: 'Goal',
    id,
    lifecycleStatus: 'active',
    description: { text: 'Sleep through the night' },
    subject: { reference: subject },
  });

  beforeEach(async () => {
    for (const id of ['a', 'b'])
      await service.store.update({
        resourceType: 'Patient',
        id,
        identifier: [{ system: 'urn:test:mrn', value: id }],
      } as Patient);
  });

  it('PUT naming someone else, or no one, is a 409 at the person, and nothing changes', async () => {
    expect((await call('PUT', '/fhir/Observation/o1', observation('o1', 'Patient/a'))).status).toBe(
      201,
    );
    expect((await call('PUT', '/fhir/Goal/g1', goal('g1', 'Patient/a'))).status).toBe(201);
    const moved = await call('PUT', '/fhir/Observation/o1', observation('o1', 'Patient/b'));
    expect(moved.status).toBe(409);
    expectOutcome(moved.body, 'conflict', 'Observation.subject');
    expect(moved.body.issue[0].details.text).toMatch(/stored for Patient\/a/);
    const dropped = await call('PUT', '/fhir/Observation/o1', observation('o1'));
    expect(dropped.status).toBe(409);
    const goalMoved = await call('PUT', '/fhir/Goal/g1', goal('g1', 'Patient/b'));
    expect(goalMoved.status).toBe(409);
    expectOutcome(goalMoved.body, 'conflict', 'Goal.subject');
    const stored = await call('GET', '/fhir/Observation/o1');
    expect(stored.body.subject.reference).toBe('Patient/a');
    expect(stored.body.meta.versionId).toBe('1');
    expect((await call('GET', '/fhir/Goal/g1')).body.meta.versionId).toBe('1');
    // The same person again is an ordinary update.
    const same = await call('PUT', '/fhir/Observation/o1', {
      ...observation('o1', 'Patient/a'),
      valueInteger: 7,
    });
    expect(same.status).toBe(200);
    expect(same.body.meta.versionId).toBe('2');
  });

  it('a record stored without a person may be given one', async () => {
    expect((await call('PUT', '/fhir/Observation/o2', observation('o2'))).status).toBe(201);
    const given = await call('PUT', '/fhir/Observation/o2', observation('o2', 'Patient/b'));
    expect(given.status).toBe(200);
    expect(given.body.subject.reference).toBe('Patient/b');
  });

  it('a conditional update that would move its match is a 409', async () => {
    const found = {
      ...observation('o3', 'Patient/a'),
      identifier: [{ system: 'urn:t', value: '3' }],
    };
    expect((await call('PUT', '/fhir/Observation/o3', found)).status).toBe(201);
    const { id: _id, ...body } = { ...found, subject: { reference: 'Patient/b' } };
    void _id;
    const moved = await call('PUT', '/fhir/Observation?identifier=urn:t|3', body);
    expect(moved.status).toBe(409);
    expectOutcome(moved.body, 'conflict', 'Observation.subject');
    expect((await call('GET', '/fhir/Observation/o3')).body.subject.reference).toBe('Patient/a');
  });

  it('a transaction entry that would move a record is a 409 inside the Bundle, and nothing is written', async () => {
    expect((await call('PUT', '/fhir/Observation/o4', observation('o4', 'Patient/a'))).status).toBe(
      201,
    );
    const res = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: goal('g4', 'Patient/b'),
          request: { method: 'PUT', url: 'Goal/g4' },
        },
        {
          resource: observation('o4', 'Patient/b'),
          request: { method: 'PUT', url: 'Observation/o4' },
        },
      ],
    });
    expect(res.status).toBe(409);
    expectOutcome(res.body, 'conflict', 'Bundle.entry[1].resource.subject');
    expect((await call('GET', '/fhir/Goal/g4')).status).toBe(404);
    expect((await call('GET', '/fhir/Observation/o4')).body.subject.reference).toBe('Patient/a');
  });
  it('a person named by another entry (as a handover names the Patient) is resolved first', async () => {
    expect((await call('PUT', '/fhir/Observation/o5', observation('o5', 'Patient/a'))).status).toBe(
      201,
    );
    const handover = (mrn: string): Json => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:5d1a2c1e-0000-4000-8000-000000000001',
          resource: person(mrn),
          request: {
            method: 'POST',
            url: 'Patient',
            ifNoneExist: `identifier=urn:test:mrn|${mrn}`,
          },
        },
        {
          fullUrl: 'urn:uuid:5d1a2c1e-0000-4000-8000-000000000002',
          resource: {
            ...observation('o5', 'urn:uuid:5d1a2c1e-0000-4000-8000-000000000001'),
            valueInteger: 3,
          },
          request: { method: 'PUT', url: 'Observation/o5' },
        },
      ],
    });
    const elsewhere = await call('POST', '/fhir', handover('b'));
    expect(elsewhere.status).toBe(409);
    expectOutcome(elsewhere.body, 'conflict', 'Bundle.entry[1].resource.subject');
    const someoneNew = await call('POST', '/fhir', handover('nobody-yet'));
    expect(someoneNew.status).toBe(409);
    expect((await call('GET', '/fhir/Patient?identifier=urn:test:mrn|nobody-yet')).body.total).toBe(
      0,
    );
    // A condition that names another entry cannot be resolved beforehand: refused, not let by.
    const hidden = handover('b');
    const patientEntry = hidden.entry[0];
    patientEntry.request.ifNoneExist = `identifier=urn:test:mrn|b,${hidden.entry[1].fullUrl}`;
    const unresolved = await call('POST', '/fhir', hidden);
    expect(unresolved.status).toBe(422);
    expect((await call('GET', '/fhir/Observation/o5')).body.subject.reference).toBe('Patient/a');
    const same = await call('POST', '/fhir', handover('a'));
    expect(same.status).toBe(200);
    const stored = await call('GET', '/fhir/Observation/o5');
    expect(stored.body.subject.reference).toBe('Patient/a');
    expect(stored.body.valueInteger).toBe(3);
  });
});

describe('methods an endpoint does not take', () => {
  it.each([
    ['PATCH', '/fhir/Patient/p1', 'GET, PUT'],
    ['POST', '/fhir/Patient/p1', 'GET, PUT'],
    ['DELETE', '/fhir/Patient?identifier=urn:test:mrn|a', 'GET, POST, PUT'],
    ['PUT', '/fhir', 'POST'],
    ['DELETE', '/fhir/Patient/p1/_history/1', 'GET'],
  ])('%s %s is a 405 naming what it takes', async (method, path, allow) => {
    const res = await call(
      method,
      path,
      method === 'DELETE' ? undefined : { resourceType: 'Patient' },
    );
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expectOutcome(res.body, 'not-supported');
  });
});

describe('one NHS number, one person', () => {
  const nhs = (value: string) => [{ system: NHS, value }];
  const withNhs = (mrn: string, id?: string): Json => ({
    ...person(mrn, { identifier: [...nhs('9434765919'), { system: 'urn:test:mrn', value: mrn }] }),
    ...(id ? { id } : {}),
  });

  it('a second Patient with a stored NHS number is a 409, however it is written', async () => {
    const first = await call('POST', '/fhir/Patient', withNhs('a'));
    expect(first.status).toBe(201);
    const refusals = [
      await call('POST', '/fhir/Patient', withNhs('b')),
      await call('PUT', '/fhir/Patient/other', withNhs('b', 'other')),
      await call('PUT', '/fhir/Patient?identifier=urn:test:mrn|b', withNhs('b')),
    ];
    for (const res of refusals) {
      expect(res.status).toBe(409);
      expectOutcome(res.body, 'duplicate', 'Patient.identifier[0].value');
      expect(JSON.stringify(res.body)).not.toContain('9434765919');
    }
    const inTransaction = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: withNhs('c'), request: { method: 'POST', url: 'Patient' } }],
    });
    expect(inTransaction.status).toBe(409);
    expectOutcome(inTransaction.body, 'duplicate', 'Bundle.entry[0].resource.identifier[0].value');
    expect((await call('GET', `/fhir/Patient?identifier=${NHS}|9434765919`)).body.total).toBe(1);
  });

  it('the Patient holding it, and a find-or-create by it, are not refused', async () => {
    const first = await call('POST', '/fhir/Patient', withNhs('a'));
    const id = first.body.id as string;
    expect(
      (await call('PUT', `/fhir/Patient/${id}`, { ...withNhs('a', id), gender: 'female' })).status,
    ).toBe(200);
    const found = await call('POST', '/fhir/Patient', withNhs('a'), {
      'if-none-exist': `identifier=${NHS}|9434765919`,
    });
    expect(found.status).toBe(200);
    expect(found.body.id).toBe(id);
    const handover = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: withNhs('a'),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${NHS}|9434765919` },
        },
      ],
    });
    expect(handover.status).toBe(200);
    expect((await call('GET', `/fhir/Patient?identifier=${NHS}|9434765919`)).body.total).toBe(1);
  });
});

describe('POST /fhir: Bundles JSON allows but FHIR does not', () => {
  const transaction = (entry: unknown): Json => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry,
  });
  const post = (url: string): Json => ({ method: 'POST', url });

  it.each([
    ['an entry list that is not a list', {}, 'Bundle.entry'],
    ['an entry that is not an object', [null], 'Bundle.entry[0]'],
    ['a fullUrl that is not a string', [{ fullUrl: 7, request: post('Patient') }], 'Bundle.entry[0].fullUrl'],
    ['a request that is not an object', [{ request: 'POST' }], 'Bundle.entry[0].request'],
    ['an ifNoneExist that is not a string', [{ resource: person('x'), request: { ...post('Patient'), ifNoneExist: 1 } }], 'Bundle.entry[0].request.ifNoneExist'],
    ['an ifMatch that is not a string', [{ resource: { ...person('x'), id: 'x' }, request: { method: 'PUT', url: 'Patient/x', ifMatch: 1 } }], 'Bundle.entry[0].request.ifMatch'],
    ['a resource that is not an object', [{ resource: 'Patient', request: post('Patient') }], 'Bundle.entry[0].resource'],
  ])('a transaction with %s is a 400 at the fault, and nothing is stored', async (_what, entry, at) => {
    const res = await call('POST', '/fhir', transaction(entry));
    expect(res.status).toBe(400);
    expectOutcome(res.body, 'invalid', at);
    expect((await call('GET', '/fhir/Patient?_count=0')).body.total).toBe(0);
  }); // prettier-ignore

  it('a batch answers each malformed entry with its own 400 and does the rest', async () => {
    const res = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        null,
        { request: { method: 'GET', url: 5 } },
        { resource: person('kept'), request: post('Patient') },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: Json) => e.response.status)).toEqual([
      '400',
      '400',
      '201 Created',
    ]);
    expect(res.body.entry[1].response.outcome.issue[0].expression).toEqual([
      'Bundle.entry[1].request.url',
    ]);
    const notAList = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: 'x',
    });
    expect(notAList.status).toBe(400);
  });

  it('a batch entry is never answered as another request than it asked', async () => {
    await call('PUT', '/fhir/Patient/p-batch', { ...person('b'), id: 'p-batch' });
    const res = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient/p-batch/$dialog-summary' } },
        { request: { method: 'GET', url: 'Patient/p-batch/_history/1/extra' } },
        { request: { method: 'GET', url: 'Patient/p-batch/anything' } },
        { resource: person('q'), request: post('Patient?identifier=urn:test:mrn|q') },
        { request: { method: 'GET', url: 'Patient/p-batch?bogus=1' } },
        { request: { method: 'GET', url: 'Patient/p-batch/_history?_since=2020-01-01' } },
        { request: { method: 'GET', url: 'Patient/p-batch/_history/1' } },
      ],
    });
    const statuses = res.body.entry.map((e: Json) => e.response.status);
    expect(statuses).toEqual(['400', '400', '400', '400', '400', '400', '200 OK']);
    expect((await call('GET', '/fhir/Patient?identifier=urn:test:mrn|q')).body.total).toBe(0);
  });
});

describe('POST /fhir: transaction and batch', () => {
  it('a transaction is all or nothing, with the bad entry named', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: person('t1'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { ...person('t2'), gender: 'sometimes' },
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    };
    const res = await call('POST', '/fhir', bundle);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression[0]).toBe('Bundle.entry[1].resource.gender');
    expect((await call('GET', '/fhir/Patient?_count=0')).body.total).toBe(0);
    bundle.entry.pop();
    const ok = await call('POST', '/fhir', bundle);
    expect(ok.status).toBe(200);
    expect(ok.body.type).toBe('transaction-response');
    expect(ok.body.entry[0].response.status).toMatch(/^201/);
  });

  it('a batch entry GET Type/id/_history is the history, not the current version', async () => {
    const created = await call('POST', '/fhir/Patient', person('h1'));
    const id = created.body.id as string;
    await call('PUT', `/fhir/Patient/${id}`, { ...person('h1'), id, gender: 'female' });
    const res = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${id}/_history` } },
        { request: { method: 'GET', url: `Patient/${id}/_history/1` } },
      ],
    });
    expect(res.status).toBe(200);
    const [history, first] = res.body.entry as Json[];
    expect(history?.resource.type).toBe('history');
    expect(history?.resource.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2', '1']);
    expect(history?.resource.entry.map((e: Json) => e.request.method)).toEqual(['PUT', 'POST']);
    expect(history?.resource.entry[1].response.status).toBe('201 Created');
    expect(first?.resource.meta.versionId).toBe('1');
  });

  it('a batch takes each entry on its own', async () => {
    const res = await call('POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: person('b1'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/nobody' } },
        { request: { method: 'GET', url: 'Patient?identifier=urn:test:mrn|b1' } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    const statuses = res.body.entry.map((e: Json) => String(e.response.status).slice(0, 3));
    expect(statuses).toEqual(['201', '404', '200']);
    expect(res.body.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    expect(res.body.entry[2].resource.total).toBe(1);
  });

  it('refuses other Bundle types', async () => {
    const res = await call('POST', '/fhir', { resourceType: 'Bundle', type: 'collection' });
    expect(res.status).toBe(400);
    expectOutcome(res.body, 'invalid', 'Bundle.type');
  });
});

describe('operations', () => {
  beforeEach(() => service.store.update(journeyPatient()));

  it('$extract gives the Observations of a response without storing them', async () => {
    const qr = journeyResponses()[0];
    const res = await call('POST', '/fhir/QuestionnaireResponse/$extract', qr);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('transaction');
    expect(res.body.entry.length).toBeGreaterThanOrEqual(11);
    expect((await call('GET', '/fhir/Observation?_count=0')).body.total).toBe(0);
    await call('PUT', `/fhir/QuestionnaireResponse/${qr?.id}`, { ...qr, meta: undefined });
    const stored = await call('GET', `/fhir/QuestionnaireResponse/${qr?.id}/$extract`);
    expect(stored.status).toBe(200);
    expect(stored.body.entry.length).toBe(res.body.entry.length);
  });

  it('$extract refuses an in-progress response with 422', async () => {
    const qr = { ...journeyResponses()[0], status: 'in-progress' };
    const res = await call('POST', '/fhir/QuestionnaireResponse/$extract', qr);
    expect(res.status).toBe(422);
    expectOutcome(res.body, 'business-rule', 'QuestionnaireResponse.status');
  });

  it('$populate pre-fills from the latest rating', async () => {
    const qr = journeyResponses()[0];
    await call('PUT', `/fhir/QuestionnaireResponse/${qr?.id}`, { ...qr, meta: undefined });
    const res = await call('POST', '/fhir/Questionnaire/$populate', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueReference: { reference: 'Patient/megan-price' } },
        { name: 'canonical', valueCanonical: 'https://dialog-fhir.org/fhir/Questionnaire/dialog' },
      ],
    });
    expect(res.status).toBe(200);
    const response = res.body.parameter.find((p: Json) => p.name === 'response').resource;
    expect(response.resourceType).toBe('QuestionnaireResponse');
    expect(response.status).toBe('in-progress');
    expect(response.subject.reference).toBe('Patient/megan-price');
  });

  it('$populate without a subject is a 400 naming the parameter', async () => {
    const res = await call('POST', '/fhir/Questionnaire/$populate', {
      resourceType: 'Parameters',
      parameter: [],
    });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].expression[0]).toContain("name = 'subject'");
  });

  it('$populate for a Patient not stored is a 404; two subjects are a 400', async () => {
    const canonical = {
      name: 'canonical',
      valueCanonical: 'https://dialog-fhir.org/fhir/Questionnaire/dialog',
    };
    const subject = (id: string) => ({
      name: 'subject',
      valueReference: { reference: `Patient/${id}` },
    });
    const nobody = await call('POST', '/fhir/Questionnaire/$populate', {
      resourceType: 'Parameters',
      parameter: [subject('nobody'), canonical],
    });
    expect(nobody.status).toBe(404);
    expectOutcome(nobody.body, 'not-found', "Parameters.parameter.where(name = 'subject')");
    await call('PUT', '/fhir/Patient/p-pop', { ...person('pop'), id: 'p-pop' });
    const two = await call('POST', '/fhir/Questionnaire/$populate', {
      resourceType: 'Parameters',
      parameter: [subject('p-pop'), subject('nobody'), canonical],
    });
    expect(two.status).toBe(400);
    const one = await call('POST', '/fhir/Questionnaire/$populate', {
      resourceType: 'Parameters',
      parameter: [subject('p-pop'), canonical],
    });
    expect(one.status).toBe(200);
  });

  it('Questionnaire/{id}/$populate populates that stored Questionnaire; another named too is a 400', async () => {
    const subject = { name: 'subject', valueReference: { reference: 'Patient/megan-price' } };
    const missing = await call('POST', '/fhir/Questionnaire/dialog/$populate', {
      resourceType: 'Parameters',
      parameter: [subject],
    });
    expect(missing.status).toBe(404);
    await storeDefinitions(service.store, sharedValidator().package);
    const res = await call('POST', '/fhir/Questionnaire/dialog/$populate', {
      resourceType: 'Parameters',
      parameter: [subject],
    });
    expect(res.status).toBe(200);
    const response = res.body.parameter.find((p: Json) => p.name === 'response').resource;
    expect(response.questionnaire).toMatch(
      /^https:\/\/dialog-fhir\.org\/fhir\/Questionnaire\/dialog/,
    );
    const other = await call('POST', '/fhir/Questionnaire/dialog/$populate', {
      resourceType: 'Parameters',
      parameter: [subject, { name: 'canonical', valueCanonical: 'https://example.org/Q/other' }],
    });
    expect(other.status).toBe(400);
    expectOutcome(other.body, 'invalid', "Parameters.parameter.where(name = 'canonical')");
  });

  it('$populate with parameters that are not a list of objects is a 400, never a 500', async () => {
    for (const parameter of [{}, [null], 'x'])
      expect(
        (
          await call('POST', '/fhir/Questionnaire/$populate', {
            resourceType: 'Parameters',
            parameter,
          })
        ).status,
      ).toBe(400);
  });

  it('$dialog-summary of someone unknown is a 404', async () => {
    const res = await call('GET', '/fhir/Patient/nobody/$dialog-summary');
    expect(res.status).toBe(404);
    expectOutcome(res.body, 'not-found');
  });
});

describe('bodies', () => {
  it('refuses __proto__ and constructor.prototype keys with 400', async () => {
    for (const text of [
      '{"resourceType":"Patient","__proto__":{"admin":true}}',
      '{"resourceType":"Patient","name":[{"constructor":{"prototype":{"x":1}}}]}',
    ]) {
      const res = await call('POST', '/fhir/Patient', text);
      expect(res.status).toBe(400);
      expectOutcome(res.body, 'security');
    }
    expect(({} as Json).admin).toBeUndefined();
    expect((await call('GET', '/fhir/Patient?_count=0')).body.total).toBe(0);
  });

  it('refuses XML and form bodies with 415', async () => {
    for (const type of ['application/xml', 'application/x-www-form-urlencoded']) {
      const res = await fetch(`${service.base}/fhir/Patient`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: '<Patient/>',
      });
      expect(res.status).toBe(415);
      expectOutcome(await res.json(), 'not-supported');
    }
  });

  it('sets security headers', async () => {
    const res = await fetch(`${service.base}/fhir/metadata`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After and an OperationOutcome past the limit', async () => {
    const limited = await startService({ rateLimitPerMinute: 3 });
    try {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 4; i++) {
        last = await fetch(`${limited.base}/fhir/Patient?_count=0`);
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
      expectOutcome(await last?.json(), 'throttled');
      expect((await fetch(`${limited.base}/healthz`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
