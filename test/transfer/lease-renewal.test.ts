/**
 * A delivery slower than its lease keeps its claim: the deliverer renews the lease while the
 * attempt runs, so another deliverer polling meanwhile does not take the Task over, and the Task
 * completes once, in one attempt. An attempt held past `maxLeaseHoldMs` is presumed stuck: its
 * lease runs out, another completes the Task, and the stuck one's late outcome is refused. Two
 * instances of this service over HTTP; the slow attempt is held at its transaction by a gate.
 */
import { Writable } from 'node:stream';
import type { Bundle, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import winston from 'winston';
import { openFhirServerStore, type FhirStore } from '../../src/store';
import { HandoverDeliverer } from '../../src/transfer/deliver';
import { deliveryState } from '../../src/transfer/transfer-task';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import type { TestService } from '../support/service';
import {
  community,
  expectMirrored,
  peersFor,
  requestTransfer,
  settled,
  submit,
  taskOf,
  trusts,
  until,
  ward,
} from './two-trusts';

const silent = winston.createLogger({
  transports: [
    new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, done) => done() }) }),
  ],
});

/** The peer, its step-1 transaction waiting for `gate`; counts the transactions sent. */
function gated(store: FhirStore, gate: Promise<void>, sent: { count: number }): FhirStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'transaction')
        return async (bundle: Bundle) => {
          sent.count++;
          await gate;
          return target.transaction(bundle);
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('lease renewal', () => {
  let open: TestService[] = [];
  afterEach(async () => {
    for (const s of open) await s.close();
    open = [];
  });

  async function started() {
    const t = await trusts();
    open.push(t.community, t.ward);
    await t.community.store.update(journeyPatient());
    await submit(t.community, journeyResponses()[0] as QuestionnaireResponse, 'megan-price');
    await t.community.app.deliverer?.stop();
    const task = await requestTransfer(t.community, 'megan-price', 'ward', 'admission');
    return { ...t, task };
  }

  it('a delivery slower than its lease keeps the Task: completed once, in one attempt', async () => {
    const t = await started();
    const c = t.community;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent = { count: 0 };
    const slow = new HandoverDeliverer({
      store: c.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger: silent,
      // Long enough that a renewal is not missed while this one process (both services, both
      // deliverers) is busy validating the handover (on a loaded machine that has taken over a
      // second); the attempt is still held longer than it.
      leaseMs: 4000,
      // However long the rest of the attempt takes on a busy machine, it is not presumed stuck.
      maxLeaseHoldMs: 60_000,
      remoteFor: (peer) =>
        gated(openFhirServerStore({ baseUrl: peer.baseUrl, retries: 0 }), gate, sent),
    });
    const attempt = slow.runOnce();
    const claimed = await until(
      () => taskOf(c, t.task.id ?? ''),
      (x) => x.status === 'accepted',
    );
    const firstLease = deliveryState(claimed)?.leaseUntil ?? 0;
    expect(firstLease).toBeGreaterThan(0);

    // Another deliverer looks for due Tasks all the while.
    c.app.deliverer?.start();
    // Wait until the first lease has long run out, and the lease has been renewed past it.
    while (Date.now() < firstLease + 1500) await pause(50);
    const held = await taskOf(c, t.task.id ?? '');
    expect(held.status).toBe('accepted');
    expect(deliveryState(held)?.attempts).toBe(1);
    expect(deliveryState(held)?.leaseUntil ?? 0).toBeGreaterThan(firstLease);
    expect(sent.count).toBe(1);

    release();
    expect(await attempt).toBe(1);
    const done = await settled(c, t.task);
    expect(done.status).toBe('completed');
    expect(deliveryState(done)?.attempts).toBe(1);
    // The other deliverer never sent it: the finished Task is not taken up again.
    await pause(100);
    expect((await taskOf(c, t.task.id ?? '')).meta?.versionId).toBe(done.meta?.versionId);
    await expectMirrored(c, t.ward);
  });

  it('an attempt held past maxLeaseHoldMs lets another complete the Task; its late outcome is refused', async () => {
    const t = await started();
    const c = t.community;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stuck = new HandoverDeliverer({
      store: c.store,
      peers: peersFor(community, t.communityUrl, ward, t.wardUrl),
      logger: silent,
      leaseMs: 300,
      maxLeaseHoldMs: 900,
      remoteFor: (peer) =>
        gated(openFhirServerStore({ baseUrl: peer.baseUrl, retries: 0 }), gate, { count: 0 }),
    });
    const attempt = stuck.runOnce();
    await until(
      () => taskOf(c, t.task.id ?? ''),
      (x) => x.status === 'accepted',
    );
    c.app.deliverer?.start();
    const done: Task = await settled(c, t.task);
    expect(done.status).toBe('completed');
    expect(deliveryState(done)?.attempts).toBe(2);

    release();
    await attempt;
    const after = await taskOf(c, t.task.id ?? '');
    expect(after.meta?.versionId).toBe(done.meta?.versionId);
    expect(after.status).toBe('completed');
    await expectMirrored(c, t.ward);
  });
});
