/**
 * The `fhir-server` store: any FHIR R4 server (HAPI FHIR JPA, Medplum, Azure Health Data
 * Services, Google Cloud Healthcare, another dialog-fhir) through `MedplumClient`, over its
 * standard REST API. The adapter keeps no state of its own — no cache (`cacheTime: 0`), no ids,
 * no locks — so any number of replicas can run against one server.
 *
 * What the adapter does itself, so that every server meets the port the same way:
 * - Checks requests before sending them, with the port's own rules (`parseSearch`,
 *   `transactionRequests`, `versionOfETag`): an unknown search parameter, modifier or prefix, a
 *   malformed ETag or a reference to no entry of a transaction is a 400 naming it, whatever the
 *   server would have done (many servers ignore unknown parameters).
 * - Drops `meta.versionId`/`meta.lastUpdated` (and a create's `id`) from what it sends: the
 *   server assigns them.
 * - Sends `ifMatch` as a weak ETag (`W/"3"`) in `If-Match`, `ifNoneExist` in `If-None-Exist`.
 *   An `If-Match` update of a resource that does not exist is a 412 (RFC 9110), whatever the
 *   server said (Medplum says 404).
 * - Conditional update with `ifMatch` or a body id is done as search + `PUT Type/id` with
 *   `If-Match`: not every server honours `If-Match` on `PUT Type?search` (Medplum's router
 *   ignores it), and with a body id a repeated create lands on the same id. Without either, it
 *   is the server's own `PUT Type?search` (atomic create-if-none on the server).
 * - Reads `Bundle.total` with `_total=accurate`; pages by `_count`/`_offset`, following `next`
 *   links when the server returns a short page. A server that ignores `_offset` (paging by its
 *   own tokens) answers every page with the first: a page beyond the first that holds matches is
 *   checked against the first page (one more request) and, when it is that page, is a 502 at
 *   `Bundle.entry` saying the server ignores `_offset` (not the same matches again, for ever).
 * - Sends its token only under the configured base (same scheme, host, port, path prefix): a
 *   `next` link or a redirect elsewhere is a 502 and is not fetched. Redirects under the base
 *   are followed (at most 5; a write only on 307/308).
 * - Bounds every paging walk (search `next` links, history): a link to a page already fetched,
 *   more than 1000 pages, or more than 10,000 versions is a 502; a later page that brings nothing
 *   not seen before ends the walk with what it has.
 * - Turns a transaction response's failed entry (servers that process a transaction entry by
 *   entry, as Medplum without its transactions feature does) into an error naming that entry,
 *   and fills each entry's `location` (`Type/id/_history/v`), `etag` and `lastModified`.
 *
 * Errors: every failure is a `FhirServerError` (an `OperationOutcomeError`) with the server's
 * issues (details redacted of the search values sent; diagnostics dropped), the HTTP status the
 * façade should answer (`status`) and, when the server asked, `retryAfterMs`. `getStatus()` gives
 * the same status wherever Medplum's outcome ids can express it (4xx, 500, 504); a server that
 * cannot be reached is `status` 503, which `getStatus()` can only call 500. Besides:
 * - a 401/403 is about this service's own credentials, not the caller's: 502 `exception` "The
 *   FHIR server refused this service's credentials (HTTP n)" (`upstreamStatus` keeps n), so the
 *   façade adds no `WWW-Authenticate` challenge;
 * - an answer that cannot be used is a 502 `exception` naming the part at fault: not JSON, not
 *   the resource type, another id (or version, for a vread) than the one asked for, not a Bundle,
 *   `Bundle.entry`/`link` not lists of objects, a match without an id, `total` not a count;
 * - every store call has one deadline (`deadlineMs`, default 15 s or `timeoutMs` if longer)
 *   across its attempts, waits, redirects and pages: past it, 504 `timeout`.
 *
 * Retries (see `RetryPolicy`): up to `retries` more attempts with exponential backoff and full
 * jitter, or after `Retry-After` when the server sends one (up to `maxRetryDelayMs`), for
 * - 429 (the server did not process the request), and a refused connection (it never reached the
 *   server): any request;
 * - 5xx other than 501, a reset connection and a timeout: only requests whose repetition cannot
 *   change the outcome: GET, PUT (to an id or a condition), a create with `ifNoneExist`, and a
 *   transaction all of whose POST entries have `ifNoneExist` (a second application finds what the
 *   first created). A repeated `If-Match` write whose first attempt succeeded but whose answer was
 *   lost fails with 412: safe (nothing is written twice), and the caller re-reads as after any 412.
 * A plain create (POST without `ifNoneExist`) is never repeated after it may have reached the
 * server: that could create two resources.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { MedplumClient, OperationOutcomeError, getStatus } from '@medplum/core';
import type {
  Bundle,
  BundleEntry,
  ExtractResource,
  OperationOutcome,
  OperationOutcomeIssue,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import {
  at,
  checkId,
  checkResource,
  isObject,
  isPlaceholder,
  checkPlaceholders,
  transactionRequests,
  versionOfETag,
  type EntryRequest,
} from './bundle-request';
import {
  pageOfHistory,
  type CreateOptions,
  type FhirStore,
  type HistoryPage,
  type HistoryResult,
  type SearchOptions,
  type SearchParams,
  type SearchResult,
  type Stored,
  type UpdateOptions,
  type WriteResult,
} from './fhir-store';
import { conflict, invalid, multipleMatches, preconditionFailed } from './outcomes';
import { indexedParameter } from './search-parameters';
import { parseSearch, searchPairs } from './search-query';

export interface RetryPolicy {
  /** More attempts after the first (default 3). */
  readonly retries?: number;
  /** The first backoff ceiling; doubled per attempt, with full jitter (default 200 ms). */
  readonly baseDelayMs?: number;
  /** The longest wait, for backoff and for `Retry-After`; a longer `Retry-After` is not waited for (default 5000 ms). */
  readonly maxRetryDelayMs?: number;
}

export interface FhirServerStoreOptions extends RetryPolicy {
  /** The server's FHIR base: `https://host/fhir/R4/`, `http://127.0.0.1:8080/fhir`. */
  readonly baseUrl: string;
  /** The fetch to use (default: the global one, looked up at each request). */
  readonly fetch?: typeof fetch;
  /** A fixed bearer token. */
  readonly token?: string;
  /** A bearer token per request (e.g. from a client-credentials flow); wins over `token`. */
  readonly getAccessToken?: () => string | undefined | Promise<string | undefined>;
  /** Time allowed for one attempt, answer included (default 10000 ms). */
  readonly timeoutMs?: number;
  /**
   * Time allowed for one store call, every attempt, wait, redirect and page included (default
   * 15000 ms, or `timeoutMs` when that is longer): past it the call is a 504.
   */
  readonly deadlineMs?: number;
  /** How waits are made (tests pass one that records them). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
}

/** A failure of the FHIR server or of reaching it, with the status the façade should answer. */
export class FhirServerError extends OperationOutcomeError {
  constructor(
    outcome: OperationOutcome,
    /** The HTTP status to answer with (the server's own for 4xx; 503/504 when unreachable). */
    readonly status: number,
    /** How long the server asked callers to wait (from `Retry-After`). */
    readonly retryAfterMs?: number,
    /** The status the server answered, when `status` is another (401/403 → 502). */
    readonly upstreamStatus?: number,
    /**
     * What is wrong with the server, where a caller acts on it rather than only answering it:
     * `offset-ignored`, its page at an `_offset` was its first page (paging callers end there).
     */
    readonly fault?: 'offset-ignored',
  ) {
    super(outcome);
    this.name = 'FhirServerError';
  }
}

/** What one call tells the fetch underneath it, and what it learns back. */
interface CallContext {
  /** Whether repeating the request cannot change its outcome (see the header). */
  readonly repeatable: boolean;
  /** Where a failure points, by status. */
  readonly where: (status: number) => string;
  /** Values sent that an error must not repeat (search values). */
  readonly secrets: readonly string[];
  /** When the store call must have ended (`Date.now()` scale). */
  readonly deadline: number;
  /** Set once a response is accepted. */
  status?: number;
}

type Fetch = typeof fetch;

/**
 * Options for every MedplumClient call: its own retries off (it would repeat any method, a POST
 * too, and without reading Retry-After); this adapter's fetch retries instead. A new object each
 * time: MedplumClient writes the method, headers and body into the options it is given.
 */
const once = (): { maxRetries: number } => ({ maxRetries: 0 });

const DEFAULTS = {
  retries: 3,
  baseDelayMs: 200,
  maxRetryDelayMs: 5000,
  timeoutMs: 10_000,
  deadlineMs: 15_000,
};
/** How long `/readyz` waits for the FHIR server's CapabilityStatement. */
const READY_TIMEOUT_MS = 2000;

/** Medplum's outcome ids for the statuses they express (see `getStatus`). */
const STATUS_IDS: Readonly<Record<number, string>> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  410: 'gone',
  412: 'precondition-failed',
  422: 'business-rule',
  429: 'too-many-requests',
  504: 'server-timeout',
};

const ISSUE_CODES: Readonly<Record<number, OperationOutcomeIssue['code']>> = {
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  410: 'deleted',
  412: 'conflict',
  422: 'business-rule',
  429: 'throttled',
  504: 'timeout',
};

const REASONS: Readonly<Record<number, string>> = { 200: 'OK', 201: 'Created' };

/** `Retry-After` (seconds or an HTTP date) in milliseconds from now. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Replaces every secret in `text` with `…`. */
function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (secret.length >= 3) result = result.split(secret).join('…');
  return result;
}

/** The values of search parameters (and their parts), which errors must not repeat. */
function secretsOf(params: SearchParams | undefined): string[] {
  const values = new Set<string>();
  for (const [, value] of searchPairs(params)) {
    values.add(value);
    for (const part of value.split(/[,|]/)) values.add(part);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

function isOperationOutcome(value: unknown): value is OperationOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { resourceType?: unknown }).resourceType === 'OperationOutcome' &&
    Array.isArray((value as { issue?: unknown }).issue)
  );
}

/** The outcome for an error response: the server's issues, located and redacted. */
function upstreamOutcome(
  status: number,
  body: unknown,
  where: string,
  secrets: readonly string[],
): OperationOutcome {
  const theirs = isOperationOutcome(body) ? body : undefined;
  const issues: OperationOutcomeIssue[] = (theirs?.issue ?? []).map((issue) => {
    const text = issue.details?.text;
    const copy: OperationOutcomeIssue = {
      severity: issue.severity,
      code: issue.code,
      ...(text !== undefined ? { details: { text: redact(text, secrets) } } : {}),
      ...(issue.expression?.length ? { expression: [...issue.expression] } : {}),
    };
    return copy;
  });
  const first = issues[0];
  const ours: OperationOutcomeIssue = {
    severity: 'error',
    code: status >= 500 && status !== 504 ? 'exception' : (ISSUE_CODES[status] ?? 'invalid'),
    details: {
      text: theirs
        ? `The FHIR server answered HTTP ${status}`
        : `The FHIR server answered HTTP ${status} without an OperationOutcome`,
    },
    expression: [where],
  };
  let located: OperationOutcomeIssue[];
  if (status >= 500 || !first) located = [ours, ...issues];
  else
    located = [
      {
        ...first,
        severity: first.severity === 'fatal' ? 'fatal' : 'error',
        expression:
          first.expression?.[0]?.startsWith('Bundle') || !where.startsWith('Bundle')
            ? (first.expression ?? [where])
            : [where],
      },
      ...issues.slice(1),
    ];
  // A 4xx whose first issue would read as a server error (`exception`) is told apart by its id.
  const theirId =
    status === 412 && theirs?.id === 'multiple-matches' ? 'multiple-matches' : undefined;
  const id = theirId ?? STATUS_IDS[status];
  const result: OperationOutcome = {
    resourceType: 'OperationOutcome',
    ...(id ? { id } : {}),
    issue: located,
  };
  if (status < 500 && !id && getStatus(result) !== 400 && located[0])
    located[0] = { ...located[0], code: 'invalid' };
  return result;
}

function unreachable(where: string, reason: 'timeout' | 'network' | 'closed'): FhirServerError {
  const text =
    reason === 'timeout'
      ? 'The FHIR server did not answer in time'
      : reason === 'closed'
        ? 'The store was closed'
        : 'The FHIR server could not be reached';
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    ...(reason === 'timeout' ? { id: 'server-timeout' } : {}),
    issue: [
      {
        severity: 'error',
        code: reason === 'timeout' ? 'timeout' : 'exception',
        details: { text },
        expression: [where],
      },
      ...(reason === 'network'
        ? [
            {
              severity: 'information' as const,
              code: 'transient' as const,
              details: { text: 'Try again later' },
            },
          ]
        : []),
    ],
  };
  return new FhirServerError(outcome, reason === 'timeout' ? 504 : 503);
}

/** A 502 for a 401/403 from the server: this service's credentials, not the caller's. */
function credentialsRefused(where: string, status: number): FhirServerError {
  return new FhirServerError(
    {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'exception',
          details: { text: `The FHIR server refused this service's credentials (HTTP ${status})` },
          expression: [where],
        },
      ],
    },
    502,
    undefined,
    status,
  );
}

/** The error's cause chain's `code` (undici puts the socket error in `cause`). */
function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function withoutServerMeta<T extends Resource>(resource: T, dropId: boolean): T {
  const copy = structuredClone(resource) as T & { id?: string };
  if (dropId) delete copy.id;
  if (copy.meta) {
    const meta = { ...copy.meta };
    delete meta.versionId;
    delete meta.lastUpdated;
    if (Object.keys(meta).length > 0) copy.meta = meta;
    else delete copy.meta;
  }
  return copy;
}

function weakETag(version: string): string {
  return `W/"${version}"`;
}

function statusCode(status: string | undefined): number {
  const code = Number((status ?? '').trim().slice(0, 3));
  return Number.isInteger(code) ? code : 0;
}

/** `name:Type=id` → `name=Type/id`; `patient=id` → `patient=Patient/id` (the same search). */
function canonicalPair(type: string, key: string, value: string): [string, string] {
  const [name = '', modifier] = key.split(':', 2);
  const param = indexedParameter(type, name);
  if (param?.type !== 'reference') return [key, value];
  const bare = (v: string): boolean => /^[A-Za-z0-9\-.]{1,64}$/.test(v);
  const target = modifier ?? (name === 'patient' ? 'Patient' : undefined);
  if (!target) return [key, value];
  return [
    name,
    value
      .split(',')
      .map((v) => (bare(v) ? `${target}/${v}` : v))
      .join(','),
  ];
}

function linkOf(bundle: Bundle, relation: string): string | undefined {
  return bundle.link?.find((l) => l.relation === relation)?.url;
}

/** A 502: the server's answer cannot be used (`where` names the part at fault). */
function malformed(where: string, text: string): FhirServerError {
  return new FhirServerError(
    {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception', details: { text }, expression: [where] }],
    },
    502,
  );
}

/**
 * Whether `url` is under `base`: the same scheme, host and port, no user info, and a path at or
 * below the base's (`/fhir` or `/fhir/…` for a base of `/fhir/`; never `/fhirx/…`). The WHATWG
 * URL parser has already resolved `..` and `%2e%2e` segments.
 */
function isUnder(base: URL, url: URL): boolean {
  if (url.protocol !== base.protocol || url.host !== base.host) return false;
  if (url.username !== '' || url.password !== '') return false;
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  return url.pathname === prefix.slice(0, -1) || url.pathname.startsWith(prefix);
}

/**
 * A success whose JSON the adapter has parsed already. MedplumClient reads a JSON answer with
 * `json()` (nothing else: it does not clone it, and reads `text()` only when the type is not
 * JSON), so it gets the value parsed here instead of parsing the text a second time. The text
 * stays the body, so every other way of reading the response still gives what the server sent.
 */
class ParsedJsonResponse extends Response {
  override readonly json: () => Promise<unknown>;

  constructor(text: string, init: ResponseInit, parsed: unknown) {
    super(text, init);
    this.json = () => Promise.resolve(parsed);
  }
}

/**
 * A success's body for MedplumClient: JSON, parsed here and only here (else a 502 at `where`:
 * MedplumClient would print its own parse error to stderr and throw a bare SyntaxError, or hand
 * back the text), or no body at all when the server sent none.
 */
function jsonResponse(response: Response, text: string, where: string): Response {
  const headers = new Headers(response.headers);
  headers.delete('content-encoding');
  headers.delete('content-length');
  const init = { status: response.status, statusText: response.statusText, headers };
  if (text.trim() === '') {
    headers.set('content-length', '0');
    return new Response(null, init);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed(where, "The FHIR server's answer is not JSON");
  }
  headers.set('content-type', 'application/fhir+json');
  return new ParsedJsonResponse(text, init, parsed);
}

/**
 * A Bundle as the server answered it, checked before anything reads it: a Bundle, `entry` a
 * list of objects (each `resource` an object), `link` a list of objects, `total` a count. Else
 * a 502 naming the part at fault (MedplumClient would throw a bare TypeError on some; others
 * read as "no matches").
 */
function bundleOf(value: unknown): Bundle {
  if (!isObject(value) || value.resourceType !== 'Bundle')
    throw malformed('Bundle', 'The FHIR server answered without a Bundle');
  const { entry, link, total } = value;
  if (entry !== undefined && !Array.isArray(entry))
    throw malformed('Bundle.entry', "The FHIR server's Bundle.entry is not a list");
  (entry ?? []).forEach((e: unknown, i: number) => {
    if (!isObject(e))
      throw malformed(`Bundle.entry[${i}]`, "The FHIR server's Bundle entry is not an object");
    if (e.resource !== undefined && !isObject(e.resource))
      throw malformed(
        `Bundle.entry[${i}].resource`,
        "The FHIR server's entry resource is not a resource",
      );
  });
  if (link !== undefined && (!Array.isArray(link) || !link.every(isObject)))
    throw malformed('Bundle.link', "The FHIR server's Bundle.link is not a list of links");
  if (total !== undefined && !(Number.isSafeInteger(total) && (total as number) >= 0))
    throw malformed('Bundle.total', "The FHIR server's Bundle.total is not a count");
  return value as unknown as Bundle;
}

/**
 * The matches of a search page (resources of `type`, not `include`d), each with an id; an
 * entry without a resource, or a match without an id, is a 502 naming it.
 */
function matchesOf<R extends Resource>(page: Bundle, type: string): R[] {
  const found: R[] = [];
  (page.entry ?? []).forEach((entry, i) => {
    const resource = entry.resource;
    if (!resource)
      throw malformed(`Bundle.entry[${i}].resource`, 'A search entry without a resource');
    if (resource.resourceType !== type || entry.search?.mode === 'include') return;
    if (typeof resource.id !== 'string' || resource.id === '')
      throw malformed(
        `Bundle.entry[${i}].resource.id`,
        `The FHIR server gave a ${type} without an id`,
      );
    found.push(resource as R);
  });
  return found;
}

/** Redirects followed for one request, at most. */
const MAX_REDIRECTS = 5;
/** Pages fetched for one search or history, at most (a server that pages forever is a 502). */
const MAX_PAGES = 1000;
/** Versions read for one history, at most (each is held in memory until the answer is sent). */
const MAX_VERSIONS = 10_000;

/**
 * The call under way and its deadline (one call may make many requests), shared by every store:
 * an AsyncLocalStorage is never let go once used, and each one enabled costs every promise of the
 * process a little. One per store — and peers get a store per delivery — made the whole service
 * slower with every handover (a third of its CPU after a thousand).
 */
const callContexts = new AsyncLocalStorage<CallContext>();
/** The deadline of a store's call under way, with the store it is of (a call to another store has its own). */
const callDeadlines = new AsyncLocalStorage<{
  readonly store: FhirServerStore;
  readonly at: number;
}>();

export class FhirServerStore implements FhirStore {
  private readonly client: MedplumClient;
  /** The configured base, with a trailing slash: every URL the adapter fetches is under it. */
  private readonly base: URL;
  private readonly closing = new AbortController();
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: FhirServerStoreOptions) {
    if (!/^https?:\/\//.test(options.baseUrl))
      throw new Error('The FHIR server base URL must start with http:// or https://');
    this.retries = Math.max(0, Math.floor(options.retries ?? DEFAULTS.retries));
    this.baseDelayMs = options.baseDelayMs ?? DEFAULTS.baseDelayMs;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? DEFAULTS.maxRetryDelayMs;
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.deadlineMs = options.deadlineMs ?? Math.max(DEFAULTS.deadlineMs, this.timeoutMs);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.client = new MedplumClient({
      baseUrl: this.base.href,
      fhirUrlPath: '',
      cacheTime: 0,
      extendedMode: false,
      fetch: (url: string, init?: RequestInit) => this.send(url, init ?? {}),
    });
  }

  // ── the HTTP exchange: auth, timeout, retries, errors ──────────────────────────────────────

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxRetryDelayMs, this.baseDelayMs * 2 ** attempt);
    return Math.floor(this.random() * ceiling);
  }

  private async headers(init: RequestInit): Promise<Headers> {
    const headers = new Headers(init.headers);
    const token = this.options.getAccessToken
      ? await this.options.getAccessToken()
      : this.options.token;
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return headers;
  }

  /** The fetch under MedplumClient: every error status and network failure becomes a FhirServerError. */
  private async send(url: string, init: RequestInit): Promise<Response> {
    const ctx = callContexts.getStore();
    if (!ctx) throw new Error('FhirServerStore: a request outside a store call');
    // MedplumClient asks for browser-only options (cache, credentials): a server needs neither.
    const rest: Record<string, unknown> = { ...init };
    delete rest.cache;
    delete rest.credentials;
    // Only URLs under the base get the token, or any request at all: MedplumClient builds its
    // URLs from the base, and paging links are checked before they get here (at `Bundle.link`).
    let target = this.underBase(url);
    if (!target) throw malformed(ctx.where(502), 'The FHIR server named a URL outside its base');
    let redirects = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.closing.signal.aborted) throw unreachable(ctx.where(503), 'closed');
      const remaining = ctx.deadline - Date.now();
      if (remaining <= 0) throw unreachable(ctx.where(504), 'timeout');
      const timeout = AbortSignal.timeout(Math.min(this.timeoutMs, remaining));
      /** Whether waiting `ms` still leaves time for another attempt. */
      const fits = (ms: number): boolean => Date.now() + ms < ctx.deadline;
      const signal = AbortSignal.any([timeout, this.closing.signal]);
      const fetchImpl: Fetch = this.options.fetch ?? globalThis.fetch;
      let response: Response;
      let text = '';
      try {
        response = await fetchImpl(target.href, {
          ...(rest as RequestInit),
          headers: await this.headers(init),
          signal,
          // Redirects are followed here, and only under the base (fetch would follow any).
          redirect: 'manual',
        });
        // A success's body is read here, under the attempt's timeout and retries.
        if (response.status >= 200 && response.status < 300) text = await response.text();
      } catch (err) {
        if (this.closing.signal.aborted) throw unreachable(ctx.where(503), 'closed');
        const timedOut = timeout.aborted;
        const refused = errorCode(err) === 'ECONNREFUSED';
        if (attempt < this.retries && (ctx.repeatable || refused)) {
          const delay = this.backoff(attempt);
          if (fits(delay)) {
            await this.sleep(delay);
            continue;
          }
        }
        throw unreachable(ctx.where(timedOut ? 504 : 503), timedOut ? 'timeout' : 'network');
      }
      const { status } = response;
      if (status >= 300 && status < 400 && status !== 304) {
        await response.body?.cancel().catch(() => undefined);
        const location = response.headers.get('location');
        const method = (init.method ?? 'GET').toUpperCase();
        const to = location === null ? undefined : this.underBase(location);
        if (!to) throw malformed(ctx.where(502), 'The FHIR server redirected outside its base');
        if (redirects >= MAX_REDIRECTS || (method !== 'GET' && status !== 307 && status !== 308))
          throw malformed(ctx.where(502), `The FHIR server answered HTTP ${status}`);
        target = to;
        redirects++;
        attempt--;
        continue;
      }
      if (status >= 200 && status < 300) {
        ctx.status = status;
        return jsonResponse(response, text, ctx.where(502));
      }
      if (status < 400) {
        ctx.status = status;
        return response;
      }
      if (status === 401 || status === 403) {
        // The store's own credentials, not the caller's: a 401/403 passed on
        // would tell the caller that *their* token failed (with a WWW-Authenticate challenge).
        await response.body?.cancel().catch(() => undefined);
        throw credentialsRefused(ctx.where(502), status);
      }
      const wait = retryAfterMs(response.headers.get('retry-after'), Date.now());
      const retryable = status === 429 || (ctx.repeatable && status >= 500 && status !== 501);
      const delay = wait ?? this.backoff(attempt);
      if (retryable && attempt < this.retries && delay <= this.maxRetryDelayMs && fits(delay)) {
        await response.body?.cancel().catch(() => undefined);
        await this.sleep(delay);
        continue;
      }
      const body = await this.readBody(response);
      throw new FhirServerError(
        upstreamOutcome(status, body, ctx.where(status), ctx.secrets),
        status,
        ...(wait !== undefined ? [wait] : []),
      );
    }
  }

  /** `url` (relative to the base, or absolute) when it is under the base. */
  private underBase(url: string): URL | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url, this.base);
    } catch {
      return undefined;
    }
    return isUnder(this.base, parsed) ? parsed : undefined;
  }

  /**
   * The `next` link of a page, as a URL under the base, recorded in `fetched` (the walk's pages
   * so far, the first included). A 502 at `Bundle.link`, and nothing fetched, for a link
   * elsewhere (the request would carry this service's token), for a link to a page already
   * fetched (the server is going round in circles) and beyond MAX_PAGES pages.
   */
  private nextOf(page: Bundle, fetched: Set<string>): string | undefined {
    const link = linkOf(page, 'next');
    if (link === undefined) return undefined;
    const url = typeof link === 'string' ? this.underBase(link) : undefined;
    if (!url)
      throw malformed(
        'Bundle.link',
        "The FHIR server's next link points outside its base URL; it was not followed",
      );
    if (fetched.has(url.href))
      throw malformed('Bundle.link', "The FHIR server's next link repeats a page it already gave");
    if (fetched.size >= MAX_PAGES)
      throw malformed('Bundle.link', `The FHIR server gave more than ${MAX_PAGES} pages`);
    fetched.add(url.href);
    return url.href;
  }

  private async readBody(response: Response): Promise<unknown> {
    try {
      const text = await response.text();
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  /** Runs `run` under one deadline for all its calls (the caller's, when there is one already). */
  private within<R>(run: () => Promise<R>): Promise<R> {
    if (callDeadlines.getStore()?.store === this) return run();
    return callDeadlines.run({ store: this, at: Date.now() + this.deadlineMs }, run);
  }

  /** Runs one MedplumClient call with its context; returns what it gave and the status. */
  private async call<R>(
    context: Omit<CallContext, 'status' | 'deadline'>,
    run: (client: MedplumClient) => Promise<R>,
  ): Promise<{ result: R; status: number }> {
    const current = callDeadlines.getStore();
    const deadline = current?.store === this ? current.at : Date.now() + this.deadlineMs;
    const ctx: CallContext = { ...context, deadline };
    const result = await callContexts
      .run(ctx, () => run(this.client))
      .catch((err: unknown) => {
        if (err instanceof OperationOutcomeError) throw err;
        // MedplumClient choking on an answer: the server's fault, not an internal error.
        throw malformed(ctx.where(502), "The FHIR server's answer could not be read");
      });
    if (typeof result !== 'object' || result === null || Array.isArray(result))
      throw malformed(ctx.where(502), 'The FHIR server answered without a FHIR resource');
    return { result, status: ctx.status ?? 200 };
  }

  /**
   * The resource of an answer: of `type`, with an id, and the one asked for when `asked` names
   * it (another id, or another version for a vread, is a 502: the server, a cache or a proxy in
   * front of it mixed answers up, and serving it would give one person's record for another's).
   */
  private resourceOf<T extends Resource>(
    value: unknown,
    type: string,
    where: string,
    asked: { readonly id?: string; readonly versionId?: string } = {},
  ): T {
    const resource = value as T;
    if (resource.resourceType !== type || typeof resource.id !== 'string' || resource.id === '')
      throw malformed(where, `The FHIR server answered without the ${type}`);
    if (asked.id !== undefined && resource.id !== asked.id)
      throw malformed(
        `${type}.id`,
        `The FHIR server answered with another ${type} than the one asked for`,
      );
    const version = resource.meta?.versionId;
    if (asked.versionId !== undefined && version !== undefined && version !== asked.versionId)
      throw malformed(
        `${type}.meta.versionId`,
        `The FHIR server answered with another version than the one asked for`,
      );
    return resource;
  }

  // ── the port ────────────────────────────────────────────────────────────────────────────────

  async create<T extends Resource>(
    resource: T,
    options: CreateOptions = {},
  ): Promise<WriteResult<Stored<T>>> {
    const checked = checkResource(resource, 'Resource');
    const type = checked.resourceType;
    let condition: string | undefined;
    if (options.ifNoneExist !== undefined) {
      const parsed = parseSearch(type, options.ifNoneExist, { condition: true });
      if (parsed.filters.length === 0)
        throw invalid('A condition needs at least one search parameter', type);
      condition = this.query(type, options.ifNoneExist).toString();
    }
    const body = withoutServerMeta(checked, true);
    const { result, status } = await this.call(
      {
        repeatable: condition !== undefined,
        where: () => type,
        secrets: secretsOf(options.ifNoneExist),
      },
      (client) =>
        client.createResource(body, {
          ...once(),
          ...(condition !== undefined ? { headers: { 'If-None-Exist': condition } } : {}),
        }),
    );
    return {
      resource: this.resourceOf<Stored<T>>(result, type, type),
      created: condition === undefined || status === 201,
    };
  }

  async read<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>> {
    const where = `${type}.id`;
    checkId(id, where);
    const { result } = await this.call({ repeatable: true, where: () => where, secrets: [] }, (c) =>
      c.readResource(type, id, once()),
    );
    return this.resourceOf<ExtractResource<K>>(result, type, where, { id });
  }

  async vread<K extends ResourceType>(
    type: K,
    id: string,
    versionId: string,
  ): Promise<ExtractResource<K>> {
    const where = `${type}.meta.versionId`;
    checkId(id, `${type}.id`);
    checkId(versionId, where);
    const { result } = await this.call({ repeatable: true, where: () => where, secrets: [] }, (c) =>
      c.readVersion(type, id, versionId, once()),
    );
    return this.resourceOf<ExtractResource<K>>(result, type, where, { id, versionId });
  }

  history<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>[]> {
    return this.within(() => this.historyPages(type, id));
  }

  /**
   * The whole history, read as `history` reads it (bounded: MAX_VERSIONS, MAX_PAGES, the call's
   * deadline), then cut here. Not the server's own paging: R4 defines no `_offset` for a history
   * and `Bundle.total` is optional in one, and servers differ (Medplum's fhir-router ignores
   * `_count`, `_offset` and `_since` on a history and sends no total). A page or total from a
   * server that ignored one of them would be wrong without anything to show it, and telling
   * would take reading the whole history anyway.
   */
  async historyPage<K extends ResourceType>(
    type: K,
    id: string,
    page: HistoryPage,
  ): Promise<HistoryResult<ExtractResource<K>>> {
    return pageOfHistory(await this.history(type, id), page);
  }

  private async historyPages<K extends ResourceType>(
    type: K,
    id: string,
  ): Promise<ExtractResource<K>[]> {
    const where = `${type}.id`;
    checkId(id, where);
    const ctx = { repeatable: true, where: () => where, secrets: [] };
    const first = this.client.fhirUrl(type, id, '_history').href;
    const fetched = new Set([first]);
    const versions: ExtractResource<K>[] = [];
    const seen = new Set<string>();
    let url: string | undefined = first;
    for (let n = 0; url !== undefined; n++) {
      const at = url;
      const page = bundleOf(
        (await this.call(ctx, (c): Promise<Bundle> => c.get(at, once()))).result,
      );
      let added = 0;
      for (const [i, entry] of (page.entry ?? []).entries()) {
        const resource = entry.resource;
        if (resource?.resourceType !== type) continue;
        if (resource.id !== id)
          throw malformed(
            `Bundle.entry[${i}].resource.id`,
            `The FHIR server's history holds another ${type}`,
          );
        const version = resource.meta?.versionId;
        if (version !== undefined && seen.has(version)) continue;
        if (version !== undefined) seen.add(version);
        if (versions.length >= MAX_VERSIONS)
          throw malformed(
            'Bundle.entry',
            `The FHIR server gave more than ${MAX_VERSIONS} versions`,
          );
        versions.push(resource as ExtractResource<K>);
        added++;
      }
      // A later page with no version not seen before ends the walk: the server repeats itself.
      if (n > 0 && added === 0) break;
      url = this.nextOf(page, fetched);
    }
    return versions;
  }

  async update<T extends Resource>(
    resource: T,
    options: UpdateOptions = {},
  ): Promise<WriteResult<Stored<T>>> {
    const checked = checkResource(resource, 'Resource');
    const type = checked.resourceType;
    const id = checkId(checked.id, `${type}.id`);
    const ifMatch =
      options.ifMatch === undefined
        ? undefined
        : versionOfETag(options.ifMatch, `${type}.meta.versionId`);
    return this.put(withoutServerMeta({ ...checked, id }, false) as T, ifMatch);
  }

  /** `PUT Type/id`, with `If-Match` when a version is given. */
  private async put<T extends Resource>(
    resource: T,
    ifMatch: string | undefined,
  ): Promise<WriteResult<Stored<T>>> {
    const type = resource.resourceType;
    const where = (status: number): string =>
      status === 412 || status === 409 ? `${type}.meta.versionId` : type;
    try {
      const { result, status } = await this.call(
        { repeatable: true, where, secrets: [] },
        (client) =>
          client.updateResource(resource, {
            ...once(),
            ...(ifMatch !== undefined ? { headers: { 'If-Match': weakETag(ifMatch) } } : {}),
          }),
      );
      const written = this.resourceOf<Stored<T>>(result, type, type, { id: resource.id ?? '' });
      return { resource: written, created: status === 201 };
    } catch (err) {
      // RFC 9110 §13.1.1: If-Match with no current representation is a failed precondition.
      if (ifMatch !== undefined && err instanceof FhirServerError && err.status === 404)
        throw preconditionFailed('There is no current version to match', `${type}.meta.versionId`);
      throw err;
    }
  }

  conditionalUpdate<T extends Resource>(
    resource: T,
    search: SearchParams,
    options: UpdateOptions = {},
  ): Promise<WriteResult<Stored<T>>> {
    return this.within(() => this.conditionalPut(resource, search, options));
  }

  private async conditionalPut<T extends Resource>(
    resource: T,
    search: SearchParams,
    options: UpdateOptions,
  ): Promise<WriteResult<Stored<T>>> {
    const checked = checkResource(resource, 'Resource');
    const type = checked.resourceType;
    if (checked.id !== undefined) checkId(checked.id, `${type}.id`);
    const ifMatch =
      options.ifMatch === undefined
        ? undefined
        : versionOfETag(options.ifMatch, `${type}.meta.versionId`);
    const parsed = parseSearch(type, search, { condition: true });
    if (parsed.filters.length === 0)
      throw invalid('A condition needs at least one search parameter', type);
    const body = withoutServerMeta(checked, false) as T;
    const secrets = secretsOf(search);

    if (ifMatch === undefined && checked.id === undefined) {
      const url = `${this.client.fhirUrl(type).toString()}?${this.query(type, search).toString()}`;
      const { result, status } = await this.call(
        { repeatable: true, where: () => type, secrets },
        (client) => client.put(url, body, undefined, once()),
      );
      return { resource: this.resourceOf<Stored<T>>(result, type, type), created: status === 201 };
    }

    // Search, then a version-checked PUT to the match (or to the body's id when none matches).
    for (let round = 0; ; round++) {
      const matches = await this.matches(type, search);
      if (matches.length > 1)
        throw multipleMatches('The condition matches more than one resource', type);
      const [match] = matches;
      if (!match) {
        if (ifMatch !== undefined)
          throw preconditionFailed(
            'There is no current version to match',
            `${type}.meta.versionId`,
          );
        const id = checked.id ?? '';
        const exists = await this.read(type as ResourceType, id).then(
          () => true,
          (err: unknown) => {
            if (err instanceof FhirServerError && err.status === 404) return false;
            throw err;
          },
        );
        if (exists)
          throw conflict(
            'A resource with this id exists but does not meet the condition',
            `${type}.id`,
          );
        const written = await this.put({ ...body, id }, undefined);
        return { ...written, created: true };
      }
      if (checked.id !== undefined && checked.id !== match.id)
        throw invalid(
          'The resource id differs from the resource the condition found',
          `${type}.id`,
        );
      const version = ifMatch ?? match.meta?.versionId;
      try {
        const written = await this.put({ ...body, id: match.id }, version);
        return { ...written, created: false };
      } catch (err) {
        // Without the caller's ifMatch, a 412 means someone wrote in between: look again.
        const changed = err instanceof OperationOutcomeError && getStatus(err.outcome) === 412;
        if (ifMatch !== undefined || !changed || round >= 2) throw err;
      }
    }
  }

  /** Up to two resources meeting a condition. */
  private async matches(type: string, condition: SearchParams): Promise<Resource[]> {
    const query = this.query(type, condition);
    query.set('_count', '2');
    const { result } = await this.call(
      { repeatable: true, where: () => type, secrets: secretsOf(condition) },
      (client): Promise<Bundle> => client.search(type as ResourceType, query, once()),
    );
    return matchesOf(bundleOf(result), type);
  }

  /**
   * The parameters as sent: typed references spelled `Type/id`; a `_lastUpdated` value as the
   * instants it stands for (`ge…`/`lt…`, to the millisecond), so every server reads its
   * precision as the port does; no paging.
   */
  private query(type: string, params: SearchParams | undefined): URLSearchParams {
    const query = new URLSearchParams();
    for (const [key, value] of searchPairs(params)) {
      if (key === '_count' || key === '_offset') continue;
      if (key === '_lastUpdated' && !value.includes(',')) {
        const [filter] = parseSearch(type, { [key]: value }).filters;
        const range = filter?.kind === 'lastUpdated' ? filter.ranges[0] : undefined;
        if (range?.from !== undefined) query.append(key, `ge${new Date(range.from).toISOString()}`);
        if (range?.before !== undefined)
          query.append(key, `lt${new Date(range.before).toISOString()}`);
        if (range) continue;
      }
      query.append(...canonicalPair(type, key, value));
    }
    return query;
  }

  search<K extends ResourceType>(
    type: K,
    params?: SearchParams,
    options: SearchOptions = {},
  ): Promise<SearchResult<ExtractResource<K>>> {
    return this.within(() => this.searchPages(type, params, options));
  }

  private async searchPages<K extends ResourceType>(
    type: K,
    params: SearchParams | undefined,
    options: SearchOptions,
  ): Promise<SearchResult<ExtractResource<K>>> {
    const parsed = parseSearch(type, params, options);
    const query = this.query(type, params);
    query.set('_count', String(parsed.count));
    if (parsed.offset > 0) query.set('_offset', String(parsed.offset));
    query.set('_total', 'accurate');
    const ctx = { repeatable: true, where: () => type, secrets: secretsOf(params) };
    const url = this.client.fhirSearchUrl(type, query).href;
    const fetched = new Set([url]);
    const resources: ExtractResource<K>[] = [];
    const seen = new Set<string>();
    const get = async (at: string): Promise<Bundle> =>
      bundleOf((await this.call(ctx, (c): Promise<Bundle> => c.get(at, once()))).result);
    const first = await get(url);
    if (parsed.offset > 0) await this.checkOffsetHonoured(type, query, parsed.offset, first, get);
    let page: Bundle = first;
    for (let n = 0; ; n++) {
      let added = 0;
      for (const resource of matchesOf<ExtractResource<K>>(page, type)) {
        if (seen.has(resource.id ?? '')) continue;
        seen.add(resource.id ?? '');
        resources.push(resource);
        added++;
      }
      if (resources.length >= parsed.count) break;
      // A later page with no match not seen before ends the walk: the server repeats itself.
      if (n > 0 && added === 0) break;
      const next = this.nextOf(page, fetched);
      if (!next) break;
      page = await get(next);
    }
    const page0 = resources.slice(0, parsed.count);
    const total = typeof first.total === 'number' ? first.total : parsed.offset + page0.length;
    return { resources: page0, total, offset: parsed.offset, count: parsed.count };
  }

  /**
   * A 502 when the server ignored `_offset`: its page at `offset` (> 0) holds, in order, the
   * matches its first page starts with. A server paging only by its own `next` tokens answers
   * every `_offset` with its first page, and the façade's `next` links (which page by `_offset`)
   * would then give a client the same matches for ever. The first page is asked for as many
   * matches as the page holds (no `_offset`, no `_total`): one more request, made only for a page
   * beyond the first that holds matches. A server honouring `_offset` starts that page with the
   * match at `offset`, which cannot be its first. The `self` link is not relied on: a server may
   * echo the request in it whether or not it used `_offset`. The error's `fault` says so
   * (`offset-ignored`): a caller walking pages takes it as the end of its walk.
   */
  private async checkOffsetHonoured(
    type: string,
    query: URLSearchParams,
    offset: number,
    page: Bundle,
    get: (url: string) => Promise<Bundle>,
  ): Promise<void> {
    const ids = matchesOf(page, type).map((r) => r.id);
    if (ids.length === 0) return;
    const start = new URLSearchParams(query);
    start.delete('_offset');
    start.delete('_total');
    start.set('_count', String(ids.length));
    const first = await get(this.client.fhirSearchUrl(type as ResourceType, start).href);
    const firstIds = matchesOf(first, type).map((r) => r.id);
    if (!ids.every((id, i) => firstIds[i] === id)) return;
    const { outcome, status } = malformed(
      'Bundle.entry',
      `The FHIR server ignores _offset: its page at offset ${offset} is its first page, so paging through it would repeat the same matches`,
    );
    throw new FhirServerError(outcome, status, undefined, undefined, 'offset-ignored');
  }

  async transaction(bundle: Bundle): Promise<Bundle> {
    const requests = transactionRequests(bundle);
    checkTransaction(requests);
    const sent: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: requests.map((request, i) => toEntry(request, bundle.entry?.[i])),
    };
    const repeatable = requests.every((r) => r.method !== 'POST' || r.query !== undefined);
    const secrets = [
      ...new Set(requests.flatMap((r) => (r.query !== undefined ? secretsOf(r.query) : []))),
    ];
    const { result } = await this.call({ repeatable, where: () => 'Bundle', secrets }, (client) =>
      client.executeBatch(sent, once()),
    );
    const entries = bundleOf(result).entry ?? [];
    if (entries.length !== requests.length)
      throw new FhirServerError(upstreamOutcome(502, undefined, 'Bundle', []), 502);
    entries.forEach((entry, i) => {
      const status = statusCode(entry.response?.status);
      if (status >= 200 && status < 300) return;
      const request = requests[i];
      const failed = status >= 400 ? status : 502;
      const where = request ? entryWhere(request, failed) : at.entry(i);
      throw new FhirServerError(
        upstreamOutcome(failed, entry.response?.outcome, where, secrets),
        failed,
      );
    });
    return {
      resourceType: 'Bundle',
      type: 'transaction-response',
      ...(entries.length > 0 ? { entry: entries.map(normalEntry) } : {}),
    };
  }

  /** The server answers its CapabilityStatement within READY_TIMEOUT_MS (one attempt). */
  async ready(): Promise<boolean> {
    if (this.closing.signal.aborted) return false;
    const base = this.options.baseUrl.endsWith('/')
      ? this.options.baseUrl
      : `${this.options.baseUrl}/`;
    const fetchImpl: Fetch = this.options.fetch ?? globalThis.fetch;
    try {
      const response = await fetchImpl(`${base}metadata`, {
        headers: await this.headers({ headers: { accept: 'application/fhir+json' } }),
        signal: AbortSignal.any([AbortSignal.timeout(READY_TIMEOUT_MS), this.closing.signal]),
        redirect: 'manual',
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok;
    } catch {
      return false;
    }
  }

  /** Ends requests under way (they fail with 503) and refuses new ones. */
  async close(): Promise<void> {
    this.closing.abort();
  }
}

/** Where a transaction entry's failure points, by its status. */
function entryWhere(request: EntryRequest, status: number): string {
  const i = request.index;
  if (status === 412) {
    if (request.method === 'PUT' && request.ifMatch !== undefined) return at.ifMatch(i);
    if (request.method === 'POST' && request.query !== undefined) return at.ifNoneExist(i);
    return at.url(i);
  }
  if (status === 404 || status === 410 || request.method === 'GET') return at.url(i);
  if (status === 409) return request.ifMatch !== undefined ? at.ifMatch(i) : at.url(i);
  return at.entry(i);
}

/** Local checks the server might not make: conditions' parameters, references to no entry. */
function checkTransaction(requests: readonly EntryRequest[]): void {
  const stand = new Map<string, string>();
  for (const request of requests)
    if (request.fullUrl !== undefined && isPlaceholder(request.fullUrl))
      stand.set(request.fullUrl, `${request.type}/placeholder`);
  for (const request of requests) {
    const i = request.index;
    if (request.query !== undefined) {
      const where = request.method === 'POST' ? at.ifNoneExist(i) : at.url(i);
      const query = new URLSearchParams();
      for (const [key, value] of searchPairs(request.query))
        query.append(
          key,
          value
            .split(',')
            .map((v) => (isPlaceholder(v) ? (stand.get(v) ?? v) : v))
            .join(','),
        );
      const parsed = parseSearch(request.type, query, {
        at: where,
        condition: request.method !== 'GET',
      });
      if (request.method !== 'GET' && parsed.filters.length === 0)
        throw invalid('A condition needs at least one search parameter', where);
    }
    if (request.resource) checkPlaceholders(request.resource, stand, at.resource(i));
  }
}

/** The entry as sent: ETags weak and quoted, server-assigned meta dropped. */
function toEntry(request: EntryRequest, original: BundleEntry | undefined): BundleEntry {
  const url = (original?.request?.url ?? '').replace(/^\//, '');
  return {
    ...(original?.fullUrl !== undefined ? { fullUrl: original.fullUrl } : {}),
    ...(request.resource
      ? { resource: withoutServerMeta(request.resource, request.method === 'POST') }
      : {}),
    request: {
      method: request.method,
      url,
      ...(request.ifMatch !== undefined ? { ifMatch: weakETag(request.ifMatch) } : {}),
      ...(request.method === 'POST' && request.query !== undefined
        ? { ifNoneExist: request.query }
        : {}),
    },
  };
}

/** A response entry with the location, etag and lastModified the port promises. */
function normalEntry(entry: BundleEntry): BundleEntry {
  const resource = entry.resource;
  const code = statusCode(entry.response?.status);
  const status = REASONS[code] ? `${code} ${REASONS[code]}` : (entry.response?.status ?? '200 OK');
  const version = resource?.meta?.versionId;
  const isSearch = resource?.resourceType === 'Bundle';
  return {
    ...(resource ? { resource } : {}),
    response: {
      status,
      ...(resource?.id && version && !isSearch
        ? {
            location: `${resource.resourceType}/${resource.id}/_history/${version}`,
            etag: weakETag(version),
          }
        : {}),
      ...(resource?.meta?.lastUpdated && !isSearch
        ? { lastModified: resource.meta.lastUpdated }
        : {}),
    },
  };
}

/** Opens the fhir-server store (no I/O happens until the first call). */
export function openFhirServerStore(options: FhirServerStoreOptions): FhirServerStore {
  return new FhirServerStore(options);
}
