/**
 * The clinician page, served at /ui by the same app and service as /fhir:
 *
 * | route | what |
 * |---|---|
 * | `GET /ui/` (`?q=`) | find a person: by NHS number, or by name among recently changed records; recent people otherwise |
 * | `GET /ui/patients/:id` | their one plan (services, key worker, reviews, chart, goals, actions, inpatient sections, carers, letter links, handover conflicts) |
 * | `GET, POST /ui/patients/:id/session` | record or continue the DIALOG+ session; "Save for later" (in-progress) or "Submit session" (completed) |
 * | `POST /ui/tasks/:id/resolve` | resolve a handover conflict: keep one version |
 * | `GET /ui/plans/:id/letter?format=html|pdf|sms` | the letter, as `$letter` gives it |
 * | `GET, POST /ui/login`, `POST /ui/logout` | sign in by pasting a token (AUTH on) |
 * | `GET /ui/static/ui.css` | the style sheet |
 *
 * Pages are plain HTML and forms (POST, then a 303 redirect), working with no script. Writes go
 * through FhirService: a session saved or submitted here is a DIALOG QuestionnaireResponse create
 * or update, validated, extracted and merged into the plan exactly as one sent to /fhir.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { OperationOutcomeError } from '@medplum/core';
import type {
  CarePlan,
  OperationOutcome,
  Patient,
  QuestionnaireResponse,
  Task,
} from '@medplum/fhirtypes';
import type { Authenticate } from '../api/access';
import { fhirBase } from '../api/http';
import { ukDate } from '../charts';
import { TIMEPOINT_KINDS, type CareSetting } from '../dialog';
import { CARE_SETTINGS } from '../dialog';
import { Extensions, NHS_NUMBER_SYSTEM } from '../fhir/canonical';
import type { DialogSession, PartyReference } from '../fhir/dialog-session';
import { isDialogResponse } from '../fhir/history';
import { populateResponse, type PreviousRating } from '../fhir/populate';
import { responseToSession, sessionToResponse } from '../fhir/response-session';
import { letterHtml, letterPdf, letterSms, readPlanView } from '../letter';
import { readableView, type Access } from '../service/access';
import type { FhirService } from '../service/fhir-service';
import { fault, statusOf } from '../service/outcomes';
import { html, type HtmlValue } from './html';
import { page, type FieldError, type PageContext } from './layout';
import { conflictOf, isConflictTask, resolveConflict } from './resolve-conflict';
import { nhsNumber, personName, planPage } from './plan-page';
import { readSessionForm, sessionForm, type FormBody } from './session-form';
import { UI_CSS } from './style';
import { SignInNeeded, UiAccess, withSid } from './ui-access';

export interface UiOptions {
  readonly service: FhirService;
  /** The API's authentication; undefined means AUTH=off. */
  readonly authenticate?: Authenticate;
  readonly now?: () => Date;
  /** CSRF key (default random per process). */
  readonly secret?: Buffer;
}

const HISTORY_PAGE = '1000';
const RECENT = '20';
const NAME_SCAN = '1000';
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

type Handler = (req: Request, res: Response) => Promise<void>;

export function uiRoutes(options: UiOptions): Router {
  const { service } = options;
  const now = options.now ?? (() => new Date());
  const ui = new UiAccess({
    ...(options.authenticate ? { authenticate: options.authenticate } : {}),
    ...(options.secret ? { secret: options.secret } : {}),
  });
  const router = Router();
  const context = (req: Request, res: Response, signedIn: boolean): PageContext => ({
    csrf: ui.csrfToken(req, res),
    authRequired: ui.authRequired,
    signedIn,
  });
  const send = (res: Response, status: number, body: string): void => {
    res.status(status).type('text/html; charset=utf-8').setHeader('Cache-Control', 'no-store');
    res.send(body);
  };
  const problem = (
    req: Request,
    res: Response,
    status: number,
    title: string,
    body: HtmlValue,
    signedIn = true,
  ): void => {
    send(
      res,
      status,
      page(
        title,
        context(req, res, signedIn),
        html`<h1>${title}</h1>
          ${body}`,
      ),
    );
  };

  /** Runs a page handler: sign-in and service errors become pages a person can read. */
  const route =
    (handler: Handler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      handler(req, res).catch((err: unknown) => {
        if (err instanceof SignInNeeded) {
          problem(
            req,
            res,
            403,
            'Sign in needed',
            html`<p>${err.message}</p>
              <p><a href="/ui/login">Sign in</a></p>`,
            false,
          );
          return;
        }
        if (err instanceof OperationOutcomeError) {
          const status = statusOf(err);
          const said =
            (err.outcome as OperationOutcome).issue?.map(
              (i) => i.diagnostics ?? i.details?.text ?? i.code,
            ) ?? [];
          problem(
            req,
            res,
            status,
            status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'That did not work',
            html`<ul>
                ${said.map((s) => html`<li>${s}</li>`)}
              </ul>
              <p><a href="/ui/">Find a person</a></p>`,
          );
          return;
        }
        next(err);
      });
    };

  const access = async (req: Request, res: Response): Promise<Access> => {
    const found = await ui.access(req);
    res.locals.access = found;
    return found;
  };

  router.get('/static/ui.css', (_req, res) => {
    res.type('text/css; charset=utf-8').setHeader('Cache-Control', 'public, max-age=300');
    res.send(UI_CSS);
  });
  router.use(withSid(ui));
  router.use(express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 2000 }));
  router.post('/{*path}', (req, res, next) => {
    if (ui.csrfValid(req, res)) {
      next();
      return;
    }
    problem(
      req,
      res,
      403,
      'This form has expired',
      html`<p>
        The form could not be checked as coming from this page (it may be from before a sign-in or a
        restart). Go back, reload the page and try again.
      </p>`,
      false,
    );
  });

  // ---- sign in -------------------------------------------------------------------------------
  const loginForm = (req: Request, res: Response, status: number, error?: string): void => {
    if (!ui.authRequired) {
      problem(
        req,
        res,
        200,
        'No sign-in needed',
        html`<p>
            Authentication is off (AUTH=off): every request is allowed. Never use this with real
            patient data.
          </p>
          <p><a href="/ui/">Find a person</a></p>`,
        false,
      );
      return;
    }
    send(
      res,
      status,
      page(
        'Sign in',
        context(req, res, false),
        html`<h1>Sign in</h1>
          ${
            error &&
            html`<div class="error-summary" role="alert" aria-labelledby="login-error-title">
              <h2 id="login-error-title">There is a problem</h2>
              <ul>
                <li><a href="#token">${error}</a></li>
              </ul>
            </div>`
          }
          <p>
            Paste an access token issued for you (the server prints a development token at
            start-up). In production this page is replaced by the trust’s SMART on FHIR sign-in.
          </p>
          <form method="post" action="/ui/login">
            <input type="hidden" name="_csrf" value="${ui.csrfToken(req, res)}" />
            <label for="token">Access token</label>
            ${error && html`<p class="error-message" id="token-error">${error}</p>`}
            <input
              type="password"
              id="token"
              name="token"
              autocomplete="off"
              spellcheck="false"
              ${error ? html` aria-describedby="token-error"` : ''}
            />
            <button type="submit">Sign in</button>
          </form>`,
      ),
    );
  };
  router.get('/login', (req, res) => {
    loginForm(req, res, 200);
  });
  router.post(
    '/login',
    route(async (req, res) => {
      const token = String((req.body as FormBody).token ?? '');
      if (await ui.signIn(req, res, token)) {
        res.redirect(303, '/ui/');
        return;
      }
      loginForm(
        req,
        res,
        401,
        'That token was not accepted: check it is whole and has not expired',
      );
    }),
  );
  router.post('/logout', (req, res) => {
    ui.signOut(req, res);
    res.redirect(303, '/ui/login');
  });

  // ---- find a person ---------------------------------------------------------------------------
  router.get(
    '/',
    route(async (req, res) => {
      const a = await access(req, res);
      const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 200) : '';
      const digits = q.replace(/[\s-]/g, '');
      let people: Patient[];
      let heading: string;
      if (/^\d{10}$/.test(digits)) {
        const found = await service.search(
          a,
          'Patient',
          new URLSearchParams({ identifier: `${NHS_NUMBER_SYSTEM}|${digits}` }),
        );
        people = found.resources as Patient[];
        heading = `People with NHS number ${digits}`;
      } else if (q) {
        const found = await service.search(
          a,
          'Patient',
          new URLSearchParams({ _sort: '-_lastUpdated', _count: NAME_SCAN }),
        );
        const words = q.toLowerCase().split(/\s+/);
        people = (found.resources as Patient[]).filter((p) => {
          const name = personName(p).toLowerCase();
          return words.every((w) => name.includes(w));
        });
        heading = `People whose name has “${q}”`;
      } else {
        const found = await service.search(
          a,
          'Patient',
          new URLSearchParams({ _sort: '-_lastUpdated', _count: RECENT }),
        );
        people = found.resources as Patient[];
        heading = 'People whose records changed recently';
      }
      send(
        res,
        200,
        page(
          'Find a person',
          context(req, res, true),
          html`<h1>Find a person</h1>
            <form method="get" action="/ui/" role="search">
              <label for="q">NHS number or name</label>
              <p class="hint" id="q-hint">
                An NHS number finds the person in every record; a name is looked for among the
                ${NAME_SCAN} most recently changed records.
              </p>
              <input type="search" id="q" name="q" value="${q}" aria-describedby="q-hint" />
              <button type="submit">Search</button>
            </form>
            <h2>${heading}</h2>
            ${
              people.length > 0
                ? html`<ul class="people">
                    ${people.map((p) => html`<li><a href="/ui/patients/${p.id ?? ''}">${personName(p)}</a>${nhsNumber(p) ? ` – NHS number ${nhsNumber(p) ?? ''}` : ''}${p.birthDate ? ` – born ${ukDate(p.birthDate)}` : ''}</li>`)}
                  </ul>`
                : html`<p>No one found.</p>`
            }`,
        ),
      );
    }),
  );

  // ---- the plan ------------------------------------------------------------------------------
  router.get(
    '/patients/:id',
    route(async (req, res) => {
      const a = await access(req, res);
      const patient = (await service.read(a, 'Patient', idParam(req))) as Patient;
      const subject = `Patient/${patient.id ?? ''}`;
      const plan = await planOf(service, a, subject);
      const view = plan?.id
        ? await readPlanView(service.deps.store, plan.id, { viewer: readableView(a) })
        : undefined;
      const inProgress = await inProgressOf(service, a, subject);
      const tasks = await service.search(
        a,
        'Task',
        new URLSearchParams({ patient: subject, status: 'requested', _count: '100' }),
      );
      const conflicts = (tasks.resources as Task[]).filter(isConflictTask).map(conflictOf);
      const notice =
        req.query.submitted === '1'
          ? 'The session was submitted: the plan and the chart are updated.'
          : req.query.resolved === '1'
            ? 'The conflict is resolved.'
            : undefined;
      send(
        res,
        200,
        page(
          personName(patient),
          context(req, res, true),
          planPage({
            patient,
            csrf: ui.csrfToken(req, res),
            ...(plan ? { plan } : {}),
            ...(view ? { view } : {}),
            ...(inProgress ? { inProgress: inProgress.authored ?? '' } : {}),
            conflicts,
            ...(notice ? { notice } : {}),
          }),
        ),
      );
    }),
  );

  // ---- the session ---------------------------------------------------------------------------
  const sessionPage = (
    req: Request,
    res: Response,
    status: number,
    patient: Patient,
    state: SessionState,
    errors: FieldError[],
    notice?: string,
  ): void => {
    send(
      res,
      status,
      page(
        `${errors.length > 0 ? 'Error: ' : ''}DIALOG+ session with ${personName(patient)}`,
        context(req, res, true),
        sessionForm({
          patientId: patient.id ?? '',
          patientName: personName(patient),
          csrf: ui.csrfToken(req, res),
          session: state.session,
          ...(state.responseId ? { responseId: state.responseId } : {}),
          ...(state.version ? { version: state.version } : {}),
          ...(state.previous ? { previous: state.previous } : {}),
          errors,
          ...(notice ? { notice } : {}),
        }),
      ),
    );
  };

  router.get(
    '/patients/:id/session',
    route(async (req, res) => {
      const a = await access(req, res);
      const patient = (await service.read(a, 'Patient', idParam(req))) as Patient;
      const state = await loadSession(service, a, patient, now());
      sessionPage(
        req,
        res,
        200,
        patient,
        state,
        [],
        req.query.saved === '1' ? 'Saved. You can come back to this session later.' : undefined,
      );
    }),
  );

  router.post(
    '/patients/:id/session',
    route(async (req, res) => {
      const a = await access(req, res);
      const body = req.body as FormBody;
      const patient = (await service.read(a, 'Patient', idParam(req))) as Patient;
      const state = await loadSession(
        service,
        a,
        patient,
        now(),
        typeof body.response === 'string' ? body.response : undefined,
      );
      const submitting = body.intent === 'submit';
      const { session, errors } = readSessionForm(body, state.session, submitting);
      const version = typeof body.version === 'string' ? body.version : state.version;
      const entered: SessionState = { ...state, session, ...(version ? { version } : {}) };
      if (errors.length > 0) {
        sessionPage(req, res, 422, patient, entered, errors);
        return;
      }
      const response = sessionToResponse({
        ...session,
        status: submitting ? 'completed' : 'in-progress',
      });
      try {
        if (state.responseId)
          await service.update(
            a,
            'QuestionnaireResponse',
            state.responseId,
            { ...response, id: state.responseId },
            entered.version ? `W/"${entered.version}"` : undefined,
          );
        else await service.create(a, 'QuestionnaireResponse', response);
      } catch (err) {
        const status = statusOf(err);
        if (status === 422 && err instanceof OperationOutcomeError) {
          sessionPage(
            req,
            res,
            422,
            patient,
            entered,
            issuesAsFieldErrors(err.outcome as OperationOutcome),
          );
          return;
        }
        if (status === 412) {
          sessionPage(
            req,
            res,
            409,
            patient,
            { ...entered, ...(state.version ? { version: state.version } : {}) },
            [
              {
                field: 'setting',
                message:
                  'Someone else saved this session since you opened it. Check the form: saving again keeps what you see here.',
              },
            ],
          );
          return;
        }
        throw err;
      }
      const id = patient.id ?? '';
      res.redirect(
        303,
        submitting ? `/ui/patients/${id}?submitted=1` : `/ui/patients/${id}/session?saved=1`,
      );
    }),
  );

  // ---- handover conflicts --------------------------------------------------------------------
  router.post(
    '/tasks/:id/resolve',
    route(async (req, res) => {
      const a = await access(req, res);
      const keep = (req.body as FormBody).keep === 'sending' ? 'sending' : 'here';
      const task = await resolveConflict(service, a, idParam(req), keep, now());
      const patientId = /^Patient\/(.+)$/.exec(task.for?.reference ?? '')?.[1];
      res.redirect(
        303,
        patientId ? `/ui/patients/${encodeURIComponent(patientId)}?resolved=1` : '/ui/',
      );
    }),
  );

  // ---- the letter ----------------------------------------------------------------------------
  router.get(
    '/plans/:id/letter',
    route(async (req, res) => {
      const a = await access(req, res);
      const id = idParam(req);
      const format = typeof req.query.format === 'string' ? req.query.format : 'html';
      if (!['html', 'pdf', 'sms'].includes(format))
        throw fault(400, 'value', 'format is html, pdf or sms', 'format');
      await service.read(a, 'CarePlan', id);
      const view = await readPlanView(service.deps.store, id, { viewer: readableView(a) });
      res.setHeader('Cache-Control', 'no-store');
      if (format === 'html')
        res.status(200).type('text/html; charset=utf-8').send(letterHtml(view));
      else if (format === 'pdf')
        res
          .status(200)
          .type('application/pdf')
          .send(await letterPdf(view));
      else
        res
          .status(200)
          .type('text/plain; charset=utf-8')
          .send(
            letterSms(view, { planUrl: `${fhirBase(req)}/CarePlan/${id}/$letter?format=html` })
              .text,
          );
    }),
  );

  return router;
}

function idParam(req: Request): string {
  const id = String((req.params as Record<string, string | undefined>).id ?? '');
  if (!ID.test(id)) throw fault(404, 'not-found', 'No such record', 'Resource.id');
  return id;
}

async function planOf(
  service: FhirService,
  access: Access,
  subject: string,
): Promise<CarePlan | undefined> {
  const plans = await service.search(
    access,
    'CarePlan',
    new URLSearchParams({ subject, _sort: '-_lastUpdated', _count: '10' }),
  );
  const all = plans.resources as CarePlan[];
  return all.find((p) => p.status === 'active') ?? all[0];
}

async function inProgressOf(
  service: FhirService,
  access: Access,
  subject: string,
): Promise<QuestionnaireResponse | undefined> {
  const found = await service.search(
    access,
    'QuestionnaireResponse',
    new URLSearchParams({ subject, status: 'in-progress', _sort: '-_lastUpdated', _count: '20' }),
  );
  return (found.resources as QuestionnaireResponse[]).find(isDialogResponse);
}

interface SessionState {
  readonly session: DialogSession;
  readonly responseId?: string;
  readonly version?: string;
  readonly previous?: PreviousRating;
}

/** The session to show: the in-progress one (named, or the latest), else a new one from `$populate`. */
async function loadSession(
  service: FhirService,
  access: Access,
  patient: Patient,
  now: Date,
  responseId?: string,
): Promise<SessionState> {
  const subject = `Patient/${patient.id ?? ''}`;
  const [history, plan] = await Promise.all([
    service.search(
      access,
      'QuestionnaireResponse',
      new URLSearchParams({ subject, status: 'completed,amended', _count: HISTORY_PAGE }),
    ),
    planOf(service, access, subject),
  ]);
  const responses = history.resources as QuestionnaireResponse[];
  let current: QuestionnaireResponse | undefined;
  if (responseId !== undefined && ID.test(responseId)) {
    current = (await service.read(
      access,
      'QuestionnaireResponse',
      responseId,
    )) as QuestionnaireResponse;
    if (current.subject?.reference !== subject || !isDialogResponse(current))
      throw fault(
        400,
        'invalid',
        'That session is not this person’s',
        'QuestionnaireResponse.subject',
      );
    if (current.status !== 'in-progress')
      throw fault(
        409,
        'conflict',
        'This session has already been submitted: open the plan to see it, or start a new session',
        'QuestionnaireResponse.status',
      );
  } else current = await inProgressOf(service, access, subject);
  const author = authorOf(access);
  const setting = settingOf(plan);
  const populated = populateResponse({
    subject,
    subjectDisplay: personName(patient),
    authored: now.toISOString(),
    ...(author ? { author } : {}),
    ...(setting ? { setting } : {}),
    timepoint: responses.length > 0 ? 'review' : TIMEPOINT_KINDS[0],
    history: responses,
  });
  const read = current ? responseToSession(current) : undefined;
  const session = read?.ok ? read.session : populated.session;
  return {
    session,
    ...(current?.id ? { responseId: current.id } : {}),
    ...(current?.meta?.versionId ? { version: current.meta.versionId } : {}),
    ...(populated.previous ? { previous: populated.previous } : {}),
  };
}

function authorOf(access: Access): PartyReference | undefined {
  const agent = access.agent;
  if (agent.reference)
    return { reference: agent.reference, ...(agent.display ? { display: agent.display } : {}) };
  return agent.display ? { display: agent.display } : undefined;
}

/** The setting of the service that holds the plan now. */
function settingOf(plan: CarePlan | undefined): CareSetting | undefined {
  const open = plan?.extension?.find(
    (e) =>
      e.url === Extensions.responsibleService &&
      !e.extension?.find((x) => x.url === 'period')?.valuePeriod?.end,
  );
  const code = open?.extension?.find((x) => x.url === 'setting')?.valueCoding?.code;
  return CARE_SETTINGS.find((s) => s === code);
}

/** The service's 422 issues, each next to the field it is about (else at the top of the form). */
function issuesAsFieldErrors(outcome: OperationOutcome): FieldError[] {
  return (outcome.issue ?? [])
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => {
      const where = [...(i.expression ?? []), i.diagnostics ?? '', i.details?.text ?? ''].join(' ');
      const message = i.diagnostics ?? i.details?.text ?? 'The session could not be saved';
      if (/chosen-items|dlg-qr-1|dlg-qr-2|discussed-item'?\)?\.count/.test(where))
        return { field: 'chosen-mental-health', message };
      if (/ratings|dlg-qr-4|dlg-qr-5/.test(where))
        return { field: 'score-mental-health-1', message };
      return { field: 'setting', message };
    });
}
