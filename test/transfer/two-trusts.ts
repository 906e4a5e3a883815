/**
 * Two trusts on loopback for handover tests: a community service and an inpatient (ward) service,
 * each a real instance of this service with its own embedded store, and the helpers the handover
 * tests share — start a handover and wait for its Task, submit a session, edit a plan with
 * If-Match, and check that a destination holds exactly one of everything. Not a test file itself.
 */
import type { Bundle, CarePlan, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { Extensions } from '../../src/fhir/canonical';
import type { DelivererOptions } from '../../src/transfer/deliver';
import type { Peers, SystemIdentity } from '../../src/transfer/peers';
import { fhir, freePort, startService, type Json, type TestService } from '../support/service';

export const NHS = 'https://fhir.nhs.uk/Id/nhs-number|9992468017';
export type Party = Omit<SystemIdentity, 'baseUrl'>;
export const community: Party = {
  id: 'community',
  setting: 'community',
  organization: { reference: 'Organization/northbrook', display: 'Northbrook CMHT' },
};
export const ward: Party = {
  id: 'ward',
  setting: 'inpatient',
  organization: { reference: 'Organization/westmere', display: 'Larch Ward' },
};
export type Delivery = Omit<DelivererOptions, 'store' | 'peers' | 'logger'>;
/** Short waits so tests do not sit in backoff (no test asserts on how long anything takes). */
export const FAST: Delivery = { pollMs: 20, baseDelayMs: 10, maxDelayMs: 50, leaseMs: 5_000 };

export function peersFor(self: Party, selfUrl: string, other: Party, otherUrl: string): Peers {
  return {
    self: { ...self, baseUrl: selfUrl },
    peers: [{ ...other, baseUrl: otherUrl, auth: { type: 'none' } }],
  };
}

export interface Trusts {
  readonly community: TestService;
  readonly ward: TestService;
  readonly communityUrl: string;
  readonly wardUrl: string;
}

/**
 * A community and a ward service. `wardAsSeenByCommunity` is where the community sends to (a
 * fault proxy in front of the ward, or a port nothing listens on); the ward itself is started on
 * `wardPort` unless `startWard` is false.
 */
export async function trusts(
  options: {
    readonly communityDelivery?: Delivery;
    readonly wardAsSeenByCommunity?: (wardUrl: string) => string;
    readonly wardPort?: number;
    readonly startWard?: boolean;
  } = {},
): Promise<Trusts & { readonly wardPort: number }> {
  const pc = await freePort();
  const pw = options.wardPort ?? (await freePort());
  const cUrl = `http://127.0.0.1:${pc}/fhir`;
  const wUrl = `http://127.0.0.1:${pw}/fhir`;
  const seen = options.wardAsSeenByCommunity?.(wUrl) ?? wUrl;
  const c = await startService({
    port: pc,
    peers: peersFor(community, cUrl, ward, seen),
    delivery: options.communityDelivery ?? FAST,
  });
  const w =
    options.startWard === false
      ? (undefined as unknown as TestService)
      : await startWardAt(pw, cUrl);
  return { community: c, ward: w, communityUrl: cUrl, wardUrl: wUrl, wardPort: pw };
}

export function startWardAt(port: number, communityUrl: string): Promise<TestService> {
  return startService({
    port,
    peers: peersFor(ward, `http://127.0.0.1:${port}/fhir`, community, communityUrl),
    delivery: FAST,
  });
}

export async function taskOf(service: TestService, id: string): Promise<Task> {
  const res = await fhir(service.base, 'GET', `/fhir/Task/${id}`);
  expect(res.status).toBe(200);
  return res.body as Task;
}

/** Waits (by polling, no time limit of its own: jest's timeout bounds it) until `test` holds. */
export async function until<T>(probe: () => Promise<T>, test: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await probe();
    if (test(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

/** Waits for a handover Task to end (completed or failed); returns it. */
export function settled(service: TestService, task: Task): Promise<Task> {
  return until(
    () => taskOf(service, task.id ?? ''),
    (t) => t.status === 'completed' || t.status === 'failed',
  );
}

/** Asks for a handover (202 with a requested Task) without waiting for it. */
export async function requestTransfer(
  service: TestService,
  patient: string,
  destination: string,
  reason: string,
): Promise<Task> {
  const res = await fhir(service.base, 'POST', `/fhir/Patient/${patient}/$transfer`, {
    resourceType: 'Parameters',
    parameter: [
      { name: 'destination', valueString: destination },
      { name: 'reason', valueCode: reason },
    ],
  });
  expect(res.status).toBe(202);
  expect(res.body.resourceType).toBe('Task');
  expect(res.body.status).toBe('requested');
  return res.body as Task;
}

/** Asks for a handover and waits for its Task to end. */
export async function transfer(
  service: TestService,
  patient: string,
  destination: string,
  reason: string,
): Promise<Task> {
  return settled(service, await requestTransfer(service, patient, destination, reason));
}

export async function submit(
  service: TestService,
  qr: QuestionnaireResponse,
  patientId: string,
): Promise<void> {
  const res = await fhir(service.base, 'PUT', `/fhir/QuestionnaireResponse/${qr.id}`, {
    ...qr,
    meta: undefined,
    subject: { ...qr.subject, reference: `Patient/${patientId}` },
    ...(qr.source ? { source: { ...qr.source, reference: `Patient/${patientId}` } } : {}),
  });
  expect([200, 201]).toContain(res.status);
}

export async function all(service: TestService, type: string, query = ''): Promise<Json[]> {
  const res = await fhir(service.base, 'GET', `/fhir/${type}?_count=1000${query}`);
  expect(res.status).toBe(200);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Json);
}

/** The service's one plan (there must be exactly one). */
export async function onePlan(service: TestService): Promise<CarePlan> {
  const plans = (await all(service, 'CarePlan')) as CarePlan[];
  expect(plans).toHaveLength(1);
  return plans[0] as CarePlan;
}

/** Edits the service's one plan as a clinician would: read, change, PUT with If-Match. */
export async function editPlan(
  service: TestService,
  change: (plan: CarePlan) => CarePlan,
): Promise<CarePlan> {
  const plan = await onePlan(service);
  const res = await fhir(service.base, 'PUT', `/fhir/CarePlan/${plan.id}`, change(plan), {
    'if-match': `W/"${plan.meta?.versionId ?? ''}"`,
  });
  expect(res.status).toBe(200);
  return res.body as CarePlan;
}

export function withNote(plan: CarePlan, text: string): CarePlan {
  return { ...plan, note: [...(plan.note ?? []), { time: '2025-10-24T10:00:00+01:00', text }] };
}

export function notes(plan: CarePlan): string[] {
  return (plan.note ?? []).map((n) => n.text ?? '');
}

export function responsibleNow(plan: CarePlan): string | undefined {
  const open = (plan.extension ?? []).find(
    (e) =>
      e.url === Extensions.responsibleService &&
      !e.extension?.find((p) => p.url === 'period')?.valuePeriod?.end,
  );
  return open?.extension?.find((p) => p.url === 'organization')?.valueReference?.reference;
}

/** `Type|system|value` of each resource's first identifier (Provenance: its id). */
function keysOf(resources: readonly Json[]): string[] {
  return resources.map((r: Json) => {
    const identifier = Array.isArray(r.identifier) ? r.identifier[0] : r.identifier;
    return identifier ? `${identifier.system}|${identifier.value}` : `id|${r.id}`;
  });
}

/**
 * What `destination` holds of the person mirrors `source`: one Patient with the NHS number, one
 * plan, as many responses and Observations, and no two resources of a type with one identity.
 */
export async function expectMirrored(source: TestService, destination: TestService): Promise<void> {
  expect(await all(destination, 'Patient', `&identifier=${NHS}`)).toHaveLength(1);
  await onePlan(destination);
  for (const type of ['QuestionnaireResponse', 'Observation', 'Goal']) {
    const there = await all(destination, type);
    expect({ type, count: there.length }).toEqual({
      type,
      count: (await all(source, type)).length,
    });
    expect(new Set(keysOf(there)).size).toBe(there.length);
  }
  const provenance = await all(destination, 'Provenance');
  const sources = provenance.map((p: Json) => p.meta?.source).filter(Boolean);
  expect(new Set(sources).size).toBe(sources.length);
}

/** The Provenance of handover merges the destination holds for its plan. */
export async function mergeProvenance(service: TestService): Promise<Json[]> {
  return (await planProvenance(service)).filter((p: Json) =>
    String(p.activity?.text ?? '').startsWith('Handover: plans merged'),
  );
}

/** The Provenance of handovers received (one per handover, however often it was attempted). */
export async function receiptProvenance(service: TestService): Promise<Json[]> {
  return (await planProvenance(service)).filter((p: Json) =>
    String(p.activity?.text ?? '').startsWith('Handover ('),
  );
}

async function planProvenance(service: TestService): Promise<Json[]> {
  const plan = await onePlan(service);
  return all(service, 'Provenance', `&target=CarePlan/${plan.id}`);
}
