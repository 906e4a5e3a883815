/** The letter, the SMS and the chart over real HTTP, from the example journey's stored plan. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { EXAMPLES_DIR } from '../support/examples';
import { startService, type TestService } from '../support/service';

let service: TestService;
let planId: string;

beforeAll(async () => {
  service = await startService();
  for (const file of ['01-community-start.json', '02-admission.json']) {
    const bundle = JSON.parse(readFileSync(join(EXAMPLES_DIR, 'journey', file), 'utf8')) as Bundle;
    for (const entry of bundle.entry ?? []) await service.store.update(entry.resource as Resource);
  }
  const plans = await service.store.search('CarePlan', {});
  planId = plans.resources[0]?.id ?? '';
});
afterAll(() => service.close());

const get = (path: string) => fetch(`${service.base}/fhir/CarePlan/${planId}/${path}`);

describe('CarePlan/{id}/$letter and $chart', () => {
  it('the HTML letter names the key worker, the next review and the safety plan, in plain words', async () => {
    const res = await get('$letter?format=html');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('Sam Whitfield');
    expect(html).toMatch(/safety plan/i);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/SQoL|episode/);
  });

  it('the PDF letter is a PDF', async () => {
    const res = await get('$letter?format=pdf');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(0, 5)
        .toString('latin1'),
    ).toBe('%PDF-');
  });

  it('the SMS fits 3 segments and links to the full letter', async () => {
    const res = await get('$letter?format=sms');
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-sms-segments'))).toBeLessThanOrEqual(3);
    expect(await res.text()).toContain(`/fhir/CarePlan/${planId}/$letter?format=html`);
  });

  it('the chart is SVG with a title and a description', async () => {
    const res = await get('$chart');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('image/svg+xml');
    const svg = await res.text();
    expect(svg).toMatch(/<title[^>]*>/);
    expect(svg).toMatch(/<desc[^>]*>/);
  });

  it('an unknown format is a 400, an unknown plan a 404, both OperationOutcomes', async () => {
    const bad = await get('$letter?format=docx');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    const missing = await fetch(`${service.base}/fhir/CarePlan/nope/$letter`);
    expect(missing.status).toBe(404);
  });
});
