/**
 * The rate limit over real HTTP (src/api/rate-limit.ts): junk, missing or respelled tokens do not
 * get a fresh bucket each; failed authentications count against the client's address, in a
 * bucket of their own, and forged tokens past it against the address's new tokens. A verified caller has its own bucket from its first request, so callers
 * behind one address (a NAT) each get their own limit and never use up the address's.
 */
import { mintDevToken, type DevKey } from '../../src/auth';
import { startService, startServiceWithDevKey, type TestService } from '../support/service';

const LIMIT = 5;

let service: TestService;
let key: DevKey | undefined;

afterEach(async () => {
  await service.close();
  key = undefined;
});

async function withAuth(): Promise<void> {
  ({ service, key } = await startServiceWithDevKey({ rateLimitPerMinute: LIMIT }));
}

function token(subject = 'dev'): Promise<string> {
  if (!key) throw new Error('no dev key');
  return mintDevToken(key, { scopes: ['system/*.cruds'], subject });
}

async function get(authorization?: string): Promise<number> {
  const res = await fetch(`${service.base}/fhir/Patient`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  await res.arrayBuffer();
  return res.status;
}

/** Statuses of requests sent one after another. */
async function statuses(authorizations: readonly (string | undefined)[]): Promise<number[]> {
  const out: number[] = [];
  for (const a of authorizations) out.push(await get(a));
  return out;
}

/** A string shaped like a JWT (three base64url parts) that no one signed. */
const forged = (i: number): string =>
  `Bearer ${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(
    JSON.stringify({ sub: `x${i}` }),
  ).toString('base64url')}.c2lnbmF0dXJl${i}`;

describe('the rate limit cannot be dodged', () => {
  it('refuses Bearer headers holding no token once the failure limit is used', async () => {
    await withAuth();
    const junk = Array.from({ length: LIMIT + 3 }, (_, i) =>
      i % 2 === 0 ? `Bearer junk${i}` : `  bEaReR   junk${i}`,
    );
    const got = await statuses(junk);
    expect(got.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(401));
    expect(got.slice(LIMIT)).toEqual(Array(3).fill(429));
  });

  it('verifies rotating forged tokens past the failure limit only on the new tokens’ count', async () => {
    await withAuth();
    // The first LIMIT failures are the failures' own; the next LIMIT are new tokens as well.
    const got = await statuses(Array.from({ length: 2 * LIMIT + 2 }, (_, i) => forged(i)));
    expect(got).toEqual([...Array(2 * LIMIT).fill(401), 429, 429]);
    // That has used up the address's new tokens, valid ones included, for this minute...
    expect(await get(`Bearer ${await token()}`)).toBe(429);
    // ...but not what it sends without one.
    expect(await get()).toBe(401);
  });

  it('counts requests without a bearer token against the address, whatever their answer', async () => {
    await withAuth();
    const got = await statuses([
      ...Array<undefined>(LIMIT).fill(undefined),
      'Bearer junk',
      undefined,
      'Basic dXNlcjpwYXNz',
    ]);
    // A Bearer header without a token is a failure, not the address's; Basic is no bearer token.
    expect(got).toEqual([...Array(LIMIT).fill(401), 401, 429, 429]);
  });

  it('treats one valid token respelled as one caller', async () => {
    await withAuth();
    const t = await token();
    const spellings = [
      `Bearer ${t}`,
      `bearer ${t}`,
      `BEARER ${t}`,
      `BeArEr ${t}`,
      `Bearer    ${t}`,
      `bearer  ${t}`,
      `Bearer ${t}`,
      `BEARER   ${t}`,
      `Bearer ${t}`,
    ];
    const got = await statuses(spellings);
    // The token's first request counts in its caller's bucket too, once it is verified.
    expect(got.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(200));
    expect(got.slice(LIMIT)).toEqual(Array(spellings.length - LIMIT).fill(429));
  });

  it('keeps callers behind one address apart', async () => {
    await withAuth();
    const callers = await Promise.all(['alice', 'bob', 'carol'].map((s) => token(s)));
    // LIMIT each, first requests included, none of them counted against the address.
    const got: number[] = [];
    for (const t of callers) got.push(...(await statuses(Array(LIMIT).fill(`Bearer ${t}`))));
    expect(got).toEqual(Array(callers.length * LIMIT).fill(200));
    // One more from any of them is over its own limit.
    expect(await get(`Bearer ${callers[1] ?? ''}`)).toBe(429);
  });

  it('gives a known caller its own bucket even once junk has used up the address’s failures', async () => {
    await withAuth();
    const t = await token();
    expect(await get(`Bearer ${t}`)).toBe(200);
    const junk = await statuses(Array.from({ length: LIMIT + 1 }, (_, i) => `Bearer junk${i}`));
    expect(junk.at(-1)).toBe(429);
    // Its first request was one of its own LIMIT.
    expect(await statuses(Array(LIMIT).fill(`Bearer ${t}`))).toEqual([
      ...Array(LIMIT - 1).fill(200),
      429,
    ]);
  });

  it('with AUTH=off, any token counts against the address (no token names a caller)', async () => {
    service = await startService({ rateLimitPerMinute: LIMIT });
    const got = await statuses(Array.from({ length: LIMIT + 2 }, (_, i) => forged(i)));
    expect(got).toEqual([...Array(LIMIT).fill(200), 429, 429]);
  });

  it('answers 429 as an OperationOutcome with Retry-After', async () => {
    await withAuth();
    await statuses(Array(LIMIT).fill('Bearer junk'));
    const res = await fetch(`${service.base}/fhir/Patient`, {
      headers: { authorization: 'Bearer other-junk' },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const body = (await res.json()) as { resourceType: string; issue: { code: string }[] };
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0]?.code).toBe('throttled');
  });
});
