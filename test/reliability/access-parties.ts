/**
 * The people and systems of the access matrix (test/reliability/access-matrix.test.ts), their
 * tokens, the records they are tried against, and a recording client: every request it sends
 * carries its own `X-Request-Id`, so each can be found again in the AuditEvents and the logs.
 * Not a test file itself.
 *
 * The service is the real app on loopback with authentication on: bearer JWTs signed with a key
 * made here (ES256), checked by `createTokenVerifier` behind `bearerAuthenticate`, exactly as
 * `serve` wires them with AUTH_ISSUER/AUTH_AUDIENCE/AUTH_JWKS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  Bundle,
  Consent,
  Patient,
  QuestionnaireResponse,
  RelatedPerson,
  Resource,
} from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { bearerAuthenticate } from '../../src/api/bearer-access';
import type { Authenticate } from '../../src/api/access';
import { createTokenVerifier } from '../../src/auth';
import type { Peers } from '../../src/transfer/peers';
import { EXAMPLES_DIR } from '../support/examples';
import { freePort, startService, type Json, type TestService } from '../support/service';

export const ISSUER = 'https://login.matrix-trust.example';
export const AUDIENCE = 'https://dialog.matrix-trust.example/fhir';
export const KID = 'matrix-key-1';

export const MEGAN = 'megan-price';
export const OTHER = 'tobias-quennell';
export const MEGAN_NHS = '9992468017';
export const OTHER_NHS = '9434765919';
export const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const PLAN = 'care-plan-megan-price';
export const QR = 'qr-01-community-start';

// ---- who ---------------------------------------------------------------------------------------

/** The matrix's columns, in order. */
export const ROLE_NAMES = [
  'anonymous',
  'person',
  'otherPerson',
  'clinician',
  'readOnlyClinician',
  'system',
  'carerShared',
  'carerLapsed',
  'carerDenied',
] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export interface Role {
  readonly name: RoleName;
  /** What the token says; none for the anonymous caller. */
  readonly claims?: Readonly<Record<string, string>>;
  /** The person the role is confined to (its patient context), if any. */
  readonly patient?: string;
  /**
   * For a carer: the resource types the person's Consents share with them (CarePlan, or nothing).
   * Undefined for everyone else (not filtered by Consent).
   */
  readonly shares?: ReadonlySet<string>;
  /** The AuditEvent agent expected: a fhirUser reference, or a client id when there is none. */
  readonly agent?: { readonly reference?: string; readonly clientId: string };
}

function role(
  name: RoleName,
  scope: string,
  extra: { fhirUser?: string; patient?: string; shares?: readonly string[] } = {},
): Role {
  const clientId = `matrix-${name}`;
  return {
    name,
    claims: {
      scope,
      sub: `subject-of-${name}-7c1f`,
      client_id: clientId,
      ...(extra.fhirUser ? { fhirUser: extra.fhirUser } : {}),
      ...(extra.patient ? { patient: extra.patient } : {}),
    },
    ...(extra.patient
      ? { patient: extra.patient }
      : extra.fhirUser?.startsWith('Patient/')
        ? { patient: extra.fhirUser.slice('Patient/'.length) }
        : {}),
    ...(extra.shares ? { shares: new Set(extra.shares) } : {}),
    agent: { ...(extra.fhirUser ? { reference: extra.fhirUser } : {}), clientId },
  };
}

export const ROLES: Readonly<Record<RoleName, Role>> = {
  anonymous: { name: 'anonymous' },
  // The person: reads their own record (patient/ scopes, context = them).
  person: role('person', 'patient/*.rs', { fhirUser: `Patient/${MEGAN}` }),
  // Another person, with write scopes too: every refusal of theirs is the patient context's.
  otherPerson: role('otherPerson', 'patient/*.cruds', { fhirUser: `Patient/${OTHER}` }),
  clinician: role('clinician', 'user/*.cruds', { fhirUser: 'Practitioner/sam-whitfield' }),
  readOnlyClinician: role('readOnlyClinician', 'user/*.rs', {
    fhirUser: 'Practitioner/ro-clinician',
  }),
  // A peer system: no fhirUser, known by its client id.
  system: role('system', 'system/*.cruds'),
  // A carer the person shares the plan's actions and safety plan with (the journey's Consent),
  // holding write scopes: a carer never writes, whatever the token says.
  carerShared: role('carerShared', 'patient/*.cruds', {
    fhirUser: 'RelatedPerson/hannah-price',
    patient: MEGAN,
    shares: ['CarePlan'],
  }),
  // A carer whose Consent has run out.
  carerLapsed: role('carerLapsed', 'patient/*.rs', {
    fhirUser: 'RelatedPerson/carer-lapsed',
    patient: MEGAN,
    shares: [],
  }),
  // A carer with a permit and a later deny (any deny wins).
  carerDenied: role('carerDenied', 'patient/*.rs', {
    fhirUser: 'RelatedPerson/carer-denied',
    patient: MEGAN,
    shares: [],
  }),
};

// ---- keys and tokens ---------------------------------------------------------------------------

export interface SigningKey {
  readonly privateKey: KeyLike;
  readonly publicJwk: JWK;
}

export async function signingKey(kid = KID): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A token with the usual claims; `claims` override them (undefined removes one). */
export function sign(
  key: SigningKey,
  claims: Readonly<Record<string, unknown>>,
  header: Readonly<Record<string, unknown>> = {},
): Promise<string> {
  const now = nowSeconds();
  const payload = Object.fromEntries(
    Object.entries({ iss: ISSUER, aud: AUDIENCE, iat: now - 5, exp: now + 3600, ...claims }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', kid: KID, ...header })
    .sign(key.privateKey);
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Tokens that must all be refused with 401: out of date, for someone else, signed wrongly, or
 * not tokens at all. Each is the whole `Authorization` header.
 */
export async function badAuthorizations(
  key: SigningKey,
  good: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const now = nowSeconds();
  const other = await signingKey(KID);
  const stranger = await signingKey('unknown-kid');
  const valid = await sign(key, good);
  const [head, , signature] = valid.split('.');
  const escalated = { ...good, scope: 'system/*.cruds', iss: ISSUER, aud: AUDIENCE, exp: now + 60 };
  const hmac = await new SignJWT({ ...good, iss: ISSUER, aud: AUDIENCE, exp: now + 3600 })
    .setProtectedHeader({ alg: 'HS256', kid: KID })
    .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
  return {
    expired: `Bearer ${await sign(key, { ...good, iat: now - 7200, exp: now - 3600 })}`,
    'not yet valid': `Bearer ${await sign(key, { ...good, nbf: now + 3600 })}`,
    'wrong audience': `Bearer ${await sign(key, { ...good, aud: 'https://elsewhere.example/fhir' })}`,
    'wrong issuer': `Bearer ${await sign(key, { ...good, iss: 'https://login.elsewhere.example' })}`,
    'no expiry': `Bearer ${await sign(key, { ...good, exp: undefined })}`,
    'another key, same kid': `Bearer ${await sign(other, good)}`,
    'another key, unknown kid': `Bearer ${await sign(stranger, good, { kid: 'unknown-kid' })}`,
    'alg none': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(escalated)}.`,
    'HMAC with the public key': `Bearer ${hmac}`,
    'payload changed after signing': `Bearer ${head ?? ''}.${b64(escalated)}.${signature ?? ''}`,
    'not a JWT': 'Bearer not-a-token',
    'three garbage parts': 'Bearer e30.bm90IGpzb24.c2ln',
    'Basic scheme': `Basic ${Buffer.from('clinician:password').toString('base64')}`,
    'empty bearer': 'Bearer ',
  };
}

// ---- the records -------------------------------------------------------------------------------

export function journeyStart(): Resource[] {
  const bundle = JSON.parse(
    readFileSync(join(EXAMPLES_DIR, 'journey', '01-community-start.json'), 'utf8'),
  ) as Bundle;
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

export function journeyResponse(): QuestionnaireResponse {
  return journeyStart().find(
    (r): r is QuestionnaireResponse => r.resourceType === 'QuestionnaireResponse',
  ) as QuestionnaireResponse;
}

export const otherPatient: Patient = {
  resourceType: 'Patient',
  id: OTHER,
  identifier: [{ system: NHS_SYSTEM, value: OTHER_NHS }],
  name: [{ family: 'Quennell', given: ['Tobias'] }],
  birthDate: '1984-02-29',
};

function carer(id: string, given: string): RelatedPerson {
  return {
    resourceType: 'RelatedPerson',
    id,
    active: true,
    patient: { reference: `Patient/${MEGAN}` },
    name: [{ family: 'Ashdown', given: [given] }],
  };
}

function consent(id: string, provision: Consent['provision']): Consent {
  return {
    resourceType: 'Consent',
    id,
    status: 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${MEGAN}` },
    ...(provision ? { provision } : {}),
  };
}

const planClass = [{ system: 'http://hl7.org/fhir/resource-types', code: 'CarePlan' }];
const access = [
  { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] },
];

/** The carers without a share: one whose Consent ended, one with a permit and a deny. */
export const lapsedAndDenied: Resource[] = [
  carer('carer-lapsed', 'Robin'),
  carer('carer-denied', 'Morgan'),
  consent('consent-lapsed', {
    type: 'permit',
    period: { start: '2025-01-01', end: '2025-06-30' },
    actor: [{ role: { text: 'carer' }, reference: { reference: 'RelatedPerson/carer-lapsed' } }],
    action: access,
    class: planClass,
  }),
  consent('consent-permit-then-deny-a', {
    type: 'permit',
    actor: [{ role: { text: 'carer' }, reference: { reference: 'RelatedPerson/carer-denied' } }],
    action: access,
    class: planClass,
  }),
  consent('consent-permit-then-deny-b', {
    type: 'deny',
    actor: [{ role: { text: 'carer' }, reference: { reference: 'RelatedPerson/carer-denied' } }],
  }),
];

// ---- the service ---------------------------------------------------------------------------------

export interface MatrixService {
  readonly service: TestService;
  readonly key: SigningKey;
  /** Where handovers go: a port nothing listens on (the Task fails; nothing else depends on it). */
  readonly peers: Peers;
}

export async function startMatrixService(): Promise<MatrixService> {
  const key = await signingKey();
  const verifier = createTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: { keys: [key.publicJwk] },
  });
  const holder: { authenticate?: Authenticate } = {};
  const port = await freePort();
  const nowhere = await freePort();
  const peers: Peers = {
    self: {
      id: 'community',
      setting: 'community',
      organization: { reference: 'Organization/northbrook-community-trust' },
      baseUrl: `http://127.0.0.1:${port}/fhir`,
    },
    peers: [
      {
        id: 'ward',
        setting: 'inpatient',
        organization: { reference: 'Organization/westmere-inpatient-trust' },
        baseUrl: `http://127.0.0.1:${nowhere}/fhir`,
        auth: { type: 'none' },
      },
    ],
  };
  const service = await startService({
    port,
    authenticate: (req) => {
      if (!holder.authenticate) throw new Error('not started');
      return holder.authenticate(req);
    },
    peers,
    // One attempt, then the Task fails: no retries running on in the background.
    delivery: { maxAttempts: 1, pollMs: 60_000, baseDelayMs: 60_000, requestTimeoutMs: 2_000 },
  });
  holder.authenticate = bearerAuthenticate(verifier, service.store, () => new Date());
  const questionnaire = JSON.parse(
    readFileSync(
      join(__dirname, '..', '..', 'profiles', 'package', 'Questionnaire-dialog.json'),
      'utf8',
    ),
  ) as Resource;
  for (const resource of [...journeyStart(), otherPatient, ...lapsedAndDenied, questionnaire])
    await service.store.update(resource);
  return { service, key, peers };
}

// ---- the recording client ------------------------------------------------------------------------

export interface Sent {
  readonly requestId: string;
  readonly role: RoleName | 'bad-token';
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Whether the request carried the caller's credentials (a token, or the page's cookie). */
  readonly credentials: boolean;
  /** Whether the service audits this path (/fhir and /native but metadata; /ui but sign-in). */
  readonly audited: boolean;
  /** The resource the request names (`Type/id`), when it names one. */
  readonly target?: string;
  /** Ids of the searched type the response listed (a search's results). */
  readonly listed: readonly string[];
  readonly listedType?: string;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body as JSON when it is JSON. */
  readonly json: Json;
}

let counter = 0;

/** Sends requests for one caller (a header, or a cookie for /ui) and records every one. */
export class Caller {
  private readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(
    readonly base: string,
    readonly role: RoleName | 'bad-token',
    private readonly authorization: string | undefined,
    private readonly sent: Sent[],
  ) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  async send(
    label: string,
    method: string,
    path: string,
    options: {
      body?: string;
      type?: string;
      form?: Record<string, string>;
      target?: string;
    } = {},
  ): Promise<Answer> {
    counter += 1;
    const requestId = `matrix-${counter}-${Math.random().toString(36).slice(2, 10)}`;
    const ui = path.startsWith('/ui');
    const headers: Record<string, string> = { 'x-request-id': requestId };
    if (!ui && this.authorization !== undefined) headers.authorization = this.authorization;
    if (ui && this.cookies.size > 0) headers.cookie = this.cookieHeader;
    let body: string | undefined = options.body;
    if (options.form) {
      body = new URLSearchParams({ _csrf: this.csrf, ...options.form }).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (body !== undefined)
      headers['content-type'] = options.type ?? 'application/fhir+json';
    const credentials = ui
      ? (this.cookies.get('dlg_ui_token') ?? '') !== ''
      : this.authorization !== undefined;
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
    });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const at = pair?.indexOf('=') ?? -1;
      if (pair && at > 0) this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    const text = await res.text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (csrf) this.csrf = csrf;
    let json: Json;
    if (/^application\/(fhir\+)?json\b/.test(res.headers.get('content-type') ?? ''))
      json = JSON.parse(text) as Json;
    const pathOnly = path.split('?')[0] ?? '';
    const listedType =
      json?.resourceType === 'Bundle' && json.type === 'searchset'
        ? /^\/fhir\/([A-Z][A-Za-z]+)$/.exec(pathOnly)?.[1]
        : undefined;
    const listed =
      listedType !== undefined
        ? ((json.entry ?? []) as Json[])
            .map((e) => e.resource)
            .filter((r: Json) => r?.resourceType === listedType)
            .map((r: Json) => String(r.id))
        : [];
    this.sent.push({
      requestId,
      role: this.role,
      label,
      method,
      path,
      status: res.status,
      credentials,
      audited: isAudited(pathOnly),
      ...(options.target ? { target: options.target } : {}),
      listed,
      ...(listedType ? { listedType } : {}),
    });
    return { status: res.status, headers: res.headers, text, json };
  }

  /** Signs in to the clinician page with this caller's token (the cookie the page keeps). */
  async signIn(token: string): Promise<void> {
    await this.send('ui sign-in page', 'GET', '/ui/login');
    const res = await this.send('ui sign-in', 'POST', '/ui/login', { form: { token } });
    if (res.status !== 303) throw new Error(`sign-in refused for ${this.role}: ${res.status}`);
    // Signing in gives the browser a new id: the forms' CSRF token is read again.
    await this.send('ui sign-in page', 'GET', '/ui/login');
  }
}

/** Which paths the service writes an AuditEvent for (see src/api/audit-trail.ts, app.ts). */
export function isAudited(path: string): boolean {
  if (path === '/fhir/metadata' || path === '/healthz' || path === '/readyz') return false;
  if (path.startsWith('/ui')) return !/^\/ui\/(static|login|logout)(\/|$)/.test(path);
  return path.startsWith('/fhir') || path.startsWith('/native');
}
