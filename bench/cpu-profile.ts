/**
 * Where a server's CPU time goes, from the `.cpuprofile` files in a directory (V8's format, as
 * `node --cpu-prof` or the inspector's Profiler writes them): self time by area (src/<folder>,
 * node_modules/<package>, Node internals, GC), the heaviest functions by self time (a native
 * call — SQLite's, crypto's — counts towards the JS function that made it), and inclusive time
 * of dialog-fhir's own functions. Used by `bench/api.ts --profile`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}

interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** `src/store`, `node_modules/better-sqlite3`, `node:internal`, `(garbage collector)`... */
function areaOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return `node_modules/${mod[1] ?? ''}`;
  const own = /dist-bench\/((?:src|test|bench)\/[^/]+)/.exec(url);
  if (own) return own[1]?.replace(/\.js$/, '') ?? url;
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

function frameName(node: ProfileNode): string {
  const { url, functionName, lineNumber } = node.callFrame;
  const file = /dist-bench\/(.*)$/.exec(url)?.[1] ?? url.split('/').slice(-2).join('/');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

export function summariseProfile(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const lines: string[] = [];
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const selfByArea = new Map<string, number>();
    const selfByFunction = new Map<string, number>();
    const inclusive = new Map<string, number>();
    let total = 0;
    let idle = 0;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const node = byId.get(id);
      if (!node) return;
      if (node.callFrame.functionName === '(idle)') {
        idle += dt;
        return;
      }
      total += dt;
      const area = areaOf(node);
      selfByArea.set(area, (selfByArea.get(area) ?? 0) + dt);
      const fn = frameName(node);
      selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + dt);
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const n = byId.get(cur);
        if (!n || !/dist-bench\/src\//.test(n.callFrame.url)) continue;
        const name = frameName(n);
        if (seen.has(name)) continue;
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
      }
    });
    const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
    lines.push(
      `${file}: ${(total / 1e6).toFixed(1)} s on CPU, ${(idle / 1e6).toFixed(1)} s idle (event loop waiting)`,
    );
    lines.push('Self time by area:');
    for (const [area, us] of [...selfByArea].sort((a, b) => b[1] - a[1]).slice(0, 18))
      lines.push(`  ${pct(us)}  ${area}`);
    lines.push('Self time by function:');
    for (const [name, us] of [...selfByFunction].sort((a, b) => b[1] - a[1]).slice(0, 15))
      lines.push(`  ${pct(us)}  ${name}`);
    lines.push("Inclusive time, dialog-fhir's own functions:");
    for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 40))
      lines.push(`  ${pct(us)}  ${name}`);
    lines.push(`(profile: ${join(dir, file)})`);
  }
  return lines.join('\n');
}
