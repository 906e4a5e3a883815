/**
 * The one engine: a reader for the source format, a writer for the target format, and FHIR in
 * between. Every conversion goes native → DialogRecord → DIALOG QuestionnaireResponse (→ record →
 * native): two native formats meet only through the FHIR resource, so A → B means exactly
 * A → FHIR → B.
 *
 * Streaming: input is handled chunk by chunk; each reader calls back synchronously per record,
 * output text is gathered per chunk and written with backpressure. Nothing holds the whole input,
 * except a FHIR input that is one pretty-printed JSON document (bounded by `maxJsonBytes`).
 */
import { createReadStream, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type {
  OperationOutcome,
  OperationOutcomeIssue,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { error, hasErrors } from '../validation/outcome';
import type { Validator } from '../validation/validator';
import { createItemRowsReader, createItemRowsWriter, projectItemRows } from './csv-item-rows';
import {
  createSessionRowsReader,
  createSessionRowsWriter,
  projectSessionRows,
  rowsReadIndependently,
  scanForMonthFirst,
} from './csv-session-rows';
import { createFhirReader, createFhirWriter, projectFhir } from './fhir-ndjson';
import { createHl7Reader, createHl7Writer, projectHl7 } from './hl7v2';
import { placeIssue, rejection } from './issues';
import { type DialogRecord, recordToResponse, responseToRecord } from './record';
import { canCut } from './csv-cutter';
import { CutInput } from './cut-input';
import { ParallelFhirOutput } from './parallel';
import { BufferPool, PooledOutput } from './pooled-output';
import { asciiJson } from './response-json';
import { loadMapping, type MappingSpec } from './spec';
import type {
  AdtEvent,
  FormatReader,
  FormatWriter,
  Projection,
  ReadOptions,
  ReadSink,
  WriteOptions,
} from './types';

export function createReader(
  spec: MappingSpec,
  options: ReadOptions,
  sink: ReadSink,
): FormatReader {
  switch (spec.kind) {
    case 'csv-session-rows':
      return createSessionRowsReader(spec, options, sink);
    case 'csv-item-rows':
      return createItemRowsReader(spec, options, sink);
    case 'hl7v2':
      return createHl7Reader(spec, options, sink);
    case 'fhir':
      return createFhirReader(spec, options, sink);
  }
}

export interface WriterOptions extends WriteOptions {
  /** FHIR output: extra resources per response (e.g. Observations from $extract). */
  readonly extract?: (response: QuestionnaireResponse) => readonly Resource[];
  /**
   * FHIR output: after each response, the Observations src/fhir `extractObservations` gives
   * (written through a fast path; the same text as `extract` with that function).
   */
  readonly observations?: boolean;
}

export function createWriter(spec: MappingSpec, options: WriterOptions = {}): FormatWriter {
  switch (spec.kind) {
    case 'csv-session-rows':
      return createSessionRowsWriter(spec);
    case 'csv-item-rows':
      return createItemRowsWriter(spec);
    case 'hl7v2':
      return createHl7Writer(spec, options);
    case 'fhir':
      return createFhirWriter({
        ...(options.extract ? { extract: options.extract } : {}),
        ...(options.observations ? { observations: true } : {}),
      });
  }
}

/**
 * What a format can hold of a record: the record as it comes back after export and import (with
 * `subject` as the import would set it), or the issues that stop the export.
 */
export function project(
  spec: MappingSpec,
  record: DialogRecord,
  options: Pick<ReadOptions, 'subject'> = {},
): Projection {
  switch (spec.kind) {
    case 'csv-session-rows':
      return projectSessionRows(spec, record, options);
    case 'csv-item-rows':
      return projectItemRows(spec, record, options);
    case 'hl7v2':
      return projectHl7(spec, record, options);
    case 'fhir':
      return projectFhir(record);
  }
}

export interface ConvertOptions extends WriterOptions {
  readonly from: string | MappingSpec;
  readonly to: string | MappingSpec;
  /** Name of the input for issues; `<stdin>` by default. */
  readonly file?: string;
  readonly subject?: string;
  /**
   * What a scan of the whole input found about day/month order (dialogplus-csv; convertFile
   * scans a file first). Given, it also lets threads read parts of the file (cut-input.ts): pass
   * it only as a scan of the whole input found it.
   */
  readonly monthFirstSeen?: boolean;
  /** Validate every response before writing it; a response with errors is rejected. */
  readonly validator?: Validator;
  readonly onReject?: (outcome: OperationOutcome, location: string) => void;
  readonly onEvent?: (event: AdtEvent, location: string) => void;
  /** Issues about the input as a whole (unknown columns, the file's date order). */
  readonly onNotice?: (issue: OperationOutcomeIssue) => void;
  /**
   * Called for each record (or, FHIR to FHIR, each resource passed through) as it is written to
   * the output, in input order with onReject's calls: for FHIR output without `extract` or
   * `observations`, the calls match the output's lines one to one.
   */
  readonly onWritten?: (location: string) => void;
  /** Called after each input chunk. */
  readonly onProgress?: (progress: ConvertProgress) => void;
  /**
   * Native input to FHIR NDJSON on a stream: write the FHIR text in this many worker threads
   * as well as this one (parallel.ts), the same bytes in the same order; 0 (the default): on this
   * thread only. Ignored (one thread) with `extract`, `validator` or `onWritten`, or a function as
   * the output. The workers start once `threadsFromBytes` of input have been read.
   */
  readonly threads?: number;
  /**
   * Input read before worker threads start (each takes ~0.1–0.3 s to load, on its own core; the
   * main thread converts meanwhile): 256 KiB by default, or none for a file at least that large
   * (convertFile).
   */
  readonly threadsFromBytes?: number;
  /**
   * With `threadsFromBytes: 0`, wait for the workers to load before reading, so that they take
   * part however small the input (tests); otherwise this thread converts until they are ready.
   */
  readonly waitForThreads?: boolean;
}

export interface ConvertProgress {
  readonly bytes: number;
  readonly read: number;
  readonly converted: number;
  readonly rejected: number;
}

export interface ConvertSummary {
  /** Records read: sessions (rows, row groups, messages, responses), rejected ones included. */
  read: number;
  converted: number;
  rejected: number;
  /** ADT events read (they are not sessions and are not written to the target). */
  events: number;
  /** Input that is not a DIALOG record: other assessment tools' rows, other FHIR resources. */
  skipped: number;
  /** Issues about the input as a whole; `noticeErrors` counts those of error severity. */
  notices: number;
  noticeErrors: number;
  /** Fields the target format could not hold, and in how many records. */
  notHeld: Record<string, number>;
  bytes: number;
  /**
   * Worker threads that wrote part of the output (at most ConvertOptions.threads; a worker that
   * had not loaded before the input ran out wrote none); absent: none.
   */
  threads?: number;
  /**
   * Pieces of the input read by the threads (cut-input.ts: a dialogplus-csv file); absent: the
   * whole input was read on this thread.
   */
  pieces?: number;
}

export type OutputTarget = Writable | ((text: string) => void);

function resolve(spec: string | MappingSpec): MappingSpec {
  return typeof spec === 'string' ? loadMapping(spec) : spec;
}

/** The engine; `input` yields text or bytes (UTF-8), `output` receives the converted text. */
export async function convert(
  input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  output: OutputTarget,
  options: ConvertOptions,
): Promise<ConvertSummary> {
  const from = resolve(options.from);
  const to = resolve(options.to);
  const file = options.file ?? '<stdin>';
  const summary: ConvertSummary = {
    read: 0,
    converted: 0,
    rejected: 0,
    events: 0,
    skipped: 0,
    notices: 0,
    noticeErrors: 0,
    notHeld: {},
    bytes: 0,
  };
  const identity = from.kind === 'fhir' && to.kind === 'fhir';
  let parallel: ParallelFhirOutput | undefined;
  const throughFhir = from.kind !== 'fhir' && to.kind !== 'fhir';
  const writer = createWriter(to, options);
  let buffer = writer.begin();

  const reject = (issues: OperationOutcomeIssue[], location: string): void => {
    summary.rejected++;
    options.onReject?.(rejection(issues), location);
  };

  /**
   * FHIR input is any JSON, read without a validator unless one is given: a response whose
   * elements have the wrong JSON types can give a record a writer cannot hold (an action whose text
   * is null), and one nested thousands deep overflows the stack when written out again. That is
   * the input's fault: the record is rejected, never thrown.
   */
  const malformed = (err: unknown, location: string, counted: boolean): void => {
    const deep = err instanceof RangeError;
    if (!(err instanceof TypeError || deep) || from.kind !== 'fhir') throw err;
    if (!counted) summary.read++;
    reject(
      [
        placeIssue(
          deep
            ? error('too-costly', 'The resource is nested too deeply to handle', 'Resource')
            : error(
                'structure',
                'The response is not well-formed FHIR JSON: an element has the wrong type (validate it to find which)',
                'QuestionnaireResponse',
              ),
          file,
          location,
        ),
      ],
      location,
    );
  };

  const sink: ReadSink = {
    record(record, location, resource) {
      try {
        writeRecord(record, location, resource);
      } catch (err) {
        malformed(err, location, true);
      }
    },
    event(event, location) {
      summary.events++;
      options.onEvent?.(event, location);
    },
    reject(issues, location) {
      summary.read++;
      reject(issues, location);
    },
    notice(issue) {
      summary.notices++;
      if (issue.severity === 'error' || issue.severity === 'fatal') summary.noticeErrors++;
      options.onNotice?.(issue);
    },
    skip(location, resource) {
      if (!identity || !resource) {
        summary.skipped++;
        return;
      }
      let line: string;
      try {
        line = `${asciiJson(JSON.stringify(resource))}\n`;
      } catch (err) {
        malformed(err, location, false);
        return;
      }
      summary.skipped++;
      buffer += line;
      options.onWritten?.(location);
    },
  };

  function writeRecord(
    record: DialogRecord,
    location: string,
    resource: QuestionnaireResponse | undefined,
  ): void {
    summary.read++;
    if (identity && resource) {
      if (!validOrReject(resource, location)) return;
      buffer += `${asciiJson(JSON.stringify(resource))}\n`;
      summary.converted++;
      options.onWritten?.(location);
      return;
    }
    if (parallel) {
      parallel.add(record);
      summary.converted++;
      return;
    }
    let target = record;
    if (throughFhir || options.validator) {
      const response = recordToResponse(record);
      if (!validOrReject(response, location)) return;
      if (throughFhir) {
        const back = responseToRecord(response);
        if (!back.ok) {
          reject(
            back.issues.map((i) => placeIssue(i, file, location)),
            location,
          );
          return;
        }
        target = back.record;
      }
    }
    if (bytes && writer.writeTo) {
      if (buffer !== '') flush();
      const put = writer.writeTo(target, bytes);
      if (!put.ok) {
        reject(
          put.issues.map((i) => placeIssue(i, file, location)),
          location,
        );
        return;
      }
      summary.converted++;
      options.onWritten?.(location);
      for (const field of put.notHeld) summary.notHeld[field] = (summary.notHeld[field] ?? 0) + 1;
      return;
    }
    const written = writer.write(target, resource);
    if (!written.ok) {
      reject(
        written.issues.map((i) => placeIssue(i, file, location)),
        location,
      );
      return;
    }
    buffer += written.text;
    if (buffer.length > FLUSH_CHARS) flush();
    summary.converted++;
    options.onWritten?.(location);
    for (const field of written.notHeld) summary.notHeld[field] = (summary.notHeld[field] ?? 0) + 1;
  }

  function validOrReject(response: QuestionnaireResponse, location: string): boolean {
    if (!options.validator) return true;
    const result = options.validator.validate(response);
    if (!hasErrors(result)) return true;
    reject(
      result.issue
        .filter((i) => i.severity === 'error' || i.severity === 'fatal')
        .map((i) => placeIssue(i, file, location)),
      location,
    );
    return false;
  }

  const readOptions: ReadOptions = {
    file,
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.monthFirstSeen !== undefined ? { monthFirstSeen: options.monthFirstSeen } : {}),
  };
  const reader = createReader(from, readOptions, sink);

  // FHIR output is ASCII (response-json.ts), so latin1 gives the same bytes as UTF-8, cheaper.
  const encoding: BufferEncoding = to.kind === 'fhir' ? 'latin1' : 'utf8';
  const pool = encoding === 'latin1' ? new BufferPool() : undefined;
  const bytes =
    pool && typeof output !== 'function' && writer.writeTo
      ? new PooledOutput(pool, output)
      : undefined;
  /** Hands the text gathered so far to the output (synchronously; backpressure is in write). */
  function flush(): void {
    if (buffer === '') return;
    const text = buffer;
    buffer = '';
    if (typeof output === 'function') {
      output(text);
      return;
    }
    const reused = pool?.take(text.length);
    if (!reused) {
      output.write(text, encoding);
      return;
    }
    const length = reused.write(text, 0, 'latin1');
    output.write(reused.subarray(0, length), () => pool?.give(reused));
  }
  const write = async (): Promise<void> => {
    if (typeof output !== 'function' && (output.destroyed || output.errored))
      throw output.errored ?? new Error('the output is closed');
    if (parallel) return parallel.ready();
    if (threaded && summary.bytes >= threadsFrom && typeof output !== 'function')
      return startParallel(output).ready();
    flush();
    bytes?.flush();
    // Keep reading while the disk writes, up to a few megabytes queued; then wait for it.
    if (typeof output !== 'function' && output.writableLength > MAX_QUEUED_BYTES)
      await waitForDrain(output);
  };

  /** Whether worker threads may write the output (started in `write` once enough is read). */
  const threaded =
    options.threads !== undefined &&
    options.threads > 0 &&
    from.kind !== 'fhir' &&
    to.kind === 'fhir' &&
    typeof output !== 'function' &&
    writer.writeTo !== undefined &&
    !options.extract &&
    !options.validator &&
    !options.onWritten;
  const threadsFrom = options.threadsFromBytes ?? THREADS_FROM_BYTES;
  function startParallel(target: Writable): ParallelFhirOutput {
    // What this thread wrote goes first; the workers' batches follow it, in input order.
    flush();
    bytes?.flush();
    const threads = options.threads ?? 1;
    parallel = new ParallelFhirOutput(target, {
      threads,
      observations: options.observations === true,
      onPiece: (result) => {
        summary.pieces = (summary.pieces ?? 0) + 1;
        summary.read += result.converted + result.rejects.length;
        summary.converted += result.converted;
        for (const [field, count] of Object.entries(result.notHeld))
          summary.notHeld[field] = (summary.notHeld[field] ?? 0) + count;
        for (const { issues, location } of result.rejects) reject(issues, location);
        for (const issue of result.notices) sink.notice(issue);
      },
    });
    return parallel;
  }
  /**
   * A dialogplus-csv file whose dates were scanned first (convertFile), with workers from the
   * start: every thread reads pieces of it (cut-input.ts), rather than this thread reading it all
   * and handing the records over.
   */
  function cutInput(target: ParallelFhirOutput): CutInput | undefined {
    const monthFirstSeen = options.monthFirstSeen;
    // `monthFirstSeen` given: the file's dates were scanned for their order first.
    if (
      from.kind !== 'csv-session-rows' ||
      monthFirstSeen === undefined ||
      !canCut(from.csv) ||
      !rowsReadIndependently(from)
    )
      return undefined;
    return new CutInput(from, { ...readOptions, monthFirstSeen }, sink, target);
  }
  let cut: CutInput | undefined;
  try {
    // Workers wanted from the start load while this thread reads (and converts) the first records.
    if (threaded && threadsFrom <= 0 && typeof output !== 'function') {
      const started = startParallel(output);
      cut = cutInput(started);
      if (options.waitForThreads) await started.loaded();
    }
    for await (const chunk of input) {
      summary.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      if (cut) await cut.push(chunk);
      else reader.push(chunk);
      await write();
      options.onProgress?.({
        bytes: summary.bytes,
        read: summary.read,
        converted: summary.converted,
        rejected: summary.rejected,
      });
    }
    if (cut) await cut.end();
    else await reader.end();
    if (parallel) {
      await parallel.finish();
      if (parallel.workersUsed > 0) summary.threads = parallel.workersUsed;
    }
    buffer += writer.end();
    await write();
  } finally {
    await parallel?.close();
  }
  return summary;
}

const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const THREADS_FROM_BYTES = 256 * 1024;
/**
 * Output is handed on every ~256 KB even inside one input chunk: text held across a young-
 * generation collection is promoted, and promoted garbage is what makes the heap (and the peak
 * RSS) grow with the length of the input.
 */
const FLUSH_CHARS = 256 * 1024;

/** Resolves at a drain; rejects at an error, or when the output closes first (a reader gone). */
function waitForDrain(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (failure?: Error): void => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (failure) reject(failure);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onError = (e: Error): void => settle(e);
    const onClose = (): void => settle(stream.errored ?? new Error('the output is closed'));
    stream.once('drain', onDrain);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

export interface FileConvertOptions extends Omit<ConvertOptions, 'file' | 'monthFirstSeen'> {
  /** Read chunk size; 64 KiB by default. */
  readonly highWaterMark?: number;
}

/**
 * Converts a file. For a day-first date format, the file's dates are scanned first, so that if
 * the file turns out to be a month-first export, every date that reads either way is rejected —
 * not only those after the first date that gives it away.
 */
export async function convertFile(
  path: string,
  output: OutputTarget,
  options: FileConvertOptions,
): Promise<ConvertSummary> {
  const from = resolve(options.from);
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  const stat = statSync(path);
  let monthFirstSeen: boolean | undefined;
  if (from.kind === 'csv-session-rows' && stat.isFile())
    // latin1: dates are ASCII, and one-byte text scans faster; other bytes cannot form a date.
    monthFirstSeen = await scanForMonthFirst(
      from,
      createReadStream(path, { encoding: 'latin1', highWaterMark }),
    );
  return convert(createReadStream(path, { highWaterMark }), output, {
    // A file known to be large enough: the workers load while the first records are read.
    ...(stat.isFile() && stat.size >= THREADS_FROM_BYTES ? { threadsFromBytes: 0 } : {}),
    ...options,
    from,
    file: path,
    ...(monthFirstSeen !== undefined ? { monthFirstSeen } : {}),
  });
}

export interface TextConversion {
  readonly output: string;
  readonly summary: ConvertSummary;
  readonly rejects: { readonly outcome: OperationOutcome; readonly location: string }[];
  readonly events: { readonly event: AdtEvent; readonly location: string }[];
  readonly notices: OperationOutcomeIssue[];
  /**
   * Every record in input order: written (`line`: its line of the output, for FHIR output
   * without `extract` or `observations`) or rejected (`reject`: its index in `rejects`).
   */
  readonly records: (
    | { readonly location: string; readonly line: number }
    | { readonly location: string; readonly reject: number }
  )[];
}

/** Converts text held in memory (tests, small uploads): everything comes back in one object. */
export async function convertText(
  text: string,
  options: Omit<ConvertOptions, 'onReject' | 'onEvent' | 'onNotice' | 'onWritten'>,
): Promise<TextConversion> {
  let output = '';
  const rejects: TextConversion['rejects'] = [];
  const records: TextConversion['records'] = [];
  let lines = 0;
  const events: TextConversion['events'] = [];
  const notices: OperationOutcomeIssue[] = [];
  const from = resolve(options.from);
  const monthFirstSeen =
    options.monthFirstSeen ??
    (from.kind === 'csv-session-rows' ? await scanForMonthFirst(from, [text]) : undefined);
  const summary = await convert(
    [text],
    (chunk) => {
      output += chunk;
    },
    {
      ...options,
      from,
      ...(monthFirstSeen !== undefined ? { monthFirstSeen } : {}),
      onReject: (outcome, location) => {
        records.push({ location, reject: rejects.length });
        rejects.push({ outcome, location });
      },
      onWritten: (location) => records.push({ location, line: lines++ }),
      onEvent: (event, location) => events.push({ event, location }),
      onNotice: (issue) => notices.push(issue),
    },
  );
  return { output, summary, rejects, events, notices, records };
}
