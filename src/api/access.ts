/**
 * Who is calling, per request: `authenticate` turns the request into an `Access` (src/auth does
 * it for bearer tokens), kept in `res.locals.access` for the routes. With AUTH=off every request
 * gets `openAccess`, which allows everything — set only explicitly, and announced loudly.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Access } from '../service/access';

export type Authenticate = (req: Request) => Promise<Access>;

export function authenticateRequests(authenticate: Authenticate) {
  return (req: Request, res: Response, next: NextFunction): void => {
    authenticate(req).then(
      (access) => {
        res.locals.access = access;
        next();
      },
      (err: unknown) => {
        next(err);
      },
    );
  };
}
