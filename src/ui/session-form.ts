/**
 * The DIALOG+ session form: rendering a `DialogSession` as an HTML form, and reading the posted
 * form back into a `DialogSession` (src/fhir's typed view of the DIALOG QuestionnaireResponse), so
 * what the page saves is built by `sessionToResponse` exactly as any other session.
 *
 * The form follows the intervention: last time's actions are reviewed first; the person rates the
 * 11 areas (1–7, with the scale's words) beside last time's ratings, says where they want more
 * help; up to 3 areas are chosen; for each chosen area the four steps (understanding, looking
 * forward, exploring options, agreeing actions: what, who, by when). Areas chosen now get their
 * steps after "Save for later" (no script needed); with several sittings that is the usual path.
 */
import {
  CARE_SETTINGS,
  DIALOG_ITEMS,
  SCALE_LABELS,
  TIMEPOINT_KINDS,
  isDialogItemConcept,
  type CareSetting,
  type DialogItemConcept,
  type DialogScore,
  type TimepointKind,
} from '../dialog';
import { ukDate } from '../charts';
import type {
  DialogAction,
  DialogSession,
  DiscussedItem,
  PreviousAction,
  PreviousActionStatus,
} from '../fhir/dialog-session';
import type { PreviousRating } from '../fhir/populate';
import { attrs, html, type Html } from './html';
import { errorSummary, type FieldError } from './layout';

export type FormBody = Readonly<Record<string, unknown>>;

export const MAX_CHOSEN = 3;
/** Empty action rows offered per chosen area, beyond those already written. */
const SPARE_ACTION_ROWS = 1;
const MIN_ACTION_ROWS = 2;
const MAX_TEXT = 4000;

const STEP_FIELDS = [
  {
    key: 'understanding',
    name: 'understanding',
    label: 'Understanding',
    hint: 'What is going well, and why is the person not more satisfied?',
  },
  {
    key: 'lookingForward',
    name: 'looking-forward',
    label: 'Looking forward',
    hint: 'What would the best case be, and what is the smallest step towards it?',
  },
  {
    key: 'exploringOptions',
    name: 'exploring-options',
    label: 'Exploring options',
    hint: 'What could the person, the clinician and others do?',
  },
] as const;

const SETTING_NAMES: Readonly<Record<CareSetting, string>> = {
  community: 'Community',
  inpatient: 'Inpatient',
  crisis: 'Crisis',
};
const TIMEPOINT_NAMES: Readonly<Record<TimepointKind, string>> = {
  'episode-start': 'Start of care (episode start)',
  review: 'Review',
  'episode-end': 'End of care (episode end)',
};
const PREVIOUS_STATUS: readonly { value: PreviousActionStatus; id: string; label: string }[] = [
  { value: 'done', id: 'done', label: 'Done' },
  { value: 'partly done', id: 'partly', label: 'Partly done' },
  { value: 'not done', id: 'not', label: 'Not done' },
];

function field(body: FormBody, name: string): string | undefined {
  const value = body[name];
  const first = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof first === 'string' ? first : undefined;
}

function fields(body: FormBody, name: string): string[] {
  const value = body[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

/** Free text as typed (line endings normalised, capped); empty is undefined. */
function text(value: string | undefined): string | undefined {
  const t = value?.replace(/\r\n?/g, '\n').trim().slice(0, MAX_TEXT);
  return t ? t : undefined;
}

function actionRows(discussed: DiscussedItem | undefined): number {
  return Math.max(MIN_ACTION_ROWS, (discussed?.actions.length ?? 0) + SPARE_ACTION_ROWS);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** A FHIR date from day/month/year boxes; undefined when all are empty; 'invalid' otherwise. */
function dateOf(day?: string, month?: string, year?: string): string | undefined | 'invalid' {
  const [d, m, y] = [day, month, year].map((v) => v?.trim() ?? '');
  if (!d && !m && !y) return undefined;
  if (!/^\d{1,2}$/.test(d ?? '') || !/^\d{1,2}$/.test(m ?? '') || !/^\d{4}$/.test(y ?? ''))
    return 'invalid';
  const [dn, mn, yn] = [Number(d), Number(m), Number(y)];
  const date = new Date(Date.UTC(yn, mn - 1, dn));
  if (date.getUTCFullYear() !== yn || date.getUTCMonth() !== mn - 1 || date.getUTCDate() !== dn)
    return 'invalid';
  return `${pad(yn, 4)}-${pad(mn, 2)}-${pad(dn, 2)}`;
}

export interface ParsedForm {
  readonly session: DialogSession;
  readonly errors: FieldError[];
}

/**
 * The posted form over `base` (the stored in-progress session, or a new one): what the form
 * holds replaces what `base` said; steps of an area chosen only now come from `base` (none yet).
 */
export function readSessionForm(
  body: FormBody,
  base: DialogSession,
  submitting: boolean,
): ParsedForm {
  const errors: FieldError[] = [];
  const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
  const helpWanted: Partial<Record<DialogItemConcept, boolean>> = {};
  for (const item of DIALOG_ITEMS) {
    const score = Number(field(body, `score.${item.concept}`));
    if (Number.isInteger(score) && score >= 1 && score <= 7)
      scores[item.concept] = score as DialogScore;
    const help = field(body, `help.${item.concept}`);
    if (help === 'yes' || help === 'no') helpWanted[item.concept] = help === 'yes';
  }
  const chosen = [...new Set(fields(body, 'chosen').filter(isDialogItemConcept))];
  if (chosen.length > MAX_CHOSEN)
    errors.push({
      field: `chosen-${chosen[0] ?? 'mental-health'}`,
      message: `Choose up to ${MAX_CHOSEN} areas to discuss (${chosen.length} are chosen)`,
    });
  const discussed = chosen.map((concept) => readDiscussed(body, base, concept, errors));
  const previousActions = base.previousActions.map((action, i): PreviousAction => {
    const status = field(body, `previous.${i}.status`);
    const known = PREVIOUS_STATUS.find((s) => s.value === status)?.value ?? action.status;
    return { what: action.what, ...(known ? { status: known } : {}) };
  });
  if (submitting && Object.keys(scores).length === 0)
    errors.unshift({
      field: 'score-mental-health-1',
      message: 'Rate at least one area before submitting the session (or save it for later)',
    });
  const setting = CARE_SETTINGS.find((s) => s === field(body, 'setting'));
  const timepoint = TIMEPOINT_KINDS.find((t) => t === field(body, 'timepoint'));
  const { setting: _s, timepoint: _t, ...rest } = base;
  void _s;
  void _t;
  const session: DialogSession = {
    ...rest,
    ...(setting ? { setting } : {}),
    ...(timepoint ? { timepoint } : {}),
    scores,
    helpWanted,
    chosen,
    discussed,
    previousActions,
  };
  return { session, errors };
}

function readDiscussed(
  body: FormBody,
  base: DialogSession,
  concept: DialogItemConcept,
  errors: FieldError[],
): DiscussedItem {
  const before = base.discussed.find((d) => d.concept === concept);
  const steps: { -readonly [K in (typeof STEP_FIELDS)[number]['key']]?: string } = {};
  for (const step of STEP_FIELDS) {
    const name = `${step.name}.${concept}`;
    const value = name in body ? text(field(body, name)) : before?.[step.key];
    if (value !== undefined) steps[step.key] = value;
  }
  const rowsShown = Number(field(body, `action-rows.${concept}`));
  if (!Number.isInteger(rowsShown) || rowsShown <= 0)
    return { concept, ...steps, actions: before?.actions ?? [] };
  const actions: DialogAction[] = [];
  for (let i = 0; i < Math.min(rowsShown, 20); i++) {
    const prefix = `action.${concept}.${i}`;
    const what = text(field(body, `${prefix}.what`));
    const who = text(field(body, `${prefix}.who`));
    const byWhen = dateOf(
      field(body, `${prefix}.day`),
      field(body, `${prefix}.month`),
      field(body, `${prefix}.year`),
    );
    const id = `action-${concept}-${i}`;
    if (byWhen === 'invalid')
      errors.push({
        field: `${id}-day`,
        message: `Give “by when” as a real date: day, month and a 4-digit year (${label(concept)}, action ${i + 1})`,
      });
    if (!what) {
      if (who !== undefined || byWhen !== undefined)
        errors.push({
          field: `${id}-what`,
          message: `Say what the action is (${label(concept)}, action ${i + 1})`,
        });
      continue;
    }
    actions.push({
      what,
      ...(who !== undefined ? { who } : {}),
      ...(byWhen !== undefined && byWhen !== 'invalid' ? { byWhen } : {}),
    });
  }
  return { concept, ...steps, actions };
}

function label(concept: DialogItemConcept): string {
  return DIALOG_ITEMS.find((i) => i.concept === concept)?.label ?? concept;
}

// ---- rendering ------------------------------------------------------------------------------

export interface SessionPageInput {
  readonly patientId: string;
  readonly patientName: string;
  readonly csrf: string;
  readonly session: DialogSession;
  /** The stored in-progress response being continued. */
  readonly responseId?: string;
  readonly version?: string;
  readonly previous?: PreviousRating;
  readonly errors: readonly FieldError[];
  /** A message to show at the top (saved, or why the save failed). */
  readonly notice?: string;
}

export function sessionForm(input: SessionPageInput): Html {
  const { session, errors } = input;
  const errorFor = (id: string): string | undefined => errors.find((e) => e.field === id)?.message;
  const chosenError = errors.find((e) => e.field.startsWith('chosen-'))?.message;
  return html` <h1>DIALOG+ session with ${input.patientName}</h1>
    ${errorSummary(errors)}
    ${input.notice && html`<p class="notice" role="status">${input.notice}</p>`}
    <p>
      ${input.responseId ? html`Continuing the session started ${ukDate(session.authored)}. ` : ''}Nothing
      is final until you press “Submit session”: “Save for later” keeps it in progress.
    </p>
    <form method="post" action="/ui/patients/${input.patientId}/session" novalidate>
      <input type="hidden" name="_csrf" value="${input.csrf}" />
      ${input.responseId && html`<input type="hidden" name="response" value="${input.responseId}" />`}
      ${input.version && html`<input type="hidden" name="version" value="${input.version}" />`}
      <h2>About this session</h2>
      <label for="setting">Setting</label>
      <select id="setting" name="setting">
        <option value="">Not stated</option>
        ${CARE_SETTINGS.map((s) => html`<option${attrs({ value: s, selected: session.setting === s })}>${SETTING_NAMES[s]}</option>`)}
      </select>
      <label for="timepoint">Which rating this is</label>
      <select id="timepoint" name="timepoint">
        <option value="">Not stated</option>
        ${TIMEPOINT_KINDS.map((t) => html`<option${attrs({ value: t, selected: session.timepoint === t })}>${TIMEPOINT_NAMES[t]}</option>`)}
      </select>
      ${previousActionsSection(session)}
      <h2>Ratings</h2>
      <p class="hint">
        How satisfied is the person with each area, from 1 (totally dissatisfied) to 7 (totally
        satisfied)? Use the arrow keys to move between the
        numbers.${input.previous ? html` Last time’s ratings (${ukDate(input.previous.authored)}) are shown under each area.` : ''}
      </p>
      ${DIALOG_ITEMS.map((item, n) => ratingItem(item.concept, n + 1, session, input.previous, errorFor(`score-${item.concept}-1`)))}
      <h2>Areas to discuss</h2>
      <fieldset
        id="chosen"
        class="${chosenError ? 'has-error' : ''}"
        aria-describedby="chosen-hint${chosenError ? ' chosen-error' : ''}"
      >
        <legend>Which areas does the person want to discuss today?</legend>
        <p class="hint" id="chosen-hint">
          Choose up to ${MAX_CHOSEN}. Their four steps appear after you save.
        </p>
        ${chosenError && html`<p class="error-message" id="chosen-error"><span class="visually-hidden">Error: </span>${chosenError}</p>`}
        ${DIALOG_ITEMS.map(
          (item) =>
            html`<div class="choice">
              <input${attrs({ type: 'checkbox', id: `chosen-${item.concept}`, name: 'chosen', value: item.concept, checked: session.chosen.includes(item.concept) })} />
              <label for="chosen-${item.concept}"
                >${item.label}${session.scores[item.concept] !== undefined ? ` (rated ${String(session.scores[item.concept])})` : ''}</label
              >
            </div>`,
        )}
      </fieldset>
      ${session.chosen.map((concept) => discussionSection(concept, session, errorFor))}
      <div class="actions">
        <button type="submit" name="intent" value="save" class="secondary">Save for later</button>
        <button type="submit" name="intent" value="submit">Submit session</button>
      </div>
    </form>
    <p><a href="/ui/patients/${input.patientId}">Back to the plan</a></p>`;
}

function previousActionsSection(session: DialogSession): Html | undefined {
  if (session.previousActions.length === 0) return undefined;
  return html`<h2>Actions agreed last time</h2>
    <p class="hint">Review these first: how did they go?</p>
    ${session.previousActions.map(
      (action, i) =>
        html`<fieldset>
          <legend>${action.what}</legend>
          <ul class="scale">
            ${PREVIOUS_STATUS.map(
              (s) =>
                html`<li>
                  <input${attrs({ type: 'radio', id: `previous-${i}-${s.id}`, name: `previous.${i}.status`, value: s.value, checked: action.status === s.value })} />
                  <label for="previous-${i}-${s.id}">${s.label}</label>
                </li>`,
            )}
          </ul>
        </fieldset>`,
    )}`;
}

function ratingItem(
  concept: DialogItemConcept,
  number: number,
  session: DialogSession,
  previous: PreviousRating | undefined,
  error: string | undefined,
): Html {
  const item = DIALOG_ITEMS.find((i) => i.concept === concept);
  if (!item) return html``;
  const score = session.scores[concept];
  const help = session.helpWanted[concept];
  const before = previous?.scores[concept];
  const helpBefore = previous?.helpWanted[concept];
  const previousId = `previous-${concept}`;
  const errorId = `score-${concept}-error`;
  const described = [previous ? previousId : undefined, error ? errorId : undefined]
    .filter(Boolean)
    .join(' ');
  return html`<section class="item${error ? ' has-error' : ''}" aria-labelledby="item-${concept}">
<h3 id="item-${concept}">${number}. ${item.label}</h3>
${previous && html`<p class="previous" id="${previousId}">Last time: ${before !== undefined ? `${before} – ${SCALE_LABELS[before]}` : 'not rated'}${helpBefore !== undefined ? `; wanted more help: ${helpBefore ? 'yes' : 'no'}` : ''}</p>`}
${error && html`<p class="error-message" id="${errorId}">${error}</p>`}
<fieldset${attrs({ 'aria-describedby': described || undefined })}>
  <legend>${item.question}</legend>
  <ul class="scale">${([1, 2, 3, 4, 5, 6, 7] as const).map(
    (n) =>
      html`<li>
        <input${attrs({ type: 'radio', id: `score-${concept}-${n}`, name: `score.${concept}`, value: n, checked: score === n })} />
        <label for="score-${concept}-${n}">${n} ${SCALE_LABELS[n]}</label>
      </li>`,
  )}</ul>
</fieldset>
<fieldset>
  <legend>Does the person want more help with ${item.label.toLowerCase()}?</legend>
  <ul class="scale">
    <li><input${attrs({ type: 'radio', id: `help-${concept}-yes`, name: `help.${concept}`, value: 'yes', checked: help === true })} /><label for="help-${concept}-yes">Yes</label></li>
    <li><input${attrs({ type: 'radio', id: `help-${concept}-no`, name: `help.${concept}`, value: 'no', checked: help === false })} /><label for="help-${concept}-no">No</label></li>
  </ul>
</fieldset>
</section>`;
}

function discussionSection(
  concept: DialogItemConcept,
  session: DialogSession,
  errorFor: (id: string) => string | undefined,
): Html {
  const discussed = session.discussed.find((d) => d.concept === concept);
  const rows = actionRows(discussed);
  return html`<section aria-labelledby="discuss-${concept}">
    <h2 id="discuss-${concept}">Discussing ${label(concept).toLowerCase()}</h2>
    ${STEP_FIELDS.map(
      (step) =>
        html`<label for="${step.name}-${concept}">${step.label}</label>
          <p class="hint" id="${step.name}-${concept}-hint">${step.hint}</p>
          <textarea
            id="${step.name}-${concept}"
            name="${step.name}.${concept}"
            aria-describedby="${step.name}-${concept}-hint"
            rows="3"
          >
${discussed?.[step.key] ?? ''}</textarea>`,
    )}
    <h3>Agreeing actions</h3>
    <p class="hint">
      What will be done, by whom, and by when. They are reviewed at the next meeting.
    </p>
    <input type="hidden" name="action-rows.${concept}" value="${rows}" />
    ${Array.from({ length: rows }, (_, i) => actionRow(concept, i, discussed?.actions[i], errorFor))}
  </section>`;
}

function actionRow(
  concept: DialogItemConcept,
  i: number,
  action: DialogAction | undefined,
  errorFor: (id: string) => string | undefined,
): Html {
  const id = `action-${concept}-${i}`;
  const name = `action.${concept}.${i}`;
  const [year, month, day] = action?.byWhen?.split('-') ?? [];
  const whatError = errorFor(`${id}-what`);
  const dateError = errorFor(`${id}-day`);
  return html`<fieldset class="${whatError || dateError ? 'has-error' : ''}">
  <legend>Action ${i + 1} for ${label(concept).toLowerCase()}</legend>
  <label for="${id}-what">What</label>
  ${whatError && html`<p class="error-message" id="${id}-what-error">${whatError}</p>`}
  <input${attrs({ type: 'text', id: `${id}-what`, name: `${name}.what`, value: action?.what ?? '', 'aria-describedby': whatError ? `${id}-what-error` : undefined })} />
  <label for="${id}-who">Who</label>
  <input${attrs({ type: 'text', id: `${id}-who`, name: `${name}.who`, value: action?.who ?? '' })} />
  <fieldset${attrs({ 'aria-describedby': dateError ? `${id}-date-error` : `${id}-date-hint` })}>
    <legend>By when</legend>
    <p class="hint" id="${id}-date-hint">For example, 27 3 2026</p>
    ${dateError && html`<p class="error-message" id="${id}-date-error">${dateError}</p>`}
    <div class="date-input">
      <div><label for="${id}-day">Day</label><input${attrs({ type: 'text', inputmode: 'numeric', class: 'short', id: `${id}-day`, name: `${name}.day`, value: day ?? '' })} /></div>
      <div><label for="${id}-month">Month</label><input${attrs({ type: 'text', inputmode: 'numeric', class: 'short', id: `${id}-month`, name: `${name}.month`, value: month ?? '' })} /></div>
      <div><label for="${id}-year">Year</label><input${attrs({ type: 'text', inputmode: 'numeric', class: 'year', id: `${id}-year`, name: `${name}.year`, value: year ?? '' })} /></div>
    </div>
  </fieldset>
</fieldset>`;
}
