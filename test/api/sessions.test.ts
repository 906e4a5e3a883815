/**
 * Submitting DIALOG sessions over real HTTP to a real embedded store: one atomic write each
 * (response, Observations, plan and Goals, Provenance), saved in progress over sittings, and the
 * example journey end to end.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { CARE_PLAN_IDENTIFIER_SYSTEM } from '../../src/fhir';
import { journeyResponses } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import { fhir, startService, type Json, type TestService } from '../support/service';

let service: TestService;
beforeEach(async () => {
  service = await startService();
  await service.store.update(journeyPatient());
});
afterEach(() => service.close());

const responses = journeyResponses();
const first = responses[0] as QuestionnaireResponse;

const SESSION = { system: 'urn:dialog-fhir:test:session', value: 'community-start' };

/** The response as a system without our ids sends it: no id, its own business identifier. */
function withoutId(qr: QuestionnaireResponse): QuestionnaireResponse {
  const { id: _id, meta: _meta, ...rest } = qr;
  void _id;
  void _meta;
  return { ...rest, identifier: SESSION } as QuestionnaireResponse;
}

async function count(type: string, query: string): Promise<number> {
  const res = await fhir(service.base, 'GET', `/fhir/${type}?${query}`);
  expect(res.status).toBe(200);
  return res.body.total as number;
}

describe('POST /fhir/QuestionnaireResponse: a session is one atomic write', () => {
  it('stores the response, its Observations, the plan with Goals, and Provenance', async () => {
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', withoutId(first));
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toMatch(
      new RegExp(`/fhir/QuestionnaireResponse/${res.body.id}/_history/1$`),
    );
    expect(res.headers.get('etag')).toBe('W/"1"');
    const subject = 'subject=Patient/megan-price';
    expect(await count('Observation', subject)).toBeGreaterThanOrEqual(11);
    const plans = await fhir(service.base, 'GET', `/fhir/CarePlan?${subject}`);
    expect(plans.body.total).toBe(1);
    const plan = plans.body.entry[0].resource;
    expect(plan.identifier).toContainEqual(
      expect.objectContaining({ system: CARE_PLAN_IDENTIFIER_SYSTEM }),
    );
    expect(await count('Goal', subject)).toBe(
      (first.item ?? []).length > 0 ? (plan.goal?.length ?? 0) : 0,
    );
    const provenance = await fhir(
      service.base,
      'GET',
      `/fhir/Provenance?target=QuestionnaireResponse/${res.body.id}`,
    );
    expect(provenance.body.total).toBe(1);
  });

  it('submitting the same session again (same identifier) changes nothing', async () => {
    const body = withoutId(first);
    const a = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', body);
    const snapshot = await Promise.all(
      ['Observation', 'Goal', 'CarePlan', 'Provenance'].map((t) => count(t, '_count=0')),
    );
    const b = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', body);
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.meta.versionId).toBe('1');
    const again = await Promise.all(
      ['Observation', 'Goal', 'CarePlan', 'Provenance'].map((t) => count(t, '_count=0')),
    );
    expect(again).toEqual(snapshot);
  });

  it('50 identical submissions at once make one response and one plan', async () => {
    const body = withoutId(first);
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', body),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(1);
    expect(await count('CarePlan', '_count=0')).toBe(1);
  });

  it('an in-progress response is saved without extraction, then completed later', async () => {
    const draft = { ...withoutId(first), status: 'in-progress' } as QuestionnaireResponse;
    const saved = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', draft);
    expect(saved.status).toBe(201);
    expect(await count('Observation', '_count=0')).toBe(0);
    expect(await count('CarePlan', '_count=0')).toBe(0);
    const done = await fhir(
      service.base,
      'PUT',
      `/fhir/QuestionnaireResponse/${saved.body.id}`,
      { ...first, id: saved.body.id, meta: undefined },
      { 'if-match': 'W/"1"' },
    );
    expect(done.status).toBe(200);
    expect(done.body.meta.versionId).toBe('2');
    expect(await count('Observation', '_count=0')).toBeGreaterThanOrEqual(11);
    expect(await count('CarePlan', '_count=0')).toBe(1);
  });

  it('a stale If-Match is a 412 and writes nothing', async () => {
    const saved = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', {
      ...withoutId(first),
      status: 'in-progress',
    });
    const stale = await fhir(
      service.base,
      'PUT',
      `/fhir/QuestionnaireResponse/${saved.body.id}`,
      { ...first, id: saved.body.id, meta: undefined },
      { 'if-match': 'W/"7"' },
    );
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    expect(stale.body.issue[0].expression).toEqual(['QuestionnaireResponse.meta.versionId']);
    expect(await count('Observation', '_count=0')).toBe(0);
  });

  it('an update cannot move a session to another person: 409, and nothing changes', async () => {
    await service.store.update({ resourceType: 'Patient', id: 'someone-else' });
    const saved = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', withoutId(first));
    expect(saved.status).toBe(201);
    const before = await Promise.all(
      ['Observation', 'Goal', 'CarePlan', 'Provenance'].map((t) => count(t, '_count=0')),
    );
    const moved = await fhir(service.base, 'PUT', `/fhir/QuestionnaireResponse/${saved.body.id}`, {
      ...saved.body,
      meta: undefined,
      // The person rates for themselves (dlg-qr-3): subject and source both name the other person.
      subject: { reference: 'Patient/someone-else' },
      source: { reference: 'Patient/someone-else' },
    });
    expect(moved.status).toBe(409);
    expect(moved.body.resourceType).toBe('OperationOutcome');
    expect(moved.body.issue[0].code).toBe('conflict');
    expect(moved.body.issue[0].expression).toEqual(['QuestionnaireResponse.subject']);
    expect(moved.body.issue[0].details.text).toMatch(/stored for Patient\/megan-price/);
    const stored = await fhir(service.base, 'GET', `/fhir/QuestionnaireResponse/${saved.body.id}`);
    expect(stored.body.subject.reference).toBe('Patient/megan-price');
    expect(stored.body.meta.versionId).toBe('1');
    expect(await count('Observation', 'subject=Patient/someone-else')).toBe(0);
    const after = await Promise.all(
      ['Observation', 'Goal', 'CarePlan', 'Provenance'].map((t) => count(t, '_count=0')),
    );
    expect(after).toEqual(before);
    // The same person named again is an ordinary update.
    const same = await fhir(service.base, 'PUT', `/fhir/QuestionnaireResponse/${saved.body.id}`, {
      ...saved.body,
      meta: undefined,
      status: 'amended',
    });
    expect(same.status).toBe(200);
  });

  it('an invalid session is a 422 naming the fault, and nothing is stored', async () => {
    const bad: Json = structuredClone(withoutId(first));
    bad.item[0].item[0].item[0].answer[0].valueCoding.code = '8';
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', bad);
    expect(res.status).toBe(422);
    const where = (res.body.issue as Json[]).map((i) => i.expression?.[0] as string);
    expect(
      where.some((e) => e.startsWith('QuestionnaireResponse.item[0].item[0].item[0].answer')),
    ).toBe(true);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(0);
  });

  it('a session naming its person by a bad NHS number is a 422 at subject.identifier.value', async () => {
    const { source: _source, ...rest } = withoutId(first);
    void _source;
    const byNumber = {
      ...rest,
      subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765918' } },
    };
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', byNumber);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression).toEqual([
      'QuestionnaireResponse.subject.identifier.value',
    ]);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(0);
  });

  it('a session dated in the future is a 422 at authored, and nothing is stored', async () => {
    const later = { ...withoutId(first), authored: '2099-01-10T10:00:00+00:00' };
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', later);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].code).toBe('value');
    expect(res.body.issue[0].expression).toEqual(['QuestionnaireResponse.authored']);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(0);
    expect(await count('CarePlan', '_count=0')).toBe(0);
    // A few minutes ahead is another system's clock, not a mistyped year.
    const soon = new Date(Date.now() + 5 * 60_000).toISOString();
    const skewed = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', {
      ...withoutId(first),
      authored: soon,
    });
    expect(skewed.status).toBe(201);
  });

  it('an agreed action given only by extensions is a 422 at its value, not an action dropped', async () => {
    const session = structuredClone(withoutId(first));
    let path = '';
    const strip = (items: QuestionnaireResponse['item'], at: string): void =>
      (items ?? []).forEach((item, i) => {
        if (!path && item.linkId === 'discussed-item.action.what' && item.answer) {
          item.answer = [
            {
              _valueString: {
                extension: [
                  {
                    url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
                    valueCode: 'asked-declined',
                  },
                ],
              },
            } as never,
          ];
          path = `${at}.item[${i}].answer[0].value.ofType(string)`;
        }
        strip(item.item, `${at}.item[${i}]`);
      });
    strip(session.item, 'QuestionnaireResponse');
    expect(path).not.toBe('');
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', session);
    expect(res.status).toBe(422);
    expect(res.body.issue.map((i: Json) => i.expression?.[0])).toContain(path);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(0);
    expect(await count('CarePlan', '_count=0')).toBe(0);
  });

  it('If-None-Exist: a match is answered and nothing written; several are 412; none submits', async () => {
    const post = (body: unknown, condition: string) =>
      fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', body, {
        'if-none-exist': condition,
      });
    const stored = await post(withoutId(first), `identifier=${SESSION.system}|${SESSION.value}`);
    expect(stored.status).toBe(201);
    const retried = await post(
      { ...withoutId(first), identifier: { ...SESSION, value: 'a-retry' } },
      `identifier=${SESSION.system}|${SESSION.value}`,
    );
    expect(retried.status).toBe(200);
    expect(retried.body.id).toBe(stored.body.id);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(1);
    const second = responses[1] as QuestionnaireResponse;
    const other = await post(
      { ...withoutId(second), identifier: { ...SESSION, value: 'second' } },
      `identifier=${SESSION.system}|second`,
    );
    expect(other.status).toBe(201);
    const several = await post(withoutId(first), 'subject=Patient/megan-price');
    expect(several.status).toBe(412);
    expect((await post(withoutId(first), 'bogus=1')).status).toBe(400);
    // A condition must name something of its own, and takes no paging: never a silent match
    // of any session, never a duplicate past the first page.
    expect((await post(withoutId(first), '_offset=0')).status).toBe(400);
    expect(
      (await post(withoutId(first), `identifier=${SESSION.system}|${SESSION.value}&_offset=1`))
        .status,
    ).toBe(400);
    expect(await count('QuestionnaireResponse', '_count=0')).toBe(2);
  });

  it('the example journey, session by session, ends with one plan', async () => {
    for (const qr of responses) {
      const res = await fhir(service.base, 'PUT', `/fhir/QuestionnaireResponse/${qr.id}`, {
        ...qr,
        meta: undefined,
      });
      expect([200, 201]).toContain(res.status);
    }
    expect(await count('CarePlan', '_count=0')).toBe(1);
    const summary = await fhir(service.base, 'GET', '/fhir/Patient/megan-price/$dialog-summary');
    expect(summary.status).toBe(200);
    const ratings = summary.body.parameter.filter((p: Json) => p.name === 'rating');
    expect(ratings).toHaveLength(responses.filter((r) => r.status === 'completed').length);
    expect(summary.body.parameter.some((p: Json) => p.name === 'change')).toBe(true);
    expect(summary.body.parameter.find((p: Json) => p.name === 'due')).toBeDefined();
  });
});

describe('narratives on what a session writes', () => {
  it('the response, its Observations, the Goals and the plan carry a generated text.div', async () => {
    const res = await fhir(service.base, 'POST', '/fhir/QuestionnaireResponse', withoutId(first));
    expect(res.status).toBe(201);
    expect(res.body.text?.status).toBe('generated');
    expect(res.body.text?.div).toMatch(/^<div xmlns="http:\/\/www.w3.org\/1999\/xhtml">/);
    for (const type of ['Observation', 'Goal', 'CarePlan']) {
      const found = await fhir(service.base, 'GET', `/fhir/${type}?_count=100`);
      const resources = (found.body.entry as Json[]).map((e) => e.resource);
      expect(resources.length).toBeGreaterThan(0);
      expect(resources.every((r) => r.text?.status === 'generated')).toBe(true);
    }
    const plan = (await fhir(service.base, 'GET', '/fhir/CarePlan')).body.entry[0].resource;
    expect(plan.text.div).toContain('Mental health');
  });
});
