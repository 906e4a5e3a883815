/**
 * `dialog-fhir convert --from <format> --to <format> [in] [out]`: converts between the DIALOG+ app
 * CSV, MHSDS rows, HL7 v2 and FHIR (NDJSON out), streaming, through the engine in src/mapping.
 * Standard input and output are used when `in` / `out` are left out (or given as `-`). A progress
 * bar is drawn on stderr when stderr is a terminal; a summary is printed at the end. Each rejected
 * record's OperationOutcome goes to stderr, or to `--rejects <file>` as NDJSON. The exit code is 1
 * when anything was rejected, 2 for a usage error. A native format converted to FHIR gives each
 * response followed by the Observations `$extract` gives for it (`--no-extract`: responses only).
 */
import { createWriteStream, statSync, type WriteStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { OperationOutcome } from '@medplum/fhirtypes';
import {
  convert,
  convertFile,
  type ConvertOptions,
  type ConvertProgress,
  type ConvertSummary,
  defaultThreads,
  FORMATS,
  isFormatName,
  loadMapping,
  type MappingSpec,
  tuneHeapForConversion,
} from '../mapping';

export const CONVERT_USAGE = `usage: dialog-fhir convert --from <format> --to <format> [in] [out]
  formats: ${FORMATS.join(', ')} (or the path of a mapping file, e.g. an edited copy of mappings/<format>.json)
  in, out              files; standard input / output when left out or "-"
  --rejects <file>     write rejected records' OperationOutcomes there as NDJSON (default: stderr)
  --events <file>      write HL7 ADT admit/discharge events there as NDJSON (default: counted only)
  --subject <ref>      native input: the Patient every session is about, e.g. Patient/123
                       (default: a contained Patient holding the name and identifiers the
                       input gives; with --subject, the NHS number is kept as subject.identifier)
  --no-extract         native input --to fhir: the responses only. By default each completed
                       response is followed by the Observations $extract gives (item scores,
                       help wanted, SQoL/TS means; paired change needs the person's history,
                       which a conversion does not have)
  --extract            the same Observations, said explicitly (the default from a native format)
  --validate           check every response against the dialog-fhir profiles before writing it
  --threads <n>        native input --to fhir: worker threads writing the FHIR text besides the
                       main thread, started with the conversion for a file of 256 KB or more,
                       else once that much is read (the same output, in the same order). A
                       dialogplus-csv file is read in pieces of ~100 rows by every thread.
                       Default: the cores less one, at most one per 4 MB of input file;
                       0: one thread
  --no-progress        no progress bar, even on a terminal`;

export interface ConvertIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
}

interface Args {
  from: string;
  to: string;
  input?: string;
  output?: string;
  rejects?: string;
  events?: string;
  subject?: string;
  /** undefined: the default (Observations when converting a native format to FHIR). */
  extract: boolean | undefined;
  validate: boolean;
  progress: boolean;
  threads?: number;
}

function parseArgs(argv: readonly string[]): Args | string {
  const positional: string[] = [];
  const args: Partial<Args> = { validate: false, progress: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const valueOf = (): string | undefined => {
      const eq = arg.indexOf('=');
      if (eq > 0) return arg.slice(eq + 1);
      i++;
      return argv[i];
    };
    const name = arg.split('=')[0];
    switch (name) {
      case '--from':
      case '--to':
      case '--rejects':
      case '--events':
      case '--subject': {
        const value = valueOf();
        if (value === undefined || value === '') return `${name} needs a value`;
        const key = name.slice(2) as 'from' | 'to' | 'rejects' | 'events' | 'subject';
        args[key] = value;
        break;
      }
      case '--validate':
        args.validate = true;
        break;
      case '--threads': {
        const value = valueOf();
        if (value === undefined || !/^\d{1,3}$/.test(value))
          return '--threads needs a whole number (0: one thread)';
        args.threads = Number(value);
        break;
      }
      case '--extract':
        args.extract = true;
        break;
      case '--no-extract':
        args.extract = false;
        break;
      case '--no-progress':
        args.progress = false;
        break;
      case '--help':
      case '-h':
        return '';
      default:
        if (arg.startsWith('--')) return `unknown option ${arg}`;
        positional.push(arg);
    }
  }
  if (!args.from || !args.to) return '--from and --to are required';
  if (positional.length > 2) return 'at most two files: [in] [out]';
  const [input, output] = positional;
  return {
    from: args.from,
    to: args.to,
    ...(input && input !== '-' ? { input } : {}),
    ...(output && output !== '-' ? { output } : {}),
    ...(args.rejects ? { rejects: args.rejects } : {}),
    ...(args.events ? { events: args.events } : {}),
    ...(args.subject ? { subject: args.subject } : {}),
    extract: args.extract,
    validate: args.validate ?? false,
    progress: args.progress ?? true,
    ...(args.threads !== undefined ? { threads: args.threads } : {}),
  };
}

function mapping(name: string): MappingSpec | string {
  if (!isFormatName(name) && !name.endsWith('.json'))
    return `unknown format ${name} (formats: ${FORMATS.join(', ')}, or a mapping file ending in .json)`;
  try {
    return loadMapping(name);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

/** Redraws one status line on a terminal, at most every 100 ms. */
class ProgressBar {
  private last = 0;
  private drawn = false;

  constructor(
    private readonly stream: ConvertIo['stderr'],
    private readonly total: number | undefined,
  ) {}

  update(p: ConvertProgress, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const counts = `${p.read.toLocaleString('en-GB')} read, ${p.rejected.toLocaleString('en-GB')} rejected`;
    let line: string;
    if (this.total) {
      const ratio = Math.min(1, p.bytes / this.total);
      const width = 30;
      const filled = Math.round(ratio * width);
      line = `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${mb(p.bytes)}/${mb(this.total)}  ${counts}`;
    } else {
      line = `${mb(p.bytes)}  ${counts}`;
    }
    const columns = this.stream.columns ?? 100;
    this.stream.write(`\r${line.slice(0, columns - 1)}\u001b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.stream.write('\r\u001b[K');
  }
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(() => resolve());
  });
}

function summaryLines(from: string, to: string, s: ConvertSummary, rejectsTo: string): string[] {
  const lines = [
    `${from} → ${to}: ${s.read} record(s) read, ${s.converted} converted, ${s.rejected} rejected` +
      (s.rejected > 0 ? ` (OperationOutcomes: ${rejectsTo})` : ''),
  ];
  if (s.threads !== undefined)
    lines.push(
      s.pieces !== undefined
        ? `read and written by the main thread and ${s.threads} worker thread(s) (--threads), in ${s.pieces} piece(s)`
        : `written by the main thread and ${s.threads} worker thread(s) (--threads)`,
    );
  if (s.events > 0) lines.push(`${s.events} ADT event(s) read (events are not sessions)`);
  if (s.skipped > 0)
    lines.push(
      `${s.skipped} item(s) skipped: not DIALOG records (other resources or assessment tools)`,
    );
  if (s.notices > 0)
    lines.push(`${s.notices} issue(s) about the input as a whole (see ${rejectsTo})`);
  const notHeld = Object.entries(s.notHeld);
  if (notHeld.length > 0)
    lines.push(
      `not held by ${to} (dropped): ${notHeld.map(([field, n]) => `${field} in ${n}`).join(', ')}`,
    );
  return lines;
}

/** Runs the command; resolves to the exit code. */
export async function runConvert(argv: readonly string[], io: ConvertIo): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.stderr.write(`${args ? `${args}\n` : ''}${CONVERT_USAGE}\n`);
    return 2;
  }
  const from = mapping(args.from);
  const to = mapping(args.to);
  for (const m of [from, to])
    if (typeof m === 'string') {
      io.stderr.write(`${m}\n`);
      return 2;
    }
  if (typeof from === 'string' || typeof to === 'string') return 2;
  if (args.extract === true && to.kind !== 'fhir') {
    io.stderr.write(`--extract writes FHIR Observations: it needs --to fhir\n${CONVERT_USAGE}\n`);
    return 2;
  }

  const extract = args.extract ?? (to.kind === 'fhir' && from.kind !== 'fhir');
  let total: number | undefined;
  if (args.input) {
    try {
      total = statSync(args.input).size;
    } catch {
      io.stderr.write(`cannot read ${args.input}\n`);
      return 2;
    }
  }
  // An explicit --threads is taken as given.
  const threads = args.threads ?? defaultThreads(total);
  // A fixed heap growing factor keeps the peak RSS of a long conversion flat (src/mapping parallel.ts).
  tuneHeapForConversion();
  const output = args.output ? createWriteStream(args.output) : io.stdout;
  // A closed output (e.g. `| head`) stops the conversion with a message, not a stack trace.
  let outputFailure: Error | undefined;
  output.on('error', (e: Error) => {
    outputFailure ??= e;
  });
  const rejectsFile = args.rejects ? createWriteStream(args.rejects) : undefined;
  const eventsFile = args.events ? createWriteStream(args.events) : undefined;
  const rejectsTo = args.rejects ?? 'stderr';
  const bar =
    args.progress && io.stderr.isTTY === true ? new ProgressBar(io.stderr, total) : undefined;
  const report = (outcome: OperationOutcome): void => {
    const line = `${JSON.stringify(outcome)}\n`;
    if (rejectsFile) rejectsFile.write(line);
    else {
      bar?.clear();
      io.stderr.write(line);
    }
  };
  const options: ConvertOptions = {
    from,
    to,
    ...(args.subject ? { subject: args.subject } : {}),
    // Loaded only for --validate: the validator's modules (ajv, fhirpath) take ~0.1 s to load.
    ...(args.validate ? { validator: (await import('../validation')).createValidator() } : {}),
    // Each response's Observations, as extractObservations gives them (src/mapping extract-json.ts).
    ...(extract ? { observations: true } : {}),
    // Used for native input to FHIR without --validate (src/mapping parallel.ts); else ignored.
    threads,
    onReject: (outcome) => report(outcome),
    onNotice: (issue) => report({ resourceType: 'OperationOutcome', issue: [issue] }),
    onEvent: (event, location) => eventsFile?.write(`${JSON.stringify({ location, ...event })}\n`),
    ...(bar ? { onProgress: (p: ConvertProgress) => bar.update(p) } : {}),
  };
  let summary: ConvertSummary;
  try {
    summary = args.input
      ? await convertFile(args.input, output, options)
      : await convert(io.stdin, output, options);
  } catch (e) {
    if (!outputFailure) throw e;
    bar?.clear();
    io.stderr.write(
      `the output was closed before the conversion ended (${outputFailure.message})\n`,
    );
    return 1;
  } finally {
    bar?.clear();
    for (const stream of [rejectsFile, eventsFile, args.output ? output : undefined])
      if (stream) await closeStream(stream as WriteStream);
  }
  for (const line of summaryLines(from.format, to.format, summary, rejectsTo))
    io.stderr.write(`${line}\n`);
  return summary.rejected > 0 || summary.noticeErrors > 0 ? 1 : 0;
}
