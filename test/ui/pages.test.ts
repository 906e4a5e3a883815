/**
 * The clinician page without a browser: sign-in and its refusals, CSRF on every form, escaping of
 * hostile text, the "up to 3 areas" error tied to its field, and a session saved then submitted
 * through the same pipeline as the API (the response, its Observations and the plan).
 */
import { fhir } from '../support/service';
import { PageClient, startUiService, type UiService } from './support';

let ui: UiService;
beforeAll(async () => {
  ui = await startUiService();
});
afterAll(() => ui.service.close());

const base = (): string => ui.service.base;
const HOSTILE = `<script>alert("x")</script> O'Brien & "Co"`;

describe('sign-in (AUTH on)', () => {
  it('refuses every page with 403 until signed in, and says how to sign in', async () => {
    const client = new PageClient(base());
    for (const path of ['/ui/', '/ui/patients/megan-price', '/ui/patients/megan-price/session']) {
      const res = await client.get(path);
      expect(res.status).toBe(403);
      expect(res.text).toContain('href="/ui/login"');
      expect(res.text).not.toContain('Megan');
    }
  });

  it('refuses a token that does not verify, and accepts the clinician’s', async () => {
    const client = new PageClient(base());
    await client.get('/ui/login');
    const bad = await client.post('/ui/login', { token: 'not.a.token' });
    expect(bad.status).toBe(401);
    expect(bad.text).toContain('That token was not accepted');
    await client.signIn(ui.clinicianToken);
    const home = await client.get('/ui/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('Megan Rose Price');
  });

  it('keeps the token in an HttpOnly, SameSite=Strict cookie on /ui only', async () => {
    const client = new PageClient(base());
    await client.get('/ui/login');
    const res = await fetch(`${base()}/ui/login`, {
      method: 'POST',
      headers: {
        cookie: client.cookieHeader,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ _csrf: client.csrf, token: ui.clinicianToken }),
      redirect: 'manual',
    });
    const token = res.headers.getSetCookie().find((c) => c.startsWith('dlg_ui_token='));
    expect(token).toMatch(/HttpOnly/);
    expect(token).toMatch(/SameSite=Strict/);
    expect(token).toMatch(/Path=\/ui/);
    // Plain HTTP on loopback, no BASE_URL: not Secure (the browser would not send it back).
    expect(token).not.toMatch(/Secure/);
  });

  it('behind a proxy that ends TLS (BASE_URL https), the cookies are Secure', async () => {
    const behind = await startUiService({ baseUrl: 'https://dialog.example' });
    try {
      const client = new PageClient(behind.service.base);
      await client.get('/ui/login');
      const res = await fetch(`${behind.service.base}/ui/login`, {
        method: 'POST',
        headers: {
          cookie: client.cookieHeader,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ _csrf: client.csrf, token: behind.clinicianToken }),
        redirect: 'manual',
      });
      const token = res.headers.getSetCookie().find((c) => c.startsWith('dlg_ui_token='));
      expect(token).toMatch(/; Secure/);
    } finally {
      await behind.service.close();
    }
  });

  it('the page’s CSP does not send its style sheet and forms to https over plain HTTP', async () => {
    const res = await fetch(`${base()}/ui/login`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
  });
});

describe('CSRF', () => {
  it('refuses a form without the token, or with another browser’s token', async () => {
    const a = new PageClient(base());
    await a.signIn(ui.clinicianToken);
    const b = new PageClient(base());
    await b.signIn(ui.clinicianToken);
    await a.get('/ui/patients/megan-price/session');
    await b.get('/ui/patients/megan-price/session');
    const form = { intent: 'save', 'score.mental-health': '4' };
    const none = await a.post('/ui/patients/megan-price/session', form, { csrf: null });
    expect(none.status).toBe(403);
    expect(none.text).toContain('This form has expired');
    const other = await a.post('/ui/patients/megan-price/session', form, { csrf: b.csrf });
    expect(other.status).toBe(403);
    const logout = await a.post('/ui/logout', {}, { csrf: 'forged' });
    expect(logout.status).toBe(403);
    const inProgress = await fhir(
      base(),
      'GET',
      '/fhir/QuestionnaireResponse?subject=Patient/megan-price&status=in-progress',
      undefined,
      { authorization: `Bearer ${ui.clinicianToken}` },
    );
    expect(inProgress.body.total).toBe(0);
  });
});

describe('escaping', () => {
  it('shows a hostile name as text on every page', async () => {
    await ui.service.store.update({
      resourceType: 'Patient',
      id: 'hostile',
      name: [{ text: HOSTILE }],
    });
    const client = new PageClient(base());
    await client.signIn(ui.clinicianToken);
    for (const path of [
      '/ui/',
      '/ui/patients/hostile',
      '/ui/patients/hostile/session',
      `/ui/?q=${encodeURIComponent('<script>')}`,
    ]) {
      const res = await client.get(path);
      expect(res.status).toBe(200);
      expect(res.text).not.toContain('<script>');
      expect(res.text).not.toMatch(/<[^>]*O'Brien/);
    }
    const plan = await client.get('/ui/patients/hostile');
    expect(plan.text).toContain(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#39;Brien &amp; &quot;Co&quot;',
    );
  });
});

describe('a session', () => {
  it('refuses more than 3 areas with an error tied to the field, and keeps what was entered', async () => {
    const client = new PageClient(base());
    await client.signIn(ui.clinicianToken);
    await client.get('/ui/patients/megan-price/session');
    const res = await client.post('/ui/patients/megan-price/session', {
      intent: 'save',
      'score.mental-health': '2',
      chosen: ['mental-health', 'physical-health', 'accommodation', 'friendships'],
    });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Choose up to 3 areas to discuss (4 are chosen)');
    expect(res.text).toMatch(
      /<fieldset[^>]*id="chosen"[^>]*aria-describedby="chosen-hint chosen-error"/,
    );
    expect(res.text).toMatch(/<p class="error-message" id="chosen-error">/);
    expect(res.text).toContain('href="#chosen-mental-health"');
    expect(res.text).toMatch(/id="score-mental-health-2"[^>]*checked/);
  });

  it('is saved in progress, continued, and submitted through the session pipeline', async () => {
    const client = new PageClient(base());
    await client.signIn(ui.clinicianToken);
    const page = await client.get('/ui/patients/megan-price/session');
    expect(page.text).toContain('Last time:');
    const saved = await client.post('/ui/patients/megan-price/session', {
      intent: 'save',
      'score.mental-health': '3',
      'help.mental-health': 'yes',
      chosen: 'mental-health',
    });
    expect(saved.status).toBe(303);
    expect(saved.location).toBe('/ui/patients/megan-price/session?saved=1');
    const again = await client.get('/ui/patients/megan-price/session?saved=1');
    expect(again.text).toContain('Discussing mental health');
    const response = /name="response" value="([^"]+)"/.exec(again.text)?.[1] ?? '';
    expect(response).not.toBe('');
    const submitted = await client.post('/ui/patients/megan-price/session', {
      intent: 'submit',
      response,
      version: '1',
      'score.mental-health': '3',
      'help.mental-health': 'yes',
      'score.accommodation': '6',
      chosen: 'mental-health',
      'understanding.mental-health': HOSTILE,
      'action-rows.mental-health': '2',
      'action.mental-health.0.what': 'Walk to the park every morning',
      'action.mental-health.0.who': 'Megan',
      'action.mental-health.0.day': '1',
      'action.mental-health.0.month': '8',
      'action.mental-health.0.year': '2026',
    });
    expect(submitted.status).toBe(303);
    expect(submitted.location).toBe('/ui/patients/megan-price?submitted=1');
    const auth = { authorization: `Bearer ${ui.clinicianToken}` };
    const qr = await fhir(
      base(),
      'GET',
      `/fhir/QuestionnaireResponse/${response}`,
      undefined,
      auth,
    );
    expect(qr.body.status).toBe('completed');
    const obs = await fhir(
      base(),
      'GET',
      `/fhir/Observation?subject=Patient/megan-price&_count=200`,
      undefined,
      auth,
    );
    const derived = (
      obs.body.entry as { resource: { derivedFrom?: { reference: string }[] } }[]
    ).filter((e) =>
      e.resource.derivedFrom?.some((d) =>
        d.reference.endsWith(`QuestionnaireResponse/${response}`),
      ),
    );
    expect(derived.length).toBeGreaterThanOrEqual(2);
    const plan = await client.get('/ui/patients/megan-price?submitted=1');
    expect(plan.text).toContain('Walk to the park every morning');
    expect(plan.text).toContain('The session was submitted');
  });
});
