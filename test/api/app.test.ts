import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BODY_LIMIT_BYTES } from '../../src/api/app';
import { capabilityStatement } from '../../src/api/capability-statement';
import { loadConformancePackage } from '../../src/validation';
import { EXAMPLES_DIR } from '../support/examples';
import { startService, type TestService } from '../support/service';

let service: TestService;
let base: string;

beforeAll(async () => {
  service = await startService();
  base = service.base;
});
afterAll(() => service.close());

const post = (path: string, body: string, type = 'application/fhir+json'): Promise<Response> =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': type }, body });

const invalidQr = readFileSync(join(EXAMPLES_DIR, 'invalid', 'qr-score-code-8.json'), 'utf8');
const journey = JSON.parse(
  readFileSync(join(EXAMPLES_DIR, 'journey', '01-community-start.json'), 'utf8'),
) as {
  entry: { resource: { resourceType: string } }[];
};
const validQr = JSON.stringify(
  journey.entry.find((e) => e.resource.resourceType === 'QuestionnaireResponse')?.resource,
);

describe('HTTP façade: health, metadata, $validate and the body rules', () => {
  it('answers health and readiness', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { package: string };
    expect(ready.package).toBe('dialog-fhir.r4#0.1.0');
  });

  it('serves a CapabilityStatement that names what is implemented', async () => {
    const res = await fetch(`${base}/fhir/metadata`);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    const cs = (await res.json()) as {
      rest: {
        operation: { name: string }[];
        resource: {
          type: string;
          operation?: { name: string }[];
          interaction: { code: string }[];
        }[];
      }[];
    };
    // Operations where they are called: on their type (a system-level /fhir/$extract is a 404).
    expect(cs.rest[0]?.operation.map((o) => o.name)).toEqual(['validate']);
    const operationsOf = (type: string): string[] =>
      (cs.rest[0]?.resource.find((r) => r.type === type)?.operation ?? []).map((o) => o.name);
    expect(operationsOf('QuestionnaireResponse')).toEqual(['extract']);
    expect(operationsOf('Questionnaire')).toEqual(['populate']);
    expect(operationsOf('CarePlan')).toEqual(['letter', 'chart']);
    // Without peer systems (PEERS_FILE) there is no $transfer and no plan sync to declare.
    expect(operationsOf('Patient')).toEqual(['dialog-summary']);
    expect(
      cs.rest[0]?.resource.find((r) => r.type === 'AuditEvent')?.interaction.map((i) => i.code),
    ).toEqual(['read', 'vread', 'search-type', 'history-instance']);
    // With authentication: bearer JWTs, not the SMART-on-FHIR service coding (which promises a
    // /.well-known/smart-configuration this service does not have); with peers, the handover.
    const withAuth = capabilityStatement(loadConformancePackage(), 'jwt', new Date(), {
      peers: true,
    });
    expect(JSON.stringify(withAuth.rest?.[0]?.security)).not.toContain('SMART-on-FHIR');
    expect(withAuth.rest?.[0]?.security?.service?.[0]?.text).toMatch(/Bearer JWT/);
    expect(withAuth.rest?.[0]?.operation?.map((o) => o.name)).toEqual([
      'validate',
      'plan-sync-notification',
    ]);
    expect(
      withAuth.rest?.[0]?.resource
        ?.find((r) => r.type === 'Patient')
        ?.operation?.map((o) => o.name),
    ).toEqual(['dialog-summary', 'transfer']);
    expect(cs.rest[0]?.resource.map((r) => r.type)).toContain('CarePlan');
    // Stored only to start handovers (src/api/encounter-routes.ts).
    expect(cs.rest[0]?.resource.map((r) => r.type)).toContain('Encounter');
  });

  it('$validate accepts a valid DIALOG response', async () => {
    const res = await post('/fhir/QuestionnaireResponse/$validate', validQr);
    expect(res.status).toBe(200);
    const outcome = (await res.json()) as { issue: { severity: string }[] };
    expect(outcome.issue.filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('$validate reports the fault with its FHIRPath location', async () => {
    const outcome = (await (await post('/fhir/$validate', invalidQr)).json()) as {
      issue: { code: string; expression: string[] }[];
    };
    expect(outcome.issue).toContainEqual(
      expect.objectContaining({
        code: 'code-invalid',
        expression: [expect.stringMatching(/answer\[0\]\.value\.ofType\(Coding\)\.code$/)],
      }),
    );
  });

  it('$validate takes FHIR’s Parameters form (resource, mode) as well as the bare resource', async () => {
    const wrapped = (resource: string, more: unknown[] = []) =>
      JSON.stringify({
        resourceType: 'Parameters',
        parameter: [{ name: 'resource', resource: JSON.parse(resource) as unknown }, ...more],
      });
    type Outcome = { issue: { severity: string; code: string; expression?: string[] }[] };
    const errors = async (res: Response) =>
      ((await res.json()) as Outcome).issue.filter((i) => i.severity === 'error');
    const good = await post('/fhir/QuestionnaireResponse/$validate', wrapped(validQr));
    expect(good.status).toBe(200);
    expect(await errors(good)).toEqual([]);
    const bad = await post(
      '/fhir/$validate',
      wrapped(invalidQr, [{ name: 'mode', valueCode: 'create' }]),
    );
    expect(bad.status).toBe(200);
    expect((await errors(bad)).map((i) => i.code)).toContain('code-invalid');
    // The inner resource is judged against the URL's type, and unsupported inputs are named.
    expect((await post('/fhir/Observation/$validate', wrapped(validQr))).status).toBe(400);
    const profiled = await post(
      '/fhir/$validate',
      wrapped(validQr, [{ name: 'profile', valueUri: 'https://example.org/p' }]),
    );
    expect(profiled.status).toBe(400);
    expect(((await profiled.json()) as Outcome).issue[0]?.expression).toEqual([
      "Parameters.parameter.where(name = 'profile')",
    ]);
    // Parameters that are not the operation's input are validated as themselves.
    const plain = await post(
      '/fhir/$validate',
      JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'x', valueString: 'y' }] }),
    );
    expect(await errors(plain)).toEqual([]);
  });

  it('rejects a resource of another type than the URL names', async () => {
    const res = await post('/fhir/Observation/$validate', validQr);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issue: { code: string }[] }).issue[0]?.code).toBe('invalid');
  });

  it('answers malformed JSON with 400 and a structure issue', async () => {
    const res = await post('/fhir/$validate', '{"resourceType":');
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { issue: { code: string }[] };
    expect(outcome.issue[0]?.code).toBe('structure');
  });

  it('refuses bodies that are not JSON with 415', async () => {
    const res = await post('/fhir/$validate', '<QuestionnaireResponse/>', 'application/xml');
    expect(res.status).toBe(415);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('refuses bodies over the limit with 413', async () => {
    const res = await post('/fhir/$validate', `"${'x'.repeat(BODY_LIMIT_BYTES + 10)}"`);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { issue: { code: string }[] }).issue[0]?.code).toBe('too-costly');
  });

  it('answers unknown endpoints with a 404 OperationOutcome', async () => {
    const res = await fetch(`${base}/nothing/here`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { issue: { code: string }[] }).issue[0]?.code).toBe('not-found');
  });
});
