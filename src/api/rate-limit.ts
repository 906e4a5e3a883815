/**
 * Rate limiting per caller: 429 with `Retry-After` and an OperationOutcome. Health checks and the
 * CapabilityStatement are not limited (they are routed before).
 *
 * Who "a caller" is. The limiter runs before authentication (so refused logins are limited too),
 * where a token is only a string the client chose. Keying on that string would let a client get
 * a fresh bucket with every invented token, or by respelling a real one (`bearer`, `BEARER`,
 * extra spaces). So:
 * - a request counts against its token only once that token has been verified: after a request
 *   carrying it was authenticated (AUTH on), the token (normalised: the JWT alone, whatever the
 *   spelling of the scheme, hashed: it is a secret) is remembered, for at most a token lifetime
 *   (KNOWN_FOR_MS, or until a request with it is refused with 401), in a bounded LRU;
 * - everything else counts against the client's address: no token, a malformed one, one not
 *   verified yet (a token's first request, or one that is never valid), and every request with
 *   AUTH=off, where a token names no one. IPv6 addresses are grouped by /56, so one client
 *   cannot dodge the limit by changing address.
 * Callers behind one address (a NAT, a proxy) each have their own bucket once their token is
 * known; they share the address's bucket for first requests only. Junk from that address uses up
 * the address's bucket, never a known caller's.
 */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import rateLimit, { ipKeyGenerator } from 'express-rate-limit';
import type { Access } from '../service/access';
import { error, outcome } from '../validation';
import { sendFhir } from './http';

/** How long a verified token keeps its own bucket without being seen verified again. */
export const KNOWN_FOR_MS = 60 * 60_000;
/** How many verified tokens are remembered (least recently used go first). */
export const MAX_KNOWN_TOKENS = 10_000;

/** The same shape src/auth accepts: any case of the scheme, any spaces, a three-part JWT. */
const BEARER = /^\s*Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$/i;
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

/** The normalised token of an Authorization header, hashed, or undefined if it holds none. */
function tokenHash(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_AUTHORIZATION_LENGTH)
    return undefined;
  const token = BEARER.exec(authorization)?.[1];
  return token === undefined ? undefined : createHash('sha256').update(token).digest('base64url');
}

/** Hashes of verified tokens, each with when it stops counting as known (insertion = LRU order). */
class KnownTokens {
  private readonly until = new Map<string, number>();

  has(hash: string, now: number): boolean {
    const until = this.until.get(hash);
    if (until === undefined) return false;
    if (until <= now) {
      this.until.delete(hash);
      return false;
    }
    return true;
  }

  remember(hash: string, now: number): void {
    this.until.delete(hash);
    this.until.set(hash, now + KNOWN_FOR_MS);
    if (this.until.size > MAX_KNOWN_TOKENS) {
      const oldest = this.until.keys().next().value;
      if (oldest !== undefined) this.until.delete(oldest);
    }
  }

  forget(hash: string): void {
    this.until.delete(hash);
  }
}

export function rateLimiter(perMinute: number): RequestHandler {
  const known = new KnownTokens();
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req: Request) => {
      const hash = tokenHash(req.headers.authorization);
      if (hash !== undefined && known.has(hash, Date.now())) return `token:${hash}`;
      return `address:${ipKeyGenerator(req.ip ?? 'unknown')}`;
    },
    handler: (_req: Request, res: Response) => {
      sendFhir(
        res,
        429,
        outcome([error('throttled', 'Too many requests: wait and try again', 'Resource')]),
      );
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const hash = tokenHash(req.headers.authorization);
    if (hash !== undefined) {
      // Learnt from how the request ended: authentication leaves the caller in res.locals.
      res.once('finish', () => {
        const access = res.locals.access as Access | undefined;
        if (res.statusCode === 401) known.forget(hash);
        else if (access?.context.mode === 'jwt') known.remember(hash, Date.now());
      });
    }
    void limiter(req, res, next);
  };
}
