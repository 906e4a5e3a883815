/**
 * `/fhir/Encounter`: Encounters are stored (create, update with `If-Match`, read, vread,
 * history, search by `_id` / `_lastUpdated`) so that an inpatient stay starting or ending starts a
 * handover (src/transfer/encounter-trigger.ts) — the same path as `$transfer` and ADT^A01/A03.
 *
 * The Encounter is written first; then, with peers configured, the handover it asks for starts.
 * The answer is the Encounter (201/200) with a `Link` to the handover Task when one started or had
 * already started for it. When the handover cannot start (the person has no plan yet, say), the
 * answer is that refusal, saying the Encounter was stored; writing the Encounter again tries again.
 *
 * Encounters are written and read by systems and clinicians: a caller confined to a person
 * (patient scopes, a carer) is refused.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Encounter, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '@medplum/core';
import type { Access } from '../service/access';
import { bodyOfType, type FhirService } from '../service/fhir-service';
import { fault, statusOf, unprocessable } from '../service/outcomes';
import type { WriteResult } from '../store';
import { checkKeepsPerson, storedOrUndefined } from '../service/references';
import { handoverFromEncounter } from '../transfer/encounter-trigger';
import type { Transfers } from '../transfer/handover';
import { hasErrors } from '../validation';
import { jsonBody } from './body';
import { queryOf } from './query-parameters';
import { accessOf } from './fhir-routes';
import { fhirBase, resourceHeaders, searchBundle, sendFhir, sendRead } from './http';
import { historyOfRequest } from './history-page';

type Handler = (req: Request, res: Response) => Promise<void>;

function route(handler: Handler) {
  return (req: Request, res: Response, next: NextFunction): void => {
    handler(req, res).catch(next);
  };
}

export const HANDOVER_LINK_RELATION = 'https://dialog-fhir.org/fhir/rel/handover';

/** The routes under `/fhir/Encounter` (where createApp mounts them). */
export function encounterRoutes(service: FhirService, transfers: Transfers | undefined): Router {
  const router = Router();
  const store = service.deps.store;

  const write = async (req: Request, res: Response, id: string | undefined): Promise<void> => {
    const access = checked(accessOf(res), id === undefined ? 'create' : 'update');
    // Declared `conditionalCreate: false`: a condition that would be ignored is refused instead
    // (ignoring it would make a duplicate Encounter, and start a second handover, on every retry).
    if (req.get('if-none-exist') !== undefined)
      throw fault(
        400,
        'not-supported',
        'Encounters are not created conditionally: send PUT Encounter/{id} to write one idempotently',
        'Encounter',
      );
    const encounter = bodyOfType(req.body, 'Encounter') as Encounter;
    if (id !== undefined && encounter.id !== id)
      throw fault(400, 'invalid', 'The body’s id must be the id in the URL', 'Encounter.id');
    const result = service.validate(encounter);
    if (hasErrors(result)) throw unprocessable(result);
    const ifMatch = req.get('if-match');
    let written: WriteResult<Resource>;
    if (id === undefined) {
      const { id: _ignored, ...body } = encounter;
      void _ignored;
      written = await store.create(body as Encounter);
    } else {
      // An Encounter stays with its person, as every record about one does (references.ts).
      checkKeepsPerson(await storedOrUndefined(store, 'Encounter', id), encounter);
      written = await store.update(encounter, ifMatch !== undefined ? { ifMatch } : {});
    }
    const stored = written.resource as Encounter;
    const headers = resourceHeaders(req, stored, { location: true });
    if (transfers) {
      const started = await handoverFromEncounter(transfers, access, stored).catch(
        (err: unknown) => {
          throw notStarted(stored, err);
        },
      );
      if (typeof started !== 'string')
        headers.Link = `<${fhirBase(req)}/Task/${started.id ?? ''}>; rel="${HANDOVER_LINK_RELATION}"`;
    }
    sendFhir(res, written.created ? 201 : 200, stored, headers);
  };

  router.post(
    '/',
    jsonBody,
    route((req, res) => write(req, res, undefined)),
  );
  router.put(
    '/:id',
    jsonBody,
    route((req, res) => write(req, res, String(req.params.id))),
  );
  router.get(
    '/',
    route(async (req, res) => {
      checked(accessOf(res), 'search');
      const params = queryOf(req);
      const found = await store.search('Encounter', params);
      sendFhir(res, 200, searchBundle(req, 'Encounter', params, found));
    }),
  );
  router.get(
    '/:id',
    route(async (req, res) => {
      checked(accessOf(res), 'read');
      const resource = await store.read('Encounter', String(req.params.id));
      sendRead(req, res, resource, resourceHeaders(req, resource));
    }),
  );
  router.get(
    '/:id/_history/:version',
    route(async (req, res) => {
      checked(accessOf(res), 'vread');
      const resource = await store.vread(
        'Encounter',
        String(req.params.id),
        String(req.params.version),
      );
      sendRead(req, res, resource, resourceHeaders(req, resource));
    }),
  );
  router.get(
    '/:id/_history',
    route(async (req, res) => {
      checked(accessOf(res), 'history');
      const id = String(req.params.id);
      // A page from the store, as for every other type (fhir-routes.ts).
      const history = await historyOfRequest(req, 'Encounter', id, (page) =>
        store.historyPage('Encounter', id, page),
      );
      sendFhir(res, 200, history);
    }),
  );
  return router;
}

function checked(
  access: Access,
  interaction: 'create' | 'update' | 'read' | 'vread' | 'search' | 'history',
): Access {
  access.check(interaction, 'Encounter');
  if (access.patient !== undefined)
    throw fault(
      403,
      'forbidden',
      'Encounters are written and read by care systems and clinicians, not within a person’s own access',
      'Encounter',
    );
  return access;
}

/** The handover's refusal, saying the Encounter itself was stored. */
function notStarted(encounter: Encounter, err: unknown): unknown {
  if (!(err instanceof OperationOutcomeError)) return err;
  const issue = err.outcome.issue[0];
  const why = issue?.details?.text ?? issue?.diagnostics ?? 'no reason given';
  return fault(
    statusOf(err),
    issue?.code ?? 'processing',
    `The Encounter is stored (Encounter/${encounter.id ?? ''}/_history/${encounter.meta?.versionId ?? ''}), but its handover could not start: ${why} Writing the Encounter again tries again.`,
    issue?.expression?.[0] ?? 'Encounter',
  );
}
