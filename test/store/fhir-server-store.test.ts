/**
 * The `fhir-server` store: the FhirStore contract against a real FHIR server on loopback
 * (Medplum's fhir-router over HTTP, a fresh one per test), then what only this adapter does —
 * retries, timeouts and error mapping — with faults injected through the store's `fetch` option.
 *
 * Why not nock: nock 15 is published as ES modules only, and jest here loads CommonJS (ts-jest
 * without ESM), so `import nock from 'nock'` fails to load. A scripted fetch is the same
 * fault injection one layer lower (below MedplumClient, where nock would also act) and touches no
 * network at all.
 */
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import {
  FhirServerError,
  FhirServerStore,
  openFhirServerStore,
  type FhirServerStoreOptions,
  type FhirStore,
} from '../../src/store';
import { startFhirRouterServer, type FhirRouterServer } from '../support/fhir-router-server';
import { storeContract } from './store-contract';

// Medplum's MemoryRepository searches by evaluating FHIRPath over every stored resource, so the
// journey's conditional transactions take many seconds there (a limit of that server, not a
// timing assertion).
jest.setTimeout(120_000);

const servers = new Set<FhirRouterServer>();
afterEach(async () => {
  for (const server of servers) await server.close();
  servers.clear();
});

storeContract(
  'fhir-server → Medplum fhir-router over HTTP',
  async (): Promise<FhirStore> => {
    const server = await startFhirRouterServer();
    servers.add(server);
    // fhir-router's in-memory search scans every resource, so a late journey transaction can take
    // seconds on a busy machine; an attempt cut off by the timeout is retried, and its plan entry
    // then meets its own earlier write as a 412. The timeout is for that server, not the adapter.
    return new FhirServerStore({ baseUrl: server.baseUrl, timeoutMs: 60_000 });
  },
  {
    sequentialVersionIds: false,
    reportsUpdateAsCreate: false,
    bareReferenceIds: false,
    atomicTransactions: false,
    dateAlternatives: false,
  },
);

/** One scripted answer: a response, or a network error. */
type Step =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | { readonly error: Error }
  | { readonly hang: true };

interface Sent {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
}

/** A fetch that answers from `steps` in order and records what was sent. */
function scriptedFetch(steps: Step[]): { fetch: typeof fetch; sent: Sent[]; left: () => number } {
  const queue = [...steps];
  const sent: Sent[] = [];
  const fake = async (input: unknown, init?: RequestInit): Promise<Response> => {
    sent.push({
      method: init?.method ?? 'GET',
      url: String(input),
      headers: new Headers(init?.headers),
    });
    const step = queue.shift();
    if (!step) throw new Error(`unexpected request ${String(input)}`);
    if ('error' in step) throw step.error;
    if ('hang' in step)
      return new Promise((_resolve, reject) => {
        const signal = init?.signal;
        signal?.addEventListener('abort', () => reject(signal.reason as Error));
      });
    const text =
      step.body === undefined
        ? ''
        : typeof step.body === 'string'
          ? step.body
          : JSON.stringify(step.body);
    return new Response(text, {
      status: step.status,
      headers: {
        'content-type': typeof step.body === 'string' ? 'text/html' : 'application/fhir+json',
        ...step.headers,
      },
    });
  };
  return { fetch: fake as typeof fetch, sent, left: () => queue.length };
}

/** What undici's fetch throws when a connection is reset or refused. */
function socketError(code: string): Error {
  return Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error(code), { code }),
  });
}

describe('fhir-server store: HTTP faults (scripted fetch)', () => {
  const BASE = 'https://fhir.example.test/fhir/R4/';
  const NHS = '9992468017';
  const megan: Patient = {
    resourceType: 'Patient',
    id: 'megan',
    meta: { versionId: '3', lastUpdated: '2025-01-01T00:00:00.000Z' },
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS }],
  };
  const oops: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'exception', details: { text: 'boom' } }],
  };
  let sleeps: number[];
  let script: ReturnType<typeof scriptedFetch>;

  function open(steps: Step[], more: Partial<FhirServerStoreOptions> = {}): FhirServerStore {
    script = scriptedFetch(steps);
    return openFhirServerStore({
      baseUrl: BASE,
      fetch: script.fetch,
      retries: 2,
      baseDelayMs: 100,
      maxRetryDelayMs: 5000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...more,
    });
  }

  async function failure(call: Promise<unknown>): Promise<FhirServerError> {
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FhirServerError);
    expect(err).toBeInstanceOf(OperationOutcomeError);
    const failed = err as FhirServerError;
    expect(failed.outcome.issue[0]?.severity).toBe('error');
    expect(failed.outcome.issue[0]?.expression?.length).toBeGreaterThan(0);
    return failed;
  }

  beforeEach(() => {
    sleeps = [];
  });
  afterEach(() => {
    expect(script.left()).toBe(0);
  });

  it('waits as Retry-After says after a 429, then succeeds', async () => {
    const store = open([
      { status: 429, body: oops, headers: { 'Retry-After': '2' } },
      { status: 200, body: megan },
    ]);
    expect(await store.read('Patient', 'megan')).toEqual(megan);
    expect(sleeps).toEqual([2000]);
    expect(script.sent.map((s) => `${s.method} ${s.url}`)).toEqual([
      `GET ${BASE}Patient/megan`,
      `GET ${BASE}Patient/megan`,
    ]);
  });

  it('retries a 429 even for a plain create (the server did not process it)', async () => {
    const store = open([
      { status: 429, headers: { 'Retry-After': '1' } },
      { status: 201, body: megan },
    ]);
    expect(await store.create({ resourceType: 'Patient' })).toEqual({
      resource: megan,
      created: true,
    });
    expect(sleeps).toEqual([1000]);
  });

  it('does not wait longer than maxRetryDelayMs: a long Retry-After is passed on', async () => {
    const throttled: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'throttled', details: { text: 'Slow down' } }],
    };
    const store = open([{ status: 429, body: throttled, headers: { 'Retry-After': '60' } }]);
    const err = await failure(store.read('Patient', 'megan'));
    expect(err.status).toBe(429);
    expect(getStatus(err.outcome)).toBe(429);
    expect(err.retryAfterMs).toBe(60_000);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'throttled', expression: ['Patient.id'] });
    expect(sleeps).toEqual([]);
  });

  it('retries 5xx on a read with exponential backoff and jitter, then succeeds', async () => {
    const store = open([
      { status: 500, body: oops },
      { status: 503, body: oops },
      { status: 200, body: megan },
    ]);
    expect(await store.read('Patient', 'megan')).toEqual(megan);
    // random() = 0.5 of a ceiling of 100 ms, then of 200 ms.
    expect(sleeps).toEqual([50, 100]);
  });

  it('gives up after `retries`; a non-FHIR error body becomes an outcome with the status', async () => {
    const html = { status: 502, body: '<html>Bad gateway</html>' };
    const store = open([html, html, html]);
    const err = await failure(store.read('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(getStatus(err.outcome)).toBe(500);
    expect(err.outcome.issue).toEqual([
      {
        severity: 'error',
        code: 'exception',
        details: { text: 'The FHIR server answered HTTP 502 without an OperationOutcome' },
        expression: ['Patient.id'],
      },
    ]);
    expect(sleeps).toHaveLength(2);
  });

  it('never repeats a plain create after a 500 (it may have been applied)', async () => {
    const err = await failure(
      open([{ status: 500, body: oops }]).create({ resourceType: 'Patient' }),
    );
    expect(err.status).toBe(500);
    expect(getStatus(err.outcome)).toBe(500);
    expect(err.outcome.issue.map((i) => i.details?.text)).toEqual([
      'The FHIR server answered HTTP 500',
      'boom',
    ]);
    expect(sleeps).toEqual([]);
  });

  it('repeats a conditional create after a 500, sending If-None-Exist each time', async () => {
    const store = open([
      { status: 500, body: oops },
      { status: 200, body: megan },
    ]);
    const result = await store.create(
      { resourceType: 'Patient', id: 'ignored', meta: { versionId: '9' } },
      { ifNoneExist: { identifier: `urn:s|${NHS}` } },
    );
    expect(result).toEqual({ resource: megan, created: false });
    expect(script.sent.map((s) => s.headers.get('If-None-Exist'))).toEqual([
      `identifier=urn%3As%7C${NHS}`,
      `identifier=urn%3As%7C${NHS}`,
    ]);
    expect(sleeps).toHaveLength(1);
  });

  it('retries a reset connection on a read; a create fails with a transient 503 outcome', async () => {
    const store = open([
      { error: socketError('ECONNRESET') },
      { status: 200, body: megan },
      { error: socketError('ECONNRESET') },
    ]);
    expect(await store.read('Patient', 'megan')).toEqual(megan);
    const err = await failure(store.create({ resourceType: 'Patient' }));
    expect(err.status).toBe(503);
    expect(err.outcome.issue.map((i) => i.code)).toEqual(['exception', 'transient']);
    expect(sleeps).toHaveLength(1);
  });

  it('retries a refused connection even for a plain create (nothing reached the server)', async () => {
    const store = open([{ error: socketError('ECONNREFUSED') }, { status: 201, body: megan }]);
    expect((await store.create({ resourceType: 'Patient' })).created).toBe(true);
    expect(sleeps).toHaveLength(1);
  });

  it('turns a timeout into a 504 timeout outcome', async () => {
    const store = open([{ hang: true }], { timeoutMs: 20, retries: 0 });
    const err = await failure(store.read('Patient', 'megan'));
    expect(err.status).toBe(504);
    expect(getStatus(err.outcome)).toBe(504);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'timeout', expression: ['Patient.id'] });
  });

  it('passes a 412 through with the server outcome, sending If-Match as a weak ETag', async () => {
    const stale: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'conflict', details: { text: 'Not current' } }],
    };
    const store = open([{ status: 412, body: stale }]);
    const err = await failure(store.update(megan, { ifMatch: '3' }));
    expect(err.status).toBe(412);
    expect(getStatus(err.outcome)).toBe(412);
    expect(err.outcome.issue[0]).toMatchObject({
      code: 'conflict',
      details: { text: 'Not current' },
      expression: ['Patient.meta.versionId'],
    });
    expect(script.sent[0]?.headers.get('If-Match')).toBe('W/"3"');
    expect(sleeps).toEqual([]);
  });

  it('never repeats search values in an error, and drops diagnostics', async () => {
    const store = open([
      {
        status: 400,
        body: {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'invalid',
              details: { text: `No such thing as ${NHS}` },
              diagnostics: `SELECT * WHERE value = '${NHS}'`,
            },
          ],
        },
      },
    ]);
    const err = await failure(
      store.search('Patient', { identifier: `https://fhir.nhs.uk/Id/nhs-number|${NHS}` }),
    );
    expect(err.status).toBe(400);
    expect(getStatus(err.outcome)).toBe(400);
    expect(JSON.stringify(err.outcome)).not.toContain(NHS);
    expect(err.outcome.issue[0]?.diagnostics).toBeUndefined();
    expect(err.message).not.toContain(NHS);
  });

  it('sends a bearer token, typed references, _total=accurate and explicit paging', async () => {
    let tokens = 0;
    const store = open(
      [{ status: 200, body: { resourceType: 'Bundle', type: 'searchset', total: 9 } }],
      {
        baseUrl: 'https://fhir.example.test/fhir',
        getAccessToken: () => `t-${++tokens}`,
      },
    );
    const result = await store.search(
      'Observation',
      { 'subject:Patient': 'megan' },
      { count: 2, offset: 4 },
    );
    expect(result).toEqual({ resources: [], total: 9, offset: 4, count: 2 });
    const [request] = script.sent;
    const url = new URL(request?.url ?? '');
    expect(`${url.origin}${url.pathname}`).toBe('https://fhir.example.test/fhir/Observation');
    expect([...url.searchParams].sort()).toEqual(
      [
        ['subject', 'Patient/megan'],
        ['_count', '2'],
        ['_offset', '4'],
        ['_total', 'accurate'],
      ].sort(),
    );
    expect(request?.headers.get('Authorization')).toBe('Bearer t-1');
  });

  it('parses each answer once: its own check, never again in MedplumClient', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 1,
      entry: [{ resource: megan }],
    };
    const store = open([
      { status: 200, body: megan },
      { status: 200, body: bundle },
    ]);
    const texts = [JSON.stringify(megan), JSON.stringify(bundle)];
    const parse = jest.spyOn(JSON, 'parse');
    const json = jest.spyOn(Response.prototype, 'json');
    try {
      expect(await store.read('Patient', 'megan')).toEqual(megan);
      expect((await store.search('Patient', {})).resources).toEqual([megan]);
      // The adapter's own parse, one per answer (it checks the answer is JSON)…
      expect(parse.mock.calls.filter(([text]) => texts.includes(text))).toHaveLength(2);
      // …and MedplumClient's read of the body (undici parses outside this test's realm).
      expect(json).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
      json.mockRestore();
    }
  });

  it('refuses an unknown search parameter before sending anything', async () => {
    const store = open([]);
    const err = await store.search('Patient', { nickname: 'meg' }).then(
      () => undefined,
      (e: unknown) => e as OperationOutcomeError,
    );
    expect(err).toBeInstanceOf(OperationOutcomeError);
    expect(err?.outcome.issue[0]?.expression).toEqual(['nickname']);
    expect(script.sent).toEqual([]);
  });

  it('reports a failed entry of a transaction processed entry by entry, at that entry', async () => {
    const store = open([
      {
        status: 200,
        body: {
          resourceType: 'Bundle',
          type: 'transaction-response',
          entry: [
            { resource: megan, response: { status: '200' } },
            {
              response: {
                status: '412',
                outcome: {
                  resourceType: 'OperationOutcome',
                  issue: [{ severity: 'error', code: 'processing' }],
                },
              },
            },
          ],
        },
      },
    ]);
    const err = await failure(
      store.transaction({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: megan, request: { method: 'PUT', url: 'Patient/megan' } },
          { resource: megan, request: { method: 'PUT', url: 'Patient/megan', ifMatch: '2' } },
        ],
      }),
    );
    expect(err.status).toBe(412);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.entry[1].request.ifMatch']);
    const sent = script.sent[0];
    expect(sent?.method).toBe('POST');
    expect(sent?.url).toBe(BASE);
  });

  it('ends requests under way on close, and refuses new ones', async () => {
    const store = open([{ hang: true }]);
    const pending = store.read('Patient', 'megan');
    await new Promise((resolve) => setImmediate(resolve));
    await store.close();
    expect((await failure(pending)).status).toBe(503);
    expect((await failure(store.read('Patient', 'megan'))).status).toBe(503);
  });
});

describe('the call context', () => {
  it('is shared by every store: opening one per peer call adds no AsyncLocalStorage', async () => {
    // Each AsyncLocalStorage ever used costs every promise of the process from then on; peers
    // get a store per delivery, so one per store slowed the service with every handover.
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const used = new Set<unknown>();
    const run = AsyncLocalStorage.prototype.run;
    const spy = jest.spyOn(AsyncLocalStorage.prototype, 'run').mockImplementation(function (
      this: InstanceType<typeof AsyncLocalStorage>,
      ...args: Parameters<typeof run>
    ) {
      used.add(this);
      return run.apply(this, args);
    });
    const server = await startFhirRouterServer();
    servers.add(server);
    try {
      for (let i = 0; i < 5; i++) {
        const store = openFhirServerStore({ baseUrl: server.baseUrl });
        await store.search('Patient', { _count: '1' });
        await store.close();
      }
    } finally {
      spy.mockRestore();
    }
    expect(used.size).toBeGreaterThan(0);
    expect(used.size).toBeLessThanOrEqual(2);
  });
});
