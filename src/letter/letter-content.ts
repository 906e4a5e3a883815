/**
 * What the letter says, once, for every format: a small document of headed sections made of
 * paragraphs, lists, tables and the ratings chart. The HTML and PDF writers only lay it out, so
 * both carry the same words.
 *
 * Written to the person, in the "you" voice and plain English, as the DIALOG guidance asks: no
 * clinical shorthand (never "SQoL" or "TS", "episode" or "timepoint"); dates in UK style as the
 * plan states them. Texts the plan holds (actions, the safety plan, goals) are quoted as written.
 */
import {
  changeWords,
  scoresTable,
  ukDate,
  type ChartChange,
  type ScoresChartData,
  type SeriesKey,
} from '../charts';
import { formatMean, itemByConcept, meanScore, parseDateTime } from '../dialog';
import type { Action, Carer, Contact, Performer, PlanSection, PlanView } from './plan-view';

export type Block =
  | { readonly kind: 'paragraph'; readonly text: string }
  /** Something the reader should not miss (shown boxed). */
  | { readonly kind: 'note'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | { readonly kind: 'subheading'; readonly text: string }
  | {
      readonly kind: 'table';
      readonly caption: string;
      readonly header: readonly string[];
      readonly rows: readonly (readonly string[])[];
    }
  /** The ratings chart; its text alternative is the `table` block that follows it. */
  | { readonly kind: 'chart'; readonly data: ScoresChartData };

export interface LetterSection {
  /** Stable id (for anchors): contact, review, goals, actions, safety, hospital, carers, ratings. */
  readonly id: string;
  readonly heading: string;
  readonly blocks: readonly Block[];
}

export interface Letter {
  readonly lang: 'en-GB';
  readonly title: string;
  /** "For", "Date" lines under the title. */
  readonly meta: readonly { readonly label: string; readonly value: string }[];
  readonly greeting: string;
  readonly intro: readonly Block[];
  readonly sections: readonly LetterSection[];
  readonly closing: readonly string[];
}

export interface LetterOptions {
  /** The letter's date (FHIR date or dateTime), shown as written; none when absent. */
  readonly date?: string;
}

/** "Your mental health", "The practical help you receive" — an area as the person was asked it. */
export function areaWords(series: SeriesKey): string {
  if (series === 'sqol') return 'Your overall satisfaction with life';
  if (series === 'ts') return 'How satisfied you are with your care';
  const item = itemByConcept(series);
  if (!item) return series;
  const asked = item.question.replace(/^How satisfied are you with /, '').replace(/\?$/, '');
  return asked.charAt(0).toUpperCase() + asked.slice(1);
}

const SECTION_HEADINGS: Readonly<Record<string, string>> = {
  'mental-health-act-status': 'Your rights in hospital (Mental Health Act)',
  'mental-capacity': 'Making decisions about your care',
  leave: 'Time away from the ward',
  visits: 'Visits',
  'nursing-observations': 'How often staff check on you',
};

const SHARED_WORDS: Readonly<Record<string, string>> = {
  'agreed-action': 'the actions you agreed',
  'safety-plan': 'your safety plan',
  'mental-health-act-status': 'your rights in hospital',
  'mental-capacity': 'decisions about your care',
  leave: 'your time away from the ward',
  visits: 'visits',
  'nursing-observations': 'how often staff check on you',
  CarePlan: 'your care plan',
  QuestionnaireResponse: 'your ratings',
  Observation: 'your ratings',
  Goal: 'what you want to change',
};

const DELIVERY_WORDS: Readonly<Record<string, string>> = {
  sms: 'by text message',
  email: 'by email',
  letter: 'as a printed letter',
};

export function contactText(contact: Contact): string {
  const label =
    contact.system === 'phone'
      ? 'Phone'
      : contact.system === 'email'
        ? 'Email'
        : contact.system === 'sms'
          ? 'Text'
          : 'Contact';
  return `${label}: ${contact.value}`;
}

/** "You", "Sam Whitfield (your key worker)", "You and Sam Whitfield (your key worker)". */
export function whoText(who: readonly Performer[]): string {
  const names = who.map((p) =>
    p.isPerson ? 'You' : p.isKeyWorker ? `${p.name} (your key worker)` : p.name,
  );
  const spoken = names.map((n, i) => (i > 0 && n === 'You' ? 'you' : n));
  if (spoken.length === 0) return 'Not decided yet';
  if (spoken.length === 1) return spoken[0] ?? '';
  return `${spoken.slice(0, -1).join(', ')} and ${spoken[spoken.length - 1] ?? ''}`;
}

/** "By 30 September 2025", "Thursdays, starting again on 8 January 2026", "No date set". */
export function whenText(action: Action): string {
  if (action.when && action.byWhen) return `${action.when} (by ${ukDate(action.byWhen)})`;
  if (action.when) return action.when;
  if (action.byWhen) return `By ${ukDate(action.byWhen)}`;
  return 'No date set';
}

function joinWords(words: readonly string[]): string {
  const unique = [...new Set(words)];
  if (unique.length <= 1) return unique[0] ?? '';
  return `${unique.slice(0, -1).join(', ')} and ${unique[unique.length - 1] ?? ''}`;
}

function contactSection(view: PlanView): LetterSection {
  const blocks: Block[] = [];
  const worker = view.keyWorker;
  const service = view.service;
  if (worker) {
    blocks.push({
      kind: 'paragraph',
      text: `Your key worker is ${worker.name}${service ? `, from ${service.name}` : ''}. They are the person to contact first about your care.`,
    });
    if (worker.contacts.length > 0)
      blocks.push({ kind: 'list', items: worker.contacts.map(contactText) });
    else blocks.push({ kind: 'paragraph', text: `Ask ${worker.name} how best to reach them.` });
  } else {
    blocks.push({
      kind: 'paragraph',
      text: 'You do not have a named key worker yet. Your care team will tell you who it is.',
    });
  }
  if (service && service.contacts.length > 0) {
    const extra = service.contacts.filter(
      (c) => !worker?.contacts.some((w) => w.value === c.value),
    );
    if (extra.length > 0 || !worker)
      blocks.push({
        kind: 'paragraph',
        text: `You can also contact ${service.name}: ${(extra.length > 0 ? extra : service.contacts).map(contactText).join('; ')}.`,
      });
  }
  return { id: 'contact', heading: 'Who to contact', blocks };
}

function reviewSection(view: PlanView): LetterSection {
  const review = view.nextReview;
  const who = view.keyWorker ? view.keyWorker.name : 'your care team';
  const text = review
    ? `Your next review is due by ${ukDate(review.due)}. At the review, you and ${who} will look at your plan and your ratings together again, and agree what happens next.`
    : `A date for your next review has not been set yet. Ask ${who} when it will be.`;
  return { id: 'review', heading: 'Your next review', blocks: [{ kind: 'paragraph', text }] };
}

function goalsSection(view: PlanView): LetterSection | undefined {
  const open = view.goals.filter((g) => g.open);
  if (open.length === 0) return undefined;
  return {
    id: 'goals',
    heading: 'What you want to change',
    blocks: [
      { kind: 'paragraph', text: 'In your own words, this is what you would like to change:' },
      {
        kind: 'list',
        items: open.map((g) => (g.area ? `${areaWords(g.area)}: ${g.text}` : g.text)),
      },
    ],
  };
}

function actionsSection(view: PlanView): LetterSection | undefined {
  if (view.actions.length === 0) return undefined;
  const open = view.actions.filter((a) => a.open);
  const done = view.actions.filter((a) => !a.open && a.status === 'completed');
  const blocks: Block[] = [];
  if (open.length > 0)
    blocks.push({
      kind: 'table',
      caption: 'What you and others agreed to do',
      header: ['What', 'Who', 'When'],
      rows: open.map((a) => [a.what, whoText(a.who), whenText(a)]),
    });
  else blocks.push({ kind: 'paragraph', text: 'Everything agreed so far has been done.' });
  if (done.length > 0) {
    blocks.push({ kind: 'subheading', text: 'Already done' });
    blocks.push({ kind: 'list', items: done.map((a) => `${a.what} (${whoText(a.who)})`) });
  }
  return { id: 'actions', heading: 'What we agreed to do', blocks };
}

function safetySection(view: PlanView): LetterSection | undefined {
  const plan = view.safetyPlan;
  if (!plan) return undefined;
  return {
    id: 'safety',
    heading: 'Your safety plan',
    blocks: [
      { kind: 'paragraph', text: 'This is the plan you made for keeping yourself safe:' },
      { kind: 'note', text: plan.text },
    ],
  };
}

function hospitalSection(view: PlanView): LetterSection | undefined {
  const open = view.sections.filter((s: PlanSection) => s.open);
  if (open.length === 0) return undefined;
  const blocks = open.flatMap((s): Block[] => [
    { kind: 'subheading', text: SECTION_HEADINGS[s.code] ?? 'More about your care' },
    ...(s.legalStatus
      ? [{ kind: 'paragraph' as const, text: `Your status now: ${s.legalStatus}.` }]
      : []),
    ...(s.when ? [{ kind: 'paragraph' as const, text: `When: ${s.when}.` }] : []),
    { kind: 'paragraph', text: s.text },
  ]);
  return { id: 'hospital', heading: 'While you are in hospital', blocks };
}

function carerText(carer: Carer): string[] {
  const relation = carer.relationship ? ` (your ${carer.relationship.toLowerCase()})` : '';
  const lines = [`${carer.name}${relation}`];
  if (carer.involvement) lines.push(carer.involvement);
  if (carer.shares) {
    const words = carer.shares.map((s) => SHARED_WORDS[s] ?? s);
    lines.push(
      words.length > 0
        ? `You agreed to share with ${carer.name.split(/\s+/)[0] ?? carer.name}: ${joinWords(words)}. Nothing else is shared without asking you.`
        : `You have not agreed to share anything with ${carer.name}.`,
    );
  }
  return lines;
}

function carersSection(view: PlanView): LetterSection | undefined {
  if (view.carers.length === 0) return undefined;
  return {
    id: 'carers',
    heading: 'People who support you',
    blocks: view.carers.flatMap((c): Block[] => {
      const [name = '', ...rest] = carerText(c);
      return [
        { kind: 'subheading', text: name },
        ...rest.map((text) => ({ kind: 'paragraph' as const, text })),
        ...(c.contacts.length > 0
          ? [{ kind: 'list' as const, items: c.contacts.map(contactText) }]
          : []),
      ];
    }),
  };
}

/** The latest real change of each area and average, in the chart's order. */
export function latestRealChanges(view: PlanView): ChartChange[] {
  const latest = new Map<SeriesKey, ChartChange>();
  for (const change of view.changes) {
    if (change.category === 'no-reliable-change') continue;
    const before = latest.get(change.series);
    const at = parseDateTime(change.to) ?? 0;
    if (!before || at > (parseDateTime(before.to) ?? 0)) latest.set(change.series, change);
  }
  const order = scoresTable({ ratings: [], changes: [] }).rows.map((r) => r.series);
  return order.flatMap((s) => latest.get(s) ?? []);
}

function ratingsSection(view: PlanView): LetterSection | undefined {
  const last = view.ratings[view.ratings.length - 1];
  if (!last) return undefined;
  const data: ScoresChartData = { ratings: view.ratings, changes: view.changes };
  const table = scoresTable(data);
  const means = (['sqol', 'ts'] as const).flatMap((m) => {
    const mean = meanScore(last, m);
    return mean
      ? [
          `${areaWords(m)}: ${formatMean(mean.value)} out of 7${mean.complete ? '' : ' (some areas were not rated, so read this with care)'}`,
        ]
      : [];
  });
  const changes = latestRealChanges(view).map(
    (c) => `${areaWords(c.series)}: ${changeWords(c)} (${ukDate(c.from)} to ${ukDate(c.to)})`,
  );
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      text: 'At your meetings you rated how satisfied you are with 11 parts of your life and care, from 1 (totally dissatisfied) to 7 (totally satisfied). 4 is in the middle.',
    },
    { kind: 'paragraph', text: `Your latest ratings are from ${ukDate(last.ratedAt)}.` },
    ...(means.length > 0 ? [{ kind: 'list' as const, items: means }] : []),
  ];
  if (changes.length > 0) {
    blocks.push({
      kind: 'paragraph',
      text: 'A change of 1 point or more counts as a real change. These are your real changes:',
    });
    blocks.push({ kind: 'list', items: changes });
  }
  blocks.push({ kind: 'chart', data });
  blocks.push({
    kind: 'table',
    caption: table.caption,
    header: table.header,
    rows: table.rows.map((r) => r.cells),
  });
  return { id: 'ratings', heading: 'How you rated your life and care', blocks };
}

/** The letter for a plan view. */
export function buildLetter(view: PlanView, options: LetterOptions = {}): Letter {
  const person = view.person;
  const meta = [
    ...(person?.fullName ? [{ label: 'For', value: person.fullName }] : []),
    ...(options.date ? [{ label: 'Date', value: ukDate(options.date) }] : []),
  ];
  const intro: Block[] = [
    {
      kind: 'paragraph',
      text: 'This is your care and support plan. You made it with your care team, and it stays with you wherever you get care, at home or in hospital. It says who to contact, what you want to change, what you and others agreed to do, and how you keep yourself safe.',
    },
  ];
  if (view.restricted)
    intro.push({
      kind: 'note',
      text: 'Some parts of this plan are not shown here, because they have not been shared.',
    });
  if (view.deliveryPreference && DELIVERY_WORDS[view.deliveryPreference])
    intro.push({
      kind: 'paragraph',
      text: `You asked to get your plan ${DELIVERY_WORDS[view.deliveryPreference] ?? ''}.`,
    });
  const sections = [
    contactSection(view),
    reviewSection(view),
    safetySection(view),
    goalsSection(view),
    actionsSection(view),
    hospitalSection(view),
    carersSection(view),
    ratingsSection(view),
  ].flatMap((s) => s ?? []);
  const contactName = view.keyWorker?.name ?? 'your care team';
  return {
    lang: 'en-GB',
    title: 'Your care and support plan',
    meta,
    greeting: person?.callName ? `Dear ${person.callName},` : 'Hello,',
    intro,
    sections,
    closing: [
      `If anything in this plan is wrong, or you would like to change it, please talk to ${contactName}.`,
      view.service ? `From your care team at ${view.service.name}` : 'From your care team',
    ],
  };
}
