/**
 * A stored record stays with its person on every store (src/service/bundles.ts,
 * src/store/person-of.ts): over real HTTP, against the embedded store (which checks inside the
 * transaction) and against the fhir-server store in front of Medplum's fhir-router (where the
 * service checks before writing). Conditional `PUT Type?search` entries — how a handover
 * writes — and plan sync's Bundles (checkBundleKeepsPerson) included.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import winston from 'winston';
import { createApp } from '../../src/api/app';
import { checkBundleKeepsPerson } from '../../src/service/bundles';
import { statusOf } from '../../src/service/outcomes';
import { EmbeddedStore, openFhirServerStore, type FhirStore } from '../../src/store';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { fhir, sharedValidator, type Json } from '../support/service';

interface Setup {
  readonly base: string;
  readonly store: FhirStore;
  close(): Promise<void>;
}

async function serve(store: FhirStore, closeStore: () => Promise<void>): Promise<Setup> {
  const app = createApp({
    validator: sharedValidator(),
    store,
    logger: winston.createLogger({ silent: true }),
  });
  const server: Server = app.express.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await app.close();
      await closeStore();
    },
  };
}

const stores: [string, () => Promise<Setup>][] = [
  [
    'embedded',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dialog-person-move-'));
      const store = EmbeddedStore.open({ dataDir: dir });
      return serve(store, async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
    },
  ],
  [
    'fhir-server (fhir-router over HTTP)',
    async () => {
      const router = await startFhirRouterServer();
      const store = openFhirServerStore({ baseUrl: router.baseUrl });
      return serve(store, async () => {
        await store.close();
        await router.close();
      });
    },
  ],
];

const observation = (subject: string, value: number): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system: 'urn:test:obs', value: 'o1' }],
  status: 'final',
  code: { text: 'Sleep, hours a night' },
  valueInteger: value,
  subject: { reference: subject },
});

/** A handover-shaped transaction: the Observation by a condition on its identifier. */
const conditionalEntry = (subject: string, value: number): Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      resource: observation(subject, value),
      request: { method: 'PUT', url: 'Observation?identifier=urn:test:obs|o1' },
    },
  ],
});

describe.each(stores)('a stored record stays with its person: %s store', (_name, start) => {
  let setup: Setup;
  beforeEach(async () => {
    setup = await start();
    for (const id of ['a', 'b']) await setup.store.update({ resourceType: 'Patient', id });
    const first = await setup.store.transaction(conditionalEntry('Patient/a', 6));
    expect(first.entry?.[0]?.response?.status).toMatch(/^20[01]/);
  });
  afterEach(() => setup.close());

  const stored = async (): Promise<Observation[]> =>
    (await setup.store.search('Observation', { identifier: 'urn:test:obs|o1' }))
      .resources as Observation[];

  it('a conditional PUT entry moving its match is a 409 at the entry, and nothing changes', async () => {
    const res = await fhir(setup.base, 'POST', '/fhir', conditionalEntry('Patient/b', 7));
    expect(res.status).toBe(409);
    const body = res.body as Json;
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].code).toBe('conflict');
    expect(body.issue[0].expression).toEqual(['Bundle.entry[0].resource.subject']);
    const now = await stored();
    expect(now).toHaveLength(1);
    expect(now[0]?.subject?.reference).toBe('Patient/a');
    expect(now[0]?.valueInteger).toBe(6);
  });

  it('the same entry for the same person is an ordinary update', async () => {
    const res = await fhir(setup.base, 'POST', '/fhir', conditionalEntry('Patient/a', 8));
    expect(res.status).toBe(200);
    const now = await stored();
    expect(now).toHaveLength(1);
    expect(now[0]?.valueInteger).toBe(8);
  });

  it('plan sync’s check refuses the same Bundle with the conflict it treats as a person move', async () => {
    const err = await checkBundleKeepsPerson(setup.store, conditionalEntry('Patient/b', 7)).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (setup.store.keepsPersons) {
      // The embedded store checks inside its own transaction; nothing to do before it.
      expect(err).toBeUndefined();
      await expect(setup.store.transaction(conditionalEntry('Patient/b', 7))).rejects.toThrow(
        /cannot move it to another person/,
      );
    } else {
      expect(statusOf(err)).toBe(409);
      expect(String((err as Error).message)).toMatch(/cannot move it to another person/);
    }
    expect((await stored())[0]?.subject?.reference).toBe('Patient/a');
  });
});
