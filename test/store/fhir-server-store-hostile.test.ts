/**
 * The fhir-server store against misbehaving FHIR servers: node:http servers on loopback that
 * answer what a broken, misconfigured or hostile server (or a peer) could answer — paging links
 * to other hosts, endless or repeating paging, refused credentials, another record than the one
 * asked for, malformed bodies, no answer at all. Each case checks what the store answers and
 * what the servers saw (the token must never leave the configured base).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import winston from 'winston';
import { createApp } from '../../src/api/app';
import { wwwAuthenticate } from '../../src/auth/errors';
import { statusOf } from '../../src/service/outcomes';
import { FhirServerError, openFhirServerStore, type FhirServerStoreOptions } from '../../src/store';
import { sharedValidator } from '../support/service';

const TOKEN = 'STORE-TOKEN-s3cr3t';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly auth: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Loopback {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly seen: Seen[];
  handler: Handler;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function loopback(handler: Handler): Promise<Loopback> {
  const state: Loopback = { origin: '', seen: [], handler };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        auth: req.headers.authorization,
      });
      state.handler(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, { origin: `http://127.0.0.1:${port}` });
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function open(base: string, more: Partial<FhirServerStoreOptions> = {}) {
  return openFhirServerStore({
    baseUrl: base,
    token: TOKEN,
    retries: 1,
    baseDelayMs: 1,
    timeoutMs: 5000,
    ...more,
  });
}

async function failure(call: Promise<unknown>): Promise<FhirServerError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FhirServerError);
  return err as FhirServerError;
}

function patient(id: string, versionId = '1'): Patient {
  return { resourceType: 'Patient', id, meta: { versionId } };
}

function searchset(ids: string[], more: Partial<Bundle> = {}): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: ids.map((id) => ({ resource: patient(id), search: { mode: 'match' } })),
    ...more,
  };
}

function next(url: string): Pick<Bundle, 'link'> {
  return { link: [{ relation: 'next', url }] };
}

describe('fhir-server store: paging and redirects stay under the base URL (H1)', () => {
  it('refuses a search next link to another host: 502 at Bundle.link, nothing sent there', async () => {
    const evil = await loopback((_req, res) => json(res, searchset(['stolen'])));
    const backing = await loopback((_req, res) =>
      json(res, searchset(['megan'], { total: 9, ...next(`${evil.origin}/fhir/steal`) })),
    );
    const err = await failure(open(`${backing.origin}/fhir`).search('Patient', {}, { count: 5 }));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'exception', expression: ['Bundle.link'] });
    expect(err.outcome.issue[0]?.details?.text).toMatch(/next link points outside its base/);
    // Another 502, not marked as a server ignoring _offset.
    expect(err.fault).toBeUndefined();
    expect(evil.seen).toEqual([]);
    expect(backing.seen.map((s) => s.auth)).toEqual([`Bearer ${TOKEN}`]);
  });

  it.each([
    ['another path on the same host and port', (o: string) => `${o}/admin/steal`],
    ['a path that only starts like the base', (o: string) => `${o}/fhirx/Patient?page=2`],
    ['a dot-dot path out of the base', (o: string) => `${o}/fhir/../steal`],
    ['an encoded dot-dot path out of the base', (o: string) => `${o}/fhir/%2e%2e/steal`],
    ['another scheme', (o: string) => `${o.replace('http:', 'https:')}/fhir/Patient?page=2`],
    ['user info in the URL', (o: string) => o.replace('//', '//me:pw@') + '/fhir/Patient?p=2'],
    ['not a URL', () => 'http://[::1'],
  ])('refuses a next link to %s (only the first page is fetched)', async (_name, link) => {
    const backing = await loopback((req, res) =>
      req.url?.includes('page=2') || !req.url?.startsWith('/fhir/Patient?')
        ? json(res, searchset(['stolen']))
        : json(res, searchset(['megan'], { total: 9, ...next(link(backing.origin)) })),
    );
    const err = await failure(open(`${backing.origin}/fhir/`).search('Patient', {}, { count: 5 }));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.link']);
    expect(backing.seen).toHaveLength(1);
  });

  it('refuses a history next link to another host, and sends nothing there', async () => {
    const evil = await loopback((_req, res) => json(res, searchset([])));
    const backing = await loopback((_req, res) =>
      json(res, {
        resourceType: 'Bundle',
        type: 'history',
        entry: [{ resource: patient('megan', '2') }],
        ...next(`${evil.origin}/collect`),
      }),
    );
    const err = await failure(open(`${backing.origin}/fhir`).history('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.link']);
    expect(evil.seen).toEqual([]);
  });

  it('follows a relative next link under the base, with the token', async () => {
    const backing = await loopback((req, res) =>
      req.url?.includes('page=2')
        ? json(res, searchset(['b']))
        : json(res, searchset(['a'], { total: 2, ...next('Patient?page=2') })),
    );
    const result = await open(`${backing.origin}/fhir`).search('Patient', {}, { count: 2 });
    expect(result.resources.map((r) => r.id)).toEqual(['a', 'b']);
    expect(backing.seen.map((s) => [s.url.split('?')[0], s.auth])).toEqual([
      ['/fhir/Patient', `Bearer ${TOKEN}`],
      ['/fhir/Patient', `Bearer ${TOKEN}`],
    ]);
  });

  it('does not follow a redirect to another host (502); follows one under the base', async () => {
    const evil = await loopback((_req, res) => json(res, patient('megan')));
    const backing = await loopback((req, res) => {
      if (req.url === '/fhir/Patient/away') {
        res.writeHead(307, { location: `${evil.origin}/fhir/Patient/away` });
        res.end();
      } else if (req.url === '/fhir/Patient/megan') {
        res.writeHead(301, { location: '/fhir/current/Patient/megan' });
        res.end();
      } else json(res, patient('megan'));
    });
    const store = open(`${backing.origin}/fhir`);
    const err = await failure(store.read('Patient', 'away'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Patient.id']);
    expect(evil.seen).toEqual([]);
    expect((await store.read('Patient', 'megan')).id).toBe('megan');
    expect(backing.seen.slice(1).map((s) => [s.url, s.auth])).toEqual([
      ['/fhir/Patient/megan', `Bearer ${TOKEN}`],
      ['/fhir/current/Patient/megan', `Bearer ${TOKEN}`],
    ]);
  });
});

/** A page's `?page=n` (1 for the first request). */
function pageOf(req: IncomingMessage): number {
  return Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '1');
}

/**
 * Each hostile pager below gives up after GIVE_UP requests (a page without `next`), so that a
 * store that would page forever ends in a wrong answer here instead of a hung test.
 */
const GIVE_UP = 1500;

describe('fhir-server store: every paging walk is bounded (H2)', () => {
  it('a search next link that repeats the first page is a 502 at Bundle.link', async () => {
    const backing = await loopback((req, res) =>
      backing.seen.length >= GIVE_UP
        ? json(res, searchset([]))
        : json(res, searchset(['a'], { total: 5, ...next(`${backing.origin}${req.url ?? ''}`) })),
    );
    const err = await failure(open(`${backing.origin}/fhir`).search('Patient', {}, { count: 5 }));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.link']);
    expect(err.outcome.issue[0]?.details?.text).toMatch(/repeats a page/);
    expect(backing.seen).toHaveLength(1);
  });

  it('a search whose next links go round (2 → 3 → 2) is a 502 at the repeat', async () => {
    const backing = await loopback((req, res) => {
      const n = pageOf(req);
      const to = n === 3 ? 2 : n + 1;
      if (backing.seen.length >= GIVE_UP) json(res, searchset([]));
      else json(res, searchset([`p${n}`], next(`${backing.origin}/fhir/Patient?page=${to}`)));
    });
    const err = await failure(open(`${backing.origin}/fhir`).search('Patient', {}, { count: 10 }));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.details?.text).toMatch(/repeats a page/);
    // The search itself, page=2, page=3; then page=2 named again: refused, not fetched.
    expect(backing.seen.map((s) => new URL(s.url, 'http://x').searchParams.get('page'))).toEqual([
      null,
      '2',
      '3',
    ]);
  });

  it('a search stops (200, what it has) at a page that brings nothing new', async () => {
    const backing = await loopback((req, res) => {
      const n = pageOf(req);
      if (backing.seen.length >= GIVE_UP) json(res, searchset([]));
      // page 1: one match; later pages: empty or the same match again, always with a new next.
      else
        json(
          res,
          searchset(n === 1 || n % 2 === 0 ? ['a'] : [], {
            total: 50,
            ...next(`${backing.origin}/fhir/Patient?page=${n + 1}`),
          }),
        );
    });
    const result = await open(`${backing.origin}/fhir`).search('Patient', {}, { count: 20 });
    expect(result.resources.map((r) => r.id)).toEqual(['a']);
    expect(result.total).toBe(50);
    expect(backing.seen).toHaveLength(2);
  });

  it('a history whose next link always names a new page is a 502 after 1000 pages', async () => {
    const backing = await loopback((req, res) => {
      const n = pageOf(req);
      json(res, {
        resourceType: 'Bundle',
        type: 'history',
        entry: [{ resource: patient('megan', String(n)) }],
        ...(backing.seen.length >= GIVE_UP
          ? {}
          : next(`${backing.origin}/fhir/Patient/megan/_history?page=${n + 1}`)),
      });
    });
    const err = await failure(open(`${backing.origin}/fhir`).history('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.link']);
    expect(err.outcome.issue[0]?.details?.text).toBe('The FHIR server gave more than 1000 pages');
    expect(backing.seen).toHaveLength(1000);
  });

  it('a history of more than 10,000 versions is a 502 at Bundle.entry', async () => {
    const backing = await loopback((req, res) => {
      const n = pageOf(req);
      json(res, {
        resourceType: 'Bundle',
        type: 'history',
        entry: Array.from({ length: 1000 }, (_, i) => ({
          resource: patient('megan', `${n}-${i}`),
        })),
        ...(n >= 12 ? {} : next(`${backing.origin}/fhir/Patient/megan/_history?page=${n + 1}`)),
      });
    });
    const err = await failure(open(`${backing.origin}/fhir`).history('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.entry']);
    expect(backing.seen).toHaveLength(11);
  });

  it('a history whose next link repeats is a 502; one whose pages repeat their versions stops', async () => {
    let mode: 'same-link' | 'same-versions' = 'same-link';
    const backing = await loopback((req, res) => {
      const n = pageOf(req);
      const link =
        backing.seen.length >= GIVE_UP
          ? {}
          : next(
              `${backing.origin}/fhir/Patient/megan/_history${mode === 'same-link' ? '' : `?page=${n + 1}`}`,
            );
      json(res, {
        resourceType: 'Bundle',
        type: 'history',
        entry: [{ resource: patient('megan', '2') }, { resource: patient('megan', '1') }],
        ...link,
      });
    });
    const store = open(`${backing.origin}/fhir`);
    const err = await failure(store.history('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.details?.text).toMatch(/repeats a page/);
    expect(backing.seen).toHaveLength(1);
    mode = 'same-versions';
    const versions = await store.history('Patient', 'megan');
    expect(versions.map((v) => v.meta?.versionId)).toEqual(['2', '1']);
    expect(backing.seen).toHaveLength(3);
  });
});

describe("fhir-server store: the server refusing the store's credentials (M2)", () => {
  it.each([401, 403])(
    'a %i is a 502 naming the store, with no WWW-Authenticate challenge for the caller',
    async (code) => {
      const backing = await loopback((_req, res) =>
        json(
          res,
          {
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: 'login', details: { text: 'token expired' } }],
          },
          code,
        ),
      );
      const err = await failure(open(`${backing.origin}/fhir`).read('Patient', 'megan'));
      expect(err.status).toBe(502);
      expect(err.upstreamStatus).toBe(code);
      expect(statusOf(err)).toBe(502);
      expect(wwwAuthenticate(err)).toBeUndefined();
      expect(err.outcome.id).toBeUndefined();
      expect(err.outcome.issue).toEqual([
        {
          severity: 'error',
          code: 'exception',
          details: { text: `The FHIR server refused this service's credentials (HTTP ${code})` },
          expression: ['Patient.id'],
        },
      ]);
      // Not retried: the same token would be refused again.
      expect(backing.seen).toHaveLength(1);
    },
  );
});

describe('fhir-server store: an answer about another record than the one asked for (M3)', () => {
  async function backingAnswering(body: unknown): Promise<Loopback> {
    return loopback((_req, res) => json(res, body));
  }

  it('a read answered with another id is a 502 at Patient.id', async () => {
    const backing = await backingAnswering({ ...patient('someone-else'), name: [{ family: 'X' }] });
    const err = await failure(open(`${backing.origin}/fhir`).read('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'exception', expression: ['Patient.id'] });
    expect(JSON.stringify(err.outcome)).not.toContain('someone-else');
  });

  it('a vread answered with another version is a 502 at .meta.versionId, another id at .id', async () => {
    const other = await backingAnswering(patient('megan', '7'));
    const err = await failure(open(`${other.origin}/fhir`).vread('Patient', 'megan', '3'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Patient.meta.versionId']);
    const elsewhere = await backingAnswering(patient('someone-else', '3'));
    const err2 = await failure(open(`${elsewhere.origin}/fhir`).vread('Patient', 'megan', '3'));
    expect(err2.status).toBe(502);
    expect(err2.outcome.issue[0]?.expression).toEqual(['Patient.id']);
    // The version asked for, as asked: served.
    const right = await backingAnswering(patient('megan', '3'));
    expect(await open(`${right.origin}/fhir`).vread('Patient', 'megan', '3')).toEqual(
      patient('megan', '3'),
    );
  });

  it('an update answered with another id is a 502 at Patient.id', async () => {
    const backing = await backingAnswering(patient('someone-else', '2'));
    const err = await failure(open(`${backing.origin}/fhir`).update(patient('megan')));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Patient.id']);
    expect(backing.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['PUT /fhir/Patient/megan']);
  });
});

describe('fhir-server store: malformed answers are a 502, never a 500 or "no matches" (M4)', () => {
  let consoleError: jest.SpyInstance;
  beforeEach(() => {
    consoleError = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    // MedplumClient prints 'Error parsing response' (outside the JSON log) when it parses.
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
  });

  it.each([
    ['not JSON, as JSON', 'hello', 'application/fhir+json'],
    ['not JSON, as HTML', '<html>hello</html>', 'text/html'],
    ['a truncated body', '{"resourceType":"Patient","id":"me', 'application/fhir+json'],
    ['no body', '', 'application/fhir+json'],
    ['a JSON array', '[]', 'application/fhir+json'],
    ['a JSON string', '"Patient"', 'application/fhir+json'],
  ])('a read answered 200 with %s is a 502 at Patient.id', async (_name, body, type) => {
    const backing = await loopback((_req, res) => {
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    });
    const err = await failure(open(`${backing.origin}/fhir`).read('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'exception', expression: ['Patient.id'] });
  });

  it.each<[string, string, unknown]>([
    ['a Patient', 'Bundle', patient('megan')],
    ['an OperationOutcome', 'Bundle', { resourceType: 'OperationOutcome', issue: [] }],
    ['entry: 5', 'Bundle.entry', { resourceType: 'Bundle', type: 'searchset', entry: 5 }],
    ['entry: "abc"', 'Bundle.entry', { resourceType: 'Bundle', type: 'searchset', entry: 'abc' }],
    [
      'entry: [null]',
      'Bundle.entry[0]',
      { resourceType: 'Bundle', type: 'searchset', entry: [null] },
    ],
    ['entry: [7]', 'Bundle.entry[0]', { resourceType: 'Bundle', type: 'searchset', entry: [7] }],
    [
      'an entry without a resource',
      'Bundle.entry[1].resource',
      { ...searchset(['a']), entry: [{ resource: patient('a') }, { fullUrl: 'x' }] },
    ],
    [
      'a resource that is a string',
      'Bundle.entry[0].resource',
      { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: 'Patient/a' }] },
    ],
    [
      'a match without an id',
      'Bundle.entry[0].resource.id',
      {
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [{ resource: { resourceType: 'Patient' } }],
      },
    ],
    ['total: -3', 'Bundle.total', searchset(['a'], { total: -3 })],
    ['total: 1.5', 'Bundle.total', searchset(['a'], { total: 1.5 })],
    ['total: "3"', 'Bundle.total', { ...searchset(['a']), total: '3' }],
    ['link: "next"', 'Bundle.link', { ...searchset(['a']), link: 'next' }],
  ])('a search answered with %s is a 502 at %s', async (_name, where, body) => {
    const backing = await loopback((_req, res) => json(res, body));
    const err = await failure(
      open(`${backing.origin}/fhir`).search('Patient', { identifier: 'urn:s|9992468017' }),
    );
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'exception', expression: [where] });
    expect(JSON.stringify(err.outcome)).not.toContain('9992468017');
  });

  it('a history or a transaction answered with a malformed Bundle is a 502', async () => {
    const backing = await loopback((req, res) =>
      req.method === 'POST'
        ? json(res, { resourceType: 'Bundle', type: 'transaction-response', entry: [null] })
        : json(res, { resourceType: 'Bundle', type: 'history', entry: 'abc' }),
    );
    const store = open(`${backing.origin}/fhir`);
    const history = await failure(store.history('Patient', 'megan'));
    expect(history.status).toBe(502);
    expect(history.outcome.issue[0]?.expression).toEqual(['Bundle.entry']);
    const tx = await failure(
      store.transaction({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: patient('megan'), request: { method: 'PUT', url: 'Patient/megan' } }],
      }),
    );
    expect(tx.status).toBe(502);
    expect(tx.outcome.issue[0]?.expression).toEqual(['Bundle.entry[0]']);
  });

  it('a history holding another resource is a 502', async () => {
    const backing = await loopback((_req, res) =>
      json(res, { resourceType: 'Bundle', type: 'history', entry: [{ resource: patient('x') }] }),
    );
    const err = await failure(open(`${backing.origin}/fhir`).history('Patient', 'megan'));
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.expression).toEqual(['Bundle.entry[0].resource.id']);
  });
});

describe('fhir-server store: one deadline per store call, across retries and pages (L1)', () => {
  // Each attempt may take 1 s and there are 3 retries: without a deadline a hung server would be
  // asked 4 times. The deadline (100 ms) leaves room for the first attempt only.
  const tight = { timeoutMs: 1000, retries: 3, baseDelayMs: 1, deadlineMs: 100 };

  it('a server that never answers is a 504 after one attempt', async () => {
    const backing = await loopback(() => undefined);
    const err = await failure(open(`${backing.origin}/fhir`, tight).read('Patient', 'megan'));
    expect(err.status).toBe(504);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'timeout', expression: ['Patient.id'] });
    expect(backing.seen).toHaveLength(1);
  });

  it('a server that sends headers and then stalls the body is a 504 after one attempt', async () => {
    const backing = await loopback((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.write('{"resourceType":"Patient",');
    });
    const err = await failure(open(`${backing.origin}/fhir`, tight).read('Patient', 'megan'));
    expect(err.status).toBe(504);
    expect(backing.seen).toHaveLength(1);
  });

  it('the deadline spans the pages of a search: a stalled second page is a 504', async () => {
    const backing = await loopback((req, res) => {
      if (req.url?.includes('page=2')) return;
      json(res, searchset(['a'], { total: 3, ...next(`${backing.origin}/fhir/Patient?page=2`) }));
    });
    const err = await failure(
      open(`${backing.origin}/fhir`, tight).search('Patient', {}, { count: 3 }),
    );
    expect(err.status).toBe(504);
    expect(backing.seen.map((s) => s.url.includes('page=2'))).toEqual([false, true]);
  });
});

describe('fhir-server store: a server that ignores _offset is found out on the next page', () => {
  /**
   * A server holding twelve Patients (p00…p11) that pages by `_count` and, unless `ignoreOffset`,
   * by `_offset`. Its `self` link echoes the request either way, as some servers' do.
   */
  async function pager(ignoreOffset: boolean): Promise<Loopback> {
    const ids = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const backing = await loopback((req, res) => {
      const params = new URL(req.url ?? '/', 'http://x').searchParams;
      const count = Number(params.get('_count') ?? '10');
      const offset = ignoreOffset ? 0 : Number(params.get('_offset') ?? '0');
      json(
        res,
        searchset(ids.slice(offset, offset + count), {
          total: ids.length,
          link: [{ relation: 'self', url: `${backing.origin}${req.url ?? ''}` }],
        }),
      );
    });
    return backing;
  }

  function sent(backing: Loopback): Array<Record<string, string>> {
    return backing.seen.map((s) => {
      const params = Object.fromEntries(new URL(s.url, 'http://x').searchParams);
      delete params._total;
      return params;
    });
  }

  it('a page beyond the first that is the first page is a 502 at Bundle.entry', async () => {
    const backing = await pager(true);
    const err = await failure(
      open(`${backing.origin}/fhir`).search('Patient', {}, { count: 5, offset: 5 }),
    );
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]).toMatchObject({ code: 'exception', expression: ['Bundle.entry'] });
    expect(err.outcome.issue[0]?.details?.text).toMatch(/ignores _offset/);
    // Marked, so a caller walking pages can end its walk here (plan sync, handover delivery).
    expect(err.fault).toBe('offset-ignored');
    // The page asked for, then the first page (as many matches as that page held).
    expect(sent(backing)).toEqual([{ _count: '5', _offset: '5' }, { _count: '5' }]);
    expect(backing.seen.map((s) => s.auth)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('so is a page past the last match that holds matches', async () => {
    const backing = await pager(true);
    const err = await failure(
      open(`${backing.origin}/fhir`).search('Patient', {}, { count: 5, offset: 20 }),
    );
    expect(err.status).toBe(502);
    expect(err.outcome.issue[0]?.details?.text).toMatch(/ignores _offset/);
    expect(err.fault).toBe('offset-ignored');
  });

  it('a server that honours _offset: its pages are answered, the first and empty ones unchecked', async () => {
    const backing = await pager(false);
    const store = open(`${backing.origin}/fhir`);
    const second = await store.search('Patient', {}, { count: 5, offset: 5 });
    expect(second.resources.map((r) => r.id)).toEqual(['p05', 'p06', 'p07', 'p08', 'p09']);
    expect(second).toMatchObject({ total: 12, offset: 5, count: 5 });
    // Offset below the count: the page overlaps the first without being it.
    const overlapping = await store.search('Patient', {}, { count: 5, offset: 2 });
    expect(overlapping.resources.map((r) => r.id)).toEqual(['p02', 'p03', 'p04', 'p05', 'p06']);
    const last = await store.search('Patient', {}, { count: 5, offset: 10 });
    expect(last.resources.map((r) => r.id)).toEqual(['p10', 'p11']);
    const first = await store.search('Patient', {}, { count: 5 });
    expect(first.resources).toHaveLength(5);
    const past = await store.search('Patient', {}, { count: 5, offset: 20 });
    expect(past).toEqual({ resources: [], total: 12, offset: 20, count: 5 });
    expect(sent(backing)).toEqual([
      { _count: '5', _offset: '5' },
      { _count: '5' },
      { _count: '5', _offset: '2' },
      { _count: '5' },
      { _count: '5', _offset: '10' },
      { _count: '2' },
      { _count: '5' },
      { _count: '5', _offset: '20' },
    ]);
  });

  it('through the façade: the next link a client follows is a 502 OperationOutcome, not page 1 again', async () => {
    const backing = await pager(true);
    const store = open(`${backing.origin}/fhir`);
    const app = createApp({
      validator: sharedValidator(),
      store,
      logger: winston.createLogger({ silent: true }),
    });
    const server = app.express.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const first = await fetch(`${base}/fhir/Patient?_count=5`);
      expect(first.status).toBe(200);
      const bundle = (await first.json()) as Bundle;
      expect(bundle.entry?.map((e) => e.resource?.id)).toEqual(['p00', 'p01', 'p02', 'p03', 'p04']);
      const nextUrl = bundle.link?.find((l) => l.relation === 'next')?.url;
      expect(nextUrl).toBeDefined();
      const second = await fetch(nextUrl ?? '');
      expect(second.status).toBe(502);
      const outcome = (await second.json()) as OperationOutcome;
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0]).toMatchObject({ severity: 'error', expression: ['Bundle.entry'] });
      expect(outcome.issue[0]?.details?.text).toMatch(/ignores _offset/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await app.close();
      await store.close();
    }
  }, 60_000);
});
