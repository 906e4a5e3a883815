/**
 * The mapping files (`mappings/<format>.json`): what varies per native format, read once and
 * checked against `mappings/mapping.schema.json`. The engine interprets them; nothing about a
 * format's column names, code tables, date patterns, name format or separators lives in code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import type { DialogItemConcept } from '../dialog';

export const MAPPINGS_DIR = join(__dirname, '..', '..', 'mappings');

export const FORMATS = ['dialogplus-csv', 'mhsds-csv', 'hl7v2', 'fhir'] as const;
export type FormatName = (typeof FORMATS)[number];

export function isFormatName(value: string): value is FormatName {
  return (FORMATS as readonly string[]).includes(value);
}

/** Where a cell's value goes in a DIALOG record (and comes from, on export). */
export type Target =
  | 'person.name'
  | 'person.identifier'
  | 'session.identifier'
  | 'session.start'
  | 'session.end'
  | 'session.authored'
  | 'item.code'
  | 'item.score'
  | 'item.helpWanted'
  | 'item.chosen'
  | 'item.actions';

/** A code table: native text → value; `null` means "absent" (e.g. an empty rank: not rated). */
export type CodeTable = Readonly<Record<string, number | boolean | null>>;

export interface ColumnSpec {
  /** Column header; `{item}` is replaced by each item's name (columns inside `forEachItem`). */
  readonly header: string;
  readonly target: Target;
  /** The cell may not be empty. */
  readonly required?: boolean;
  /** Identifier system (person.identifier, session.identifier). */
  readonly system?: string;
  /** Extra check on an identifier's value. */
  readonly check?: 'nhs-number';
  /** Date-time pattern: d, dd, M, MM, yyyy, H, HH, mm, ss; text in single quotes is literal. */
  readonly dateTime?: string;
  /** How a person's name is written. */
  readonly name?: 'family-comma-given';
  readonly codes?: CodeTable;
  /** List separator (item.actions). */
  readonly separator?: string;
  /** Code system of an item code column (item.code). */
  readonly codeSystem?: string;
}

export interface ForEachItem {
  readonly forEachItem: readonly ColumnSpec[];
}

export interface CsvOptions {
  readonly delimiter: string;
  readonly quote: string;
  readonly lineEnding: '\n' | '\r\n';
  /** Prefix cells spreadsheets would execute with `'` on export, and take it off on import. */
  readonly neutraliseFormulas: boolean;
}

interface BaseMapping {
  readonly format: string;
  readonly title: string;
  readonly description?: string;
}

export interface CsvSessionRowsMapping extends BaseMapping {
  readonly kind: 'csv-session-rows';
  readonly csv: CsvOptions;
  readonly timeZone: string;
  /** Order of items in exported columns; import accepts any order. */
  readonly itemOrder: 'app' | 'snomed';
  readonly itemNames: Readonly<Record<DialogItemConcept, string>>;
  /** Header spellings some exporters write, mapped to the canonical header. */
  readonly headerAliases?: Readonly<Record<string, string>>;
  readonly columns: readonly (ColumnSpec | ForEachItem)[];
  /** A second header row holding each item's question under the columns of this target. */
  readonly questionRow?: { readonly under: Target };
}

export interface CsvItemRowsMapping extends BaseMapping {
  readonly kind: 'csv-item-rows';
  readonly csv: CsvOptions;
  readonly timeZone: string;
  readonly itemOrder: 'app' | 'snomed';
  readonly columns: readonly ColumnSpec[];
}

export interface Hl7Authority {
  readonly system: string;
  /** Identifier type code (HL7 table 0203), CX-5. */
  readonly type?: string;
  readonly check?: 'nhs-number';
}

export interface Hl7Mapping extends BaseMapping {
  readonly kind: 'hl7v2';
  readonly encoding: {
    readonly field: string;
    readonly component: string;
    readonly repetition: string;
    readonly escape: string;
    readonly subcomponent: string;
  };
  readonly segmentSeparator: '\r' | '\n' | '\r\n';
  readonly timeZone: string;
  readonly header: {
    readonly sendingApplication: string;
    readonly sendingFacility: string;
    readonly receivingApplication: string;
    readonly receivingFacility: string;
    readonly processingId: string;
    readonly version: string;
    /** MSH-18 of written messages; input must be ASCII or UTF-8 (MSH-18 empty, ASCII or this). */
    readonly characterSet: 'UNICODE UTF-8';
    readonly controlIdPrefix: string;
  };
  readonly patient: {
    readonly identifiers: string;
    readonly name: string;
    readonly birthDate?: string;
    readonly sex?: string;
    /** Administrative sex (HL7 table 0001) → FHIR Patient.gender. */
    readonly sexCodes?: Readonly<Record<string, 'male' | 'female' | 'other' | 'unknown'>>;
    /** CX-4 assigning authority → identifier system. */
    readonly authorities: Readonly<Record<string, Hl7Authority>>;
    /** System for identifiers whose authority is not listed; `{authority}` is replaced. */
    readonly otherAuthoritySystem: string;
  };
  readonly results: {
    readonly messageType: string;
    readonly messageStructure: string;
    readonly order: {
      readonly universalService: string;
      readonly identifier: string;
      readonly identifierSystem: string;
      readonly time: string;
      readonly status: string;
    };
    readonly observation: {
      readonly type: string;
      readonly code: string;
      readonly value: string;
      readonly status: string;
      readonly time: string;
    };
    readonly statusCodes: Readonly<Record<string, 'completed' | 'in-progress' | 'amended'>>;
    /** Coding system identifiers (CWE-3) → FHIR code system. */
    readonly codingSystems: Readonly<Record<string, string>>;
    readonly score: {
      readonly valueType: string;
      readonly codingSystem: string;
      readonly codes: CodeTable;
    };
    readonly helpWanted: {
      readonly valueType: string;
      readonly codingSystem: string;
      readonly codePrefix: string;
      readonly codes: CodeTable;
      readonly valueCodingSystem: string;
    };
  };
  readonly events: Readonly<
    Record<string, { readonly event: 'admit' | 'discharge'; readonly time: readonly string[] }>
  >;
  readonly eventFields: {
    readonly recordedAt: string;
    readonly location: string;
    readonly visitNumber: string;
    readonly organisation: string;
  };
}

export interface FhirMapping extends BaseMapping {
  readonly kind: 'fhir';
  readonly output: 'ndjson';
  /** A pretty-printed (not NDJSON) input is read whole; larger inputs must be NDJSON. */
  readonly maxJsonBytes: number;
}

export type MappingSpec = CsvSessionRowsMapping | CsvItemRowsMapping | Hl7Mapping | FhirMapping;

/** A mapping file that does not match the schema; `errors` name the JSON pointer of each fault. */
export class MappingFileError extends Error {
  constructor(
    readonly file: string,
    readonly errors: readonly string[],
  ) {
    super(`${file} is not a valid mapping file: ${errors.join('; ')}`);
    this.name = 'MappingFileError';
  }
}

let schemaCheck: ((value: unknown) => string[]) | undefined;

function checkAgainstSchema(value: unknown): string[] {
  if (!schemaCheck) {
    const schema = JSON.parse(
      readFileSync(join(MAPPINGS_DIR, 'mapping.schema.json'), 'utf8'),
    ) as object;
    // Unoptimised code: a mapping file is checked once, and compiling takes ~20 ms less.
    const validate = new Ajv({ allErrors: true, strict: false, code: { optimize: false } }).compile(
      schema,
    );
    schemaCheck = (v) =>
      validate(v)
        ? []
        : (validate.errors ?? []).map(
            (e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`,
          );
  }
  return schemaCheck(value);
}

/** Checks a parsed mapping object against the schema and returns it typed. */
export function parseMapping(value: unknown, file = '<mapping>'): MappingSpec {
  const errors = checkAgainstSchema(value);
  if (errors.length > 0) throw new MappingFileError(file, errors);
  return value as MappingSpec;
}

const cache = new Map<string, MappingSpec>();

/**
 * The mapping of a built-in format (`mappings/<format>.json`), or of a mapping file given by
 * path (a copy of a built-in one edited for a trust: its identifier systems, its time zone).
 */
export function loadMapping(formatOrFile: string): MappingSpec {
  const cached = cache.get(formatOrFile);
  if (cached) return cached;
  const file = isFormatName(formatOrFile)
    ? join(MAPPINGS_DIR, `${formatOrFile}.json`)
    : formatOrFile;
  const spec = parseMapping(JSON.parse(readFileSync(file, 'utf8')) as unknown, file);
  cache.set(formatOrFile, spec);
  return spec;
}
