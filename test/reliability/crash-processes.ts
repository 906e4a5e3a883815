/**
 * Servers as real processes for the crash test, and an HTTP client for them that opens a fresh
 * connection for every request (no pool: a pooled socket of the killed process must not be handed
 * to the next one). Not a test file itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import type { Json } from '../support/service';

export interface Running {
  readonly child: ChildProcess;
  readonly base: string;
  /** Resolves once the process has ended (with the signal that ended it, if any). */
  readonly exited: Promise<NodeJS.Signals | null>;
  /** What the process wrote to stderr, for a failure message. */
  stderr(): string;
}

function spawnTsx(
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  port: number,
): { child: ChildProcess; exited: Promise<NodeJS.Signals | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'error', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => {
    child.once('exit', (_code, signal) => resolve(signal));
  });
  return { child, exited, stderr: () => err };
}

async function ready(running: Running, script: string): Promise<Running> {
  for (;;) {
    if (running.child.exitCode !== null || running.child.signalCode !== null)
      throw new Error(`${script} stopped before it was ready: ${running.stderr()}`);
    const up = await send(running.base, 'GET', '/readyz').then(
      (r) => r.status === 200,
      () => false,
    );
    if (up) return running;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Starts `node --import tsx <script> [...args]` and resolves once `/readyz` answers 200. */
export async function startProcess(
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  port: number,
): Promise<Running> {
  const spawned = spawnTsx(script, args, env, port);
  spawned.child.stdout?.resume();
  return ready({ ...spawned, base: `http://127.0.0.1:${port}` }, script);
}

/** A server process loaded and waiting (crash-serve.ts's standby): `go` makes it open and listen. */
export interface Standby {
  readonly running: Running;
  /** Resolves once it has loaded its code (it prints `warm`). */
  readonly warm: Promise<void>;
  go(): Promise<Running>;
}

export function standby(script: string, env: Record<string, string>, port: number): Standby {
  const spawned = spawnTsx(script, [], env, port);
  const running: Running = { ...spawned, base: `http://127.0.0.1:${port}` };
  const warm = new Promise<void>((resolve, reject) => {
    let out = '';
    spawned.child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('warm\n')) resolve();
    });
    spawned.child.once('exit', () => reject(new Error(`${script} stopped: ${spawned.stderr()}`)));
  });
  warm.catch(() => undefined);
  return {
    running,
    warm,
    go: async () => {
      await warm;
      spawned.child.stdin?.write('go\n');
      return ready(running, script);
    },
  };
}

/** Ends a process with SIGKILL (if it still runs) and waits for it to be gone. */
export async function kill(running: Running): Promise<void> {
  if (running.child.exitCode === null && running.child.signalCode === null)
    running.child.kill('SIGKILL');
  await running.exited;
}

export interface Answer {
  readonly status: number;
  /** The body, when it arrived whole and was JSON. */
  readonly body?: Json;
  /** Whether the whole body arrived (the connection may drop after the status line). */
  readonly complete: boolean;
}

/**
 * One request on its own connection. Resolves as soon as there is a status (with the body if it
 * arrives whole); rejects only when no status arrived at all (refused, reset, cut off).
 */
export function send(
  base: string,
  method: string,
  path: string,
  options: { readonly token?: string; readonly body?: unknown } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        headers: {
          accept: 'application/fhir+json',
          connection: 'close',
          ...(payload !== undefined
            ? {
                'content-type': 'application/fhir+json',
                'content-length': String(Buffer.byteLength(payload)),
              }
            : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Json;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = undefined;
          }
          resolve({ status, body, complete: true });
        });
        res.on('error', () => resolve({ status, complete: false }));
        // After 'end' this changes nothing (a promise settles once).
        res.on('close', () => resolve({ status, complete: false }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
