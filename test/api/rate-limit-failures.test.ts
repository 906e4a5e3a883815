/**
 * What an address's failed authentications refuse (src/api/rate-limit.ts), over real HTTP: only
 * Bearer headers that hold no token. The clinician pages, `/ui/login`, requests without a token
 * and new tokens (verified all the same) carry on, so one host behind a NAT, or the clients still
 * holding expired tokens after a restart, cannot shut the others out.
 */
import { mintDevToken } from '../../src/auth';
import { FAILED_AUTH_PER_MINUTE } from '../../src/api/rate-limit';
import { PageClient, startUiService, type UiService } from '../ui/support';

/** Room for the failures and some: the failure limit is the stricter one. */
const LIMIT = FAILED_AUTH_PER_MINUTE + 10;

let ui: UiService;

beforeEach(async () => {
  ui = await startUiService({ rateLimitPerMinute: LIMIT });
});

afterEach(() => ui.service.close());

async function get(path: string, authorization?: string): Promise<Response> {
  const res = await fetch(`${ui.service.base}${path}`, {
    headers: authorization === undefined ? {} : { authorization },
    redirect: 'manual',
  });
  await res.clone().arrayBuffer();
  return res;
}

async function statuses(authorizations: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (const a of authorizations) out.push((await get('/fhir/Patient?_count=0', a)).status);
  return out;
}

/** A token the dev key signed two hours ago: expired, as clients hold them after a restart. */
function expired(subject: string): Promise<string> {
  return mintDevToken(ui.key, {
    scopes: ['system/*.cruds'],
    subject,
    now: new Date(Date.now() - 2 * 3_600_000),
  });
}

function fresh(subject: string): Promise<string> {
  return mintDevToken(ui.key, { scopes: ['system/*.cruds'], subject });
}

describe('an address over its failure limit', () => {
  it('refuses Bearer headers without a token, and nothing the clinician pages send', async () => {
    const junk = await statuses(Array(FAILED_AUTH_PER_MINUTE).fill('Bearer junk'));
    expect(junk).toEqual(Array(FAILED_AUTH_PER_MINUTE).fill(401));
    const refused = await get('/fhir/Patient', 'Bearer junk');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(((await refused.json()) as { resourceType: string }).resourceType).toBe(
      'OperationOutcome',
    );

    // The pages, signing in included, are the address's: failures elsewhere never refuse them.
    const client = new PageClient(ui.service.base);
    expect((await client.get('/ui/')).status).toBe(403);
    expect((await client.get('/ui/login')).status).toBe(200);
    await client.signIn(ui.clinicianToken);
    expect((await client.get('/ui/')).status).toBe(200);
    // Nor a request without a token (answered, not throttled), nor a new caller's token.
    expect((await get('/fhir/Patient')).status).toBe(401);
    expect((await get('/fhir/Patient', `Bearer ${await fresh('newcomer')}`)).status).toBe(200);
  });

  it('still verifies new tokens after a restart’s expired ones, up to the address’s new tokens', async () => {
    const stale = await Promise.all(
      Array.from({ length: FAILED_AUTH_PER_MINUTE }, (_, i) => expired(`client-${i}`)),
    );
    expect(await statuses(stale.map((t) => `Bearer ${t}`))).toEqual(
      Array(FAILED_AUTH_PER_MINUTE).fill(401),
    );
    // Over the failure limit, a valid token is verified: its caller is served.
    const valid = `Bearer ${await fresh('valid')}`;
    expect((await get('/fhir/Patient?_count=0', valid)).status).toBe(200);
    // More expired tokens are verified too, now counted with the address's new tokens: with the
    // valid one, LIMIT of them this minute.
    const more = await Promise.all(Array.from({ length: LIMIT }, (_, i) => expired(`more-${i}`)));
    expect(await statuses(more.map((t) => `Bearer ${t}`))).toEqual([
      ...Array(LIMIT - 1).fill(401),
      429,
    ]);
    // So verifying stays bounded: the next new token waits for the minute to end...
    expect((await get('/fhir/Patient', `Bearer ${await fresh('late')}`)).status).toBe(429);
    // ...while the caller already verified, and the pages, carry on.
    expect((await get('/fhir/Patient?_count=0', valid)).status).toBe(200);
    expect((await get('/ui/login')).status).toBe(200);
  });
});
