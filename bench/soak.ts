/**
 * The soak (issue 7 part 7), `npm run soak` (not in CI): one dialog-fhir instance over the
 * embedded store (a real SQLite file in a temporary DATA_DIR), bearer JWTs verified against its
 * dev key as `dialog-fhir serve` does, every request audited, rate limit off — started as a
 * child process by bench/api-server.ts (kind `dialog-embedded`, auth `jwt`) on 127.0.0.1.
 *
 * After seeding (a Patient and one session for each of `patients` people, so each has a plan),
 * a FIXED request mix is sent at a FIXED rate, open loop (a request is started every 1/rate s
 * whether or not earlier ones have been answered; at most `maxInFlight` at once, anything beyond
 * is counted as dropped), first for a warm-up, then for the timed duration. The mix, per 60
 * requests (DEFAULT: 30/s):
 *   12 session submissions (`POST /fhir/QuestionnaireResponse`, a new session each, subjects
 *      cycled over the pool), 18 CarePlan reads, 12 searches (Observation, QuestionnaireResponse
 *      and CarePlan by subject), 10 `Patient/{id}/$dialog-summary`, 5 native exports
 *      (`GET /native/dialogplus-csv?patient=`), 2 `$chart`, 1 `$letter` (html, pdf, sms in turn).
 * Every 10 s (a window): requests answered, errors (non-2xx or socket errors), p50/p99 latency of
 * the requests answered in that window, and the server's RSS (VmRSS of /proc/<pid>/status).
 * At the end of the warm-up and at the end of the run the server is left idle for 5 s and asked
 * twice to collect garbage (`global.gc`, the child runs with --expose-gc), and its RSS is read
 * again, with its V8 heap (process.memoryUsage(), asked over IPC): RSS growth is the end
 * against the end of the warm-up. Targets: zero errors, RSS growth < 10 %.
 *
 * Flags (or environment): `--duration <s>` (SOAK_DURATION_S, 600), `--warmup <s>`
 * (SOAK_WARMUP_S, 60), `--rate <req/s>` (SOAK_RATE, 30), `--patients <n>` (SOAK_PATIENTS, 300),
 * `--out <file>` (SOAK_OUT, bench/results/soak.json), `--heap-snapshots` (SOAK_HEAP_SNAPSHOTS=1:
 * the child writes a V8 heap snapshot after the warm-up and at the end, via
 * --heapsnapshot-signal=SIGUSR2, into a kept temporary directory, to find what grows).
 */
import { fork, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Bundle, CarePlan, QuestionnaireResponse } from '@medplum/fhirtypes';
import type { ParentMessage, ServerMessage } from './api-server';

const ROOT = join(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'journey', '01-community-start.json');
const EXAMPLE_SUBJECT = 'Patient/megan-price';
const SESSION_SYSTEM = 'urn:dialog-fhir:soak:session';
const FHIR_JSON = 'application/fhir+json';
const WINDOW_S = 10;
const SERVER_FLAG = '--soak-server';
const RSS_GROWTH_TARGET = 0.1;

type Kind =
  'submit' | 'careplan-read' | 'search' | 'dialog-summary' | 'native-export' | 'chart' | 'letter';

/** The fixed mix: one cycle of 60 requests, interleaved so each kind is spread over the cycle. */
const MIX: readonly (readonly [Kind, number])[] = [
  ['submit', 12],
  ['careplan-read', 18],
  ['search', 12],
  ['dialog-summary', 10],
  ['native-export', 5],
  ['chart', 2],
  ['letter', 1],
];

interface Settings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rate: number;
  readonly patients: number;
  readonly maxInFlight: number;
  readonly out: string;
  readonly heapSnapshots: boolean;
}

function settings(): Settings {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const num = (name: string, env: string, fallback: number): number => {
    const raw = flag(name) ?? process.env[env];
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} / ${env}: not a positive number`);
    return v;
  };
  return {
    durationS: num('duration', 'SOAK_DURATION_S', 600),
    warmupS: num('warmup', 'SOAK_WARMUP_S', 60),
    rate: num('rate', 'SOAK_RATE', 30),
    patients: Math.round(num('patients', 'SOAK_PATIENTS', 300)),
    maxInFlight: Math.round(num('max-in-flight', 'SOAK_MAX_IN_FLIGHT', 200)),
    out: flag('out') ?? process.env.SOAK_OUT ?? join(ROOT, 'bench', 'results', 'soak.json'),
    heapSnapshots: args.includes('--heap-snapshots') || process.env.SOAK_HEAP_SNAPSHOTS === '1',
  };
}

/** The cycle of kinds: each kind's requests spread evenly over the 60 slots. */
function cycle(): Kind[] {
  const slots: { kind: Kind; at: number }[] = [];
  for (const [kind, count] of MIX)
    for (let i = 0; i < count; i++) slots.push({ kind, at: (i + 0.5) / count });
  return slots.sort((a, b) => a.at - b.at).map((s) => s.kind);
}

// ---------------------------------------------------------------- the server (child process)

interface Server {
  readonly child: ChildProcess;
  readonly base: string;
  readonly origin: string;
  readonly headers: Record<string, string>;
  readonly stderr: string[];
}

function waitFor<T extends ServerMessage['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs = 120_000,
): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`server: no '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: ServerMessage): void => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<ServerMessage, { type: T }>);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`server exited (${code}) before '${type}'`));
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

let running: ChildProcess | undefined;

async function startServer(dataDir: string, diagnosticDir?: string): Promise<Server> {
  const execArgv = ['--expose-gc'];
  if (diagnosticDir)
    execArgv.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${diagnosticDir}`);
  // This file again, as the server: bench/api-server.ts (loaded below) plus a memory probe.
  const child = fork(__filename, ['dialog-embedded', SERVER_FLAG], {
    execArgv,
    env: {
      ...process.env,
      BENCH_SERVER: JSON.stringify({ dataDir, auth: 'jwt' }),
      LOG_LEVEL: 'info',
      // As `npm start` and the Dockerfile run the service (see package.json): glibc's malloc
      // otherwise keeps up to 8 arenas per core for Node's threads, and their free memory.
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
    },
    // The request log (one JSON line per request, as in production) goes to /dev/null.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  running = child;
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const ready = await waitFor(child, 'ready').catch((err: unknown) => {
    throw new Error(`${String(err)}\n${stderr.join('')}`);
  });
  if (!ready.token) throw new Error('the server gave no token (auth should be jwt)');
  return {
    child,
    base: ready.base,
    origin: new URL(ready.base).origin,
    headers: { authorization: `Bearer ${ready.token}` },
    stderr,
  };
}

async function stopServer(server: Server): Promise<number> {
  const stopped = waitFor(server.child, 'stopped');
  server.child.send({ type: 'stop' } satisfies ParentMessage);
  const message = await stopped;
  await new Promise<void>((resolve) => {
    if (server.child.exitCode !== null) resolve();
    else server.child.once('exit', () => resolve());
  });
  running = undefined;
  return Math.round(message.maxRssKb / 1024);
}

interface Memory {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** The child's process.memoryUsage(), in MB. */
function memory(server: Server): Promise<Record<keyof Memory, number>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.child.off('message', on);
      reject(new Error('no memory answer within 30 s'));
    }, 30_000);
    const on = (message: { type?: string; memory?: Memory }): void => {
      if (message.type !== 'memory' || !message.memory) return;
      clearTimeout(timer);
      server.child.off('message', on);
      const m = message.memory;
      const mb = (v: number): number => Math.round((v / 1048576) * 10) / 10;
      resolve({
        rss: mb(m.rss),
        heapTotal: mb(m.heapTotal),
        heapUsed: mb(m.heapUsed),
        external: mb(m.external),
        arrayBuffers: mb(m.arrayBuffers),
      });
    };
    server.child.on('message', on);
    server.child.send({ type: 'memory' });
  });
}

/**
 * Idle for a moment, then two full collections apart: V8 gives back the pages of the heap it
 * grew under load only after a full GC with the process quiet, so both RSS readings (after the
 * warm-up and at the end) are taken the same way.
 */
async function settle(server: Server): Promise<void> {
  await new Promise((r) => setTimeout(r, 5000));
  await gc(server);
  await new Promise((r) => setTimeout(r, 2000));
  await gc(server);
}

async function gc(server: Server): Promise<void> {
  const done = waitFor(server.child, 'gc-done');
  server.child.send({ type: 'gc' } satisfies ParentMessage);
  await done;
}

/** A field of /proc/<pid>/status in MB (VmRSS, RssAnon, RssFile, RssShmem). */
function statusMb(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1];
  if (kb === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Math.round((Number(kb) / 1024) * 10) / 10;
}

/** The child's resident set (VmRSS), in MB. */
const rssMb = (pid: number): number => statusMb(pid, 'VmRSS');

/** VmRSS split: anonymous (heaps: V8, malloc — SQLite's page cache), file-backed, shared. */
function rssParts(pid: number): { anonMb: number; fileMb: number; shmemMb: number } {
  return {
    anonMb: statusMb(pid, 'RssAnon'),
    fileMb: statusMb(pid, 'RssFile'),
    shmemMb: statusMb(pid, 'RssShmem'),
  };
}

/**
 * The compiled bench lives one folder deeper (dist-bench/src/…) than dist/ does, so
 * src/mapping/spec.ts's MAPPINGS_DIR (two folders up from its own file) points at
 * dist-bench/mappings, which tsc does not make: native import and export would answer 500 with
 * ENOENT. Link it to the repository's mappings/ (build output only; nothing in src changes).
 */
function linkMappings(): void {
  const link = join(__dirname, '..', 'mappings');
  if (!existsSync(link)) symlinkSync(join(ROOT, 'mappings'), link, 'dir');
}

/** Asks the child for a heap snapshot (SIGUSR2) and waits until the file is written. */
async function heapSnapshot(server: Server, dir: string): Promise<string | undefined> {
  const before = new Set(readdirSync(dir));
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const fresh = readdirSync(dir).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    const file = fresh[0];
    if (file) {
      // Written when its size stops changing.
      const a = statSync(join(dir, file)).size;
      await new Promise((r) => setTimeout(r, 1000));
      if (statSync(join(dir, file)).size === a && a > 0) return join(dir, file);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- requests

function exampleResponse(): QuestionnaireResponse {
  const bundle = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Bundle;
  const qr = bundle.entry?.find((e) => e.resource?.resourceType === 'QuestionnaireResponse')
    ?.resource as QuestionnaireResponse | undefined;
  if (!qr) throw new Error(`${EXAMPLE} has no QuestionnaireResponse`);
  return qr;
}

/** A new session (its own identifier, no id) of the example response for `patient`. */
function sessionBodies(): (session: string, patient: string) => string {
  const { id: _id, meta, ...rest } = exampleResponse();
  void _id;
  const template = JSON.stringify({
    ...rest,
    ...(meta?.profile ? { meta: { profile: meta.profile } } : {}),
    identifier: { system: SESSION_SYSTEM, value: '@@SESSION@@' },
  });
  const body = (session: string, patient: string): string =>
    template.replaceAll(EXAMPLE_SUBJECT, `Patient/${patient}`).replace('@@SESSION@@', session);
  const check = JSON.parse(body('x-1', 'soak-7')) as QuestionnaireResponse;
  if (check.identifier?.value !== 'x-1' || check.subject?.reference !== 'Patient/soak-7')
    throw new Error('the submission template did not fill in');
  return body;
}

interface Outcome {
  readonly kind: Kind;
  readonly status: number;
  readonly ms: number;
  readonly error?: string;
}

async function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': FHIR_JSON } : {}) },
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, text };
}

async function must(server: Server, path: string, method = 'GET', body?: string): Promise<string> {
  const res = await send(`${server.origin}${path}`, method, server.headers, body);
  if (res.status >= 300)
    throw new Error(`${method} ${path}: ${res.status} ${res.text.slice(0, 400)}`);
  return res.text;
}

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

class Load {
  private n = 0;
  private readonly kinds = cycle();
  private readonly run = Date.now().toString(36);
  private letterTurn = 0;
  private searchTurn = 0;

  constructor(
    private readonly server: Server,
    private readonly patients: readonly string[],
    private readonly plans: ReadonlyMap<string, string>,
    private readonly body: (session: string, patient: string) => string,
  ) {}

  /** The next request of the fixed mix: its kind and how to send it. */
  next(): { kind: Kind; go: () => Promise<{ status: number }> } {
    const i = this.n++;
    const kind = this.kinds[i % this.kinds.length] ?? 'careplan-read';
    // A different person for each request (a stride so kinds do not stick to the same people).
    const patient = this.patients[(i * 7) % this.patients.length] ?? 'soak-0';
    const prefix = new URL(this.server.base).pathname;
    const get = (path: string) => () =>
      send(`${this.server.origin}${path}`, 'GET', this.server.headers);
    const plan = this.plans.get(patient) ?? '';
    switch (kind) {
      case 'submit':
        return {
          kind,
          go: () =>
            send(
              `${this.server.origin}${prefix}QuestionnaireResponse`,
              'POST',
              this.server.headers,
              this.body(`${this.run}-${i}`, patient),
            ),
        };
      case 'careplan-read':
        return { kind, go: get(`${prefix}CarePlan/${plan}`) };
      case 'search': {
        const type = ['Observation', 'QuestionnaireResponse', 'CarePlan'][this.searchTurn++ % 3];
        const count = type === 'Observation' ? '&_count=50' : '';
        return { kind, go: get(`${prefix}${type}?subject=Patient/${patient}${count}`) };
      }
      case 'dialog-summary':
        return { kind, go: get(`${prefix}Patient/${patient}/$dialog-summary`) };
      case 'native-export':
        return { kind, go: get(`/native/dialogplus-csv?patient=${patient}`) };
      case 'chart':
        return { kind, go: get(`${prefix}CarePlan/${plan}/$chart`) };
      case 'letter': {
        const format = ['html', 'pdf', 'sms'][this.letterTurn++ % 3];
        return { kind, go: get(`${prefix}CarePlan/${plan}/$letter?format=${format}`) };
      }
    }
  }
}

// ---------------------------------------------------------------- windows

interface WindowFigures {
  readonly phase: 'warmup' | 'soak';
  /** Seconds since the start of the timed run (negative: warm-up). */
  readonly endS: number;
  readonly started: number;
  readonly answered: number;
  readonly errors: number;
  readonly dropped: number;
  readonly inFlightAtEnd: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly rssMb: number;
  readonly rssAnonMb: number;
  readonly rssFileMb: number;
  readonly rssShmemMb: number;
  /**
   * The slowest `/healthz` answer of the window (probed once a second, outside the mix): it does
   * no work, so a slow one means the server's event loop was blocked, not that work queued.
   */
  readonly healthzMaxMs: number | null;
  /** The child's process.memoryUsage() at the window's end, in MB. */
  memory?: Record<keyof Memory, number>;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  const at = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round((sorted[Math.max(0, at)] ?? 0) * 10) / 10;
}

interface PhaseResult {
  readonly windows: WindowFigures[];
  readonly outcomes: Outcome[];
  readonly firstErrors: string[];
}

/**
 * Sends the mix at `rate` for `seconds`, open loop, and closes a window every WINDOW_S seconds.
 * `t0` is the start of the timed run, for the windows' time axis.
 */
async function drive(
  server: Server,
  load: Load,
  s: Settings,
  phase: 'warmup' | 'soak',
  seconds: number,
  t0: number,
  onWindow: (w: WindowFigures) => void,
): Promise<PhaseResult> {
  const pid = server.child.pid;
  if (pid === undefined) throw new Error('the server has no pid');
  const interval = 1000 / s.rate;
  const start = performance.now();
  const end = start + seconds * 1000;
  const windows: WindowFigures[] = [];
  const all: Outcome[] = [];
  const firstErrors: string[] = [];
  let current: Outcome[] = [];
  let started = 0;
  let dropped = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const probes: Promise<void>[] = [];
  let nextWindow = start + WINDOW_S * 1000;
  // The event-loop probe: /healthz once a second (a probe still waiting counts when it ends).
  let probes1s: number[] = [];
  const probePending = new Set<Promise<void>>();
  const prober = setInterval(() => {
    const t = performance.now();
    const p: Promise<void> = send(`${server.origin}/healthz`, 'GET', {})
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        probes1s.push(performance.now() - t);
      })
      .finally(() => probePending.delete(p));
    probePending.add(p);
  }, 1000);

  const closeWindow = (at: number): void => {
    const done = current;
    current = [];
    const probed = probes1s;
    probes1s = [];
    const latencies = done.map((o) => o.ms).sort((a, b) => a - b);
    const w: WindowFigures = {
      phase,
      endS: Math.round((at - t0) / 1000),
      started,
      answered: done.length,
      errors: done.filter((o) => o.error !== undefined).length,
      dropped,
      inFlightAtEnd: inFlight,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.length ? Math.round((latencies.at(-1) ?? 0) * 10) / 10 : null,
      healthzMaxMs: probed.length ? Math.round(Math.max(...probed)) : null,
      rssMb: rssMb(pid),
      ...(({ anonMb, fileMb, shmemMb }) => ({
        rssAnonMb: anonMb,
        rssFileMb: fileMb,
        rssShmemMb: shmemMb,
      }))(rssParts(pid)),
    };
    started = 0;
    dropped = 0;
    windows.push(w);
    probes.push(
      memory(server).then(
        (m) => {
          w.memory = m;
          onWindow(w);
        },
        () => onWindow(w),
      ),
    );
  };

  for (let i = 0; ; i++) {
    const due = start + i * interval;
    if (due >= end) break;
    // Close every window whose end has passed before starting the next request.
    while (performance.now() >= nextWindow) {
      closeWindow(nextWindow);
      nextWindow += WINDOW_S * 1000;
    }
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (inFlight >= s.maxInFlight) {
      dropped++;
      continue;
    }
    const { kind, go } = load.next();
    const t = performance.now();
    started++;
    inFlight++;
    const p: Promise<void> = go()
      .then(
        ({ status }) => ({
          kind,
          status,
          ms: performance.now() - t,
          ...(status >= 200 && status < 300 ? {} : { error: `${kind}: HTTP ${status}` }),
        }),
        (err: unknown) => ({
          kind,
          status: 0,
          ms: performance.now() - t,
          error: `${kind}: ${err instanceof Error ? `${err.name} ${err.message}` : String(err)}`,
        }),
      )
      .then((o: Outcome) => {
        inFlight--;
        current.push(o);
        all.push(o);
        if (o.error !== undefined && firstErrors.length < 20) firstErrors.push(o.error);
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  clearInterval(prober);
  // What was started is answered (counted in the last window).
  await Promise.all([...pending, ...probePending]);
  const now = performance.now();
  while (nextWindow <= now) {
    closeWindow(nextWindow);
    nextWindow += WINDOW_S * 1000;
  }
  if (current.length || started) closeWindow(now);
  await Promise.all(probes);
  return { windows, outcomes: all, firstErrors };
}

// ---------------------------------------------------------------- main

function byKind(outcomes: readonly Outcome[]): Record<
  string,
  {
    requests: number;
    errors: number;
    p50Ms: number | null;
    p99Ms: number | null;
    statuses: Record<string, number>;
  }
> {
  const out: ReturnType<typeof byKind> = {};
  for (const [kind] of MIX) {
    const of = outcomes.filter((o) => o.kind === kind);
    const sorted = of.map((o) => o.ms).sort((a, b) => a - b);
    const statuses: Record<string, number> = {};
    for (const o of of) statuses[String(o.status)] = (statuses[String(o.status)] ?? 0) + 1;
    out[kind] = {
      requests: of.length,
      errors: of.filter((o) => o.error !== undefined).length,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      statuses,
    };
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const pad = (v: unknown, n: number): string => String(v ?? 'n/a').padStart(n);

function printWindow(w: WindowFigures): void {
  console.log(
    `${pad(w.phase === 'warmup' ? 'warm' : '', 4)} ${pad(w.endS, 6)} ${pad(w.started, 6)} ${pad(w.answered, 6)} ${pad(w.errors, 6)} ${pad(w.dropped, 6)} ${pad(w.p50Ms, 8)} ${pad(w.p99Ms, 8)} ${pad(w.maxMs, 8)} ${pad(w.healthzMaxMs, 8)} ${pad(w.rssMb, 8)} ${pad(w.rssAnonMb, 7)} ${pad(w.rssFileMb, 7)} ${pad(w.rssShmemMb, 7)} ${pad(w.memory?.heapUsed, 7)} ${pad(w.memory?.heapTotal, 7)} ${pad(w.memory?.external, 7)}`,
  );
}

async function main(): Promise<void> {
  const s = settings();
  linkMappings();
  const wallStart = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-soak-'));
  const diagnosticDir = s.heapSnapshots
    ? mkdtempSync(join(tmpdir(), 'dialog-fhir-soak-heap-'))
    : undefined;
  const server = await startServer(dataDir, diagnosticDir);
  const pid = server.child.pid ?? 0;
  const rssAtStart = rssMb(pid);
  const prefix = new URL(server.base).pathname;
  const body = sessionBodies();
  const patients = Array.from({ length: s.patients }, (_, i) => `soak-${i}`);

  // Seeding: the people, one session each (so each has a plan), their plans' ids.
  const seedStart = Date.now();
  await pool(
    patients.map(
      (id) => () =>
        must(
          server,
          `${prefix}Patient/${id}`,
          'PUT',
          JSON.stringify({ resourceType: 'Patient', id }),
        ),
    ),
    10,
  );
  await pool(
    patients.map(
      (id) => () => must(server, `${prefix}QuestionnaireResponse`, 'POST', body(`seed-${id}`, id)),
    ),
    10,
  );
  const plans = new Map<string, string>();
  await pool(
    patients.map((id) => async () => {
      const found = JSON.parse(
        await must(server, `${prefix}CarePlan?subject=Patient/${id}`),
      ) as Bundle<CarePlan>;
      const plan = found.entry?.[0]?.resource?.id;
      if (!plan) throw new Error(`no CarePlan for ${id} after seeding`);
      plans.set(id, plan);
    }),
    10,
  );
  const seedS = Math.round((Date.now() - seedStart) / 1000);
  console.log(
    `Soak: dialog-fhir (embedded store, AUTH jwt, audit on) pid ${pid} on ${server.origin}; ${s.patients} people seeded in ${seedS} s; ${s.rate} req/s fixed mix (${MIX.map(([k, n]) => `${k} ${n}`).join(', ')} per 60); warm-up ${s.warmupS} s, then ${s.durationS} s; ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `${pad('', 4)} ${pad('t s', 6)} ${pad('sent', 6)} ${pad('done', 6)} ${pad('errors', 6)} ${pad('drop', 6)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} ${pad('max ms', 8)} ${pad('healthz', 8)} ${pad('RSS MB', 8)} ${pad('anon', 7)} ${pad('file', 7)} ${pad('shmem', 7)} ${pad('heapUsd', 7)} ${pad('heapTot', 7)} ${pad('extern', 7)}`,
  );

  const load = new Load(server, patients, plans, body);
  const warmT0 = performance.now() + s.warmupS * 1000;
  const warm = await drive(server, load, s, 'warmup', s.warmupS, warmT0, printWindow);
  await settle(server);
  const rssAfterWarmup = rssMb(pid);
  const partsAfterWarmup = rssParts(pid);
  const memoryAfterWarmup = await memory(server);
  const snapshots: string[] = [];
  if (diagnosticDir) {
    const f = await heapSnapshot(server, diagnosticDir);
    if (f) snapshots.push(f);
    await gc(server);
  }
  console.log(
    `after warm-up and a full GC: RSS ${rssAfterWarmup} MB (anon ${partsAfterWarmup.anonMb}, file ${partsAfterWarmup.fileMb}, shmem ${partsAfterWarmup.shmemMb}; V8 heap used ${memoryAfterWarmup.heapUsed} of ${memoryAfterWarmup.heapTotal}, external ${memoryAfterWarmup.external})`,
  );

  const t0 = performance.now();
  const soak = await drive(server, load, s, 'soak', s.durationS, t0, printWindow);
  const loadAtEnd = loadavg();
  await settle(server);
  const rssAtEnd = rssMb(pid);
  const partsAtEnd = rssParts(pid);
  const memoryAtEnd = await memory(server);
  if (diagnosticDir) {
    const f = await heapSnapshot(server, diagnosticDir);
    if (f) snapshots.push(f);
  }
  const counts: Record<string, number | undefined> = {};
  for (const type of ['QuestionnaireResponse', 'Observation', 'CarePlan', 'AuditEvent']) {
    const res = await send(`${server.base}${type}?_count=0&_total=accurate`, 'GET', server.headers);
    counts[type] = res.status === 200 ? (JSON.parse(res.text) as Bundle).total : undefined;
  }
  const db = join(dataDir, 'dialog-fhir.sqlite');
  const size = (f: string): number => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };
  const dbMb = Math.round(((size(db) + size(`${db}-wal`)) / 1e6) * 10) / 10;
  const peakRssMb = await stopServer(server);
  rmSync(dataDir, { recursive: true, force: true });

  const outcomes = soak.outcomes;
  const errors = outcomes.filter((o) => o.error !== undefined).length;
  const dropped = soak.windows.reduce((n, w) => n + w.dropped, 0);
  const sorted = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const growth = (rssAtEnd - rssAfterWarmup) / rssAfterWarmup;
  const windowRss = soak.windows.map((w) => w.rssMb);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    command: `npm run soak (node dist-bench/bench/soak.js${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''})`,
    // What else ran on the machine is told by the load average, not asserted here.
    loadAverageAtEnd: loadAtEnd.map((l) => Math.round(l * 100) / 100),
    settings: {
      durationSeconds: s.durationS,
      warmupSeconds: s.warmupS,
      ratePerSecond: s.rate,
      windowSeconds: WINDOW_S,
      patients: s.patients,
      maxInFlight: s.maxInFlight,
      mixPer60: Object.fromEntries(MIX),
      server:
        'bench/api-server.ts dialog-embedded: embedded store (SQLite WAL, synced before each acknowledgement) in a temporary DATA_DIR, AUTH jwt (ES256 dev key, user/*.cruds Practitioner token), AuditEvents in batches, request log to /dev/null, rate limit off, loopback',
      seedSeconds: seedS,
    },
    targets: { errors: 0, rssGrowthAfterWarmup: RSS_GROWTH_TARGET },
    summary: {
      requests: outcomes.length,
      errors,
      errorRate: outcomes.length ? errors / outcomes.length : 0,
      droppedAtInFlightCap: dropped,
      achievedRatePerSecond: Math.round((outcomes.length / s.durationS) * 10) / 10,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.length ? Math.round((sorted.at(-1) ?? 0) * 10) / 10 : null,
      p99FirstWindowMs: soak.windows[0]?.p99Ms ?? null,
      p99LastWindowMs: soak.windows.filter((w) => w.p99Ms !== null).at(-1)?.p99Ms ?? null,
      worstHealthzMs: Math.max(...soak.windows.map((w) => w.healthzMaxMs ?? 0)),
      worstWindowP99Ms: Math.max(...soak.windows.map((w) => w.p99Ms ?? 0)),
      rssAtStartMb: rssAtStart,
      rssAfterWarmupMb: rssAfterWarmup,
      rssAtEndMb: rssAtEnd,
      rssPartsAfterWarmupMb: partsAfterWarmup,
      rssPartsAtEndMb: partsAtEnd,
      memoryUsageAfterWarmupMb: memoryAfterWarmup,
      memoryUsageAtEndMb: memoryAtEnd,
      rssMedianFirstMinuteMb: median(windowRss.slice(0, 6)),
      rssMedianLastMinuteMb: median(windowRss.slice(-6)),
      rssGrowthAfterWarmup: Math.round(growth * 1000) / 1000,
      rssMinMaxDuringSoakMb: [Math.min(...windowRss), Math.max(...windowRss)],
      peakRssMb,
      zeroErrorsMet: errors === 0 && dropped === 0,
      rssGrowthMet: growth < RSS_GROWTH_TARGET,
    },
    byKind: byKind(outcomes),
    warmupErrors: warm.outcomes.filter((o) => o.error !== undefined).length,
    firstErrors: [...warm.firstErrors, ...soak.firstErrors].slice(0, 20),
    stored: counts,
    embeddedDatabaseMb: dbMb,
    heapSnapshots: snapshots,
    windows: [...warm.windows, ...soak.windows],
    wallSeconds: Math.round((Date.now() - wallStart) / 1000),
  };
  mkdirSync(dirname(s.out), { recursive: true });
  writeFileSync(s.out, `${JSON.stringify(result, null, 2)}\n`);

  const sm = result.summary;
  console.log(`\nSoak of ${s.durationS} s at ${s.rate} req/s after ${s.warmupS} s of warm-up:`);
  console.log(
    `  requests ${sm.requests}, errors ${sm.errors} (${(sm.errorRate * 100).toFixed(3)} %), dropped ${dropped}  — target zero errors: ${sm.zeroErrorsMet ? 'MET' : 'NOT MET'}`,
  );
  console.log(
    `  latency p50 ${sm.p50Ms} ms, p99 ${sm.p99Ms} ms, max ${sm.maxMs} ms; p99 first window ${sm.p99FirstWindowMs} ms, last ${sm.p99LastWindowMs} ms, worst ${sm.worstWindowP99Ms} ms; slowest /healthz ${sm.worstHealthzMs} ms`,
  );
  console.log(
    `  RSS ${sm.rssAtStartMb} MB at start, ${sm.rssAfterWarmupMb} MB after warm-up, ${sm.rssAtEndMb} MB at end (both after a full GC): ${(growth * 100).toFixed(1)} % growth — target < ${RSS_GROWTH_TARGET * 100} %: ${sm.rssGrowthMet ? 'MET' : 'NOT MET'}; peak ${peakRssMb} MB`,
  );
  console.log(
    `  RSS median of the first minute's windows ${sm.rssMedianFirstMinuteMb} MB, of the last minute's ${sm.rssMedianLastMinuteMb} MB; at end anon ${partsAtEnd.anonMb} MB, file ${partsAtEnd.fileMb} MB, shmem ${partsAtEnd.shmemMb} MB; V8 heap used ${memoryAtEnd.heapUsed} of ${memoryAtEnd.heapTotal} MB, external ${memoryAtEnd.external} MB`,
  );
  console.log(`  stored: ${JSON.stringify(counts)}; database ${dbMb} MB`);
  console.log('  by kind:');
  for (const [kind, f] of Object.entries(result.byKind))
    console.log(
      `    ${kind.padEnd(15)} ${pad(f.requests, 6)} requests ${pad(f.errors, 4)} errors  p50 ${pad(f.p50Ms, 7)} ms  p99 ${pad(f.p99Ms, 7)} ms`,
    );
  if (result.firstErrors.length) console.log(`  first errors: ${result.firstErrors.join('; ')}`);
  if (snapshots.length) console.log(`  heap snapshots: ${snapshots.join(', ')}`);
  if (server.stderr.length) console.log(`server stderr:\n${server.stderr.join('')}`);
  console.log(`written ${s.out}`);
}

/**
 * The child: bench/api-server.ts as the API bench runs it (kind `dialog-embedded`, started by its
 * own main when loaded), and an answer to `{ type: 'memory' }` with process.memoryUsage() — which
 * api-server.ts ignores — so the parent can tell the V8 heap from native memory.
 */
function serve(): void {
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'memory') return;
    const m = process.memoryUsage();
    process.send?.({ type: 'memory', memory: m });
  });
  void import('./api-server');
}

if (process.argv.includes(SERVER_FLAG)) serve();
else
  main().catch((err: unknown) => {
    console.error(err);
    running?.kill();
    process.exit(1);
  });
