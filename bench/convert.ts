/**
 * `npx tsx bench/convert.ts [sizes…] [--rounds N] [--to-file] [--threads N]` (also in
 * `npm run bench`; `npx tsc -p tsconfig.bench.json && node dist-bench/bench/convert.js 100000
 * --rounds 1` for a quick measurement): the DIALOG+ app CSV → FHIR NDJSON conversion as the CLI
 * does it by default — each QuestionnaireResponse followed by the Observations `$extract` gives
 * for it — at 100k and 1M sessions, against merely parsing the same file with the same CSV
 * library (csv-parse, the same options, records counted and dropped); and the responses alone
 * (`--no-extract`) for comparison.
 * Each measurement runs in its own child process so its peak RSS
 * (`process.resourceUsage().maxRSS`) is its own. Prints the figures and ratios and writes
 * bench/results/convert.json.
 *
 * The output goes to /dev/null through a file stream (every byte is produced and handed to the
 * kernel, as to a file): with the Observations a million sessions are ~27 GB of NDJSON, which
 * this machine's disk (~330 MB/s) could not take in the time, so a file would measure the disk.
 * `--to-file` writes a temporary file instead (deleted after each run).
 *
 * The conversion runs as the CLI runs it by default: on the main thread and `--threads` worker
 * threads (default: the cores less one, so one on a 2-core machine), started with the conversion,
 * that write the NDJSON of batches of records while the main thread reads and parses
 * (src/mapping/parallel.ts; the same bytes as one thread). `--threads 0` measures one thread.
 * The conversion children fix V8's heap growing factor as the CLI does (tuneHeapForConversion:
 * without it the peak RSS with a worker grew from ~203 MB at 100k sessions to ~240 MB at 1M).
 * Parsing alone is one thread, as csv-parse is. The time target is judged on wall time, which
 * is what a user waits; the CPU time of all threads is printed beside it (and its ratio), so
 * what the second core contributes is visible.
 *
 * Targets (issue 3): peak RSS under 250 MB and within 10% between the 100k and 1M runs; the
 * conversion no more than 4× the time of parsing.
 */
import { spawnSync } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { DIALOG_ITEMS_APP_ORDER } from '../src/dialog';
import {
  convertFile,
  defaultThreads,
  loadMapping,
  type MappingSpec,
  tuneHeapForConversion,
} from '../src/mapping';

function csvMapping(): Extract<MappingSpec, { kind: 'csv-session-rows' }> {
  const spec = loadMapping('dialogplus-csv');
  if (spec.kind !== 'csv-session-rows')
    throw new Error('dialogplus-csv is not a session-rows mapping');
  return spec;
}

const TARGET_RSS_MB = 250;
const TARGET_RSS_SPREAD = 0.1;
const TARGET_TIME_RATIO = 4;

export interface RunFigures {
  /** Median wall time over the rounds. */
  readonly ms: number;
  /** Median CPU time (user + system) over the rounds. */
  readonly cpuMs: number;
  /** Median over the rounds of each run's peak RSS (the targets are judged on this). */
  readonly maxRssMb: number;
  /** The highest peak RSS of any round (a machine shared with other work has outliers). */
  readonly worstRssMb: number;
  readonly records: number;
  readonly rounds: number;
}

export interface SizeResult {
  readonly sessions: number;
  readonly bytes: number;
  readonly parse: RunFigures;
  /** Responses and their extracted Observations (the CLI's default; the targets are on this). */
  readonly convert: RunFigures;
  /** convert / parse, on median wall times. */
  readonly timeRatio: number;
  readonly cpuRatio: number;
  /** Bytes of NDJSON the conversion wrote. */
  readonly outputBytes: number;
  /** The responses alone (`--no-extract`), in the same rounds. */
  readonly responsesOnly: RunFigures & { readonly outputBytes: number };
  readonly responsesOnlyRatio: number;
}

export interface ConvertBenchResult {
  readonly date: string;
  readonly node: string;
  readonly command: string;
  readonly outputs: string;
  /** Worker threads the conversion used besides its main thread (0: one thread). */
  readonly threads: number;
  /** Cores Node may use on this machine (os.availableParallelism()). */
  readonly cores: number;
  /** Wall time of the whole bench (generating the files included). */
  readonly benchSeconds: number;
  readonly runs: readonly SizeResult[];
  /** (largest − smallest) / smallest peak RSS of the conversion across sizes. */
  readonly rssSpread: number;
  readonly targets: {
    readonly rssUnder250Mb: boolean;
    readonly rssWithin10Percent: boolean;
    readonly timeWithin4x: boolean;
  };
}

// ---- the generated export -------------------------------------------------------------------

const FAMILY = [
  'Smith',
  'Jones',
  'Taylor',
  'Brown',
  "O'Neill",
  'Van der Berg',
  'Patel',
  'Khan',
  'Evans',
  'Wright',
];
const GIVEN = [
  'Anna',
  'Megan Rose',
  'John',
  'Priya',
  'Tom',
  'Aisha Noor',
  'Sam',
  'Chris',
  'Olu',
  'Jo',
];
const ACTIONS = [
  'Call GP about sleep',
  'Walk 20 minutes daily',
  'Ask housing officer about repairs',
  'Join the Tuesday art group',
  'Ring sister on Sundays',
  'Review medication with Dr Nair',
];

/** Writes a DIALOG+ app export with `sessions` rows (deterministic) and returns its size. */
export async function generateExport(path: string, sessions: number): Promise<number> {
  const names = csvMapping().itemNames;
  const header: string[] = ['Client Name', 'Date Start', 'Date End'];
  for (const item of DIALOG_ITEMS_APP_ORDER)
    header.push(
      `${names[item.concept]} Rank`,
      `${names[item.concept]} Additional Help`,
      `${names[item.concept]} Discussed`,
    );
  for (const item of DIALOG_ITEMS_APP_ORDER) header.push(`${names[item.concept]} Action Items`);
  const questions = [
    '',
    '',
    '',
    ...DIALOG_ITEMS_APP_ORDER.flatMap((i) => [i.question, '', '']),
    ...DIALOG_ITEMS_APP_ORDER.map(() => ''),
  ];
  const out = createWriteStream(path);
  let text = `${header.join(',')}\r\n${questions.join(',')}\r\n`;
  for (let n = 0; n < sessions; n++) {
    const day = 1 + (n % 28);
    const month = 1 + ((n >> 5) % 12);
    const year = 2020 + (n % 6);
    const hour = 9 + (n % 8);
    const minute = (n * 7) % 60;
    const end =
      minute + 30 > 59
        ? `${hour + 1}:${String(minute - 30).padStart(2, '0')}`
        : `${hour}:${String(minute + 30).padStart(2, '0')}`;
    const cells: string[] = [
      `"${FAMILY[n % 10] ?? ''}, ${GIVEN[(n >> 3) % 10] ?? ''}"`,
      `${day}/${month}/${year} ${hour}:${String(minute).padStart(2, '0')}`,
      `${day}/${month}/${year} ${end.padStart(5, '0')}`,
    ];
    const discussed = new Set([n % 11, (n + 4) % 11]);
    for (let k = 0; k < 11; k++) {
      const unrated = (n + k) % 23 === 0;
      cells.push(
        unrated ? '' : String(1 + ((n * 3 + k * 5) % 7)),
        (n + k) % 3 === 0 ? '' : String(1 + ((n + k) % 2)),
        discussed.has(k) ? '1' : '0',
      );
    }
    for (let k = 0; k < 11; k++)
      cells.push(
        discussed.has(k) ? `"${ACTIONS[(n + k) % 6] ?? ''};${ACTIONS[(n + k + 1) % 6] ?? ''}"` : '',
      );
    text += `${cells.join(',')}\r\n`;
    if (text.length > 1 << 16) {
      if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
      text = '';
    }
  }
  await new Promise<void>((resolve) => out.end(text, resolve));
  return statSync(path).size;
}

// ---- the child processes ----------------------------------------------------------------------

async function childParse(file: string): Promise<number> {
  const csv = csvMapping().csv;
  let records = 0;
  const parser = parse({
    delimiter: csv.delimiter,
    quote: csv.quote,
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_records_with_error: true,
    on_record: () => {
      records++;
      return null;
    },
  });
  parser.resume();
  const done = new Promise((resolve, reject) => {
    parser.once('end', resolve);
    parser.once('error', reject);
  });
  for await (const chunk of createReadStream(file, { highWaterMark: 64 * 1024 }))
    parser.write(chunk);
  parser.end();
  await done;
  return records;
}

async function childConvert(
  file: string,
  out: string,
  observations: boolean,
  threads: number,
): Promise<number[]> {
  // As `dialog-fhir convert` does (src/cli/convert.ts): not in the parsing child.
  tuneHeapForConversion();
  const output = createWriteStream(out);
  const summary = await convertFile(file, output, {
    from: 'dialogplus-csv',
    to: 'fhir',
    threads,
    ...(observations ? { observations: true } : {}),
  });
  await new Promise<void>((resolve) => output.end(resolve));
  if (summary.rejected > 0) throw new Error(`${summary.rejected} generated rows were rejected`);
  return [summary.converted, output.bytesWritten];
}

async function child(mode: string, file: string, out: string, threads: number): Promise<void> {
  const start = process.hrtime.bigint();
  const [records, outputBytes] =
    mode === 'parse'
      ? [await childParse(file), 0]
      : await childConvert(file, out, mode === 'convert', threads);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const usage = process.resourceUsage();
  process.stdout.write(
    JSON.stringify({
      ms,
      cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
      records,
      outputBytes,
      maxRssMb: usage.maxRSS / 1024,
    }),
  );
}

interface ChildFigures {
  ms: number;
  cpuMs: number;
  records: number;
  outputBytes: number;
  maxRssMb: number;
}

type Mode = 'parse' | 'convert' | 'responses-only';

/**
 * Run as JavaScript already (`node dist-bench/bench/convert.js`, as `npm run bench` does): the
 * children run this very file. Run with tsx: it compiles itself first (compile()).
 */
const COMPILED = __filename.endsWith('.js');
const ROOT = COMPILED ? join(__dirname, '..', '..') : join(__dirname, '..');
/** Where the bench is compiled: inside node_modules, so the compiled code finds the packages. */
const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'dialog-fhir-bench');

/**
 * Compiles this file and what it imports with tsc, as `npm run build` compiles the CLI, so the
 * children run plain JavaScript: no TypeScript loader in their memory or their time.
 */
function compile(): string {
  if (COMPILED) {
    // tsc does not make dist-bench/mappings, which the mapping engine reads: link it (build
    // output only), as bench/soak.ts does.
    const link = join(__dirname, '..', 'mappings');
    if (!existsSync(link)) symlinkSync(join(ROOT, 'mappings'), link, 'dir');
    return __filename;
  }
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(
    process.execPath,
    [
      tsc,
      join(ROOT, 'bench', 'convert.ts'),
      '--outDir',
      BUILD_DIR,
      '--rootDir',
      ROOT,
      '--module',
      'commonjs',
      '--target',
      'ES2022',
      '--moduleResolution',
      'node',
      '--esModuleInterop',
      '--resolveJsonModule',
      '--skipLibCheck',
      '--noCheck',
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`tsc failed: ${result.stdout}${result.stderr}`);
  // The code finds mappings/ and profiles/ next to its own folders, as in the repository.
  for (const dir of ['mappings', 'profiles'])
    symlinkSync(join(ROOT, dir), join(BUILD_DIR, dir), 'dir');
  return join(BUILD_DIR, 'bench', 'convert.js');
}

function runChild(
  script: string,
  mode: Mode,
  file: string,
  out: string,
  threads: number,
): ChildFigures {
  const result = spawnSync(process.execPath, [script, 'child', mode, file, out, String(threads)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (result.status !== 0) throw new Error(`bench child ${mode} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ChildFigures;
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function figures(samples: ChildFigures[]): RunFigures {
  return {
    ms: round(median(samples.map((f) => f.ms)), 0),
    cpuMs: round(median(samples.map((f) => f.cpuMs)), 0),
    maxRssMb: round(median(samples.map((f) => f.maxRssMb))),
    worstRssMb: round(Math.max(...samples.map((f) => f.maxRssMb))),
    records: samples[0]?.records ?? 0,
    rounds: samples.length,
  };
}

/**
 * Parse, convert (with the Observations) and convert the responses alone, interleaved, `rounds`
 * times each, so machine load hits all alike.
 */
function measure(
  script: string,
  dir: string | undefined,
  sessions: number,
  bytes: number,
  file: string,
  rounds: number,
  threads: number,
): SizeResult {
  const out = dir ? join(dir, 'out.ndjson') : '/dev/null';
  const samples: Record<Mode, ChildFigures[]> = { parse: [], convert: [], 'responses-only': [] };
  for (let r = 0; r < rounds; r++)
    for (const mode of ['parse', 'convert', 'responses-only'] as const) {
      samples[mode].push(runChild(script, mode, file, out, threads));
      if (dir) rmSync(out, { force: true });
    }
  const p = figures(samples.parse);
  const c = figures(samples.convert);
  const o = figures(samples['responses-only']);
  return {
    sessions,
    bytes,
    parse: p,
    convert: c,
    timeRatio: round(c.ms / p.ms, 2),
    cpuRatio: round(c.cpuMs / p.cpuMs, 2),
    outputBytes: samples.convert[0]?.outputBytes ?? 0,
    responsesOnly: { ...o, outputBytes: samples['responses-only'][0]?.outputBytes ?? 0 },
    responsesOnlyRatio: round(o.ms / p.ms, 2),
  };
}

export interface BenchOptions {
  readonly sizes?: readonly number[];
  readonly rounds?: number;
  /** Write the NDJSON to a temporary file instead of /dev/null. */
  readonly toFile?: boolean;
  /** The conversion's worker threads (ConvertOptions.threads); the CLI's default when left out. */
  readonly threads?: number;
}

export async function benchConvert(options: BenchOptions = {}): Promise<ConvertBenchResult> {
  const began = Date.now();
  const sizes = options.sizes ?? [100_000, 1_000_000];
  const rounds = options.rounds ?? 3;
  const threads = options.threads ?? defaultThreads();
  const script = compile();
  const dir = mkdtempSync(join(tmpdir(), 'dialog-bench-convert-'));
  const runs: SizeResult[] = [];
  try {
    for (const sessions of sizes) {
      const file = join(dir, `export-${sessions}.csv`);
      const bytes = await generateExport(file, sessions);
      runs.push(
        measure(script, options.toFile ? dir : undefined, sessions, bytes, file, rounds, threads),
      );
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Judged on each size's median peak; every round's worst peak must still be under 250 MB.
  const rss = runs.map((r) => r.convert.maxRssMb);
  const worst = runs.map((r) => r.convert.worstRssMb);
  const rssSpread = round((Math.max(...rss) - Math.min(...rss)) / Math.min(...rss), 3);
  const args = [
    ...(options.sizes ? sizes.map(String) : []),
    ...(options.rounds !== undefined ? ['--rounds', String(rounds)] : []),
    ...(options.toFile ? ['--to-file'] : []),
    ...(options.threads !== undefined ? ['--threads', String(threads)] : []),
  ];
  return {
    date: new Date().toISOString(),
    node: process.version,
    command: `npx tsx bench/convert.ts${args.length > 0 ? ` ${args.join(' ')}` : ''}`,
    outputs: `DIALOG+ app CSV → FHIR NDJSON: each QuestionnaireResponse and the Observations $extract gives for it (responsesOnly: without them); output to ${options.toFile ? 'a temporary file' : '/dev/null through a file stream'}; the conversion on the main thread and ${threads} worker thread(s) (parsing: one thread); children run tsc-compiled JavaScript; times and peak RSS are medians of ${rounds} interleaved rounds (worstRssMb: the highest round); cpuMs: all threads`,
    threads,
    cores: availableParallelism(),
    benchSeconds: round((Date.now() - began) / 1000, 0),
    runs,
    rssSpread,
    targets: {
      rssUnder250Mb: worst.every((r) => r < TARGET_RSS_MB),
      rssWithin10Percent: rssSpread <= TARGET_RSS_SPREAD,
      timeWithin4x: runs.every((r) => r.timeRatio <= TARGET_TIME_RATIO),
    },
  };
}

const gb = (bytes: number): string =>
  bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(0)} MB`;

function describe(r: SizeResult): string {
  return (
    `${r.sessions.toLocaleString('en-GB')} sessions (${gb(r.bytes)} CSV): ` +
    `csv-parse ${(r.parse.ms / 1000).toFixed(1)} s (cpu ${(r.parse.cpuMs / 1000).toFixed(1)} s), ${r.parse.maxRssMb} MB peak; ` +
    `convert with Observations ${(r.convert.ms / 1000).toFixed(1)} s (cpu ${(r.convert.cpuMs / 1000).toFixed(1)} s, ${gb(r.outputBytes)} out), ${r.convert.maxRssMb} MB peak (worst round ${r.convert.worstRssMb}); ` +
    `convert/parse ${r.timeRatio}× wall, ${r.cpuRatio}× cpu; ` +
    `responses only ${(r.responsesOnly.ms / 1000).toFixed(1)} s (${gb(r.responsesOnly.outputBytes)} out, ${r.responsesOnly.maxRssMb} MB peak), ${r.responsesOnlyRatio}× parse`
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const roundsAt = argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : undefined;
  const threadsAt = argv.indexOf('--threads');
  const threads = threadsAt >= 0 ? Number(argv[threadsAt + 1]) : undefined;
  const sizes = argv
    // Sizes: the arguments that are neither options nor an option's value.
    .filter(
      (a, i) =>
        !a.startsWith('--') &&
        (roundsAt < 0 || i !== roundsAt + 1) &&
        (threadsAt < 0 || i !== threadsAt + 1),
    )
    .map(Number)
    .filter((n) => n > 0);
  const result = await benchConvert({
    ...(sizes.length > 0 ? { sizes } : {}),
    ...(rounds !== undefined && rounds > 0 ? { rounds } : {}),
    ...(argv.includes('--to-file') ? { toFile: true } : {}),
    ...(threads !== undefined && threads >= 0 ? { threads } : {}),
  });
  console.log(
    `conversion: main thread + ${result.threads} worker thread(s) on ${result.cores} core(s); ` +
      'the time target is judged on wall time (CPU time, all threads, printed beside it)',
  );
  for (const r of result.runs) console.log(describe(r));
  console.log(
    `peak RSS spread between sizes: ${(result.rssSpread * 100).toFixed(1)}% ` +
      `(targets: each < ${TARGET_RSS_MB} MB, spread ≤ ${TARGET_RSS_SPREAD * 100}%, convert ≤ ${TARGET_TIME_RATIO}× parse)`,
  );
  console.log(
    `targets met: ${JSON.stringify(result.targets)}; bench took ${result.benchSeconds} s`,
  );
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench', 'results', 'convert.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  console.log('wrote bench/results/convert.json');
}

if (require.main === module) {
  if (process.argv[2] === 'child') {
    child(
      process.argv[3] ?? '',
      process.argv[4] ?? '',
      process.argv[5] ?? '',
      Number(process.argv[6] ?? '0'),
    ).catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
  } else {
    main().catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
  }
}
