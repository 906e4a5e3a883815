/**
 * Stopping without cutting anyone off (graceful shutdown, src/cli/serve.ts). Once `stop` is
 * called:
 * - each request still being answered gets `Connection: close` on its response, so its
 *   connection ends with it rather than taking more requests;
 * - a request that arrives after it (on a connection kept alive by a proxy or a client's pool,
 *   which `server.close()` does not end) is answered 503 `Connection: close`, to be sent again
 *   elsewhere or after the restart — not started and then cut when the drain time is up.
 * `/healthz` and `/readyz` still answer (the latter "not ready: stopping").
 */
import type { NextFunction, Request, Response } from 'express';
import { fault } from '../service/outcomes';

const ALWAYS_ANSWERED = new Set(['/healthz', '/readyz']);

export class Draining {
  private stopping = false;
  /** Responses not yet sent, to be told to close their connection. */
  private readonly inFlight = new Set<Response>();

  get stopped(): boolean {
    return this.stopping;
  }

  stop(): void {
    this.stopping = true;
    for (const res of this.inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      if (this.stopping) {
        res.setHeader('Connection', 'close');
        if (!ALWAYS_ANSWERED.has(req.path)) {
          res.setHeader('Retry-After', '1');
          next(
            fault(
              503,
              'transient',
              'This service is stopping: send the request again (it was not started)',
              'Resource',
            ),
          );
          return;
        }
        next();
        return;
      }
      this.inFlight.add(res);
      res.once('close', () => this.inFlight.delete(res));
      next();
    };
  }
}
