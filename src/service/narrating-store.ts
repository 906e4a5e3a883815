/**
 * Every CarePlan, Goal, QuestionnaireResponse and DIALOG Observation the service writes carries a
 * generated narrative (`text.div`, src/narrative) an EHR can show as is. This store decorator
 * adds it on the way in, whatever path wrote the resource (a session, a plain update, a
 * transaction, a handover received), so no path can forget it. Reads pass straight through.
 *
 * What a narrative needs from outside the resource is found here: for a CarePlan, the people and
 * organisations it names (key worker, services, carers, goals) from the same transaction or the
 * store, the session's rating in the same transaction as the latest rating, and the paired-change
 * Observations beside it.
 */
import type {
  Bundle,
  BundleEntry,
  CarePlan,
  ExtractResource,
  Observation,
  QuestionnaireResponse,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import { withNarrative, type NarrativeContext } from '../narrative';
import { MAX_VALUES_PER_PARAMETER } from '../store/search-query';
import { eachAtOnce } from './at-once';
import type {
  CreateOptions,
  FhirStore,
  SearchOptions,
  SearchParams,
  SearchResult,
  Stored,
  UpdateOptions,
  WriteResult,
} from '../store';
import type { HistoryPage, HistoryResult } from '../store/fhir-store';

const NARRATED: ReadonlySet<string> = new Set([
  'CarePlan',
  'Goal',
  'QuestionnaireResponse',
  'Observation',
]);
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
/** What a plan's narrative may name, looked up in the store when not in the transaction. */
const NAMED_TYPES: ReadonlySet<string> = new Set([
  'Practitioner',
  'Organization',
  'RelatedPerson',
  'Goal',
  'Consent',
  'CareTeam',
]);

export class NarratingStore implements FhirStore {
  readonly keepsPersons: boolean;

  constructor(private readonly inner: FhirStore) {
    this.readStored = inner.readStored?.bind(inner);
    this.keepsPersons = inner.keepsPersons === true;
  }

  async create<T extends Resource>(
    resource: T,
    options?: CreateOptions,
  ): Promise<WriteResult<Stored<T>>> {
    return this.inner.create(await this.narrated(resource, []), options);
  }

  async update<T extends Resource>(
    resource: T,
    options?: UpdateOptions,
  ): Promise<WriteResult<Stored<T>>> {
    return this.inner.update(await this.narrated(resource, []), options);
  }

  async conditionalUpdate<T extends Resource>(
    resource: T,
    search: SearchParams,
    options?: UpdateOptions,
  ): Promise<WriteResult<Stored<T>>> {
    return this.inner.conditionalUpdate(await this.narrated(resource, []), search, options);
  }

  async transaction(bundle: Bundle): Promise<Bundle> {
    const resources = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    const entry: BundleEntry[] = [];
    for (const e of bundle.entry ?? [])
      entry.push(e.resource ? { ...e, resource: await this.narrated(e.resource, resources) } : e);
    return this.inner.transaction({ ...bundle, ...(bundle.entry ? { entry } : {}) });
  }

  read<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>> {
    return this.inner.read(type, id);
  }

  /** There when the inner store has it (reads pass straight through). */
  readonly readStored: FhirStore['readStored'];

  vread<K extends ResourceType>(
    type: K,
    id: string,
    versionId: string,
  ): Promise<ExtractResource<K>> {
    return this.inner.vread(type, id, versionId);
  }

  search<K extends ResourceType>(
    type: K,
    params?: SearchParams,
    options?: SearchOptions,
  ): Promise<SearchResult<ExtractResource<K>>> {
    return this.inner.search(type, params, options);
  }

  history<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>[]> {
    return this.inner.history(type, id);
  }

  historyPage<K extends ResourceType>(
    type: K,
    id: string,
    page: HistoryPage,
  ): Promise<HistoryResult<ExtractResource<K>>> {
    return this.inner.historyPage(type, id, page);
  }

  ready(): Promise<boolean> {
    return this.inner.ready();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async narrated<T extends Resource>(resource: T, beside: readonly Resource[]): Promise<T> {
    if (!NARRATED.has(resource.resourceType)) return resource;
    if (resource.resourceType !== 'CarePlan') return withNarrative(resource);
    return withNarrative(resource, await this.planContext(resource, beside));
  }

  /**
   * The stored resources of `type` among `ids` (those missing are left out). A store that cannot
   * search the type by `_id` has each read instead.
   */
  private async stored(type: ResourceType, ids: readonly string[]): Promise<Resource[]> {
    try {
      const found = await this.inner.search(type, { _id: ids.join(',') }, { count: ids.length });
      return found.resources;
    } catch {
      const read = await Promise.all(
        ids.map((id) => this.inner.read(type, id).catch(() => undefined)),
      );
      return read.filter((r): r is ExtractResource<typeof type> => r !== undefined);
    }
  }

  private async planContext(
    plan: CarePlan,
    beside: readonly Resource[],
  ): Promise<NarrativeContext> {
    const known = new Map<string, Resource>();
    for (const r of beside) if (r.id) known.set(`${r.resourceType}/${r.id}`, r);
    const wanted = [...referencesIn(plan)].flatMap((reference) => {
      const match = RELATIVE.exec(reference);
      if (known.has(reference) || !match?.[1] || !match[2] || !NAMED_TYPES.has(match[1])) return [];
      return [{ type: match[1] as ResourceType, id: match[2] }];
    });
    // A plan names every Goal it ever had: read one by one, a FHIR server's requests (the
    // fhir-server store) grew with them at every session. One search by `_id` per type instead,
    // MAX_VALUES_PER_PARAMETER ids each, several at once.
    const lookups = [...idsByType(wanted)].flatMap(([type, ids]) =>
      chunks(ids, MAX_VALUES_PER_PARAMETER).map((chunk) => ({ type, ids: chunk })),
    );
    await eachAtOnce(lookups, async ({ type, ids }) => {
      for (const found of await this.stored(type, ids))
        if (found.id) known.set(`${type}/${found.id}`, found);
    });
    const latest = beside.find(
      (r): r is QuestionnaireResponse => r.resourceType === 'QuestionnaireResponse',
    );
    const changes = beside.filter(
      (r): r is Observation =>
        r.resourceType === 'Observation' &&
        (r.meta?.profile ?? []).some((p) => p.endsWith('/dialog-paired-change')),
    );
    return {
      resolve: (reference) => known.get(reference),
      ...(latest ? { latest } : {}),
      ...(changes.length > 0 ? { changes } : {}),
    };
  }
}

/** The ids wanted, by type. */
function idsByType(
  wanted: readonly { type: ResourceType; id: string }[],
): Map<ResourceType, string[]> {
  const byType = new Map<ResourceType, string[]>();
  for (const { type, id } of wanted) byType.set(type, [...(byType.get(type) ?? []), id]);
  return byType;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Every relative reference in a resource, found by walking its JSON. */
function referencesIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, found);
  else if (typeof value === 'object' && value !== null)
    for (const [key, v] of Object.entries(value))
      if (key === 'reference' && typeof v === 'string' && RELATIVE.test(v)) found.add(v);
      else referencesIn(v, found);
  return found;
}
