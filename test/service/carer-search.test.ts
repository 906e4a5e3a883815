/**
 * FhirService.search for a carer: the page, the total and what is read. A type the person's
 * Consent shares none of is answered without reading on; a type it shares whole is the store's
 * own page; otherwise every match is read and the view paged. Each answer is checked against the
 * view applied to every stored match, paged by hand.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consent, ConsentProvision, Observation, Resource } from '@medplum/fhirtypes';
import { consentTypeShare, consentView, contextFromClaims } from '../../src/auth';
import { accessOfContext } from '../../src/api/bearer-access';
import type { Access } from '../../src/service/access';
import { FhirService } from '../../src/service/fhir-service';
import { EmbeddedStore, type FhirStore } from '../../src/store';
import { createValidator } from '../../src/validation';

const PATIENT = 'megan-price';
const NOW = new Date('2026-11-24T10:00:00Z');
const STORED = 60;
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';

let dir: string;
let store: EmbeddedStore;
let searches: number;
let service: FhirService;

/** The store, counting its searches. */
function counting(target: EmbeddedStore): FhirStore {
  return new Proxy(target, {
    get(t, property) {
      const value: unknown = Reflect.get(t, property, t);
      if (property === 'search') searches++;
      return typeof value === 'function' ? (value as () => unknown).bind(t) : value;
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-carer-search-'));
  store = EmbeddedStore.open({ dataDir: dir, now: () => NOW });
  await store.update({ resourceType: 'Patient', id: PATIENT });
  for (let i = 0; i < STORED; i++) {
    const observation: Observation = {
      resourceType: 'Observation',
      id: `obs-${String(i).padStart(2, '0')}`,
      status: 'final',
      // Every third one carries code `a`.
      code: { coding: [{ system: 'urn:x', code: i % 3 === 0 ? 'a' : 'b' }] },
      subject: { reference: `Patient/${PATIENT}` },
    };
    await store.update(observation);
  }
  service = new FhirService({
    store: counting(store),
    validator: createValidator(),
    now: () => NOW,
    newId: () => 'unused',
  });
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const hannah = contextFromClaims({
  sub: 'h',
  fhirUser: 'RelatedPerson/hannah-price',
  patient: PATIENT,
  scope: 'patient/*.rs',
});

function consent(provision: ConsentProvision): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ text: 'sharing with a carer' }],
    patient: { reference: `Patient/${PATIENT}` },
    provision,
  };
}

const permitObservations = (extra: Partial<ConsentProvision> = {}): ConsentProvision => ({
  type: 'permit',
  actor: [{ role: { text: 'carer' }, reference: { reference: 'RelatedPerson/hannah-price' } }],
  class: [{ system: RESOURCE_TYPES, code: 'Observation' }],
  ...extra,
});

function carerAccess(consents: Consent[]): Access {
  const view = consentView(hannah, consents, NOW);
  return accessOfContext(
    hannah,
    <T extends Resource>(r: T) => view(r) as T | undefined,
    consentTypeShare(hannah, consents, NOW),
  );
}

/** What the carer should get: the view of every stored match, paged by hand. */
async function expected(consents: Consent[], offset: number, count: number) {
  const view = consentView(hannah, consents, NOW);
  // Every match in the order a search gives them, as a clinician finds them.
  const clinician = accessOfContext(contextFromClaims({ sub: 'c', scope: 'user/*.rs' }));
  const all = await service.search(clinician, 'Observation', new URLSearchParams('_count=1000'));
  const shown = all.resources.flatMap((r) => view(r) ?? []);
  return { ids: shown.slice(offset, offset + count).map((r) => r.id), total: shown.length };
}

async function searchAs(access: Access, query: string) {
  searches = 0;
  const found = await service.search(access, 'Observation', new URLSearchParams(query));
  return { ids: found.resources.map((r) => r.id), total: found.total, searches };
}

describe('a carer’s search', () => {
  it('of a type the Consent shares none of: nothing, after one store search', async () => {
    const consents = [
      consent({ ...permitObservations(), class: [{ system: RESOURCE_TYPES, code: 'CarePlan' }] }),
    ];
    const got = await searchAs(carerAccess(consents), '_count=10&_offset=20');
    expect(got).toEqual({ ids: [], total: 0, searches: 1 });
    expect(await expected(consents, 20, 10)).toEqual({ ids: [], total: 0 });
  });

  it('of a type shared whole: the store’s page and total, after one store search', async () => {
    const consents = [consent(permitObservations())];
    const got = await searchAs(carerAccess(consents), '_count=10&_offset=20');
    expect(got.searches).toBe(1);
    expect({ ids: got.ids, total: got.total }).toEqual(await expected(consents, 20, 10));
    expect(got.total).toBe(STORED);
    expect(got.ids).toHaveLength(10);
  });

  it('of a type shared by code: every match read, the shared ones paged and counted', async () => {
    const consents = [
      consent(permitObservations({ code: [{ coding: [{ system: 'urn:x', code: 'a' }] }] })),
    ];
    const got = await searchAs(carerAccess(consents), '_count=5&_offset=5');
    expect(got.searches).toBeGreaterThan(1);
    expect({ ids: got.ids, total: got.total }).toEqual(await expected(consents, 5, 5));
    expect(got.total).toBe(STORED / 3);
  });

  it('of a type shared whole but for a coded deny: read and filtered as by code', async () => {
    const consents = [
      consent(
        permitObservations({
          provision: [{ type: 'deny', code: [{ coding: [{ system: 'urn:x', code: 'a' }] }] }],
        }),
      ),
    ];
    const got = await searchAs(carerAccess(consents), '_count=7&_offset=3');
    expect(got.searches).toBeGreaterThan(1);
    expect({ ids: got.ids, total: got.total }).toEqual(await expected(consents, 3, 7));
    expect(got.total).toBe(STORED - STORED / 3);
  });
});
