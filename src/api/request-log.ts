/**
 * One structured log line per request: request id, method, route pattern, status and latency.
 * The route pattern (`/fhir/:type/:id`), not the URL, is logged: URLs carry ids and search values
 * (an NHS number in `identifier=`), which never go into logs.
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type winston from 'winston';

const REQUEST_ID = /^[A-Za-z0-9-]{1,64}$/;

export function requestLog(logger: winston.Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      logger.info('request', {
        requestId,
        method: req.method,
        route: routeOf(req, res),
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  };
}

/**
 * The route pattern a request matched, under its mount path (`/fhir/Encounter/:id`); never the
 * URL. The mount path is the one `noteMount` kept: once an error has left a router, Express has
 * put `req.baseUrl` back to the app's.
 */
export function routeOf(req: Request, res: Response): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  const mounted = res.locals.mountPath as string | undefined;
  const base = pattern !== undefined && mounted !== undefined ? mounted : req.baseUrl;
  if (typeof pattern === 'string') return `${base}${pattern}`;
  if (Array.isArray(pattern)) return `${base}${String(pattern[0])}`;
  return base || 'unmatched';
}

/** Middleware for the head of a mounted router: keeps its mount path for `routeOf`. */
export function noteMount(req: Request, res: Response, next: NextFunction): void {
  res.locals.mountPath = req.baseUrl;
  next();
}
