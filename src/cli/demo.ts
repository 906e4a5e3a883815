/**
 * `dialog-fhir demo` (`npm run demo`): two trusts on loopback — a community trust and an inpatient
 * trust, each a real `dialog-fhir serve` process with its own embedded store in a temporary
 * DATA_DIR and authentication on (each its own development key) — and one person walked through
 * the example journey (examples/journey): community start → admission → inpatient review →
 * discharge. After each step it prints where the plan is: which service holds it, how many
 * sessions it has, which review is due, the inpatient sections, open conflicts, and the clinician
 * page to look at.
 *
 * Each side's PEERS_FILE names the other, with a bearer token minted from the *other* side's dev
 * key (as a real peer would be issued a client token by the trust it sends to); the token is
 * handed to the process in an environment variable (`tokenEnv`), never written in the file.
 *
 * `walkJourney` is the walk itself against any two services given their FHIR bases (and tokens):
 * the end-to-end test (test/transfer/demo-journey.test.ts) runs the same walk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Bundle,
  CarePlan,
  Extension,
  Patient,
  QuestionnaireResponse,
  Task,
} from '@medplum/fhirtypes';
import { loadDevKey, mintDevToken, type DevKey } from '../auth';
import { CodeSystems, Extensions } from '../fhir/canonical';

/** One side as the walk sees it. */
export interface Endpoint {
  /** Short name for the printout. */
  readonly name: string;
  /** The FHIR base, e.g. `http://127.0.0.1:4000/fhir`. */
  readonly fhirBase: string;
  /** The peer id the *other* side knows this one by (the $transfer destination). */
  readonly peerId: string;
  /** A bearer token for calling this side, if it checks tokens. */
  readonly token?: string;
}

/** Where the plan is after one step. */
export interface PlanSnapshot {
  readonly step: string;
  readonly at: string;
  readonly patientId: string;
  readonly planId: string;
  readonly planIdentifier: string;
  readonly heldBy: string;
  readonly heldBySetting: string;
  readonly sessions: number;
  readonly reviewsDue: readonly string[];
  readonly sections: readonly string[];
  readonly conflicts: number;
  readonly page: string;
  readonly handover?: { readonly status: string; readonly reason?: string };
}

const NHS_NUMBER = 'https://fhir.nhs.uk/Id/nhs-number';
const INPATIENT = ['mental-health-act-status', 'leave', 'visits', 'nursing-observations'];
const PERSON: Patient = {
  resourceType: 'Patient',
  id: 'megan-price',
  identifier: [{ system: NHS_NUMBER, value: '9992468017' }],
  name: [{ given: ['Megan'], family: 'Price' }],
};

/** The journey's four sessions, in order (community start, admission, review, discharge). */
export function journeySessions(
  dir = join(__dirname, '../../examples/journey'),
): QuestionnaireResponse[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle;
      return (bundle.entry ?? []).flatMap((e) =>
        e.resource?.resourceType === 'QuestionnaireResponse' ? [e.resource] : [],
      );
    });
}

async function call<T>(
  side: Endpoint,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${side.fhirBase}/${path}`, {
    method,
    headers: {
      accept: 'application/fhir+json',
      ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
      ...(side.token ? { authorization: `Bearer ${side.token}` } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function ok<T>(side: Endpoint, method: string, path: string, body?: unknown): Promise<T> {
  const res = await call<T>(side, method, path, body);
  if (res.status >= 300)
    throw new Error(
      `${side.name}: ${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`,
    );
  return res.body;
}

function resources<T>(bundle: Bundle): T[] {
  return (bundle.entry ?? []).map((e) => e.resource as T);
}

async function submitSession(
  side: Endpoint,
  qr: QuestionnaireResponse,
  patientId: string,
): Promise<void> {
  const subject = { ...qr.subject, reference: `Patient/${patientId}` };
  const { meta: _meta, ...rest } = qr;
  void _meta;
  await ok(side, 'PUT', `QuestionnaireResponse/${qr.id ?? ''}`, {
    ...rest,
    subject,
    ...(qr.source ? { source: { ...qr.source, reference: `Patient/${patientId}` } } : {}),
  });
}

/** Asks `from` to hand the person over to `to` and waits until the Task ends. */
async function handOver(
  from: Endpoint,
  to: Endpoint,
  patientId: string,
  reason: string,
): Promise<Task> {
  let task = await ok<Task>(from, 'POST', `Patient/${patientId}/$transfer`, {
    resourceType: 'Parameters',
    parameter: [
      { name: 'destination', valueString: to.peerId },
      { name: 'reason', valueCode: reason },
    ],
  });
  while (task.status !== 'completed' && task.status !== 'failed') {
    await new Promise((resolve) => setTimeout(resolve, 25));
    task = await ok<Task>(from, 'GET', `Task/${task.id ?? ''}`);
  }
  return task;
}

async function personAt(side: Endpoint): Promise<string> {
  const found = await ok<Bundle>(side, 'GET', `Patient?identifier=${NHS_NUMBER}|9992468017`);
  const [person] = resources<Patient>(found);
  if (!person?.id) throw new Error(`${side.name} does not know the person`);
  return person.id;
}

function part(extension: Extension, url: string): Extension | undefined {
  return extension.extension?.find((e) => e.url === url);
}

/** Where the plan is at `side` now. */
export async function snapshot(
  side: Endpoint,
  step: string,
  patientId: string,
  handover?: Task,
): Promise<PlanSnapshot> {
  const plans = resources<CarePlan>(
    await ok<Bundle>(side, 'GET', `CarePlan?subject=Patient/${patientId}`),
  );
  if (plans.length !== 1)
    throw new Error(`${side.name} holds ${plans.length} plans for the person`);
  const plan = plans[0] as CarePlan;
  const sessions = await ok<Bundle>(
    side,
    'GET',
    `QuestionnaireResponse?subject=Patient/${patientId}&_count=1000`,
  );
  const tasks = resources<Task>(await ok<Bundle>(side, 'GET', 'Task?status=requested&_count=1000'));
  const held = (plan.extension ?? []).find(
    (e) => e.url === Extensions.responsibleService && !part(e, 'period')?.valuePeriod?.end,
  );
  const org = held ? part(held, 'organization')?.valueReference : undefined;
  const reviewsDue = (plan.extension ?? [])
    .filter((e) => e.url === Extensions.reviewDue)
    .map(
      (e) =>
        `${part(e, 'timepoint')?.valueCoding?.code ?? '?'} (${part(e, 'setting')?.valueCoding?.code ?? '?'}) due ${part(e, 'due')?.valueDateTime ?? '?'}`,
    );
  const sections = (plan.activity ?? []).flatMap((a) => {
    const code = a.detail?.code?.coding?.find((c) => c.system === CodeSystems.planSections)?.code;
    return code && INPATIENT.includes(code) ? [`${code}: ${a.detail?.status ?? '?'}`] : [];
  });
  return {
    step,
    at: side.name,
    patientId,
    planId: plan.id ?? '',
    planIdentifier:
      plan.identifier?.find((i) => i.system?.endsWith('/sid/care-plan'))?.value ?? '(none)',
    heldBy: org?.display ?? org?.reference ?? 'no service recorded yet (no handover so far)',
    heldBySetting: held ? (part(held, 'setting')?.valueCoding?.code ?? '?') : '-',
    sessions: sessions.total ?? resources(sessions).length,
    reviewsDue,
    sections,
    conflicts: tasks.filter((t) => t.code?.coding?.some((c) => c.code === 'resolve-plan-conflict'))
      .length,
    page: `${side.fhirBase.replace(/\/fhir$/, '')}/ui/patients/${patientId}`,
    ...(handover
      ? {
          handover: {
            status: handover.status,
            ...(handover.statusReason?.text ? { reason: handover.statusReason.text } : {}),
          },
        }
      : {}),
  };
}

export function describeSnapshot(s: PlanSnapshot): string {
  return [
    `${s.step} — at ${s.at}`,
    ...(s.handover
      ? [`  handover: ${s.handover.status}${s.handover.reason ? ` (${s.handover.reason})` : ''}`]
      : []),
    `  plan ${s.planIdentifier} (CarePlan/${s.planId}) held by ${s.heldBy} [${s.heldBySetting}]`,
    `  sessions: ${s.sessions}`,
    `  review due: ${s.reviewsDue.join('; ') || 'none'}`,
    `  inpatient sections: ${s.sections.join(', ') || 'none'}`,
    `  conflicts to resolve: ${s.conflicts}`,
    `  clinician page: ${s.page}`,
  ].join('\n');
}

/**
 * The journey: community start → admission → inpatient review → discharge, with a snapshot of
 * the plan after each step (`report` gets each as it is taken).
 */
export async function walkJourney(
  community: Endpoint,
  ward: Endpoint,
  report: (snapshot: PlanSnapshot) => void = () => undefined,
): Promise<PlanSnapshot[]> {
  const [start, admission, review, discharge] = journeySessions();
  if (!start || !admission || !review || !discharge)
    throw new Error('examples/journey is incomplete');
  const out: PlanSnapshot[] = [];
  const take = async (side: Endpoint, step: string, id: string, task?: Task): Promise<void> => {
    const s = await snapshot(side, step, id, task);
    out.push(s);
    report(s);
  };

  await ok(community, 'PUT', `Patient/${PERSON.id ?? ''}`, PERSON);
  await submitSession(community, start, PERSON.id ?? '');
  await take(community, '1. Community start: first DIALOG+ session', PERSON.id ?? '');

  const admitted = await handOver(community, ward, PERSON.id ?? '', 'admission');
  const wardId = await personAt(ward);
  await submitSession(ward, admission, wardId);
  await take(ward, '2. Admission: handed to the ward, 48-hour rating done', wardId, admitted);

  await submitSession(ward, review, wardId);
  await take(ward, '3. Inpatient review', wardId);

  await submitSession(ward, discharge, wardId);
  const discharged = await handOver(ward, community, wardId, 'discharge');
  await take(community, '4. Discharge: back to the community team', PERSON.id ?? '', discharged);
  return out;
}

// ---- the two processes ------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

interface Trust {
  readonly id: string;
  readonly display: string;
  readonly setting: 'community' | 'inpatient';
  readonly tokenEnv: string;
}
const COMMUNITY: Trust = {
  id: 'northbrook-community',
  display: 'Northbrook Community Mental Health Team',
  setting: 'community',
  tokenEnv: 'COMMUNITY_TOKEN',
};
const WARD: Trust = {
  id: 'westmere-ward',
  display: 'Westmere Hospital, Larch Ward',
  setting: 'inpatient',
  tokenEnv: 'WARD_TOKEN',
};

function identity(trust: Trust, port: number): Record<string, unknown> {
  return {
    id: trust.id,
    setting: trust.setting,
    organization: { reference: `Organization/${trust.id}`, display: trust.display },
    baseUrl: `http://127.0.0.1:${port}/fhir`,
  };
}

/** A token the holder uses to call the trust whose key this is. */
function tokenFor(key: DevKey, client: string): Promise<string> {
  return mintDevToken(key, { scopes: ['system/*.cruds'], clientId: client, expiresIn: 3600 });
}

async function waitReady(base: string, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the server at ${base} stopped (exit ${child.exitCode})`);
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the demo; resolves to 0 when the walk ended with one plan back at the community. */
export async function runDemo(
  print: (line: string) => void = (l) => console.log(l),
): Promise<number> {
  const trusts = [COMMUNITY, WARD] as const;
  const dirs = trusts.map((t) => mkdtempSync(join(tmpdir(), `dialog-fhir-demo-${t.setting}-`)));
  const [communityDir = '', wardDir = ''] = dirs;
  const children: ChildProcess[] = [];
  try {
    const [cPort, wPort] = [await freePort(), await freePort()];
    const [cKey, wKey] = [await loadDevKey(communityDir), await loadDevKey(wardDir)];
    // Each side's token for calling the other comes from the other's key.
    const communityCallsWard = await tokenFor(wKey, COMMUNITY.id);
    const wardCallsCommunity = await tokenFor(cKey, WARD.id);
    const peersFile = (
      dir: string,
      self: Trust,
      selfPort: number,
      other: Trust,
      otherPort: number,
    ): string => {
      const file = join(dir, 'peers.json');
      const peer = {
        ...identity(other, otherPort),
        auth: { type: 'bearer', tokenEnv: other.tokenEnv },
      };
      writeFileSync(
        file,
        `${JSON.stringify({ self: identity(self, selfPort), peers: [peer] }, null, 2)}\n`,
      );
      return file;
    };
    const start = (
      dir: string,
      port: number,
      peers: string,
      env: Record<string, string>,
    ): ChildProcess => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, __filename.replace(/demo\.(ts|js)$/, 'main.$1'), 'serve'],
        {
          env: {
            ...process.env,
            PORT: String(port),
            HOST: '127.0.0.1',
            DATA_DIR: dir,
            PEERS_FILE: peers,
            AUTH: 'jwt',
            LOG_LEVEL: 'warn',
            ...env,
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      children.push(child);
      return child;
    };
    print(
      'dialog-fhir demo: two trusts on loopback, each with its own embedded store and AUTH=jwt (development keys)',
    );
    const c = start(communityDir, cPort, peersFile(communityDir, COMMUNITY, cPort, WARD, wPort), {
      [WARD.tokenEnv]: communityCallsWard,
    });
    const w = start(wardDir, wPort, peersFile(wardDir, WARD, wPort, COMMUNITY, cPort), {
      [COMMUNITY.tokenEnv]: wardCallsCommunity,
    });
    await Promise.all([
      waitReady(`http://127.0.0.1:${cPort}`, c),
      waitReady(`http://127.0.0.1:${wPort}`, w),
    ]);
    print(`  ${COMMUNITY.display}: http://127.0.0.1:${cPort}/fhir  (DATA_DIR ${communityDir})`);
    print(`  ${WARD.display}: http://127.0.0.1:${wPort}/fhir  (DATA_DIR ${wardDir})`);
    print(
      `  peers files: ${join(communityDir, 'peers.json')}, ${join(wardDir, 'peers.json')} (tokens passed as ${WARD.tokenEnv} / ${COMMUNITY.tokenEnv})`,
    );
    print('');
    const community: Endpoint = {
      name: COMMUNITY.display,
      fhirBase: `http://127.0.0.1:${cPort}/fhir`,
      peerId: COMMUNITY.id,
      token: await tokenFor(cKey, 'demo'),
    };
    const ward: Endpoint = {
      name: WARD.display,
      fhirBase: `http://127.0.0.1:${wPort}/fhir`,
      peerId: WARD.id,
      token: await tokenFor(wKey, 'demo'),
    };
    const steps = await walkJourney(community, ward, (s) => {
      print(describeSnapshot(s));
      print('');
    });
    const last = steps.at(-1);
    const home = last?.heldBySetting === 'community' && last.handover?.status === 'completed';
    print(
      home
        ? 'The one plan is back with the community team, its whole history with it.'
        : 'The plan did not come back as expected.',
    );
    print('The servers stop now and their temporary data is removed.');
    return home ? 0 : 1;
  } finally {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
