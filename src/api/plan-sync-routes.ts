/**
 * `POST /fhir/$plan-sync-notification/{peer}`: the rest-hook endpoint a peer's Subscription
 * notifies (src/transfer/plan-sync.ts). The body is the notification — a Bundle naming the changed
 * CarePlans (entries, or `SubscriptionStatus` / `Parameters` event focus), a bare CarePlan, or
 * nothing (a ping) — and the changed plans are pulled from the peer at once and merged into this
 * system's copy. Answers 200 with an OperationOutcome saying how many were pulled. The caller
 * needs to be allowed to update CarePlans (the peer's client token). Also starts the peers' polls
 * in the handover deliverer's loop, when `syncPollMs` is set.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { fault } from '../service/outcomes';
import type { FhirService } from '../service/fhir-service';
import type { HandoverDeliverer } from '../transfer/deliver';
import { PlanSync, UnknownPeerError } from '../transfer/plan-sync';
import { BODY_LIMIT_BYTES, parseJson, rawText } from './body';
import { accessOf } from './fhir-routes';
import { sendFhir } from './http';

/** The route under `/fhir/$plan-sync-notification` (where createApp mounts it). */
export function planSyncRoutes(
  deliverer: HandoverDeliverer | undefined,
  service: FhirService,
): Router {
  const router = Router();
  const options = deliverer?.options;
  const sync = options
    ? new PlanSync({
        store: options.store,
        peers: options.peers,
        logger: options.logger,
        // What a peer's record brings is checked as any client's write is.
        validate: (resource) => service.validate(resource),
        ...(options.now ? { now: options.now } : {}),
        ...(options.remoteFor ? { remoteFor: options.remoteFor } : {}),
        ...(options.requestTimeoutMs !== undefined
          ? { requestTimeoutMs: options.requestTimeoutMs }
          : {}),
        ...(options.syncPollMs !== undefined ? { pollMs: options.syncPollMs } : {}),
      })
    : undefined;
  if (sync)
    deliverer?.alsoRun(
      () => sync.pollDue(),
      () => sync.stop(),
    );
  router.post(
    '/:peer',
    // Any media type (a peer's rest-hook may send plain JSON), but read as every body is:
    // strictly UTF-8, the prototype-pollution scan, the body limit (src/api/body.ts).
    rawText(BODY_LIMIT_BYTES),
    parseJson,
    (req: Request, res: Response, next: NextFunction) => {
      if (!sync) {
        next(
          fault(422, 'not-supported', 'No peer systems are configured here (PEERS_FILE)', 'Bundle'),
        );
        return;
      }
      const access = accessOf(res);
      access.check('update', 'CarePlan');
      // A notification makes this service pull from a peer: a peer system's (system/ scopes)
      // to send, not a clinician's or a person's.
      const { mode, scopes } = access.context;
      if (
        access.patient !== undefined ||
        !(mode === 'off' || scopes.some((sc) => sc.context === 'system'))
      ) {
        next(fault(403, 'forbidden', 'Only a peer system may notify plan changes', 'Bundle'));
        return;
      }
      sync.notified(String(req.params.peer), req.body).then(
        (report) => {
          const result: OperationOutcome = {
            resourceType: 'OperationOutcome',
            issue: [
              {
                severity: 'information',
                code: 'informational',
                details: {
                  text: `${report.pulled} of ${report.seen} changed plan(s) brought into this system's copy`,
                },
              },
            ],
          };
          sendFhir(res, 200, result);
        },
        (err: unknown) => {
          next(
            err instanceof UnknownPeerError ? fault(404, 'not-found', err.message, 'Bundle') : err,
          );
        },
      );
    },
  );
  return router;
}
