import { createHmac, createPublicKey, type JsonWebKeyInput } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus, OperationOutcomeError } from '@medplum/core';
import {
  createTokenVerifier,
  wwwAuthenticate,
  type TokenVerifier,
  type TokenVerifierOptions,
} from '../../src/auth';
import {
  AUDIENCE,
  b64url,
  ISSUER,
  NOW,
  NOW_S,
  outcomeOf,
  sign,
  summary,
  testKey,
  type TestKey,
} from './support';

let es: TestKey;
let rs: TestKey;
let ed: TestKey;
let intruder: TestKey;
let verifier: TokenVerifier;

function options(overrides: Partial<TokenVerifierOptions> = {}): TokenVerifierOptions {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: { keys: [es.publicJwk, rs.publicJwk, ed.publicJwk] },
    clockToleranceSeconds: 30,
    now: () => NOW,
    ...overrides,
  };
}

beforeAll(async () => {
  es = await testKey('ES256', 'es-1');
  rs = await testKey('RS256', 'rs-1');
  ed = await testKey('EdDSA', 'ed-1');
  intruder = await testKey('ES256', 'es-1'); // same kid as the trusted key
  verifier = createTokenVerifier(options());
});

async function rejection(header: string | undefined): Promise<OperationOutcomeError> {
  try {
    await verifier.verify(header);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('valid tokens', () => {
  it.each(['ES256', 'RS256', 'EdDSA'])('accepts %s and derives the context', async (alg) => {
    const key = { ES256: es, RS256: rs, EdDSA: ed }[alg] as TestKey;
    const ctx = await verifier.verify(
      `Bearer ${await sign(key, { fhirUser: 'Practitioner/pr-1', client_id: 'ehr' })}`,
    );
    expect(ctx).toMatchObject({
      mode: 'jwt',
      subject: 'user-1',
      clientId: 'ehr',
      fhirUser: 'Practitioner/pr-1',
      role: 'clinician',
    });
    expect(ctx.scopes.map((s) => s.text)).toEqual(['user/*.cruds']);
  });

  it('the scheme is case-insensitive', async () => {
    await expect(verifier.verify(`bearer ${await sign(es)}`)).resolves.toMatchObject({
      role: 'clinician',
    });
  });

  it('tolerates clock skew within the configured tolerance', async () => {
    const token = await sign(es, { exp: NOW_S - 20, nbf: NOW_S + 20 });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ subject: 'user-1' });
  });

  it('accepts an audience list that includes ours', async () => {
    const token = await sign(es, { aud: ['https://other.example', AUDIENCE] });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ subject: 'user-1' });
  });
});

describe('401 with an OperationOutcome saying why', () => {
  /** name, how the header is made, expression, a word the message must contain */
  const CASES: [string, () => Promise<string | undefined>, string, RegExp][] = [
    ['missing header', async () => undefined, 'Authorization', /Authentication required/],
    ['empty header', async () => '   ', 'Authorization', /Authentication required/],
    ['Basic scheme', async () => 'Basic dXNlcjpwYXNz', 'Authorization', /Bearer scheme/],
    ['Bearer with nothing', async () => 'Bearer ', 'Authorization', /Bearer scheme/],
    ['not a JWT', async () => 'Bearer abc.def', 'Authorization', /not a signed JWT/],
    ['garbage JWT', async () => 'Bearer abc.def.ghi', 'Authorization', /malformed/],
    ['too long', async () => `Bearer ${'a'.repeat(9000)}`, 'Authorization', /too long/],
    [
      'expired',
      async () => `Bearer ${await sign(es, { exp: NOW_S - 31 })}`,
      'token.exp',
      /expired/,
    ],
    [
      'not yet valid',
      async () => `Bearer ${await sign(es, { nbf: NOW_S + 3600 })}`,
      'token.nbf',
      /not valid yet/,
    ],
    [
      'wrong issuer',
      async () => `Bearer ${await sign(es, { iss: 'https://evil.example' })}`,
      'token.iss',
      /issuer/,
    ],
    [
      'wrong audience',
      async () => `Bearer ${await sign(es, { aud: 'https://other.example/fhir' })}`,
      'token.aud',
      /audience/,
    ],
    ['no exp', async () => `Bearer ${await sign(es, { exp: undefined })}`, 'token.exp', /no exp/],
    ['no sub', async () => `Bearer ${await sign(es, { sub: undefined })}`, 'token.sub', /no sub/],
    [
      'no scope',
      async () => `Bearer ${await sign(es, { scope: undefined })}`,
      'token.scope',
      /no scope/,
    ],
    [
      'signed by another key with the trusted kid',
      async () => `Bearer ${await sign(intruder)}`,
      'Authorization',
      /signature/,
    ],
    [
      'signed by an unknown kid',
      async () => `Bearer ${await sign({ ...intruder, kid: 'unknown' })}`,
      'Authorization',
      /not signed by a key this server trusts/,
    ],
    [
      'payload changed after signing',
      async () => {
        const [h, , s] = (await sign(es)).split('.');
        return `Bearer ${h}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: NOW_S + 60, scope: 'system/*.cruds' })}.${s}`;
      },
      'Authorization',
      /signature/,
    ],
    [
      'alg none with an empty signature',
      async () =>
        `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: NOW_S + 60, scope: 'system/*.cruds' })}.`,
      'Authorization',
      /not a signed JWT/,
    ],
    [
      'alg none with a signature',
      async () =>
        `Bearer ${b64url({ alg: 'none' })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: NOW_S + 60, scope: 'system/*.cruds' })}.AAAA`,
      'Authorization',
      /algorithm/,
    ],
  ];

  it.each(CASES)('%s', async (_name, header, expression, message) => {
    const value = await header();
    const err = await rejection(value);
    expect(summary(err.outcome)).toEqual(['unauthorized', 'login', [expression]]);
    expect(getStatus(err.outcome)).toBe(401);
    const text = err.outcome.issue[0]?.details?.text ?? '';
    expect(text).toMatch(message);
    // The token never comes back in the answer.
    const token = value?.replace(/^\S+\s*/, '') ?? '';
    if (token.length > 8) expect(JSON.stringify(err.outcome)).not.toContain(token.slice(0, 20));
  });

  it('an HS256 token using the public key as the HMAC secret is refused', async () => {
    // The classic algorithm-confusion forgery: sign with HMAC, keyed by the public key's PEM.
    const pem = createPublicKey({ key: es.publicJwk as JsonWebKeyInput['key'], format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const input = `${b64url({ alg: 'HS256', kid: es.kid })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: NOW_S + 60, scope: 'system/*.cruds' })}`;
    const mac = createHmac('sha256', pem).update(input).digest('base64url');
    const err = await rejection(`Bearer ${input}.${mac}`);
    expect(summary(err.outcome)).toEqual(['unauthorized', 'login', ['Authorization']]);
    expect(err.outcome.issue[0]?.details?.text).toMatch(/algorithm this server refuses/);
  });

  it('WWW-Authenticate: no error code without credentials, invalid_token when they fail', async () => {
    expect(wwwAuthenticate(await rejection(undefined))).toBe('Bearer realm="dialog-fhir"');
    expect(wwwAuthenticate(await rejection('Bearer abc.def.ghi'))).toBe(
      'Bearer realm="dialog-fhir", error="invalid_token"',
    );
    expect(wwwAuthenticate(new Error('other'))).toBeUndefined();
  });

  it('claims that contradict each other are a 401 too', async () => {
    const token = await sign(es, { fhirUser: 'Patient/p1', patient: 'p2', scope: 'patient/*.rs' });
    const outcome = await outcomeOf(() => verifier.verify(`Bearer ${token}`));
    expect(summary(outcome)).toEqual(['unauthorized', 'login', ['token.patient']]);
  });
});

describe('configuration', () => {
  it.each([['HS256'], ['none'], ['ES256,HS512']])('refuses algorithms %s', (list) => {
    expect(() => createTokenVerifier(options({ algorithms: list.split(',') }))).toThrow(
      /non-empty subset/,
    );
  });

  it('refuses a token whose algorithm is allowed by jose but not configured', async () => {
    const only = createTokenVerifier(options({ algorithms: ['ES256'] }));
    const outcome = await outcomeOf(async () => only.verify(`Bearer ${await sign(rs)}`));
    expect(outcome.issue[0]?.details?.text).toMatch(/algorithm/);
  });
});

describe('remote JWKS', () => {
  let server: Server;
  let served: unknown;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/jwks') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(served));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('verifies against keys fetched from the issuer', async () => {
    served = { keys: [es.publicJwk] };
    const remote = createTokenVerifier(options({ keys: new URL(`${base}/jwks`) }));
    await expect(remote.verify(`Bearer ${await sign(es)}`)).resolves.toMatchObject({
      subject: 'user-1',
    });
  });

  it('a key server that does not answer 200 is a 504, not a 401', async () => {
    const remote = createTokenVerifier(options({ keys: new URL(`${base}/missing`) }));
    const outcome = await outcomeOf(async () => remote.verify(`Bearer ${await sign(es)}`));
    expect(summary(outcome)).toEqual(['server-timeout', 'timeout', ['Authorization']]);
    expect(getStatus(outcome)).toBe(504);
  });

  it('an unreachable key server is a 504', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const remote = createTokenVerifier(options({ keys: new URL(`http://127.0.0.1:${port}/jwks`) }));
    const outcome = await outcomeOf(async () => remote.verify(`Bearer ${await sign(es)}`));
    expect(getStatus(outcome)).toBe(504);
  });
});
