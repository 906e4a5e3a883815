/**
 * The /fhir routes: a thin shell over src/service. Each handler reads the HTTP request (path,
 * query, headers, body), calls the service with the caller's access, and writes FHIR JSON with
 * the headers FHIR REST asks for. Operations come before the generic `:type/:id` routes.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Parameters, Resource } from '@medplum/fhirtypes';
import type { Access } from '../service/access';
import { processBundle } from '../service/bundles';
import { dialogSummary } from '../service/dialog-summary';
import type { FhirService } from '../service/fhir-service';
import {
  extract,
  extractInput,
  populate,
  validateInput,
  withStoredQuestionnaire,
} from '../service/operations';
import { fault } from '../service/outcomes';
import type { WriteResult } from '../store';
import { bodyOfType } from '../service/fhir-service';
import { bundleBody, jsonBody } from './body';
import { queryOf } from './query-parameters';
import { resourceHeaders, searchBundle, sendFhir, sendRead } from './http';
import { historyOfRequest } from './history-page';

type Handler = (req: Request, res: Response) => Promise<void>;

/** Express 5 passes rejected promises to the error handler; this keeps handlers typed. */
function route(handler: Handler) {
  return (req: Request, res: Response, next: NextFunction): void => {
    handler(req, res).catch(next);
  };
}

export function accessOf(res: Response): Access {
  return res.locals.access as Access;
}

/**
 * Whether a caller may send a Bundle up to BUNDLE_LIMIT_BYTES: a system (a token with `system/`
 * scopes: a peer handing a person's whole record over) or anyone with AUTH=off. A person's or a
 * clinician's app sends no such Bundles, and a 32 MB one costs the service seconds.
 */
function takesWholeRecords(res: Response): boolean {
  const { context } = accessOf(res);
  return context.mode === 'off' || context.scopes.some((s) => s.context === 'system');
}

function param(req: Request, name: string): string {
  const value = (req.params as Record<string, string | undefined>)[name];
  return value ?? '';
}

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

function sendWrite(req: Request, res: Response, written: WriteResult<Resource>): void {
  sendFhir(
    res,
    written.created ? 201 : 200,
    written.resource,
    resourceHeaders(req, written.resource, { location: true }),
  );
}

/**
 * A read (`GET /:type/:id`), the commonest request; `next('route')` for a type whose reads
 * `servedElsewhere` (Encounter, src/api/encounter-routes.ts), for its own routes to answer.
 */
export function readRoute(service: FhirService, servedElsewhere: ReadonlySet<string>) {
  const read = route(async (req, res) => {
    const { resource, whole, stored } = await service.readToSend(
      accessOf(res),
      param(req, 'type'),
      param(req, 'id'),
    );
    sendRead(req, res, resource, resourceHeaders(req, resource, { whole }), stored);
  });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (servedElsewhere.has(param(req, 'type'))) next('route');
    else read(req, res, next);
  };
}

export function fhirRoutes(service: FhirService, now: () => Date): Router {
  const router = Router();
  operationRoutes(router, service, now);
  router.post(
    '/',
    bundleBody(takesWholeRecords),
    route(async (req, res) => {
      sendFhir(res, 200, await processBundle(service, accessOf(res), req.body));
    }),
  );
  router.get(
    '/:type',
    route(async (req, res) => {
      const type = param(req, 'type');
      const params = queryOf(req);
      const found = await service.search(accessOf(res), type, params);
      sendFhir(res, 200, searchBundle(req, type, params, found));
    }),
  );
  router.post(
    '/:type',
    jsonBody,
    route(async (req, res) => {
      const ifNoneExist = header(req, 'if-none-exist');
      sendWrite(
        req,
        res,
        await service.create(accessOf(res), param(req, 'type'), req.body, ifNoneExist),
      );
    }),
  );
  router.put(
    '/:type',
    jsonBody,
    route(async (req, res) => {
      const query = queryOf(req);
      if ([...query.keys()].length === 0)
        throw fault(400, 'required', 'A conditional update needs search parameters', 'Resource');
      const access = accessOf(res);
      const ifMatch = header(req, 'if-match');
      sendWrite(
        req,
        res,
        await service.conditionalUpdate(access, param(req, 'type'), query, req.body, ifMatch),
      );
    }),
  );
  // GET /:type/:id is readRoute, mounted ahead of all routes (fhir-api.ts).
  router.put(
    '/:type/:id',
    jsonBody,
    route(async (req, res) => {
      const ifMatch = header(req, 'if-match');
      const access = accessOf(res);
      sendWrite(
        req,
        res,
        await service.update(access, param(req, 'type'), param(req, 'id'), req.body, ifMatch),
      );
    }),
  );
  router.delete('/:type/:id', (_req, _res, next) => {
    next(
      fault(
        405,
        'not-supported',
        'Nothing is deleted here: plans and goals are closed by a status, not removed',
        'Resource',
      ),
    );
  });
  router.get(
    '/:type/:id/_history',
    route(async (req, res) => {
      const [type, id] = [param(req, 'type'), param(req, 'id')];
      // The store cuts the page: a plan rewritten at every session is not read whole for it.
      const history = await historyOfRequest(req, type, id, (page) =>
        service.historyPage(accessOf(res), type, id, page),
      );
      sendFhir(res, 200, history);
    }),
  );
  router.get(
    '/:type/:id/_history/:vid',
    route(async (req, res) => {
      const { resource, whole } = await service.vreadToSend(
        accessOf(res),
        param(req, 'type'),
        param(req, 'id'),
        param(req, 'vid'),
      );
      sendRead(req, res, resource, resourceHeaders(req, resource, { whole }));
    }),
  );
  // An endpoint that exists, asked with a method it does not take (PATCH, POST to an id, DELETE
  // of a search): 405 with the methods it takes, not "no such endpoint".
  router.all('/', methodNotAllowed('POST'));
  router.all('/:type', methodNotAllowed('GET, POST, PUT'));
  router.all('/:type/:id', methodNotAllowed('GET, PUT'));
  router.all('/:type/:id/_history', methodNotAllowed('GET'));
  router.all('/:type/:id/_history/:vid', methodNotAllowed('GET'));
  return router;
}

function methodNotAllowed(allow: string) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('Allow', allow);
    next(fault(405, 'not-supported', `This endpoint takes ${allow}`, 'Resource'));
  };
}

function operationRoutes(router: Router, service: FhirService, now: () => Date): void {
  router.post(
    ['/\\$validate', '/:type/\\$validate'],
    jsonBody,
    route(async (req, res) => {
      const resource = validateInput(req.body, (req.params as { type?: string }).type);
      // $validate answers 200 with the outcome whether or not the resource is valid (FHIR R4).
      sendFhir(res, 200, service.validate(resource));
      return Promise.resolve();
    }),
  );
  router.post(
    '/QuestionnaireResponse/\\$extract',
    jsonBody,
    route(async (req, res) => {
      sendFhir(res, 200, await extract(service, accessOf(res), extractInput(req.body)));
    }),
  );
  const extractStored = route(async (req, res) => {
    const access = accessOf(res);
    const stored = await service.read(access, 'QuestionnaireResponse', param(req, 'id'));
    sendFhir(res, 200, await extract(service, access, extractInput(stored)));
  });
  router.get('/QuestionnaireResponse/:id/\\$extract', extractStored);
  router.post('/QuestionnaireResponse/:id/\\$extract', extractStored);
  router.post(
    ['/Questionnaire/\\$populate', '/Questionnaire/:id/\\$populate'],
    jsonBody,
    route(async (req, res) => {
      const access = accessOf(res);
      const id = (req.params as { id?: string }).id;
      const given = bodyOfType(req.body, 'Parameters') as Parameters;
      const params =
        id === undefined ? given : await withStoredQuestionnaire(service, access, id, given);
      sendFhir(res, 200, await populate(service, access, params, now()));
    }),
  );
  router.get(
    '/Patient/:id/\\$dialog-summary',
    route(async (req, res) => {
      const access = accessOf(res);
      const patient = await service.read(access, 'Patient', param(req, 'id'));
      access.check('search', 'QuestionnaireResponse');
      access.check('search', 'Observation');
      sendFhir(
        res,
        200,
        await dialogSummary(service.deps.store, patient.id ?? '', now(), (r) => access.view(r)),
      );
    }),
  );
}
