/**
 * The FHIR interactions of the service — read, vread, search, history, create, update — free of
 * any web framework (as Medplum's fhir-router is), so the Express shell in src/api stays thin and
 * every rule here is tested without HTTP.
 *
 * On every call: the caller's scopes for the interaction and type, and its patient context (a
 * person, or a carer acting for one) confine what it may touch. Every write is validated (R4,
 * declared profiles; DIALOG responses against the DIALOG profile and Questionnaire; NHS numbers)
 * before anything is stored, and a DIALOG response is submitted as a session (submit-session.ts).
 */
import type {
  OperationOutcome,
  QuestionnaireResponse,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import { DIALOG_NAMESPACE, tokenSearch, uuidV5 } from '../fhir';
import { isDialogResponse } from '../fhir/history';
import {
  parseSearch,
  sameContent,
  type FhirStore,
  type SearchResult,
  type StoredText,
  type WriteResult,
} from '../store';
import type { HistoryPage, HistoryResult } from '../store/fhir-store';
import { DIALOG_QR_PROFILE, hasErrors, outcome, type Validator } from '../validation';
import { patientSearchParameter } from '../auth';
import type { Access } from './access';
import { isAnyVersion, noCurrentVersion, soleMatch, versionCondition, versionOf } from './if-match';
import { KeyedQueue } from './keyed-queue';
import {
  checkNhsNumberFree,
  nhsNumberIssues,
  nhsNumberKeys,
  nhsNumberSearchIssue,
} from './nhs-number';
import { fault, HttpOutcomeError, stale, statusOf, unprocessable } from './outcomes';
import { SessionSubmitter } from './submit-session';
import {
  checkKeepsPerson,
  checkSamePerson,
  personElement,
  storedOrUndefined,
  upToTwoMatches,
} from './references';
import { resolveSubject } from './subject';

/** The resource types served at /fhir (DESIGN.md, issue 4). */
export const SERVED_TYPES: readonly ResourceType[] = [
  'Patient',
  'Questionnaire',
  'QuestionnaireResponse',
  'Observation',
  'CarePlan',
  'Goal',
  'Task',
  'Provenance',
  'AuditEvent',
  'RelatedPerson',
  'Consent',
  // The directory (no one's patient data): clinicians and systems keep the records of the
  // people and organisations a plan names, e.g. so the plan can be sent to their addresses.
  'Practitioner',
  'PractitionerRole',
  'Organization',
];
const SERVED = new Set<string>(SERVED_TYPES);

/**
 * At most how many times `If-Match: *` on a conditional update finds its match and writes over
 * it: each time after the first is because another write changed the match in between.
 */
const ANY_MATCH_ROUNDS = 3;

export interface ServiceDeps {
  readonly store: FhirStore;
  readonly validator: Validator;
  readonly now: () => Date;
  readonly newId: () => string;
}

export class FhirService {
  readonly submitter: SessionSubmitter;
  /**
   * Writes whose checks read what another write could change meanwhile — an NHS number being
   * no one else's, a session's If-None-Exist or conditional update finding nothing — hold a key
   * for it (the NHS number, the condition) from the check to the write, so within this process
   * two such writes take turns instead of both passing the check. Across processes (replicas
   * over the fhir-server store) only the store could do it: see README.
   */
  private readonly identities = new KeyedQueue();

  constructor(readonly deps: ServiceDeps) {
    this.submitter = new SessionSubmitter({ store: deps.store, now: deps.now });
  }

  async read(access: Access, type: string, id: string): Promise<Resource> {
    const served = servedType(type);
    access.check('read', served);
    return this.visible(access, await this.deps.store.read(served, id));
  }

  /**
   * As `read`, for a caller that sends the resource on unchanged: with the store's JSON text of
   * it (`stored`) when the store keeps one and the caller sees the whole resource. `whole` says
   * whether what the caller sees is the stored version itself (a carer's reduced view is not, and
   * comes without the text). Nothing between the store and the caller changes the resource (the
   * access checks only look at it).
   */
  async readToSend(
    access: Access,
    type: string,
    id: string,
  ): Promise<{ resource: Resource; whole: boolean; stored?: StoredText<Resource> }> {
    const served = servedType(type);
    access.check('read', served);
    const { store } = this.deps;
    // Called on the store (not detached), so a store's own `this` holds.
    const stored: Partial<StoredText<Resource>> & { resource: Resource } = store.readStored
      ? await store.readStored(served, id)
      : { resource: await store.read(served, id) };
    const shown = this.visible(access, stored.resource);
    if (shown !== stored.resource) return { resource: shown, whole: false };
    return stored.text === undefined
      ? { resource: shown, whole: true }
      : { resource: shown, whole: true, stored: { resource: shown, text: stored.text } };
  }

  async vread(access: Access, type: string, id: string, versionId: string): Promise<Resource> {
    return (await this.vreadToSend(access, type, id, versionId)).resource;
  }

  /** As `vread`, saying whether the caller sees the whole version (see `readToSend`). */
  async vreadToSend(
    access: Access,
    type: string,
    id: string,
    versionId: string,
  ): Promise<{ resource: Resource; whole: boolean }> {
    const served = servedType(type);
    access.check('vread', served);
    const version = await this.deps.store.vread(served, id, versionId);
    const shown = this.visible(access, version);
    return { resource: shown, whole: shown === version };
  }

  /**
   * One page of a resource's history, paged by the store (a plan's history grows at every
   * session). The current version decides (a resource moved out of the person's record is not
   * theirs): read when the page does not start with it.
   * Versions not the caller's are dropped from the page, and `total` still counts every version
   * the store holds (since `_since`), so a page may hold fewer than `_count` while the links
   * (by the store's positions) skip and repeat nothing. Filling the page instead would mean
   * reading every version before the offset to know which are shown: the whole history again.
   * So the total may count versions not shown (one written before the record had its person, one
   * a carer's Consent does not share): how many, never what they hold.
   */
  async historyPage(
    access: Access,
    type: string,
    id: string,
    page: HistoryPage,
  ): Promise<HistoryResult<Resource>> {
    const served = servedType(type);
    access.check('history', served);
    const found = await this.deps.store.historyPage(served, id, page);
    // Only then is the first of the page the current version (the newest since nothing).
    const first = page.offset === 0 && page.since === undefined ? found.versions[0] : undefined;
    this.visible(access, first ?? (await this.deps.store.read(served, id)));
    return { versions: shownVersions(access, found.versions), total: found.total };
  }

  async search(
    access: Access,
    type: string,
    params: URLSearchParams,
  ): Promise<SearchResult<Resource>> {
    const served = servedType(type);
    access.check('search', served);
    checkIdentifierSearch(served, params);
    const query = pinToPatient(access, served, withoutTotal(params));
    const found = await this.deps.store.search(served, query);
    if (access.context.role === 'carer') return this.searchAsShared(access, served, query, found);
    // What the caller may see of each match, never the stored whole (view is the identity for
    // everyone but carers).
    return { ...found, resources: found.resources.flatMap((r) => access.view(r) ?? []) };
  }

  /**
   * A carer's search, paged over what the person's Consent shares: what consent hides is neither
   * counted (a total, even of an empty page, would tell what exists and when) nor leaves a page
   * short. When the Consent alone tells (`Access.shareOf`: a type shared not at all, or whole),
   * that is the answer. Otherwise a carer is confined to one person, so every match of theirs is
   * read (at most CARER_SEARCH_LIMIT) and the view paged here. `first` is the store's answer to
   * the query as given (its checks, and the page size and offset it applied).
   */
  private async searchAsShared(
    access: Access,
    type: ResourceType,
    query: URLSearchParams,
    first: SearchResult<Resource>,
  ): Promise<SearchResult<Resource>> {
    const { offset, count } = first;
    // Decided from the Consent alone: nothing to read for a type it shares none of, and the
    // store's own page (its total, its offset) for a type it shares every resource of.
    const share = access.shareOf?.(type) ?? 'some';
    if (share === 'none') return { resources: [], total: 0, offset, count };
    if (share === 'every')
      return { ...first, resources: first.resources.flatMap((r) => access.view(r) ?? []) };
    const page = (shown: Resource[]): SearchResult<Resource> => ({
      resources: shown.slice(offset, offset + count),
      total: shown.length,
      offset,
      count,
    });
    // Nothing matches, or the first page holds every match: no more to read.
    if (first.total === 0 || (offset === 0 && first.resources.length === first.total))
      return page(first.resources.flatMap((r) => access.view(r) ?? []));
    const all = new URLSearchParams(query);
    all.set('_count', String(CARER_SEARCH_PAGE));
    const shown: Resource[] = [];
    let read = 0;
    while (read < CARER_SEARCH_LIMIT) {
      all.set('_offset', String(read));
      const next = await this.deps.store.search(type, all);
      shown.push(...next.resources.flatMap((r) => access.view(r) ?? []));
      read += next.resources.length;
      if (next.resources.length === 0 || read >= next.total) break;
    }
    return page(shown);
  }

  /** Runs `task` holding these keys (see `identities`); keys are taken in one order. */
  withIdentities<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    return this.identities.runAll(keys, task);
  }

  async create(
    access: Access,
    type: string,
    body: unknown,
    ifNoneExist?: string,
  ): Promise<WriteResult<Resource>> {
    const resource = this.checked(access, 'create', type, body);
    if (ifNoneExist !== undefined) checkConditionalCreate(access, resource.resourceType);
    const keys = nhsNumberKeys(resource);
    if (ifNoneExist !== undefined && isDialogSession(resource))
      keys.push(conditionKey(checkedCondition(access, 'QuestionnaireResponse', ifNoneExist)));
    return this.withIdentities(keys, () => this.createChecked(access, type, resource, ifNoneExist));
  }

  private async createChecked(
    access: Access,
    type: string,
    resource: Resource,
    ifNoneExist: string | undefined,
  ): Promise<WriteResult<Resource>> {
    // A create ignores an id in the body (FHIR create): the session's id comes from sessionId.
    if (isDialogSession(resource)) {
      const { id: _ignored, ...body } = resource;
      void _ignored;
      if (ifNoneExist !== undefined) {
        const match = await this.sessionMatching(access, ifNoneExist);
        if (match) return { resource: match, created: false };
      }
      return this.submitSession(access, body as QuestionnaireResponse, undefined);
    }
    await checkSamePerson(this.deps.store, resource, confinedOf(access));
    const condition =
      ifNoneExist !== undefined ? checkedCondition(access, type, ifNoneExist) : undefined;
    // A conditional create that finds its match writes nothing: only a new Patient is checked.
    if (
      resource.resourceType === 'Patient' &&
      (condition === undefined ||
        (await upToTwoMatches(this.deps.store, 'Patient', condition)).length === 0)
    )
      await checkNhsNumberFree(this.deps.store, resource, undefined, 'Patient');
    return this.deps.store.create(
      resource,
      condition !== undefined ? { ifNoneExist: condition } : {},
    );
  }

  async update(
    access: Access,
    type: string,
    id: string,
    body: unknown,
    ifMatch?: string,
  ): Promise<WriteResult<Resource>> {
    const resource = this.checked(access, 'update', type, body);
    return this.withIdentities(nhsNumberKeys(resource), () =>
      this.updateChecked(access, type, id, resource, ifMatch),
    );
  }

  private async updateChecked(
    access: Access,
    type: string,
    id: string,
    resource: Resource,
    ifMatch: string | undefined,
  ): Promise<WriteResult<Resource>> {
    if (resource.id !== id)
      throw fault(400, 'invalid', 'The body’s id must be the id in the URL', `${type}.id`);
    checkIdSegment(type, id);
    const session = isDialogSession(resource);
    const anyVersion = !session && isAnyVersion(ifMatch);
    // The stored version, when a rule needs it (the session pipeline reads its own).
    const current =
      access.patient !== undefined ||
      anyVersion ||
      (!session && (personElement(type) !== undefined || type === 'Provenance'))
        ? await storedOrUndefined(this.deps.store, resource.resourceType, id)
        : undefined;
    // An update may not take over a resource that belongs to someone else.
    if (current && access.patient !== undefined) this.visible(access, current);
    if (session) return this.submitSession(access, resource, ifMatch);
    if (anyVersion && !current) throw noCurrentVersion(`${type}.meta.versionId`);
    checkKeepsPerson(current, resource);
    checkProvenanceKept(current, resource);
    await checkSamePerson(this.deps.store, resource, confinedOf(access));
    if (resource.resourceType === 'Patient')
      await checkNhsNumberFree(this.deps.store, resource, id, 'Patient');
    const version = versionCondition(ifMatch);
    return this.deps.store.update(resource, version !== undefined ? { ifMatch: version } : {});
  }

  /**
   * Conditional update (`PUT Type?search`): no match creates, one match is updated (a 400 if the
   * body names another id), several are a 412. A DIALOG session goes through the session pipeline
   * under the id found, holding its condition's key from the search to the write (as a session's
   * If-None-Exist does, and the same key), so two with one condition in this process do not both
   * find nothing and create two sessions.
   */
  async conditionalUpdate(
    access: Access,
    type: string,
    query: URLSearchParams,
    body: unknown,
    ifMatch?: string,
  ): Promise<WriteResult<Resource>> {
    const resource = this.checked(access, 'update', type, body);
    const condition = pinToPatient(access, resource.resourceType, query);
    if (resource.id !== undefined) checkIdSegment(type, resource.id);
    const keys = nhsNumberKeys(resource);
    if (!isDialogSession(resource))
      return this.withIdentities(keys, () =>
        this.conditionalUpdateChecked(access, type, condition, resource, ifMatch),
      );
    keys.push(conditionKey(condition.toString()));
    return this.withIdentities(keys, () =>
      this.conditionalSessionChecked(access, type, condition, resource, ifMatch),
    );
  }

  /** A session's conditional update, once its keys are held: `update` under the id found. */
  private async conditionalSessionChecked(
    access: Access,
    type: string,
    condition: URLSearchParams,
    resource: QuestionnaireResponse,
    ifMatch: string | undefined,
  ): Promise<WriteResult<Resource>> {
    const found = await this.deps.store.search(resource.resourceType, condition);
    if (found.total > 1)
      throw fault(412, 'multiple-matches', 'Several resources match the condition', type);
    const match = found.resources[0]?.id;
    if (match !== undefined && resource.id !== undefined && resource.id !== match)
      throw fault(400, 'invalid', 'The body’s id is not the id of the match', `${type}.id`);
    // With no match and no id, the id a create of this session would get (sessionId): replicas
    // that each hold their own keys land on one id for one session, and the second write is
    // an update of the first rather than a second session.
    const id = match ?? resource.id ?? (await this.sessionId(access, resource));
    // Not `update`: the body is checked already, and its keys are held (taking them again here
    // would wait for this very task).
    return this.updateChecked(access, type, id, { ...resource, id }, ifMatch);
  }

  /** A conditional update of anything but a DIALOG session, once its keys are held. */
  private async conditionalUpdateChecked(
    access: Access,
    type: string,
    condition: URLSearchParams,
    resource: Resource,
    ifMatch: string | undefined,
  ): Promise<WriteResult<Resource>> {
    await checkSamePerson(this.deps.store, resource, confinedOf(access));
    if (isAnyVersion(ifMatch)) return this.updateSoleMatch(type, condition, resource);
    if (personElement(type) !== undefined || type === 'Provenance' || type === 'Patient') {
      const found = await this.deps.store.search(resource.resourceType, condition);
      // Several matches are the store's 412; one is the resource this update would replace.
      const [match, ...more] = found.resources;
      if (more.length === 0)
        await checkOverwrite(this.deps.store, match, resource, match?.id ?? resource.id);
    }
    return this.deps.store.conditionalUpdate(
      resource,
      condition,
      ifMatch !== undefined ? { ifMatch } : {},
    );
  }

  /**
   * `If-Match: *` on a conditional update: the condition's one match (`soleMatch`), checked and
   * written under its id over the version found, so the write lands only while that resource is
   * as it was found — still matching, still passing the checks made on it — and never creates
   * (a conditional update finding nothing by then would). When another write gets in between,
   * the condition is resolved again rather than the update refused: `*` names no version, so a
   * change that keeps the match is no reason to fail, and a 412 would tell the client there is
   * nothing to update (it might then create a second one). A match gone by then ends as the 412
   * for no match. ANY_MATCH_ROUNDS bounds the rounds for a resource rewritten without pause.
   */
  private async updateSoleMatch(
    type: string,
    condition: URLSearchParams,
    resource: Resource,
  ): Promise<WriteResult<Resource>> {
    const { store } = this.deps;
    const where = { condition: type, ifMatch: `${type}.meta.versionId`, id: `${type}.id` };
    for (let round = 1; ; round++) {
      const match = await soleMatch(
        store,
        resource.resourceType,
        `${condition}`,
        where,
        resource.id,
      );
      await checkOverwrite(store, match, resource, match.id);
      // A store that keeps no versions gives none: the match's id alone is then written.
      const version = versionOf(match);
      try {
        return await store.update(
          { ...resource, id: match.id },
          version !== undefined ? { ifMatch: version } : {},
        );
      } catch (err) {
        if (statusOf(err) !== 412 || version === undefined) throw err;
        if (round >= ANY_MATCH_ROUNDS)
          throw stale(
            'The resource the condition matches kept changing while this update was made: nothing was written (send it again)',
            where.ifMatch,
          );
      }
    }
  }

  /** A resource checked for this write: type, scopes, validity and the caller's patient context. */
  checked(access: Access, interaction: 'create' | 'update', type: string, body: unknown): Resource {
    const served = servedType(type);
    access.check(interaction, served);
    checkWritable(access, served, served, interaction);
    const resource = bodyOfType(body, served);
    const result = this.validate(resource);
    if (hasErrors(result)) throw unprocessable(result);
    if (!access.inCompartment(resource))
      throw fault(
        403,
        'forbidden',
        'This resource is about someone outside the patient context of your access',
        served,
      );
    return resource;
  }

  validate(resource: Resource): OperationOutcome {
    const options = isDialogResponse(resource as QuestionnaireResponse)
      ? { profile: DIALOG_QR_PROFILE }
      : {};
    const result = this.deps.validator.validate(resource, options);
    if (resource.resourceType !== 'Patient' || hasErrors(result)) return result;
    const issues = nhsNumberIssues(resource.identifier, 'Patient');
    return issues.length > 0 ? outcome(issues) : result;
  }

  private visible<T extends Resource>(access: Access, resource: T): T {
    if (!access.inCompartment(resource))
      throw fault(
        403,
        'forbidden',
        'This resource is outside the patient context of your access',
        resource.resourceType,
      );
    const shown = access.view(resource);
    if (shown) return shown;
    throw fault(
      403,
      'forbidden',
      'The person has not agreed to share this with you',
      resource.resourceType,
    );
  }

  /**
   * A session's `If-None-Exist`: the stored response it names (nothing is written then), or none;
   * a 412 when it names several. Checked before the session's transaction, not inside it, but
   * under the condition's key (`identities`, `create`), so in one process two submissions with
   * one condition take turns; replicas racing can both find nothing. A business identifier on
   * the response is what makes a resubmission one session for certain.
   */
  private async sessionMatching(
    access: Access,
    ifNoneExist: string,
  ): Promise<Resource | undefined> {
    // The caller's own condition must name something (pinning it to the person adds a filter
    // that matches any of their sessions), and takes no paging or sorting.
    const own = parseSearch('QuestionnaireResponse', new URLSearchParams(ifNoneExist), {
      condition: true,
      at: 'QuestionnaireResponse',
    });
    if (own.filters.length === 0)
      throw fault(
        400,
        'invalid',
        'If-None-Exist needs a search parameter',
        'QuestionnaireResponse',
      );
    const condition = checkedCondition(access, 'QuestionnaireResponse', ifNoneExist);
    const found = await upToTwoMatches(this.deps.store, 'QuestionnaireResponse', condition);
    if (found.length > 1)
      throw fault(
        412,
        'multiple-matches',
        'If-None-Exist matches more than one resource',
        'QuestionnaireResponse',
      );
    const match = found[0];
    return match ? this.visible(access, match) : undefined;
  }

  private async submitSession(
    access: Access,
    response: QuestionnaireResponse,
    ifMatch: string | undefined,
  ): Promise<WriteResult<Resource>> {
    checkNotLater(response, this.deps.now());
    const { response: resolved, newPatient } = await resolveSubject(
      this.deps.store,
      response,
      this.deps.newId,
    );
    if (!access.inCompartment(resolved))
      throw fault(
        403,
        'forbidden',
        'The session is about someone else',
        'QuestionnaireResponse.subject',
      );
    await checkSamePerson(this.deps.store, resolved, confinedOf(access));
    const id = resolved.id ?? (await this.sessionId(access, resolved));
    const result = await this.submitter.submit({
      response: resolved,
      id,
      agent: access.agent,
      ...(ifMatch !== undefined ? { ifMatch } : {}),
      ...(newPatient ? { newPatient } : {}),
    });
    return { resource: result.response, created: result.created };
  }

  /**
   * The id a new session is stored under. A session with a business identifier keeps one id for
   * good: the stored one when the identifier is known, else one derived from the identifier, so
   * the same session submitted twice (or fifty times at once) is one resource.
   */
  private async sessionId(access: Access, response: QuestionnaireResponse): Promise<string> {
    const identifier = response.identifier;
    if (!identifier?.system || !identifier.value) return this.deps.newId();
    const found = await this.deps.store.search('QuestionnaireResponse', {
      identifier: tokenSearch(identifier.system, identifier.value),
    });
    if (found.total > 1)
      throw fault(
        412,
        'multiple-matches',
        'Several stored responses have this identifier',
        'QuestionnaireResponse.identifier',
      );
    const match = found.resources[0];
    // The identifier must name this person's session: another person's is never taken over.
    if (
      match &&
      (match.subject?.reference !== response.subject?.reference || !access.inCompartment(match))
    )
      throw fault(
        409,
        'conflict',
        'A session with this identifier is stored for someone else',
        'QuestionnaireResponse.identifier',
      );
    return match?.id ?? uuidV5(`${identifier.system}|${identifier.value}`, DIALOG_NAMESPACE);
  }
}

/**
 * Whether the caller writes a dialog-fhir audit trail into this server: a dialog-fhir in front
 * of this one (STORE=<this server>) whose token names `system/AuditEvent.c` itself — a wildcard
 * (`system/*.cruds`) is not enough — or anyone with AUTH=off. New AuditEvents only: none is ever
 * changed (the embedded store refuses a changed one by any path).
 */
function writesAuditTrail(access: Access): boolean {
  const { mode, scopes } = access.context;
  return (
    mode === 'off' ||
    scopes.some(
      (s) => s.context === 'system' && s.resourceType === 'AuditEvent' && s.permissions.has('c'),
    )
  );
}

/**
 * The record of what was done is not the callers' to write. AuditEvents are this service's own
 * (one for every request, src/api/audit-trail.ts, written to the store directly): through the
 * API they are read and searched, never created or changed (405) — but by another dialog-fhir
 * keeping its trail here (`writesAuditTrail`). Provenance says who wrote a
 * record: a caller confined to one person (the person, a carer, a patient launch) never writes
 * one (403), and a stored one is never changed by a PUT (`checkProvenanceKept`).
 */
export function checkWritable(
  access: Access,
  type: ResourceType,
  where: string,
  interaction: 'create' | 'update',
): void {
  if (type === 'AuditEvent' && !(interaction === 'create' && writesAuditTrail(access)))
    throw fault(
      405,
      'not-supported',
      'AuditEvents are written by this service only, one for every request: they can be read and searched, not written',
      where,
    );
  if (type === 'Provenance' && access.patient !== undefined)
    throw fault(
      403,
      'forbidden',
      'Provenance is written by clinicians and systems, not by a caller confined to one person',
      where,
    );
}

/** A PUT over a stored Provenance: refused (409), since what happened does not change. */
export function checkProvenanceKept(
  current: Resource | undefined,
  resource: Resource,
  where = 'Provenance',
): void {
  if (current?.resourceType !== 'Provenance' || sameContent(current, resource)) return;
  throw fault(
    409,
    'conflict',
    'A stored Provenance records what happened and is never changed: write a new Provenance',
    where,
  );
}

/** How far another system's clock may run ahead of ours. */
const CLOCK_SKEW_MS = 60 * 60 * 1000;

/**
 * A session is recorded after it took place: one dated later than now (give or take a clock's
 * skew) is refused. Stored, a mistyped year would be the person's latest rating and put their
 * next review years away, silencing an overdue one.
 */
function checkNotLater(response: QuestionnaireResponse, now: Date): void {
  const authored = response.authored === undefined ? NaN : Date.parse(response.authored);
  if (Number.isNaN(authored) || authored <= now.getTime() + CLOCK_SKEW_MS) return;
  throw fault(
    422,
    'value',
    'The session is dated in the future: a session is recorded after it took place (check the year)',
    'QuestionnaireResponse.authored',
  );
}

/** A carer's search reads the person's matches in pages of this size, up to the limit. */
const CARER_SEARCH_PAGE = 1000;
const CARER_SEARCH_LIMIT = 20_000;

/** Whether the caller is confined to one person (see `checkSamePerson`). */
function confinedOf(access: Access): { confined: boolean } {
  return { confined: access.patient !== undefined };
}

export function servedType(type: string): ResourceType {
  if (SERVED.has(type)) return type as ResourceType;
  throw fault(
    404,
    'not-supported',
    `This server does not serve that resource type; it serves ${SERVED_TYPES.join(', ')}`,
    'Resource.resourceType',
  );
}

/**
 * FHIR's id pattern allows `.` and `..`, but as a path segment either one is resolved away
 * (RFC 3986): `QuestionnaireResponse/..` would be a Location that names the server's base.
 */
function checkIdSegment(type: string, id: string): void {
  if (id === '.' || id === '..')
    throw fault(
      400,
      'invalid',
      'An id of only dots cannot be used: it is a relative path segment in every URL made from it',
      `${type}.id`,
    );
}

/** The body as a resource of the URL's type (400 otherwise). */
export function bodyOfType(body: unknown, type: string): Resource {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw fault(400, 'structure', 'The body must be a JSON object: a FHIR resource', type);
  const actual = (body as { resourceType?: unknown }).resourceType;
  if (actual !== type)
    throw fault(
      400,
      'invalid',
      typeof actual === 'string' && SERVED.has(actual)
        ? `The body is a ${actual}, not a ${type}`
        : `The body's resourceType must be ${type}`,
      `${type}.resourceType`,
    );
  return body as Resource;
}

function isDialogSession(resource: Resource): resource is QuestionnaireResponse {
  return resource.resourceType === 'QuestionnaireResponse' && isDialogResponse(resource);
}

/**
 * `_total` asks how accurately to count; every search here counts exactly, so any of its values
 * is accepted and the parameter dropped (other unknown parameters are refused by the store).
 */
function withoutTotal(params: URLSearchParams): URLSearchParams {
  if (!params.has('_total')) return params;
  for (const value of params.getAll('_total'))
    if (!['none', 'estimate', 'accurate'].includes(value))
      throw fault(400, 'invalid', '_total is none, estimate or accurate', 'Bundle.total');
  const rest = new URLSearchParams(params);
  rest.delete('_total');
  return rest;
}

function checkIdentifierSearch(type: string, params: URLSearchParams): void {
  for (const value of params.getAll('identifier'))
    for (const token of value.split(',')) {
      const issue = nhsNumberSearchIssue(type, token);
      if (issue) throw new HttpOutcomeError(400, outcome([issue]));
    }
}

/**
 * With a patient context, a search covers that person only: a parameter naming someone else is
 * refused (403), and the pinning parameter is added when the search does not give it.
 */
export function pinToPatient(
  access: Access,
  type: string,
  params: URLSearchParams,
): URLSearchParams {
  const patient = access.patient;
  if (patient === undefined) return params;
  // The same parameter src/auth's compartment rule is written against (`_id` for Patient).
  const name = patientSearchParameter(type);
  if (name === undefined) return params;
  const own = name === '_id' ? patient : `Patient/${patient}`;
  // A reference parameter may name the person by bare id too (`patient=<id>`, as SMART apps do).
  const isOwn = (key: string, value: string): boolean =>
    value === own || (key !== '_id' && value === patient);
  for (const key of ['_id', 'subject', 'patient'])
    for (const value of params.getAll(key))
      if ((key === name || key === 'patient' || key === 'subject') && !isOwn(key, value))
        throw fault(
          403,
          'forbidden',
          'Searches are limited to the person in your patient context',
          `${type}.${key}`,
        );
  const pinned = new URLSearchParams(params);
  if (!pinned.has(name)) pinned.set(name, own);
  return pinned;
}

/**
 * A conditional create answers with the match it found, so it needs the scope to read the type
 * besides the one to create it: otherwise a create-only token could read a stored record through
 * If-None-Exist (`_id=…`). (Search scope is not asked for: the handover's peers hold `cru` on the
 * types they send, and a conditional update answers with what the caller wrote, not the match.)
 */
export function checkConditionalCreate(access: Access, type: string): void {
  access.check('read', type);
}

/**
 * What a conditional update checks against the stored version it would overwrite (`current`;
 * none: it creates): the record keeps its person, a Provenance stays as it was, and a Patient
 * (to be stored as `id`) takes no NHS number another Patient holds.
 */
async function checkOverwrite(
  store: FhirStore,
  current: Resource | undefined,
  resource: Resource,
  id: string | undefined,
): Promise<void> {
  checkKeepsPerson(current, resource);
  checkProvenanceKept(current, resource);
  if (resource.resourceType === 'Patient') await checkNhsNumberFree(store, resource, id, 'Patient');
}

/**
 * The versions of a history the caller may see, as it may see them: every version must be theirs
 * too (a resource can have been someone else's, or no one's), not only the current one.
 */
function shownVersions(access: Access, versions: readonly Resource[]): Resource[] {
  return versions.flatMap((v) => (access.inCompartment(v) ? (access.view(v) ?? []) : []));
}

/**
 * The key a session's condition is held under — If-None-Exist, or a conditional update's search:
 * one key for both, since either creates the session when the condition finds nothing. The
 * condition, its parameters in order.
 */
function conditionKey(condition: string): string {
  const params = new URLSearchParams(condition);
  params.sort();
  return `Session condition QuestionnaireResponse?${params.toString()}`;
}

/** `If-None-Exist` is a search: it too stays within the caller's patient context. */
function checkedCondition(access: Access, type: string, condition: string): string {
  return pinToPatient(access, type, new URLSearchParams(condition)).toString();
}
