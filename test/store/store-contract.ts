/**
 * The contract every FhirStore passes, whatever keeps the data. Not a test file itself: a store's
 * test calls `storeContract(name, open)`, where `open` gives an empty store and the suite closes
 * it after each test. Only the port (`FhirStore`) is used, so the same suite can run against the
 * FHIR-server adapter.
 */
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type {
  Bundle,
  BundleEntry,
  CarePlan,
  Goal,
  Observation,
  Patient,
  QuestionnaireResponse,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import {
  buildCarePlan,
  CARE_PLAN_IDENTIFIER_SYSTEM,
  extractObservations,
  sessionTransaction,
} from '../../src/fhir';
import type { FhirStore } from '../../src/store';
import { journeyResponses } from '../fhir/journey';

export type OpenStore = () => Promise<FhirStore>;

const SYSTEM = 'urn:dialog-fhir:test:mrn';
const OTHER_SYSTEM = 'urn:dialog-fhir:test:other';
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** The types the suite writes: a snapshot of these is the whole store for its purposes. */
const TYPES: ResourceType[] = [
  'Patient',
  'Observation',
  'QuestionnaireResponse',
  'Goal',
  'CarePlan',
  'Task',
];

function patient(value: string, more: Partial<Patient> = {}): Patient {
  return { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }], ...more };
}

function observation(subject: string, status: Observation['status'] = 'final'): Observation {
  return {
    resourceType: 'Observation',
    status,
    code: { text: 'a score' },
    subject: { reference: subject },
    valueInteger: 4,
  };
}

/** The error a call failed with: an OperationOutcomeError with this status and an expression. */
async function failure(call: Promise<unknown>, status: number): Promise<string[]> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(OperationOutcomeError);
  const { outcome } = caught as OperationOutcomeError;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(getStatus(outcome)).toBe(status);
  const [first] = outcome.issue;
  expect(first?.severity).toBe('error');
  expect(first?.expression?.length).toBeGreaterThan(0);
  return first?.expression ?? [];
}

/** Every match of a search, page by page. */
async function everything(
  store: FhirStore,
  type: ResourceType,
  params: Record<string, string> = {},
): Promise<Resource[]> {
  const found: Resource[] = [];
  for (;;) {
    const page = await store.search(type, {
      ...params,
      _count: '50',
      _offset: String(found.length),
    });
    found.push(...page.resources);
    if (page.resources.length === 0 || found.length >= page.total) return found;
  }
}

/** All resources of the suite's types with their full history, in a comparable form. */
async function snapshot(store: FhirStore): Promise<Record<string, Resource[]>> {
  const result: Record<string, Resource[]> = {};
  for (const type of TYPES) {
    for (const resource of await everything(store, type)) {
      result[`${type}/${resource.id ?? ''}`] = await store.history(type, resource.id ?? '');
    }
  }
  return Object.fromEntries(Object.entries(result).sort(([a], [b]) => a.localeCompare(b)));
}

const idsOf = (resources: readonly Resource[]): string[] => resources.map((r) => r.id ?? '').sort();

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const JOURNEY_PLAN_ID = '5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913';
const SUBJECT = 'Patient/megan-price';

/** The person of the example journey, for update-as-create. */
export function journeyPatient(): Patient {
  return {
    resourceType: 'Patient',
    id: 'megan-price',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9992468017' }],
  };
}

/**
 * A journey session's transaction, built from what `store` holds now (as the façade will): the
 * response itself (PUT by id), then `sessionTransaction` of its extracted Observations and the
 * plan built on the stored plan (or on `plan`) and Goals.
 */
export async function journeySessionBundle(
  store: FhirStore,
  qr: QuestionnaireResponse,
  plan?: CarePlan,
): Promise<Bundle> {
  const responses = journeyResponses();
  const history = responses.slice(
    0,
    responses.findIndex((r) => r.id === qr.id),
  );
  const extracted = extractObservations(qr, { history });
  if (!extracted.ok) throw new Error(JSON.stringify(extracted.outcome));
  const existing = plan ?? (await store.search('CarePlan', { subject: SUBJECT })).resources[0];
  const existingGoals = (await store.search('Goal', { subject: SUBJECT }, { count: 100 }))
    .resources;
  const built = buildCarePlan({
    response: qr,
    ...(existing ? { existing } : {}),
    existingGoals,
    history,
    newPlanIdentifier: () => JOURNEY_PLAN_ID,
  });
  if (!built.ok) throw new Error(JSON.stringify(built.outcome));
  const bundle = sessionTransaction(extracted.bundle, built);
  const stored: BundleEntry = {
    resource: qr,
    request: { method: 'PUT', url: `QuestionnaireResponse/${qr.id ?? ''}` },
  };
  return { ...bundle, entry: [stored, ...(bundle.entry ?? [])] };
}

/**
 * What a store behind the port may legitimately do differently: a real FHIR server decides some
 * things the adapter cannot. Every flag defaults to what the embedded store does; a store that
 * differs states it, and the cases concerned then run as separately named tests asserting what it
 * does instead (nothing is skipped silently).
 */
export interface StoreCapabilities {
  /**
   * Version ids are "1", "2", … per resource (embedded, HAPI). Otherwise they are opaque (Medplum
   * uses UUIDs): the cases then check that each write gives a new version id, and use the ids the
   * store gave for `ifMatch`.
   */
  readonly sequentialVersionIds?: boolean;
  /**
   * An update that creates (update-as-create) says so (`created: true`, HTTP 201). Medplum's
   * router answers 200 for it, and the adapter cannot tell it from an update without another read.
   */
  readonly reportsUpdateAsCreate?: boolean;
  /**
   * A reference parameter given a bare id (`subject=megan`) matches that id in any target type, as
   * FHIR search says. Medplum's matcher only matches typed references (`subject=Patient/megan`);
   * the adapter sends `subject:Patient=megan` and `patient=megan` typed, but cannot type a bare id
   * for a parameter with several targets.
   */
  readonly bareReferenceIds?: boolean;
  /**
   * A transaction that fails changes nothing. Medplum's MemoryRepository has no transactions, so
   * a Bundle the server refuses part-way leaves the entries it applied before (HAPI, and Medplum's
   * server with its transactions feature on, are atomic). Failures the adapter finds before sending
   * (a reference to no entry, an unknown parameter in a condition) change nothing on any server.
   */
  readonly atomicTransactions?: boolean;
  /**
   * A comma-separated list of dates means "any of" (`_lastUpdated=ge2000,lt1999`). Medplum refuses
   * it (400), and the adapter cannot turn an either-or of ranges into one query.
   */
  readonly dateAlternatives?: boolean;
  /**
   * A narrative sent is stored as sent (its urn:uuid links resolved). dialog-fhir itself writes
   * its own generated narrative on the resources it narrates (CarePlan, Goal, responses, DIALOG
   * Observations), so behind the service the case checks that narrative instead.
   */
  readonly keepsNarrative?: boolean;
}

const EVERYTHING: Required<StoreCapabilities> = {
  sequentialVersionIds: true,
  reportsUpdateAsCreate: true,
  bareReferenceIds: true,
  atomicTransactions: true,
  dateAlternatives: true,
  keepsNarrative: true,
};

export function storeContract(
  name: string,
  open: OpenStore,
  capabilities: StoreCapabilities = {},
): void {
  const can = { ...EVERYTHING, ...capabilities };
  /** The version id of a resource's first version. */
  const expectFirstVersion = (resource: Resource): void => {
    if (can.sequentialVersionIds) expect(resource.meta?.versionId).toBe('1');
    else expect(resource.meta?.versionId).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
  };
  /** The version id of the `n`th version, written after `before`. */
  const expectNextVersion = (before: Resource, after: Resource, n: number): void => {
    if (can.sequentialVersionIds) expect(after.meta?.versionId).toBe(String(n));
    else {
      expect(after.meta?.versionId).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
      expect(after.meta?.versionId).not.toBe(before.meta?.versionId);
    }
  };
  const etagOf = (resource: Resource | undefined): string =>
    `W/"${resource?.meta?.versionId ?? ''}"`;

  describe(`${name}: the FhirStore contract`, () => {
    let store: FhirStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('create, read, versions and history', () => {
      it('creates with a new id, version 1 and lastUpdated; reads it back', async () => {
        const { resource, created } = await store.create(patient('p1', { id: 'client-choice' }));
        expect(created).toBe(true);
        expect(resource.id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
        expect(resource.id).not.toBe('client-choice');
        expectFirstVersion(resource);
        expect(resource.meta?.lastUpdated).toMatch(INSTANT);
        const read = await store.read('Patient', resource.id ?? '');
        expect(read).toEqual(resource);
      });

      it('replaces versionId and lastUpdated from the caller, keeps the rest of meta', async () => {
        const meta = { versionId: '77', lastUpdated: '2001-01-01T00:00:00Z', source: 'urn:test' };
        const { resource } = await store.create(patient('p1', { meta }));
        expect(resource.meta).toMatchObject({ source: 'urn:test' });
        expect(resource.meta?.versionId).not.toBe('77');
        expectFirstVersion(resource);
        expect(resource.meta?.lastUpdated).not.toBe('2001-01-01T00:00:00Z');
      });

      it('gives copies: changing a result does not change the store', async () => {
        const { resource } = await store.create(patient('p1'));
        resource.identifier = [];
        const read = await store.read('Patient', resource.id ?? '');
        read.active = false;
        expect(await store.read('Patient', resource.id ?? '')).toMatchObject({
          identifier: [{ system: SYSTEM, value: 'p1' }],
        });
        expect((await store.read('Patient', resource.id ?? '')).active).toBeUndefined();
      });

      it('versions every update and keeps the history, newest first', async () => {
        const first = (await store.create(patient('p1'))).resource;
        const second = await store.update({ ...first, active: true });
        expect(second.created).toBe(false);
        expectNextVersion(first, second.resource, 2);
        expect(Date.parse(second.resource.meta?.lastUpdated ?? '')).toBeGreaterThanOrEqual(
          Date.parse(first.meta?.lastUpdated ?? ''),
        );
        const third = await store.update({ ...second.resource, active: false });
        expectNextVersion(second.resource, third.resource, 3);
        const id = first.id ?? '';
        const versionOf = (r: Resource): string => r.meta?.versionId ?? '';
        expect(await store.vread('Patient', id, versionOf(first))).toEqual(first);
        expect(await store.vread('Patient', id, versionOf(second.resource))).toEqual(
          second.resource,
        );
        const history = await store.history('Patient', id);
        expect(history.map(versionOf)).toEqual(
          [third.resource, second.resource, first].map(versionOf),
        );
        expect(history.map((h) => h.active)).toEqual([false, true, undefined]);
      });

      it('says 404 for what is not there, with an expression', async () => {
        await failure(store.read('Patient', 'nobody'), 404);
        await failure(store.history('Patient', 'nobody'), 404);
        const { resource } = await store.create(patient('p1'));
        await failure(store.vread('Patient', resource.id ?? '', '9'), 404);
      });

      it('pages a history newest first, with the total since `since`, as the whole history cut', async () => {
        const first = (await store.create(patient('paged'))).resource;
        let current = first;
        for (const family of ['Price', 'Price-Jones', 'Jones', 'Pryce']) {
          await pause(5); // distinct instants, for `since`
          current = (await store.update({ ...current, name: [{ family }] })).resource;
        }
        const id = first.id ?? '';
        const all = await store.history('Patient', id);
        expect(all).toHaveLength(5);
        const versionOf = (r: Resource): string => r.meta?.versionId ?? '';
        for (const [offset, count, shown] of [
          [0, 2, all.slice(0, 2)],
          [2, 2, all.slice(2, 4)],
          [4, 2, all.slice(4)],
          [5, 2, []],
          [9, 2, []],
          [1, 0, []],
          [0, 20, all],
        ] as const) {
          const page = await store.historyPage('Patient', id, { count, offset });
          expect(page.total).toBe(5);
          expect(page.versions.map(versionOf)).toEqual(shown.map(versionOf));
          expect(page.versions).toEqual(shown);
        }
        // `since`: the versions last updated at or after it (the third and later), then paged.
        const since = Date.parse(all[2]?.meta?.lastUpdated ?? '');
        const kept = all.filter((v) => Date.parse(v.meta?.lastUpdated ?? '') >= since);
        expect(kept.length).toBeGreaterThanOrEqual(3);
        const sincePage = await store.historyPage('Patient', id, { count: 2, offset: 1, since });
        expect(sincePage.total).toBe(kept.length);
        expect(sincePage.versions.map(versionOf)).toEqual(kept.slice(1, 3).map(versionOf));
        // Nothing since: an empty page of a resource that exists, not a 404.
        const later = Date.parse(all[0]?.meta?.lastUpdated ?? '') + 60_000;
        expect(
          await store.historyPage('Patient', id, { count: 2, offset: 0, since: later }),
        ).toEqual({ versions: [], total: 0 });
      });

      it('says 404 for the history page of what is not there, with or without `since`', async () => {
        await failure(store.historyPage('Patient', 'nobody', { count: 2, offset: 0 }), 404);
        await failure(
          store.historyPage('Patient', 'nobody', { count: 0, offset: 3, since: 0 }),
          404,
        );
      });

      it(
        can.reportsUpdateAsCreate
          ? 'updates as create when the client names a new id'
          : 'updates as create when the client names a new id (created is false: the server does not say)',
        async () => {
          const result = await store.update(patient('p1', { id: 'megan-price' }));
          expect(result.created).toBe(can.reportsUpdateAsCreate);
          expect(result.resource.id).toBe('megan-price');
          expectFirstVersion(result.resource);
          expect((await store.read('Patient', 'megan-price')).identifier?.[0]?.value).toBe('p1');
        },
      );

      it('refuses an update without an id, or with a malformed one', async () => {
        await failure(store.update(patient('p1')), 400);
        await failure(store.update(patient('p1', { id: 'not an id!' })), 400);
      });
    });

    describe('If-Match', () => {
      it('updates when ifMatch names the current version', async () => {
        const { resource } = await store.create(patient('p1'));
        const updated = await store.update(
          { ...resource, active: true },
          { ifMatch: etagOf(resource) },
        );
        expectNextVersion(resource, updated.resource, 2);
        const again = await store.update(
          { ...updated.resource, active: false },
          { ifMatch: updated.resource.meta?.versionId ?? '' },
        );
        expectNextVersion(updated.resource, again.resource, 3);
      });

      it('is a 412 on a stale version, and changes nothing', async () => {
        const { resource } = await store.create(patient('p1'));
        await store.update({ ...resource, active: true });
        const before = await snapshot(store);
        await failure(
          store.update({ ...resource, active: false }, { ifMatch: etagOf(resource) }),
          412,
        );
        expect(await snapshot(store)).toEqual(before);
      });

      it('is a 412 when there is no resource to match', async () => {
        await failure(store.update(patient('p1', { id: 'nobody' }), { ifMatch: 'W/"1"' }), 412);
        await failure(store.read('Patient', 'nobody'), 404);
      });

      it('refuses a malformed ETag', async () => {
        const { resource } = await store.create(patient('p1'));
        await failure(store.update(resource, { ifMatch: 'W/"one two"' }), 400);
      });
    });

    describe('If-None-Exist', () => {
      it('creates when nothing matches, returns the match when one does', async () => {
        const condition = `identifier=${SYSTEM}|p1`;
        const first = await store.create(patient('p1'), { ifNoneExist: condition });
        expect(first.created).toBe(true);
        const second = await store.create(patient('p1', { active: true }), {
          ifNoneExist: condition,
        });
        expect(second.created).toBe(false);
        expect(second.resource).toEqual(first.resource);
        expect((await store.search('Patient', { identifier: `${SYSTEM}|p1` })).total).toBe(1);
      });

      it('is a 412 when more than one matches', async () => {
        await store.create(patient('twin'));
        await store.create(patient('twin'));
        const before = await snapshot(store);
        await failure(
          store.create(patient('twin'), { ifNoneExist: `identifier=${SYSTEM}|twin` }),
          412,
        );
        expect(await snapshot(store)).toEqual(before);
      });

      it('refuses a condition with an unknown parameter', async () => {
        await failure(store.create(patient('p1'), { ifNoneExist: 'nickname=meg' }), 400);
      });
    });

    describe('conditional update', () => {
      const condition = `identifier=${SYSTEM}|p1`;

      it('creates when nothing matches, updates the one match', async () => {
        const created = await store.conditionalUpdate(patient('p1'), condition);
        expect(created.created).toBe(true);
        const updated = await store.conditionalUpdate(patient('p1', { active: true }), condition);
        expect(updated.created).toBe(false);
        expect(updated.resource.id).toBe(created.resource.id);
        expectNextVersion(created.resource, updated.resource, 2);
        expect(updated.resource.active).toBe(true);
      });

      it('creates with the body id when nothing matches', async () => {
        const created = await store.conditionalUpdate(patient('p1', { id: 'chosen' }), condition);
        expect(created.resource.id).toBe('chosen');
      });

      it('is a 412 for several matches or a stale ifMatch; 400 for a different body id', async () => {
        const { resource } = await store.create(patient('p1'));
        await failure(store.conditionalUpdate(patient('p1'), condition, { ifMatch: 'W/"2"' }), 412);
        await failure(store.conditionalUpdate(patient('p1', { id: 'other' }), condition), 400);
        await store.create(patient('p1'));
        await failure(store.conditionalUpdate(patient('p1'), condition), 412);
        expect((await store.read('Patient', resource.id ?? '')).meta?.versionId).toBe(
          resource.meta?.versionId,
        );
      });
    });

    describe('search', () => {
      it('finds by _id, one or several', async () => {
        const a = (await store.create(patient('a'))).resource;
        const b = (await store.create(patient('b'))).resource;
        await store.create(patient('c'));
        expect(idsOf((await store.search('Patient', { _id: a.id ?? '' })).resources)).toEqual([
          a.id,
        ]);
        const both = await store.search('Patient', { _id: `${a.id ?? ''},${b.id ?? ''}` });
        expect(idsOf(both.resources)).toEqual(idsOf([a, b]));
        expect((await store.search('Patient', { _id: 'nobody' })).total).toBe(0);
      });

      it('finds by identifier: system|value, value, |value, system|', async () => {
        const a = (await store.create(patient('123'))).resource;
        const b = (
          await store.create({
            resourceType: 'Patient',
            identifier: [{ system: OTHER_SYSTEM, value: '123' }],
          })
        ).resource;
        const c = (await store.create({ resourceType: 'Patient', identifier: [{ value: '123' }] }))
          .resource;
        const find = async (identifier: string): Promise<string[]> =>
          idsOf((await store.search('Patient', { identifier })).resources);
        expect(await find(`${SYSTEM}|123`)).toEqual([a.id]);
        expect(await find('123')).toEqual(idsOf([a, b, c]));
        expect(await find('|123')).toEqual([c.id]);
        expect(await find(`${OTHER_SYSTEM}|`)).toEqual([b.id]);
        expect(await find(`${SYSTEM}|999`)).toEqual([]);
        expect(await find(`${SYSTEM}|123,${OTHER_SYSTEM}|123`)).toEqual(idsOf([a, b]));
      });

      it('finds a QuestionnaireResponse by its single identifier', async () => {
        const qr: QuestionnaireResponse = {
          resourceType: 'QuestionnaireResponse',
          status: 'completed',
          identifier: { system: SYSTEM, value: 'qr-1' },
          subject: { reference: 'Patient/p' },
        };
        const { resource } = await store.create(qr);
        const found = await store.search('QuestionnaireResponse', {
          identifier: `${SYSTEM}|qr-1`,
          status: 'completed',
          patient: 'Patient/p',
        });
        expect(idsOf(found.resources)).toEqual([resource.id]);
      });

      it('needs every repeated parameter to match', async () => {
        const both = (
          await store.create({
            resourceType: 'Patient',
            identifier: [
              { system: SYSTEM, value: 'x' },
              { system: OTHER_SYSTEM, value: 'y' },
            ],
          })
        ).resource;
        await store.create(patient('x'));
        const found = await store.search(
          'Patient',
          new URLSearchParams([
            ['identifier', `${SYSTEM}|x`],
            ['identifier', `${OTHER_SYSTEM}|y`],
          ]),
        );
        expect(idsOf(found.resources)).toEqual([both.id]);
      });

      it(
        can.bareReferenceIds
          ? 'finds by subject and patient references'
          : 'finds by subject and patient references (a bare id in subject, which has several target types, finds nothing here)',
        async () => {
          const forMegan = (await store.create(observation('Patient/megan'))).resource;
          const forGroup = (await store.create(observation('Group/megan'))).resource;
          await store.create(observation('Patient/sam'));
          const find = async (params: Record<string, string>): Promise<string[]> =>
            idsOf((await store.search('Observation', params)).resources);
          expect(await find({ subject: 'Patient/megan' })).toEqual([forMegan.id]);
          expect(await find({ 'subject:Patient': 'megan' })).toEqual([forMegan.id]);
          expect(await find({ subject: 'megan' })).toEqual(
            can.bareReferenceIds ? idsOf([forMegan, forGroup]) : [],
          );
          expect(await find({ patient: 'Patient/megan' })).toEqual([forMegan.id]);
          expect(await find({ patient: 'megan' })).toEqual([forMegan.id]);
          expect(await find({ subject: 'Patient/nobody' })).toEqual([]);
        },
      );

      it('finds by status (any of a list), and Goal by lifecycle-status', async () => {
        const final = (await store.create(observation('Patient/p', 'final'))).resource;
        const amended = (await store.create(observation('Patient/p', 'amended'))).resource;
        await store.create(observation('Patient/p', 'preliminary'));
        expect(idsOf((await store.search('Observation', { status: 'final' })).resources)).toEqual([
          final.id,
        ]);
        const either = await store.search('Observation', { status: 'final,amended' });
        expect(idsOf(either.resources)).toEqual(idsOf([final, amended]));
        const goal: Goal = {
          resourceType: 'Goal',
          lifecycleStatus: 'active',
          description: { text: 'sleep better' },
          subject: { reference: 'Patient/p' },
        };
        const { resource } = await store.create(goal);
        const goals = await store.search('Goal', {
          'lifecycle-status': 'active',
          patient: 'Patient/p',
        });
        expect(idsOf(goals.resources)).toEqual([resource.id]);
        await failure(store.search('Goal', { status: 'active' }), 400);
      });

      it(
        can.dateAlternatives
          ? 'finds by _lastUpdated with eq, gt, ge, lt and le'
          : 'finds by _lastUpdated with eq, gt, ge, lt and le (a list of dates is a 400 here)',
        async () => {
          const written: Patient[] = [];
          for (const value of ['t1', 't2', 't3']) {
            written.push((await store.create(patient(value))).resource);
            await pause(5);
          }
          const times = written.map((p) => p.meta?.lastUpdated ?? '');
          expect(new Set(times).size).toBe(3);
          const middle = times[1] ?? '';
          const at = Date.parse(middle);
          const expected = (test: (t: number) => boolean): string[] =>
            idsOf(written.filter((p) => test(Date.parse(p.meta?.lastUpdated ?? ''))));
          const find = async (value: string): Promise<string[]> =>
            idsOf(
              (await store.search('Patient', { _lastUpdated: value, identifier: `${SYSTEM}|` }))
                .resources,
            );
          expect(await find(`gt${middle}`)).toEqual(expected((t) => t > at));
          expect(await find(`ge${middle}`)).toEqual(expected((t) => t >= at));
          expect(await find(`lt${middle}`)).toEqual(expected((t) => t < at));
          expect(await find(`le${middle}`)).toEqual(expected((t) => t <= at));
          expect(await find(middle)).toEqual(expected((t) => t === at));
          expect(await find(`eq${middle}`)).toEqual(expected((t) => t === at));
          expect(await find(`gt${middle}`)).toHaveLength(1);
          const day = new Date(at).toISOString().slice(0, 10);
          expect(await find(day)).toEqual(
            expected((t) => new Date(t).toISOString().startsWith(day)),
          );
          expect(await find('lt2000-01-01')).toEqual([]);
          if (can.dateAlternatives)
            expect(await find('ge2000-01-01,lt1999')).toEqual(idsOf(written));
          else await failure(find('ge2000-01-01,lt1999'), 400);
          const range = new URLSearchParams([
            ['_lastUpdated', `ge${times[0] ?? ''}`],
            ['_lastUpdated', `lt${times[2] ?? ''}`],
          ]);
          expect(idsOf((await store.search('Patient', range)).resources)).toEqual(
            idsOf(written.slice(0, 2)),
          );
        },
      );

      it('pages with _count and _offset, and totals every match', async () => {
        for (let i = 0; i < 5; i++) await store.create(patient(`page-${i}`));
        await store.create({
          resourceType: 'Patient',
          identifier: [{ system: OTHER_SYSTEM, value: 'z' }],
        });
        const params = { identifier: `${SYSTEM}|` };
        const seen: string[] = [];
        for (const offset of [0, 2, 4]) {
          const page = await store.search('Patient', {
            ...params,
            _count: '2',
            _offset: String(offset),
          });
          expect(page.total).toBe(5);
          expect(page.offset).toBe(offset);
          expect(page.count).toBe(2);
          seen.push(...page.resources.map((r) => r.id ?? ''));
        }
        expect(seen).toHaveLength(5);
        expect(new Set(seen).size).toBe(5);
        const countOnly = await store.search('Patient', { ...params, _count: '0' });
        expect(countOnly.resources).toEqual([]);
        expect(countOnly.total).toBe(5);
        const byOptions = await store.search('Patient', params, { count: 3, offset: 1 });
        expect(byOptions.resources).toHaveLength(3);
        expect(byOptions.offset).toBe(1);
      });

      it('sorts by _lastUpdated either way', async () => {
        for (const value of ['s1', 's2', 's3']) {
          await store.create(patient(value));
          await pause(2);
        }
        const up = await store.search('Patient', { _sort: '_lastUpdated' });
        const down = await store.search('Patient', { _sort: '-_lastUpdated' });
        const values = (r: readonly Patient[]): (string | undefined)[] =>
          r.map((p) => p.identifier?.[0]?.value);
        expect(values(up.resources)).toEqual(['s1', 's2', 's3']);
        expect(values(down.resources)).toEqual(['s3', 's2', 's1']);
      });

      it.each([
        ['an unknown parameter', { nickname: 'meg' }, 'nickname'],
        ['a parameter of another type', { 'lifecycle-status': 'active' }, 'lifecycle-status'],
        ['an unsupported modifier', { 'identifier:text': 'meg' }, 'identifier'],
        ['an unsupported prefix', { _lastUpdated: 'sa2025-01-01' }, '_lastUpdated'],
        ['a malformed date', { _lastUpdated: 'ge2025-13-01' }, '_lastUpdated'],
        ['an unsupported sort', { _sort: 'status' }, '_sort'],
        ['a malformed count', { _count: 'ten' }, '_count'],
        ['an empty value', { status: '' }, 'status'],
        ['an absolute reference', { subject: 'https://elsewhere.example/Patient/1' }, 'subject'],
      ])('refuses %s with a 400 naming it', async (_what, params, where) => {
        await store.create(observation('Patient/p'));
        expect(await failure(store.search('Observation', params), 400)).toEqual([where]);
      });
    });

    describe('transactions', () => {
      function newPersonBundle(value: string): Bundle {
        const person = 'urn:uuid:7f3c8a52-51b4-4a3e-9d2c-1b7e0c6a9f10';
        const goal = 'urn:uuid:2b9f4c1e-8d3a-4f6b-a2c5-9e1d7f0b3a64';
        return {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:5a1e2d3c-4b5f-4e6a-8b7c-9d0e1f2a3b4c',
              resource: {
                resourceType: 'CarePlan',
                status: 'active',
                intent: 'plan',
                identifier: [{ system: SYSTEM, value: `plan-${value}` }],
                subject: { reference: person },
                goal: [{ reference: goal }],
                text: {
                  status: 'generated',
                  div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${goal}">goal</a></div>`,
                },
              },
              request: { method: 'PUT', url: `CarePlan?identifier=${SYSTEM}|plan-${value}` },
            },
            {
              fullUrl: goal,
              resource: {
                resourceType: 'Goal',
                lifecycleStatus: 'active',
                description: { text: 'sleep better' },
                subject: { reference: person },
              },
              request: { method: 'POST', url: 'Goal' },
            },
            {
              fullUrl: person,
              resource: patient(value),
              request: {
                method: 'POST',
                url: 'Patient',
                ifNoneExist: `identifier=${SYSTEM}|${value}`,
              },
            },
          ],
        };
      }

      it('applies every entry and resolves urn:uuid references to the ids given', async () => {
        const response = await store.transaction(newPersonBundle('n1'));
        expect(response.resourceType).toBe('Bundle');
        expect(response.type).toBe('transaction-response');
        const entries = response.entry ?? [];
        expect(entries.map((e) => e.response?.status?.slice(0, 3))).toEqual(['201', '201', '201']);
        const [planEntry, goalEntry, personEntry] = entries;
        const plan = planEntry?.resource as CarePlan;
        const goal = goalEntry?.resource as Goal;
        const person = personEntry?.resource as Patient;
        for (const entry of entries) {
          const r = entry.resource as Resource;
          expect(entry.response?.location).toBe(
            `${r.resourceType}/${r.id ?? ''}/_history/${r.meta?.versionId ?? ''}`,
          );
          expect(entry.response?.etag).toBe(etagOf(r));
          expectFirstVersion(r);
        }
        const stored = await store.read('CarePlan', plan.id ?? '');
        expect(stored.subject?.reference).toBe(`Patient/${person.id ?? ''}`);
        expect(stored.goal?.[0]?.reference).toBe(`Goal/${goal.id ?? ''}`);
        if (can.keepsNarrative) expect(stored.text?.div).toContain(`href="Goal/${goal.id ?? ''}"`);
        else expect(stored.text?.status).toBe('generated');
        expect(JSON.stringify(stored)).not.toContain('urn:uuid');
        expect((await store.read('Goal', goal.id ?? '')).subject?.reference).toBe(
          `Patient/${person.id ?? ''}`,
        );
        const byPatient = await store.search('CarePlan', { patient: `Patient/${person.id ?? ''}` });
        expect(idsOf(byPatient.resources)).toEqual([plan.id]);
      });

      it('resolves a conditional create that matched to the existing resource', async () => {
        const existing = (await store.create(patient('n1'))).resource;
        const response = await store.transaction(newPersonBundle('n1'));
        const statuses = (response.entry ?? []).map((e) => e.response?.status?.slice(0, 3));
        expect(statuses).toEqual(['201', '201', '200']);
        expect((response.entry?.[2]?.resource as Patient).id).toBe(existing.id);
        const plan = response.entry?.[0]?.resource as CarePlan;
        expect(plan.subject?.reference).toBe(`Patient/${existing.id ?? ''}`);
        expect((await store.read('Patient', existing.id ?? '')).meta?.versionId).toBe(
          existing.meta?.versionId,
        );
        expect((await store.search('Patient', { identifier: `${SYSTEM}|n1` })).total).toBe(1);
      });

      it('updates by plain and conditional PUT with ifMatch, and reads with GET', async () => {
        const first = await store.transaction(newPersonBundle('n1'));
        const plan = first.entry?.[0]?.resource as CarePlan;
        const person = first.entry?.[2]?.resource as Patient;
        const response = await store.transaction({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: { ...plan, status: 'completed' },
              request: {
                method: 'PUT',
                url: `CarePlan?identifier=${SYSTEM}|plan-n1`,
                ifMatch: etagOf(plan),
              },
            },
            {
              resource: { ...person, active: true },
              request: {
                method: 'PUT',
                url: `Patient/${person.id ?? ''}`,
                ifMatch: etagOf(person),
              },
            },
            { request: { method: 'GET', url: `Patient/${person.id ?? ''}` } },
            {
              request: {
                method: 'GET',
                url: `Patient/${person.id ?? ''}/_history/${person.meta?.versionId ?? ''}`,
              },
            },
            { request: { method: 'GET', url: `CarePlan?status=completed` } },
          ],
        });
        const entries = response.entry ?? [];
        expect(entries.map((e) => e.response?.status?.slice(0, 3))).toEqual([
          '200',
          '200',
          '200',
          '200',
          '200',
        ]);
        expect(entries[0]?.response?.etag).toBe(etagOf(entries[0]?.resource));
        expectNextVersion(plan, entries[0]?.resource as CarePlan, 2);
        expect((entries[2]?.resource as Patient).active).toBe(true);
        expect((entries[3]?.resource as Patient).active).toBeUndefined();
        const searchset = entries[4]?.resource as Bundle;
        expect(searchset.type).toBe('searchset');
        expect(searchset.entry?.map((e) => e.resource?.id)).toEqual([plan.id]);
      });

      describe('all or nothing', () => {
        async function seeded(): Promise<{ person: Patient; plan: CarePlan }> {
          const response = await store.transaction(newPersonBundle('seed'));
          const plan = response.entry?.[0]?.resource as CarePlan;
          const person = response.entry?.[2]?.resource as Patient;
          await store.update({ ...person, active: true });
          return { person, plan };
        }

        /** Writes that would succeed, then the failing entry. */
        function withFailure(person: Patient, failing: BundleEntry): Bundle {
          const bundle = newPersonBundle('fresh');
          return {
            ...bundle,
            entry: [
              ...(bundle.entry ?? []),
              {
                resource: { ...person, active: false, gender: 'female' },
                request: { method: 'PUT', url: `Patient/${person.id ?? ''}` },
              },
              {
                resource: observation('Patient/seed'),
                request: { method: 'POST', url: 'Observation' },
              },
              failing,
            ],
          };
        }

        const cases: [
          string,
          number,
          string,
          (s: { person: Patient; plan: CarePlan }) => BundleEntry,
        ][] = [
          [
            'a GET of a history (a transaction reads a resource or a version)',
            400,
            'Bundle.entry[5].request.url',
            ({ person }) => ({
              request: { method: 'GET', url: `Patient/${person.id ?? ''}/_history` },
            }),
          ],
          [
            'a stale ifMatch',
            412,
            'Bundle.entry[5].request.ifMatch',
            ({ plan }) => ({
              resource: plan,
              request: { method: 'PUT', url: `CarePlan/${plan.id ?? ''}`, ifMatch: 'W/"7"' },
            }),
          ],
          [
            'a conditional create matching two',
            412,
            'Bundle.entry[5].request.ifNoneExist',
            () => ({
              resource: patient('seed'),
              request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|` },
            }),
          ],
          [
            'a read of nothing',
            404,
            'Bundle.entry[5].request.url',
            () => ({ request: { method: 'GET', url: 'Patient/nobody' } }),
          ],
          [
            'a reference to no entry',
            400,
            'Bundle.entry[5].resource.subject.reference',
            () => ({
              resource: observation('urn:uuid:00000000-0000-4000-8000-000000000000'),
              request: { method: 'POST', url: 'Observation' },
            }),
          ],
          [
            'an unknown search parameter in a condition',
            400,
            'Bundle.entry[5].request.url',
            () => ({
              resource: patient('x'),
              request: { method: 'PUT', url: 'Patient?nickname=x' },
            }),
          ],
        ];

        it.each(cases)(
          can.atomicTransactions
            ? 'leaves the store exactly as it was after %s'
            : 'reports %s at its entry (entries before it may stay applied on this server)',
          async (_what, status, where, failing) => {
            const seed = await seeded();
            await store.create(patient('seed'));
            const before = await snapshot(store);
            expect(Object.keys(before).length).toBeGreaterThan(0);
            expect(
              await failure(store.transaction(withFailure(seed.person, failing(seed))), status),
            ).toEqual([where]);
            if (!can.atomicTransactions) return;
            expect(await snapshot(store)).toEqual(before);
            expect((await store.search('Patient', { identifier: `${SYSTEM}|fresh` })).total).toBe(
              0,
            );
          },
        );
      });

      it('refuses a bundle that is not a transaction', async () => {
        await failure(store.transaction({ resourceType: 'Bundle', type: 'collection' }), 400);
      });
    });

    describe('a DIALOG+ session as one transaction (the example journey)', () => {
      const responses = journeyResponses();
      const sessionBundle = (qr: QuestionnaireResponse, plan?: CarePlan): Promise<Bundle> =>
        journeySessionBundle(store, qr, plan);

      async function counts(): Promise<Record<string, number>> {
        const result: Record<string, number> = {};
        for (const type of TYPES) result[type] = (await store.search(type, { _count: '0' })).total;
        return result;
      }

      it('stores every session once, and applying a session again adds nothing', async () => {
        await store.update(journeyPatient());
        // What the bundles asked for, by business identifier: the store must hold exactly that.
        const asked: Record<string, Set<string>> = { Observation: new Set(), Goal: new Set() };
        for (const qr of responses) {
          const bundle = await sessionBundle(qr);
          for (const entry of bundle.entry ?? []) {
            const r = entry.resource as (Observation | Goal) | undefined;
            const identifier = r?.identifier?.[0];
            if (r && identifier)
              asked[r.resourceType]?.add(`${identifier.system ?? ''}|${identifier.value ?? ''}`);
          }
          const response = await store.transaction(bundle);
          expect(response.entry).toHaveLength(bundle.entry?.length ?? 0);
          const after = await counts();
          expect(after).toMatchObject({
            CarePlan: 1,
            QuestionnaireResponse: responses.indexOf(qr) + 1,
            Observation: asked.Observation?.size,
            Goal: asked.Goal?.size,
          });
          // The same session again, built from what is stored now: nothing new.
          await store.transaction(await sessionBundle(qr));
          expect(await counts()).toEqual(after);
        }
        expect(asked.Observation?.size).toBeGreaterThan(0);
        expect(asked.Goal?.size).toBeGreaterThan(0);
        const plans = await store.search('CarePlan', {
          identifier: `${CARE_PLAN_IDENTIFIER_SYSTEM}|${JOURNEY_PLAN_ID}`,
          patient: SUBJECT,
        });
        expect(plans.total).toBe(1);
        const plan = plans.resources[0];
        const refs = JSON.stringify(plan);
        expect(refs).not.toContain('urn:uuid');
        for (const goal of plan?.goal ?? []) {
          const [type, id] = (goal.reference ?? '').split('/');
          expect(type).toBe('Goal');
          await expect(store.read('Goal', id ?? '')).resolves.toMatchObject({
            resourceType: 'Goal',
          });
        }
      });

      it('re-applies the first session bundle unchanged without duplicates', async () => {
        await store.update(journeyPatient());
        const [first] = responses;
        if (!first) throw new Error('no journey');
        const bundle = await sessionBundle(first);
        await store.transaction(bundle);
        const once = await counts();
        await store.transaction(bundle);
        expect(await counts()).toEqual(once);
      });

      it(
        can.atomicTransactions
          ? 'refuses a session built on an out-of-date plan, changing nothing'
          : 'refuses a session built on an out-of-date plan (entries before it may stay applied on this server)',
        async () => {
          await store.update(journeyPatient());
          const [first, second, third] = responses;
          if (!first || !second || !third) throw new Error('no journey');
          await store.transaction(await sessionBundle(first));
          const planV1 = (await store.search('CarePlan', { subject: SUBJECT })).resources[0];
          await store.transaction(await sessionBundle(second));
          const before = await snapshot(store);
          const stale = await sessionBundle(third, planV1);
          const planEntry = (stale.entry ?? []).findIndex(
            (e) => e.resource?.resourceType === 'CarePlan',
          );
          expect(await failure(store.transaction(stale), 412)).toEqual([
            `Bundle.entry[${planEntry}].request.ifMatch`,
          ]);
          if (can.atomicTransactions) expect(await snapshot(store)).toEqual(before);
        },
      );
    });
  });
}
