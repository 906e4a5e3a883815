/**
 * A loopback HTTP server in front of a real service that ignores `_offset`, as a FHIR server paging
 * only by its own tokens does: every request is passed on with any `_offset` taken out of its
 * query, so every page asked for by `_offset` is the first page again. Everything else (the
 * service's `_lastUpdated`, `_sort`, `_count`, reads and writes) is the service's own. Each
 * request's method, path and query as received is kept. Not a test file itself.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OffsetIgnoringProxy {
  /** The proxy's FHIR base, e.g. `http://127.0.0.1:4321/fhir`. */
  readonly url: string;
  /** Each request as received: `GET /fhir/Task?status=…`. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Hop-by-hop and length headers: the proxy sets its own. */
const DROPPED = new Set([
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'host',
]);

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A proxy to `target` (a service's origin, e.g. `http://127.0.0.1:1234`). */
export async function offsetIgnoringProxy(target: string): Promise<OffsetIgnoringProxy> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', target);
      requests.push(`${req.method ?? ''} ${url.pathname}${url.search}`);
      url.searchParams.delete('_offset');
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !DROPPED.has(k)) headers[k] = v;
      const answer = await fetch(url, {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
        redirect: 'manual',
      });
      const out = Buffer.from(await answer.arrayBuffer());
      answer.headers.forEach((v, k) => {
        if (!DROPPED.has(k) && k !== 'content-encoding') res.setHeader(k, v);
      });
      res.statusCode = answer.status;
      res.end(out);
    })().catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/fhir`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
