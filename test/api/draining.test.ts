/**
 * Graceful stop (src/api/draining.ts) over real HTTP with kept-alive connections, as a proxy's
 * pool keeps them: a request being answered when the stop begins is finished (and written) with
 * `Connection: close`; one sent after it, on a connection still open, is a 503 that started
 * nothing; `/readyz` says "stopping".
 */
import { Agent, request } from 'node:http';
import { fhir, startService, type TestService } from '../support/service';

let service: TestService;
beforeEach(async () => {
  service = await startService();
});
afterEach(() => service.close());

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
}

/** Sends `body` in two parts, calling `between` after the first (the request is in flight). */
function send(
  agent: Agent,
  method: string,
  path: string,
  body?: string,
  between?: () => void,
): Promise<Answer> {
  const url = new URL(`${service.base}${path}`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        headers: body ? { 'content-type': 'application/fhir+json' } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }),
        );
      },
    );
    req.on('error', reject);
    if (body === undefined) {
      req.end();
      return;
    }
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    setTimeout(() => {
      between?.();
      req.end(body.slice(half));
    }, 100);
  });
}

it('finishes what it is answering with Connection: close, and refuses what comes after with 503', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // The pooled connection, kept alive.
    const first = await send(agent, 'GET', '/fhir/Patient');
    expect(first.status).toBe(200);
    expect(first.connection).toBe('keep-alive');
    const patient = JSON.stringify({ resourceType: 'Patient', id: 'in-flight' });
    const inFlight = await send(agent, 'PUT', '/fhir/Patient/in-flight', patient, () =>
      service.app.stopTaking(),
    );
    expect(inFlight.status).toBe(201);
    expect(inFlight.connection).toBe('close');
    expect((await service.store.read('Patient', 'in-flight')).id).toBe('in-flight');

    // A new connection is still accepted here (the test's server was not closed): what it asks
    // is refused before anything starts, and the connection is closed after.
    const late = await send(
      agent,
      'PUT',
      '/fhir/Patient/too-late',
      patient.replace('in-flight', 'too-late'),
    );
    expect(late.status).toBe(503);
    expect(late.connection).toBe('close');
    expect(JSON.parse(late.body)).toMatchObject({ resourceType: 'OperationOutcome' });
    expect((await fhir(service.base, 'GET', '/fhir/Patient/too-late')).status).toBe(503);
    expect((await service.store.search('Patient', { _id: 'too-late' })).total).toBe(0);

    const ready = await send(agent, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ reason: 'stopping' });
    expect((await send(agent, 'GET', '/healthz')).status).toBe(200);
  } finally {
    agent.destroy();
  }
}, 60_000);
