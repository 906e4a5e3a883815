/**
 * Rate limiting: 429 with `Retry-After` and an OperationOutcome. Health checks and the
 * CapabilityStatement are not limited (they are routed before).
 *
 * The limiter runs before authentication (so refused logins are limited too), where a token is
 * only a string the client chose: keying on that string would give a fresh bucket to every
 * invented or respelled token (`bearer`, `BEARER`, extra spaces). So there are four kinds of
 * bucket, each of `limit` requests a minute but the failures':
 * - **an authenticated caller's own** (the token's `sub` and client, hashed): a token counts
 *   there once a request carrying it has been verified (AUTH on). The token (normalised: the JWT
 *   alone, whatever the spelling of the scheme; hashed: it is a secret) is then remembered, for
 *   at most a token lifetime (KNOWN_FOR_MS, or until a request with it is refused with 401), in a
 *   bounded LRU. Its first request counts there too, once verified; every token of one caller
 *   shares the one bucket.
 * - **new tokens, per client address**: a token's first request is let through on the address's
 *   count of tokens not known yet (verified or not, bar those refused), since which caller it
 *   names is only known once it is verified: minting a token per request gains `limit` requests
 *   a minute per address at most, and a NAT may see `limit` new tokens a minute.
 * - **failed authentication, per client address** (IPv6 grouped by /56, so changing address
 *   within one's own block gains nothing), stricter: `failedLimit`, at most
 *   FAILED_AUTH_PER_MINUTE. Every 401 counts there; while it is full, requests from that address
 *   that carry no known token are refused before being verified.
 * - **the address's** for what names no caller and is not refused: every request with
 *   `AUTH=off` (where a token names no one), and requests served without a bearer token (the
 *   clinician pages, signed in by cookie). A token sent where no bearer token is read (neither
 *   verified nor refused) counts as a new token.
 * So failed logins and requests without a token never use up what new callers need, and nothing
 * from an address uses up a known caller's: callers behind one NAT each have their own limit
 * from their first request. The price: while an address is over its failed-authentication limit,
 * or has sent `limit` new tokens this minute, a new caller's first request from it is a 429 until
 * the minute ends (known callers carry on).
 *
 * All but a known caller's requests are counted as they end (that is when it is known what they
 * were; on `close`, so a client hanging up before its answer is counted too), and requests
 * already under way when a bucket fills are still answered.
 */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import type { Access } from '../service/access';
import { error, outcome } from '../validation';
import { sendFhir } from './http';

/** How long a verified token keeps its caller's bucket without being seen verified again. */
export const KNOWN_FOR_MS = 60 * 60_000;
/** How many verified tokens are remembered (least recently used go first). */
export const MAX_KNOWN_TOKENS = 10_000;
/** The most failed authentications an address may have a minute (fewer if the limit is lower). */
export const FAILED_AUTH_PER_MINUTE = 30;
const WINDOW_MS = 60_000;

/** The same shape src/auth accepts: any case of the scheme, any spaces, a three-part JWT. */
const BEARER = /^\s*Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$/i;
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

const hashOf = (text: string): string => createHash('sha256').update(text).digest('base64url');

/** The normalised token of an Authorization header, hashed, or undefined if it holds none. */
function tokenHash(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_AUTHORIZATION_LENGTH)
    return undefined;
  const token = BEARER.exec(authorization)?.[1];
  return token === undefined ? undefined : hashOf(token);
}

/**
 * Hashes of verified tokens, each with its caller's bucket key and when it stops counting as
 * known (insertion = LRU order).
 */
class KnownTokens {
  private readonly known = new Map<string, { caller: string; until: number }>();

  callerOf(hash: string, now: number): string | undefined {
    const entry = this.known.get(hash);
    if (entry === undefined) return undefined;
    this.known.delete(hash);
    if (entry.until <= now) return undefined;
    this.known.set(hash, entry); // most recently used last
    return entry.caller;
  }

  remember(hash: string, caller: string, now: number): void {
    this.known.delete(hash);
    this.known.set(hash, { caller, until: now + KNOWN_FOR_MS });
    if (this.known.size > MAX_KNOWN_TOKENS) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }

  forget(hash: string): void {
    this.known.delete(hash);
  }
}

/** Fixed one-minute windows of counts per bucket key; windows past are dropped as time goes. */
class Windows {
  private readonly counts = new Map<string, { count: number; endsAt: number }>();
  private nextSweep = 0;

  private window(key: string, now: number): { count: number; endsAt: number } {
    this.sweep(now);
    let window = this.counts.get(key);
    if (window === undefined || window.endsAt <= now) {
      window = { count: 0, endsAt: now + WINDOW_MS };
      this.counts.set(key, window);
    }
    return window;
  }

  /** Seconds until `key`'s window ends if it holds `limit` already, else undefined. */
  full(key: string, limit: number, now: number): number | undefined {
    const window = this.counts.get(key);
    if (window === undefined || window.endsAt <= now || window.count < limit) return undefined;
    return Math.max(1, Math.ceil((window.endsAt - now) / 1000));
  }

  add(key: string, now: number): void {
    this.window(key, now).count++;
  }

  /** Once a window: forget the windows that have ended, so the map holds only this minute's. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + WINDOW_MS;
    for (const [key, window] of this.counts) if (window.endsAt <= now) this.counts.delete(key);
  }
}

function tooMany(res: Response, retryAfter: number, message: string): void {
  sendFhir(res, 429, outcome([error('throttled', message, 'Resource')]), {
    'Retry-After': String(retryAfter),
  });
}

/** The bucket of the caller a verified request names: its subject and client, hashed. */
function callerKey(access: Access): string {
  const { subject, clientId } = access.context;
  return `caller:${hashOf(JSON.stringify([subject, clientId ?? null]))}`;
}

export function rateLimiter(
  limit: number,
  failedLimit = Math.min(limit, FAILED_AUTH_PER_MINUTE),
): RequestHandler {
  const known = new KnownTokens();
  const windows = new Windows();
  // Learnt from the first request answered: with AUTH=off a token names no one.
  let authOff = false;
  return (req: Request, res: Response, next: NextFunction) => {
    const now = Date.now();
    const hash = authOff ? undefined : tokenHash(req.headers.authorization);
    const caller = hash === undefined ? undefined : known.callerOf(hash, now);
    if (caller !== undefined) {
      const wait = windows.full(caller, limit, now);
      if (wait !== undefined) return tooMany(res, wait, 'Too many requests: wait and try again');
      windows.add(caller, now);
    } else {
      const address = ipKeyGenerator(req.ip ?? 'unknown');
      const failed = windows.full(`failed:${address}`, failedLimit, now);
      if (failed !== undefined)
        return tooMany(
          res,
          failed,
          'Too many failed authentications from this address: wait and try again',
        );
      // A token not known yet may be a new caller's: what the address sent without one (the
      // clinician pages, whose sign-in is a cookie) is not its to bear, nor the reverse.
      const own = `${hash === undefined ? 'address' : 'new-tokens'}:${address}`;
      const full = windows.full(own, limit, now);
      if (full !== undefined) return tooMany(res, full, 'Too many requests: wait and try again');
      res.once('close', () => {
        const access = res.locals.access as Access | undefined;
        const at = Date.now();
        const mode = access?.context.mode;
        if (mode === 'off') authOff = true;
        if (res.statusCode === 401) windows.add(`failed:${address}`, at);
        else if (hash !== undefined && mode === 'jwt') {
          const key = callerKey(access as Access);
          known.remember(hash, key, at);
          windows.add(key, at);
          windows.add(own, at);
        } else windows.add(mode === 'off' ? `address:${address}` : own, at);
      });
    }
    // A known token refused later (expired, revoked) no longer names its caller.
    if (hash !== undefined && caller !== undefined)
      res.once('close', () => {
        if (res.statusCode === 401) known.forget(hash);
      });
    next();
  };
}
