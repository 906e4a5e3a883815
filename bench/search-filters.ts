/**
 * Why a search with several filters finds its matches by the one that names fewest
 * (src/store/embedded-store.ts, `findingFilter`): `node dist-bench/bench/search-filters.js` (run by
 * `npm run bench`) times what each DIALOG submission asks first — the person's sessions by
 * `subject` and `status=completed,amended` — beside the same search by `subject` alone, in
 * embedded stores holding 5,000 and 20,000 responses of 500 people (so the person has 10 and 40),
 * side by side, CPU time, medians of interleaved rounds. Target: the status filter costs at most
 * 2× the subject alone, however many responses the store holds (listing every `completed`
 * response made it grow with the store: 1,033 µs against 69 µs at 5,000).
 * Writes bench/results/search-filters.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, QuestionnaireResponse } from '@medplum/fhirtypes';
import { EmbeddedStore } from '../src/store';

const RESULTS = join(__dirname, '..', '..', 'bench', 'results', 'search-filters.json');
const PEOPLE = 500;
const SIZES = [5_000, 20_000];
const ROUNDS = 7;
const SEARCHES_PER_ROUND = 300;
const TARGET = 2;

const SEARCHES = {
  'subject and status': { subject: 'Patient/p7', status: 'completed,amended' },
  'subject alone': { subject: 'Patient/p7' },
} as const;

type SearchName = keyof typeof SEARCHES;

async function filled(size: number): Promise<{ store: EmbeddedStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bench-search-'));
  const store = EmbeddedStore.open({ dataDir: dir });
  for (let at = 0; at < size; at += 500) {
    const entry = Array.from({ length: 500 }, (_, i) => ({
      request: { method: 'POST' as const, url: 'QuestionnaireResponse' },
      resource: {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: 'Questionnaire/dialog',
        subject: { reference: `Patient/p${(at + i) % PEOPLE}` },
      } as QuestionnaireResponse,
    }));
    await store.transaction({ resourceType: 'Bundle', type: 'transaction', entry } as Bundle);
  }
  return { store, dir };
}

/** CPU microseconds per search, over one round. */
async function round(store: EmbeddedStore, name: SearchName): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < SEARCHES_PER_ROUND; i++)
    await store.search('QuestionnaireResponse', SEARCHES[name], { count: 100 });
  const used = process.cpuUsage(start);
  return (used.user + used.system) / SEARCHES_PER_ROUND;
}

const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function measure(size: number): Promise<Record<SearchName, number>> {
  const { store, dir } = await filled(size);
  try {
    const names = Object.keys(SEARCHES) as SearchName[];
    for (const name of names) await round(store, name);
    const samples: Record<SearchName, number[]> = { 'subject and status': [], 'subject alone': [] };
    for (let r = 0; r < ROUNDS; r++)
      for (const name of names) samples[name].push(await round(store, name));
    return {
      'subject and status': median(samples['subject and status']),
      'subject alone': median(samples['subject alone']),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`Search filters: a person's sessions by subject and status, beside subject alone`);
  const results: Record<string, Record<SearchName, number> & { ratio: number }> = {};
  for (const size of SIZES) {
    const figures = await measure(size);
    const ratio = figures['subject and status'] / figures['subject alone'];
    results[String(size)] = { ...figures, ratio };
    console.log(
      `  ${size} responses (${size / PEOPLE} the person's): subject and status ` +
        `${figures['subject and status'].toFixed(0)} µs, subject alone ` +
        `${figures['subject alone'].toFixed(0)} µs CPU = ${ratio.toFixed(2)}× ` +
        `(target ≤ ${TARGET}×) ${ratio <= TARGET ? 'met' : 'NOT MET'}`,
    );
  }
  const met = Object.values(results).every((r) => r.ratio <= TARGET);
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, target: TARGET, met, results }, null, 2)}\n`,
  );
}

void main();
