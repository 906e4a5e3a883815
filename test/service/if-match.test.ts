/**
 * src/service/if-match.ts and FhirService.conditionalUpdate: `If-Match: *` on a conditional
 * update (`PUT Type?search`, alone or as a transaction entry) updates the resource the condition
 * matches and never creates one, even when another writer changes that resource between the
 * service's search and its write (review 2026-11-24 s5, finding 6). The race is made every time:
 * the store the service writes through lets another writer in just before the service's write.
 * On both stores: the embedded one and the fhir-server one in front of Medplum's fhir-router.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, RelatedPerson } from '@medplum/fhirtypes';
import { authOffAccess } from '../../src/api/bearer-access';
import { processBundle } from '../../src/service/bundles';
import { FhirService } from '../../src/service/fhir-service';
import { HttpOutcomeError, statusOf } from '../../src/service/outcomes';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../../src/store';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { journeyPatient } from '../store/store-contract';
import { sharedValidator } from '../support/service';

const SYSTEM = 'urn:dialog-fhir:test:carer';
const CONDITION = `identifier=${SYSTEM}|1`;

interface Setup {
  readonly store: FhirStore;
  close(): Promise<void>;
}

const stores: [string, () => Promise<Setup>][] = [
  [
    'embedded',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dialog-if-match-'));
      const store = EmbeddedStore.open({ dataDir: dir });
      return {
        store,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'fhir-server (fhir-router over HTTP)',
    async () => {
      const router = await startFhirRouterServer();
      const store = openFhirServerStore({ baseUrl: router.baseUrl });
      return {
        store,
        close: async () => {
          await store.close();
          await router.close();
        },
      };
    },
  ],
];

/** A carer of the journey's person, found by `urn:…|<key>`. */
const carer = (key: string, name: string, id?: string): RelatedPerson => ({
  resourceType: 'RelatedPerson',
  ...(id !== undefined ? { id } : {}),
  identifier: [{ system: SYSTEM, value: key }],
  patient: { reference: 'Patient/megan-price' },
  name: [{ text: name }],
});

/**
 * `store`, except that the first `times` writes made through it (`update`, `conditionalUpdate`
 * or `transaction`: whichever the service writes with) first let `meanwhile` write — after the
 * service has read what it checks, before its own write reaches the store.
 */
function racing(store: FhirStore, meanwhile: () => Promise<unknown>, times = 1): FhirStore {
  let raced = 0;
  const writes = new Set<PropertyKey>(['update', 'conditionalUpdate', 'transaction']);
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (!writes.has(key)) return bound;
      return async (...args: unknown[]): Promise<unknown> => {
        if (raced < times) {
          raced += 1;
          await meanwhile();
        }
        return bound(...args);
      };
    },
  });
}

const serviceOver = (store: FhirStore): FhirService =>
  new FhirService({
    store,
    validator: sharedValidator(),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
  });

/** What a call threw (its status and OperationOutcome), or undefined. */
async function failure(
  call: Promise<unknown>,
): Promise<{ status: number; code?: string; expression?: string[] } | undefined> {
  try {
    await call;
    return undefined;
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    const issue = (err as HttpOutcomeError).outcome?.issue?.[0];
    return {
      status: statusOf(err),
      ...(issue?.code !== undefined ? { code: issue.code } : {}),
      ...(issue?.expression !== undefined ? { expression: issue.expression } : {}),
    };
  }
}

describe.each(stores)(
  'If-Match: * on a conditional update, racing a writer: %s store',
  (_, start) => {
    let setup: Setup;
    let stored: { id: string };
    beforeEach(async () => {
      setup = await start();
      await setup.store.update(journeyPatient());
      stored = { id: (await setup.store.create(carer('1', 'A'))).resource.id ?? '' };
    });
    afterEach(() => setup.close());

    const carers = async (): Promise<RelatedPerson[]> =>
      (await setup.store.search('RelatedPerson', { patient: 'Patient/megan-price' })).resources;
    /** The other writer: the stored carer, written again with `change`. */
    const edit = (change: Partial<RelatedPerson>) => async (): Promise<unknown> =>
      setup.store.update({ ...(await setup.store.read('RelatedPerson', stored.id)), ...change });
    const moved = { identifier: [{ system: SYSTEM, value: '2' }] };
    const put = (store: FhirStore): Promise<unknown> =>
      serviceOver(store).conditionalUpdate(
        authOffAccess(),
        'RelatedPerson',
        new URLSearchParams(CONDITION),
        carer('1', 'B'),
        '*',
      );
    const transaction = (store: FhirStore): Promise<Bundle> =>
      processBundle(serviceOver(store), authOffAccess(), {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: carer('1', 'B'),
            request: { method: 'PUT', url: `RelatedPerson?${CONDITION}`, ifMatch: '*' },
          },
        ],
      });

    it('PUT: the match no longer matching by the write is a 412 at If-Match, and nothing is created', async () => {
      const fault = await failure(put(racing(setup.store, edit(moved))));
      expect(fault).toEqual({
        status: 412,
        code: 'not-found',
        expression: ['RelatedPerson.meta.versionId'],
      });
      const now = await carers();
      expect(now.map((r) => [r.id, r.identifier?.[0]?.value, r.name?.[0]?.text])).toEqual([
        [stored.id, '2', 'A'],
      ]);
    });

    it('PUT: the match changed but still matching by the write is updated, not refused', async () => {
      const written = (await put(racing(setup.store, edit({ name: [{ text: 'C' }] })))) as {
        resource: RelatedPerson;
        created: boolean;
      };
      expect(written.created).toBe(false);
      expect(written.resource.id).toBe(stored.id);
      const now = await carers();
      expect(now.map((r) => [r.id, r.name?.[0]?.text])).toEqual([[stored.id, 'B']]);
      expect(
        (await setup.store.history('RelatedPerson', stored.id)).map((r) => r.name?.[0]?.text),
      ).toEqual(['B', 'C', 'A']);
    });

    it('PUT: another resource matching by the write is the one updated', async () => {
      let other = '';
      const swap = async (): Promise<void> => {
        await edit(moved)();
        other = (await setup.store.create(carer('1', 'D'))).resource.id ?? '';
      };
      const written = (await put(racing(setup.store, swap))) as { resource: RelatedPerson };
      expect(written.resource.id).toBe(other);
      const now = await carers();
      expect(new Map(now.map((r) => [r.id, r.name?.[0]?.text]))).toEqual(
        new Map([
          [stored.id, 'A'],
          [other, 'B'],
        ]),
      );
    });

    it('PUT: a match changed before every write is a 412 conflict after three tries, nothing of it written', async () => {
      let n = 0;
      const rename = (): Promise<unknown> => edit({ name: [{ text: `C${(n += 1)}` }] })();
      const fault = await failure(put(racing(setup.store, rename, Infinity)));
      expect(fault).toEqual({
        status: 412,
        code: 'conflict',
        expression: ['RelatedPerson.meta.versionId'],
      });
      expect(
        (await setup.store.history('RelatedPerson', stored.id)).map((r) => r.name?.[0]?.text),
      ).toEqual(['C3', 'C2', 'C1', 'A']);
    });

    it('PUT: a body naming another id is a 400; two matches are a 412 multiple-matches', async () => {
      const otherId = serviceOver(setup.store).conditionalUpdate(
        authOffAccess(),
        'RelatedPerson',
        new URLSearchParams(CONDITION),
        carer('1', 'B', 'someone-else'),
        '*',
      );
      expect(await failure(otherId)).toEqual({
        status: 400,
        code: 'invalid',
        expression: ['RelatedPerson.id'],
      });
      await setup.store.create(carer('1', 'D'));
      expect(await failure(put(setup.store))).toEqual({
        status: 412,
        code: 'multiple-matches',
        expression: ['RelatedPerson'],
      });
      expect((await carers()).map((r) => r.name?.[0]?.text).sort()).toEqual(['A', 'D']);
    });

    it('transaction: a change that keeps the match by the write is a 412 at the entry (not tried again)', async () => {
      const fault = await failure(
        transaction(racing(setup.store, edit({ name: [{ text: 'C' }] }))),
      );
      expect(fault?.status).toBe(412);
      expect(fault?.expression).toEqual(['Bundle.entry[0].request.ifMatch']);
      expect((await carers()).map((r) => r.name?.[0]?.text)).toEqual(['C']);
    });

    it('transaction: the match no longer matching by the write is a 412 at the entry, and nothing is created', async () => {
      const fault = await failure(transaction(racing(setup.store, edit(moved))));
      expect(fault?.status).toBe(412);
      expect(fault?.expression).toEqual(['Bundle.entry[0].request.ifMatch']);
      const now = await carers();
      expect(now.map((r) => [r.id, r.identifier?.[0]?.value, r.name?.[0]?.text])).toEqual([
        [stored.id, '2', 'A'],
      ]);
    });

    it('transaction: a second match appearing after the pin does not let the entry move the record to another person', async () => {
      await setup.store.update({ resourceType: 'Patient', id: 'other' });
      // Once the service has searched the condition (the pin), another writer adds a second match
      // before any later search of it.
      let searches = 0;
      const secondMatch = new Proxy(setup.store, {
        get(target, key) {
          const value = Reflect.get(target, key) as unknown;
          if (typeof value !== 'function') return value;
          const bound = (value as (...args: unknown[]) => unknown).bind(target);
          if (key !== 'search') return bound;
          return async (...args: unknown[]): Promise<unknown> => {
            if (args[0] === 'RelatedPerson' && ++searches === 2)
              await target.create({ ...carer('1', 'D'), patient: { reference: 'Patient/other' } });
            return bound(...args);
          };
        },
      });
      const fault = await failure(
        processBundle(serviceOver(secondMatch), authOffAccess(), {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: { ...carer('1', 'B'), patient: { reference: 'Patient/other' } },
              request: { method: 'PUT', url: `RelatedPerson?${CONDITION}`, ifMatch: '*' },
            },
          ],
        }),
      );
      expect(fault?.status).toBe(409);
      const kept = await setup.store.read('RelatedPerson', stored.id);
      expect([kept.patient?.reference, kept.name?.[0]?.text]).toEqual(['Patient/megan-price', 'A']);
    });

    it('transaction: a condition naming another entry is a 400 at the entry’s url, nothing written', async () => {
      const person = 'urn:uuid:11111111-1111-4111-8111-111111111111';
      const fault = await failure(
        processBundle(serviceOver(setup.store), authOffAccess(), {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: person,
              resource: journeyPatient(),
              request: { method: 'PUT', url: 'Patient/megan-price' },
            },
            {
              resource: { ...carer('1', 'B'), patient: { reference: person } },
              request: {
                method: 'PUT',
                url: `RelatedPerson?patient=${person}&${CONDITION}`,
                ifMatch: '*',
              },
            },
          ],
        }),
      );
      expect(fault).toMatchObject({ status: 400, expression: ['Bundle.entry[1].request.url'] });
      expect((await carers()).map((r) => r.name?.[0]?.text)).toEqual(['A']);
    });

    it('transaction: with no race, the one match is updated under its id', async () => {
      const response = await transaction(setup.store);
      expect(response.entry?.[0]?.response?.status).toMatch(/^200/);
      const now = await carers();
      expect(now.map((r) => [r.id, r.name?.[0]?.text])).toEqual([[stored.id, 'B']]);
    });
  },
);
