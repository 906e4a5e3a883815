import { mkdtempSync, rmSync, statSync, chmodSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import {
  authOffAnnouncement,
  createTokenVerifier,
  DEV_AUDIENCE,
  DEV_ISSUER,
  DEV_KEY_FILE,
  devTokenAnnouncement,
  loadDevKey,
  mintDevToken,
} from '../../src/auth';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-auth-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadDevKey', () => {
  it('makes an owner-only ES256 key on first use and reads the same key afterwards', async () => {
    const dataDir = join(dir, 'data');
    const first = await loadDevKey(dataDir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(join(dataDir, DEV_KEY_FILE));
    if (process.platform !== 'win32') expect(statSync(first.path).mode & 0o777).toBe(0o600);
    const second = await loadDevKey(dataDir);
    expect(second.created).toBe(false);
    expect(second.kid).toBe(first.kid);
    expect(second.jwks).toEqual(first.jwks);
  });

  it('publishes only the public half', async () => {
    const key = await loadDevKey(dir);
    expect(key.jwks.keys).toHaveLength(1);
    expect(Object.keys(key.jwks.keys[0] ?? {}).sort()).toEqual([
      'alg',
      'crv',
      'kid',
      'kty',
      'use',
      'x',
      'y',
    ]);
    expect(JSON.parse(readFileSync(key.path, 'utf8'))).toHaveProperty('d');
  });

  it('two processes starting at once end up with one key', async () => {
    const [a, b] = await Promise.all([loadDevKey(dir), loadDevKey(dir)]);
    expect(a.kid).toBe(b.kid);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
  });

  it('refuses a key file other users can read', async () => {
    if (process.platform === 'win32') return;
    const key = await loadDevKey(dir);
    chmodSync(key.path, 0o644);
    await expect(loadDevKey(dir)).rejects.toThrow(/chmod 600/);
  });

  it('refuses a file that is not an ES256 private key', async () => {
    writeFileSync(join(dir, DEV_KEY_FILE), '{"kty":"oct","k":"AAAA"}', { mode: 0o600 });
    await expect(loadDevKey(dir)).rejects.toThrow(/not an ES256 private key/);
    writeFileSync(join(dir, DEV_KEY_FILE), 'nonsense', { mode: 0o600 });
    await expect(loadDevKey(dir)).rejects.toThrow(/not a JWK/);
  });
});

describe('mintDevToken', () => {
  it('mints tokens a verifier of the dev key accepts, for each role', async () => {
    const key = await loadDevKey(dir);
    const now = new Date('2025-10-01T12:00:00Z');
    const verifier = createTokenVerifier({
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      keys: key.jwks,
      now: () => now,
    });
    const system = await mintDevToken(key, { scopes: ['system/*.cruds'], now });
    await expect(verifier.verify(`Bearer ${system}`)).resolves.toMatchObject({
      role: 'system',
      clientId: 'dialog-fhir-dev',
    });
    const carer = await mintDevToken(key, {
      scopes: ['patient/*.rs'],
      fhirUser: 'RelatedPerson/rp1',
      patient: 'p1',
      now,
    });
    await expect(verifier.verify(`Bearer ${carer}`)).resolves.toMatchObject({
      role: 'carer',
      patient: 'p1',
    });
    expect(decodeProtectedHeader(carer)).toMatchObject({ alg: 'ES256', kid: key.kid, typ: 'JWT' });
    const claims = decodeJwt(carer);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
  });

  it('a dev token expires like any other', async () => {
    const key = await loadDevKey(dir);
    const issued = new Date('2025-10-01T12:00:00Z');
    const token = await mintDevToken(key, { scopes: ['user/*.rs'], expiresIn: 60, now: issued });
    const later = createTokenVerifier({
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      keys: key.jwks,
      clockToleranceSeconds: 0,
      now: () => new Date('2025-10-01T12:01:01Z'),
    });
    await expect(later.verify(`Bearer ${token}`)).rejects.toMatchObject({
      outcome: { id: 'unauthorized', issue: [{ code: 'login', expression: ['token.exp'] }] },
    });
  });

  it('refuses scope words this server would ignore', async () => {
    const key = await loadDevKey(dir);
    await expect(mintDevToken(key, { scopes: ['user/*.sr'] })).rejects.toThrow(/user\/\*\.sr/);
  });
});

describe('announcements', () => {
  it('the dev token announcement says where the key is and how to use the token', () => {
    const text = devTokenAnnouncement({
      token: 'aaa.bbb.ccc',
      key: { path: '/data/dev-signing-key.jwk.json', created: true },
      scopes: ['system/*.cruds'],
      expiresAt: new Date('2025-10-01T13:00:00Z'),
      baseUrl: 'http://localhost:8080',
    });
    expect(text).toContain('/data/dev-signing-key.jwk.json (made now)');
    expect(text).toContain('DEVELOPMENT');
    expect(text).toContain('aaa.bbb.ccc');
    expect(text).toContain('system/*.cruds; valid until 2025-10-01T13:00:00.000Z');
    expect(text).toContain(
      'curl -H "Authorization: Bearer $TOKEN" http://localhost:8080/fhir/metadata',
    );
  });

  it('AUTH=off is loud', () => {
    expect(authOffAnnouncement()).toMatch(/AUTHENTICATION IS DISABLED/);
  });
});
