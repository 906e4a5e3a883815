/**
 * Everything under /fhir but `metadata` (answered before the rate limit and without a token:
 * app.ts), as one router mounted at /fhir. A request meets, in order:
 * 1. caching rules → audit trail → authentication → query check, as one step (in-turn.ts);
 * 2. reads (`GET /:type/:id`), the commonest request, before any other route is tried;
 * 3. each set of special routes at its own prefix (Encounter, `$plan-sync-notification`,
 *    `Patient/{id}/$transfer`, `CarePlan/{id}/$letter` and `$chart`), so a request elsewhere
 *    passes it with one prefix test instead of entering its router and trying every route;
 * 4. the generic FHIR routes (fhir-routes.ts).
 * Express's routing was over a tenth of a plain read's CPU when all of these were layers of the
 * app tried one by one. `noteMount` keeps each router's mount path for the logs (request-log.ts).
 */
import { Router } from 'express';
import type { FhirService } from '../service/fhir-service';
import type { HandoverDeliverer } from '../transfer/deliver';
import type { Transfers } from '../transfer/handover';
import { NOTIFICATION_OPERATION } from '../transfer/plan-sync';
import { authenticateRequests, type Authenticate } from './access';
import type { AuditTrail } from './audit-trail';
import { cachingRules } from './caching';
import { encounterRoutes } from './encounter-routes';
import { fhirRoutes, readRoute } from './fhir-routes';
import { inTurn } from './in-turn';
import { letterRoutes } from './letter-routes';
import { planSyncRoutes } from './plan-sync-routes';
import { checkQuery } from './query-parameters';
import { noteMount } from './request-log';
import { transferRoutes } from './transfer-routes';

export interface FhirApiParts {
  readonly service: FhirService;
  readonly now: () => Date;
  readonly audit: AuditTrail;
  readonly authenticate: Authenticate;
  readonly transfers: Transfers | undefined;
  readonly deliverer: HandoverDeliverer | undefined;
}

/** Types whose reads are answered by their own routes, not FhirService. */
const READ_ELSEWHERE: ReadonlySet<string> = new Set(['Encounter']);

export function fhirApi(parts: FhirApiParts): Router {
  const { service, now, audit, authenticate, transfers, deliverer } = parts;
  const router = Router();
  // Audited before authentication, so refused logins are audited too. Parameters an endpoint
  // does not take are a 400, never ignored (query-parameters.ts).
  router.use(
    inTurn(cachingRules, audit.middleware(), authenticateRequests(authenticate), checkQuery),
  );
  router.get('/:type/:id', noteMount, readRoute(service, READ_ELSEWHERE));
  router.use('/Encounter', noteMount, encounterRoutes(service, transfers));
  router.use(`/\\${NOTIFICATION_OPERATION}`, noteMount, planSyncRoutes(deliverer, service));
  router.use('/Patient', noteMount, transferRoutes(transfers));
  router.use('/CarePlan', noteMount, letterRoutes(service));
  router.use(noteMount, fhirRoutes(service, now));
  return router;
}
