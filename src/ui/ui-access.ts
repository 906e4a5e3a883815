/**
 * Who is using the clinician page, and that a form really came from it.
 *
 * A browser cannot send a bearer header with a form post, so the page keeps the caller's bearer
 * token in a cookie (`dlg_ui_token`: HttpOnly, SameSite=Strict, Path=/ui, Secure over https),
 * set by the /ui/login form where a clinician pastes a token. Every /ui request puts that token
 * in `Authorization` and is authenticated by the same `Authenticate` the API uses, so scopes,
 * patient context and carers' consent apply exactly as on /fhir. In production a SMART on FHIR
 * login (authorization code + PKCE) would set the cookie instead of pasting; the rest stays.
 * With AUTH=off no login is needed.
 *
 * CSRF: each browser gets a random id in `dlg_ui_sid` (HttpOnly, SameSite=Strict); every form
 * carries `_csrf` = HMAC-SHA256(server secret, that id), checked on every POST (constant-time).
 * A page on another site can neither read the cookie nor compute the HMAC. Signing in gives a new
 * id, so a token planted before login is useless afterwards.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Authenticate } from '../api/access';
import { authOffAccess } from '../api/bearer-access';
import { configuredBase } from '../api/http';
import type { Access } from '../service/access';

export const TOKEN_COOKIE = 'dlg_ui_token';
export const SID_COOKIE = 'dlg_ui_sid';
const COOKIE_PATH = '/ui';
/** Longer than any sensible token: a cookie header is bounded by the server anyway. */
const MAX_TOKEN_LENGTH = 8192;

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    const name = part.slice(0, at).trim();
    const raw = part.slice(at + 1).trim();
    try {
      if (!cookies.has(name)) cookies.set(name, decodeURIComponent(raw));
    } catch {
      // A cookie that is not valid percent-encoding is ignored.
    }
  }
  return cookies;
}

/**
 * Whether the browser reached the service over HTTPS: the request itself, or (behind a proxy
 * that ends TLS, where the request is plain HTTP) the configured public address (BASE_URL).
 */
function isSecure(req: Request): boolean {
  return req.secure || (configuredBase(req)?.startsWith('https:') ?? false);
}

function cookieHeader(req: Request, name: string, value: string, maxAgeSeconds?: number): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${COOKIE_PATH}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(isSecure(req) ? ['Secure'] : []),
    ...(maxAgeSeconds !== undefined ? [`Max-Age=${maxAgeSeconds}`] : []),
  ].join('; ');
}

function addCookie(res: Response, cookie: string): void {
  const existing = res.getHeader('Set-Cookie');
  const list = Array.isArray(existing) ? existing : existing ? [String(existing)] : [];
  res.setHeader('Set-Cookie', [...list, cookie]);
}

export interface UiAccessOptions {
  /** The API's authentication; undefined means AUTH=off. */
  readonly authenticate?: Authenticate;
  /** The CSRF key (default: random per process, so a restart asks forms to be reloaded). */
  readonly secret?: Buffer;
}

export class UiAccess {
  private readonly secret: Buffer;
  readonly authRequired: boolean;

  constructor(private readonly options: UiAccessOptions) {
    this.secret = options.secret ?? randomBytes(32);
    this.authRequired = options.authenticate !== undefined;
  }

  /** The browser's id (made and set now when it has none). */
  sid(req: Request, res: Response): string {
    const known = res.locals.uiSid as string | undefined;
    if (known) return known;
    const sent = parseCookies(req.headers.cookie).get(SID_COOKIE);
    const sid = sent && /^[A-Za-z0-9_-]{43}$/.test(sent) ? sent : this.newSid(req, res);
    res.locals.uiSid = sid;
    return sid;
  }

  private newSid(req: Request, res: Response): string {
    const sid = randomBytes(32).toString('base64url');
    addCookie(res, cookieHeader(req, SID_COOKIE, sid));
    res.locals.uiSid = sid;
    return sid;
  }

  csrfToken(req: Request, res: Response): string {
    return createHmac('sha256', this.secret).update(this.sid(req, res)).digest('base64url');
  }

  /** Whether the form's `_csrf` is the one this browser's id gives. */
  csrfValid(req: Request, res: Response): boolean {
    const sent = parseCookies(req.headers.cookie).get(SID_COOKIE);
    const body = req.body as Record<string, unknown> | undefined;
    const field = body?._csrf;
    if (!sent || typeof field !== 'string') return false;
    const expected = Buffer.from(this.csrfToken(req, res));
    const given = Buffer.from(field);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** The caller's Access from the token cookie (AUTH=off: everyone's); throws when refused. */
  async access(req: Request): Promise<Access> {
    if (!this.options.authenticate) return authOffAccess();
    const token = parseCookies(req.headers.cookie).get(TOKEN_COOKIE);
    if (!token) throw new SignInNeeded('Sign in to use the clinician page.');
    req.headers.authorization = `Bearer ${token}`;
    try {
      return await this.options.authenticate(req);
    } catch {
      throw new SignInNeeded('Your sign-in was not accepted (it may have expired). Sign in again.');
    }
  }

  /** Checks a pasted token with the API's authentication; on success sets the cookie. */
  async signIn(req: Request, res: Response, token: string): Promise<boolean> {
    const trimmed = token.trim().replace(/^Bearer\s+/i, '');
    if (!this.options.authenticate || trimmed.length === 0 || trimmed.length > MAX_TOKEN_LENGTH)
      return false;
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(trimmed)) return false;
    req.headers.authorization = `Bearer ${trimmed}`;
    try {
      await this.options.authenticate(req);
    } catch {
      return false;
    }
    addCookie(res, cookieHeader(req, TOKEN_COOKIE, trimmed));
    this.newSid(req, res);
    return true;
  }

  signOut(req: Request, res: Response): void {
    addCookie(res, cookieHeader(req, TOKEN_COOKIE, '', 0));
    this.newSid(req, res);
  }
}

export class SignInNeeded extends Error {}

/** Middleware: every /ui request has a browser id, so every page can carry a CSRF token. */
export function withSid(ui: UiAccess) {
  return (req: Request, res: Response, next: NextFunction): void => {
    ui.sid(req, res);
    next();
  };
}
