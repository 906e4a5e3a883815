/**
 * What moves when the one care plan follows the person to another system, and the transaction
 * Bundle that carries it there.
 *
 * `gatherHandover` reads, through the store port only: the Patient, the person's one CarePlan (the
 * one with a `CARE_PLAN_IDENTIFIER_SYSTEM` identifier), the Goals it names, every DIALOG
 * QuestionnaireResponse of the person (any status), their Observations, the Provenance about them
 * or the plan, their RelatedPersons and Consents. Each search is walked by `_lastUpdated`, never
 * `_offset` (see `searchAll`), and the record holds each resource once, at the latest version read.
 *
 * `handoverBundle` makes one `transaction` Bundle that can be applied at the destination any number
 * of times and leaves exactly one of each resource there:
 *
 * - Identity. Every resource is known by one business identifier, the same in every system:
 *   the Patient by NHS number (else its first identifier); any other resource by its dialog-fhir
 *   identifier (a system under `https://dialog-fhir.org/fhir/sid/`), else its first identifier;
 *   a resource with none is given `SOURCE_RESOURCE_SYSTEM|<sourceBaseUrl>/<Type>/<id>` — where it
 *   was first written — and keeps it, so the next handover (from here or from the destination
 *   onwards) names it the same way. Provenance has no `identifier` element in R4 (one found there
 *   is dropped, since a receiving server validating R4 refuses it): it is named by where it was
 *   first written, kept in `meta.source`, and written under a logical id derived from that name
 *   (`PUT Provenance/<uuid>`); going home, `POST` with `ifNoneExist=_id=<original id>` (a
 *   Provenance never changes, so the original stays as it is).
 * - Requests. `PUT Type?identifier=system|value` (conditional update) for everything but the
 *   Patient, which is `POST` with `ifNoneExist` on its identifier: the destination's own record of
 *   the person (its local identifiers, GP, contacts) is matched, never overwritten. A resource
 *   that comes back to the system it came from (`destinationBaseUrl` names its origin) is written
 *   over the original by id (`PUT Type/<id>`), without the origin identifier, so a round trip
 *   community → ward → community leaves the community's resources as they were.
 * - fullUrl: `urn:uuid:` + UUID v5 of `Type|system|value` — the same in every bundle for the same
 *   resource.
 * - References. Every `reference` to a carried resource (relative `Type/id`, or absolute on the
 *   source base, with or without `_history`) becomes that resource's fullUrl, which the
 *   destination resolves to its own id. A reference to anything not carried (Practitioner,
 *   Organization, CareTeam, …) becomes absolute on the source server (`<sourceBaseUrl>/Type/id`),
 *   `display` kept; an absolute reference to the destination's own base becomes relative again.
 *   `urn:`, `#contained` and logical (identifier-only) references are left as they are.
 * - Bodies lose the source's logical `id`, `meta.versionId` and `meta.lastUpdated`.
 * - Order: the Patient first, then carers and consent, responses, Observations, Goals, the plan,
 *   Provenance; within a type by fullUrl. (A transaction resolves the urn:uuids in any order.)
 */
import type {
  Bundle,
  BundleEntry,
  BundleEntryRequest,
  CarePlan,
  Consent,
  Goal,
  Identifier,
  Observation,
  Patient,
  Provenance,
  QuestionnaireResponse,
  RelatedPerson,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import {
  BASE,
  CARE_PLAN_IDENTIFIER_SYSTEM,
  DIALOG_QUESTIONNAIRE,
  NHS_NUMBER_SYSTEM,
} from '../fhir/canonical';
import { conditionalUrl, DIALOG_NAMESPACE, sameResource, uuidV5 } from '../fhir/stable-id';
import { fault, type HttpOutcomeError } from '../service/outcomes';
import { MAX_COUNT } from '../store';
import type { FhirStore } from '../store/fhir-store';
import { byLastUpdated, type WalkEnd } from './last-updated-pages';

/** Names where a resource without a business identifier was first written. */
export const SOURCE_RESOURCE_SYSTEM = `${BASE}/sid/source-resource`;
/** Systems whose identifiers dialog-fhir makes (all stable across systems). */
const DIALOG_SID_PREFIX = `${BASE}/sid/`;
/** The page size of every search (the store's cap). */
const PAGE = MAX_COUNT;
/** A bound on one search's pages (10 million matches), against a server that never ends one. */
const MAX_PAGES = 10_000;

export interface HandoverRecord {
  readonly patient: Patient;
  /** The person's one plan; absent when they have none (nothing to hand over). */
  readonly carePlan?: CarePlan;
  readonly goals: readonly Goal[];
  readonly responses: readonly QuestionnaireResponse[];
  readonly observations: readonly Observation[];
  readonly provenance: readonly Provenance[];
  readonly relatedPersons: readonly RelatedPerson[];
  readonly consents: readonly Consent[];
}

export interface HandoverBundleOptions {
  /** This system's FHIR base URL (what absolute references to what stays here start with). */
  readonly sourceBaseUrl: string;
  /**
   * The destination's FHIR base URL. With it, resources that came from there go back over their
   * originals (by id) and absolute references to it become relative again.
   */
  readonly destinationBaseUrl?: string;
  /**
   * `create-if-missing` (default): the destination's Patient is matched by identifier and left as
   * it is, or created. `update`: a conditional update, ours replacing theirs.
   */
  readonly patient?: 'create-if-missing' | 'update';
}

// ---- gathering ------------------------------------------------------------------------------

/**
 * Every match of a search, each once, at the latest version the walk met. Paged by keyset on
 * `_lastUpdated` (last-updated-pages.ts), not `_offset`: a store or peer that ignores `_offset` is
 * read whole, and a match updated while the person is gathered is not skipped (under `_offset` it
 * moved to the end and the match after it slid onto a page already read). Such a match is met
 * again at its new instant; a store's search gives current versions only and the walk's searches
 * run one after another, so the version met last is the newest the walk saw, and it replaces the
 * one met before. A walk that cannot read every match (the server answers outside the order asked
 * for, or ignores `_offset` with more than a page at one instant) fails the gather (502) rather
 * than hand over part of the person's record as if it were all of it.
 */
async function searchAll<K extends ResourceType>(
  store: FhirStore,
  type: K,
  params: Readonly<Record<string, string>>,
): Promise<Resource[]> {
  const end: WalkEnd = {};
  const latest = new Map<string, Resource>();
  for await (const page of byLastUpdated(
    { store, type, params, pageSize: PAGE, maxPages: MAX_PAGES },
    end,
  ))
    for (const resource of page) latest.set(resource.id ?? '', resource);
  if (end.why) throw notWhole(type, end.why);
  return [...latest.values()];
}

function notWhole(type: ResourceType, why: NonNullable<WalkEnd['why']>): HttpOutcomeError {
  const reason =
    why === 'offset-ignored'
      ? `the FHIR server ignores _offset and holds more than ${MAX_COUNT} of the person's ${type} resources changed at one instant`
      : why === 'unordered'
        ? 'the FHIR server answered outside the _lastUpdated order or range asked for'
        : `more than ${MAX_PAGES} pages`;
  return fault(
    502,
    'incomplete',
    `The person's ${type} resources could not be read whole: ${reason}`,
    type,
  );
}

/**
 * One of each resource (by id), the latest: of two versions met in different searches (a
 * Provenance both about the person and about the plan), the one changed last.
 */
function byId<T extends Resource>(resources: readonly Resource[]): T[] {
  const seen = new Map<string, T>();
  for (const r of resources) {
    if (!r.id) continue;
    const held = seen.get(r.id);
    if (!held || changedAt(r) > changedAt(held)) seen.set(r.id, r as T);
  }
  return [...seen.values()].sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
}

function changedAt(resource: Resource): number {
  const at = Date.parse(resource.meta?.lastUpdated ?? '');
  return Number.isNaN(at) ? -Infinity : at;
}

function isPlan(plan: CarePlan): boolean {
  return (plan.identifier ?? []).some((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM && i.value);
}

function isDialogResponse(response: QuestionnaireResponse): boolean {
  const q = response.questionnaire ?? '';
  return q === DIALOG_QUESTIONNAIRE || q.startsWith(`${DIALOG_QUESTIONNAIRE}|`);
}

/** The plan's Goals: those of the person it names, and any other it names by a relative id. */
async function planGoals(store: FhirStore, plan: CarePlan, subject: string): Promise<Goal[]> {
  const named = plan.goal ?? [];
  const mine = (await searchAll(store, 'Goal', { subject })) as Goal[];
  const found = mine.filter((goal) =>
    named.some(
      (ref) =>
        sameResource(ref.reference, `Goal/${goal.id ?? ''}`) ||
        (ref.identifier?.value !== undefined &&
          (goal.identifier ?? []).some(
            (i) => i.system === ref.identifier?.system && i.value === ref.identifier?.value,
          )),
    ),
  );
  for (const ref of named) {
    const id = /^Goal\/([A-Za-z0-9\-.]{1,64})$/.exec(ref.reference ?? '')?.[1];
    if (!id || found.some((g) => g.id === id)) continue;
    try {
      found.push(await store.read('Goal', id));
    } catch {
      // A goal the plan names but this store does not hold: the reference goes as it is.
    }
  }
  return byId<Goal>(found);
}

/**
 * Everything that moves with the person (see the module header). Rejects (404) when the Patient
 * does not exist; a person without a plan gives a record without one. With several plans in the
 * plan system (there should be one), the one updated last.
 */
export async function gatherHandover(store: FhirStore, patientId: string): Promise<HandoverRecord> {
  const patient = await store.read('Patient', patientId);
  const subject = `Patient/${patient.id ?? patientId}`;
  const plans = ((await searchAll(store, 'CarePlan', { subject })) as CarePlan[])
    .filter(isPlan)
    .sort(
      (a, b) =>
        (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? '') ||
        (a.id ?? '').localeCompare(b.id ?? ''),
    );
  const carePlan = plans[0];
  const [goals, responses, observations, aboutPerson, aboutPlan, relatedPersons, consents] =
    await Promise.all([
      carePlan ? planGoals(store, carePlan, subject) : Promise.resolve([]),
      searchAll(store, 'QuestionnaireResponse', { subject }),
      searchAll(store, 'Observation', { subject }),
      searchAll(store, 'Provenance', { patient: subject }),
      carePlan?.id
        ? searchAll(store, 'Provenance', { target: `CarePlan/${carePlan.id}` })
        : Promise.resolve([]),
      searchAll(store, 'RelatedPerson', { patient: subject }),
      searchAll(store, 'Consent', { patient: subject }),
    ]);
  return {
    patient,
    ...(carePlan ? { carePlan } : {}),
    goals,
    responses: byId<QuestionnaireResponse>(responses).filter(isDialogResponse),
    observations: byId<Observation>(observations),
    provenance: byId<Provenance>([...aboutPerson, ...aboutPlan]),
    relatedPersons: byId<RelatedPerson>(relatedPersons),
    consents: byId<Consent>(consents),
  };
}

/** The plan's business identifier: how the caller finds the plan at the destination. */
export function handoverPlanIdentifier(record: HandoverRecord): Identifier | undefined {
  const found = record.carePlan?.identifier?.find(
    (i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM && i.value,
  );
  return found ? { system: CARE_PLAN_IDENTIFIER_SYSTEM, value: found.value ?? '' } : undefined;
}

// ---- identities -----------------------------------------------------------------------------

/** `[base/]Type/id[/_history/v]` (as stable-id.ts reads literal references). */
const LITERAL_REFERENCE =
  /^(?:(https?:\/\/\S+)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

interface Key {
  readonly system: string;
  readonly value: string;
}

interface Planned {
  readonly type: string;
  readonly sourceId: string;
  readonly key: Key;
  readonly fullUrl: string;
  readonly body: Resource;
  readonly request: BundleEntryRequest;
}

const TYPE_ORDER = [
  'Patient',
  'RelatedPerson',
  'Consent',
  'QuestionnaireResponse',
  'Observation',
  'Goal',
  'CarePlan',
  'Provenance',
] as const;

function trimBase(url: string): string {
  return url.replace(/\/+$/, '');
}

/** A resource's identifiers, whether the element repeats (most) or not (QuestionnaireResponse). */
function identifiersOf(resource: Resource): Identifier[] {
  const value = (resource as { identifier?: Identifier | Identifier[] }).identifier;
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function full(identifier: Identifier): Key | undefined {
  return identifier.system && identifier.value
    ? { system: identifier.system, value: identifier.value }
    : undefined;
}

/** The identifier the resource is known by everywhere, if it has one (see the header). */
function businessKey(resource: Resource): Key | undefined {
  const ids = identifiersOf(resource);
  const pick = (test: (i: Identifier) => boolean): Key | undefined => {
    const found = ids.find((i) => test(i) && full(i));
    return found ? full(found) : undefined;
  };
  if (resource.resourceType === 'Patient') {
    const nhs = pick((i) => i.system === NHS_NUMBER_SYSTEM);
    if (nhs) return nhs;
  }
  return (
    pick((i) => (i.system ?? '').startsWith(DIALOG_SID_PREFIX)) ??
    pick((i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM) ??
    pick(() => true)
  );
}

function fullUrlFor(type: string, key: Key): string {
  return `urn:uuid:${uuidV5(`${type}|${key.system}|${key.value}`, DIALOG_NAMESPACE)}`;
}

/** `<base>/Type/id` of a name in the source-resource system, when it names `type` on `base`. */
function originId(value: string, type: string, base: string | undefined): string | undefined {
  if (base === undefined) return undefined;
  const prefix = `${base}/${type}/`;
  if (!value.startsWith(prefix)) return undefined;
  const id = value.slice(prefix.length);
  return /^[A-Za-z0-9\-.]{1,64}$/.test(id) ? id : undefined;
}

/** Where a Provenance without an identifier was first written (meta.source, else here). */
function provenanceOrigin(provenance: Resource, sourceBase: string): string {
  const source = provenance.meta?.source;
  if (source) {
    const match = LITERAL_REFERENCE.exec(source);
    if (match?.[1] && match[2] === 'Provenance' && !match[4]) return source;
  }
  return `${sourceBase}/Provenance/${provenance.id ?? ''}`;
}

function withoutServerMeta<T extends Resource>(resource: T): T {
  const body = structuredClone(resource);
  delete body.id;
  if (body.meta) {
    const meta = { ...body.meta };
    delete meta.versionId;
    delete meta.lastUpdated;
    if (Object.keys(meta).length > 0) body.meta = meta;
    else delete body.meta;
  }
  return body;
}

function setIdentifiers(body: Resource, identifiers: Identifier[]): void {
  const record = body as unknown as Record<string, unknown>;
  if (identifiers.length === 0) delete record.identifier;
  else if (body.resourceType === 'QuestionnaireResponse') record.identifier = identifiers[0];
  else record.identifier = identifiers;
}

function plan(
  resource: Resource,
  options: HandoverBundleOptions,
  sourceBase: string,
  destinationBase: string | undefined,
  used: Set<string>,
): Planned {
  const type = resource.resourceType;
  const sourceId = resource.id ?? '';
  const body = withoutServerMeta(resource);
  const origin = `${sourceBase}/${type}/${sourceId}`;

  if (type === 'Provenance') {
    // R4 Provenance has no identifier (one there is dropped: a receiving server would refuse it),
    // and a Provenance never changes: it is named by where it was first written.
    const name = provenanceOrigin(resource, sourceBase);
    const source = { system: SOURCE_RESOURCE_SYSTEM, value: name };
    delete (body as { identifier?: unknown }).identifier;
    const home = originId(name, type, destinationBase);
    let request: BundleEntryRequest;
    if (home) {
      // Back where it was written: the original is there already (created only if it is not).
      if (body.meta) delete body.meta.source;
      if (body.meta && Object.keys(body.meta).length === 0) delete body.meta;
      request = { method: 'POST', url: type, ifNoneExist: `_id=${home}` };
    } else {
      const id = uuidV5(`${SOURCE_RESOURCE_SYSTEM}|${name}`, DIALOG_NAMESPACE);
      body.id = id;
      body.meta = { ...body.meta, source: name };
      request = { method: 'PUT', url: `${type}/${id}` };
    }
    return { type, sourceId, key: source, fullUrl: fullUrlFor(type, source), body, request };
  }

  let key = businessKey(resource);
  if (key && used.has(fullUrlFor(type, key))) key = undefined; // two share it: name each by origin
  if (!key) {
    key = { system: SOURCE_RESOURCE_SYSTEM, value: origin };
    setIdentifiers(body, [...identifiersOf(body), { ...key }]);
  }
  const fullUrl = fullUrlFor(type, key);
  const home =
    key.system === SOURCE_RESOURCE_SYSTEM ? originId(key.value, type, destinationBase) : undefined;
  let request: BundleEntryRequest;
  if (home) {
    // Back where it was first written: over the original, without the name it travelled under.
    body.id = home;
    setIdentifiers(
      body,
      identifiersOf(body).filter(
        (i) => !(i.system === SOURCE_RESOURCE_SYSTEM && i.value === key.value),
      ),
    );
    request = { method: 'PUT', url: `${type}/${home}` };
  } else if (
    type === 'Patient' &&
    (options.patient ?? 'create-if-missing') === 'create-if-missing'
  ) {
    request = {
      method: 'POST',
      url: 'Patient',
      ifNoneExist: conditionalUrl('Patient', key).slice('Patient?'.length),
    };
  } else {
    request = { method: 'PUT', url: conditionalUrl(type, key) };
  }
  return { type, sourceId, key, fullUrl, body, request };
}

/** Rewrites every `reference` in `node` (in place) by `rewrite`. */
function rewriteReferences(node: unknown, rewrite: (reference: string) => string): void {
  if (Array.isArray(node)) {
    for (const item of node) rewriteReferences(item, rewrite);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(record)) {
    if (key === 'reference' && typeof value === 'string') record[key] = rewrite(value);
    else if (typeof value === 'object' && value !== null) rewriteReferences(value, rewrite);
  }
}

function referenceRewriter(
  carried: ReadonlyMap<string, string>,
  sourceBase: string,
  destinationBase: string | undefined,
): (reference: string) => string {
  return (reference) => {
    const match = LITERAL_REFERENCE.exec(reference);
    if (!match) return reference; // urn:, #contained, anything else
    const [, base, type = '', id = '', history = ''] = match;
    const local = base === undefined || trimBase(base) === sourceBase;
    if (local) {
      const fullUrl = carried.get(`${type}/${id}`);
      if (fullUrl) return fullUrl;
    }
    if (base === undefined) return `${sourceBase}/${type}/${id}${history}`;
    if (destinationBase !== undefined && trimBase(base) === destinationBase)
      return `${type}/${id}${history}`;
    return reference;
  };
}

function resourcesOf(record: HandoverRecord): Resource[] {
  return [
    record.patient,
    ...record.relatedPersons,
    ...record.consents,
    ...record.responses,
    ...record.observations,
    ...record.goals,
    ...(record.carePlan ? [record.carePlan] : []),
    ...record.provenance,
  ];
}

interface Prepared {
  readonly planned: Planned[];
  readonly rewrite: (reference: string) => string;
}

function prepare(record: HandoverRecord, options: HandoverBundleOptions): Prepared {
  const sourceBase = trimBase(options.sourceBaseUrl);
  const destinationBase =
    options.destinationBaseUrl === undefined ? undefined : trimBase(options.destinationBaseUrl);
  const rank = (type: string): number => TYPE_ORDER.indexOf(type as (typeof TYPE_ORDER)[number]);
  const resources = resourcesOf(record)
    .filter(
      (r, i, all) => all.findIndex((o) => o.resourceType === r.resourceType && o.id === r.id) === i,
    )
    .sort(
      (a, b) =>
        rank(a.resourceType) - rank(b.resourceType) || (a.id ?? '').localeCompare(b.id ?? ''),
    );
  const used = new Set<string>();
  const planned: Planned[] = [];
  for (const resource of resources) {
    const entry = plan(resource, options, sourceBase, destinationBase, used);
    used.add(entry.fullUrl);
    planned.push(entry);
  }
  const carried = new Map(planned.map((p) => [`${p.type}/${p.sourceId}`, p.fullUrl]));
  const rewrite = referenceRewriter(carried, sourceBase, destinationBase);
  planned.sort((a, b) => rank(a.type) - rank(b.type) || a.fullUrl.localeCompare(b.fullUrl));
  return { planned, rewrite };
}

/**
 * The transaction Bundle that leaves the destination holding what `record` holds, once, however
 * often it is applied (see the module header for the rules).
 */
export function handoverBundle(record: HandoverRecord, options: HandoverBundleOptions): Bundle {
  return bundleOf(prepare(record, options));
}

function bundleOf({ planned, rewrite }: Prepared): Bundle {
  const entry: BundleEntry[] = planned.map((p) => {
    rewriteReferences(p.body, rewrite);
    return { fullUrl: p.fullUrl, resource: p.body, request: p.request };
  });
  return { resourceType: 'Bundle', type: 'transaction', ...(entry.length > 0 ? { entry } : {}) };
}

/** How `handoverBundle` names and words the resources of `record` (for three-way merges). */
export interface BundleTerms {
  /** The fullUrl the bundle gives the resource of this type and (source) id, if it carries it. */
  fullUrlOf(type: string, id: string): string | undefined;
  /** The resource of this type and (source) id the bundle carries (as `record` holds it). */
  sourceOf(fullUrl: string): { readonly type: string; readonly id: string } | undefined;
  /**
   * Another version of a resource in the bundle's terms: references rewritten as the bundle's
   * are, the source's id, versionId and lastUpdated dropped.
   */
  inBundleTerms<T extends Resource>(resource: T): T;
}

export function bundleTerms(record: HandoverRecord, options: HandoverBundleOptions): BundleTerms {
  return termsOf(prepare(record, options));
}

/**
 * `handoverBundle` and `bundleTerms` at once, from one pass over the record (origin marks on the
 * record change neither the names nor the references).
 */
export function handoverBundleAndTerms(
  record: HandoverRecord,
  options: HandoverBundleOptions,
): { bundle: Bundle; terms: BundleTerms } {
  const prepared = prepare(record, options);
  const terms = termsOf(prepared);
  return { bundle: bundleOf(prepared), terms };
}

function termsOf({ planned, rewrite }: Prepared): BundleTerms {
  const byFullUrl = new Map(planned.map((p) => [p.fullUrl, p]));
  const bySource = new Map(planned.map((p) => [`${p.type}/${p.sourceId}`, p]));
  return {
    fullUrlOf: (type, id) => bySource.get(`${type}/${id}`)?.fullUrl,
    sourceOf: (fullUrl) => {
      const found = byFullUrl.get(fullUrl);
      return found ? { type: found.type, id: found.sourceId } : undefined;
    },
    inBundleTerms: (resource) => {
      const body = withoutServerMeta(resource);
      rewriteReferences(body, rewrite);
      return body;
    },
  };
}
