/**
 * Rate limiting per caller (bearer token subject when present, else the address): 429 with
 * `Retry-After` and an OperationOutcome. Health checks are not limited (they are routed before).
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import rateLimit, { ipKeyGenerator } from 'express-rate-limit';
import { error, outcome } from '../validation';
import { sendFhir } from './http';

export function rateLimiter(perMinute: number) {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: callerKey,
    handler: (_req: Request, res: Response) => {
      sendFhir(
        res,
        429,
        outcome([error('throttled', 'Too many requests: wait and try again', 'Resource')]),
      );
    },
  });
}

/** The token (hashed: it is a secret) when there is one, so callers behind one proxy are apart. */
function callerKey(req: Request): string {
  const auth = req.headers.authorization;
  if (auth) return createHash('sha256').update(auth).digest('base64url');
  // IPv6 addresses are grouped by /56, so one client cannot dodge the limit by changing address.
  return ipKeyGenerator(req.ip ?? 'unknown');
}
