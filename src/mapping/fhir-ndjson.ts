/**
 * FHIR (kind `fhir`): the identity mapping. Reads NDJSON (one resource per line, streamed), or one
 * JSON document — a Bundle or a single resource — read whole up to the mapping's `maxJsonBytes`.
 * DIALOG QuestionnaireResponses become records; Patients are remembered so later responses that
 * reference them (`Patient/<id>`, or a Bundle entry's fullUrl) find the person; any other resource
 * is skipped (and passed through unchanged when converting FHIR to FHIR). Writes NDJSON.
 */
import type {
  Bundle,
  BundleEntry,
  Patient,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { error } from '../validation/outcome';
import { placedIssue, placeIssue } from './issues';
import { recordToResponse, responseToRecord, type DialogRecord } from './record';
import { ExtractJson } from './extract-json';
import { asciiJson, type JsonOut, ResponseJson } from './response-json';
import type { FhirMapping } from './spec';
import type {
  FormatReader,
  FormatWriter,
  Projection,
  ReadOptions,
  ReadSink,
  WriteResult,
} from './types';
import { TextChunks } from './types';

/**
 * responseToRecord reads a response of the right JSON shape; input is any JSON, and an element of
 * the wrong type (an `extension` that is a string, an `item` that is an object) makes it throw a
 * TypeError. That is the input's fault, so it is a rejection, not an exception.
 */
function readResponse(
  response: QuestionnaireResponse,
  lookup: (reference: string) => Patient | undefined,
): ReturnType<typeof responseToRecord> {
  try {
    return responseToRecord(response, lookup);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return {
      ok: false,
      issues: [
        error(
          'structure',
          'The response is not well-formed FHIR JSON: an element has the wrong type (validate it to find which)',
          'QuestionnaireResponse',
        ),
      ],
    };
  }
}

export function createFhirReader(
  spec: FhirMapping,
  options: ReadOptions,
  sink: ReadSink,
): FormatReader {
  const file = options.file;
  const patients = new Map<string, Patient>();
  let mode: 'unknown' | 'ndjson' | 'document' = 'unknown';
  let pending = '';
  let lineNumber = 0;
  let documentBytes = 0;
  let tooLarge = false;

  const lookup = (reference: string): Patient | undefined => patients.get(reference);

  function remember(patient: Patient, fullUrl?: string): void {
    if (patient.id) patients.set(`Patient/${patient.id}`, patient);
    if (fullUrl) patients.set(fullUrl, patient);
  }

  function handle(resource: unknown, location: string): void {
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      sink.reject(
        [placedIssue('structure', 'Not a FHIR resource (a JSON object)', '$this', file, location)],
        location,
      );
      return;
    }
    const r = resource as Resource;
    switch (r.resourceType) {
      case 'Bundle':
        handleBundle(r, location);
        return;
      case 'Patient':
        remember(r);
        sink.skip(location, r);
        return;
      case 'QuestionnaireResponse': {
        const read = readResponse(r as QuestionnaireResponse, lookup);
        if (read.ok) sink.record(read.record, location, r);
        else
          sink.reject(
            read.issues.map((i) => placeIssue(i, file, location)),
            location,
          );
        return;
      }
      default:
        if (typeof r.resourceType !== 'string')
          sink.reject(
            [
              placedIssue(
                'structure',
                'The JSON object has no resourceType',
                'resourceType',
                file,
                location,
              ),
            ],
            location,
          );
        else sink.skip(location, r);
    }
  }

  function handleBundle(bundle: Bundle, location: string): void {
    const given: unknown = bundle.entry ?? [];
    if (!Array.isArray(given)) {
      sink.reject(
        [placedIssue('structure', 'Bundle.entry is not a list', 'Bundle.entry', file, location)],
        location,
      );
      return;
    }
    // JSON may hold anything where an entry should be: only objects are entries.
    const entries = (given as unknown[]).map((entry) =>
      typeof entry === 'object' && entry !== null ? (entry as BundleEntry) : undefined,
    );
    for (const entry of entries)
      if (entry?.resource?.resourceType === 'Patient') remember(entry.resource, entry.fullUrl);
    entries.forEach((entry, i) => {
      const where = `${location}, Bundle.entry[${i}]`;
      if (!entry) {
        sink.reject(
          [
            placedIssue(
              'structure',
              'The entry is not an object',
              `Bundle.entry[${i}]`,
              file,
              where,
            ),
          ],
          where,
        );
        return;
      }
      const resource = entry.resource;
      if (!resource) return;
      if (resource.resourceType === 'Patient') {
        sink.skip(where, resource);
        return;
      }
      handle(resource, where);
    });
  }

  function line(text: string): void {
    lineNumber++;
    if (text.trim() === '') return;
    const location = `line ${lineNumber}`;
    if (decoder.sawNotUtf8 && text.includes('\uFFFD')) {
      sink.reject(
        [
          placedIssue(
            'structure',
            'The line is not UTF-8 text, so its letters would be lost',
            '$this',
            file,
            location,
          ),
        ],
        location,
      );
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      sink.reject(
        [placedIssue('structure', 'The line is not JSON', '$this', file, location)],
        location,
      );
      return;
    }
    handle(parsed, location);
  }

  function drainLines(final: boolean): void {
    let start = 0;
    for (;;) {
      const at = pending.indexOf('\n', start);
      if (at < 0) break;
      line(pending.slice(start, at));
      start = at + 1;
    }
    pending = pending.slice(start);
    if (final && pending !== '') {
      line(pending);
      pending = '';
    }
  }

  const decoder = new TextChunks();
  return {
    push(bytes) {
      const chunk = decoder.text(bytes);
      if (mode === 'document') {
        documentBytes += chunk.length;
        if (documentBytes > spec.maxJsonBytes) tooLarge = true;
        else pending += chunk;
        return;
      }
      pending += chunk;
      if (mode === 'unknown') {
        const trimmed = pending.trimStart();
        if (trimmed === '') return;
        const newline = pending.indexOf('\n');
        if (newline < 0) return;
        // NDJSON when the first line is a whole JSON value; otherwise one (pretty-printed) document.
        try {
          JSON.parse(pending.slice(0, newline));
          mode = 'ndjson';
        } catch {
          mode = 'document';
          documentBytes = pending.length;
          if (documentBytes > spec.maxJsonBytes) {
            tooLarge = true;
            pending = '';
          }
          return;
        }
      }
      drainLines(false);
    },
    end() {
      const tail = decoder.end();
      if (tail !== '') pending += tail;
      if (
        mode === 'document' ||
        (mode === 'unknown' && pending.trim() !== '' && !pending.includes('\n'))
      ) {
        if (tooLarge) {
          sink.reject(
            [
              placedIssue(
                'too-costly',
                `The JSON document is larger than ${spec.maxJsonBytes} bytes; give large inputs as NDJSON (one resource per line)`,
                '$this',
                file,
                'document',
              ),
            ],
            'document',
          );
          return Promise.resolve();
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(pending);
        } catch {
          // Not one document: read it as NDJSON, so each bad line is reported on its own.
          mode = 'ndjson';
          drainLines(true);
          return Promise.resolve();
        }
        pending = '';
        handle(parsed, 'document');
        return Promise.resolve();
      }
      drainLines(true);
      return Promise.resolve();
    },
  };
}

/** FHIR holds everything: the projection is the record itself. */
export function projectFhir(record: DialogRecord): Projection {
  return { ok: true, record, notHeld: [] };
}

export interface FhirWriteOptions {
  /** Extra resources to write after each response (e.g. Observations from $extract). */
  readonly extract?: (response: QuestionnaireResponse) => readonly Resource[];
  /**
   * Write after each response the Observations src/fhir `extractObservations` gives for it (none
   * for a response it refuses, e.g. one in progress): the same text as `extract` with that
   * function, through the fast path of extract-json.ts. Ignored when `extract` is given.
   */
  readonly observations?: boolean;
}

export function createFhirWriter(options: FhirWriteOptions = {}): FormatWriter {
  if (!options.extract && options.observations) {
    const withObservations = new ExtractJson();
    return {
      begin: () => '',
      writeTo(record: DialogRecord, out: JsonOut) {
        withObservations.writeTo(record, out);
        return { ok: true as const, notHeld: [] };
      },
      write: (record): WriteResult => ({
        ok: true,
        text: withObservations.stringify(record),
        notHeld: [],
      }),
      end: () => '',
    };
  }
  const json = new ResponseJson();
  return {
    begin: () => '',
    ...(options.extract
      ? {}
      : {
          writeTo(record: DialogRecord, out: JsonOut) {
            json.writeTo(record, out);
            out.put('\n');
            return { ok: true as const, notHeld: [] };
          },
        }),
    write(record): WriteResult {
      if (!options.extract) return { ok: true, text: `${json.stringify(record)}\n`, notHeld: [] };
      const response = recordToResponse(record);
      let text = `${asciiJson(JSON.stringify(response))}\n`;
      for (const r of options.extract(response)) text += `${asciiJson(JSON.stringify(r))}\n`;
      return { ok: true, text, notHeld: [] };
    },
    end: () => '',
  };
}
