/**
 * The development signing key: lets `npm start` run with AUTH=jwt (the default) and no identity
 * provider. An ES256 key pair lives in `<DATA_DIR>/dev-signing-key.jwk.json` (owner-only, 0600),
 * made on first use; the server verifies tokens against its public half and prints a token at
 * start-up. Anyone who can read that file can mint any token, so the file is refused when other
 * users can read it, and a deployment configures a real issuer instead.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type KeyLike,
} from 'jose';
import { parseScopes } from './scopes';
import { makeDirectory } from '../store/data-dir';

export const DEV_KEY_FILE = 'dev-signing-key.jwk.json';
/** `iss` of dev tokens; a verifier for dev tokens must expect exactly this issuer. */
export const DEV_ISSUER = 'urn:dialog-fhir:dev';
/** `aud` of dev tokens. */
export const DEV_AUDIENCE = 'urn:dialog-fhir:api';
const ALG = 'ES256';

export interface DevKey {
  readonly path: string;
  readonly kid: string;
  /** Whether this call made the key (first use). */
  readonly created: boolean;
  readonly privateKey: KeyLike | Uint8Array;
  /** The public half, for `createTokenVerifier({ keys })`. */
  readonly jwks: JSONWebKeySet;
}

/** Reads the dev key from `dataDir`, creating it (and the directory) on first use. */
export async function loadDevKey(dataDir: string): Promise<DevKey> {
  const file = path.join(dataDir, DEV_KEY_FILE);
  let created = false;
  let text = await readIfExists(file);
  if (text === undefined) {
    makeDirectory(dataDir);
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    const jwk = await exportJWK(privateKey);
    const fresh = JSON.stringify({ ...jwk, alg: ALG, use: 'sig', kid: await thumbprint(jwk) });
    created = await createExclusive(file, `${fresh}\n`);
    // Another process may have made it between our read and our link: use whichever won.
    text = created ? fresh : await fs.readFile(file, 'utf8');
  } else {
    await refuseIfShared(file);
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new Error(`${file} is not a JWK (delete it to make a new dev key)`);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new Error(`${file} is not an ES256 private key (delete it to make a new dev key)`);
  }
  const kid = jwk.kid ?? (await thumbprint(jwk));
  // The public half is named field by field, so nothing private can ride along.
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x ?? '', y: jwk.y ?? '' };
  return {
    path: file,
    kid,
    created,
    privateKey: await importJWK(jwk, ALG),
    jwks: { keys: [{ ...publicJwk, alg: ALG, use: 'sig', kid }] },
  };
}

export interface DevTokenOptions {
  /** SMART scopes, e.g. `['system/*.cruds']` or `['patient/*.rs']`. */
  readonly scopes: readonly string[];
  readonly patient?: string;
  /** `Practitioner/dev`, `Patient/x`, `RelatedPerson/z`... */
  readonly fhirUser?: string;
  /** Default `dev`. */
  readonly subject?: string;
  /** Seconds; default one hour. */
  readonly expiresIn?: number;
  readonly issuer?: string;
  readonly audience?: string;
  readonly clientId?: string;
  /** Issue time (tests); default the clock. */
  readonly now?: Date;
}

/** A signed dev token. Unknown scope words are refused here, to catch typos in scripts. */
export async function mintDevToken(key: DevKey, options: DevTokenOptions): Promise<string> {
  const { ignored } = parseScopes(options.scopes);
  if (ignored.length > 0) throw new Error(`Scopes this server ignores: ${ignored.join(' ')}`);
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: Record<string, string> = {
    scope: options.scopes.join(' '),
    client_id: options.clientId ?? 'dialog-fhir-dev',
  };
  if (options.patient !== undefined) claims.patient = options.patient;
  if (options.fhirUser !== undefined) claims.fhirUser = options.fhirUser;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? DEV_ISSUER)
    .setAudience(options.audience ?? DEV_AUDIENCE)
    .setSubject(options.subject ?? 'dev')
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (options.expiresIn ?? 3600))
    .setJti(randomBytes(12).toString('base64url'))
    .sign(key.privateKey);
}

export interface DevTokenAnnouncementInput {
  readonly token: string;
  readonly key: Pick<DevKey, 'path' | 'created'>;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  /** e.g. `http://localhost:8080`. */
  readonly baseUrl: string;
}

/**
 * What the server prints at start-up when it verifies with the dev key: where the key is, one
 * token and how to use it. It names no patient: the printed token should be a system/ token.
 */
export function devTokenAnnouncement(input: DevTokenAnnouncementInput): string {
  return [
    `AUTH=jwt with the DEVELOPMENT signing key ${input.key.path}${input.key.created ? ' (made now)' : ''}.`,
    'Not for real patient data: configure a real token issuer for that.',
    `Dev token (${input.scopes.join(' ')}; valid until ${input.expiresAt.toISOString()}):`,
    input.token,
    `Try: curl -H "Authorization: Bearer $TOKEN" ${input.baseUrl}/fhir/metadata`,
  ].join('\n');
}

/** What the server prints when AUTH=off is set. */
export function authOffAnnouncement(): string {
  return 'AUTH=off: AUTHENTICATION IS DISABLED. Every caller may read and write everything. Never run like this with real patient data.';
}

async function thumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes `text` to `file` only if `file` does not exist, never exposing a half-written key: the
 * key goes to a private temporary file first and is then hard-linked into place (atomic, and
 * failing with EEXIST when another process got there first). False when the file already existed.
 */
async function createExclusive(file: string, text: string): Promise<boolean> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(temp);
  }
}

async function refuseIfShared(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  const { mode } = await fs.stat(file);
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `${file} can be read by other users: chmod 600 it (or delete it to make a new dev key)`,
    );
  }
}
