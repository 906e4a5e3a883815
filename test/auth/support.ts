/** Shared helpers for the auth tests: real keys and real signed tokens, a fixed clock. */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';

export const NOW = new Date('2025-10-01T12:00:00Z');
export const NOW_S = Math.floor(NOW.getTime() / 1000);
export const ISSUER = 'https://login.trust.example';
export const AUDIENCE = 'https://dialog.trust.example/fhir';

export interface TestKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: KeyLike;
  readonly publicJwk: JWK;
}

export async function testKey(alg: 'ES256' | 'RS256' | 'EdDSA', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** A token with sensible defaults; `claims` override, `undefined` values remove a claim. */
export async function sign(
  key: TestKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload = Object.fromEntries(
    Object.entries({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'user-1',
      iat: NOW_S - 60,
      exp: NOW_S + 300,
      scope: 'user/*.cruds',
      ...claims,
    }).filter(([, value]) => value !== undefined),
  );
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

/** The OperationOutcome a promise or function rejects with (fails the test if it does not). */
export async function outcomeOf(action: () => unknown): Promise<OperationOutcome> {
  try {
    await action();
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome;
    throw err;
  }
  throw new Error('expected an OperationOutcomeError');
}

/** [outcome id, issue code, expression] of an outcome's first issue. */
export function summary(outcome: OperationOutcome): [string | undefined, string, string[]] {
  const issue = outcome.issue[0];
  return [outcome.id, issue?.code ?? '', issue?.expression ?? []];
}

export function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
