import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BODY_LIMIT_BYTES } from '../../src/api/app';
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
      rest: { operation: { name: string }[]; resource: { type: string }[] }[];
    };
    expect(cs.rest[0]?.operation.map((o) => o.name)).toEqual([
      'validate',
      'extract',
      'populate',
      'letter',
      'chart',
      'transfer',
      'dialog-summary',
      'plan-sync-notification',
    ]);
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
