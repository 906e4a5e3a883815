/**
 * Who pays for what in the rate limit (src/api/rate-limit.ts), over real HTTP: an authenticated
 * caller has its own bucket from its first request, whatever came before it from its address;
 * failed authentications fill a stricter bucket of the address's that successful callers never
 * touch; and a caller's new tokens share its one bucket.
 */
import { mintDevToken, type DevKey } from '../../src/auth';
import { FAILED_AUTH_PER_MINUTE } from '../../src/api/rate-limit';
import { startServiceWithDevKey, type TestService } from '../support/service';

let service: TestService;
let key: DevKey;

afterEach(() => service.close());

async function start(limit: number): Promise<void> {
  ({ service, key } = await startServiceWithDevKey({ rateLimitPerMinute: limit }));
}

function token(subject: string): Promise<string> {
  return mintDevToken(key, { scopes: ['system/*.cruds'], subject });
}

async function get(authorization: string): Promise<Response> {
  const res = await fetch(`${service.base}/fhir/Patient?_count=0`, { headers: { authorization } });
  await res.clone().arrayBuffer();
  return res;
}

async function statuses(authorizations: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (const a of authorizations) out.push((await get(a)).status);
  return out;
}

describe('the rate limit is fair to callers behind one address', () => {
  it('serves new callers however many failed logins came from their address first', async () => {
    const limit = 5;
    await start(limit);
    // Failures and new callers are counted apart: neither uses up the other's limit.
    expect(await statuses(Array(limit - 1).fill('Bearer junk'))).toEqual(
      Array(limit - 1).fill(401),
    );
    const callers = await Promise.all(
      Array.from({ length: limit }, (_, i) => token(`caller-${i}`)),
    );
    expect(await statuses(callers.map((t) => `Bearer ${t}`))).toEqual(Array(limit).fill(200));
    // Each of them has the rest of its own limit.
    expect(await statuses(callers.map((t) => `Bearer ${t}`))).toEqual(Array(limit).fill(200));
    // The price: an address has `limit` new tokens a minute.
    expect((await get(`Bearer ${await token('one-too-many')}`)).status).toBe(429);
  });

  it('gives failed authentications their own, stricter bucket, which known callers never wait on', async () => {
    const limit = FAILED_AUTH_PER_MINUTE + 10;
    await start(limit);
    const known = `Bearer ${await token('known')}`;
    expect((await get(known)).status).toBe(200);
    const junk = await statuses(Array(FAILED_AUTH_PER_MINUTE).fill('Bearer junk'));
    expect(junk).toEqual(Array(FAILED_AUTH_PER_MINUTE).fill(401));
    // Stricter than the limit: the next failure is refused before it is even checked.
    const refused = await get('Bearer junk');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    const body = (await refused.json()) as {
      resourceType: string;
      issue: {
        code: string;
        details?: { text?: string };
        diagnostics?: string;
        expression?: string[];
      }[];
    };
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0]?.code).toBe('throttled');
    expect(JSON.stringify(body.issue[0])).toMatch(/failed authentications/);
    expect(body.issue[0]?.expression).toEqual(['Resource']);
    // The known caller carries on with the rest of its own limit.
    expect(await statuses(Array(limit - 1).fill(known))).toEqual(Array(limit - 1).fill(200));
    expect((await get(known)).status).toBe(429);
    // A caller not known yet is verified all the same, on its address's new tokens.
    expect((await get(`Bearer ${await token('new')}`)).status).toBe(200);
  });

  it('counts a caller’s new tokens in its one bucket', async () => {
    const limit = 4;
    await start(limit);
    const first = await token('alice');
    const tokens = [first, ...(await Promise.all([1, 2].map(() => token('alice'))))];
    expect(new Set(tokens).size).toBe(tokens.length);
    // Three tokens, one request each, then the first again: alice's fourth request.
    expect(await statuses([...tokens, first].map((t) => `Bearer ${t}`))).toEqual(
      Array(limit).fill(200),
    );
    expect((await get(`Bearer ${first}`)).status).toBe(429);
  });
});
