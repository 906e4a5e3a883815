import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, CarePlan, Provenance, Resource, ResourceType } from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../../src/fhir/canonical';
import { openEmbeddedStore, type EmbeddedStore } from '../../src/store';
import {
  gatherHandover,
  handoverBundle,
  handoverPlanIdentifier,
  SOURCE_RESOURCE_SYSTEM,
} from '../../src/transfer/handover-bundle';
import { createValidator } from '../../src/validation';
import { EXAMPLES_DIR } from '../support/examples';

const COMMUNITY = 'https://community.example.org/fhir';
const WARD = 'https://ward.example.org/fhir';
const CARRIED: ResourceType[] = [
  'Patient',
  'CarePlan',
  'Goal',
  'QuestionnaireResponse',
  'Observation',
  'Provenance',
  'RelatedPerson',
  'Consent',
];

const dirs: string[] = [];
const stores: EmbeddedStore[] = [];
function newStore(): EmbeddedStore {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-handover-'));
  dirs.push(dir);
  const store = openEmbeddedStore({ dataDir: dir });
  stores.push(store);
  return store;
}
afterAll(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The journey's resources in order (later versions of the plan replace earlier ones). */
function journeyResources(): Resource[] {
  const dir = join(EXAMPLES_DIR, 'journey');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle;
      return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    });
}

/** A Provenance of the plan's last write, with no identifier (R4 Provenance has none). */
const provenance: Provenance = {
  resourceType: 'Provenance',
  id: 'prov-discharge',
  target: [{ reference: 'CarePlan/care-plan-megan-price' }, { reference: 'Patient/megan-price' }],
  recorded: '2025-12-09T12:00:00+00:00',
  agent: [{ who: { reference: 'Practitioner/priya-nair', display: 'Priya Nair' } }],
};

async function community(): Promise<EmbeddedStore> {
  const store = newStore();
  for (const resource of journeyResources()) await store.update(resource);
  await store.update(provenance);
  return store;
}

async function everything(store: EmbeddedStore): Promise<Resource[]> {
  const all: Resource[] = [];
  for (const type of CARRIED) all.push(...(await store.search(type, { _count: '1000' })).resources);
  return all;
}

function versions(resources: readonly Resource[]): Record<string, string> {
  return Object.fromEntries(
    resources.map((r) => [`${r.resourceType}/${r.id ?? ''}`, r.meta?.versionId ?? '']),
  );
}

function countByType(resources: readonly Resource[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of resources) out[r.resourceType] = (out[r.resourceType] ?? 0) + 1;
  return out;
}

/** Every reference in a resource. */
function referencesIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => referencesIn(n, out));
  else if (typeof node === 'object' && node !== null)
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  return out;
}

describe('gatherHandover', () => {
  it('gathers the person, the one plan, its goals, ratings, carers, consent and provenance', async () => {
    const store = await community();
    const record = await gatherHandover(store, 'megan-price');
    expect(record.patient.id).toBe('megan-price');
    expect(record.carePlan?.id).toBe('care-plan-megan-price');
    expect(record.goals.map((g) => g.id)).toHaveLength(5);
    expect(record.responses).toHaveLength(5);
    expect(record.observations.length).toBeGreaterThan(80);
    expect(record.relatedPersons.map((r) => r.id)).toEqual(['hannah-price']);
    expect(record.consents.map((c) => c.id)).toEqual(['consent-share-with-hannah']);
    expect(record.provenance.map((p) => p.id)).toEqual(['prov-discharge']);
    expect(handoverPlanIdentifier(record)).toEqual({
      system: CARE_PLAN_IDENTIFIER_SYSTEM,
      value: '5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913',
    });
  });

  it('reads every page when the person has more than one page of Observations', async () => {
    const store = newStore();
    await store.update({ resourceType: 'Patient', id: 'p' });
    const tx: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 1005 }, (_, i) => ({
        resource: {
          resourceType: 'Observation' as const,
          status: 'final' as const,
          code: { text: `n${i}` },
          subject: { reference: 'Patient/p' },
        },
        request: { method: 'POST' as const, url: 'Observation' },
      })),
    };
    await store.transaction(tx);
    const record = await gatherHandover(store, 'p');
    expect(record.observations).toHaveLength(1005);
    expect(record.carePlan).toBeUndefined();
  });
});

describe('handoverBundle', () => {
  it('is one transaction of conditional writes with stable fullUrls and rewritten references', async () => {
    const store = await community();
    const record = await gatherHandover(store, 'megan-price');
    const bundle = handoverBundle(record, { sourceBaseUrl: `${COMMUNITY}/` });
    expect(bundle.type).toBe('transaction');
    const entries = bundle.entry ?? [];
    expect(entries[0]?.resource?.resourceType).toBe('Patient');
    expect(entries[0]?.request).toEqual({
      method: 'POST',
      url: 'Patient',
      ifNoneExist: 'identifier=https://fhir.nhs.uk/Id/nhs-number|9992468017',
    });
    const fullUrls = entries.map((e) => e.fullUrl ?? '');
    expect(new Set(fullUrls).size).toBe(entries.length);
    for (const url of fullUrls) expect(url).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);

    const planEntry = entries.find((e) => e.resource?.resourceType === 'CarePlan');
    expect(planEntry?.request).toEqual({
      method: 'PUT',
      url: `CarePlan?identifier=${CARE_PLAN_IDENTIFIER_SYSTEM}|5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913`,
    });
    const obs = entries.find((e) => e.resource?.resourceType === 'Observation');
    expect(obs?.request?.url).toMatch(
      /^Observation\?identifier=https:\/\/dialog-fhir\.org\/fhir\/sid\/source-resource\|https:\/\/community\.example\.org\/fhir\/Observation\/obs-/,
    );
    const prov = entries.find((e) => e.resource?.resourceType === 'Provenance');
    expect(prov?.request?.url).toMatch(/^Provenance\/[0-9a-f-]{36}$/);
    expect(prov?.resource?.meta?.source).toBe(`${COMMUNITY}/Provenance/prov-discharge`);

    for (const entry of entries) {
      const r = entry.resource as Resource;
      if (r.resourceType !== 'Provenance') expect(r.id).toBeUndefined();
      expect(r.meta?.versionId).toBeUndefined();
      expect(r.meta?.lastUpdated).toBeUndefined();
      for (const ref of referencesIn(r))
        expect(
          fullUrls.includes(ref) || ref.startsWith(`${COMMUNITY}/`) || ref.startsWith('#'),
        ).toBe(true);
    }
    const plan = planEntry?.resource as CarePlan;
    expect(plan.author).toEqual({
      reference: `${COMMUNITY}/Practitioner/sam-whitfield`,
      display: 'Sam Whitfield',
    });
    expect(plan.subject?.reference).toBe(entries[0]?.fullUrl);
    // The same record gives the same bundle.
    expect(handoverBundle(record, { sourceBaseUrl: COMMUNITY })).toEqual(bundle);
  });

  it('gives every carried resource that validates at the source a bundle body that validates', async () => {
    const validator = createValidator();
    const store = await community();
    const record = await gatherHandover(store, 'megan-price');
    const bundle = handoverBundle(record, { sourceBaseUrl: COMMUNITY });
    const failures = (bundle.entry ?? []).flatMap((entry) => {
      const outcome = validator.validate(entry.resource);
      const errors = outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
      return errors.length > 0 ? [{ fullUrl: entry.fullUrl, errors }] : [];
    });
    expect(failures).toEqual([]);
  });

  it('applied at the destination twice leaves one of each resource, the second time changing nothing', async () => {
    const source = await community();
    const record = await gatherHandover(source, 'megan-price');
    const bundle = handoverBundle(record, { sourceBaseUrl: COMMUNITY });
    const ward = newStore();
    await ward.transaction(structuredClone(bundle));
    const first = await everything(ward);
    expect(countByType(first)).toEqual(countByType(await everything(source)));
    const plans = await ward.search('CarePlan', {
      identifier: `${CARE_PLAN_IDENTIFIER_SYSTEM}|5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913`,
    });
    expect(plans.total).toBe(1);

    // Every relative reference at the destination names a resource it holds.
    const held = new Set(first.map((r) => `${r.resourceType}/${r.id ?? ''}`));
    for (const r of first)
      for (const ref of referencesIn(r))
        if (!ref.startsWith('http') && !ref.startsWith('#')) expect(held).toContain(ref);

    await ward.transaction(structuredClone(bundle));
    const second = await everything(ward);
    expect(versions(second)).toEqual(versions(first));

    // Gathered again at the source after nothing changed: the same bundle.
    expect(
      handoverBundle(await gatherHandover(source, 'megan-price'), { sourceBaseUrl: COMMUNITY }),
    ).toEqual(bundle);
  });

  it('round trip community → ward → community duplicates nothing and leaves the originals as they were', async () => {
    const source = await community();
    const before = await everything(source);
    const record = await gatherHandover(source, 'megan-price');
    const ward = newStore();
    await ward.transaction(
      handoverBundle(record, { sourceBaseUrl: COMMUNITY, destinationBaseUrl: WARD }),
    );
    const wardPatient = (await ward.search('Patient', {})).resources[0];
    const back = handoverBundle(await gatherHandover(ward, wardPatient?.id ?? ''), {
      sourceBaseUrl: WARD,
      destinationBaseUrl: COMMUNITY,
    });
    // What was named by where it came from goes back over its original, by id (the person and
    // the plan have business identifiers of their own).
    for (const entry of back.entry ?? [])
      if (entry.resource?.resourceType === 'Provenance')
        expect(entry.request).toEqual({
          method: 'POST',
          url: 'Provenance',
          ifNoneExist: '_id=prov-discharge',
        });
      else if (!['Patient', 'CarePlan'].includes(entry.resource?.resourceType ?? ''))
        expect(entry.request?.url).toMatch(/^[A-Za-z]+\/[A-Za-z0-9\-.]+$/);
    await source.transaction(back);
    const after = await everything(source);
    expect(versions(after)).toEqual(versions(before));

    // And out again: the ward's copies are matched, not duplicated.
    const wardBefore = versions(await everything(ward));
    await ward.transaction(
      handoverBundle(await gatherHandover(source, 'megan-price'), {
        sourceBaseUrl: COMMUNITY,
        destinationBaseUrl: WARD,
      }),
    );
    expect(versions(await everything(ward))).toEqual(wardBefore);
  });

  it('a ward edit comes home as a new version of the same resource', async () => {
    const source = await community();
    const ward = newStore();
    await ward.transaction(
      handoverBundle(await gatherHandover(source, 'megan-price'), { sourceBaseUrl: COMMUNITY }),
    );
    const [carer] = (await ward.search('RelatedPerson', {})).resources;
    expect(carer?.identifier).toEqual([
      { system: SOURCE_RESOURCE_SYSTEM, value: `${COMMUNITY}/RelatedPerson/hannah-price` },
    ]);
    if (!carer) throw new Error('the carer was not handed over');
    await ward.update({ ...carer, telecom: [{ system: 'phone', value: '07700 900412' }] });
    const [patient] = (await ward.search('Patient', {})).resources;
    await source.transaction(
      handoverBundle(await gatherHandover(ward, patient?.id ?? ''), {
        sourceBaseUrl: WARD,
        destinationBaseUrl: COMMUNITY,
      }),
    );
    const home = await source.read('RelatedPerson', 'hannah-price');
    expect(home.meta?.versionId).toBe('2');
    expect(home.telecom).toEqual([{ system: 'phone', value: '07700 900412' }]);
    expect(home.identifier).toBeUndefined();
    expect((await source.search('RelatedPerson', {})).total).toBe(1);
  });

  it('carries a Provenance without the identifier R4 does not define, under an id named by its origin', () => {
    const withIdentifier = {
      ...provenance,
      identifier: [{ system: 'https://dialog-fhir.org/fhir/sid/session-provenance', value: 'v' }],
    } as Provenance;
    const record = {
      patient: { resourceType: 'Patient' as const, id: 'megan-price' },
      goals: [],
      responses: [],
      observations: [],
      provenance: [withIdentifier],
      relatedPersons: [],
      consents: [],
    };
    const [, entry] = handoverBundle(record, { sourceBaseUrl: COMMUNITY }).entry ?? [];
    expect(entry?.resource).not.toHaveProperty('identifier');
    expect(entry?.resource?.meta?.source).toBe(`${COMMUNITY}/Provenance/prov-discharge`);
    // As the ward holds it (under its own id), going home.
    const atWard = { ...(entry?.resource as Provenance), id: 'at-ward' };
    const [, home] =
      handoverBundle(
        { ...record, provenance: [atWard] },
        { sourceBaseUrl: WARD, destinationBaseUrl: COMMUNITY },
      ).entry ?? [];
    expect(home?.request).toEqual({
      method: 'POST',
      url: 'Provenance',
      ifNoneExist: '_id=prov-discharge',
    });
  });

  it('names a resource whose business identifier another carried resource shares by its origin', () => {
    const shared = { system: 'urn:example:lab', value: '1' };
    const bundle = handoverBundle(
      {
        patient: { resourceType: 'Patient', id: 'p' },
        goals: [],
        responses: [],
        observations: [
          { resourceType: 'Observation', id: 'a', status: 'final', code: {}, identifier: [shared] },
          { resourceType: 'Observation', id: 'b', status: 'final', code: {}, identifier: [shared] },
        ],
        provenance: [],
        relatedPersons: [],
        consents: [],
      },
      { sourceBaseUrl: COMMUNITY },
    );
    const urls = (bundle.entry ?? []).map((e) => e.request?.url);
    expect(new Set(urls).size).toBe(3);
    expect(urls).toContain('Observation?identifier=urn:example:lab|1');
  });
});
