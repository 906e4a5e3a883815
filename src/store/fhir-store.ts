/**
 * The store port: what dialog-fhir needs from wherever FHIR resources are kept, in FHIR's own
 * terms and free of any web framework. Two adapters implement it — the embedded SQLite store and
 * (later) any FHIR R4 server through MedplumClient — and both must pass one contract suite
 * (`test/store/store-contract.ts`).
 *
 * Rules every implementation keeps:
 * - Every write sets `meta.versionId` ("1", "2", …, per resource) and `meta.lastUpdated` (an
 *   instant); whatever the caller put there is replaced.
 * - Results are copies: changing what a call returned never changes the store.
 * - Every failure is an `OperationOutcomeError` (from `@medplum/core`) whose outcome carries the
 *   HTTP status for `getStatus()` (400 bad request or unknown search parameter, 404 not found,
 *   409 conflict, 412 stale `ifMatch` or several matches for a condition) and a FHIRPath
 *   `expression` naming what was wrong. Messages never repeat search values or identifiers
 *   (they may be NHS numbers).
 * - There is no delete (nothing in dialog-fhir deletes; plans and goals are closed, not removed),
 *   so 410 Gone never arises.
 */
import type { Bundle, ExtractResource, Resource, ResourceType } from '@medplum/fhirtypes';

/**
 * Search parameters as a query string (`identifier=s|v&_count=10`, no leading `?`), a
 * `URLSearchParams`, or a record (a repeated parameter as an array: each value must hold).
 */
export type SearchParams =
  string | URLSearchParams | Readonly<Record<string, string | readonly string[]>>;

export interface CreateOptions {
  /** Conditional create: 0 matches creates, 1 match returns it unchanged, 2+ is a 412. */
  readonly ifNoneExist?: SearchParams;
}

export interface UpdateOptions {
  /** The version the caller last saw: an ETag (`W/"3"`) or the bare versionId (`3`). */
  readonly ifMatch?: string;
}

export interface SearchOptions {
  /** Page size when the parameters carry no `_count` (default 20; at most 1000). */
  readonly count?: number;
  /** Matches to skip when the parameters carry no `_offset` (default 0). */
  readonly offset?: number;
}

/** What a write of `T` returns: the resource type it names (`Patient` for a Patient literal). */
export type Stored<T extends Resource> = ExtractResource<T['resourceType']>;

export interface WriteResult<T extends Resource> {
  /** The resource as stored, with its id and meta. */
  readonly resource: T;
  /**
   * True when this call created the resource (HTTP 201); false for an update, an existing match
   * of `ifNoneExist`, or an update that changed nothing (200).
   */
  readonly created: boolean;
}

/** A stored version and its JSON text (`readStored`). */
export interface StoredText<T extends Resource> {
  readonly resource: T;
  readonly text: string;
}

export interface SearchResult<T extends Resource> {
  /** This page of matches. */
  readonly resources: T[];
  /** How many resources match in all (for `Bundle.total` and `next` links). */
  readonly total: number;
  /** The page's offset and size as applied (after defaults and the cap). */
  readonly offset: number;
  readonly count: number;
}

/**
 * One page of a resource's history (`historyPage`): `since` (epoch milliseconds) keeps the
 * versions last updated at or after it; of those, newest first, `offset` are skipped and at most
 * `count` given.
 */
export interface HistoryPage {
  readonly count: number;
  readonly offset: number;
  readonly since?: number;
}

export interface HistoryResult<T extends Resource> {
  /** This page of versions, newest first. */
  readonly versions: T[];
  /** How many versions there are since `since` (all of them without it), across all pages. */
  readonly total: number;
}

/**
 * The page `page` asks for of `versions` (every version, newest first): for a store that cannot
 * page a history itself.
 */
export function pageOfHistory<T extends Resource>(
  versions: readonly T[],
  page: HistoryPage,
): HistoryResult<T> {
  const { since } = page;
  const kept =
    since === undefined
      ? versions
      : versions.filter((v) => Date.parse(v.meta?.lastUpdated ?? '') >= since);
  return { versions: kept.slice(page.offset, page.offset + page.count), total: kept.length };
}

export interface FhirStore {
  /**
   * True when the store itself refuses, inside the write that would make it, a version that
   * moves a stored record to another person (`checkKeepsPerson`, src/store/person-of.ts): then
   * every path, conditional entries and races included, is covered there. Otherwise the service
   * checks before writing (src/service/bundles.ts, references.ts), which a concurrent writer can
   * race.
   */
  readonly keepsPersons?: boolean;

  /**
   * Create with a new server-assigned id (an id in the body is ignored, as FHIR create does).
   * With `ifNoneExist`: see CreateOptions.
   */
  create<T extends Resource>(resource: T, options?: CreateOptions): Promise<WriteResult<Stored<T>>>;

  /** The current version; 404 when there is none. */
  read<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>>;

  /**
   * As `read`, with the JSON text the version is kept as: exactly `JSON.stringify(resource)`,
   * so a caller that passes the resource on unchanged can send the text without serialising it
   * again (a plain read over HTTP). Optional: a store that keeps no text of its own (a FHIR
   * server behind MedplumClient) leaves it out, and callers use `read`.
   */
  readonly readStored?:
    | (<K extends ResourceType>(type: K, id: string) => Promise<StoredText<ExtractResource<K>>>)
    | undefined;

  /** One version; 404 when the resource or that version does not exist. */
  vread<K extends ResourceType>(
    type: K,
    id: string,
    versionId: string,
  ): Promise<ExtractResource<K>>;

  /**
   * Update `resource.id` (required). `meta.versionId` in the body is no precondition: use
   * `ifMatch`. With `ifMatch`, 412 unless it names the current version
   * (also 412 when there is no resource to match). Without a current resource this creates it
   * with the client's id (update-as-create, `created: true`).
   */
  update<T extends Resource>(resource: T, options?: UpdateOptions): Promise<WriteResult<Stored<T>>>;

  /**
   * Conditional update (`PUT Type?search`): 0 matches creates (with the body's id if it has one),
   * 1 match updates it (400 if the body names a different id), 2+ matches is a 412.
   */
  conditionalUpdate<T extends Resource>(
    resource: T,
    search: SearchParams,
    options?: UpdateOptions,
  ): Promise<WriteResult<Stored<T>>>;

  /**
   * Search one type. Parameters: `_id`, `_lastUpdated` (eq/gt/ge/lt/le), `identifier`,
   * `status` (or `lifecycle-status` for Goal), `subject`, `patient`, and a few more per type (see
   * `searchParametersFor`); `_count`, `_offset`, `_sort=_lastUpdated|-_lastUpdated`. A comma
   * means "any of", a repeated parameter "all of". Unknown parameters, modifiers or prefixes are
   * a 400, never ignored.
   */
  search<K extends ResourceType>(
    type: K,
    params?: SearchParams,
    options?: SearchOptions,
  ): Promise<SearchResult<ExtractResource<K>>>;

  /** Every version of one resource, newest first; 404 when it never existed. */
  history<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>[]>;

  /**
   * One page of `history` (see HistoryPage), with the total since `page.since`: what a
   * `_history` request shows, without reading every version of a long history (a person's plan
   * is rewritten at every session). 404 when the resource never existed, even if no version is
   * since `page.since`.
   */
  historyPage<K extends ResourceType>(
    type: K,
    id: string,
    page: HistoryPage,
  ): Promise<HistoryResult<ExtractResource<K>>>;

  /**
   * Apply a FHIR `transaction` Bundle all or nothing. Entries: POST `Type` (with
   * `ifNoneExist`), PUT `Type/id` or `Type?search` (with `ifMatch`), GET `Type/id`,
   * `Type/id/_history/v` or `Type?search`. `urn:uuid:`/`urn:oid:` fullUrls are replaced by the
   * ids they were given in every `reference` of the bundle (and in GET and conditional URLs).
   * Returns a `transaction-response` Bundle, entries in request order, each with
   * `response.status`, `location` (`Type/id/_history/v`), `etag`, `lastModified` and the resource.
   */
  transaction(bundle: Bundle): Promise<Bundle>;

  /**
   * Whether the store can serve now (`/readyz`): the embedded file open and answering, the FHIR
   * server answering its CapabilityStatement. Quick and without retries: a load balancer asks
   * often and wants the state now.
   */
  ready(): Promise<boolean>;

  /** Release what the store holds (files, connections). */
  close(): Promise<void>;
}
