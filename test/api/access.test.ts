/**
 * Access over real HTTP with real signed tokens (src/auth's dev key in a temporary DATA_DIR):
 * who may do what, confined to whom, what carers see under the person's Consent, the 401s and
 * 403s with their OperationOutcomes, an AuditEvent for every access, and logs without patient data.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { SignJWT, generateKeyPair } from 'jose';
import { DEV_AUDIENCE, DEV_ISSUER, mintDevToken, type DevKey } from '../../src/auth';
import { journeyResponses } from '../fhir/journey';
import { EXAMPLES_DIR } from '../support/examples';
import { fhir, startServiceWithDevKey, type Json, type TestService } from '../support/service';

let service: TestService;
let key: DevKey;

const journey = JSON.parse(
  readFileSync(join(EXAMPLES_DIR, 'journey', '01-community-start.json'), 'utf8'),
) as Bundle;
const ofType = (type: string): Resource =>
  journey.entry?.find((e) => e.resource?.resourceType === type)?.resource as Resource;

beforeAll(async () => {
  ({ service, key } = await startServiceWithDevKey());
  for (const type of ['Patient', 'RelatedPerson', 'Consent'])
    await service.store.update(ofType(type));
  await service.store.update({
    resourceType: 'Patient',
    id: 'someone-else',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
  });
  const clinician = await token({
    scopes: ['user/*.cruds'],
    fhirUser: 'Practitioner/sam-whitfield',
  });
  for (const qr of journeyResponses().slice(0, 2)) {
    const res = await fhir(
      service.base,
      'PUT',
      `/fhir/QuestionnaireResponse/${qr.id}`,
      { ...qr, meta: undefined },
      auth(clinician),
    );
    expect([200, 201]).toContain(res.status);
  }
});
afterAll(() => service.close());

const token = (options: Parameters<typeof mintDevToken>[1]): Promise<string> =>
  mintDevToken(key, options);
const auth = (bearer: string): Record<string, string> => ({ authorization: `Bearer ${bearer}` });
const get = (path: string, bearer?: string) =>
  fhir(service.base, 'GET', path, undefined, bearer ? auth(bearer) : {});

function expectRefusal(res: { status: number; body: Json }, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe(code);
  expect(res.body.issue[0].expression?.length).toBeGreaterThan(0);
}

describe('authentication', () => {
  it('401 without a token, with WWW-Authenticate', async () => {
    const res = await get('/fhir/Patient/megan-price');
    expectRefusal(res, 401, 'login');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('401 for an expired token', async () => {
    const expired = await token({
      scopes: ['system/*.cruds'],
      now: new Date(Date.now() - 7200_000),
      expiresIn: 60,
    });
    expectRefusal(await get('/fhir/Patient/megan-price', expired), 401, 'login');
  });

  it('401 for a token signed by another key, and for alg none', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ scope: 'system/*.cruds' })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setSubject('x')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    expectRefusal(await get('/fhir/Patient/megan-price', forged), 401, 'login');
    const header = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const body = Buffer.from(
      JSON.stringify({
        iss: DEV_ISSUER,
        aud: DEV_AUDIENCE,
        sub: 'x',
        scope: 'system/*.cruds',
        exp: 9e9,
      }),
    ).toString('base64url');
    expectRefusal(await get('/fhir/Patient/megan-price', `${header}.${body}.`), 401, 'login');
  });

  it('metadata and health need no token', async () => {
    expect((await get('/fhir/metadata')).status).toBe(200);
    expect((await fetch(`${service.base}/healthz`)).status).toBe(200);
  });
});

describe('scopes and patient context', () => {
  it('a clinician (user/*.cruds) reads and searches anyone', async () => {
    const t = await token({ scopes: ['user/*.cruds'], fhirUser: 'Practitioner/sam-whitfield' });
    expect((await get('/fhir/Patient/someone-else', t)).status).toBe(200);
    expect(
      (await get('/fhir/QuestionnaireResponse?subject=Patient/megan-price', t)).body.total,
    ).toBe(2);
  });

  it('403 when the scopes do not cover the interaction', async () => {
    const t = await token({ scopes: ['user/Patient.rs'], fhirUser: 'Practitioner/sam-whitfield' });
    expectRefusal(await get('/fhir/CarePlan?subject=Patient/megan-price', t), 403, 'forbidden');
    const write = await fhir(
      service.base,
      'POST',
      '/fhir/Patient',
      { resourceType: 'Patient' },
      auth(t),
    );
    expectRefusal(write, 403, 'forbidden');
  });

  it('the person (patient/*.rs) sees their own record, and only theirs', async () => {
    const t = await token({ scopes: ['patient/*.rs'], fhirUser: 'Patient/megan-price' });
    expect((await get('/fhir/Patient/megan-price', t)).status).toBe(200);
    expectRefusal(await get('/fhir/Patient/someone-else', t), 403, 'forbidden');
    const own = await get('/fhir/QuestionnaireResponse', t);
    expect(own.status).toBe(200);
    expect(own.body.total).toBe(2);
    expectRefusal(
      await get('/fhir/QuestionnaireResponse?subject=Patient/someone-else', t),
      403,
      'forbidden',
    );
    expect((await get('/fhir/Patient', t)).body.total).toBe(1);
    // Their own id, bare (as SMART apps send it), is theirs too; another bare id is not.
    const bare = await get('/fhir/QuestionnaireResponse?patient=megan-price', t);
    expect(bare.status).toBe(200);
    expect(bare.body.total).toBe(2);
    expectRefusal(
      await get('/fhir/QuestionnaireResponse?patient=someone-else', t),
      403,
      'forbidden',
    );
    expect((await get('/fhir/Patient/megan-price/$dialog-summary', t)).status).toBe(200);
    expectRefusal(await get('/fhir/Patient/someone-else/$dialog-summary', t), 403, 'forbidden');
  });

  it('the person may not write with read scopes, nor use transactions', async () => {
    const t = await token({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' });
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] };
    expectRefusal(await fhir(service.base, 'POST', '/fhir', bundle, auth(t)), 403, 'forbidden');
    const r = await token({ scopes: ['patient/*.rs'], fhirUser: 'Patient/megan-price' });
    const qr = { ...journeyResponses()[0], id: undefined, meta: undefined };
    expectRefusal(
      await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', qr, auth(r)),
      403,
      'forbidden',
    );
  });

  it('a peer system (system/*.cruds) may use transactions', async () => {
    const t = await token({ scopes: ['system/*.cruds'], clientId: 'ward-system' });
    const res = await fhir(
      service.base,
      'POST',
      '/fhir',
      { resourceType: 'Bundle', type: 'transaction', entry: [] },
      auth(t),
    );
    expect(res.status).toBe(200);
  });
});

describe('review findings: no way round the patient context', () => {
  it('a launch token with patient/ and user/ scopes stays within its patient', async () => {
    const t = await token({
      scopes: ['patient/QuestionnaireResponse.rs', 'user/Questionnaire.rs'],
      fhirUser: 'Practitioner/sam-whitfield',
      patient: 'megan-price',
    });
    expectRefusal(
      await get('/fhir/QuestionnaireResponse?subject=Patient/someone-else', t),
      403,
      'forbidden',
    );
    const own = await get('/fhir/QuestionnaireResponse', t);
    expect(own.status).toBe(200);
    expect(
      (own.body.entry as Json[]).every(
        (e) => e.resource.subject.reference === 'Patient/megan-price',
      ),
    ).toBe(true);
  });

  it('a session cannot take over another person’s response by id or identifier', async () => {
    const clinician = await token({
      scopes: ['user/*.cruds'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const theirs = {
      ...journeyResponses()[0],
      id: undefined,
      meta: undefined,
      identifier: { system: 'urn:test:session', value: 'theirs' },
      subject: { reference: 'Patient/someone-else' },
      source: { reference: 'Patient/someone-else' },
    };
    const stored = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      theirs,
      auth(clinician),
    );
    expect(stored.status).toBe(201);
    const person = await token({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' });
    const mine = {
      ...theirs,
      subject: { reference: 'Patient/megan-price' },
      source: { reference: 'Patient/megan-price' },
    };
    const byIdentifier = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      mine,
      auth(person),
    );
    expectRefusal(byIdentifier, 409, 'conflict');
    const byId = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      { ...mine, id: stored.body.id, identifier: { system: 'urn:test:session', value: 'mine' } },
      auth(person),
    );
    expect(byId.status).toBe(201);
    expect(byId.body.id).not.toBe(stored.body.id);
    const still = await get(`/fhir/QuestionnaireResponse/${stored.body.id}`, clinician);
    expect(still.body.subject.reference).toBe('Patient/someone-else');
  });

  it('a carer’s $dialog-summary shows no ratings the person does not share', async () => {
    const t = await token({
      scopes: ['patient/*.rs'],
      fhirUser: 'RelatedPerson/hannah-price',
      patient: 'megan-price',
    });
    const res = await get('/fhir/Patient/megan-price/$dialog-summary', t);
    const ratings =
      res.status === 200 ? (res.body.parameter as Json[]).filter((p) => p.name === 'rating') : [];
    expect(ratings).toEqual([]);
  });
});

describe('a conditional create needs the scope to read what it finds', () => {
  const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
  const send = (method: string, path: string, bearer: string, body: unknown, headers = {}) =>
    fhir(service.base, method, path, body, { ...auth(bearer), ...headers });

  it('a create-only token cannot read a stored record through If-None-Exist', async () => {
    const createOnly = await token({
      scopes: ['user/Patient.c'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const body = { resourceType: 'Patient', identifier: [{ system: NHS, value: '9434765919' }] };
    const single = await send('POST', '/fhir/Patient', createOnly, body, {
      'if-none-exist': `identifier=${NHS}|9434765919`,
    });
    expectRefusal(single, 403, 'forbidden');
    expect(JSON.stringify(single.body)).not.toContain('someone-else');
    const byId = await send('POST', '/fhir/Patient', createOnly, body, {
      'if-none-exist': '_id=megan-price',
    });
    expectRefusal(byId, 403, 'forbidden');
    const conditionalIn = (type: 'batch' | 'transaction') => ({
      resourceType: 'Bundle',
      type,
      entry: [
        {
          resource: body,
          request: { method: 'POST', url: 'Patient', ifNoneExist: '_id=megan-price' },
        },
      ],
    });
    const batch = await send('POST', '/fhir', createOnly, conditionalIn('batch'));
    expect(batch.status).toBe(200);
    expect(batch.body.entry[0].response.status).toBe('403');
    expect(batch.body.entry[0].resource).toBeUndefined();
    const transaction = await send('POST', '/fhir', createOnly, conditionalIn('transaction'));
    expectRefusal(transaction, 403, 'forbidden');
    // With the scope to read, the same condition finds the stored Patient.
    const full = await token({
      scopes: ['user/Patient.cr'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const found = await send('POST', '/fhir/Patient', full, body, {
      'if-none-exist': '_id=megan-price',
    });
    expect(found.status).toBe(200);
    expect(found.body.id).toBe('megan-price');
  });

  it('the scopes a handover peer holds (cru) still create conditionally', async () => {
    const peer = await token({ scopes: ['system/Patient.cru'] });
    const res = await send(
      'POST',
      '/fhir/Patient',
      peer,
      { resourceType: 'Patient', identifier: [{ system: NHS, value: '9434765919' }] },
      { 'if-none-exist': `identifier=${NHS}|9434765919` },
    );
    expect(res.status).toBe(200);
    expect(res.body.id).toBe('someone-else');
  });
});

describe('a plan read is no licence to read what the plan points to', () => {
  it('$chart and $letter with CarePlan read only show no ratings and no goals’ words', async () => {
    const full = await token({ scopes: ['user/*.rs'], fhirUser: 'Practitioner/sam-whitfield' });
    const planOnly = await token({
      scopes: ['user/CarePlan.rs'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const plans = await get('/fhir/CarePlan?subject=Patient/megan-price', planOnly);
    expect(plans.status).toBe(200);
    const id = plans.body.entry[0].resource.id as string;
    const text = async (path: string, bearer: string): Promise<string> => {
      const res = await fetch(`${service.base}/fhir/CarePlan/${id}/${path}`, {
        headers: auth(bearer),
      });
      expect(res.status).toBe(200);
      return res.text();
    };
    // The ratings the chart draws and the goals the letter tells are there for a full reader…
    expect(await text('$chart', full)).toMatch(/very dissatisfied|fairly dissatisfied/);
    // The person's own words for her goals are in the Goals, not in the plan.
    const goalWords = 'Smallest step';
    expect(await text('$letter?format=html', full)).toContain(goalWords);
    // …and not for a token that may read plans only.
    expect(await text('$chart', planOnly)).not.toMatch(/very dissatisfied|fairly dissatisfied/);
    expect(await text('$letter?format=html', planOnly)).not.toContain(goalWords);
  });
});

describe('carers see only what the person agreed to share', () => {
  it('with the journey Consent: the plan, but not the ratings', async () => {
    const t = await token({
      scopes: ['patient/*.rs'],
      fhirUser: 'RelatedPerson/hannah-price',
      patient: 'megan-price',
    });
    expectRefusal(
      await get(`/fhir/QuestionnaireResponse/${journeyResponses()[0]?.id}`, t),
      403,
      'forbidden',
    );
    const ratings = await get('/fhir/QuestionnaireResponse', t);
    expect(ratings.status).toBe(200);
    expect(ratings.body.entry ?? []).toHaveLength(0);
    const plans = await get('/fhir/CarePlan', t);
    expect(plans.status).toBe(200);
    expect(plans.body.entry?.length).toBe(1);
    // Found or read by id, the plan is the carer's view: without the ratings the stored plan's
    // narrative tells, and without the contained resources (not the stored text of the whole).
    const shared = plans.body.entry[0].resource as Json;
    const read = await get(`/fhir/CarePlan/${shared.id}`, t);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(shared);
    const stored = await service.store.read('CarePlan', shared.id);
    expect(stored.text?.div).toContain('Latest DIALOG ratings');
    expect(shared.text.div).not.toContain('Latest DIALOG ratings');
    expect(shared.text.div).not.toContain('Best case');
    expect(shared.contained).toBeUndefined();
  });

  it('a carer’s view has no ETag: an older view is never answered 304', async () => {
    const t = await token({
      scopes: ['patient/*.rs'],
      fhirUser: 'RelatedPerson/hannah-price',
      patient: 'megan-price',
    });
    const plans = await get('/fhir/CarePlan', t);
    const id = plans.body.entry[0].resource.id as string;
    const stored = await service.store.read('CarePlan', id);
    const version = `W/"${stored.meta?.versionId ?? ''}"`;
    // The view depends on her Consent as well as on the version: no validators, always the view.
    const view = await fhir(service.base, 'GET', `/fhir/CarePlan/${id}`, undefined, {
      ...auth(t),
      'if-none-match': version,
    });
    expect(view.status).toBe(200);
    expect(view.headers.get('etag')).toBeNull();
    expect(view.headers.get('last-modified')).toBeNull();
    expect(view.body.text.div).not.toContain('Latest DIALOG ratings');
    // A clinician reading the whole plan gets its version, and a 304 for it.
    const clinician = await token({
      scopes: ['user/*.rs'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const whole = await get(`/fhir/CarePlan/${id}`, clinician);
    expect(whole.headers.get('etag')).toBe(version);
    const same = await fhir(service.base, 'GET', `/fhir/CarePlan/${id}`, undefined, {
      ...auth(clinician),
      'if-none-match': version,
    });
    expect(same.status).toBe(304);
  });

  it('totals count only what is shared, whatever the page', async () => {
    const t = await token({
      scopes: ['patient/*.rs'],
      fhirUser: 'RelatedPerson/hannah-price',
      patient: 'megan-price',
    });
    const total = async (query: string): Promise<number> => {
      const res = await get(query, t);
      expect(res.status).toBe(200);
      return res.body.total as number;
    };
    // Her ratings are not shared with Hannah: no page, however asked, tells that there are any.
    expect(await total('/fhir/QuestionnaireResponse')).toBe(0);
    expect(await total('/fhir/QuestionnaireResponse?_count=0')).toBe(0);
    expect(await total('/fhir/QuestionnaireResponse?_offset=500')).toBe(0);
    expect(await total('/fhir/Observation?_count=0')).toBe(0);
    // The plan is shared: counted, on a page of none or past the end alike.
    expect(await total('/fhir/CarePlan?_count=0')).toBe(1);
    expect(await total('/fhir/CarePlan?_offset=5')).toBe(1);
    const none = await get('/fhir/CarePlan?_count=0', t);
    expect(none.body.entry ?? []).toHaveLength(0);
    expect((none.body.link as Json[]).some((l) => l.relation === 'next')).toBe(false);
    // A clinician's totals are the store's.
    const clinician = await token({
      scopes: ['user/*.rs'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    expect(
      (await get('/fhir/QuestionnaireResponse?_count=0', clinician)).body.total,
    ).toBeGreaterThan(0);
  });

  it('without a Consent naming them, nothing', async () => {
    const t = await token({
      scopes: ['patient/*.rs'],
      fhirUser: 'RelatedPerson/someone',
      patient: 'megan-price',
    });
    expect((await get('/fhir/CarePlan', t)).body.entry ?? []).toHaveLength(0);
  });

  it('a carer never writes', async () => {
    const t = await token({
      scopes: ['patient/*.cruds'],
      fhirUser: 'RelatedPerson/hannah-price',
      patient: 'megan-price',
    });
    const res = await fhir(
      service.base,
      'PUT',
      '/fhir/Patient/megan-price',
      ofType('Patient'),
      auth(t),
    );
    expectRefusal(res, 403, 'forbidden');
  });
});

describe('references from a person’s own writes', () => {
  const goal = (addresses: string) => ({
    resourceType: 'Goal',
    lifecycleStatus: 'active',
    description: { text: 'Get back to the allotment' },
    subject: { reference: 'Patient/megan-price' },
    addresses: [{ reference: addresses }],
  });

  it('tells a patient token nothing about which ids exist in other people’s records', async () => {
    const clinician = await token({
      scopes: ['user/*.cruds'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const person = await token({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' });
    const theirs = await get('/fhir/Observation?subject=Patient/someone-else&_count=1', clinician);
    const theirId = String((theirs.body.entry as Json[])[0]?.resource.id);
    const toTheirs = await fhir(
      service.base,
      'POST',
      '/fhir/Goal',
      goal(`Observation/${theirId}`),
      auth(person),
    );
    const toNothing = await fhir(
      service.base,
      'POST',
      '/fhir/Goal',
      goal('Observation/not-stored-1'),
      auth(person),
    );
    expectRefusal(toTheirs, 422, 'business-rule');
    // The same answer, word for word, whether the id is someone else's or nobody's.
    expect(toNothing.status).toBe(toTheirs.status);
    expect(toNothing.body.issue).toEqual(toTheirs.body.issue);
    // A clinician may still point at what is not stored yet (FHIR allows it).
    const byClinician = await fhir(
      service.base,
      'POST',
      '/fhir/Goal',
      goal('Observation/not-stored-1'),
      auth(clinician),
    );
    expect(byClinician.status).toBe(201);
  });

  it('a person’s write may name the EHR’s encounter, which is not stored here', async () => {
    const person = await token({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' });
    const withEncounter = await fhir(
      service.base,
      'POST',
      '/fhir/Observation',
      {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'Sleep, hours a night' },
        valueInteger: 6,
        subject: { reference: 'Patient/megan-price' },
        encounter: { reference: 'Encounter/ehr-launch-123' },
      },
      auth(person),
    );
    expect(withEncounter.status).toBe(201);
  });
});

describe('audit and logs', () => {
  it('writes an AuditEvent for reads, writes and refusals', async () => {
    const t = await token({ scopes: ['user/*.cruds'], fhirUser: 'Practitioner/sam-whitfield' });
    await get('/fhir/Patient/someone-else', t);
    await get('/fhir/Patient/someone-else');
    await new Promise((resolve) => setTimeout(resolve, 400));
    const events = await get('/fhir/AuditEvent?patient=Patient/someone-else&_count=100', t);
    expect(events.status).toBe(200);
    const outcomes = (events.body.entry as Json[]).map((e) => e.resource.outcome);
    expect(outcomes).toContain('0');
    expect(outcomes).toContain('4');
  });

  it('names the person a search is about, even when it finds nothing', async () => {
    const t = await token({ scopes: ['user/*.cruds'], fhirUser: 'Practitioner/sam-whitfield' });
    const found = await get('/fhir/Observation?subject=Patient/no-records-yet', t);
    expect(found.body.total).toBe(0);
    // Audit events are written in batches: wait for this one (bounded), then look at it.
    let events = await get('/fhir/AuditEvent?patient=Patient/no-records-yet', t);
    for (let i = 0; i < 50 && (events.body.entry ?? []).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      events = await get('/fhir/AuditEvent?patient=Patient/no-records-yet', t);
    }
    const kinds = (events.body.entry as Json[]).map(
      (e) =>
        (e.resource.subtype as Json[]).find((c) => c.system?.endsWith('restful-interaction'))?.code,
    );
    // The Observation search, and the audit searches above (which name her too).
    expect(kinds.length).toBeGreaterThan(0);
    expect(new Set(kinds)).toEqual(new Set(['search-type']));
  });

  it('logs hold no NHS numbers, names or free text from the records', async () => {
    const text = service.logs.join('\n');
    expect(text.length).toBeGreaterThan(0);
    for (const secret of ['9992468017', '9434765919', 'Megan', 'Price', 'Hannah', 'megan-price'])
      expect(text).not.toContain(secret);
  });
});

describe('the record of what was done is not the callers’ to write', () => {
  const auditEvent = {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: '2025-10-01T10:00:00Z',
    agent: [{ who: { reference: 'Practitioner/sam-whitfield' }, requestor: true }],
    source: { observer: { display: 'somewhere' } },
  };
  const provenance = (recorded: string) => ({
    resourceType: 'Provenance',
    id: 'prov-kept',
    target: [{ reference: 'Patient/megan-price' }],
    recorded,
    agent: [{ who: { reference: 'Practitioner/sam-whitfield' } }],
  });
  const json = { 'content-type': 'application/fhir+json' };

  it('AuditEvents are never created or changed through the API, by anyone', async () => {
    const callers = [
      await token({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' }),
      await token({ scopes: ['user/*.cruds'], fhirUser: 'Practitioner/sam-whitfield' }),
      await token({ scopes: ['system/*.cruds'] }),
    ];
    // The audit trail writes in batches (every 200 ms): wait for one to try to change.
    let existing: Resource | undefined;
    for (let i = 0; i < 100 && !existing; i++) {
      existing = (await service.store.search('AuditEvent', { _count: '1' })).resources[0];
      if (!existing) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(existing).toBeDefined();
    for (const t of callers) {
      const created = await fhir(service.base, 'POST', '/fhir/AuditEvent', auditEvent, {
        ...auth(t),
        ...json,
      });
      expect(created.status).toBe(405);
      const changed = await fhir(
        service.base,
        'PUT',
        `/fhir/AuditEvent/${existing?.id ?? ''}`,
        { ...existing, outcome: '8' },
        { ...auth(t), ...json },
      );
      expect(changed.status).toBe(405);
      expect(changed.body.resourceType).toBe('OperationOutcome');
    }
    const system = callers[2] ?? '';
    const inTransaction = await fhir(
      service.base,
      'POST',
      '/fhir',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: auditEvent, request: { method: 'POST', url: 'AuditEvent' } }],
      },
      { ...auth(system), ...json },
    );
    expect(inTransaction.status).toBe(405);
    expect(inTransaction.body.issue[0].expression).toEqual(['Bundle.entry[0].request']);
    const inBatch = await fhir(
      service.base,
      'POST',
      '/fhir',
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ resource: auditEvent, request: { method: 'POST', url: 'AuditEvent' } }],
      },
      { ...auth(system), ...json },
    );
    expect(inBatch.body.entry[0].response.status).toBe('405');
    expect((await service.store.read('AuditEvent', existing?.id ?? '')).meta?.versionId).toBe('1');
    // …and they are still read and searched.
    const read = await get(`/fhir/AuditEvent/${existing?.id ?? ''}`, system);
    expect(read.status).toBe(200);
  });

  it('a dialog-fhir in front (system/AuditEvent.c named itself) keeps its trail here: new ones only', async () => {
    const front = await token({ scopes: ['system/AuditEvent.c', 'system/*.cruds'] });
    const batch = await fhir(
      service.base,
      'POST',
      '/fhir',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: auditEvent, request: { method: 'POST', url: 'AuditEvent' } }],
      },
      { ...auth(front), ...json },
    );
    expect(batch.status).toBe(200);
    const location = String(batch.body.entry[0].response.location);
    const id = location.split('/')[1] ?? '';
    expect((await service.store.read('AuditEvent', id)).recorded).toBe(auditEvent.recorded);
    // Never changed, by this token either.
    const stored = await service.store.read('AuditEvent', id);
    const changed = await fhir(
      service.base,
      'PUT',
      `/fhir/AuditEvent/${id}`,
      { ...stored, outcome: '8' },
      { ...auth(front), ...json },
    );
    expect(changed.status).toBe(405);
  });

  it('Provenance: never by the person, and a stored one is never changed', async () => {
    const person = await token({ scopes: ['patient/*.cruds'], fhirUser: 'Patient/megan-price' });
    const clinician = await token({
      scopes: ['user/*.cruds'],
      fhirUser: 'Practitioner/sam-whitfield',
    });
    const put = (t: string, body: unknown) =>
      fhir(service.base, 'PUT', '/fhir/Provenance/prov-kept', body, { ...auth(t), ...json });
    expect((await put(person, provenance('2025-10-01T10:00:00Z'))).status).toBe(403);
    expect((await put(clinician, provenance('2025-10-01T10:00:00Z'))).status).toBe(201);
    // The same again writes nothing new; a changed one is refused.
    const again = await put(clinician, provenance('2025-10-01T10:00:00Z'));
    expect(again.status).toBe(200);
    expect(again.body.meta.versionId).toBe('1');
    const rewritten = await put(clinician, provenance('2030-01-01T00:00:00Z'));
    expect(rewritten.status).toBe(409);
    expect(rewritten.body.issue[0].code).toBe('conflict');
    // The same content with its keys in another order is the same Provenance.
    const { recorded: _r, ...rest } = provenance('2025-10-01T10:00:00Z');
    void _r;
    expect((await put(clinician, { recorded: '2025-10-01T10:00:00Z', ...rest })).status).toBe(200);
    // A transaction does not change it either.
    const inTransaction = await fhir(
      service.base,
      'POST',
      '/fhir',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: provenance('2031-01-01T00:00:00Z'),
            request: { method: 'PUT', url: 'Provenance/prov-kept' },
          },
        ],
      },
      { ...auth(clinician), ...json },
    );
    expect(inTransaction.status).toBe(409);
    expect((await service.store.read('Provenance', 'prov-kept')).recorded).toBe(
      '2025-10-01T10:00:00Z',
    );
  });
});
