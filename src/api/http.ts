/**
 * FHIR over HTTP: the media type, resource headers (ETag, Last-Modified, Location), and the Bundle
 * a search returns, with paging links that keep the caller's parameters (a history's: history-page.ts).
 */
import type { Request, Response } from 'express';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { SearchResult, StoredText } from '../store';
import { pageLinks } from '../service/page-links';

export const FHIR_JSON = 'application/fhir+json';

/**
 * Sends a resource as FHIR JSON. With `stored` (FhirService.readToSend) naming this very object,
 * its stored text (`JSON.stringify` of it) is sent as it is, saving the serialisation; stored
 * text of any other object (a view made from it, say) is never sent in its place.
 */
export function sendFhir(
  res: Response,
  status: number,
  resource: object,
  headers: Readonly<Record<string, string>> = {},
  stored?: StoredText<Resource>,
): void {
  const text = stored?.resource === resource ? stored.text : undefined;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // Kept (by reference) for the audit trail, which names what was returned.
  res.locals.sentResource = resource;
  res
    .status(status)
    .type(FHIR_JSON)
    .send(text ?? JSON.stringify(resource));
}

/**
 * Sends a read or a vread: a 304 with the headers and no body when the request's If-None-Match
 * names the ETag in `headers` (src/api/caching.ts), otherwise the resource as `sendFhir` does.
 * Decided here rather than by Express's own freshness check, which answers 200 to any request
 * with `Cache-Control: no-cache` — which fetch adds to every request with If-None-Match.
 */
export function sendRead(
  req: Request,
  res: Response,
  resource: Resource,
  headers: Readonly<Record<string, string>>,
  stored?: StoredText<Resource>,
): void {
  const etag = headers.ETag;
  if (etag === undefined || !namesETag(req.headers['if-none-match'], etag)) {
    sendFhir(res, 200, resource, headers, stored);
    return;
  }
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.locals.sentResource = resource;
  res.status(304).end();
}

/** Whether an If-None-Match value names this ETag: `*`, or in its list (weak comparison). */
function namesETag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return header.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === wanted);
}

/** The service's configured public address (BASE_URL, set on the app by createApp), if any. */
export function configuredBase(req: Request): string | undefined {
  const configured = (req.app.locals as { baseUrl?: unknown }).baseUrl;
  return typeof configured === 'string' ? configured : undefined;
}

/**
 * The /fhir base links are written with: the configured public address (BASE_URL, AppOptions
 * `baseUrl`) when there is one, else the address the caller used (its Host header).
 */
export function fhirBase(req: Request): string {
  const configured = configuredBase(req);
  if (configured !== undefined) return `${configured}/fhir`;
  return `${req.protocol}://${req.get('host') ?? 'localhost'}/fhir`;
}

/**
 * ETag and Last-Modified of a stored resource; with `location`, the Location of the version.
 * With `whole: false` (what is sent is a carer's view, not the version itself) there are no
 * validators: the view depends on the person's Consent as well as on the version, so a client
 * holding an older view must never be told it is current (a 304).
 */
export function resourceHeaders(
  req: Request,
  resource: Resource,
  options: { readonly location?: boolean; readonly whole?: boolean } = {},
): Record<string, string> {
  const headers: Record<string, string> = {};
  const version = resource.meta?.versionId;
  if (options.whole !== false) {
    if (version) headers.ETag = `W/"${version}"`;
    if (resource.meta?.lastUpdated)
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (options.location && resource.id && version)
    headers.Location = `${fhirBase(req)}/${resource.resourceType}/${resource.id}/_history/${version}`;
  return headers;
}

export function searchBundle(
  req: Request,
  type: string,
  params: URLSearchParams,
  result: SearchResult<Resource>,
): Bundle {
  const base = fhirBase(req);
  const more = result.offset + result.resources.length < result.total;
  const links = pageLinks(`${base}/${type}`, params, result, more);
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: result.total,
    link: links,
    entry: result.resources.map((resource) => ({
      fullUrl: `${base}/${resource.resourceType}/${resource.id ?? ''}`,
      resource,
      search: { mode: 'match' },
    })),
  };
}
