/**
 * Several middleware functions as one: each runs when the one before calls `next()`, as they
 * would as separate layers of an Express router, and an error (`next(err)`, a throw or a rejected
 * promise) goes straight to the error handlers.
 *
 * Why: every layer Express's router holds is tried on every request (a path match and a
 * `next` through its dispatch loop), and the steps every /fhir request takes were a tenth of a
 * plain read's CPU as separate layers. Only for middleware that always applies to the same
 * paths: `next('route')` and `next('router')` are not for these steps (they would skip the
 * steps after them) and are turned into an error (a 500).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export function inTurn(...steps: readonly RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    let at = 0;
    const step = (err?: unknown): void => {
      // Passed on, 'route' or 'router' would skip the steps left (authentication among them)
      // as well as the rest of the layer: a step using it is a programming error, said as one.
      if (err === 'route' || err === 'router') {
        next(new Error(`next('${err}') is not for a step of inTurn`));
        return;
      }
      if (err !== undefined && err !== null) {
        next(err);
        return;
      }
      const handler = steps[at++];
      if (handler === undefined) {
        next();
        return;
      }
      try {
        const returned = handler(req, res, step) as unknown;
        // Express 5 turns a rejected promise from a handler into next(err): so does this.
        if (returned instanceof Promise) returned.catch((e: unknown) => step(e ?? new Error()));
      } catch (e) {
        step(e ?? new Error());
      }
    };
    step();
  };
}
