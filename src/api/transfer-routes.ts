/**
 * `POST /fhir/Patient/{id}/$transfer`: hands the person's one plan over to a peer system. Answers
 * 202 Accepted with the handover Task (and its Content-Location); the caller follows the Task,
 * which ends completed or failed with a reason.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Parameters } from '@medplum/fhirtypes';
import { bodyOfType } from '../service/fhir-service';
import { fault } from '../service/outcomes';
import type { Transfers } from '../transfer/handover';
import { readTransferParameters } from '../transfer/handover';
import { jsonBody } from './body';
import { accessOf } from './fhir-routes';
import { fhirBase, sendFhir } from './http';

/** The route under `/fhir/Patient` (where createApp mounts it). */
export function transferRoutes(transfers: Transfers | undefined): Router {
  const router = Router();
  router.post('/:id/\\$transfer', jsonBody, (req: Request, res: Response, next: NextFunction) => {
    if (!transfers) {
      next(
        fault(
          422,
          'not-supported',
          'No peer systems are configured here (PEERS_FILE), so plans cannot be handed over',
          'Parameters',
        ),
      );
      return;
    }
    const params = bodyOfType(req.body, 'Parameters') as Parameters;
    const request = readTransferParameters(String(req.params.id), params);
    transfers.request(accessOf(res), request).then((task) => {
      sendFhir(res, 202, task, {
        'Content-Location': `${fhirBase(req)}/Task/${task.id ?? ''}/_history/${task.meta?.versionId ?? ''}`,
      });
    }, next);
  });
  return router;
}
