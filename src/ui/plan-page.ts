/**
 * The person's one plan as a clinician sees it: who holds it now and the services it has passed
 * through, the key worker, reviews per setting, the DIALOG ratings chart (with its table), goals
 * and actions, the safety plan and the inpatient sections, carers and what they may see, the
 * letter, open handover conflicts to resolve, and the way into a session.
 */
import type { CarePlan, Extension, HumanName, Identifier, Patient, Task } from '@medplum/fhirtypes';
import { scoresChartSvg, scoresTableHtml, ukDate } from '../charts';
import { DIALOG_ITEMS } from '../dialog';
import { Extensions, NHS_NUMBER_SYSTEM } from '../fhir/canonical';
import type { Contact, PlanView } from '../letter';
import { html, trusted, type Html } from './html';

const SECTION_NAMES: Readonly<Record<string, string>> = {
  'safety-plan': 'Safety plan',
  'agreed-action': 'Agreed actions',
  'mental-health-act-status': 'Mental Health Act status',
  'mental-capacity': 'Mental capacity',
  leave: 'Leave',
  visits: 'Visits',
  'nursing-observations': 'Nursing observations',
};

export function personName(patient: Patient): string {
  const name: HumanName | undefined =
    patient.name?.find((n) => n.use === 'usual') ??
    patient.name?.find((n) => n.use === 'official') ??
    patient.name?.[0];
  const text = name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(' ');
  return text.trim() || `Person ${patient.id ?? ''}`;
}

export function nhsNumber(patient: Patient): string | undefined {
  const value = patient.identifier?.find((i: Identifier) => i.system === NHS_NUMBER_SYSTEM)?.value;
  return value?.replace(/^(\d{3})(\d{3})(\d{4})$/, '$1 $2 $3');
}

function when(value: string | undefined): string {
  return value ? ukDate(value) : '';
}

function sub(e: Extension, url: string): Extension | undefined {
  return e.extension?.find((x) => x.url === url);
}

function contacts(list: readonly Contact[]): Html {
  return html`${list.map((c, i) => html`${i > 0 ? ', ' : ''}${c.system === 'other' ? '' : `${c.system}: `}${c.value}`)}`;
}

export interface ConflictTask {
  readonly task: Task;
  readonly part: string;
  readonly sending?: string;
  readonly here?: string;
}

export interface PlanPageInput {
  readonly patient: Patient;
  readonly csrf: string;
  readonly plan?: CarePlan;
  readonly view?: PlanView;
  /** When the in-progress session was started, if there is one. */
  readonly inProgress?: string;
  readonly conflicts: readonly ConflictTask[];
  readonly notice?: string;
}

export function planPage(input: PlanPageInput): Html {
  const { patient, view, plan } = input;
  const id = patient.id ?? '';
  const nhs = nhsNumber(patient);
  return html` <h1>${personName(patient)}</h1>
    ${input.notice && html`<p class="notice" role="status">${input.notice}</p>`}
    <dl class="facts">
      ${
        nhs &&
        html`<dt>NHS number</dt>
          <dd>${nhs}</dd>`
      }
      ${
        patient.birthDate &&
        html`<dt>Date of birth</dt>
          <dd>${ukDate(patient.birthDate)}</dd>`
      }
    </dl>
    <p>
      <a class="button" href="/ui/patients/${id}/session"
        >${input.inProgress ? `Continue the DIALOG+ session started ${ukDate(input.inProgress)}` : 'Record a DIALOG+ session'}</a
      >
    </p>
    ${input.conflicts.length > 0 && conflictsSection(input.conflicts, input.csrf)}
    ${plan && view ? planSections(plan, view) : html`<p>There is no care plan yet: it is made when the first DIALOG+ session is submitted.</p>`}`;
}

function planSections(plan: CarePlan, view: PlanView): Html {
  const services = (plan.extension ?? []).filter((e) => e.url === Extensions.responsibleService);
  const reviews = (plan.extension ?? []).filter((e) => e.url === Extensions.reviewDue);
  const planId = plan.id ?? '';
  return html` <h2>The plan for the person</h2>
    <p>
      <a href="/ui/plans/${planId}/letter?format=html">Letter to the person (web page)</a> ·
      <a href="/ui/plans/${planId}/letter?format=pdf">Letter (PDF, to print)</a> ·
      <a href="/ui/plans/${planId}/letter?format=sms">Text message version</a>
    </p>
    <h2>Who is responsible</h2>
    <dl class="facts">
      <dt>Key worker</dt>
      <dd>
        ${view.keyWorker ? html`${view.keyWorker.name}${view.keyWorker.role ? ` (${view.keyWorker.role})` : ''}${view.keyWorker.contacts.length > 0 ? html` – ${contacts(view.keyWorker.contacts)}` : ''}` : 'Not named yet'}
      </dd>
      <dt>Responsible now</dt>
      <dd>
        ${view.service ? html`${view.service.name}${view.service.contacts.length > 0 ? html` – ${contacts(view.service.contacts)}` : ''}` : 'Not stated'}
      </dd>
    </dl>
    ${
      services.length > 0 &&
      html`<table>
        <caption>
          Services the plan has passed through
        </caption>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Setting</th>
            <th scope="col">From</th>
            <th scope="col">Until</th>
          </tr>
        </thead>
        <tbody>
          ${services.map((s) => {
            const org = sub(s, 'organization')?.valueReference;
            const setting = sub(s, 'setting')?.valueCoding;
            const period = sub(s, 'period')?.valuePeriod;
            return html`<tr>
              <td>${org?.display ?? org?.reference ?? 'Unnamed'}</td>
              <td>${setting?.display ?? setting?.code ?? ''}</td>
              <td>${when(period?.start)}</td>
              <td>${period?.end ? when(period.end) : 'now'}</td>
            </tr>`;
          })}
        </tbody>
      </table>`
    }
    <h2>Reviews</h2>
    ${
      reviews.length > 0
        ? html`<table>
            <caption>
              Reviews agreed, per setting
            </caption>
            <thead>
              <tr>
                <th scope="col">Due</th>
                <th scope="col">Setting</th>
                <th scope="col">Rating</th>
              </tr>
            </thead>
            <tbody>
              ${reviews.map(
                (r) =>
                  html`<tr>
                    <td>${when(sub(r, 'due')?.valueDateTime)}</td>
                    <td>
                      ${sub(r, 'setting')?.valueCoding?.display ?? sub(r, 'setting')?.valueCoding?.code ?? ''}
                    </td>
                    <td>${sub(r, 'timepoint')?.valueCoding?.display ?? ''}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No review date is set.</p>`
    }
    <h2>Ratings over time</h2>
    ${
      view.ratings.length > 0
        ? html`<div class="chart">
              ${trusted(scoresChartSvg({ ratings: view.ratings, changes: view.changes }, { title: 'DIALOG ratings over time' }))}
            </div>
            <details>
              <summary>The ratings as a table</summary>
              ${trusted(scoresTableHtml({ ratings: view.ratings, changes: view.changes }))}
            </details>`
        : html`<p>No ratings yet.</p>`
    }
    <h2>Goals and actions</h2>
    ${
      view.goals.length > 0
        ? html`<ul>
            ${view.goals.map((g) => html`<li>${g.text}${g.area ? ` (${DIALOG_ITEMS.find((i) => i.concept === g.area)?.label ?? g.area})` : ''}${g.open ? '' : ' – closed'}</li>`)}
          </ul>`
        : html`<p>No goals yet.</p>`
    }
    ${
      view.actions.length > 0
        ? html`<table>
            <caption>
              Agreed actions
            </caption>
            <thead>
              <tr>
                <th scope="col">What</th>
                <th scope="col">Who</th>
                <th scope="col">By when</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              ${view.actions.map(
                (a) =>
                  html`<tr>
                    <td>${a.what}</td>
                    <td>${a.who.map((w) => w.name).join(', ')}</td>
                    <td>${a.byWhen ? ukDate(a.byWhen) : (a.when ?? '')}</td>
                    <td>${a.status}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No actions agreed yet.</p>`
    }
    <h2>Safety plan</h2>
    ${view.safetyPlan ? html`<p>${view.safetyPlan.text}</p>` : html`<p>No safety plan is recorded.</p>`}
    ${
      view.sections.length > 0 &&
      html`<h2>In hospital</h2>
        ${view.sections.map(
          (s) =>
            html`<h3>${SECTION_NAMES[s.code] ?? s.code}${s.open ? '' : ' (ended)'}</h3>
              <p>
                ${s.legalStatus ? `${s.legalStatus}. ` : ''}${s.text}${s.when ? ` (${s.when})` : ''}
              </p>`,
        )}`
    }
    <h2>Carers</h2>
    ${
      view.carers.length > 0
        ? html`<ul>
            ${view.carers.map((c) => html`<li><strong>${c.name}</strong>${c.relationship ? ` (${c.relationship})` : ''}${c.contacts.length > 0 ? html` – ${contacts(c.contacts)}` : ''}${c.involvement ? html`<br />${c.involvement}` : ''}${c.shares ? html`<br />May see: ${c.shares.map((s) => SECTION_NAMES[s] ?? s).join(', ')}` : ''}</li>`)}
          </ul>`
        : html`<p>No carers are named.</p>`
    }
    ${view.deliveryPreference && html`<p>The person gets their plan by ${view.deliveryPreference}.</p>`}`;
}

function conflictsSection(conflicts: readonly ConflictTask[], csrf: string): Html {
  return html`<h2>Handover conflicts to resolve</h2>
    <p>
      When the plan came back from another system, both systems had changed these parts differently.
      This system’s version is in the plan now; choose which to keep.
    </p>
    ${conflicts.map(
      (c, i) =>
        html`<section class="conflict" aria-labelledby="conflict-${i}">
          <h3 id="conflict-${i}">${c.task.description ?? c.part}</h3>
          <h4>The sending system’s version</h4>
          <pre class="version">${c.sending ?? '(removed there)'}</pre>
          <h4>This system’s version</h4>
          <pre class="version">${c.here ?? '(removed here)'}</pre>
          <form method="post" action="/ui/tasks/${c.task.id ?? ''}/resolve">
            <input type="hidden" name="_csrf" value="${csrf}" />
            <fieldset>
              <legend>Which version should the plan keep?</legend>
              <div class="choice">
                <input type="radio" id="keep-${i}-here" name="keep" value="here" checked /><label
                  for="keep-${i}-here"
                  >This system’s version</label
                >
              </div>
              <div class="choice">
                <input type="radio" id="keep-${i}-sending" name="keep" value="sending" /><label
                  for="keep-${i}-sending"
                  >The sending system’s version</label
                >
              </div>
            </fieldset>
            <button type="submit">Resolve</button>
          </form>
        </section>`,
    )}`;
}
