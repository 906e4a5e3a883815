/**
 * src/service/subject.ts with src/service/submit-session.ts: a session naming a person new to the
 * service (by NHS number or a contained Patient) creates that Patient in the session's own
 * transaction, never before it. A session refused after the person was matched leaves no Patient
 * behind, and sessions racing for one new person make one Patient. Over real HTTP, on the embedded
 * store and on the fhir-server store against Medplum's fhir-router.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import winston from 'winston';
import { createApp } from '../../src/api/app';
import { mintDevToken } from '../../src/auth';
import { FhirService } from '../../src/service/fhir-service';
import { authOffAccess } from '../../src/api/bearer-access';
import { NarratingStore } from '../../src/service/narrating-store';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../../src/store';
import { newSession } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { startFhirRouterServer } from '../support/fhir-router-server';
import {
  fhir,
  sharedValidator,
  startService,
  startServiceWithDevKey,
  type TestService,
} from '../support/service';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** Valid NHS numbers (modulus 11) that no stored Patient holds. */
const NEW_PERSON = '9997654323';
const ANOTHER_NEW_PERSON = '9991112227';

function session(
  subject: QuestionnaireResponse['subject'],
  value: string,
  extra: Partial<QuestionnaireResponse> = {},
): QuestionnaireResponse {
  return newSession(value, { ...(subject ? { subject } : {}), ...extra });
}

const byNhsNumber = (value: string): QuestionnaireResponse['subject'] => ({
  identifier: { system: NHS, value },
});

/** A session whose person is a contained Patient, as native records arrive. */
function containedSession(nhsNumber: string, value: string, authored?: string) {
  return session({ reference: '#person' }, value, {
    source: { reference: '#person', display: 'Ada Okafor' },
    contained: [
      {
        resourceType: 'Patient',
        id: 'person',
        identifier: [{ system: NHS, value: nhsNumber }],
        name: [{ family: 'Okafor', given: ['Ada'] }],
      },
    ],
    ...(authored ? { authored } : {}),
  });
}

describe('a new person on the embedded store', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startService();
  });
  afterEach(() => service.close());

  it('is created in the same transaction as the session, with the contained details', async () => {
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      containedSession(NEW_PERSON, 'first'),
    );
    expect(res.status).toBe(201);
    const holders = await service.store.search('Patient', {
      identifier: `${NHS}|${NEW_PERSON}`,
    });
    expect(holders.resources).toHaveLength(1);
    const patient = holders.resources[0] as Patient;
    expect(patient.name).toEqual([{ family: 'Okafor', given: ['Ada'] }]);
    expect(res.body.subject).toEqual({ reference: `Patient/${patient.id}` });
    expect(res.body.contained).toBeUndefined();
    // The person's own rating: `source` follows the contained Patient out.
    expect(res.body.source).toEqual({ reference: `Patient/${patient.id}`, display: 'Ada Okafor' });
    // One transaction, one instant: the Patient and the session were committed together.
    expect(patient.meta?.lastUpdated).toBe(res.body.meta.lastUpdated);
    const plans = await service.store.search('CarePlan', { subject: `Patient/${patient.id}` });
    expect(plans.resources).toHaveLength(1);
  });

  it('a session refused after matching (another person’s record in it): 422, no Patient', async () => {
    await service.store.update(journeyPatient());
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session(byNhsNumber(NEW_PERSON), 'elsewhere', {
        author: { reference: 'Patient/megan-price' },
      }),
    );
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body.issue)).toContain('QuestionnaireResponse.author');
    const holders = await service.store.search('Patient', {
      identifier: `${NHS}|${NEW_PERSON}`,
    });
    expect(holders.total).toBe(0);
    expect((await service.store.search('Patient', {})).total).toBe(1);
  });

  it('an identifier holding a comma is matched as itself, never to another trust’s patient', async () => {
    const other = await service.store.create({
      resourceType: 'Patient',
      identifier: [{ system: 'https://other-trust.example/mrn', value: '12345' }],
    } as Patient);
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session({ identifier: { system: 'https://trust.example/mrn', value: 'X9,12345' } }, 'comma'),
    );
    expect(res.status).toBe(201);
    expect(res.body.subject.reference).not.toBe(`Patient/${other.resource.id ?? ''}`);
    const holders = await service.store.search('Patient', {
      identifier: 'https://trust.example/mrn|X9\\,12345',
    });
    expect(holders.resources.map((p) => `Patient/${p.id ?? ''}`)).toEqual([
      res.body.subject.reference,
    ]);
  });

  it('a session that cannot be extracted (30 February): 422, no Patient', async () => {
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      containedSession(NEW_PERSON, 'impossible-date', '2026-02-30T10:00:00Z'),
    );
    expect(res.status).toBe(422);
    expect((await service.store.search('Patient', {})).total).toBe(0);
    expect((await service.store.search('QuestionnaireResponse', {})).total).toBe(0);
  });

  it('five sessions at once for one new person: one Patient, all five filed against it', async () => {
    const replies = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        fhir(
          service.base,
          'POST',
          '/fhir/QuestionnaireResponse',
          i % 2 === 0
            ? containedSession(ANOTHER_NEW_PERSON, `race-${i}`)
            : session(byNhsNumber(ANOTHER_NEW_PERSON), `race-${i}`),
        ),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    const holders = await service.store.search('Patient', {});
    expect(holders.resources).toHaveLength(1);
    const subject = `Patient/${holders.resources[0]?.id ?? ''}`;
    expect(new Set(replies.map((r) => r.body.subject.reference))).toEqual(new Set([subject]));
    expect((await service.store.search('QuestionnaireResponse', { subject })).total).toBe(5);
    expect((await service.store.search('CarePlan', {})).total).toBe(1);
  });
});

it('a patient token sending a session about a new person: 403, no Patient', async () => {
  const { service, key } = await startServiceWithDevKey();
  try {
    await service.store.update(journeyPatient());
    const token = await mintDevToken(key, {
      scopes: ['patient/*.cruds'],
      patient: 'megan-price',
      fhirUser: 'Patient/megan-price',
    });
    const res = await fhir(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      session(byNhsNumber(NEW_PERSON), 'not-mine'),
      { authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(403);
    expect((await service.store.search('Patient', {})).total).toBe(1);
  } finally {
    await service.close();
  }
});

/** `inner`, with the transaction of the session whose identifier is `held` waiting for `gate`. */
function holding(inner: FhirStore, held: string, gate: Promise<void>, reached: () => void) {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'transaction')
        return async (bundle: Bundle) => {
          const first = bundle.entry?.[0]?.resource as QuestionnaireResponse | undefined;
          if (first?.identifier?.value === held) {
            reached();
            await gate;
          }
          return target.transaction(bundle);
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

describe('a new person registered while their first session is being written', () => {
  it('one Patient, one plan, one Provenance per session, and each session answered as created', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-subject-'));
    const inner = EmbeddedStore.open({ dataDir });
    try {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reached: () => void = () => undefined;
      const atA = new Promise<void>((resolve) => (reached = resolve));
      const service = new FhirService({
        store: new NarratingStore(holding(inner, 'A', gate, reached)),
        validator: sharedValidator(),
        now: () => new Date(),
        newId: () => crypto.randomUUID(),
      });
      const subject = byNhsNumber(NEW_PERSON);
      // A matched nobody and is about to write the new person with its first plan…
      const a = service.create(authOffAccess(), 'QuestionnaireResponse', session(subject, 'A'));
      await atA;
      // …when the person is registered by someone else, and B is matched to that Patient.
      const registered = await inner.create({
        resourceType: 'Patient',
        identifier: [{ system: NHS, value: NEW_PERSON }],
      } as Patient);
      // B names the same NHS number, so in this process it waits for A (FhirService.identities);
      // another replica's B would be matched to that Patient while A is still being written.
      const later = service.create(authOffAccess(), 'QuestionnaireResponse', session(subject, 'B'));
      release();
      const [first, b] = await Promise.all([a, later]);
      const person = `Patient/${registered.resource.id ?? ''}`;
      expect([first.created, b.created]).toEqual([true, true]);
      expect((first.resource as QuestionnaireResponse).subject?.reference).toBe(person);
      expect((b.resource as QuestionnaireResponse).subject?.reference).toBe(person);
      expect((await inner.search('Patient', {})).total).toBe(1);
      expect((await inner.search('CarePlan', {})).total).toBe(1);
      const sessions = (await inner.search('QuestionnaireResponse', { subject: person })).resources;
      expect(sessions).toHaveLength(2);
      for (const qr of sessions)
        expect(
          (await inner.search('Provenance', { target: `QuestionnaireResponse/${qr.id ?? ''}` }))
            .total,
        ).toBe(1);
    } finally {
      await inner.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a new person on the fhir-server store (Medplum fhir-router over HTTP)', () => {
  it('is created by the session’s transaction; racing sessions make one Patient', async () => {
    const server = await startFhirRouterServer();
    const store = openFhirServerStore({ baseUrl: server.baseUrl });
    const app = createApp({
      validator: sharedValidator(),
      store,
      logger: winston.createLogger({ silent: true }),
    });
    try {
      const service: FhirService = app.service;
      const results = await Promise.all(
        [0, 1, 2].map((i) =>
          service.create(
            authOffAccess(),
            'QuestionnaireResponse',
            containedSession(NEW_PERSON, `remote-${i}`),
          ),
        ),
      );
      // (Medplum answers an update that creates with 200, so `created` is not asserted here.)
      expect(new Set(results.map((r) => r.resource.id)).size).toBe(3);
      const patients = (await store.search('Patient', {})).resources;
      expect(patients).toHaveLength(1);
      const subject = `Patient/${patients[0]?.id ?? ''}`;
      expect(results.map((r) => (r.resource as QuestionnaireResponse).subject?.reference)).toEqual([
        subject,
        subject,
        subject,
      ]);
      const sessions = (await store.search('QuestionnaireResponse', { subject })).resources;
      expect(sessions).toHaveLength(3);
      expect((await store.search('CarePlan', { subject })).total).toBe(1);
      for (const qr of sessions)
        expect(
          (await store.search('Provenance', { target: `QuestionnaireResponse/${qr.id ?? ''}` }))
            .resources,
        ).toHaveLength(1);
    } finally {
      await app.close();
      await store.close();
      await server.close();
    }
  });

  it('a refused session leaves no Patient on the server', async () => {
    const server = await startFhirRouterServer();
    const store = new NarratingStore(openFhirServerStore({ baseUrl: server.baseUrl }));
    const service = new FhirService({
      store,
      validator: sharedValidator(),
      now: () => new Date(),
      newId: () => crypto.randomUUID(),
    });
    try {
      await store.update(journeyPatient());
      await expect(
        service.create(
          authOffAccess(),
          'QuestionnaireResponse',
          session(byNhsNumber(NEW_PERSON), 'remote-refused', {
            author: { reference: 'Patient/megan-price' },
          }),
        ),
      ).rejects.toThrow(/not this person/);
      const everyone = (await (await fetch(`${server.baseUrl}Patient`)).json()) as Bundle;
      expect((everyone.entry ?? []).map((e) => e.resource?.id)).toEqual(['megan-price']);
    } finally {
      await store.close();
      await server.close();
    }
  });
});
