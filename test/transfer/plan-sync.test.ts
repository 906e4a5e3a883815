/**
 * Keeping two systems in step after a handover: `_lastUpdated` polling between two instances of
 * this service over HTTP (edits on both sides merge, a session recorded at the peer arrives, the
 * two settle without writing versions back and forth, the watermark survives a restart of the
 * poller), the rest-hook receiver (a peer's notification names the changed plan, which is pulled
 * at once), polling against Medplum's fhir-router over HTTP, and the capability check that
 * decides between the two.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import type { Basic, CarePlan, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import winston from 'winston';
import { ConfigError, readConfig } from '../../src/cli/config';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../../src/fhir';
import type { Peers } from '../../src/transfer/peers';
import { SYNC_REFUSED_CODE } from '../../src/transfer/sync-refusal';
import {
  focusPlans,
  PlanSync,
  subscriptionSupported,
  SYNC_STATE_EXTENSION,
} from '../../src/transfer/plan-sync';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { offsetIgnoringProxy } from './offset-ignoring-proxy';
import { mintDevToken } from '../../src/auth';
import {
  fhir,
  freePort,
  startService,
  startServiceWithDevKey,
  type TestService,
} from '../support/service';
import {
  all,
  community,
  editPlan,
  FAST,
  NHS,
  type Trusts,
  notes,
  onePlan,
  peersFor,
  submit,
  transfer,
  trusts,
  until,
  ward,
  withNote,
} from './two-trusts';

const quiet = winston.createLogger({
  transports: [
    new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, done) => done() }) }),
  ],
});

/** A logger that keeps each line it is given (JSON), for tests to read. */
function recordingLogger(): { logger: winston.Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = winston.createLogger({
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk: Buffer, _e, done) => {
            warnings.push(chunk.toString('utf8'));
            done();
          },
        }),
      }),
    ],
  });
  return { logger, warnings };
}

function syncFor(service: TestService, peers: Peers): PlanSync {
  return new PlanSync({ store: service.store, peers, logger: quiet });
}

async function conflicts(service: TestService): Promise<unknown[]> {
  return (await all(service, 'Task')).filter((t) =>
    t.code?.coding?.some((c: { code?: string }) => c.code === 'resolve-plan-conflict'),
  );
}

describe('keeping two systems in step after a handover', () => {
  let services: TestService[] = [];

  /** Megan's first session at the community, then her admission to the ward (both services). */
  async function admittedToWard(): Promise<Trusts> {
    const t = await trusts();
    services = [t.community, t.ward];
    const [start] = journeyResponses();
    await t.community.store.update(journeyPatient());
    await submit(t.community, start as QuestionnaireResponse, 'megan-price');
    expect((await transfer(t.community, 'megan-price', 'ward', 'admission')).status).toBe(
      'completed',
    );
    return t;
  }

  afterEach(async () => {
    for (const s of services) await s.close();
    services = [];
  });

  it('polling by _lastUpdated between two instances: both sides’ edits kept, settles, durable', async () => {
    const t = await trusts();
    services = [t.community, t.ward];
    const [start, , review] = journeyResponses();
    await t.community.store.update(journeyPatient());
    await submit(t.community, start as QuestionnaireResponse, 'megan-price');
    expect((await transfer(t.community, 'megan-price', 'ward', 'admission')).status).toBe(
      'completed',
    );
    const atCommunity = syncFor(t.community, peersFor(community, t.communityUrl, ward, t.wardUrl));
    const atWard = syncFor(t.ward, peersFor(ward, t.wardUrl, community, t.communityUrl));

    // Both edit different parts after the handover.
    await editPlan(t.ward, (p) => withNote(p, 'Ward: settled first night'));
    await editPlan(t.community, (p) => withNote(p, 'Community: Hannah will visit on Sunday'));
    const report = await atCommunity.poll('ward');
    expect(report.pulled).toBe(1);
    expect(notes(await onePlan(t.community))).toEqual(
      expect.arrayContaining([
        'Ward: settled first night',
        'Community: Hannah will visit on Sunday',
      ]),
    );
    expect(await conflicts(t.community)).toHaveLength(0);

    // The ward pulls back; then neither side writes anything more.
    await atWard.poll('community');
    const wardPlan = await onePlan(t.ward);
    expect(notes(wardPlan)).toEqual(
      expect.arrayContaining([
        'Ward: settled first night',
        'Community: Hannah will visit on Sunday',
      ]),
    );
    const settledCommunity = await onePlan(t.community);
    await atCommunity.poll('ward');
    await atWard.poll('community');
    await atCommunity.poll('ward');
    expect((await onePlan(t.community)).meta?.versionId).toBe(settledCommunity.meta?.versionId);
    expect((await onePlan(t.ward)).meta?.versionId).toBe(wardPlan.meta?.versionId);

    // A session recorded at the ward arrives at the community with the plan it changed.
    const [wardPatient] = await all(t.ward, 'Patient');
    await submit(t.ward, review as QuestionnaireResponse, String(wardPatient?.id));
    expect((await atCommunity.poll('ward')).pulled).toBe(1);
    expect(await all(t.community, 'QuestionnaireResponse')).toHaveLength(2);
    expect(await all(t.community, 'Patient')).toHaveLength(1);
    expect(await all(t.community, 'CarePlan')).toHaveLength(1);

    // The watermark and what was last pulled are in the store: a new poller pulls nothing again.
    const state = (await t.community.store.read('Basic', 'plan-sync-ward')) as Basic;
    const ext = state.extension?.find((e) => e.url === SYNC_STATE_EXTENSION);
    expect(ext?.extension?.find((e) => e.url === 'since')?.valueInstant).toBeDefined();
    const restarted = syncFor(t.community, peersFor(community, t.communityUrl, ward, t.wardUrl));
    const before = (await onePlan(t.community)).meta?.versionId;
    expect((await restarted.poll('ward')).pulled).toBe(0);
    expect((await onePlan(t.community)).meta?.versionId).toBe(before);
  }, 60_000);

  it('a pulled record the service would refuse from a client is not written; once mended, it is', async () => {
    const t = await admittedToWard();
    const { logger, warnings } = recordingLogger();
    const atCommunity = new PlanSync({
      store: t.community.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger,
      validate: (resource) => t.community.app.service.validate(resource),
    });
    // The ward's system writes its plan with a status FHIR does not have (straight into its
    // store, as a system without this validation might), and a note we can look for.
    const wardPlan = await onePlan(t.ward);
    const broken = {
      ...withNote(wardPlan, 'Ward: written with a broken status'),
      status: 'half-done',
    } as unknown as CarePlan;
    await t.ward.store.update(broken);
    const before = await onePlan(t.community);
    expect((await atCommunity.poll('ward')).pulled).toBe(0);
    const after = await onePlan(t.community);
    expect(after.meta?.versionId).toBe(before.meta?.versionId);
    expect(notes(after)).not.toContain('Ward: written with a broken status');
    const refusal = warnings
      .map((w) => JSON.parse(w))
      .find((w) => /refused a pull/.test(w.message));
    expect(refusal?.peer).toBe('ward');
    expect(JSON.stringify(refusal?.faults)).toContain('CarePlan.status');
    // Never the values themselves.
    expect(warnings.join('\n')).not.toContain('half-done');
    expect(warnings.join('\n')).not.toContain('broken status');
    // A clinician sees it: a Task beside the person's plan, naming where and why, not the values.
    const refusals = async (): Promise<Task[]> =>
      (await all(t.community, 'Task')).filter((task) =>
        (task as Task).code?.coding?.some((c) => c.code === SYNC_REFUSED_CODE.code),
      ) as Task[];
    const [task] = await refusals();
    expect(task?.status).toBe('requested');
    expect(task?.for?.reference).toBe('Patient/megan-price');
    expect(task?.focus?.reference).toBe(`CarePlan/${before.id ?? ''}`);
    expect(task?.description).toContain('ward');
    expect(task?.description).toContain('CarePlan.status');
    expect(JSON.stringify(task)).not.toContain('half-done');
    expect(JSON.stringify(task)).not.toContain('broken status');
    // The same version refused again (a notification naming the plan pulls it again): one Task.
    const refused = (): number => warnings.filter((w) => /refused a pull/.test(w)).length;
    const refusedBefore = refused();
    expect((await atCommunity.notified('ward', await onePlan(t.ward))).pulled).toBe(0);
    expect(refused()).toBeGreaterThan(refusedBefore);
    expect(await refusals()).toHaveLength(1);

    // Mended at the ward: the next poll pulls it.
    await t.ward.store.update({ ...broken, status: 'active' });
    expect((await atCommunity.poll('ward')).pulled).toBe(1);
    expect(notes(await onePlan(t.community))).toContain('Ward: written with a broken status');
  });

  it('a pull that would move a record to another person here is refused with a Task; the poll goes on', async () => {
    const t = await admittedToWard();
    // Someone else is known here; at the ward, Megan's record is misfiled under their NHS number.
    const other = { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' };
    await t.community.store.update({
      resourceType: 'Patient',
      id: 'someone-else',
      identifier: [other],
    });
    const [wardPatient] = await all(t.ward, 'Patient', `&identifier=${NHS}`);
    await t.ward.store.update({ ...(wardPatient as Patient), identifier: [other] });
    await t.ward.store.update(withNote(await onePlan(t.ward), 'Ward: misfiled'));
    const { logger, warnings } = recordingLogger();
    const atCommunity = new PlanSync({
      store: t.community.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger,
    });
    const before = await onePlan(t.community);
    // The poll answers (it used to fail on this plan, and so on every plan after it, for good).
    expect((await atCommunity.poll('ward')).pulled).toBe(0);
    const after = await onePlan(t.community);
    expect(after.meta?.versionId).toBe(before.meta?.versionId);
    expect(after.subject?.reference).toBe('Patient/megan-price');
    expect(warnings.some((w) => /refused a pull: a record it sends/.test(w))).toBe(true);
    expect(warnings.join('\n')).not.toContain('someone-else');
    const tasks = (await all(t.community, 'Task')).filter((task) =>
      (task as Task).code?.coding?.some((c) => c.code === SYNC_REFUSED_CODE.code),
    ) as Task[];
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.for?.reference).toBe('Patient/megan-price');
    expect(tasks[0]?.description).toContain('conflict');
    expect(JSON.stringify(tasks[0])).not.toContain('someone-else');
  });

  it('the rest-hook receiver pulls the plan a peer’s notification names; the service polls by itself', async () => {
    const pc = await freePort();
    const pw = await freePort();
    const cUrl = `http://127.0.0.1:${pc}/fhir`;
    const wUrl = `http://127.0.0.1:${pw}/fhir`;
    const c = await startService({
      port: pc,
      peers: peersFor(community, cUrl, ward, wUrl),
      delivery: FAST,
    });
    const w = await startService({
      port: pw,
      peers: peersFor(ward, wUrl, community, cUrl),
      delivery: { ...FAST, syncPollMs: 20 },
    });
    services = [c, w];
    await c.store.update(journeyPatient());
    await submit(c, journeyResponses()[0] as QuestionnaireResponse, 'megan-price');
    await transfer(c, 'megan-price', 'ward', 'admission');

    // A notification from the ward as a rest-hook (R4B-style notification Bundle) naming its plan.
    const edited = await editPlan(w, (p) => withNote(p, 'Ward: leave agreed for Saturday'));
    const notification = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        {
          resource: {
            resourceType: 'SubscriptionStatus',
            status: 'active',
            type: 'event-notification',
            subscription: { reference: `${wUrl}/Subscription/x` },
            notificationEvent: [
              { eventNumber: '1', focus: { reference: `${wUrl}/CarePlan/${edited.id}` } },
            ],
          },
        },
      ],
    };
    const res = await fhir(c.base, 'POST', '/fhir/$plan-sync-notification/ward', notification);
    expect(res.status).toBe(200);
    expect(res.body.issue[0].details.text).toMatch(/^1 of 1 /);
    expect(notes(await onePlan(c))).toContain('Ward: leave agreed for Saturday');
    // The same notification again changes nothing.
    const version = (await onePlan(c)).meta?.versionId;
    const again = await fhir(c.base, 'POST', '/fhir/$plan-sync-notification/ward', notification);
    expect(again.body.issue[0].details.text).toMatch(/^0 of 1 /);
    expect((await onePlan(c)).meta?.versionId).toBe(version);
    // An unknown peer is refused.
    expect((await fhir(c.base, 'POST', '/fhir/$plan-sync-notification/nobody', {})).status).toBe(
      404,
    );

    // The ward polls the community by itself (syncPollMs): the community's edit arrives.
    await editPlan(c, (p) => withNote(p, 'Community: GP letter sent'));
    await until(
      () => onePlan(w),
      (plan) => notes(plan).includes('Community: GP letter sent'),
    );
    expect(notes(await onePlan(w))).toContain('Ward: leave agreed for Saturday');
  }, 60_000);

  it('polling by _lastUpdated against Medplum’s fhir-router over HTTP', async () => {
    const router = await startFhirRouterServer();
    const routerUrl = router.baseUrl.replace(/\/$/, '');
    try {
      const pc = await freePort();
      const cUrl = `http://127.0.0.1:${pc}/fhir`;
      const peers = peersFor(community, cUrl, ward, routerUrl);
      const c = await startService({ port: pc, peers, delivery: FAST });
      services = [c];
      await c.store.update(journeyPatient());
      await submit(c, journeyResponses()[0] as QuestionnaireResponse, 'megan-price');
      expect((await transfer(c, 'megan-price', 'ward', 'admission')).status).toBe('completed');
      const sync = syncFor(c, peers);
      // fhir-router's metadata does not offer Subscription: polling it is.
      expect(await sync.supportsSubscription(peers.peers[0] as Peers['peers'][number])).toBe(false);

      // Someone edits the plan at the other server.
      const found = (await fetch(`${routerUrl}/CarePlan`).then((r) => r.json())) as {
        entry: { resource: CarePlan }[];
      };
      const theirs = found.entry[0]?.resource as CarePlan;
      const put = await fetch(`${routerUrl}/CarePlan/${theirs.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(withNote(theirs, 'Ward: nursing observations hourly')),
      });
      expect(put.status).toBe(200);
      await editPlan(c, (p) => withNote(p, 'Community: care coordinator told'));

      expect((await sync.poll('ward')).pulled).toBe(1);
      const plan = await onePlan(c);
      expect(notes(plan)).toEqual(
        expect.arrayContaining([
          'Ward: nursing observations hourly',
          'Community: care coordinator told',
        ]),
      );
      expect(await conflicts(c)).toHaveLength(0);
      expect(await all(c, 'Patient')).toHaveLength(1);
      expect((await sync.poll('ward')).pulled).toBe(0);
      expect((await onePlan(c)).meta?.versionId).toBe(plan.meta?.versionId);

      // Both change the same action differently: both versions kept, one conflict to resolve.
      const action = plan.activity?.find((a) => a.id?.startsWith('action-'))?.id;
      expect(action).toBeDefined();
      const described = (p: CarePlan, text: string): CarePlan => ({
        ...p,
        activity: (p.activity ?? []).map((a) =>
          a.id === action
            ? { ...a, detail: { ...a.detail, status: 'in-progress', description: text } }
            : a,
        ),
      });
      const latest = (await fetch(`${routerUrl}/CarePlan/${theirs.id}`).then((r) =>
        r.json(),
      )) as CarePlan;
      const put2 = await fetch(`${routerUrl}/CarePlan/${theirs.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(described(latest, 'Ward: walk with a nurse daily')),
      });
      expect(put2.status).toBe(200);
      await editPlan(c, (p) => described(p, 'Community: walk with Hannah on Sundays'));
      expect((await sync.poll('ward')).pulled).toBe(1);
      const both = (await onePlan(c)).activity?.map((a) => a.detail?.description) ?? [];
      expect(both).toEqual(
        expect.arrayContaining([
          'Ward: walk with a nurse daily',
          'Community: walk with Hannah on Sundays',
        ]),
      );
      expect(await conflicts(c)).toHaveLength(1);
      expect(notes(await onePlan(c))).toEqual(
        expect.arrayContaining([
          'Ward: nursing observations hourly',
          'Community: care coordinator told',
        ]),
      );
    } finally {
      await router.close();
    }
  }, 60_000);

  it('is configured by SYNC_POLL_SECONDS (off unless set)', () => {
    expect(readConfig({}).syncPollMs).toBeUndefined();
    expect(readConfig({ SYNC_POLL_SECONDS: '0' }).syncPollMs).toBeUndefined();
    expect(readConfig({ SYNC_POLL_SECONDS: '30' }).syncPollMs).toBe(30_000);
    expect(() => readConfig({ SYNC_POLL_SECONDS: 'soon' })).toThrow(ConfigError);
  });

  it('reads capability and notifications', () => {
    expect(
      subscriptionSupported({
        rest: [{ resource: [{ type: 'Subscription', interaction: [{ code: 'create' }] }] }],
      }),
    ).toBe(true);
    expect(
      subscriptionSupported({
        rest: [{ resource: [{ type: 'Subscription', interaction: [{ code: 'read' }] }] }],
      }),
    ).toBe(false);
    expect(subscriptionSupported({ rest: [{ resource: [{ type: 'CarePlan' }] }] })).toBe(false);
    expect(subscriptionSupported(undefined)).toBe(false);
    const peer = { ...ward, baseUrl: 'https://ward.example/fhir', auth: { type: 'none' as const } };
    expect(focusPlans({ resourceType: 'CarePlan', id: 'p1' }, peer)).toEqual(['p1']);
    expect(
      focusPlans(
        {
          resourceType: 'Bundle',
          entry: [
            { fullUrl: 'https://ward.example/fhir/CarePlan/p2/_history/3' },
            { fullUrl: 'https://elsewhere.example/fhir/CarePlan/p3' },
            {
              resource: {
                resourceType: 'Parameters',
                parameter: [
                  {
                    name: 'notification-event',
                    part: [{ name: 'focus', valueReference: { reference: 'CarePlan/p4' } }],
                  },
                ],
              },
            },
          ],
        },
        peer,
      ),
    ).toEqual(['p2', 'p4']);
    expect(focusPlans({}, peer)).toEqual([]);
  });
});

describe('asking a peer that supports Subscription for one', () => {
  it('creates one rest-hook Subscription there (conditionally) and then polls it only as a safety net', async () => {
    const seen: {
      method: string;
      url: string;
      ifNoneExist?: string | undefined;
      body?: unknown;
    }[] = [];
    const peerApp = express();
    peerApp.use(express.json({ type: () => true }));
    peerApp.get('/fhir/metadata', (_req, res) => {
      res.type('application/fhir+json').send(
        JSON.stringify({
          resourceType: 'CapabilityStatement',
          rest: [
            {
              mode: 'server',
              resource: [{ type: 'Subscription', interaction: [{ code: 'create' }] }],
            },
          ],
        }),
      );
    });
    peerApp.post('/fhir/Subscription', (req, res) => {
      seen.push({
        method: 'POST',
        url: req.url,
        ifNoneExist: req.get('if-none-exist'),
        body: req.body,
      });
      res
        .status(201)
        .type('application/fhir+json')
        .send(JSON.stringify({ ...req.body, id: 's1', meta: { versionId: '1' } }));
    });
    peerApp.get('/fhir/CarePlan', (req, res) => {
      seen.push({ method: 'GET', url: req.url });
      res
        .type('application/fhir+json')
        .send(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] }));
    });
    const server = peerApp.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    const local = await startService();
    try {
      const peers = peersFor(
        community,
        'http://127.0.0.1:1/fhir',
        ward,
        `http://127.0.0.1:${port}/fhir`,
      );
      const sync = new PlanSync({ store: local.store, peers, logger: quiet, pollMs: 60_000 });
      await sync.pollDue();
      await sync.pollDue();
      const created = seen.filter((s) => s.method === 'POST');
      expect(created).toHaveLength(1);
      const endpoint = 'http://127.0.0.1:1/fhir/$plan-sync-notification/community';
      expect(created[0]?.body).toMatchObject({
        resourceType: 'Subscription',
        criteria: `CarePlan?identifier=${CARE_PLAN_IDENTIFIER_SYSTEM}|`,
        channel: { type: 'rest-hook', endpoint },
      });
      expect(created[0]?.ifNoneExist).toBe(`url=${encodeURIComponent(endpoint)}`);
      // One poll as it subscribed; the second pollDue was not its turn.
      expect(seen.filter((s) => s.method === 'GET')).toHaveLength(1);
    } finally {
      await local.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('a peer that ignores _offset', () => {
  let closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.reverse()) await close();
    closers = [];
  });

  it('150 plan changes at one instant inside the overlap window: one poll reads them all, and the change after them is pulled', async () => {
    const t = await trusts();
    closers.push(
      () => t.community.close(),
      () => t.ward.close(),
    );
    const [start] = journeyResponses();
    await t.community.store.update(journeyPatient());
    await submit(t.community, start as QuestionnaireResponse, 'megan-price');
    expect((await transfer(t.community, 'megan-price', 'ward', 'admission')).status).toBe(
      'completed',
    );
    // The community polls the ward through a proxy that takes `_offset` out of every request.
    const proxy = await offsetIgnoringProxy(t.ward.base);
    closers.push(() => proxy.close());
    const { logger, warnings } = recordingLogger();
    const sync = new PlanSync({
      store: t.community.store,
      peers: peersFor(community, t.communityUrl, ward, proxy.url),
      logger,
    });
    await sync.poll('ward');

    // 150 other people's plans changed in one transaction (one instant, within 5 s of the
    // watermark), then Megan's plan edited at the ward.
    await t.ward.store.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 150 }, (_, i) => ({
        resource: {
          resourceType: 'CarePlan',
          id: `other-${i}`,
          status: 'active',
          intent: 'plan',
          identifier: [{ system: CARE_PLAN_IDENTIFIER_SYSTEM, value: `other-${i}` }],
          subject: { reference: `Patient/other-${i}` },
        } as CarePlan,
        request: { method: 'PUT', url: `CarePlan/other-${i}` },
      })),
    });
    const edit = async (note: string): Promise<void> => {
      const megans = (await t.ward.store.search('CarePlan', {}, { count: 1000 })).resources.find(
        (p) => !p.id?.startsWith('other-'),
      );
      const res = await fhir(
        t.ward.base,
        'PUT',
        `/fhir/CarePlan/${megans?.id ?? ''}`,
        withNote(megans as CarePlan, note),
        { 'if-match': `W/"${megans?.meta?.versionId ?? ''}"` },
      );
      expect(res.status).toBe(200);
    };
    await edit('Ward: settled first night');

    // Every change is looked at (the 150 and Megan's), and hers is pulled.
    expect(await sync.poll('ward')).toEqual({ seen: 151, pulled: 1 });
    expect(notes(await onePlan(t.community))).toContain('Ward: settled first night');
    // The watermark moved past them: a later edit is pulled too (no stall on the same page).
    await edit('Ward: leave agreed for Saturday');
    expect((await sync.poll('ward')).pulled).toBe(1);
    expect(notes(await onePlan(t.community))).toContain('Ward: leave agreed for Saturday');
    // Paged by _lastUpdated only: no page asked for by _offset, nothing to warn about.
    expect(proxy.requests.filter((r) => r.includes('_offset'))).toEqual([]);
    expect(warnings.filter((w) => /"level":"warn"/.test(w))).toEqual([]);
  }, 120_000);
});

describe('a peer whose paging does not end', () => {
  /**
   * A peer answering every CarePlan search with the same full page, 100 plans at one instant (it
   * ignores `_offset`, `_lastUpdated` and `_sort`).
   */
  async function pageRepeatingPeer(): Promise<{
    base: string;
    searches: () => number;
    close(): Promise<void>;
  }> {
    let searches = 0;
    const peerApp = express();
    peerApp.get('/fhir/metadata', (_req, res) => {
      res
        .type('application/fhir+json')
        .send(JSON.stringify({ resourceType: 'CapabilityStatement', rest: [] }));
    });
    peerApp.get('/fhir/:type', (req, res) => {
      searches++;
      const entry =
        req.params.type === 'CarePlan'
          ? Array.from({ length: 100 }, (_, i) => ({
              resource: {
                resourceType: 'CarePlan',
                id: `p${i}`,
                meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00Z' },
                status: 'active',
                intent: 'plan',
                subject: { reference: `Patient/x${i}` },
              },
            }))
          : [];
      res
        .type('application/fhir+json')
        .send(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 500, entry }));
    });
    const server = peerApp.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
      base: `http://127.0.0.1:${port}/fhir`,
      searches: () => searches,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it('a peer that answers every search with the same page: the poll ends, and says so', async () => {
    const peer = await pageRepeatingPeer();
    const local = await startService();
    const { logger, warnings } = recordingLogger();
    try {
      const peers = peersFor(community, 'http://127.0.0.1:1/fhir', ward, peer.base);
      const sync = new PlanSync({ store: local.store, peers, logger, pollMs: 60_000 });
      await sync.pollDue();
      // The page is one instant, read on its own (the same page again); past it (`gt`) the same
      // page once more, out of the range asked for: the walk ends there, not 854 searches on.
      expect(peer.searches()).toBeLessThan(10);
      expect(warnings.join('')).toMatch(/outside the _lastUpdated order or range/);
    } finally {
      await local.close();
      await peer.close();
    }
  }, 60_000);

  /**
   * A peer that ignores `_offset` but honours `_lastUpdated` (its first `ge`/`gt`),
   * `_sort=_lastUpdated`, `_count` and `subject`:
   * 250 changed plans a minute apart and 150 changed Goals half a minute apart, from BASE_TIME.
   */
  const BASE_TIME = Date.parse('2026-01-01T00:00:00Z');
  async function offsetIgnoringPeer(
    options: { onSearch?: (type: string, params: URLSearchParams) => void } = {},
  ): Promise<{ base: string; close(): Promise<void> }> {
    const changes = (type: string, n: number, stepMs: number) =>
      Array.from({ length: n }, (_, i) => ({
        resourceType: type,
        id: `${type.toLowerCase()}${i}`,
        meta: { versionId: '1', lastUpdated: new Date(BASE_TIME + i * stepMs).toISOString() },
        subject: { reference: `Patient/x${i}` },
        ...(type === 'CarePlan' ? { status: 'active', intent: 'plan' } : {}),
      }));
    const held: Record<string, ReturnType<typeof changes>> = {
      CarePlan: changes('CarePlan', 250, 60_000),
      Goal: changes('Goal', 150, 30_000),
    };
    const peerApp = express();
    peerApp.get('/fhir/:type', (req, res) => {
      const params = new URL(req.url, 'http://x').searchParams;
      const since = /^g[et](.+)$/.exec(params.get('_lastUpdated') ?? '')?.[1];
      const after = since ? Date.parse(since) : -Infinity;
      const subject = params.get('subject');
      const matches = (held[req.params.type] ?? []).filter(
        (r) =>
          Date.parse(r.meta.lastUpdated) >= after &&
          (subject === null || r.subject.reference === subject),
      );
      options.onSearch?.(req.params.type, params);
      const page = matches.slice(0, Number(params.get('_count') ?? '100'));
      res.type('application/fhir+json').send(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'searchset',
          total: matches.length,
          entry: page.map((resource) => ({ resource })),
        }),
      );
    });
    const server = peerApp.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
      base: `http://127.0.0.1:${port}/fhir`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it('a peer that ignores _offset: one poll reads every change, paging by _lastUpdated', async () => {
    const peer = await offsetIgnoringPeer();
    const local = await startService();
    const { logger, warnings } = recordingLogger();
    const minutes = async (): Promise<number> => {
      const state = (await local.store.read('Basic', 'plan-sync-ward')) as Basic;
      const ext = state.extension?.find((e) => e.url === SYNC_STATE_EXTENSION);
      const since = ext?.extension?.find((e) => e.url === 'since')?.valueInstant ?? '';
      return (Date.parse(since) - BASE_TIME) / 60_000;
    };
    try {
      const peers = peersFor(community, 'http://127.0.0.1:1/fhir', ward, peer.base);
      const sync = new PlanSync({ store: local.store, peers, logger });
      // All 250 plans and 150 Goals: the watermark at the last change (plan 249).
      expect(await sync.poll('ward')).toEqual({ seen: 250, pulled: 0 });
      expect(await minutes()).toBe(249);
      // From 5 s before it: plan 249 only.
      expect((await sync.poll('ward')).seen).toBe(1);
      expect(await minutes()).toBe(249);
      expect(warnings.filter((w) => /"level":"warn"/.test(w))).toEqual([]);
    } finally {
      await local.close();
      await peer.close();
    }
  }, 60_000);

  it('a poll stopped between pages saves no watermark past what it did not read', async () => {
    let sync: PlanSync | undefined;
    // Stopped as the second page of plans is asked for (the first with a _lastUpdated: the
    // first poll has no watermark): that page is read, the Goals are not.
    const peer = await offsetIgnoringPeer({
      onSearch: (type, params) => {
        if (type === 'CarePlan' && params.has('_lastUpdated')) sync?.stop();
      },
    });
    const local = await startService();
    try {
      const peers = peersFor(community, 'http://127.0.0.1:1/fhir', ward, peer.base);
      sync = new PlanSync({ store: local.store, peers, logger: quiet });
      // The second page starts at plan 99's instant, and plan 99 (read already) is skipped.
      expect((await sync.poll('ward')).seen).toBe(199);
      const state = (await local.store.read('Basic', 'plan-sync-ward')) as Basic;
      const ext = state.extension?.find((e) => e.url === SYNC_STATE_EXTENSION);
      // No Goal was read, so the watermark did not move (it would have passed all 150 Goals).
      expect(ext?.extension?.find((e) => e.url === 'since')).toBeUndefined();
    } finally {
      await local.close();
      await peer.close();
    }
  }, 60_000);

  it('stop ends a poll under way between pages', async () => {
    const peer = await pageRepeatingPeer();
    const local = await startService();
    try {
      const peers = peersFor(community, 'http://127.0.0.1:1/fhir', ward, peer.base);
      const sync = new PlanSync({ store: local.store, peers, logger: quiet, pollMs: 60_000 });
      sync.stop();
      const report = await sync.poll('ward');
      expect(report.seen).toBe(0);
      expect(peer.searches()).toBe(0);
    } finally {
      await local.close();
      await peer.close();
    }
  }, 60_000);
});

describe('who may notify plan changes', () => {
  it('a peer system (system/ scopes) may; a clinician or the person may not (403)', async () => {
    const { service, key } = await startServiceWithDevKey({
      peers: peersFor(community, 'http://127.0.0.1:1/fhir', ward, 'http://127.0.0.1:2/fhir'),
    });
    try {
      const notify = async (scopes: string[], fhirUser?: string) => {
        const token = await mintDevToken(key, { scopes, ...(fhirUser ? { fhirUser } : {}) });
        // A peer this system does not know: a caller allowed to notify learns that (404).
        return fhir(
          service.base,
          'POST',
          '/fhir/$plan-sync-notification/nobody',
          {},
          {
            authorization: `Bearer ${token}`,
          },
        );
      };
      expect((await notify(['system/*.cruds'])).status).toBe(404);
      const clinician = await notify(['user/*.cruds'], 'Practitioner/sam-whitfield');
      expect(clinician.status).toBe(403);
      expect(clinician.body.issue[0].code).toBe('forbidden');
      expect((await notify(['patient/*.cruds'], 'Patient/megan-price')).status).toBe(403);
    } finally {
      await service.close();
    }
  }, 60_000);
});
