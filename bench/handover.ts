/**
 * The handover benchmark (issue 5): two `dialog-fhir serve` processes on loopback (a community
 * and an inpatient trust, embedded stores in temporary DATA_DIRs, AUTH=off and no rate limit so
 * both contenders pay the same for the HTTP shell), compiled by tsconfig.bench.json.
 *
 * 1. A plan with a year of history (12 DIALOG sessions, monthly) handed over community → ward
 *    (POST $transfer, then the Task followed until completed), against a plain POST of the same
 *    transaction Bundle (gatherHandover + handoverBundle, with planCreatedOnly and sharedCreatedOnly
 *    as step 1 sends it) to the same ward,
 *    in one run: interleaved rounds, medians. Target: handover ≤ 3× the plain POST.
 * 2. 1,000 handovers in flight at once: 1,000 people each with a plan, each $transfer'ed at the
 *    same moment; the time until every Task has ended, and then at the ward: zero duplicates
 *    (one plan per plan identifier, one Patient per person) and zero losses (every person's plan
 *    there, every Task completed).
 *
 * `node dist-bench/bench/handover.js [--rounds N] [--people N]`; writes bench/results/handover.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, CarePlan, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { journeySessions } from '../src/cli/demo';
import { openFhirServerStore } from '../src/store';
import { planCreatedOnly } from '../src/transfer/deliver';
import { gatherHandover, handoverBundle } from '../src/transfer/handover-bundle';
import { sharedCreatedOnly } from '../src/transfer/shared-merge';

const ROOT = join(__dirname, '../..');
const MAIN = join(__dirname, '../src/cli/main.js');
const RESULTS = join(ROOT, 'bench/results');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}
const ROUNDS = arg('rounds', 15);
const PEOPLE = arg('people', 1000);
const HISTORY = 12;
/** How often a timed handover's Task is read (each read is a request the source also serves). */
const POLL_MS = arg('poll', 5);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

interface Side {
  readonly id: string;
  readonly fhir: string;
  readonly child: ChildProcess;
  readonly dir: string;
}

async function startSide(
  id: string,
  setting: string,
  port: number,
  other: { id: string; setting: string; port: number },
): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), `dialog-fhir-bench-handover-${id}-`));
  const peers = join(dir, 'peers.json');
  const identity = (pid: string, s: string, p: number) => ({
    id: pid,
    setting: s,
    organization: { reference: `Organization/${pid}`, display: pid },
    baseUrl: `http://127.0.0.1:${p}/fhir`,
  });
  writeFileSync(
    peers,
    JSON.stringify({
      self: identity(id, setting, port),
      peers: [{ ...identity(other.id, other.setting, other.port), auth: { type: 'none' } }],
    }),
  );
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      PEERS_FILE: peers,
      AUTH: 'off',
      RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const fhir = `http://127.0.0.1:${port}/fhir`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${id} stopped`);
    if (
      await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { id, fhir, child, dir };
}

async function call<T>(url: string, method = 'GET', body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/fhir+json' } : {},
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/**
 * POST through a keep-alive agent of `sockets` connections: every request is issued at once and
 * queued by the agent (1,000 simultaneous connects overflow the server's listen backlog).
 */
function burstPost<T>(agent: Agent, url: string, body: unknown): Promise<T> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/fhir+json',
          'content-length': Buffer.byteLength(text),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300)
            reject(new Error(`POST ${url}: ${res.statusCode} ${answer.slice(0, 300)}`));
          else resolve(JSON.parse(answer) as T);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** One person's sessions: the journey's ratings, one a month for `count` months. */
function sessionsFor(person: string, count: number): QuestionnaireResponse[] {
  const journey = journeySessions(join(ROOT, 'examples/journey'));
  return Array.from({ length: count }, (_, i) => {
    const qr = structuredClone(journey[i % journey.length] as QuestionnaireResponse);
    const month = String((i % 12) + 1).padStart(2, '0');
    const year = 2024 + Math.floor(i / 12);
    delete qr.meta;
    return {
      ...qr,
      id: `${person}-s${i}`,
      identifier: { system: 'https://bench.example/sessions', value: `${person}-s${i}` },
      authored: `${year}-${month}-15T10:00:00+00:00`,
      subject: { reference: `Patient/${person}` },
      ...(qr.source ? { source: { reference: `Patient/${person}` } } : {}),
    };
  });
}

async function seedPerson(side: Side, person: string, sessions: number): Promise<void> {
  await call(`${side.fhir}/Patient/${person}`, 'PUT', {
    resourceType: 'Patient',
    id: person,
    identifier: [{ system: 'https://bench.example/mrn', value: person }],
  });
  for (const qr of sessionsFor(person, sessions))
    await call(`${side.fhir}/QuestionnaireResponse/${qr.id ?? ''}`, 'PUT', qr);
}

function transferBody(destination: string): unknown {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'destination', valueString: destination },
      { name: 'reason', valueCode: 'admission' },
    ],
  };
}

/** One handover, timed from the request to the Task completed (followed every POLL_MS). */
async function timedHandover(source: Side, person: string, destination: string): Promise<number> {
  const t0 = performance.now();
  let task = await call<Task>(
    `${source.fhir}/Patient/${person}/$transfer`,
    'POST',
    transferBody(destination),
  );
  while (task.status !== 'completed') {
    if (task.status === 'failed') throw new Error(`handover failed: ${task.statusReason?.text}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    task = await call<Task>(`${source.fhir}/Task/${task.id ?? ''}`);
  }
  return performance.now() - t0;
}

async function total(url: string): Promise<number> {
  return (await call<Bundle>(url)).total ?? 0;
}

async function allOf<T>(url: string): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await call<Bundle>(`${url}&_count=1000&_offset=${offset}`);
    out.push(...(page.entry ?? []).map((e) => e.resource as T));
    if ((page.entry ?? []).length < 1000) return out;
  }
}

async function pool<T>(items: readonly T[], width: number, run: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

async function main(): Promise<void> {
  const [pc, pw] = [await freePort(), await freePort()];
  const community = await startSide('community', 'community', pc, {
    id: 'ward',
    setting: 'inpatient',
    port: pw,
  });
  const ward = await startSide('ward', 'inpatient', pw, {
    id: 'community',
    setting: 'community',
    port: pc,
  });
  try {
    console.log(
      `Handover bench: two serve processes on loopback (embedded stores, AUTH=off, no rate limit); ${ROUNDS} interleaved rounds; ${PEOPLE} handovers at once`,
    );
    // 1. A year of history: handover against a plain POST of the same Bundle.
    await seedPerson(community, 'year-person', HISTORY);
    await timedHandover(community, 'year-person', 'ward'); // first contact, not timed
    const store = openFhirServerStore({ baseUrl: community.fhir, retries: 0 });
    const record = await gatherHandover(store, 'year-person');
    // What step 1 sends: the plan, Goals, carers and consent created only where the ward has
    // none (what it holds is merged afterwards), so the plain POST does not overwrite the ward's
    // copies between handovers (which the handover would then have to merge back).
    const built = handoverBundle(record, {
      sourceBaseUrl: community.fhir,
      destinationBaseUrl: ward.fhir,
    });
    const bundle = JSON.stringify(sharedCreatedOnly(planCreatedOnly(built).bundle).bundle);
    const entries = (JSON.parse(bundle) as Bundle).entry?.length ?? 0;
    await call(ward.fhir, 'POST', bundle); // warm
    const handover: number[] = [];
    const plain: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['handover', 'plain'] : ['plain', 'handover'];
      for (const which of order) {
        if (which === 'handover')
          handover.push(await timedHandover(community, 'year-person', 'ward'));
        else {
          const t0 = performance.now();
          await call(ward.fhir, 'POST', bundle);
          plain.push(performance.now() - t0);
        }
      }
    }
    const ratio = median(handover) / median(plain);
    console.log(
      `  a year of history (${HISTORY} sessions, ${entries} entries, ${Math.round(bundle.length / 1024)} KB): handover median ${median(handover).toFixed(1)} ms, plain POST of the same Bundle ${median(plain).toFixed(1)} ms — ${ratio.toFixed(2)}× (target ≤ 3×) ${ratio <= 3 ? 'MET' : 'NOT MET'}`,
    );

    // 2. 1,000 handovers in flight at once.
    const people = Array.from({ length: PEOPLE }, (_, i) => `p${String(i).padStart(4, '0')}`);
    const seed0 = performance.now();
    await pool(people, 16, (p) => seedPerson(community, p, 1));
    const seedMs = performance.now() - seed0;
    const t0 = performance.now();
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const tasks = await Promise.all(
      people.map((p) =>
        burstPost<Task>(agent, `${community.fhir}/Patient/${p}/$transfer`, transferBody('ward')),
      ),
    );
    agent.destroy();
    const acceptedMs = performance.now() - t0;
    const open = `${community.fhir}/Task?status=requested,accepted&_count=0`;
    while ((await total(open)) > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    const allMs = performance.now() - t0;

    const ended = await allOf<Task>(`${community.fhir}/Task?status=completed,failed`);
    const mine = new Set(tasks.map((t) => t.id));
    const completed = ended.filter((t) => mine.has(t.id) && t.status === 'completed').length;
    const failed = ended.filter((t) => mine.has(t.id) && t.status === 'failed').length;
    const key = (p: CarePlan): string =>
      p.identifier?.find((i) => i.system?.endsWith('/sid/care-plan'))?.value ?? '';
    const sourcePlans = await allOf<CarePlan>(`${community.fhir}/CarePlan?_sort=_lastUpdated`);
    const wardPlans = await allOf<CarePlan>(`${ward.fhir}/CarePlan?_sort=_lastUpdated`);
    const wardKeys = wardPlans.map(key);
    const duplicatePlans = wardKeys.length - new Set(wardKeys).size;
    const lostPlans = sourcePlans.map(key).filter((k) => !wardKeys.includes(k)).length;
    const wardPatients = await allOf<{ identifier?: { value?: string }[] }>(
      `${ward.fhir}/Patient?_sort=_lastUpdated`,
    );
    const patientKeys = wardPatients.map((p) => p.identifier?.[0]?.value ?? '');
    const duplicatePatients = patientKeys.length - new Set(patientKeys).size;
    const ok = completed === PEOPLE && failed === 0 && duplicatePlans === 0 && lostPlans === 0;
    console.log(
      `  ${PEOPLE} handovers at once: all ${PEOPLE} $transfer answered 202 in ${(acceptedMs / 1000).toFixed(1)} s, all delivered in ${(allMs / 1000).toFixed(1)} s (${((PEOPLE / allMs) * 1000).toFixed(0)}/s); completed ${completed}, failed ${failed}; at the ward: ${wardPlans.length} plans, duplicates ${duplicatePlans + duplicatePatients}, lost ${lostPlans} ${ok ? 'MET' : 'NOT MET'}`,
    );
    console.log(
      `  (seeding ${PEOPLE} people with a session each took ${(seedMs / 1000).toFixed(1)} s)`,
    );

    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(
      join(RESULTS, 'handover.json'),
      `${JSON.stringify(
        {
          when: new Date().toISOString(),
          node: process.version,
          setup:
            'two dialog-fhir serve processes on loopback, embedded stores, AUTH=off, rate limit off',
          yearOfHistory: {
            sessions: HISTORY,
            bundleEntries: entries,
            bundleBytes: bundle.length,
            rounds: ROUNDS,
            handoverMedianMs: median(handover),
            plainPostMedianMs: median(plain),
            ratio,
            target: 3,
            met: ratio <= 3,
            handoverMs: handover,
            plainPostMs: plain,
          },
          inFlight: {
            handovers: PEOPLE,
            requestsAnsweredMs: acceptedMs,
            allDeliveredMs: allMs,
            completed,
            failed,
            wardPlans: wardPlans.length,
            duplicates: duplicatePlans + duplicatePatients,
            lost: lostPlans,
            met: ok,
          },
        },
        null,
        2,
      )}\n`,
    );
    if (!ok) process.exitCode = 1;
  } finally {
    for (const side of [community, ward]) {
      await new Promise<void>((resolve) => {
        if (side.child.exitCode !== null) return resolve();
        side.child.once('exit', () => resolve());
        side.child.kill('SIGTERM');
      });
      rmSync(side.dir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exitCode = 1;
});
