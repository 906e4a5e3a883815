/**
 * `dialog-fhir serve` as a real process, as `npm start` runs it: authentication on by default
 * with a dev token (in DATA_DIR; printed only to a terminal) that works, a clear error for a bad setting, and a graceful stop
 * (SIGTERM) that lets an in-flight write finish and keeps it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { DEFAULT_FILE_NAME } from '../../src/store';
import { waitForOutput } from '../support/process';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Running {
  readonly child: ChildProcess;
  readonly base: string;
  readonly dataDir: string;
  stdout(): string;
}

async function serve(env: Record<string, string> = {}): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-serve-'));
  dirs.push(dataDir);
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, ...env },
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  await waitForOutput(child, () => out, 'dialog-fhir listening');
  return { child, base: `http://127.0.0.1:${port}`, dataDir, stdout: () => out };
}

function stopped(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('dialog-fhir serve', () => {
  it('starts with authentication on, a dev token in DATA_DIR that works, and stops cleanly', async () => {
    const running = await serve();
    try {
      // Not a terminal: the token is not printed, only where it is (DATA_DIR, mode 0600).
      expect(running.stdout()).not.toMatch(/ey[\w-]+\.[\w-]+\.[\w-]+/);
      expect(running.stdout()).toContain(join(running.dataDir, 'dev-token.txt'));
      const file = join(running.dataDir, 'dev-token.txt');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
      const refused = await fetch(`${running.base}/fhir/Patient`);
      expect(refused.status).toBe(401);
      const allowed = await fetch(`${running.base}/fhir/Patient`, {
        headers: { authorization: `Bearer ${token ?? ''}` },
      });
      expect(allowed.status).toBe(200);
      // The DIALOG Questionnaire responses point at is there on a fresh server.
      const questionnaire = await fetch(`${running.base}/fhir/Questionnaire/dialog`, {
        headers: { authorization: `Bearer ${token ?? ''}` },
      });
      expect(questionnaire.status).toBe(200);
      expect(((await questionnaire.json()) as { url: string }).url).toBe(
        'https://dialog-fhir.org/fhir/Questionnaire/dialog',
      );
      // A write in flight when SIGTERM arrives is finished and kept.
      const write = fetch(`${running.base}/fhir/Patient`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token ?? ''}`,
          'content-type': 'application/fhir+json',
        },
        body: JSON.stringify({ resourceType: 'Patient', gender: 'female' }),
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const exit = stopped(running.child);
      running.child.kill('SIGTERM');
      const answered = await write;
      expect(answered.status).toBe(201);
      expect(await exit).toBe(0);
      const db = new BetterSqlite3(join(running.dataDir, DEFAULT_FILE_NAME), { readonly: true });
      const rows = db
        .prepare("SELECT count(*) AS n FROM resource WHERE type = 'Patient'")
        .get() as {
        n: number;
      };
      db.close();
      expect(rows.n).toBe(1);
    } finally {
      running.child.kill('SIGKILL');
    }
  }, 60_000);

  it('announces AUTH=off loudly, in the log and on /fhir/metadata', async () => {
    const running = await serve({ AUTH: 'off' });
    try {
      expect(running.stdout()).toMatch(/AUTH=off/);
      const metadata = (await (await fetch(`${running.base}/fhir/metadata`)).json()) as {
        rest: { security: { description: string } }[];
      };
      expect(metadata.rest[0]?.security.description).toMatch(/WARNING: AUTH=off/);
    } finally {
      running.child.kill('SIGKILL');
    }
  }, 60_000);

  it('refuses a bad setting with a clear message and exit code 1', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, STORE: 'mongodb://x' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/STORE must be an http or https URL/);
  }, 60_000);

  /** `serve` with `env`, to its end (bounded: a hang fails the test rather than stalling it). */
  function serveToEnd(env: Record<string, string>) {
    return spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, AUTH: 'off', HOST: '127.0.0.1', ...env },
      encoding: 'utf8',
      timeout: 40_000,
    });
  }

  it('a LOG_LEVEL winston does not know is refused (it logged nothing, AUTH=off warning included)', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-serve-'));
    dirs.push(dataDir);
    const result = serveToEnd({ LOG_LEVEL: 'verbose_typo', DATA_DIR: dataDir, PORT: '0' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/LOG_LEVEL must be one of error, warn, info/);
  }, 60_000);

  it('a port in use is an error naming PORT, never "listening" and exit 0', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-serve-'));
    dirs.push(dataDir);
    try {
      const result = serveToEnd({ PORT: String(port), DATA_DIR: dataDir });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`PORT ${port} is in use on HOST 127.0.0.1`);
      expect(result.stdout).not.toContain('dialog-fhir listening');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 60_000);

  it('an AUTH_JWKS file that is no JSON Web Key Set is an error naming AUTH_JWKS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-serve-'));
    dirs.push(dir);
    const issuer = {
      AUTH: 'jwt',
      AUTH_ISSUER: 'https://idp.example',
      AUTH_AUDIENCE: 'dialog-fhir',
    };
    const missing = serveToEnd({
      ...issuer,
      AUTH_JWKS: join(dir, 'none.json'),
      DATA_DIR: dir,
      PORT: '0',
    });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`AUTH_JWKS ${join(dir, 'none.json')} cannot be read as JSON`);
    writeFileSync(join(dir, 'jwks.json'), '{"kty":"EC"}');
    const notSet = serveToEnd({
      ...issuer,
      AUTH_JWKS: join(dir, 'jwks.json'),
      DATA_DIR: dir,
      PORT: '0',
    });
    expect(notSet.status).toBe(1);
    expect(notSet.stderr).toContain('is not a JSON Web Key Set');
  }, 60_000);

  it.each([
    ['a file', () => join(mkdtempSync(join(tmpdir(), 'dialog-fhir-serve-')), 'dialog-fhir.sqlite')],
    // Node's recursive mkdir retries such a path for ever: the service hung without a word.
    ['a path under /proc', () => '/proc/dialog-fhir-no-such-dir/data'],
  ])(
    'a DATA_DIR that is %s is an error naming DATA_DIR',
    (_what, dirOf) => {
      const dir = dirOf();
      if (dir.startsWith(tmpdir())) {
        dirs.push(join(dir, '..'));
        writeFileSync(dir, 'not a directory');
      }
      const result = serveToEnd({ DATA_DIR: dir, PORT: '0' });
      expect(result.error).toBeUndefined();
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`DATA_DIR ${dir} cannot hold the store`);
    },
    60_000,
  );
});
