/**
 * The narrative of the one DIALOG+ care plan: who the key worker is and how to reach them, which
 * service holds the plan now (and which held it before), review dates per setting, the latest
 * DIALOG ratings with their labels and what changed since last time (when the caller gives them),
 * the change over the episode (from paired-change Observations, when given), the areas chosen to
 * discuss, goals, actions (what, who, by when, status), the safety plan, the hospital sections
 * (Mental Health Act status, Mental Capacity Act, leave, visits, nursing observations) when the
 * plan has them, carers and what the person shares with them, how the person wants their plan,
 * and the plan's notes.
 *
 * Everything not in the CarePlan itself comes through the context: `resolve` looks up the
 * resources the plan refers to (Practitioner, Organization, Goal, RelatedPerson, Consent), e.g.
 * from the transaction being written. Without it, the names the references display are used.
 */
import type {
  CarePlan,
  CarePlanActivity,
  CarePlanActivityDetail,
  Consent,
  ContactPoint,
  Extension,
  HumanName,
  Observation,
  Reference,
  Resource,
  Timing,
} from '@medplum/fhirtypes';
import { DIALOG_ITEMS, formatMean, type DialogRatings } from '../dialog';
import { CodeSystems, Extensions } from '../fhir/canonical';
import type { DialogSession } from '../fhir/dialog-session';
import { goalArea, goalText } from './goal';
import { observationContent } from './observation';
import { ratingsTable } from './ratings-table';
import {
  activityStatusWords,
  CHANGE_WORDS,
  CLOSED_ACTIVITY,
  day,
  deliveryWords,
  goalStatusWords,
  isChangeCategory,
  itemLabel,
  itemOfCoding,
  listWords,
  MEAN_NAMES,
  planStatusWords,
  referenceName,
  scoreWithLabel,
  settingWords,
  sharedWords,
  signed,
  timepointWords,
  when,
} from './words';
import { el, elWith, lines, type Child, type XNode } from './xhtml';

export interface CarePlanContext {
  readonly resolve?: (reference: string) => Resource | undefined;
  /** The latest DIALOG session, already read. */
  readonly latest?: DialogSession;
  /** The rating before it. */
  readonly previous?: DialogRatings;
  /** Paired-change Observations for the person's current episode. */
  readonly changes?: readonly Observation[];
}

function sub(extension: Extension, url: string): Extension | undefined {
  return extension.extension?.find((e) => e.url === url);
}

function extensionsOf(plan: CarePlan, url: string): Extension[] {
  return (plan.extension ?? []).filter((e) => e.url === url);
}

function resolved<T extends Resource['resourceType']>(
  context: CarePlanContext,
  reference: Reference | undefined,
  type: T,
): Extract<Resource, { resourceType: T }> | undefined {
  const ref = reference?.reference;
  if (!ref || !context.resolve) return undefined;
  const found = context.resolve(ref);
  return found?.resourceType === type
    ? (found as Extract<Resource, { resourceType: T }>)
    : undefined;
}

function humanName(names: readonly HumanName[] | undefined): string | undefined {
  const name =
    names?.find((n) => n.use === 'usual') ?? names?.find((n) => n.use === 'official') ?? names?.[0];
  if (!name) return undefined;
  const text = name.text ?? [...(name.given ?? []), name.family].filter(Boolean).join(' ');
  return text === '' ? undefined : text;
}

const CONTACT_WORDS: Readonly<Record<string, string>> = {
  phone: 'Phone',
  email: 'Email',
  sms: 'Text',
  fax: 'Fax',
  pager: 'Pager',
  url: 'Web',
  other: 'Contact',
};

function contactsLine(telecom: readonly ContactPoint[] | undefined): string | undefined {
  const current = (telecom ?? []).filter((t) => t.value && !t.period?.end);
  if (current.length === 0) return undefined;
  return current
    .map((t) => `${CONTACT_WORDS[t.system ?? 'other'] ?? 'Contact'}: ${t.value}`)
    .join('; ');
}

// ---- who to contact ------------------------------------------------------------------------

function keyWorkerSection(plan: CarePlan, context: CarePlanContext): Child[] {
  const ref = extensionsOf(plan, Extensions.keyWorker)[0]?.valueReference;
  if (!ref) return [];
  const practitioner = resolved(context, ref, 'Practitioner');
  const role = resolved(context, ref, 'PractitionerRole');
  const team = resolved(context, ref, 'CareTeam');
  const name =
    humanName(practitioner?.name) ??
    role?.practitioner?.display ??
    team?.name ??
    referenceName(ref) ??
    'Named in the record';
  const what =
    practitioner?.qualification?.[0]?.code.text ??
    role?.code?.[0]?.text ??
    role?.code?.[0]?.coding?.[0]?.display;
  const reach = contactsLine(practitioner?.telecom ?? role?.telecom ?? team?.telecom);
  return [
    el('h4', 'Key worker'),
    el('p', el('b', name), what !== undefined && ` (${what})`),
    reach !== undefined && el('p', `How to reach them: ${reach}.`),
  ];
}

function periodWords(start: string | undefined, end: string | undefined): string | undefined {
  if (start !== undefined && end !== undefined) return `from ${day(start)} to ${day(end)}`;
  if (start !== undefined) return `since ${day(start)}`;
  if (end !== undefined) return `until ${day(end)}`;
  return undefined;
}

function serviceSection(plan: CarePlan, context: CarePlanContext): Child[] {
  const services = extensionsOf(plan, Extensions.responsibleService).map((e) => {
    const ref = sub(e, 'organization')?.valueReference;
    const organization = resolved(context, ref, 'Organization');
    const setting = sub(e, 'setting')?.valueCoding;
    const period = sub(e, 'period')?.valuePeriod;
    return {
      name: organization?.name ?? referenceName(ref) ?? 'A service named in the record',
      setting: settingWords(setting?.code, setting?.display),
      period: periodWords(period?.start, period?.end),
      current: period?.end === undefined,
      reach: contactsLine(organization?.telecom),
    };
  });
  if (services.length === 0) return [];
  const describe = (s: (typeof services)[number]): string =>
    [s.name, s.setting && ` (${s.setting})`, s.period && `, ${s.period}`].filter(Boolean).join('');
  const current = services.filter((s) => s.current);
  const earlier = services.filter((s) => !s.current);
  return [
    el('h4', 'Service responsible for the plan'),
    current.length === 0 && el('p', 'No service holds the plan at the moment.'),
    current.map((s) => [
      el('p', el('b', describe(s)), '.'),
      s.reach !== undefined && el('p', `How to reach them: ${s.reach}.`),
    ]),
    earlier.length > 0 && [
      el('p', 'Before that:'),
      el(
        'ul',
        earlier.map((s) => el('li', describe(s))),
      ),
    ],
  ];
}

function reviewSection(plan: CarePlan): Child[] {
  const reviews = extensionsOf(plan, Extensions.reviewDue).flatMap((e) => {
    const due = sub(e, 'due')?.valueDateTime ?? sub(e, 'due')?.valueDate;
    if (due === undefined) return [];
    const timepoint = sub(e, 'timepoint')?.valueCoding;
    const setting = sub(e, 'setting')?.valueCoding;
    const what = [
      timepointWords(timepoint?.code, timepoint?.display) ?? 'Review',
      settingWords(setting?.code, setting?.display),
    ]
      .filter((p): p is string => p !== undefined)
      .join(', ');
    return [{ what, due }];
  });
  if (reviews.length === 0) return [];
  return [
    el('h4', 'Review dates'),
    el(
      'ul',
      reviews.map((r) => el('li', `${r.what}: due ${day(r.due)}`)),
    ),
  ];
}

// ---- ratings -------------------------------------------------------------------------------

function ratingsSection(context: CarePlanContext): Child[] {
  const latest = context.latest;
  if (!latest) return [];
  const out: Child[] = [];
  if (Object.keys(latest.scores).length > 0) {
    const ratings: DialogRatings = {
      scores: latest.scores,
      helpWanted: latest.helpWanted,
      ratedAt: latest.authored,
    };
    out.push(
      el('h4', `Latest DIALOG ratings (${day(latest.authored)})`),
      ratingsTable(ratings, context.previous ? { previous: context.previous } : {}),
    );
  }
  if (latest.chosen.length > 0)
    out.push(
      el('p', el('b', 'Chosen to discuss: '), `${listWords(latest.chosen.map(itemLabel))}.`),
    );
  return out;
}

interface ChangeRow {
  readonly order: number;
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly difference: string;
  readonly words: string;
  readonly period: string | undefined;
}

function changeRow(observation: Observation): ChangeRow | undefined {
  if (observationContent(observation) === undefined) return undefined;
  const measure = observation.extension?.find((e) => e.url === Extensions.measure)?.valueCoding;
  const item = itemOfCoding(measure);
  const mean =
    measure?.code === 'sqol-mean' ? 'sqol' : measure?.code === 'ts-mean' ? 'ts' : undefined;
  const value = (code: string): number | undefined => {
    const c = observation.component?.find((k) =>
      k.code.coding?.some((x) => x.system === CodeSystems.dialog && x.code === code),
    );
    return c?.valueQuantity?.value ?? c?.valueInteger;
  };
  const from = value('baseline-score');
  const to = value('follow-up-score');
  const difference = observation.valueQuantity?.value ?? observation.valueInteger;
  const category = observation.interpretation
    ?.flatMap((i) => i.coding ?? [])
    .find((c) => c.system === CodeSystems.change)?.code;
  if ((!item && !mean) || !isChangeCategory(category)) return undefined;
  const show = (v: number | undefined): string =>
    v === undefined ? '' : item ? scoreWithLabel(v) : formatMean(v);
  const incomplete =
    observation.extension?.find((e) => e.url === Extensions.meanComplete)?.valueBoolean === false;
  return {
    order: item ? DIALOG_ITEMS.indexOf(item) : mean === 'sqol' ? 100 : 101,
    name: item ? item.label : MEAN_NAMES[mean ?? 'sqol'],
    from: show(from),
    to: show(to),
    difference: difference === undefined ? '' : signed(difference, !item),
    words: `${CHANGE_WORDS[category]}${incomplete ? ' (incomplete average)' : ''}`,
    period: periodWords(observation.effectivePeriod?.start, observation.effectivePeriod?.end),
  };
}

function changesSection(context: CarePlanContext): Child[] {
  const rows = (context.changes ?? [])
    .filter((o) => o.status !== 'entered-in-error')
    .flatMap((o) => changeRow(o) ?? [])
    .sort((a, b) => a.order - b.order);
  if (rows.length === 0) return [];
  const periods = [...new Set(rows.flatMap((r) => r.period ?? []))];
  return [
    el('h4', 'Change over this episode of care'),
    periods.length === 1 && el('p', `Between the first and the latest rating, ${periods[0]}.`),
    el(
      'table',
      el(
        'thead',
        el(
          'tr',
          ['Area', 'First rating', 'Latest rating', 'Difference', 'Change'].map((h) =>
            elWith('th', { scope: 'col' }, h),
          ),
        ),
      ),
      el(
        'tbody',
        rows.map((r) =>
          el(
            'tr',
            elWith('th', { scope: 'row' }, r.name),
            el('td', r.from),
            el('td', r.to),
            el('td', r.difference),
            el('td', r.words),
          ),
        ),
      ),
    ),
  ];
}

// ---- goals and actions ---------------------------------------------------------------------

function sectionCode(activity: CarePlanActivity): string | undefined {
  return activity.detail?.code?.coding?.find((c) => c.system === CodeSystems.planSections)?.code;
}

function performers(detail: CarePlanActivityDetail): string | undefined {
  const names = (detail.performer ?? []).flatMap((p) => referenceName(p) ?? []);
  return names.length > 0 ? listWords(names) : undefined;
}

function goalsSection(plan: CarePlan, context: CarePlanContext): Child[] {
  const goals = (plan.goal ?? []).map((ref) => {
    const goal = resolved(context, ref, 'Goal');
    if (!goal) return el('li', referenceName(ref) ?? 'A goal recorded elsewhere');
    const area = goalArea(goal);
    const words = goalText(goal);
    const details = [
      goalStatusWords(goal.lifecycleStatus),
      goal.startDate !== undefined ? `set on ${day(goal.startDate)}` : undefined,
      ...(goal.target ?? []).flatMap((t) => (t.dueDate ? [`due ${day(t.dueDate)}`] : [])),
    ].filter((p): p is string => p !== undefined);
    return el(
      'li',
      area !== undefined && [el('b', area), ': '],
      words !== undefined ? `“${words}”` : 'No words recorded',
      ` (${details.join(', ')})`,
    );
  });
  if (goals.length === 0) return [];
  return [el('h4', 'Goals'), el('ul', goals)];
}

interface ActionRow {
  readonly what: string;
  readonly who: string;
  readonly byWhen: string;
  readonly sortKey: string;
  readonly status: string;
  readonly area: string;
  readonly open: boolean;
}

function actionRows(plan: CarePlan, context: CarePlanContext): ActionRow[] {
  const areaOfGoal = new Map<string, string>();
  for (const ref of plan.goal ?? []) {
    const goal = resolved(context, ref, 'Goal');
    const area = goal && goalArea(goal);
    if (ref.reference && area) areaOfGoal.set(ref.reference, area);
  }
  return (plan.activity ?? []).flatMap((activity): ActionRow[] => {
    const code = sectionCode(activity);
    const detail = activity.detail;
    if (code !== undefined && code !== 'agreed-action') return [];
    if (!detail || detail.status === 'entered-in-error') return [];
    const what =
      detail.description ??
      detail.code?.text ??
      activity.reference?.display ??
      activity.outcomeCodeableConcept?.[0]?.text;
    if (what === undefined) return [];
    const end = detail.scheduledPeriod?.end ?? detail.scheduledTiming?.repeat?.boundsPeriod?.end;
    const byWhen = [end !== undefined ? day(end) : undefined, detail.scheduledString]
      .filter((p): p is string => p !== undefined)
      .join('; ');
    const reason = detail.statusReason?.text ?? detail.statusReason?.coding?.[0]?.display;
    const area =
      detail.goal?.flatMap((g) => (g.reference ? (areaOfGoal.get(g.reference) ?? []) : []))[0] ??
      itemOfCoding(detail.reasonCode?.[0]?.coding?.[0])?.label;
    return [
      {
        what,
        who: performers(detail) ?? '',
        byWhen,
        sortKey: end?.slice(0, 10) ?? '9999',
        status: `${activityStatusWords(detail.status)}${reason ? `: ${reason}` : ''}`,
        area: area ?? '',
        open: !CLOSED_ACTIVITY.has(detail.status),
      },
    ];
  });
}

function actionsTable(rows: readonly ActionRow[], caption: string): XNode {
  const sorted = [...rows].sort((a, b) => a.sortKey.localeCompare(b.sortKey));
  return el(
    'table',
    el('caption', caption),
    el(
      'thead',
      el(
        'tr',
        ['What', 'Who', 'By when', 'Status', 'Area'].map((h) => elWith('th', { scope: 'col' }, h)),
      ),
    ),
    el(
      'tbody',
      sorted.map((r) =>
        el(
          'tr',
          el('td', r.what),
          el('td', r.who),
          el('td', r.byWhen),
          el('td', r.status),
          el('td', r.area),
        ),
      ),
    ),
  );
}

function actionsSection(plan: CarePlan, context: CarePlanContext): Child[] {
  const rows = actionRows(plan, context);
  if (rows.length === 0) return [];
  const open = rows.filter((r) => r.open);
  const closed = rows.filter((r) => !r.open);
  return [
    el('h4', 'Agreed actions'),
    open.length > 0 ? actionsTable(open, 'Still to do') : el('p', 'No actions are open.'),
    closed.length > 0 && actionsTable(closed, 'Done or closed'),
  ];
}

// ---- plan sections -------------------------------------------------------------------------

const UNIT_WORDS: Readonly<Record<string, [string, string]>> = {
  s: ['second', 'seconds'],
  min: ['minute', 'minutes'],
  h: ['hour', 'hours'],
  d: ['day', 'days'],
  wk: ['week', 'weeks'],
  mo: ['month', 'months'],
  a: ['year', 'years'],
};

function timingWords(timing: Timing | undefined): string | undefined {
  if (!timing) return undefined;
  const repeat = timing.repeat;
  const parts: string[] = [];
  const code = timing.code?.text ?? timing.code?.coding?.[0]?.display;
  if (code) parts.push(code);
  if (repeat?.period !== undefined && repeat.periodUnit !== undefined) {
    const frequency = repeat.frequency ?? 1;
    const times = frequency === 1 ? 'once' : frequency === 2 ? 'twice' : `${frequency} times`;
    const [one, many] = UNIT_WORDS[repeat.periodUnit] ?? [repeat.periodUnit, repeat.periodUnit];
    const every = repeat.period === 1 ? one : `${repeat.period} ${many}`;
    parts.push(`${times} every ${every}`);
  }
  const bounds = periodWords(repeat?.boundsPeriod?.start, repeat?.boundsPeriod?.end);
  if (bounds) parts.push(bounds);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

const SECTION_ORDER = [
  'mental-health-act-status',
  'mental-capacity',
  'leave',
  'visits',
  'nursing-observations',
] as const;

const SECTION_NAMES: Readonly<Record<string, string>> = {
  'safety-plan': 'Safety plan',
  'mental-health-act-status': 'Mental Health Act status',
  'mental-capacity': 'Mental Capacity Act',
  leave: 'Leave',
  visits: 'Visits',
  'nursing-observations': 'Nursing observations',
};

function sectionBlock(activity: CarePlanActivity, heading: 'h4' | 'h5'): Child[] {
  const detail = activity.detail;
  if (!detail) return [];
  const code = sectionCode(activity) ?? '';
  const legal = detail.extension?.find((e) => e.url === Extensions.legalStatus)?.valueCoding;
  const period = periodWords(detail.scheduledPeriod?.start, detail.scheduledPeriod?.end);
  const timing = timingWords(detail.scheduledTiming);
  const who = performers(detail);
  const open = !CLOSED_ACTIVITY.has(detail.status);
  const title = [
    SECTION_NAMES[code] ?? code,
    legal && `: ${legal.display ?? legal.code ?? ''}`,
    !open &&
      ` (${detail.status === 'completed' ? 'ended' : activityStatusWords(detail.status).toLowerCase()})`,
  ]
    .filter(Boolean)
    .join('');
  return [
    el(heading, title),
    detail.description !== undefined && el('p', lines(detail.description)),
    period !== undefined && el('p', el('b', 'When: '), period),
    detail.scheduledString !== undefined && el('p', el('b', 'When: '), detail.scheduledString),
    timing !== undefined && el('p', el('b', 'How often: '), timing),
    who !== undefined && el('p', el('b', 'Who: '), who),
    open &&
      detail.status !== 'in-progress' &&
      el('p', el('b', 'Status: '), activityStatusWords(detail.status)),
  ];
}

function safetyPlanSection(plan: CarePlan): Child[] {
  const plans = (plan.activity ?? []).filter(
    (a) => sectionCode(a) === 'safety-plan' && a.detail?.status !== 'entered-in-error',
  );
  return plans.map((a) => sectionBlock(a, 'h4'));
}

function hospitalSection(plan: CarePlan): Child[] {
  const activities = (plan.activity ?? []).filter((a) => {
    const code = sectionCode(a);
    return (
      code !== undefined &&
      (SECTION_ORDER as readonly string[]).includes(code) &&
      a.detail?.status !== 'entered-in-error'
    );
  });
  if (activities.length === 0) return [];
  const allClosed = activities.every((a) => CLOSED_ACTIVITY.has(a.detail?.status ?? ''));
  const rank = (a: CarePlanActivity): number => {
    const order = SECTION_ORDER.indexOf(sectionCode(a) as (typeof SECTION_ORDER)[number]);
    // Within a section, what is in force now comes before what has ended.
    return order * 2 + (CLOSED_ACTIVITY.has(a.detail?.status ?? '') ? 1 : 0);
  };
  const sorted = activities
    .map((a, i) => ({ a, i }))
    .sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i)
    .map((x) => x.a);
  return [
    el('h4', allClosed ? 'Hospital stay (ended)' : 'In hospital'),
    sorted.map((a) => sectionBlock(a, 'h5')),
  ];
}

// ---- carers, delivery, notes ---------------------------------------------------------------

function consentWords(consent: Consent | undefined): string | undefined {
  if (!consent) return undefined;
  const provision = consent.provision;
  if (consent.status !== 'active')
    return `The consent recorded is not active (${consent.status}): nothing is shared on it.`;
  if (provision?.type === 'deny') return 'The person does not agree to share their plan.';
  const codes = (provision?.code ?? []).flatMap((c) =>
    (c.coding ?? []).flatMap((k) =>
      k.system === CodeSystems.planSections && k.code ? [k.code] : [],
    ),
  );
  const classes = (provision?.class ?? []).flatMap((c) => (c.code ? [c.code] : []));
  const shared = [...classes, ...codes].map(sharedWords);
  if (shared.length === 0) return undefined;
  const denied = (provision?.provision ?? [])
    .filter((p) => p.type === 'deny')
    .flatMap((p) => [
      ...(p.class ?? []).flatMap((c) => (c.code ? [sharedWords(c.code)] : [])),
      ...(p.code ?? []).flatMap((c) =>
        (c.coding ?? []).flatMap((k) => (k.code ? [sharedWords(k.code)] : [])),
      ),
    ]);
  return [
    `Shared with them, as the person agreed: ${listWords([...new Set(shared)])}.`,
    denied.length > 0 ? ` Not shared: ${listWords([...new Set(denied)])}.` : '',
  ].join('');
}

function carersSection(plan: CarePlan, context: CarePlanContext): Child[] {
  const carers = extensionsOf(plan, Extensions.carer).map((entry) => {
    const ref = sub(entry, 'carer')?.valueReference;
    const person = resolved(context, ref, 'RelatedPerson');
    const consent = resolved(context, sub(entry, 'consent')?.valueReference, 'Consent');
    const name = humanName(person?.name) ?? referenceName(ref) ?? 'A carer named in the record';
    const relation =
      person?.relationship?.[0]?.text ?? person?.relationship?.[0]?.coding?.[0]?.display;
    const involvement = sub(entry, 'involvement')?.valueString;
    const reach = contactsLine(person?.telecom);
    const shares = consentWords(consent);
    return el(
      'li',
      el('b', name),
      relation !== undefined && ` (${relation})`,
      involvement !== undefined && el('p', lines(involvement)),
      shares !== undefined && el('p', shares),
      reach !== undefined && el('p', `How to reach them: ${reach}.`),
    );
  });
  if (carers.length === 0) return [];
  return [el('h4', 'Carers and family'), el('ul', carers)];
}

function deliverySection(plan: CarePlan): Child[] {
  const coding = extensionsOf(plan, Extensions.deliveryPreference)[0]?.valueCoding;
  const words = deliveryWords(coding);
  if (words === undefined) return [];
  const who = plan.subject.display ?? 'The person';
  return [el('h4', 'How the plan is sent'), el('p', `${who} would like the plan ${words}.`)];
}

function notesSection(plan: CarePlan): Child[] {
  const notes = plan.note ?? [];
  if (notes.length === 0) return [];
  return [
    el('h4', 'Notes'),
    el(
      'ul',
      notes.map((n) =>
        el('li', n.time !== undefined && [el('b', when(n.time)), ': '], lines(n.text)),
      ),
    ),
  ];
}

/** The narrative content of the one care plan. */
export function carePlanContent(plan: CarePlan, context: CarePlanContext = {}): Child[] {
  const started = plan.period?.start ?? plan.created;
  const ended = plan.period?.end;
  return [
    el('h3', plan.title ?? 'DIALOG+ care and support plan'),
    plan.subject.display !== undefined && el('p', `For ${plan.subject.display}.`),
    plan.description !== undefined && el('p', lines(plan.description)),
    el(
      'p',
      el('b', 'Status: '),
      planStatusWords(plan.status),
      started !== undefined && `. Started on ${day(started)}`,
      ended !== undefined && `, ended on ${day(ended)}`,
      '.',
    ),
    keyWorkerSection(plan, context),
    serviceSection(plan, context),
    reviewSection(plan),
    ratingsSection(context),
    changesSection(context),
    goalsSection(plan, context),
    actionsSection(plan, context),
    safetyPlanSection(plan),
    hospitalSection(plan),
    carersSection(plan, context),
    deliverySection(plan),
    notesSection(plan),
  ];
}
