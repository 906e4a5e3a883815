/**
 * src/api/request-log.ts over real HTTP: one line per request naming the route pattern under the
 * router's mount path — also when the request failed inside a mounted router (Express has put
 * `req.baseUrl` back by the time the line is written) — and never the URL's ids.
 */
import { fhir, type Json, startService, type TestService } from '../support/service';

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

/** The route each request line names, by the request's id. */
function routesLogged(): Map<string, string> {
  const lines = service.logs
    .map((l) => JSON.parse(l) as Json)
    .filter((l) => l.message === 'request');
  return new Map(lines.map((l) => [l.requestId as string, l.route as string]));
}

it.each([
  ['/fhir/Encounter/no-such-stay', '/fhir/Encounter/:id'],
  ['/fhir/Encounter/no-such-stay/_history', '/fhir/Encounter/:id/_history'],
  ['/fhir/CarePlan/no-such-plan/$letter', '/fhir/CarePlan/:id/\\$letter'],
  ['/fhir/CarePlan/no-such-plan', '/fhir/:type/:id'],
  ['/fhir/Patient/no-such-person/_history', '/fhir/:type/:id/_history'],
])('a 404 from %s is logged as the route %s', async (path, route) => {
  const requestId = `log-${route.length}-${path.length}`;
  const res = await fhir(service.base, 'GET', path, undefined, { 'x-request-id': requestId });
  expect(res.status).toBe(404);
  expect(routesLogged().get(requestId)).toBe(route);
  expect(service.logs.join('\n')).not.toContain('no-such-');
});

it('a request no route takes is logged as unmatched', async () => {
  const res = await fhir(service.base, 'GET', '/nowhere/at/all', undefined, {
    'x-request-id': 'log-unmatched',
  });
  expect(res.status).toBe(404);
  expect(routesLogged().get('log-unmatched')).toBe('unmatched');
});
