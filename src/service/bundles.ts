/**
 * `POST /fhir` with a Bundle:
 * - `transaction`: all or nothing, applied by the store as given. This is the replication path
 *   (handover, a FHIR server syncing records): resources are checked and stored as they are, so a
 *   DIALOG response arrives with the Observations and plan it already has; nothing is extracted.
 * - `batch`: each entry on its own, exactly as the same request sent alone (so a completed DIALOG
 *   response in a batch is submitted as a session); one entry failing does not stop the others.
 * Either way every entry is checked against the caller's scopes and patient context, and every
 * resource is validated, before anything is written; no entry may move a stored record to
 * another person.
 */
import type {
  Bundle,
  BundleEntry,
  OperationOutcome,
  Patient,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import {
  checkEntryShape,
  entryUrlParts,
  personReference,
  transactionRequests,
  type EntryRequest,
  type FhirStore,
} from '../store';
import { hasErrors, outcome, error } from '../validation';
import type { Access, Interaction } from './access';
import {
  bodyOfType,
  checkConditionalCreate,
  checkProvenanceKept,
  checkWritable,
  servedType,
  type FhirService,
} from './fhir-service';
import { fault, HttpOutcomeError, locatedAt, statusOf } from './outcomes';
import { checkNhsNumberFree, nhsNumberKeys } from './nhs-number';
import { checkAnyVersionTargets, withoutAnyVersion } from './if-match';
import {
  checkKeepsPerson,
  personElement,
  safeDecode,
  storedOrUndefined,
  upToTwoMatches,
} from './references';
import { pageLinks } from './page-links';
import { eachAtOnce } from './at-once';
import { checkHistoryParameters, historyPageOf, historyResultBundle } from './history-bundle';

/** Transaction entries validated in one turn of the event loop (~5 ms of validation). */
const ENTRIES_BETWEEN_TURNS = 100;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

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

async function transaction(service: FhirService, access: Access, sent: Bundle): Promise<Bundle> {
  // Conditional entries search the whole store, so a caller confined to one person may not send them.
  if (access.patient !== undefined)
    throw fault(403, 'forbidden', 'Transactions need user or system access', 'Bundle');
  const { bundle, anyVersion } = withoutAnyVersion(sent);
  const requests = entryRequests(bundle);
  for (const request of requests) {
    checkEntry(service, access, request);
    // A peer's handover may hold thousands of entries (up to 32 MB): other requests are answered
    // between every ENTRIES_BETWEEN_TURNS validated, not kept waiting for all of them.
    if (request.index % ENTRIES_BETWEEN_TURNS === ENTRIES_BETWEEN_TURNS - 1) await nextTurn();
  }
  // The NHS numbers its Patients carry are checked and written without another write between.
  const keys = requests.flatMap((r) => (r.resource ? nhsNumberKeys(r.resource) : []));
  return service.withIdentities(keys, () =>
    checkedTransaction(service, bundle, requests, anyVersion),
  );
}

async function checkedTransaction(
  service: FhirService,
  bundle: Bundle,
  requests: readonly EntryRequest[],
  anyVersion: readonly number[],
): Promise<Bundle> {
  const store = service.deps.store;
  // After the scope checks: whether a resource exists is not told to a caller who may not write it.
  const toWrite = await checkAnyVersionTargets(store, bundle, requests, anyVersion);
  // The checks below are of what will be written: an `If-Match: *` entry pinned to its match is
  // checked against that resource, not by searching its condition again (a second match found
  // then would be taken for the store's 412 and the entry let through unchecked).
  const written = toWrite === bundle ? requests : entryRequests(toWrite);
  // Each entry's stored target is read (a round trip each over the fhir-server store; a
  // handover holds hundreds): several at once, the earliest entry's fault answered as in order.
  await eachAtOnce(written, (request) => checkEntryKeepsPerson(store, request, written));
  for (const request of written) await checkEntryNhsNumber(store, request);
  // A stored Provenance never changes; a store that keeps persons refuses it itself, by any path.
  if (!store.keepsPersons)
    for (const request of written)
      if (request.method === 'PUT' && request.resource?.resourceType === 'Provenance')
        checkProvenanceKept(
          await overwritten(store, request, written),
          request.resource,
          `Bundle.entry[${request.index}].resource`,
        );
  return store.transaction(toWrite);
}

/**
 * A Patient entry may not give a new or another Patient an NHS number a stored Patient holds
 * (`checkNhsNumberFree`): a conditional entry is checked against its one match, and one whose
 * match exists writes no new Patient. A condition naming another entry cannot be searched
 * beforehand and is left to the store.
 */
async function checkEntryNhsNumber(store: FhirStore, request: EntryRequest): Promise<void> {
  const resource = request.resource;
  if (resource?.resourceType !== 'Patient' || request.method === 'GET') return;
  const where = `Bundle.entry[${request.index}].resource`;
  if (request.query === undefined)
    return checkNhsNumberFree(store, resource, request.id ?? resource.id, where);
  if (/urn:(?:uuid|oid):/.test(safeDecode(request.query))) return;
  const found = await upToTwoMatches(store, 'Patient', request.query);
  // A conditional create with a match creates nothing; several matches are the store's 412.
  if (found.length > 1 || (request.method === 'POST' && found.length === 1)) return;
  return checkNhsNumberFree(store, resource as Patient, found[0]?.id ?? resource.id, where);
}

/**
 * Refuses (409, at the entry) a transaction Bundle with a `PUT` entry that would move a stored
 * record to another person: what `POST /fhir` checks, for writers that apply a Bundle to the
 * store themselves (plan sync).
 */
export async function checkBundleKeepsPerson(store: FhirStore, bundle: Bundle): Promise<void> {
  const requests = entryRequests(bundle);
  await eachAtOnce(requests, (request) => checkEntryKeepsPerson(store, request, requests));
}

/**
 * A `PUT` entry may not move a stored record to another person, as a PUT alone may not
 * (`checkKeepsPerson`). Replication sends the same person's records again, so this refuses only
 * a collision or a mistake. A person named by another entry's fullUrl (a handover names the
 * Patient it matches by NHS number so) is resolved first, as the store will resolve it. A
 * conditional `PUT Type?search` entry is checked against its condition's one match — here for a
 * store that does not check persons itself; a store that does (`FhirStore.keepsPersons`, the
 * embedded one) resolves and checks it inside the transaction, where no race gets past.
 */
async function checkEntryKeepsPerson(
  store: FhirStore,
  request: EntryRequest,
  requests: readonly EntryRequest[],
): Promise<void> {
  const resource = request.resource;
  if (request.method !== 'PUT' || !resource) return;
  const element = personElement(resource.resourceType);
  if (element === undefined) return;
  const current = await overwritten(store, request, requests);
  if (!current) return;
  const written = personReference(resource);
  const target = requests.find((r) => written !== undefined && r.fullUrl === written);
  const resolved = target ? await targetOf(target, requests, store) : written;
  // Several matches: the store refuses the whole transaction (412), nothing to check here.
  if (resolved === AMBIGUOUS) return;
  // Who it will be about cannot be told before the store applies it (a condition naming another
  // entry): refused rather than let through unchecked.
  if (resolved === UNRESOLVABLE)
    throw fault(
      422,
      'business-rule',
      'The person this entry is about cannot be told before the transaction is applied: name the Patient by a condition on its own identifiers',
      `Bundle.entry[${request.index}].resource.${element}`,
    );
  // The resource as it will be stored, as far as who it is about goes.
  const as = { ...resource, [element]: { reference: resolved ?? undefined } };
  checkKeepsPerson(current, as as Resource, `Bundle.entry[${request.index}].resource`);
}

/**
 * The stored version a `PUT` entry will overwrite: the one under its id, or its condition's one
 * match (for a store that does not check conditional entries itself); undefined for none.
 */
async function overwritten(
  store: FhirStore,
  request: EntryRequest,
  requests: readonly EntryRequest[],
): Promise<Resource | undefined> {
  const type = request.type as ResourceType;
  if (request.id !== undefined) return storedOrUndefined(store, type, request.id);
  if (request.query === undefined || store.keepsPersons === true) return undefined;
  const target = await targetOf(request, requests, store);
  if (target === UNRESOLVABLE)
    throw fault(
      422,
      'business-rule',
      'Which stored record this entry updates cannot be told before the transaction is applied: give a condition on its own identifiers',
      `Bundle.entry[${request.index}].request.url`,
    );
  // Several matches: the store refuses the whole transaction (412); none: a new record.
  if (target === AMBIGUOUS || target === null) return undefined;
  return storedOrUndefined(store, type, target.slice(type.length + 1));
}

const AMBIGUOUS = Symbol('several matches');
const UNRESOLVABLE = Symbol('a condition naming another entry');

/**
 * The `Type/id` an entry will be stored under: its id, or a conditional entry's one match; null
 * for a new record (a plain POST, no match); AMBIGUOUS for several matches (which the store
 * refuses); UNRESOLVABLE when a condition names another entry.
 */
async function targetOf(
  request: EntryRequest,
  requests: readonly EntryRequest[],
  store: FhirStore,
): Promise<string | null | typeof AMBIGUOUS | typeof UNRESOLVABLE> {
  if (request.id !== undefined) return `${request.type}/${request.id}`;
  if (request.query === undefined) return null;
  const query = request.query;
  const placeholders = requests.flatMap((r) =>
    r.fullUrl !== undefined && /^urn:(?:uuid|oid):/.test(r.fullUrl) ? [r.fullUrl] : [],
  );
  if (placeholders.some((p) => safeDecode(query).includes(p))) return UNRESOLVABLE;
  const found = await store.search(
    request.type as ResourceType,
    new URLSearchParams(request.query),
  );
  if (found.resources.length > 1) return AMBIGUOUS;
  const match = found.resources[0];
  if (match) return `${request.type}/${match.id ?? ''}`;
  // No match: a conditional update creates under the body's id, if it has one.
  const id = request.method === 'PUT' ? request.resource?.id : undefined;
  return id !== undefined ? `${request.type}/${id}` : null;
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
  // A conditional create answers with the match it found (checkConditionalCreate).
  if (request.method === 'POST' && request.query !== undefined)
    checkConditionalCreate(access, type);
  if (request.method === 'GET') return;
  checkWritable(access, type, `${where}.request`, request.method === 'POST' ? 'create' : 'update');
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
  const entries: unknown = bundle.entry ?? [];
  if (!Array.isArray(entries))
    throw fault(400, 'invalid', 'Bundle.entry must be a list of entries', 'Bundle.entry');
  const responses: BundleEntry[] = [];
  // In order, one at a time: a batch is not a way round the per-person session queue.
  for (const [index, entry] of entries.entries())
    responses.push(await batchEntry(service, access, entry, index));
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}

async function batchEntry(
  service: FhirService,
  access: Access,
  entry: unknown,
  index: number,
): Promise<BundleEntry> {
  try {
    checkEntryShape(entry, index);
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
  const { segments, query } = entryUrlParts(entry.request?.url ?? '');
  const [type = '', id, history, versionId, ...more] = segments;
  const where = `Bundle.entry[${index}].request`;
  // The grammar a transaction entry has (Type, Type/id, Type/id/_history/v, Type?search): an
  // operation or any longer path is refused, never answered as the read it starts with.
  if (more.length > 0 || (history !== undefined && history !== '_history'))
    throw fault(
      400,
      'not-supported',
      'Batch entries are GET, POST Type or PUT Type/id: operations are called on their own',
      `${where}.url`,
    );
  if (method === 'POST' && query !== undefined)
    throw fault(
      400,
      'not-supported',
      'POST goes to the type: use ifNoneExist for a conditional create',
      `${where}.url`,
    );
  const isHistory = method === 'GET' && history === '_history' && !versionId;
  // As on their own (src/api/query-parameters.ts): a read, vread or update takes no parameters
  // here, rather than answering as if they were absent; a history takes its paging ones.
  if (id !== undefined && query !== undefined && !isHistory)
    throw fault(
      400,
      'not-supported',
      'A read, vread or update entry takes no query parameters',
      `${where}.url`,
    );
  if (method === 'GET' && id === undefined) {
    const params = new URLSearchParams(query ?? '');
    // A bad parameter is the entry's 400 at its url, as a history entry's is.
    const found = await service.search(access, type, params).catch((err: unknown) => {
      throw locatedAt(err, `${where}.url`);
    });
    // Links relative to the service base, as a history entry's: what follows is had by sending
    // `next` as another entry (a Bundle handler is not told the address it was sent to).
    const more = found.offset + found.resources.length < found.total;
    return {
      resource: {
        resourceType: 'Bundle',
        type: 'searchset',
        total: found.total,
        link: pageLinks(type, params, found, more),
        entry: found.resources.map((resource) => ({ resource, search: { mode: 'match' } })),
      },
      response: { status: '200 OK' },
    };
  }
  if (isHistory && id !== undefined)
    return historyEntry(service, access, type, id, query ?? '', `${where}.url`);
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

/**
 * A batch entry `GET Type/id/_history`: one page of the history, as `GET /fhir/Type/id/_history`
 * answers (src/api/history-page.ts), never every version in one entry. The page's parameters are
 * the route's and refused as it refuses them, at the entry's url. The links are relative to the
 * service base (`Type/id/_history?…`): a Bundle handler is not told the address it was sent to.
 */
async function historyEntry(
  service: FhirService,
  access: Access,
  type: string,
  id: string,
  queryText: string,
  at: string,
): Promise<BundleEntry> {
  const query = new URLSearchParams(queryText);
  const page = relocated(at, () => {
    checkHistoryParameters(query);
    return historyPageOf(query);
  });
  const found = await service.historyPage(access, type, id, page);
  return {
    resource: historyResultBundle(found, page, `${type}/${id}/_history`, query),
    response: { status: '200 OK' },
  };
}

/**
 * `read`'s faults located at `at` (an entry's url) instead of at the parameter's name, which is
 * no FHIRPath inside a Bundle; the message still names the parameter.
 */
function relocated<T>(at: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw locatedAt(err, at);
  }
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
