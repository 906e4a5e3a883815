/**
 * Native formats ⇄ FHIR. One engine reads and writes every format from its declarative mapping
 * file (`mappings/<format>.json`): the DIALOG+ app CSV export, MHSDS coded scored assessment rows,
 * HL7 v2 (ORU^R01 results; ADT^A01/A03 as events) and FHIR itself. Every conversion goes through
 * the DIALOG QuestionnaireResponse. See mappings/README.md for each format's decisions.
 */
export {
  FORMATS,
  isFormatName,
  loadMapping,
  parseMapping,
  MappingFileError,
  MAPPINGS_DIR,
} from './spec';
export type { FormatName, MappingSpec, Target } from './spec';
export { convert, convertFile, convertText, createReader, createWriter, project } from './engine';
export { defaultThreads, tuneHeapForConversion } from './parallel';
export type {
  ConvertOptions,
  ConvertProgress,
  ConvertSummary,
  FileConvertOptions,
  OutputTarget,
  TextConversion,
  WriterOptions,
} from './engine';
export {
  CONTAINED_SUBJECT,
  SESSION_START_EXTENSION,
  nameDisplay,
  recordToResponse,
  responseToRecord,
} from './record';
export type {
  DialogRecord,
  PatientLookup,
  PersonDetails,
  PersonIdentifier,
  PersonName,
  RecordResult,
} from './record';
export type {
  AdtEvent,
  FormatReader,
  FormatWriter,
  Projection,
  ReadOptions,
  ReadSink,
  WriteOptions,
  WriteResult,
} from './types';
export { isNhsNumber } from './codes';
export { neutralise, unneutralise } from './csv';
