/**
 * The compiled service, laid out as the Dockerfile's runtime stage lays it out, runs as
 * `npm start` runs it. Docker itself is not run here (no daemon or registry on CI machines), so
 * this checks what the image depends on:
 * - the runtime stage's CMD and ENV are `npm start`'s command and settings;
 * - `tsc -p tsconfig.build.json` (what `npm run build` runs) compiles, and every package the
 *   compiled code requires is a runtime dependency, so `npm prune --omit=dev` keeps it;
 * - from only the files the runtime stage copies, `node dist/cli/main.js serve` starts with
 *   authentication on, is ready, serves /fhir/metadata, refuses a request without a token, and
 *   stops cleanly on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { builtinModules } from 'node:module';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { collectOutput, waitForOutput } from '../support/process';
import { freePort } from '../support/service';

const ROOT = join(__dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface RuntimeStage {
  readonly env: Record<string, string>;
  readonly cmd: string[];
  /** `COPY` lines: [from the build stage?, source, destination]. */
  readonly copies: [boolean, string, string][];
}

/** The Dockerfile's last stage: its ENV, CMD and COPY lines. */
function runtimeStage(): RuntimeStage {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n');
  const last = lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true);
  const stage = lines.slice(last);
  const env: Record<string, string> = {};
  for (const line of stage.filter((l) => l.startsWith('ENV ')))
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const [name, value] = pair.split('=');
      if (name && value !== undefined) env[name] = value;
    }
  const cmdLine = stage.find((l) => l.startsWith('CMD ')) ?? 'CMD []';
  const cmd = JSON.parse(cmdLine.slice(4)) as string[];
  const copies = stage
    .filter((l) => l.startsWith('COPY '))
    .map((l): [boolean, string, string] => {
      const parts = l.split(/\s+/).slice(1);
      const fromBuild = parts[0] === '--from=build';
      const [source, destination] = fromBuild ? parts.slice(1) : parts;
      return [fromBuild, source ?? '', destination ?? ''];
    });
  return { env, cmd, copies };
}

/** Every `require("…")` in the compiled JavaScript under `dir`. */
function requiredModules(dir: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    for (const match of text.matchAll(/require\("([^"]+)"\)/g)) if (match[1]) found.add(match[1]);
  }
  return found;
}

function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  return builtinModules.includes(name) ? undefined : name;
}

const stage = runtimeStage();
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};
let image: string;

beforeAll(() => {
  image = mkdtempSync(join(tmpdir(), 'dialog-fhir-image-'));
  const built = spawnSync(
    process.execPath,
    [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(image, 'dist')],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
  for (const [fromBuild, source, destination] of stage.copies) {
    // As Docker reads it: a destination ending in `/` is the directory to copy into.
    const target = join(image, destination, destination.endsWith('/') ? basename(source) : '');
    if (fromBuild && source === '/app/dist') continue; // compiled above
    if (fromBuild && source === '/app/node_modules') {
      symlinkSync(join(ROOT, 'node_modules'), target, 'dir');
      continue;
    }
    if (fromBuild)
      throw new Error(`the runtime stage copies ${source}, which this test does not know`);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(ROOT, source), target, { recursive: true });
  }
}, 120_000);

afterAll(() => {
  rmSync(image, { recursive: true, force: true });
});

describe('the runtime image', () => {
  it('runs npm start’s command with npm start’s settings', () => {
    const start = pkg.scripts.start ?? '';
    // `MALLOC_ARENA_MAX=2 node dist/cli/main.js serve`: settings, then the command.
    const words = start.split(/\s+/);
    const settings = words.filter((w) => /^[A-Z_]+=/.test(w));
    const command = words.filter((w) => !/^[A-Z_]+=/.test(w));
    expect(stage.cmd).toEqual(command);
    for (const setting of settings) {
      const [name, value] = setting.split('=');
      expect(stage.env[name ?? '']).toBe(value);
    }
    expect(stage.env.DATA_DIR).toBe('/data');
  });

  it('needs no package that npm prune --omit=dev removes', () => {
    const packages = [...requiredModules(join(image, 'dist'))].flatMap((s) => packageOf(s) ?? []);
    expect(packages.length).toBeGreaterThan(5);
    const missing = [...new Set(packages)].filter((name) => !(name in pkg.dependencies));
    expect(missing).toEqual([]);
  });

  it('serves from the files the image holds: auth on, ready, metadata, a clean stop', async () => {
    const port = await freePort();
    const data = join(image, 'data');
    mkdirSync(data);
    const child: ChildProcess = spawn(process.execPath, stage.cmd.slice(1), {
      cwd: image,
      env: { PATH: process.env.PATH ?? '', ...stage.env, PORT: String(port), DATA_DIR: data },
    });
    const output = collectOutput(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitForOutput(child, output, 'dialog-fhir listening');
      const base = `http://127.0.0.1:${port}`;
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      const metadata = await fetch(`${base}/fhir/metadata`);
      expect(metadata.status).toBe(200);
      expect(((await metadata.json()) as { resourceType: string }).resourceType).toBe(
        'CapabilityStatement',
      );
      const refused = await fetch(`${base}/fhir/Patient`);
      expect(refused.status).toBe(401);
      expect(output()).not.toMatch(/AUTH=off/);
      // With the dev token: a write to the store in DATA_DIR, and an export through a mapping
      // (mappings/ is read when a format is first used, not at start).
      const bearer = `Bearer ${readFileSync(join(data, 'dev-token.txt'), 'utf8').trim()}`;
      const put = await fetch(`${base}/fhir/Patient/image-check`, {
        method: 'PUT',
        headers: { authorization: bearer, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', id: 'image-check' }),
      });
      expect(put.status).toBe(201);
      const exported = await fetch(`${base}/native/dialogplus-csv?patient=image-check`, {
        headers: { authorization: bearer },
      });
      expect(exported.status).toBe(200);
      // The export's header row (the person has no sessions yet).
      expect(await exported.text()).toMatch(/^Client Name,Date Start,/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});
