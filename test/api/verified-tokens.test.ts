/**
 * The verified-token cache in front of token verification (src/api/bearer-access.ts): a token
 * that passed is not checked again until its `exp`; an expired one is refused as before; only
 * good tokens are kept, and no more than the bound.
 */
import { getStatus } from '@medplum/core';
import { createTokenVerifier, type AccessContext, type TokenVerifier } from '../../src/auth';
import { VerifiedTokens } from '../../src/api/bearer-access';
import {
  AUDIENCE,
  ISSUER,
  NOW,
  NOW_S,
  outcomeOf,
  sign,
  testKey,
  type TestKey,
} from '../auth/support';

describe('verified tokens are remembered until they expire', () => {
  let key: TestKey;
  let clock: Date;
  let calls: number;
  let tokens: VerifiedTokens;

  beforeAll(async () => {
    key = await testKey('ES256', 'k1');
  });

  function counted(options: ConstructorParameters<typeof VerifiedTokens>[2] = {}): VerifiedTokens {
    const real = createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: { keys: [key.publicJwk] },
      now: () => clock,
    });
    const counting: TokenVerifier = {
      verify: (authorization) => {
        calls++;
        return real.verify(authorization);
      },
    };
    return new VerifiedTokens(counting, () => clock, options);
  }

  beforeEach(() => {
    clock = new Date(NOW);
    calls = 0;
    tokens = counted();
  });

  it('verifies a token once and answers the same context after', async () => {
    const header = `Bearer ${await sign(key)}`;
    const first = await tokens.verify(header);
    const second = await tokens.verify(header);
    expect(second).toEqual(first);
    expect(calls).toBe(1);
    expect(tokens.size).toBe(1);
  });

  it('refuses an expired token that was accepted before', async () => {
    const header = `Bearer ${await sign(key, { exp: NOW_S + 10 })}`;
    await tokens.verify(header);
    // Past exp and past the verifier's clock tolerance (30 s): verified again, and refused.
    clock = new Date(NOW.getTime() + 45_000);
    const outcome = await outcomeOf(() => tokens.verify(header));
    expect(getStatus(outcome)).toBe(401);
    expect(outcome.issue[0]?.expression).toEqual(['token.exp']);
    expect(calls).toBe(2);
  });

  it('checks a token again once exp has passed, even within the clock tolerance', async () => {
    const header = `Bearer ${await sign(key, { exp: NOW_S + 10 })}`;
    await tokens.verify(header);
    clock = new Date(NOW.getTime() + 11_000);
    await tokens.verify(header);
    expect(calls).toBe(2);
  });

  it('checks a token again after maxAgeMs, whatever its exp', async () => {
    tokens = counted({ maxAgeMs: 1000 });
    const header = `Bearer ${await sign(key, { exp: NOW_S + 3600 })}`;
    await tokens.verify(header);
    clock = new Date(NOW.getTime() + 500);
    await tokens.verify(header);
    expect(calls).toBe(1);
    clock = new Date(NOW.getTime() + 1500);
    await tokens.verify(header);
    expect(calls).toBe(2);
  });

  it('never keeps a refused token, and a changed token is a different one', async () => {
    const good = await sign(key);
    const [head, payload, signature] = good.split('.');
    const forged = `Bearer ${head ?? ''}.${payload ?? ''}.${(signature ?? '').slice(0, -4)}AAAA`;
    for (let i = 0; i < 2; i++) {
      const outcome = await outcomeOf(() => tokens.verify(forged));
      expect(getStatus(outcome)).toBe(401);
    }
    expect(calls).toBe(2);
    expect(tokens.size).toBe(0);
    await expect(tokens.verify(undefined)).rejects.toBeDefined();
    expect(calls).toBe(3);
  });

  it('keeps at most maxEntries tokens, dropping the least recently used', async () => {
    tokens = counted({ maxEntries: 2 });
    const headers = await Promise.all(
      ['a', 'b', 'c'].map(async (sub) => `Bearer ${await sign(key, { sub })}`),
    );
    const [a, b, c] = headers as [string, string, string];
    const contexts: AccessContext[] = [];
    contexts.push(await tokens.verify(a), await tokens.verify(b));
    await tokens.verify(a); // a is now the most recently used
    await tokens.verify(c); // b goes
    expect(tokens.size).toBe(2);
    expect(calls).toBe(3);
    await tokens.verify(a);
    expect(calls).toBe(3);
    await tokens.verify(b);
    expect(calls).toBe(4);
    expect(contexts.map((ctx) => ctx.subject)).toEqual(['a', 'b']);
  });

  it('does not cache when maxEntries is 0', async () => {
    tokens = counted({ maxEntries: 0 });
    const header = `Bearer ${await sign(key)}`;
    await tokens.verify(header);
    await tokens.verify(header);
    expect(calls).toBe(2);
  });
});
