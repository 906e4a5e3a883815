/**
 * Handover delivery when the destination misbehaves (issue 5 §4): a community service hands the
 * plan to a real ward service through a misbehaving loopback proxy (fault-proxy.ts) — nothing
 * listening, slow beyond the timeout, 429 with Retry-After, 500, connections reset before and
 * after the write, the plan edited at the ward between our read and our write (412), and a ward
 * that answers 200 but stores nothing. Each ends completed once the fault clears, or as a failed
 * Task with a reason a person can read (GET /fhir/Task?status=failed), and never with a duplicate
 * resource or a lost edit on either side.
 */
import type { QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { deliveryState } from '../../src/transfer/transfer-task';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fault } from '../../src/service/outcomes';
import type { FhirStore } from '../../src/store';
import { fhir, freePort, startService, type TestService } from '../support/service';
import { isPlanWrite, isTransaction, startFaultProxy, type FaultProxy } from './fault-proxy';
import {
  all,
  community,
  editPlan,
  expectMirrored,
  FAST,
  mergeProvenance,
  notes,
  onePlan,
  peersFor,
  receiptProvenance,
  requestTransfer,
  settled,
  startWardAt,
  submit,
  taskOf,
  transfer,
  trusts,
  until,
  ward,
  withNote,
  type Delivery,
} from './two-trusts';

const PERSON = 'megan-price';

describe('handover delivery through faults', () => {
  let open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.reverse()) await o.close();
    open = [];
  });

  /** Community → proxy → ward, the person with a plan at the community. */
  async function behindProxy(
    delivery: Partial<Delivery> = {},
  ): Promise<{ c: TestService; w: TestService; proxy: FaultProxy }> {
    const pw = await freePort();
    const proxy = await startFaultProxy(`http://127.0.0.1:${pw}/fhir`);
    const t = await trusts({
      wardPort: pw,
      wardAsSeenByCommunity: () => proxy.url,
      communityDelivery: { ...FAST, maxAttempts: 8, ...delivery },
    });
    open.push(t.community, t.ward, proxy);
    await t.community.store.update(journeyPatient());
    await submit(t.community, journeyResponses()[0] as QuestionnaireResponse, PERSON);
    return { c: t.community, w: t.ward, proxy };
  }

  async function failedTasks(service: TestService): Promise<Task[]> {
    return (await all(service, 'Task', '&status=failed')) as Task[];
  }

  it('nothing listening: retried, then a failed Task with a reason; once the ward is up, a new request completes', async () => {
    const t = await trusts({ startWard: false, communityDelivery: { ...FAST, maxAttempts: 3 } });
    open.push(t.community);
    const c = t.community;
    await c.store.update(journeyPatient());
    await submit(c, journeyResponses()[0] as QuestionnaireResponse, PERSON);

    const task = await transfer(c, PERSON, 'ward', 'admission');
    expect(task.status).toBe('failed');
    expect(deliveryState(task)?.attempts).toBe(3);
    const [dead] = await failedTasks(c);
    expect(dead?.id).toBe(task.id);
    expect(dead?.statusReason?.text).toBe(
      "Larch Ward's system could not be reached or did not answer in time. Gave up after 3 attempts.",
    );
    expect(dead?.businessStatus?.text).toBe('not delivered');

    const w = await startWardAt(t.wardPort, t.communityUrl);
    open.push(w);
    const again = await transfer(c, PERSON, 'ward', 'admission');
    expect(again.statusReason?.text).toBeUndefined();
    expect(again.status).toBe('completed');
    await expectMirrored(c, w);
    await onePlan(c);
  });

  it('nothing listening until the ward starts: the same Task completes', async () => {
    const t = await trusts({ startWard: false, communityDelivery: { ...FAST, maxAttempts: 1000 } });
    open.push(t.community);
    const c = t.community;
    await c.store.update(journeyPatient());
    await submit(c, journeyResponses()[0] as QuestionnaireResponse, PERSON);
    const task = await requestTransfer(c, PERSON, 'ward', 'admission');
    const waiting = await until(
      () => taskOf(c, task.id ?? ''),
      (t) => (deliveryState(t)?.attempts ?? 0) >= 2,
    );
    expect(waiting.businessStatus?.text).toMatch(/waiting to retry|sending/);
    const w = await startWardAt(t.wardPort, t.communityUrl);
    open.push(w);
    const done = await settled(c, task);
    expect(done.status).toBe('completed');
    await expectMirrored(c, w);
  });

  it('slow beyond the timeout (the write happened, the answer never came): retried, one of everything', async () => {
    const { c, w, proxy } = await behindProxy({ requestTimeoutMs: 300 });
    expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');
    await editPlan(c, (p) => withNote(p, 'Community: new phone number'));
    proxy.inject({ fault: { kind: 'slow' }, times: 1, when: isTransaction });
    proxy.inject({ fault: { kind: 'slow' }, times: 1, when: isPlanWrite });
    const task = await transfer(c, PERSON, 'ward', 'admission');
    expect(task.status).toBe('completed');
    expect(proxy.log.filter((r) => r.done === 'slow')).toHaveLength(2);
    expect(deliveryState(task)?.attempts).toBe(3);
    await expectMirrored(c, w);
    expect(notes(await onePlan(w))).toContain('Community: new phone number');
    // The plan write that timed out had got through: the retry found nothing left to change.
    expect(await mergeProvenance(w)).toHaveLength(1);
    expect(await receiptProvenance(w)).toHaveLength(2);
  });

  it('429 with Retry-After: the next attempt waits at least that long, then completes', async () => {
    const { c, w, proxy } = await behindProxy({ maxDelayMs: 5_000 });
    proxy.inject({ fault: { kind: 'status', status: 429, retryAfter: '1' }, times: 2 });
    const task = await transfer(c, PERSON, 'ward', 'admission');
    expect(task.status).toBe('completed');
    const limited = proxy.log.flatMap((r, i) => (r.done === 'status' ? [i] : []));
    expect(limited).toHaveLength(2);
    for (const i of limited) {
      const next = proxy.log[i + 1];
      expect(next).toBeDefined();
      expect((next?.receivedAt ?? 0) - (proxy.log[i]?.answeredAt ?? 0)).toBeGreaterThanOrEqual(
        1000,
      );
    }
    await expectMirrored(c, w);
  });

  it('500 while it lasts: retried and completed; for good: failed with a reason, then sent again once it clears', async () => {
    const { c, w, proxy } = await behindProxy({ maxAttempts: 3 });
    proxy.inject({ fault: { kind: 'status', status: 500 }, times: 2, when: isTransaction });
    const first = await transfer(c, PERSON, 'ward', 'admission');
    expect(first.status).toBe('completed');
    expect(deliveryState(first)?.attempts).toBe(3);
    await expectMirrored(c, w);

    proxy.inject({ fault: { kind: 'status', status: 500 }, times: 3, when: isTransaction });
    const second = await transfer(c, PERSON, 'ward', 'admission');
    expect(second.status).toBe('failed');
    expect(second.statusReason?.text).toBe(
      "Larch Ward's system had an error (500). Gave up after 3 attempts.",
    );
    const listed = await fhir(c.base, 'GET', '/fhir/Task?status=failed');
    expect(listed.body.entry.map((e: { resource: Task }) => e.resource.id)).toEqual([second.id]);

    const third = await transfer(c, PERSON, 'ward', 'admission');
    expect(third.status).toBe('completed');
    await expectMirrored(c, w);
  });

  it('401 (our token refused there): failed at once, the reason naming the credentials', async () => {
    const { c, proxy } = await behindProxy({ maxAttempts: 3 });
    proxy.inject({ fault: { kind: 'status', status: 401 }, times: 5, when: isTransaction });
    const refused = await transfer(c, PERSON, 'ward', 'admission');
    expect(refused.status).toBe('failed');
    expect(deliveryState(refused)?.attempts).toBe(1);
    expect(refused.statusReason?.text).toBe(
      "Larch Ward's system did not accept our credentials (401). Check the peer's token.",
    );
  });

  it('connections reset before the request and after the write: retried, one of everything', async () => {
    const { c, w, proxy } = await behindProxy();
    expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');
    await editPlan(c, (p) => withNote(p, 'Community: new phone number'));
    proxy.inject({ fault: { kind: 'reset-before' }, times: 1, when: isTransaction });
    proxy.inject({ fault: { kind: 'reset-after' }, times: 1, when: isPlanWrite });
    const task = await transfer(c, PERSON, 'ward', 'admission');
    expect(task.status).toBe('completed');
    expect(deliveryState(task)?.attempts).toBe(3);
    expect(proxy.log.map((r) => r.done).filter((d) => d !== 'passed')).toEqual([
      'reset-before',
      'reset-after',
    ]);
    await expectMirrored(c, w);
    expect(notes(await onePlan(w))).toContain('Community: new phone number');
    expect(await mergeProvenance(w)).toHaveLength(1);
    expect(await receiptProvenance(w)).toHaveLength(2);
  });

  it('412: the ward edits the plan between our read and our write; merged again at once, both edits kept', async () => {
    const { c, w, proxy } = await behindProxy();
    expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');
    await editPlan(c, (p) => withNote(p, 'Community: Hannah will visit on Sunday'));
    proxy.inject({
      fault: {
        kind: 'before',
        run: async () => {
          await editPlan(w, (p) => withNote(p, 'Ward: settled first night'));
        },
      },
      times: 1,
      when: isPlanWrite,
    });
    const task = await transfer(c, PERSON, 'ward', 'admission');
    expect(task.status).toBe('completed');
    expect(deliveryState(task)?.attempts).toBe(1);
    // The first handover created the plan there (nothing to merge); then the 412 and again.
    expect(proxy.log.filter(isPlanWrite)).toHaveLength(2);
    const plan = await onePlan(w);
    expect(notes(plan)).toEqual(
      expect.arrayContaining([
        'Community: Hannah will visit on Sunday',
        'Ward: settled first night',
      ]),
    );
    expect(await all(w, 'Task', '&status=requested')).toEqual([]); // no conflict raised
    expect(notes(await onePlan(c))).toContain('Community: Hannah will visit on Sunday');
    await expectMirrored(c, w);
    expect(await mergeProvenance(w)).toHaveLength(1);
    expect(await receiptProvenance(w)).toHaveLength(2);
  });

  it('a ward that answers 200 and stores nothing: the next handover converges', async () => {
    const { c, w, proxy } = await behindProxy();
    proxy.inject({ fault: { kind: 'lose' }, times: 2, when: isTransaction });
    const lied = await transfer(c, PERSON, 'ward', 'admission');
    expect(lied.status).toBe('completed'); // the sender cannot tell
    expect(await all(w, 'CarePlan')).toEqual([]);
    expect(await all(w, 'QuestionnaireResponse')).toEqual([]);

    const again = await transfer(c, PERSON, 'ward', 'admission');
    expect(again.status).toBe('completed');
    await expectMirrored(c, w);
  });

  it('a lost plan write whose version number the ward then gives its own edit: no edit is lost', async () => {
    const { c, w, proxy } = await behindProxy();
    expect((await transfer(c, PERSON, 'ward', 'admission')).status).toBe('completed');
    const before = await onePlan(w);

    await editPlan(c, (p) => withNote(p, 'Community: first'));
    proxy.inject({ fault: { kind: 'lose' }, times: 1, when: isPlanWrite });
    const lost = await transfer(c, PERSON, 'ward', 'admission');
    expect(lost.status).toBe('completed');
    const claimed = lost.output?.[0]?.valueReference?.reference ?? '';
    // The ward's own next edit gets the very version the lost write was answered with.
    const edited = await editPlan(w, (p) => withNote(p, 'Ward: first'));
    expect(claimed).toBe(`${proxy.url}/CarePlan/${before.id}/_history/${edited.meta?.versionId}`);

    await editPlan(c, (p) => withNote(p, 'Community: second'));
    const next = await transfer(c, PERSON, 'ward', 'admission');
    expect(next.status).toBe('completed');
    expect(notes(await onePlan(w))).toEqual(
      expect.arrayContaining(['Community: first', 'Ward: first', 'Community: second']),
    );
    await expectMirrored(c, w);
  });

  it('a record that cannot be read here: the reason says so, not that the ward failed', async () => {
    const [pc, pw] = [await freePort(), await freePort()];
    const [cUrl, wUrl] = [`http://127.0.0.1:${pc}/fhir`, `http://127.0.0.1:${pw}/fhir`];
    let unreadable = false;
    // The community's own store answers its Observation searches with a 502 once asked to.
    const failingObservations = (store: FhirStore): FhirStore =>
      new Proxy(store, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (typeof value !== 'function') return value;
          if (key !== 'search') return (value as (...a: unknown[]) => unknown).bind(target);
          return (type: string, ...rest: unknown[]) => {
            if (unreadable && type === 'Observation')
              return Promise.reject(
                fault(502, 'incomplete', 'The store could not be read whole', 'Observation'),
              );
            return (value as (...a: unknown[]) => unknown).call(target, type, ...rest);
          };
        },
      });
    const c = await startService({
      port: pc,
      peers: peersFor(community, cUrl, ward, wUrl),
      delivery: { ...FAST, maxAttempts: 2 },
      wrapStore: failingObservations,
    });
    open.push(c);
    open.push(await startWardAt(pw, cUrl));
    await c.store.update(journeyPatient());
    await submit(c, journeyResponses()[0] as QuestionnaireResponse, PERSON);
    unreadable = true;
    const task = await transfer(c, PERSON, 'ward', 'admission');
    expect(task.status).toBe('failed');
    expect(task.statusReason?.text).toBe(
      "The person's record could not be read here to send it (502): The store could not be read whole. Gave up after 2 attempts.",
    );
  });
});
