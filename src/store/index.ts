/**
 * Where FHIR resources are kept. `FhirStore` is the port (create, read, vread, update,
 * conditional update, search, history, transaction); `EmbeddedStore` is the default adapter, a
 * SQLite file with versioned resources, atomic transactions and a durable outbox in the same
 * database. The search parameters both adapters support are listed by `searchParametersFor`
 * (for the CapabilityStatement). Errors are `OperationOutcomeError`s: `getStatus(err.outcome)`
 * gives the HTTP status.
 */
export type {
  CreateOptions,
  FhirStore,
  SearchOptions,
  SearchParams,
  SearchResult,
  StoredText,
  Stored,
  UpdateOptions,
  WriteResult,
} from './fhir-store';
export {
  DEFAULT_FILE_NAME,
  EmbeddedStore,
  openEmbeddedStore,
  type EmbeddedStoreOptions,
  type EmbeddedTransaction,
} from './embedded-store';
export {
  DEFAULT_LEASE_MS,
  type OutboxAttempt,
  type OutboxInput,
  type OutboxMessage,
  type OutboxState,
} from './embedded-outbox';
export {
  searchParametersFor,
  type SearchParamInfo,
  type SearchParamType,
} from './search-parameters';
export { DEFAULT_COUNT, MAX_COUNT, parseSearch, type ParsedSearch } from './search-query';
export {
  checkEntry as checkEntryShape,
  entryUrlParts,
  transactionRequests,
  versionOfETag,
  type EntryRequest,
} from './bundle-request';
export { SCHEMA_VERSION } from './sqlite-schema';
export {
  FhirServerError,
  FhirServerStore,
  openFhirServerStore,
  type FhirServerStoreOptions,
  type RetryPolicy,
} from './fhir-server-store';
export { checkKeepsPerson, movedFrom, personElement, personReference } from './person-of';
export { sameContent } from './content-key';
export { timeOrderedId } from './time-ordered-id';
