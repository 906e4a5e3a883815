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
 * - **new tokens, per client address**: a token's first request (a bearer JWT not known yet) is
 *   let through on the address's count of them, since which caller it names is only known once it
 *   is verified: minting a token per request gains `limit` requests a minute per address at most,
 *   and a NAT may see `limit` new tokens a minute. It is verified even while the address is over
 *   its failure limit: only verifying tells a new caller from a stale or forged token, and
 *   refusing them all would let one host (or the clients holding tokens from before a restart,
 *   which forgets them) shut out a NAT's new callers. A token sent where no bearer token is read
 *   (neither verified nor refused) stays counted here.
 * - **failed authentication, per client address** (IPv6 grouped by /56, so changing address
 *   within one's own block gains nothing), stricter: `failedLimit`, at most
 *   FAILED_AUTH_PER_MINUTE. A new token refused with 401 moves here from the new tokens while this
 *   has room, so those failures do not use up what new callers need; past it, a refused token
 *   stays counted as a new token as well, so an address has at most `limit + failedLimit` tokens
 *   verified a minute. A `Bearer` header holding no JWT cannot be verified at all: it counts here
 *   from the start, and is refused while this is full.
 * - **the address's** for what offers no bearer token: requests without an Authorization header
 *   (the clinician pages, signed in by cookie, and `/ui/login`), with another scheme (a proxy may
 *   add its own `Basic`), and every request with `AUTH=off` (where a token names no one). They stay
 *   here whatever the answer (a 401, or a token pasted into `/ui/login` and refused, included),
 *   and failures never refuse them: a NAT's clinicians are not shut out of their pages by what
 *   other hosts behind it send.
 * So refused bearer tokens never use up the clinician pages' limit, and nothing from an address
 * uses up a known caller's: callers behind one NAT each have their own limit from their first
 * request. The price: once an address has sent the limit's worth of new tokens this minute
 * (refused ones among them, past the failure limit), a new caller's first request from it is a
 * 429 until the minute ends (known callers carry on).
 *
 * Every request is counted as it arrives, in the bucket it can be charged to then, so requests
 * under way at once cannot all pass a check that only ended ones count in. When it ends (on
 * `close`, so a client hanging up is counted too) and it is known what it was, its count moves if
 * need be: a verified new token counts in its caller's bucket as well, a refused one in the
 * failures' (leaving the new tokens' while the failures' has room), and with `AUTH=off` a token's
 * goes to the address's. (createApp tells the limiter when AUTH=off, so from the first request
 * every request is the address's; a limiter not told learns it from the first answer.)
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
/** The Bearer scheme, whatever follows it. */
const BEARER_SCHEME = /^\s*Bearer(\s|$)/i;
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

const TOO_MANY = 'Too many requests: wait and try again';
const TOO_MANY_FAILED = 'Too many failed authentications from this address: wait and try again';

const hashOf = (text: string): string => createHash('sha256').update(text).digest('base64url');

/** The normalised token of an Authorization header, hashed, or undefined if it holds none. */
function tokenHash(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_AUTHORIZATION_LENGTH)
    return undefined;
  const token = BEARER.exec(authorization)?.[1];
  return token === undefined ? undefined : hashOf(token);
}

/**
 * How a request from no known caller is charged: `new-token` (a bearer JWT to verify), `no-token`
 * (a `Bearer` header that holds none: a failure wherever a token is read), or `address` (no
 * bearer token offered).
 */
type Unknown = 'new-token' | 'no-token' | 'address';

/** The bucket each kind is counted in when it arrives (a `Bearer` header without a token fails). */
const BUCKET: Record<Unknown, string> = {
  'new-token': 'new-tokens',
  'no-token': 'failed',
  address: 'address',
};

/** A request from no known caller, as counted when it arrived. */
interface Charged {
  readonly kind: Unknown;
  readonly address: string;
  readonly hash: string | undefined;
  readonly counted: Window;
}

function unknownKind(authorization: string | undefined, hash: string | undefined): Unknown {
  if (hash !== undefined) return 'new-token';
  if (authorization !== undefined && BEARER_SCHEME.test(authorization)) return 'no-token';
  return 'address';
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

interface Window {
  count: number;
  endsAt: number;
}

/** Fixed one-minute windows of counts per bucket key; windows past are dropped as time goes. */
class Windows {
  private readonly counts = new Map<string, Window>();
  private nextSweep = 0;

  private window(key: string, now: number): Window {
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

  /** Counts one request in `key`'s window; returns that window, to take the count back from. */
  add(key: string, now: number): Window {
    const window = this.window(key, now);
    window.count++;
    return window;
  }

  /** Takes back a count `add` made (if its window has ended since, that changes nothing now). */
  takeBack(window: Window): void {
    if (window.count > 0) window.count--;
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

export interface RateLimitOptions {
  /** AUTH=off: a token names no one, so every request is its address's. */
  readonly authOff?: boolean;
  /** Failed authentications an address may have a minute (default: the limit, at most 30). */
  readonly failedLimit?: number;
}

export function rateLimiter(limit: number, options: RateLimitOptions = {}): RequestHandler {
  const failedLimit = options.failedLimit ?? Math.min(limit, FAILED_AUTH_PER_MINUTE);
  const known = new KnownTokens();
  const windows = new Windows();
  // Said by the app; else learnt from the first request answered (until then, requests with a
  // token would be charged as new tokens and moved to the address's once answered).
  let authOff = options.authOff ?? false;

  /** A known caller's request: counted in its bucket, the token forgotten if refused (expired). */
  const fromKnownCaller = (res: Response, caller: string, hash: string, now: number): boolean => {
    const wait = windows.full(caller, limit, now);
    if (wait !== undefined) {
      tooMany(res, wait, TOO_MANY);
      return false;
    }
    windows.add(caller, now);
    res.once('close', () => {
      if (res.statusCode === 401) known.forget(hash);
    });
    return true;
  };

  /** Any other request: counted now in the bucket its kind is charged to, moved once answered. */
  const fromUnknown = (req: Request, res: Response, hash: string | undefined, now: number) => {
    const address = ipKeyGenerator(req.ip ?? 'unknown');
    const kind = unknownKind(authOff ? undefined : req.headers.authorization, hash);
    const charged = `${BUCKET[kind]}:${address}`;
    const wait = windows.full(charged, kind === 'no-token' ? failedLimit : limit, now);
    if (wait !== undefined) {
      tooMany(res, wait, kind === 'no-token' ? TOO_MANY_FAILED : TOO_MANY);
      return false;
    }
    const counted = windows.add(charged, now);
    res.once('close', () => {
      settle(res, { kind, address, hash, counted });
    });
    return true;
  };

  /** Once a request from no known caller is answered, moves its count to where it belongs. */
  const settle = (res: Response, request: Charged): void => {
    const { kind, address, hash, counted } = request;
    const access = res.locals.access as Access | undefined;
    const at = Date.now();
    const mode = access?.context.mode;
    if (mode === 'off') {
      // No token names anyone: the address's, as every request is from now on.
      authOff = true;
      if (kind === 'address') return;
      windows.takeBack(counted);
      windows.add(`address:${address}`, at);
      return;
    }
    // What offered no bearer JWT stays where it was counted, whatever the answer.
    if (kind !== 'new-token' || hash === undefined) return;
    if (res.statusCode === 401) {
      const failed = `failed:${address}`;
      if (windows.full(failed, failedLimit, at) === undefined) windows.takeBack(counted);
      windows.add(failed, at);
    } else if (mode === 'jwt') {
      // Verified: its caller's from now on, and still one of the address's new tokens.
      const key = callerKey(access as Access);
      known.remember(hash, key, at);
      windows.add(key, at);
    }
  };

  return (req: Request, res: Response, next: NextFunction) => {
    const now = Date.now();
    const hash = authOff ? undefined : tokenHash(req.headers.authorization);
    const caller = hash === undefined ? undefined : known.callerOf(hash, now);
    const admitted =
      caller !== undefined && hash !== undefined
        ? fromKnownCaller(res, caller, hash, now)
        : fromUnknown(req, res, hash, now);
    if (admitted) next();
  };
}
