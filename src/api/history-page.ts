/**
 * A page of a resource's history: `_since` (an instant: versions written at or after it),
 * `_count` (page size, default and limit as for searches) and `_offset` (our paging links'
 * position, as for searches). The versions come newest first; `total` counts those since
 * `_since` across all pages. The store cuts the page (`FhirStore.historyPage`), so a long
 * history is not read whole for one page of it. The parameters are read, and the Bundle built,
 * in src/service/history-bundle.ts, as for a batch entry `GET Type/id/_history`.
 */
import type { Request } from 'express';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { historyPageOf, historyResultBundle } from '../service/history-bundle';
import type { HistoryPage, HistoryResult } from '../store/fhir-store';
import { fhirBase } from './http';
import { queryOf } from './query-parameters';

export type { HistoryPage };

/** The address of the history of `type/id` under `base`: its paging links go there. */
function historyUrl(base: string, type: string, id: string): string {
  return `${base}/${type}/${encodeURIComponent(id)}/_history`;
}

/**
 * The history Bundle a `_history` request of `type/id` asks for: its page (`historyPageOf`, its
 * parameters checked by query-parameters.ts), read by `read`, with links built from the type and
 * id, not the request's path, which is relative to whatever router answers it
 * (`/stay-1/_history` under `/fhir/Encounter`).
 */
export async function historyOfRequest(
  req: Request,
  type: string,
  id: string,
  read: (page: HistoryPage) => Promise<HistoryResult<Resource>>,
): Promise<Bundle> {
  const query = queryOf(req);
  const page = historyPageOf(query);
  const base = fhirBase(req);
  return historyResultBundle(await read(page), page, historyUrl(base, type, id), query, base);
}
