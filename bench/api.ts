/**
 * The API benchmark (issue 4), `node dist-bench/bench/api.js` (run by `npm run bench` after the
 * validation bench): autocannon on loopback, side by side in one run, interleaved rounds,
 * medians. Contenders, each server in its own child process (bench/api-server.ts):
 * - dialog-fhir over the embedded store (SQLite WAL synced before each answer, in a temporary DATA_DIR
 *   on the machine's disk), bearer JWTs verified per request, rate limit off;
 * - dialog-fhir over the fhir-server store, pointing at a separate fhir-router server process;
 * - dialog-fhir over the fhir-server store, pointing at another dialog-fhir (embedded store,
 *   AUTH=off) as its FHIR server: one that indexes its searches, as a trust's server would;
 * - the baseline: Medplum's fhir-router over its in-memory repository behind the same Express
 *   (test/support/fhir-router-server.ts), no auth.
 * Workloads:
 * - submit: `POST /fhir/QuestionnaireResponse` of the example DIALOG session
 *   (examples/journey/01-community-start.json) as a NEW session every request (its own
 *   `identifier.value`, no `id`): validation, subject check, extraction, the care-plan update
 *   and Provenance in one durable transaction. Sessions are spread over `PATIENTS` people
 *   (subjects cycled), since each submission reads the person's history (paired change) and one
 *   person with thousands of sessions is not realistic. The baseline creates the same body in
 *   fhir-router (`POST /QuestionnaireResponse`).
 * - read: `GET /fhir/CarePlan/{id}` of a person's plan; the baseline reads the same CarePlan
 *   JSON, created in fhir-router, by id.
 * Targets: submit ≥ 0.5× the baseline's create throughput; read ≥ 1× the baseline's read
 * throughput (both stores). p99 latency and every server's peak RSS are printed.
 * Writes bench/results/api.json.
 *
 * `node dist-bench/bench/api.js --only embedded,baseline`: those contenders only (one run, interleaved);
 * `--workloads read` (or `submit`): those workloads only. Both print and write their results as a
 * full run does.
 *
 * `node dist-bench/bench/api.js --profile [seconds] [embedded|fhir-server|fhir-server-peer|baseline] [submit|read]`:
 * one workload on one contender, the server's CPU profiled over the timed window (node:inspector);
 * prints where its time goes (bench/cpu-profile.ts) and leaves the .cpuprofile file.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Bundle, CarePlan, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import type { ParentMessage, ServerKind, ServerMessage, ServerOptions } from './api-server';
import { summariseProfile } from './cpu-profile';

const ROOT = join(__dirname, '..', '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const SERVER_SCRIPT = join(__dirname, 'api-server.js');
const EXAMPLE = join(ROOT, 'examples', 'journey', '01-community-start.json');

const CONNECTIONS = 10;
const DURATION_S = 4;
const WARMUP_S = 1;
const ROUNDS = 3;
/** People the submissions are spread over (subjects cycled). */
const PATIENTS = 500;
/**
 * The fhir-server store's submissions at fewer connections: its server (fhir-router over
 * MemoryRepository, one event loop) processes each session's transaction in seconds, so more
 * connections only queue, and what is queued at the end of a window must drain before the next.
 */
const FHIR_SERVER_SUBMIT_CONNECTIONS = 2;
/** The longest wait for a server to finish, after a window, what it had taken. */
const IDLE_LIMIT_MS = 60_000;
const TARGETS = { submit: 0.5, read: 1 } as const;
const FHIR_JSON = 'application/fhir+json';
const EXAMPLE_SUBJECT = 'Patient/megan-price';
const SESSION_SYSTEM = 'urn:dialog-fhir:bench:session';
const READ_PATIENT = 'bench-read';

type Workload = 'submit' | 'read';
type ContenderId = 'embedded' | 'fhir-server' | 'fhir-server-peer' | 'baseline';

const LABELS: Record<ContenderId, string> = {
  embedded: 'dialog-fhir, embedded store',
  'fhir-server': 'dialog-fhir, fhir-server store',
  'fhir-server-peer': 'dialog-fhir, fhir-server → peer',
  baseline: 'fhir-router + MemoryRepository',
};

/** The contenders held to the targets (all but the baseline). */
const OURS = ['embedded', 'fhir-server', 'fhir-server-peer'] as const;

interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly base: string;
  readonly token?: string;
  readonly stderr: string[];
}

interface Contender {
  readonly id: ContenderId;
  readonly server: Child;
  /** Path prefix of the FHIR base (`/fhir/` or `/fhir/R4/`). */
  readonly prefix: string;
  readonly headers: Record<string, string>;
  /** The CarePlan read by the read workload. */
  readonly carePlanPath: string;
  /**
   * The FHIR server behind a fhir-server store: collected before and waited for after each of
   * this contender's windows too, so its leftover work does not land in another's window.
   */
  readonly backing?: Child;
}

interface Window {
  readonly rate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  /** How long the server took, after the window, to answer what it had taken. */
  readonly drainMs: number;
  /** The server's CPU time (every thread) per request answered; null when it never went idle. */
  readonly cpuUsPerRequest: number | null;
}

interface Stopped {
  readonly maxRssKb: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
}

const ms = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(0)).padStart(7);
const cpuText = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(0)).padStart(7);
const cpuRatioText = (v: number | null | undefined): string =>
  v === null || v === undefined ? 'n/a' : `${v.toFixed(2)}×`;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function waitFor<T extends ServerMessage['type']>(
  child: ChildProcess,
  type: T,
  name: string,
  timeoutMs = 60_000,
): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${name}: no '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: ServerMessage): void => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<ServerMessage, { type: T }>);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${name} exited (${code}) before '${type}'`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

async function startChild(
  name: string,
  kind: ServerKind,
  options: ServerOptions,
  execArgv: string[] = [],
): Promise<Child> {
  const child = fork(SERVER_SCRIPT, [kind], {
    execArgv: ['--expose-gc', ...execArgv],
    env: { ...process.env, BENCH_SERVER: JSON.stringify(options), LOG_LEVEL: 'info' },
    // The request log (one JSON line per request, as in production) goes to /dev/null.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const stderr: string[] = [];
  running.push({ name, process: child, base: '', stderr });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString('utf8'));
  });
  const ready = await waitFor(child, 'ready', name).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${stderr.join('')}`);
  });
  return {
    name,
    process: child,
    base: ready.base,
    ...(ready.token ? { token: ready.token } : {}),
    stderr,
  };
}

async function stopChild(child: Child): Promise<Stopped> {
  const stopped = waitFor(child.process, 'stopped', child.name);
  child.process.send({ type: 'stop' } satisfies ParentMessage);
  const message = await stopped;
  await new Promise<void>((resolve) => {
    if (child.process.exitCode !== null) resolve();
    else child.process.once('exit', () => resolve());
  });
  return message;
}

/** Waits until the server answers no request (what it took before the window closed). */
/**
 * Waits until the server answers no request (what it took before the window closed); its CPU
 * time then (µs), or undefined when it was still busy at IDLE_LIMIT_MS.
 */
async function idle(child: Child): Promise<number | undefined> {
  const done = waitFor(child.process, 'idle-now', child.name, IDLE_LIMIT_MS);
  child.process.send({ type: 'idle' } satisfies ParentMessage);
  return done.then(
    (message) => message.cpuUs,
    () => {
      console.log(`  ${child.name}: still busy ${IDLE_LIMIT_MS} ms after the window; going on`);
      return undefined;
    },
  );
}

/** Collects the server's garbage before a window; its CPU time then (µs). */
async function gc(child: Child): Promise<number> {
  const done = waitFor(child.process, 'gc-done', child.name);
  child.process.send({ type: 'gc' } satisfies ParentMessage);
  return (await done).cpuUs;
}

async function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': FHIR_JSON } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function must(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Resource> {
  const res = await request(url, method, headers, body);
  if (res.status >= 300)
    throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.body).slice(0, 600)}`);
  return res.body as Resource;
}

/** Runs `tasks` with at most `limit` at a time. */
async function pool(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const task = tasks[next++];
        if (task) await task();
      }
    }),
  );
}

function exampleResponse(): QuestionnaireResponse {
  const bundle = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Bundle;
  const qr = bundle.entry?.find((e) => e.resource?.resourceType === 'QuestionnaireResponse')
    ?.resource as QuestionnaireResponse | undefined;
  if (!qr) throw new Error(`${EXAMPLE} has no QuestionnaireResponse`);
  return qr;
}

/**
 * The example response as a system without our ids sends it (no `id`, no `meta` ids), with
 * placeholders for the session identifier and the subject; `body(n)` fills them in cheaply.
 */
function submissionBodies(): { body: (n: number) => string; bytes: number } {
  const { id: _id, meta, ...rest } = exampleResponse();
  void _id;
  const template = JSON.stringify({
    ...rest,
    ...(meta?.profile ? { meta: { profile: meta.profile } } : {}),
    identifier: { system: SESSION_SYSTEM, value: '@@SESSION@@' },
  });
  const parts = template.split('@@SESSION@@');
  const [head, tail] = [parts[0] ?? '', parts[1] ?? ''];
  const headParts = head.split(EXAMPLE_SUBJECT);
  const tailParts = tail.split(EXAMPLE_SUBJECT);
  const run = Date.now().toString(36);
  const body = (n: number): string => {
    const subject = `Patient/bench-${n % PATIENTS}`;
    return `${headParts.join(subject)}${run}-${n}${tailParts.join(subject)}`;
  };
  const check = JSON.parse(body(7)) as QuestionnaireResponse;
  if (check.identifier?.value !== `${run}-7` || check.subject?.reference !== 'Patient/bench-7')
    throw new Error('the submission template did not fill in');
  return { bytes: template.length, body };
}

/** The autocannon requests of a workload; `counter` numbers the sessions of one contender. */
function requestsFor(
  contender: Contender,
  workload: Workload,
  bodies: ReturnType<typeof submissionBodies>,
  counter: { n: number },
): autocannon.Request[] {
  const headers = { ...contender.headers, 'content-type': FHIR_JSON };
  if (workload === 'read')
    return [{ method: 'GET', path: contender.carePlanPath, headers: contender.headers }];
  return [
    {
      method: 'POST',
      path: `${contender.prefix}QuestionnaireResponse`,
      headers,
      setupRequest: (req) => ({ ...req, body: bodies.body(counter.n++) }),
    },
  ];
}

function connectionsFor(contender: Contender, workload: Workload): number {
  return contender.id === 'fhir-server' && workload === 'submit'
    ? FHIR_SERVER_SUBMIT_CONNECTIONS
    : CONNECTIONS;
}

async function measure(
  contender: Contender,
  workload: Workload,
  bodies: ReturnType<typeof submissionBodies>,
  counter: { n: number },
  seconds: number,
): Promise<Window> {
  const cpuBefore = await gc(contender.server);
  if (contender.backing) await gc(contender.backing);
  let firstFailure: string | undefined;
  const result = await autocannon({
    url: new URL(contender.server.base).origin,
    connections: connectionsFor(contender, workload),
    duration: seconds,
    requests: requestsFor(contender, workload, bodies, counter).map((r) => ({
      ...r,
      onResponse: (status: number, body: string) => {
        if (status >= 300 && firstFailure === undefined)
          firstFailure = `${status} ${body.slice(0, 400)}`;
      },
    })),
  });
  if (firstFailure !== undefined)
    console.log(`  ${LABELS[contender.id]} ${workload}: first failure: ${firstFailure}`);
  const drainStart = Date.now();
  const cpuAfter = await idle(contender.server);
  if (contender.backing) await idle(contender.backing);
  const drainMs = Date.now() - drainStart;
  const answered = result['2xx'] + result.non2xx;
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {}))
    statuses[code] = stat.count ?? 0;
  return {
    rate: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    statuses,
    drainMs,
    cpuUsPerRequest:
      cpuAfter !== undefined && answered > 0 ? (cpuAfter - cpuBefore) / answered : null,
  };
}

/** The people, in a dialog-fhir instance. */
async function seedDialog(contender: Contender): Promise<void> {
  const base = contender.server.base;
  const headers = contender.headers;
  const ids = [READ_PATIENT, ...Array.from({ length: PATIENTS }, (_, i) => `bench-${i}`)];
  await pool(
    ids.map(
      (id) => () => must(`${base}Patient/${id}`, 'PUT', headers, { resourceType: 'Patient', id }),
    ),
    CONNECTIONS,
  );
}

/** Submits one session for the read patient and returns its CarePlan. */
async function planOf(contender: Contender): Promise<CarePlan> {
  const base = contender.server.base;
  const { id: _id, meta: _meta, ...qr } = exampleResponse();
  void _id;
  void _meta;
  const body = JSON.parse(
    JSON.stringify({
      ...qr,
      identifier: { system: SESSION_SYSTEM, value: 'read-setup' },
    }).replaceAll(EXAMPLE_SUBJECT, `Patient/${READ_PATIENT}`),
  ) as QuestionnaireResponse;
  await must(`${base}QuestionnaireResponse`, 'POST', contender.headers, body);
  const found = (await must(
    `${base}CarePlan?subject=Patient/${READ_PATIENT}`,
    'GET',
    contender.headers,
  )) as Bundle<CarePlan>;
  const plan = found.entry?.[0]?.resource;
  if (!plan?.id) throw new Error(`${contender.id}: no CarePlan after a submission`);
  return plan;
}

async function stored(contender: Contender, type: string): Promise<number | undefined> {
  const res = await request(
    `${contender.server.base}${type}?_count=0&_total=accurate`,
    'GET',
    contender.headers,
  );
  return res.status === 200 ? (res.body as Bundle).total : undefined;
}

function fsType(dir: string): string {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length > 2 && dir.startsWith(f[1] ?? '\u0000'))
      .sort((a, b) => (b[1]?.length ?? 0) - (a[1]?.length ?? 0));
    return mounts[0] ? `${mounts[0][2]} (${mounts[0][1]})` : 'unknown';
  } catch {
    return 'unknown';
  }
}

interface WorkloadFigures {
  readonly ratesPerRound: number[];
  readonly medianRate: number;
  readonly medianP50Ms: number | null;
  readonly medianP99Ms: number | null;
  readonly worstP99Ms: number | null;
  readonly requestsOk: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly connections: number;
  readonly maxDrainMs: number;
  /** Median of the windows' server CPU time per request (µs); null when none was measured. */
  readonly medianCpuUsPerRequest: number | null;
}

function figures(windows: readonly Window[], connections: number): WorkloadFigures {
  const answered = windows.filter((w) => w.ok > 0);
  const statuses: Record<string, number> = {};
  for (const w of windows)
    for (const [code, count] of Object.entries(w.statuses))
      statuses[code] = (statuses[code] ?? 0) + count;
  return {
    ratesPerRound: windows.map((w) => Math.round(w.rate * 10) / 10),
    medianRate: median(windows.map((w) => w.rate)),
    // Latency of windows in which something was answered (none: null).
    medianP50Ms: answered.length ? median(answered.map((w) => w.p50Ms)) : null,
    medianP99Ms: answered.length ? median(answered.map((w) => w.p99Ms)) : null,
    worstP99Ms: answered.length ? Math.max(...answered.map((w) => w.p99Ms)) : null,
    requestsOk: windows.reduce((s, w) => s + w.ok, 0),
    non2xx: windows.reduce((s, w) => s + w.non2xx, 0),
    errors: windows.reduce((s, w) => s + w.errors, 0),
    statuses,
    connections,
    maxDrainMs: Math.max(...windows.map((w) => w.drainMs)),
    medianCpuUsPerRequest: (() => {
      const cpu = windows.flatMap((w) => (w.cpuUsPerRequest === null ? [] : [w.cpuUsPerRequest]));
      return cpu.length ? Math.round(median(cpu)) : null;
    })(),
  };
}

async function setUp(options: { only?: ContenderId[] } = {}): Promise<{
  contenders: Contender[];
  children: Child[];
  dataDirs: string[];
  auth: string;
}> {
  const only = options.only ?? ['embedded', 'fhir-server', 'fhir-server-peer', 'baseline'];
  const embeddedDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-embedded-'));
  const fhirServerDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-fhir-server-'));
  const peerDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-peer-'));
  const peerClientDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-peer-client-'));
  const needBacking = only.includes('fhir-server');
  const backing = needBacking
    ? await startChild('fhir-router (the fhir-server store’s server)', 'fhir-router', {})
    : undefined;
  // A FHIR server that indexes its searches, as a trust's would: another dialog-fhir, embedded
  // store, AUTH=off (the fhir-server store sends no token). fhir-router's MemoryRepository scans
  // every resource of a type per search, which is what the first fhir-server figure measures.
  const peer = only.includes('fhir-server-peer')
    ? await startChild('dialog-fhir embedded (the peer’s store)', 'dialog-embedded', {
        dataDir: peerDir,
        auth: 'off',
      })
    : undefined;
  const started = await Promise.all([
    only.includes('embedded')
      ? startChild(LABELS.embedded, 'dialog-embedded', { dataDir: embeddedDir, auth: 'jwt' })
      : undefined,
    backing
      ? startChild(LABELS['fhir-server'], 'dialog-fhir-server', {
          dataDir: fhirServerDir,
          storeUrl: backing.base,
          auth: 'jwt',
        })
      : undefined,
    only.includes('baseline') ? startChild(LABELS.baseline, 'fhir-router', {}) : undefined,
    peer
      ? startChild(LABELS['fhir-server-peer'], 'dialog-fhir-server', {
          dataDir: peerClientDir,
          storeUrl: peer.base,
          auth: 'jwt',
        })
      : undefined,
  ]);
  const [embedded, fhirServer, baseline, overPeer] = started;
  const children = [embedded, fhirServer, baseline, overPeer, backing, peer].filter(
    (c): c is Child => !!c,
  );
  const dialog = (
    id: ContenderId,
    server: Child | undefined,
    behind?: Child,
  ): Contender | undefined =>
    server
      ? {
          id,
          server,
          ...(behind ? { backing: behind } : {}),
          prefix: new URL(server.base).pathname,
          headers: server.token ? { authorization: `Bearer ${server.token}` } : {},
          carePlanPath: '',
        }
      : undefined;
  const contenders: Contender[] = [];
  let plan: CarePlan | undefined;
  for (const c of [
    dialog('embedded', embedded),
    dialog('fhir-server', fhirServer, backing),
    dialog('fhir-server-peer', overPeer, peer),
  ]) {
    if (!c) continue;
    await seedDialog(c);
    const own = await planOf(c);
    plan ??= own;
    contenders.push({ ...c, carePlanPath: `${c.prefix}CarePlan/${own.id ?? ''}` });
  }
  if (baseline) {
    const b = dialog('baseline', baseline);
    if (!b || !plan) throw new Error('the baseline needs a dialog-fhir contender for its CarePlan');
    const { id: _id, meta: _meta, ...body } = plan;
    void _id;
    void _meta;
    const created = await must(`${baseline.base}CarePlan`, 'POST', {}, body);
    contenders.push({ ...b, carePlanPath: `${b.prefix}CarePlan/${created.id ?? ''}` });
  }
  const auth = embedded?.token
    ? 'jwt: every dialog-fhir request carries an ES256 bearer token (user/*.cruds, a Practitioner) verified as dialog-fhir serve does with its dev key (src/api/bearer-access.ts); every request is audited (AuditEvents in batches). The baseline has no auth and no audit.'
    : 'off';
  return {
    contenders,
    children,
    dataDirs: [embeddedDir, fhirServerDir, peerDir, peerClientDir],
    auth,
  };
}

/** One workload on one store, the server's CPU profiled over the timed window only. */
async function profile(id: ContenderId, workload: Workload, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-profile-'));
  // The baseline reads the CarePlan a dialog-fhir contender made.
  const only: ContenderId[] = id === 'baseline' ? ['embedded', 'baseline'] : [id];
  const { contenders, children, dataDirs } = await setUp({ only });
  const contender = contenders.find((c) => c.id === id);
  if (!contender) throw new Error('no contender');
  const bodies = submissionBodies();
  const counter = { n: 0 };
  await measure(contender, workload, bodies, counter, WARMUP_S);
  const child = contender.server.process;
  const profiling = waitFor(child, 'profiling', contender.server.name);
  child.send({ type: 'profile-start' } satisfies ParentMessage);
  await profiling;
  const w = await measure(contender, workload, bodies, counter, seconds);
  const file = join(dir, `${id}-${workload}.cpuprofile`);
  const written = waitFor(child, 'profile-written', contender.server.name);
  child.send({ type: 'profile-stop', file } satisfies ParentMessage);
  await written;
  console.log(
    `${workload} (${LABELS[id]}, profiled): ${w.rate.toFixed(1)}/s, p50 ${w.p50Ms} ms, p99 ${w.p99Ms} ms, ${w.ok} requests, ${w.non2xx} non-2xx`,
  );
  for (const c of children) await stopChild(c);
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  console.log(summariseProfile(dir));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--profile') {
    const id = (args[2] ?? 'embedded') as ContenderId;
    const workload = (args[3] ?? 'submit') as Workload;
    await profile(id, workload, Number(args[1] ?? 10));
    return;
  }
  // `--only embedded,baseline`: a subset of the contenders (the fhir-server store's submissions
  // take minutes to drain); the ratios are still from one run, interleaved.
  const onlyAt = args.indexOf('--only');
  const only =
    onlyAt >= 0
      ? ((args[onlyAt + 1] ?? '').split(',').filter((c) => c in LABELS) as ContenderId[])
      : undefined;
  const started = Date.now();
  const { contenders, children, dataDirs, auth } = await setUp(only ? { only } : {});
  const bodies = submissionBodies();
  const counters = new Map(contenders.map((c) => [c.id, { n: 0 }]));
  const counterOf = (c: Contender): { n: number } => counters.get(c.id) ?? { n: 0 };
  const windows = new Map<string, Window[]>();
  const key = (c: Contender, w: Workload): string => `${c.id}:${w}`;
  // `--workloads read`: some workloads only (to try a change to one path quickly).
  const workloadsAt = args.indexOf('--workloads');
  const workloads = (
    workloadsAt >= 0 ? (args[workloadsAt + 1] ?? '').split(',') : ['submit', 'read']
  ).filter((w): w is Workload => w === 'submit' || w === 'read');

  console.log(
    `API bench: ${CONNECTIONS} connections (${FHIR_SERVER_SUBMIT_CONNECTIONS} for the fhir-server store's submissions), ${ROUNDS} interleaved rounds of ${DURATION_S} s per contender and workload, sessions over ${PATIENTS} people`,
  );
  for (const workload of workloads)
    for (const c of contenders) await measure(c, workload, bodies, counterOf(c), WARMUP_S);
  for (let round = 0; round < ROUNDS; round++) {
    for (const workload of workloads) {
      // A different contender goes first each round.
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
      for (const c of order) {
        if (!c) continue;
        const w = await measure(c, workload, bodies, counterOf(c), DURATION_S);
        const list = windows.get(key(c, workload)) ?? [];
        list.push(w);
        windows.set(key(c, workload), list);
        process.stdout.write(
          `  round ${round + 1} ${workload.padEnd(6)} ${LABELS[c.id].padEnd(32)} ${w.rate.toFixed(0).padStart(6)}/s  p99 ${String(w.p99Ms).padStart(5)} ms  drain ${String(w.drainMs).padStart(5)} ms  cpu ${cpuText(w.cpuUsPerRequest)} µs/req${w.non2xx || w.errors ? `  (${w.non2xx} non-2xx, ${w.errors} errors)` : ''}\n`,
        );
      }
    }
  }

  const storedCounts: Record<string, number | undefined> = {};
  for (const c of contenders)
    storedCounts[c.id] = await stored(c, 'QuestionnaireResponse').catch(() => undefined);
  const embeddedDb = join(dataDirs[0] ?? '', 'dialog-fhir.sqlite');
  const dbBytes = (() => {
    try {
      const db = statSync(embeddedDb).size;
      const wal = statSync(`${embeddedDb}-wal`).size;
      return { total: db + wal, db, wal };
    } catch {
      return undefined;
    }
  })();
  const filesystem = fsType(dataDirs[0] ?? tmpdir());

  const rss: Record<string, number> = {};
  for (const child of children) {
    const s = await stopChild(child);
    rss[child.name] = Math.round(s.maxRssKb / 1024);
  }
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });

  const byContender: Record<string, Record<Workload, WorkloadFigures>> = {};
  for (const c of contenders)
    byContender[c.id] = {
      submit: figures(windows.get(key(c, 'submit')) ?? [], connectionsFor(c, 'submit')),
      read: figures(windows.get(key(c, 'read')) ?? [], connectionsFor(c, 'read')),
    };
  const base = byContender.baseline;
  const ratios: Record<Workload, Record<string, number>> = { submit: {}, read: {} };
  // The baseline's CPU time per request over ours: what the throughput ratio would be on a
  // machine where the server had a core to itself (it hardly moves with noise; not the target).
  const cpuRatios: Record<Workload, Record<string, number | null>> = { submit: {}, read: {} };
  const met: Record<Workload, Record<string, boolean>> = { submit: {}, read: {} };
  for (const workload of workloads)
    for (const id of OURS) {
      const ours = byContender[id]?.[workload].medianRate ?? 0;
      const theirs = base?.[workload].medianRate ?? 0;
      const ratio = theirs > 0 ? ours / theirs : 0;
      ratios[workload][id] = Math.round(ratio * 1000) / 1000;
      met[workload][id] = ratio >= TARGETS[workload];
      const ourCpu = byContender[id]?.[workload].medianCpuUsPerRequest ?? null;
      const theirCpu = base?.[workload].medianCpuUsPerRequest ?? null;
      cpuRatios[workload][id] =
        ourCpu && theirCpu ? Math.round((theirCpu / ourCpu) * 1000) / 1000 : null;
    }
  const clean = Object.values(byContender).every((f) =>
    workloads.every((w) => f[w].non2xx === 0 && f[w].errors === 0),
  );

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    command: `npm run bench (node dist-bench/bench/api.js${only ? ` --only ${only.join(',')}` : ''}${workloadsAt >= 0 ? ` --workloads ${workloads.join(',')}` : ''})`,
    settings: {
      connections: CONNECTIONS,
      fhirServerSubmitConnections: FHIR_SERVER_SUBMIT_CONNECTIONS,
      durationSeconds: DURATION_S,
      warmupSeconds: WARMUP_S,
      rounds: ROUNDS,
      patients: PATIENTS,
      submissionBytes: bodies.bytes,
      embeddedStoreFilesystem: filesystem,
    },
    auth,
    contenders: Object.fromEntries(contenders.map((c) => [c.id, LABELS[c.id]])),
    results: byContender,
    ratiosToBaseline: ratios,
    cpuPerRequestRatiosToBaseline: cpuRatios,
    targets: TARGETS,
    met,
    allResponses2xx: clean,
    peakRssMb: rss,
    storedQuestionnaireResponses: storedCounts,
    embeddedDatabaseBytes: dbBytes,
    wallSeconds: Math.round((Date.now() - started) / 1000),
  };
  const subset = [...(only ?? []), ...(workloadsAt >= 0 ? workloads : [])];
  const resultFile = subset.length > 0 ? `api-${subset.join('-')}.json` : 'api.json';
  writeFileSync(join(RESULTS_DIR, resultFile), `${JSON.stringify(result, null, 2)}\n`);

  console.log(`\nAuth: ${auth}`);
  console.log(
    `Embedded store on ${filesystem}; submission ${bodies.bytes} bytes; medians of ${ROUNDS} rounds.`,
  );
  console.log(
    `${'workload'.padEnd(8)} ${'contender'.padEnd(32)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'µs CPU'.padStart(7)}  ratio to baseline (CPU per request ratio)`,
  );
  for (const workload of workloads)
    for (const c of contenders) {
      const f = byContender[c.id]?.[workload];
      if (!f) continue;
      const verdict =
        c.id === 'baseline'
          ? ''
          : `${(ratios[workload][c.id] ?? 0).toFixed(2)}× (target ≥ ${TARGETS[workload]}×) ${met[workload][c.id] ? 'MET' : 'NOT MET'} (CPU ${cpuRatioText(cpuRatios[workload][c.id])})`;
      console.log(
        `${workload.padEnd(8)} ${LABELS[c.id].padEnd(32)} ${f.medianRate.toFixed(1).padStart(7)} ${ms(f.medianP50Ms)} ${ms(f.medianP99Ms)} ${cpuText(f.medianCpuUsPerRequest)}  ${verdict}`,
      );
    }
  console.log(
    `(fhir-server store: its server is fhir-router over MemoryRepository, whose conditional creates scan every stored resource of the type; ${byContender['fhir-server']?.submit.requestsOk ?? 0} sessions answered inside the submit windows. fhir-server → peer: the same store over another dialog-fhir, embedded, AUTH=off, which indexes its searches; µs CPU is the adapter's process only, not the peer's)`,
  );
  if (dbBytes)
    console.log(
      `Embedded store file after the run: ${(dbBytes.db / 1e6).toFixed(1)} MB + WAL ${(dbBytes.wal / 1e6).toFixed(1)} MB (${storedCounts.embedded ?? '?'} QuestionnaireResponses)`,
    );
  console.log('Peak RSS per server process:');
  for (const [name, mb] of Object.entries(rss)) console.log(`  ${name.padEnd(46)} ${mb} MB`);
  if (!clean) {
    console.log('WARNING: some responses were not 2xx (see bench/results/api.json statuses)');
    for (const child of children) if (child.stderr.length) console.log(child.stderr.join(''));
  }
}

/** Every server started, so a failure can stop them all. */
const running: Child[] = [];

main().catch((err: unknown) => {
  console.error(err);
  for (const child of running) {
    if (child.stderr.length) console.error(`${child.name}:\n${child.stderr.join('')}`);
    if (child.process.exitCode !== null)
      console.error(`${child.name} had exited (${child.process.exitCode})`);
    child.process.kill();
  }
  process.exit(1);
});
