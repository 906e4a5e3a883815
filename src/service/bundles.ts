/**
 * `POST /fhir` with a Bundle:
 * - `transaction`: all or nothing, applied by the store as given. This is the replication path
 *   (handover, a FHIR server syncing records): resources are checked and stored as they are, so a
 *   DIALOG response arrives with the Observations and plan it already has; nothing is extracted.
 * - `batch`: each entry on its own, exactly as the same request sent alone (so a completed DIALOG
 *   response in a batch is submitted as a session); one entry failing does not stop the others.
 * Either way every entry is checked against the caller's scopes and patient context, and every
 * resource is validated, before anything is written.
 */
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { transactionRequests, type EntryRequest } from '../store';
import { hasErrors, outcome, error } from '../validation';
import type { Access, Interaction } from './access';
import { bodyOfType, servedType, type FhirService } from './fhir-service';
import { fault, HttpOutcomeError, statusOf } from './outcomes';

export async function processBundle(
  service: FhirService,
  access: Access,
  body: unknown,
): Promise<Bundle> {
  const bundle = bodyOfType(body, 'Bundle') as Bundle;
  if (bundle.type === 'transaction') return transaction(service, access, bundle);
  if (bundle.type === 'batch') return batch(service, access, bundle);
  throw fault(400, 'invalid', 'POST /fhir takes a transaction or a batch Bundle', 'Bundle.type');
}

async function transaction(service: FhirService, access: Access, bundle: Bundle): Promise<Bundle> {
  // Conditional entries search the whole store, so a caller confined to one person may not send them.
  if (access.patient !== undefined)
    throw fault(403, 'forbidden', 'Transactions need user or system access', 'Bundle');
  const requests = entryRequests(bundle);
  for (const request of requests) checkEntry(service, access, request);
  return service.deps.store.transaction(bundle);
}

/**
 * The store's reading of the entries, which copies each resource: an entry nested thousands deep
 * overflows the stack there before the validator could say too-costly, so it is said here.
 */
function entryRequests(bundle: Bundle): EntryRequest[] {
  try {
    return transactionRequests(bundle);
  } catch (err) {
    // By name: the copy's RangeError (the stack overflowing) can come from another realm (a test's vm context).
    if ((err as { name?: unknown } | null)?.name === 'RangeError')
      throw fault(422, 'too-costly', 'The Bundle is nested too deeply to handle', 'Bundle');
    throw err;
  }
}

function interactionOf(request: EntryRequest): Interaction {
  if (request.method === 'POST') return 'create';
  if (request.method === 'PUT') return 'update';
  return request.id !== undefined ? 'read' : 'search';
}

/** Scopes, validity and patient context of one transaction entry; faults point into the Bundle. */
function checkEntry(service: FhirService, access: Access, request: EntryRequest): void {
  const where = `Bundle.entry[${request.index}]`;
  const type = servedType(request.type);
  access.check(interactionOf(request), type);
  if (request.method === 'GET') return;
  const resource = request.resource as Resource;
  const result = service.validate(resource);
  if (hasErrors(result)) throw new HttpOutcomeError(422, within(result, `${where}.resource`, type));
  if (!access.inCompartment(resource))
    throw fault(
      403,
      'forbidden',
      'The resource is about someone outside your patient context',
      `${where}.resource`,
    );
}

/** The issues of one entry's validation, their expressions moved inside the Bundle. */
function within(result: OperationOutcome, prefix: string, type: string): OperationOutcome {
  return {
    ...result,
    issue: result.issue.map((issue) => ({
      ...issue,
      ...(issue.expression
        ? {
            expression: issue.expression.map((e) =>
              e === type || e.startsWith(`${type}.`)
                ? prefix + e.slice(type.length)
                : `${prefix}.${e}`,
            ),
          }
        : {}),
    })),
  };
}

async function batch(service: FhirService, access: Access, bundle: Bundle): Promise<Bundle> {
  const entries = bundle.entry ?? [];
  const responses: BundleEntry[] = [];
  // In order, one at a time: a batch is not a way round the per-person session queue.
  for (const [index, entry] of entries.entries())
    responses.push(await batchEntry(service, access, entry, index));
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}

async function batchEntry(
  service: FhirService,
  access: Access,
  entry: BundleEntry,
  index: number,
): Promise<BundleEntry> {
  try {
    return await dispatch(service, access, entry, index);
  } catch (err) {
    const status = statusOf(err);
    const result =
      err instanceof HttpOutcomeError || (err as { outcome?: unknown }).outcome
        ? (err as { outcome: OperationOutcome }).outcome
        : outcome([error('exception', 'Internal error', `Bundle.entry[${index}]`)]);
    return { response: { status: String(status), outcome: result } };
  }
}

async function dispatch(
  service: FhirService,
  access: Access,
  entry: BundleEntry,
  index: number,
): Promise<BundleEntry> {
  const method = entry.request?.method;
  const [path = '', query] = (entry.request?.url ?? '').split('?');
  const [type = '', id, history, versionId] = path.replace(/^\//, '').split('/');
  const where = `Bundle.entry[${index}].request`;
  if (method === 'GET' && id === undefined) {
    const found = await service.search(access, type, new URLSearchParams(query ?? ''));
    return {
      resource: {
        resourceType: 'Bundle',
        type: 'searchset',
        total: found.total,
        entry: found.resources.map((resource) => ({ resource })),
      },
      response: { status: '200 OK' },
    };
  }
  if (method === 'GET' && id !== undefined) {
    const resource =
      history === '_history' && versionId
        ? await service.vread(access, type, id, versionId)
        : await service.read(access, type, id);
    return ok(resource, '200 OK');
  }
  if (method === 'POST' && id === undefined) {
    const written = await service.create(access, type, entry.resource, entry.request?.ifNoneExist);
    return ok(written.resource, written.created ? '201 Created' : '200 OK');
  }
  if (method === 'PUT' && id !== undefined) {
    const written = await service.update(access, type, id, entry.resource, entry.request?.ifMatch);
    return ok(written.resource, written.created ? '201 Created' : '200 OK');
  }
  throw fault(400, 'not-supported', 'Batch entries are GET, POST Type or PUT Type/id', where);
}

function ok(resource: Resource, status: string): BundleEntry {
  return {
    resource,
    response: {
      status,
      location: `${resource.resourceType}/${resource.id ?? ''}/_history/${resource.meta?.versionId ?? ''}`,
      ...(resource.meta?.versionId ? { etag: `W/"${resource.meta.versionId}"` } : {}),
      ...(resource.meta?.lastUpdated ? { lastModified: resource.meta.lastUpdated } : {}),
    },
  };
}
