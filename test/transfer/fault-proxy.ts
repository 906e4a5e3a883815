/**
 * A misbehaving loopback HTTP server in front of a real service: it passes requests through,
 * except those a fault rule picks (nock 15 is ESM-only and cannot load under this jest). Rules are
 * taken in order; each applies to the next `times` requests its `when` accepts, then passes
 * through. Every request is logged (method, path, what was done, when it came and was answered).
 * Not a test file itself.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';

export type Fault =
  /** Answer with this status (and OperationOutcome) without passing the request on. */
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  /** Pass it on, then never answer: the caller's timeout ends it (the write may have happened). */
  | { readonly kind: 'slow' }
  /** Cut the connection before passing the request on. */
  | { readonly kind: 'reset-before' }
  /** Pass it on (the write happens), then cut the connection instead of answering. */
  | { readonly kind: 'reset-after' }
  /** Answer 200 as if a transaction was applied, and store nothing (a peer that loses writes). */
  | { readonly kind: 'lose' }
  /** Do something first (e.g. edit the destination's plan), then pass the request on. */
  | { readonly kind: 'before'; readonly run: () => Promise<void> };

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: string;
}

export interface FaultRule {
  readonly fault: Fault;
  readonly times: number;
  readonly when?: (request: ProxiedRequest) => boolean;
}

export interface LoggedRequest extends ProxiedRequest {
  readonly done: Fault['kind'] | 'passed';
  readonly receivedAt: number;
  answeredAt?: number;
}

export interface FaultProxy {
  /** The proxy's FHIR base, e.g. `http://127.0.0.1:4321/fhir`. */
  readonly url: string;
  readonly log: LoggedRequest[];
  inject(rule: FaultRule): void;
  close(): Promise<void>;
}

/** A transaction that writes the plan with If-Match: step 2 of a delivery. */
export function isPlanWrite(request: ProxiedRequest): boolean {
  return (
    request.method === 'POST' &&
    /\/fhir\/?$/.test(request.path) &&
    request.body.includes('"ifMatch"') &&
    request.body.includes('"CarePlan/')
  );
}

/** Any transaction (step 1 or 2 of a delivery). */
export function isTransaction(request: ProxiedRequest): boolean {
  return request.method === 'POST' && /\/fhir\/?$/.test(request.path);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * What a server that applied the transaction would answer: each entry 200/201 with a location,
 * the resource with an id and version (`PUT Type/id` with `If-Match: W/"n"` becomes version n+1).
 */
function fabricatedResponse(body: string): Bundle {
  const bundle = JSON.parse(body) as Bundle;
  return {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: (bundle.entry ?? []).map((entry: BundleEntry): BundleEntry => {
      const resource = entry.resource as Resource;
      const url = entry.request?.url ?? '';
      const byId = /^[A-Za-z]+\/([A-Za-z0-9\-.]+)$/.exec(url)?.[1];
      const asked = /W\/"([^"]+)"/.exec(entry.request?.ifMatch ?? '')?.[1];
      const id = byId ?? randomUUID();
      const version = asked ? String(Number(asked) + 1) : '1';
      return {
        resource: { ...resource, id, meta: { ...resource.meta, versionId: version } } as Resource,
        response: {
          status: byId ? '200 OK' : '201 Created',
          location: `${resource.resourceType}/${id}/_history/${version}`,
          etag: `W/"${version}"`,
        },
      };
    }),
  };
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const origin = new URL(target).origin;
  const rules: { rule: FaultRule; left: number }[] = [];
  const log: LoggedRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const request: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', body };
    const picked = rules.find((r) => r.left > 0 && (r.rule.when?.(request) ?? true));
    if (picked) picked.left--;
    const fault = picked?.rule.fault;
    const entry: LoggedRequest = {
      ...request,
      done: fault?.kind ?? 'passed',
      receivedAt: Date.now(),
    };
    log.push(entry);
    const answer = (status: number, headers: Record<string, string>, text: string): void => {
      entry.answeredAt = Date.now();
      res.writeHead(status, headers).end(text);
    };
    if (fault?.kind === 'status') {
      answer(
        fault.status,
        {
          'content-type': 'application/fhir+json',
          ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
        },
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'transient', details: { text: 'injected fault' } }],
        }),
      );
      return;
    }
    if (fault?.kind === 'reset-before') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'lose') {
      answer(
        200,
        { 'content-type': 'application/fhir+json' },
        JSON.stringify(fabricatedResponse(body)),
      );
      return;
    }
    if (fault?.kind === 'before') await fault.run();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name))
        headers[name] = value;
    const upstream = await fetch(`${origin}${request.path}`, {
      method: request.method,
      headers,
      ...(body && request.method !== 'GET' && request.method !== 'HEAD' ? { body } : {}),
    });
    const text = await upstream.text();
    if (fault?.kind === 'reset-after') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'slow') return; // held until the caller gives up (its socket closes)
    const out: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(name))
        out[name] = value;
    });
    answer(upstream.status, out, text);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${new URL(target).pathname.replace(/\/+$/, '')}`,
    log,
    inject: (rule) => rules.push({ rule, left: rule.times }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
