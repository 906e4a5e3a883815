/**
 * What clients may keep, and when a read is answered 304.
 * - `Cache-Control: no-store` on /fhir, /native and /ui: patient data is not kept by browsers
 *   (a shared ward PC's disk cache, the back button) or proxies. Without it a browser may reuse a
 *   response for a while without asking (heuristic freshness from Last-Modified), showing a plan
 *   that has since changed.
 * - Conditional reads are by version only: a read or vread with `If-None-Match` naming the
 *   current ETag is a 304 (Express answers it from the ETag the route sets). `If-Modified-Since`
 *   is ignored: Last-Modified has whole seconds, and a record can change twice within one, so
 *   a client could be told an older version is current.
 */
import type { NextFunction, Request, Response } from 'express';

export function cachingRules(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Cache-Control', 'no-store');
  delete req.headers['if-modified-since'];
  next();
}
