/**
 * What a carer may see: only what the person agreed to share, as recorded in a `Consent` (the
 * DIALOG care plan's `dialog-carer` extension points at it; see the journey example
 * `consent-share-with-hannah`). Nothing is shared without one: deny by default.
 *
 * A Consent counts when: status `active`; scope `consentscope#patient-privacy`; `patient` is
 * the person. Each provision (the base one and nested ones, at any depth) is a rule:
 *   - type `permit` or `deny`;
 *   - `period` must cover now (a date without a time is a whole UTC day); a provision out of its
 *     period is skipped with everything nested in it;
 *   - `action`, when given, must include `consentaction#access` (reading);
 *   - `actor`: a permit applies only to a carer it names (here or in an enclosing provision);
 *     a deny applies to the carers it names, or to everyone when it names none;
 *   - `class`: resource types (`http://hl7.org/fhir/resource-types#CarePlan`); none = all types;
 *   - `code`: codings the resource must carry (`code`, `category`). For a CarePlan the codes
 *     select sections: they are matched against each `activity.detail.code`
 *     (`dialog-plan-sections#agreed-action`, `#safety-plan`...), and a permit with codes shares
 *     the plan with only those activities.
 * Definitions (DEFINITIONAL_TYPES: the Questionnaire...) are no one's data and always pass.
 * Restrictions not supported here (`data`, `securityLabel`, `purpose`, `dataPeriod`, a class
 * from another system) fail closed: a permit carrying one shares nothing; a deny carrying one
 * applies as if it were not restricted.
 *
 * Deciding one resource (or one CarePlan activity): within a Consent the deepest matching
 * provisions decide (nested provisions are exceptions to the ones around them), deny winning a
 * tie; across Consents any deny wins; with no permit the answer is no.
 */
import type {
  CarePlan,
  CarePlanActivity,
  Coding,
  Consent,
  ConsentProvision,
  Extension,
  Resource,
} from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../fhir/canonical';
import { withNarrative } from '../narrative/narrative';
import type { AccessContext } from './access-context';
import {
  DEFINITIONAL_TYPES,
  inPatientCompartment,
  referencesResource,
  type ReferenceOptions,
} from './compartment';

export const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';
export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const CONSENT_ACTION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentaction';
const CARER_EXTENSION = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-carer';
const KEY_WORKER_EXTENSION = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-key-worker';

/** The search the API runs (every page) to fetch the Consents `consentFilter` needs. */
export function requiredConsentSearch(patientId: string): {
  readonly resourceType: 'Consent';
  readonly params: Readonly<Record<string, string>>;
} {
  return { resourceType: 'Consent', params: { patient: `Patient/${patientId}`, status: 'active' } };
}

type Decision = 'permit' | 'deny' | undefined;

/** What is being decided: the resource as a whole, a CarePlan without its activities, or one activity. */
interface Part {
  readonly type: string;
  readonly kind: 'whole' | 'plan' | 'activity';
  readonly codings: readonly Coding[];
}

interface Carer {
  readonly type: string;
  readonly id: string;
}

/**
 * What the carer in `ctx` may see, given the person's Consents: a predicate over resources.
 * For anyone other than a carer with a patient context it shares nothing (callers that are not
 * carers are not filtered by Consent: see authorize.ts).
 */
export function consentFilter(
  ctx: AccessContext,
  consents: readonly Consent[],
  now: Date,
  options: ReferenceOptions = {},
): (resource: Resource) => boolean {
  const view = sharedView(ctx, consents, now, options);
  return (resource) => view(resource) !== undefined;
}

/**
 * Like `consentFilter`, but returns the resource as the carer may see it: a CarePlan shared by
 * section keeps only the shared activities and, of the `dialog-carer` entries, only this
 * carer's, with a narrative generated from that; `contained` resources are dropped. Undefined
 * when nothing is shared.
 */
export function consentView(
  ctx: AccessContext,
  consents: readonly Consent[],
  now: Date,
  options: ReferenceOptions = {},
): (resource: Resource) => Resource | undefined {
  return sharedView(ctx, consents, now, options);
}

/**
 * How much of one resource type a carer's view shares, decided from the Consents alone, before
 * any resource is read: `none` (no resource of the type can be shared), `every` (every resource
 * of the type in the person's record is shown, maybe reduced, none left out) or `some` (it
 * depends on each resource). A carer's search reads every match only for `some`.
 */
export type TypeShare = 'none' | 'every' | 'some';

/** `TypeShare` per resource type, for the carer in `ctx` (anyone else: `none`). */
export function consentTypeShare(
  ctx: AccessContext,
  consents: readonly Consent[],
  now: Date,
  options: ReferenceOptions = {},
): (type: string) => TypeShare {
  const rules = consentRules(ctx, consents, now, options);
  return (type) => {
    if (DEFINITIONAL_TYPES.has(type)) return 'every';
    if (!rules || type === 'Task' || !rules.mayPermit(type)) return 'none';
    // A plan's view depends on its sections and codes; other types are shown whole or not at
    // all. Shown whatever their codes when the type is shared without them and no coded deny
    // takes any back (a resource's codings only add provisions that match it: if each denied
    // coding alone leaves the answer a permit, any set of codings does).
    if (type === 'CarePlan') return 'some';
    const part = (codings: Coding[]): Part => ({ type, kind: 'whole', codings });
    const every =
      rules.decide(part([])) &&
      deniedCodings(rules.applicable).every((coding) => rules.decide(part([coding])));
    return every ? 'every' : 'some';
  };
}

interface ConsentRules {
  readonly carer: Carer;
  readonly patient: string;
  /** The Consents that count (see the module comment). */
  readonly applicable: readonly Consent[];
  /** Whether this part is shared with the carer. */
  readonly decide: (part: Part) => boolean;
  /** Whether some permit in force could share a resource of this type with the carer. */
  readonly mayPermit: (type: string) => boolean;
}

function consentRules(
  ctx: AccessContext,
  consents: readonly Consent[],
  now: Date,
  options: ReferenceOptions,
): ConsentRules | undefined {
  const carer = carerOf(ctx);
  const patient = ctx.patient;
  if (carer === undefined || patient === undefined) return undefined;
  const applicable = consents.filter(
    (c) =>
      c.resourceType === 'Consent' &&
      c.status === 'active' &&
      hasCoding(c.scope?.coding, CONSENT_SCOPE_SYSTEM, 'patient-privacy') &&
      referencesResource(c.patient?.reference, 'Patient', patient, options) &&
      c.provision !== undefined,
  );
  return {
    carer,
    patient,
    applicable,
    decide: (part) =>
      combine(applicable.map((c) => decideConsent(c.provision, part, carer, now, options))),
    mayPermit: (type) => applicable.some((c) => permitsFor(c.provision, type, carer, now, options)),
  };
}

function sharedView(
  ctx: AccessContext,
  consents: readonly Consent[],
  now: Date,
  options: ReferenceOptions,
): (resource: Resource) => Resource | undefined {
  const rules = consentRules(ctx, consents, now, options);
  if (rules === undefined) return () => undefined;
  const { carer, patient, applicable, decide } = rules;
  return (resource) => {
    // Definitions (the DIALOG Questionnaire...) hold no one's data: a carer reads them as anyone
    // in a patient context does (authorize.ts); the person's Consent is about the person's data.
    if (DEFINITIONAL_TYPES.has(resource.resourceType)) return resource;
    if (!inPatientCompartment(resource, patient, options)) return undefined;
    // Work items are never a carer's: a conflict or sync-refusal Task holds whole copies of plan
    // parts (hidden sections too) in its input, whatever section a Consent names.
    if (resource.resourceType === 'Task') return undefined;
    if (resource.resourceType !== 'CarePlan') {
      return decide({ type: resource.resourceType, kind: 'whole', codings: ownCodings(resource) })
        ? withoutContained(resource)
        : undefined;
    }
    const plan = resource;
    if (!decide({ type: 'CarePlan', kind: 'plan', codings: ownCodings(plan) })) return undefined;
    const shared = (activity: CarePlanActivity): boolean =>
      decide({ type: 'CarePlan', kind: 'activity', codings: activityCodings(activity) });
    // Shared whole: a permit without section codes (only that shares an activity with none),
    // and no section denied to this carer, whether or not this plan has activities in it (a
    // deny nested in a whole permit is not "whole": the notes may tell the section).
    const whole =
      decide({ type: 'CarePlan', kind: 'activity', codings: [] }) &&
      (plan.activity ?? []).every(shared) &&
      deniedCodings(applicable).every((coding) =>
        decide({ type: 'CarePlan', kind: 'activity', codings: [coding] }),
      );
    return redactPlan(plan, carer, whole, shared);
  };
}

/**
 * Whether a permit in force anywhere in this provision tree could match a resource of `type`
 * for this carer: one that matches when a resource carries the codes it names. Without one,
 * no resource of the type is shared, whatever it holds.
 */
function permitsFor(
  base: ConsentProvision | undefined,
  type: string,
  carer: Carer,
  now: Date,
  options: ReferenceOptions,
): boolean {
  const visit = (provision: ConsentProvision, inherited: ConsentProvision['actor']): boolean => {
    if (!inForce(provision.period, now)) return false;
    const actors = provision.actor ?? inherited;
    const codings = (provision.code ?? []).flatMap((c) => c.coding ?? []);
    const part: Part = { type, kind: 'whole', codings };
    if (provision.type === 'permit' && matches(provision, 'permit', actors, part, carer, options))
      return true;
    return (provision.provision ?? []).some((nested) => visit(nested, actors));
  };
  return base !== undefined && visit(base, undefined);
}

/** The codings named by the deny provisions of these Consents, at any depth. */
function deniedCodings(consents: readonly Consent[]): Coding[] {
  const found: Coding[] = [];
  const visit = (provision: ConsentProvision): void => {
    if (provision.type === 'deny')
      for (const concept of provision.code ?? []) found.push(...(concept.coding ?? []));
    for (const nested of provision.provision ?? []) visit(nested);
  };
  for (const consent of consents) if (consent.provision) visit(consent.provision);
  return found;
}

function carerOf(ctx: AccessContext): Carer | undefined {
  if (ctx.role !== 'carer' || ctx.fhirUser === undefined) return undefined;
  const [type, id] = ctx.fhirUser.split('/');
  return type === 'RelatedPerson' && id ? { type, id } : undefined;
}

/** Across Consents: any deny wins; otherwise any permit. */
function combine(decisions: readonly Decision[]): boolean {
  return !decisions.includes('deny') && decisions.includes('permit');
}

/** One Consent's decision: the deepest matching provisions, deny winning a tie. */
function decideConsent(
  base: ConsentProvision | undefined,
  part: Part,
  carer: Carer,
  now: Date,
  options: ReferenceOptions,
): Decision {
  let best: { depth: number; decision: 'permit' | 'deny' } | undefined;
  const visit = (
    provision: ConsentProvision,
    depth: number,
    inheritedActors: ConsentProvision['actor'],
  ): void => {
    if (!inForce(provision.period, now)) return;
    const actors = provision.actor ?? inheritedActors;
    const type = provision.type;
    if (
      (type === 'permit' || type === 'deny') &&
      matches(provision, type, actors, part, carer, options)
    ) {
      if (!best || depth > best.depth || (depth === best.depth && type === 'deny')) {
        best = { depth, decision: type };
      }
    }
    for (const nested of provision.provision ?? []) visit(nested, depth + 1, actors);
  };
  if (base) visit(base, 0, undefined);
  return best?.decision;
}

function matches(
  provision: ConsentProvision,
  type: 'permit' | 'deny',
  actors: ConsentProvision['actor'],
  part: Part,
  carer: Carer,
  options: ReferenceOptions,
): boolean {
  const deny = type === 'deny';
  // Actions other than reading: the rule is not about what a carer sees.
  const actions = provision.action ?? [];
  if (
    actions.length > 0 &&
    !actions.some((a) => hasCoding(a.coding, CONSENT_ACTION_SYSTEM, 'access'))
  ) {
    return false;
  }
  const names = (actors ?? []).some((a) =>
    referencesResource(a.reference?.reference, carer.type, carer.id, options),
  );
  if (deny ? (actors ?? []).length > 0 && !names : !names) return false;
  const unsupported =
    provision.data !== undefined ||
    provision.securityLabel !== undefined ||
    provision.purpose !== undefined ||
    provision.dataPeriod !== undefined;
  if (unsupported) return deny;
  const classes = provision.class ?? [];
  if (classes.length > 0) {
    if (classes.some((c) => c.system !== RESOURCE_TYPES_SYSTEM)) {
      if (deny) return true;
    }
    if (!classes.some((c) => c.system === RESOURCE_TYPES_SYSTEM && c.code === part.type)) {
      return false;
    }
  }
  if ((provision.code ?? []).length === 0) return true;
  const codes = (provision.code ?? []).flatMap((c) => c.coding ?? []);
  // Codes given only as text cannot be matched: fail closed.
  if (codes.length === 0) return deny;
  // A permit with codes shares the plan itself, limited to the sections named (see redactPlan).
  if (part.kind === 'plan' && !deny) return true;
  return codes.some((c) => part.codings.some((p) => p.system === c.system && p.code === c.code));
}

/** `code` and `category` codings of a resource (whichever it has). */
function ownCodings(resource: Resource): Coding[] {
  const json = resource as unknown as Record<string, unknown>;
  const concepts = [json.code, ...(Array.isArray(json.category) ? json.category : [json.category])];
  return concepts.flatMap((concept) => {
    const coding = (concept as { coding?: unknown } | undefined)?.coding;
    return Array.isArray(coding) ? (coding as Coding[]) : [];
  });
}

function activityCodings(activity: CarePlanActivity): Coding[] {
  return activity.detail?.code?.coding ?? [];
}

function hasCoding(codings: readonly Coding[] | undefined, system: string, code: string): boolean {
  return (codings ?? []).some((c) => c.system === system && c.code === code);
}

function withoutContained<T extends Resource>(resource: T): T {
  if (!('contained' in resource)) return resource;
  const { contained: _contained, ...rest } = resource as T & { contained?: unknown };
  void _contained;
  return rest as T;
}

/**
 * What of a plan a carer sees. Shared whole (a permit without section codes): all of it but the
 * contained resources and other carers' entries. Shared by section: the plan's frame (status,
 * title, period, subject, author, the key worker to contact) and the sections named, nothing
 * else — not the clinicians' notes, the description, the goals, the supporting ratings, the
 * contributors or the services it went through (which tell an inpatient stay), since those are
 * not sections the person chose to share. Either way the narrative is generated from the view.
 */
function redactPlan(
  plan: CarePlan,
  carer: Carer,
  whole: boolean,
  shared: (activity: CarePlanActivity) => boolean,
): CarePlan {
  const activity = (plan.activity ?? []).filter(shared);
  const extension = (plan.extension ?? []).filter((e) =>
    e.url === CARER_EXTENSION ? isFor(e, carer) : whole || e.url === KEY_WORKER_EXTENSION,
  );
  const frame = whole ? withoutContained(plan) : sectionViewFrame(plan);
  const { activity: _a, extension: _e, text, ...rest } = frame;
  void _a;
  void _e;
  const view: CarePlan = {
    ...rest,
    ...(extension.length > 0 ? { extension } : {}),
    ...(activity.length > 0 ? { activity } : {}),
  };
  // The stored narrative tells the whole plan: the latest ratings, every goal's words, every
  // action, the notes, the carers. The view's own is generated from what the view keeps, so the
  // text never shows more than the structured view.
  return text === undefined ? view : withNarrative(view);
}

/** A plan shared by section keeps these elements (besides its shared activities). */
const SECTION_VIEW_FRAME: readonly (keyof CarePlan)[] = [
  'resourceType', 'id', 'meta', 'implicitRules', 'language', 'text', 'modifierExtension',
  'identifier', 'status', 'intent', 'category', 'title', 'subject', 'period', 'created', 'author',
]; // prettier-ignore

/**
 * The frame of a plan shared by section. Of its identifiers only the DIALOG plan's own, and of
 * `meta` only the version, time and profiles: another system's identifier (a ward's copy is
 * named by its server's address), a tag or a `meta.source` would tell where the plan has been,
 * an inpatient stay among them.
 */
function sectionViewFrame(plan: CarePlan): CarePlan {
  const frame = pick(plan, SECTION_VIEW_FRAME);
  const identifier = (plan.identifier ?? []).filter(
    (i) => i.system === CARE_PLAN_IDENTIFIER_SYSTEM,
  );
  const { versionId, lastUpdated, profile } = plan.meta ?? {};
  const meta = {
    ...(versionId !== undefined ? { versionId } : {}),
    ...(lastUpdated !== undefined ? { lastUpdated } : {}),
    ...(profile !== undefined ? { profile } : {}),
  };
  const { identifier: _i, meta: _m, ...rest } = frame;
  void _i;
  void _m;
  return {
    ...rest,
    ...(Object.keys(meta).length > 0 ? { meta } : {}),
    ...(identifier.length > 0 ? { identifier } : {}),
  };
}

function pick(plan: CarePlan, keys: readonly (keyof CarePlan)[]): CarePlan {
  const kept: Record<string, unknown> = {};
  for (const key of keys) if (plan[key] !== undefined) kept[key] = plan[key];
  return kept as unknown as CarePlan;
}

/** A `dialog-carer` entry about this carer (relative reference only: it names our record). */
function isFor(extension: Extension, carer: Carer): boolean {
  return (extension.extension ?? []).some(
    (e) =>
      e.url === 'carer' && referencesResource(e.valueReference?.reference, carer.type, carer.id),
  );
}

/**
 * Whether `period` covers `now`. A partial date (`2025`, `2025-09`, `2025-09-16`) starts at its
 * first UTC instant and ends after its last; an unreadable bound covers nothing.
 */
export function inForce(period: { start?: string; end?: string } | undefined, now: Date): boolean {
  if (period === undefined) return true;
  const t = now.getTime();
  if (period.start !== undefined) {
    const start = bounds(period.start);
    if (start === undefined || t < start[0]) return false;
  }
  if (period.end !== undefined) {
    const end = bounds(period.end);
    if (end === undefined || t >= end[1]) return false;
  }
  return true;
}

/** [first instant, instant after the last] of a FHIR date or dateTime. */
function bounds(value: string): [number, number] | undefined {
  const partial = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (partial) {
    const year = Number(partial[1]);
    const month = partial[2] === undefined ? undefined : Number(partial[2]) - 1;
    const day = partial[3] === undefined ? undefined : Number(partial[3]);
    const start = Date.UTC(year, month ?? 0, day ?? 1);
    const end =
      day !== undefined
        ? Date.UTC(year, month ?? 0, day + 1)
        : month !== undefined
          ? Date.UTC(year, month + 1, 1)
          : Date.UTC(year + 1, 0, 1);
    return [start, end];
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    return undefined;
  }
  const instant = Date.parse(value);
  return Number.isNaN(instant) ? undefined : [instant, instant + 1];
}
