/**
 * `/readyz` over real HTTP: ready when the store answers now — the embedded file, or the FHIR
 * server behind the fhir-server store (Medplum's fhir-router on loopback) — and not ready (503,
 * with the reason) when that server is gone or the service is stopping. `/healthz` stays 200: the
 * process is alive either way.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import winston from 'winston';
import { createApp, type App } from '../../src/api/app';
import { openFhirServerStore, type FhirStore } from '../../src/store';
import { startFhirRouterServer } from '../support/fhir-router-server';
import { sharedValidator, startService } from '../support/service';

const silent = winston.createLogger({ silent: true });

async function serveOver(store: FhirStore): Promise<{ base: string; app: App; server: Server }> {
  const app = createApp({ validator: sharedValidator(), store, logger: silent });
  const server = app.express.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, app, server };
}

async function readiness(base: string): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

it('the embedded store: ready while open; 503 "stopping" once the service stops', async () => {
  const service = await startService();
  try {
    expect(await readiness(service.base)).toMatchObject({ status: 200, body: { status: 'ready' } });
    service.app.stopTaking();
    expect(await readiness(service.base)).toMatchObject({
      status: 503,
      body: { status: 'not ready', reason: 'stopping' },
    });
    expect((await fetch(`${service.base}/healthz`)).status).toBe(200);
  } finally {
    await service.close();
  }
  expect(await service.store.ready()).toBe(false);
}, 60_000);

it('the fhir-server store: ready while its server answers, 503 once it is gone', async () => {
  const backing = await startFhirRouterServer();
  const store = openFhirServerStore({ baseUrl: backing.baseUrl });
  const { base, app, server } = await serveOver(store);
  try {
    expect(await readiness(base)).toMatchObject({ status: 200, body: { status: 'ready' } });
    await backing.close();
    expect(await readiness(base)).toMatchObject({
      status: 503,
      body: { status: 'not ready', reason: 'the store does not answer' },
    });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await app.close();
    await store.close();
  }
}, 60_000);
