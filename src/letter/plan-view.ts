/**
 * Everything the letter, the SMS and the charts need about one care plan, gathered from the store
 * once: the plan, the person, the key worker and how to reach them, the next review, the agreed
 * actions, the safety plan, goals, carers and what the person shares with them, the person's
 * DIALOG ratings over time and the stored paired changes between them.
 *
 * Every resource read passes through `viewer` first (the API passes the caller's view: a carer
 * sees only what the person's Consent shares, and a CarePlan reduced to the shared sections).
 * Whatever the viewer returns undefined for is left out, and the view says that something was
 * (`restricted`), so the letter can say so. References the plan makes that cannot be read (not
 * in the store, another server's URL, hidden) fall back to the display text the plan carries.
 */
import { getStatus, isOperationOutcome, notFound, OperationOutcomeError } from '@medplum/core';
import type {
  CarePlan,
  CarePlanActivity,
  Coding,
  Consent,
  ExtractResource,
  ContactPoint,
  Extension,
  Goal,
  HumanName,
  Observation,
  Reference,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import type { ChartChange, SeriesKey } from '../charts';
import {
  isDialogItemConcept,
  itemBySnomed,
  parseDateTime,
  type ChangeCategory,
  type DialogItemConcept,
  type DialogRatings,
} from '../dialog';
import { CodeSystems, Extensions, Profiles } from '../fhir/canonical';
import { ratingsOf } from '../fhir/dialog-observations';
import { readHistory } from '../fhir/history';
import { sameResource } from '../fhir/stable-id';
import type { FhirStore } from '../store';
import { dateParts } from '../charts/uk-date';

/** The caller's view of a stored resource: itself, a reduced copy, or undefined (not shared). */
export type Viewer = <T extends Resource>(resource: T) => T | undefined;

export interface PlanViewOptions {
  readonly viewer?: Viewer;
}

export interface Contact {
  readonly system: 'phone' | 'email' | 'sms' | 'other';
  readonly value: string;
  /** e.g. "weekdays 9am to 5pm", when the contact point says when it can be used. */
  readonly when?: string;
}

export interface Party {
  /** `Practitioner/x`, when the plan names one. */
  readonly reference?: string;
  readonly name: string;
  readonly contacts: readonly Contact[];
}

export interface KeyWorker extends Party {
  /** What they do, as their record words it ("Registered Mental Health Nurse"). */
  readonly role?: string;
}

export interface Service extends Party {
  readonly setting?: string;
}

export interface Review {
  /** FHIR date or dateTime, as the plan states it. */
  readonly due: string;
  readonly timepoint?: string;
  readonly setting?: string;
}

/** Who does an action: the person, their key worker, or someone else named. */
export interface Performer {
  readonly name: string;
  readonly isPerson: boolean;
  readonly isKeyWorker: boolean;
}

export interface Action {
  readonly id?: string;
  readonly what: string;
  readonly who: readonly Performer[];
  /** FHIR date or dateTime: the end of the scheduled period. */
  readonly byWhen?: string;
  /** When it happens, in words ("Thursdays, starting again on 8 January 2026"). */
  readonly when?: string;
  readonly status: string;
  /** True for actions still to do (not completed, cancelled, stopped or entered in error). */
  readonly open: boolean;
  /** The area of life or care it is for, from its goal. */
  readonly area?: DialogItemConcept;
}

export interface PlanSection {
  /** dialog-plan-sections code: safety-plan, mental-health-act-status, leave, visits… */
  readonly code: string;
  readonly text: string;
  readonly status: string;
  readonly open: boolean;
  /** Mental Health Act status display, for the legal status section. */
  readonly legalStatus?: string;
  readonly when?: string;
}

export interface GoalView {
  readonly id?: string;
  readonly text: string;
  readonly area?: DialogItemConcept;
  readonly open: boolean;
}

export interface Carer {
  readonly reference?: string;
  readonly name: string;
  readonly relationship?: string;
  readonly contacts: readonly Contact[];
  /** How they are involved, in the plan's words. */
  readonly involvement?: string;
  /** What the person shares with them (dialog-plan-sections codes, resource types), if known. */
  readonly shares?: readonly string[];
}

export interface PlanView {
  readonly carePlan: CarePlan;
  readonly person?: {
    readonly reference: string;
    /** The name to greet them by ("Megan"). */
    readonly callName?: string;
    readonly fullName?: string;
    readonly contacts: readonly Contact[];
  };
  readonly keyWorker?: KeyWorker;
  /** The service responsible for the plan now (a responsible-service without an end). */
  readonly service?: Service;
  readonly nextReview?: Review;
  readonly actions: readonly Action[];
  readonly safetyPlan?: PlanSection;
  /** The other sections (legal status, mental capacity, leave, visits, nursing observations). */
  readonly sections: readonly PlanSection[];
  readonly goals: readonly GoalView[];
  readonly carers: readonly Carer[];
  /** sms, email or letter. */
  readonly deliveryPreference?: string;
  /** The person's ratings, oldest first: one per rating (a reused rating is not a new one). */
  readonly ratings: readonly DialogRatings[];
  /** Stored paired changes, as the chart draws them. */
  readonly changes: readonly ChartChange[];
  /** True when the viewer left something out or reduced the plan. */
  readonly restricted: boolean;
}

const PAGE = 1000;
const CLOSED_ACTIVITY = new Set(['completed', 'cancelled', 'stopped', 'entered-in-error']);
const CLOSED_GOAL = new Set(['completed', 'cancelled', 'entered-in-error', 'rejected']);
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

/** Reads what the plan view needs. 404 (OperationOutcomeError) when the plan is not there or not shared. */
export async function readPlanView(
  store: FhirStore,
  carePlanId: string,
  options: PlanViewOptions = {},
): Promise<PlanView> {
  const reader = new Reader(store, options.viewer ?? ((r) => r));
  const stored = await store.read('CarePlan', carePlanId);
  const plan = reader.see(stored);
  if (!plan) throw new OperationOutcomeError(notFound);
  if ((plan.activity?.length ?? 0) < (stored.activity?.length ?? 0)) reader.restricted = true;
  const subject = plan.subject.reference ?? '';

  const [person, keyWorker, service, goals, ratings, changes, carers] = await Promise.all([
    readPerson(reader, plan.subject),
    readKeyWorker(reader, plan),
    readService(reader, plan),
    readGoals(reader, plan),
    readRatings(reader, subject),
    readChanges(reader, subject),
    readCarers(reader, plan),
  ]);
  const activities = plan.activity ?? [];
  const sections = activities.flatMap((a) => sectionOf(a) ?? []);
  const safetyPlan = sections.find((s) => s.code === 'safety-plan' && s.open);
  const nextReview = reviewOf(plan, service?.setting);
  const delivery = plan.extension?.find((e) => e.url === Extensions.deliveryPreference)?.valueCoding
    ?.code;
  return {
    carePlan: plan,
    ...(person && { person }),
    ...(keyWorker && { keyWorker }),
    ...(service && { service }),
    ...(nextReview && { nextReview }),
    actions: actionsOf(plan, goals, subject, keyWorker?.reference),
    ...(safetyPlan && { safetyPlan }),
    sections: sections.filter((s) => s.code !== 'safety-plan'),
    goals: goals.map((g) => g.view),
    carers,
    ...(delivery !== undefined && { deliveryPreference: delivery }),
    ratings,
    changes,
    restricted: reader.restricted,
  };
}

class Reader {
  restricted = false;
  constructor(
    readonly store: FhirStore,
    readonly viewer: Viewer,
  ) {}

  see<T extends Resource>(resource: T): T | undefined {
    const seen = this.viewer(resource);
    if (!seen) this.restricted = true;
    return seen;
  }

  /** The resource a relative reference names, as the caller may see it; undefined if not there. */
  async follow<K extends ResourceType>(
    reference: string | undefined,
    types: readonly K[],
  ): Promise<ExtractResource<K> | undefined> {
    const match = RELATIVE.exec(reference ?? '');
    const [, type, id] = match ?? [];
    if (!type || !id || !(types as readonly string[]).includes(type)) return undefined;
    try {
      return this.see(await this.store.read(type as K, id));
    } catch (err) {
      if (err instanceof OperationOutcomeError && isOperationOutcome(err.outcome)) {
        if (getStatus(err.outcome) === 404 || getStatus(err.outcome) === 410) return undefined;
      }
      throw err;
    }
  }

  async searchAll<K extends ResourceType>(
    type: K,
    params: Record<string, string>,
  ): Promise<Resource[]> {
    const found: Resource[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = await this.store.search(type, params, { count: PAGE, offset });
      found.push(...(page.resources as Resource[]));
      if (page.resources.length < PAGE || found.length >= page.total) break;
    }
    return found.flatMap((r) => this.see(r) ?? []);
  }
}

// ---- people -----------------------------------------------------------------------------------

function nameText(names: readonly HumanName[] | undefined): { call?: string; full?: string } {
  const name =
    names?.find((n) => n.use === 'usual') ?? names?.find((n) => n.use === 'official') ?? names?.[0];
  if (!name) return {};
  const given = name.given ?? [];
  const full = name.text ?? [given[0], name.family].filter(Boolean).join(' ');
  return { ...(given[0] && { call: given[0] }), ...(full && { full }) };
}

function contactsOf(telecom: readonly ContactPoint[] | undefined): Contact[] {
  return (telecom ?? []).flatMap((t) => {
    if (!t.value || t.period?.end) return [];
    const system =
      t.system === 'phone' || t.system === 'email' || t.system === 'sms' ? t.system : 'other';
    return [{ system, value: t.value }];
  });
}

async function readPerson(reader: Reader, subject: Reference): Promise<PlanView['person']> {
  const reference = subject.reference ?? '';
  const patient = await reader.follow(reference, ['Patient']);
  const names = nameText(patient?.name);
  const fallback = subject.display?.trim();
  const callName = names.call ?? fallback?.split(/\s+/)[0];
  const fullName = names.full ?? fallback;
  return {
    reference,
    ...(callName && { callName }),
    ...(fullName && { fullName }),
    contacts: contactsOf(patient?.telecom),
  };
}

async function readKeyWorker(reader: Reader, plan: CarePlan): Promise<KeyWorker | undefined> {
  const ref = plan.extension?.find((e) => e.url === Extensions.keyWorker)?.valueReference;
  if (!ref) return undefined;
  const types = ['Practitioner', 'PractitionerRole', 'CareTeam', 'RelatedPerson'] as const;
  const found = await reader.follow(ref.reference, types);
  let name = ref.display?.trim();
  let contacts: Contact[] = [];
  let role: string | undefined;
  if (found?.resourceType === 'Practitioner') {
    name = nameText(found.name).full ?? name;
    contacts = contactsOf(found.telecom);
    role = found.qualification?.[0]?.code.text;
  } else if (found?.resourceType === 'PractitionerRole') {
    const practitioner = await reader.follow(found.practitioner?.reference, ['Practitioner']);
    name = nameText(practitioner?.name).full ?? found.practitioner?.display ?? name;
    contacts = [...contactsOf(found.telecom), ...contactsOf(practitioner?.telecom)];
    role = found.code?.[0]?.text ?? found.code?.[0]?.coding?.[0]?.display;
  } else if (found?.resourceType === 'CareTeam') {
    name = found.name ?? name;
    contacts = contactsOf(found.telecom);
  } else if (found?.resourceType === 'RelatedPerson') {
    name = nameText(found.name).full ?? name;
    contacts = contactsOf(found.telecom);
  }
  if (!name) return undefined;
  return {
    ...(ref.reference && { reference: ref.reference }),
    name,
    contacts: unique(contacts),
    ...(role && { role }),
  };
}

function unique(contacts: readonly Contact[]): Contact[] {
  const seen = new Set<string>();
  return contacts.filter((c) => {
    const key = `${c.system}|${c.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sub(extension: Extension, url: string): Extension | undefined {
  return extension.extension?.find((e) => e.url === url);
}

async function readService(reader: Reader, plan: CarePlan): Promise<Service | undefined> {
  const current = (plan.extension ?? []).filter(
    (e) => e.url === Extensions.responsibleService && !sub(e, 'period')?.valuePeriod?.end,
  );
  const [service] = current;
  if (!service) return undefined;
  const ref = sub(service, 'organization')?.valueReference;
  const setting = sub(service, 'setting')?.valueCoding?.code;
  const organization = await reader.follow(ref?.reference, ['Organization']);
  const name = organization?.name ?? ref?.display;
  if (!name) return undefined;
  return {
    ...(ref?.reference && { reference: ref.reference }),
    name,
    contacts: contactsOf(organization?.telecom),
    ...(setting && { setting }),
  };
}

async function readCarers(reader: Reader, plan: CarePlan): Promise<Carer[]> {
  const entries = (plan.extension ?? []).filter((e) => e.url === Extensions.carer);
  const carers = await Promise.all(
    entries.map(async (entry): Promise<Carer | undefined> => {
      const ref = sub(entry, 'carer')?.valueReference;
      const related = await reader.follow(ref?.reference, ['RelatedPerson']);
      const consent = await reader.follow(sub(entry, 'consent')?.valueReference?.reference, [
        'Consent',
      ]);
      const name = nameText(related?.name).full ?? ref?.display;
      if (!name) return undefined;
      const relationship = related?.relationship?.[0];
      const relation = relationship?.coding?.[0]?.display ?? relationship?.text;
      const involvement = sub(entry, 'involvement')?.valueString;
      const shares = consent && sharedByConsent(consent);
      return {
        ...(ref?.reference && { reference: ref.reference }),
        name,
        ...(relation && { relationship: relation }),
        contacts: contactsOf(related?.telecom),
        ...(involvement && { involvement }),
        ...(shares && { shares }),
      };
    }),
  );
  return carers.flatMap((c) => c ?? []);
}

/** What an active permit Consent shares: plan section codes, else resource types. */
function sharedByConsent(consent: Consent): string[] | undefined {
  const provision = consent.provision;
  if (consent.status !== 'active' || provision?.type !== 'permit') return undefined;
  const codes = (provision.code ?? []).flatMap((c) =>
    (c.coding ?? []).flatMap((k) =>
      k.system === CodeSystems.planSections && k.code ? [k.code] : [],
    ),
  );
  if (codes.length > 0) return codes;
  return (provision.class ?? []).flatMap((c) => (c.code ? [c.code] : []));
}

// ---- the plan's own parts ---------------------------------------------------------------------

function sectionCode(activity: CarePlanActivity): string | undefined {
  return activity.detail?.code?.coding?.find((c: Coding) => c.system === CodeSystems.planSections)
    ?.code;
}

function sectionOf(activity: CarePlanActivity): PlanSection | undefined {
  const code = sectionCode(activity);
  const detail = activity.detail;
  if (!code || code === 'agreed-action' || !detail?.description) return undefined;
  if (detail.status === 'entered-in-error') return undefined;
  const legal = detail.extension?.find((e) => e.url === Extensions.legalStatus)?.valueCoding;
  return {
    code,
    text: detail.description,
    status: detail.status,
    open: !CLOSED_ACTIVITY.has(detail.status),
    ...(legal?.display && { legalStatus: legal.display }),
    ...(detail.scheduledString && { when: detail.scheduledString }),
  };
}

interface ReadGoal {
  readonly reference: string;
  readonly view: GoalView;
}

function areaOfGoal(goal: Goal): DialogItemConcept | undefined {
  const measure = goal.extension?.find((e) => e.url === Extensions.measure)?.valueCoding;
  return measure?.code ? itemBySnomed(measure.code)?.concept : undefined;
}

async function readGoals(reader: Reader, plan: CarePlan): Promise<ReadGoal[]> {
  const goals = await Promise.all(
    (plan.goal ?? []).map(async (ref) => {
      const goal = await reader.follow(ref.reference, ['Goal']);
      const text = goal?.description.text ?? goal?.description.coding?.[0]?.display;
      if (!goal || !text || !ref.reference) return undefined;
      const area = areaOfGoal(goal);
      return {
        reference: ref.reference,
        view: {
          ...(goal.id && { id: goal.id }),
          text,
          ...(area && { area }),
          open: !CLOSED_GOAL.has(goal.lifecycleStatus),
        },
      };
    }),
  );
  return goals.flatMap((g) => g ?? []);
}

function sortKey(value: string | undefined): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const exact = parseDateTime(value);
  if (exact !== undefined) return exact;
  const parts = dateParts(value);
  return parts
    ? Date.UTC(parts.year, (parts.month ?? 12) - 1, parts.day ?? 28, 23, 59)
    : Number.POSITIVE_INFINITY;
}

function actionsOf(
  plan: CarePlan,
  goals: readonly ReadGoal[],
  subject: string,
  keyWorker: string | undefined,
): Action[] {
  const actions = (plan.activity ?? []).flatMap((activity): Action[] => {
    const detail = activity.detail;
    if (sectionCode(activity) !== 'agreed-action' || !detail?.description) return [];
    if (detail.status === 'entered-in-error') return [];
    const goal = goals.find((g) =>
      detail.goal?.some((r) => sameResource(r.reference, g.reference)),
    );
    const who = (detail.performer ?? []).flatMap((p) => {
      const name = p.display?.trim() ?? p.reference;
      if (!name) return [];
      return [
        {
          name,
          isPerson: p.reference !== undefined && sameResource(p.reference, subject),
          isKeyWorker: p.reference !== undefined && sameResource(p.reference, keyWorker),
        },
      ];
    });
    const byWhen = detail.scheduledPeriod?.end ?? detail.scheduledTiming?.repeat?.boundsPeriod?.end;
    return [
      {
        ...(activity.id && { id: activity.id }),
        what: detail.description,
        who,
        ...(byWhen && { byWhen }),
        ...(detail.scheduledString && { when: detail.scheduledString }),
        status: detail.status,
        open: !CLOSED_ACTIVITY.has(detail.status),
        ...(goal?.view.area && { area: goal.view.area }),
      },
    ];
  });
  // Soonest first; actions without a date keep their order after those with one.
  return actions
    .map((a, i) => ({ a, i, key: sortKey(a.byWhen) }))
    .sort((x, y) => x.key - y.key || x.i - y.i)
    .map((x) => x.a);
}

/**
 * The next review: the review-due entry of the service that holds the plan now, else the
 * earliest one the plan states.
 */
function reviewOf(plan: CarePlan, currentSetting: string | undefined): Review | undefined {
  const reviews = (plan.extension ?? []).flatMap((e): Review[] => {
    if (e.url !== Extensions.reviewDue) return [];
    const due = sub(e, 'due')?.valueDateTime;
    if (!due) return [];
    const timepoint = sub(e, 'timepoint')?.valueCoding?.code;
    const setting = sub(e, 'setting')?.valueCoding?.code;
    return [{ due, ...(timepoint && { timepoint }), ...(setting && { setting }) }];
  });
  const current = reviews.filter((r) => r.setting !== undefined && r.setting === currentSetting);
  const pool = current.length > 0 ? current : reviews;
  return [...pool].sort((a, b) => sortKey(a.due) - sortKey(b.due))[0];
}

// ---- ratings and changes ----------------------------------------------------------------------

async function readRatings(reader: Reader, subject: string): Promise<DialogRatings[]> {
  if (!subject) return [];
  const responses = await reader.searchAll('QuestionnaireResponse', {
    subject,
    status: 'completed,amended',
  });
  const { entries } = readHistory(
    responses.filter((r) => r.resourceType === 'QuestionnaireResponse'),
    subject,
  );
  const kept = entries.filter(
    (e) =>
      Object.keys(e.session.scores).length > 0 &&
      // A rating reused as another service's starting point is the same rating, not a new one.
      !(
        e.session.reusedFrom &&
        entries.some(
          (other) =>
            other !== e &&
            other.response.id !== undefined &&
            sameResource(
              `QuestionnaireResponse/${other.response.id}`,
              e.session.reusedFrom?.source,
            ),
        )
      ),
  );
  return kept
    .map((e) => ratingsOf(e.session))
    .sort((a, b) => (parseDateTime(a.ratedAt) ?? 0) - (parseDateTime(b.ratedAt) ?? 0));
}

const CHANGE_CATEGORIES: readonly ChangeCategory[] = [
  'reliable-improvement',
  'reliable-deterioration',
  'no-reliable-change',
];

function seriesOf(observation: Observation): SeriesKey | undefined {
  const measure = observation.extension?.find((e) => e.url === Extensions.measure)?.valueCoding;
  if (!measure?.code) return undefined;
  if (measure.system === CodeSystems.dialog) {
    if (measure.code === 'sqol-mean') return 'sqol';
    if (measure.code === 'ts-mean') return 'ts';
    return undefined;
  }
  const item = itemBySnomed(measure.code);
  return item && isDialogItemConcept(item.concept) ? item.concept : undefined;
}

async function readChanges(reader: Reader, subject: string): Promise<ChartChange[]> {
  if (!subject) return [];
  const observations = await reader.searchAll('Observation', { subject });
  return observations.flatMap((o): ChartChange[] => {
    if (o.resourceType !== 'Observation') return [];
    if (!o.meta?.profile?.includes(Profiles.pairedChange) || o.status === 'entered-in-error')
      return [];
    const series = seriesOf(o);
    const from = o.effectivePeriod?.start;
    const to = o.effectivePeriod?.end;
    const change = o.valueQuantity?.value ?? o.valueInteger;
    const category = o.interpretation
      ?.flatMap((i) => i.coding ?? [])
      .find((c) => c.system === CodeSystems.change)?.code as ChangeCategory | undefined;
    if (!series || !from || !to || change === undefined || !category) return [];
    if (!CHANGE_CATEGORIES.includes(category)) return [];
    return [{ series, from, to, change, category }];
  });
}
