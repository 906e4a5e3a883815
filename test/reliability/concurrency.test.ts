/**
 * Concurrency (issue 7, part 4), over real HTTP between two services on loopback. What other
 * files already prove is not repeated here: 50 identical submissions at once make one response
 * and one plan (test/api/sessions.test.ts); deliverers racing and dying mid-send, and both trusts
 * editing the plan between handovers (test/transfer/handover-concurrency.test.ts); a 412 between
 * the deliverer's read and write (test/transfer/handover-faults.test.ts); group commits
 * (test/store/embedded-group-commit.test.ts). This file adds:
 *
 * - many edits of the plan sent at once with the same If-Match: one wins, every other is a 412,
 *   and nothing of the losers is kept;
 * - clinicians editing the plan at the destination while a handover is being delivered there,
 *   after both sides changed the plan's description differently: every edit of both sides is
 *   kept, the description raises one conflict Task, and the destination keeps one plan;
 * - sessions for one person and for several people, identical resubmissions and handovers, all
 *   at once: every request is answered (no deadlock) and each first answer is a 2xx; every
 *   person has one plan linking each of their sessions (each whole,
 *   once), one Task per handover with its change in the plan, and every handover is delivered
 *   once.
 */
import type { CarePlan, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { DIALOG_NAMESPACE, Extensions, extractObservations, uuidV5 } from '../../src/fhir';
import { journeyResponses } from '../fhir/journey';
import { fhir, startService, type Json, type TestService } from '../support/service';
import { all, notes, onePlan, settled, transfer, trusts, until } from '../transfer/two-trusts';

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
const SESSION_SYSTEM = 'urn:dialog-fhir:test:concurrent-session';
const JOURNEY = journeyResponses();
/** A hang detector for "every request is answered", not a measure of speed. */
const ANSWER_DEADLINE_MS = 60_000;

let open: TestService[] = [];
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
});

/** NHS numbers with a valid modulus-11 check digit, from a 999 prefix (never issued). */
function nhsNumber(n: number): string {
  for (let candidate = 999_200_000 + n * 7; ; candidate++) {
    const digits = String(candidate).split('').map(Number);
    const sum = digits.reduce((acc, d, i) => acc + d * (10 - i), 0);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) return `${candidate}${check}`;
  }
}

/** Journey response `step` for `patient`, with its own identifier and no id. */
function sessionBody(patient: string, step: number, value: string): QuestionnaireResponse {
  const { id: _id, meta: _meta, ...rest } = JOURNEY[step] as QuestionnaireResponse;
  void _id;
  void _meta;
  const reference = `Patient/${patient}`;
  return {
    ...rest,
    identifier: { system: SESSION_SYSTEM, value },
    subject: { ...rest.subject, reference },
    ...(rest.source ? { source: { ...rest.source, reference } } : {}),
  };
}

async function person(service: TestService, id: string, n: number): Promise<void> {
  const put = await fhir(service.base, 'PUT', `/fhir/Patient/${id}`, {
    resourceType: 'Patient',
    id,
    identifier: [{ system: NHS_SYSTEM, value: nhsNumber(n) }],
  });
  expect(put.status).toBe(201);
  const first = await fhir(
    service.base,
    'POST',
    '/fhir/QuestionnaireResponse',
    sessionBody(id, 0, `${id}-0`),
  );
  expect(first.status).toBe(201);
}

function withNote(plan: CarePlan, text: string): CarePlan {
  return { ...plan, note: [...(plan.note ?? []), { time: '2025-10-24T10:00:00+01:00', text }] };
}

/** Read the one plan, change it, PUT it with If-Match; again from a fresh read after a 412. */
async function editUntilStored(
  service: TestService,
  change: (plan: CarePlan) => CarePlan,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const plan = await onePlan(service);
    const res = await fhir(service.base, 'PUT', `/fhir/CarePlan/${plan.id}`, change(plan), {
      'if-match': `W/"${plan.meta?.versionId ?? ''}"`,
    });
    if (res.status === 200) return attempt;
    expect(res.status).toBe(412);
  }
}

function within<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not all answered in ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

describe('concurrent plan edits', () => {
  it('ten PUTs of the plan with the same If-Match: one 200, nine 412, only the winner kept', async () => {
    const service = await startService();
    open.push(service);
    await person(service, 'ines', 0);
    const plan = await onePlan(service);
    const version = Number(plan.meta?.versionId);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fhir(service.base, 'PUT', `/fhir/CarePlan/${plan.id}`, withNote(plan, `edit ${i}`), {
          'if-match': `W/"${version}"`,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(9);
    for (const a of answers.filter((x) => x.status === 412))
      expect(a.body.resourceType).toBe('OperationOutcome');
    const winner = statuses.indexOf(200);
    const after = await onePlan(service);
    expect(after.meta?.versionId).toBe(String(version + 1));
    expect(notes(after).filter((n) => n.startsWith('edit '))).toEqual([`edit ${winner}`]);
    const history = await fhir(service.base, 'GET', `/fhir/CarePlan/${plan.id}/_history`);
    expect(history.body.total).toBe(version + 1);
  });

  it('edits at the destination racing a handover: every edit kept, the overlapping one a conflict', async () => {
    const t = await trusts();
    open.push(t.community, t.ward);
    const [c, w] = [t.community, t.ward];
    await person(c, 'megan', 1);
    expect((await transfer(c, 'megan', 'ward', 'admission')).status).toBe('completed');
    const [wardPatient] = await all(w, 'Patient');
    const wardId = String(wardPatient.id);
    // Both sides change the same part (the description) differently; the ward also adds a note.
    await editUntilStored(c, (p) => ({ ...p, description: 'Community: one plan, two teams' }));
    await editUntilStored(w, (p) => ({
      ...withNote(p, 'ward: settled on the ward'),
      description: 'Ward: one plan, two teams',
    }));

    // Discharge back to the community while eight community clinicians edit the plan there.
    const discharge = await fhir(w.base, 'POST', `/fhir/Patient/${wardId}/$transfer`, {
      resourceType: 'Parameters',
      parameter: [
        { name: 'destination', valueString: 'community' },
        { name: 'reason', valueCode: 'discharge' },
      ],
    });
    expect(discharge.status).toBe(202);
    const edits = Array.from({ length: 8 }, (_, i) =>
      editUntilStored(c, (p) => withNote(p, `community: edit ${i}`)),
    );
    const [task, attempts] = await Promise.all([
      settled(w, discharge.body as Task),
      Promise.all(edits),
    ]);
    expect(task.status).toBe('completed');

    const plan = await onePlan(c);
    expect(notes(plan).sort()).toEqual(
      [
        ...Array.from({ length: 8 }, (_, i) => `community: edit ${i}`),
        'ward: settled on the ward',
      ].sort(),
    );
    // The destination's description stays; the other is kept in one conflict Task for a clinician.
    expect(plan.description).toBe('Community: one plan, two teams');
    const conflicts = ((await all(c, 'Task')) as Task[]).filter((x) =>
      x.code?.coding?.some((code) => code.code === 'resolve-plan-conflict'),
    );
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]?.description).toContain('CarePlan.description');
    expect((conflicts[0]?.input ?? []).some((i) => i.valueString?.includes('Ward: one plan'))).toBe(
      true,
    );
    process.stdout.write(`racing edits: attempts per edit ${JSON.stringify(attempts)}\n`);
  });
});

describe('sessions and handovers at once', () => {
  it('every request answered; every plan whole: one per person, each session once, each handover once', async () => {
    const t = await trusts();
    open.push(t.community, t.ward);
    const [c, w] = [t.community, t.ward];
    const people = Array.from({ length: 6 }, (_, i) => `person-${i}`);
    await Promise.all(people.map((id, i) => person(c, id, 10 + i)));

    type Request = {
      readonly what: string;
      readonly send: () => Promise<{ status: number; body: Json }>;
    };
    const submit = (id: string, step: number): Request => ({
      what: `session ${id}-${step}`,
      send: () =>
        fhir(c.base, 'POST', '/fhir/QuestionnaireResponse', sessionBody(id, step, `${id}-${step}`)),
    });
    const handOver = (id: string): Request => ({
      what: `handover ${id}`,
      send: () =>
        fhir(c.base, 'POST', `/fhir/Patient/${id}/$transfer`, {
          resourceType: 'Parameters',
          parameter: [
            { name: 'destination', valueString: 'ward' },
            { name: 'reason', valueCode: 'admission' },
          ],
        }),
    });
    // Per person four sessions and a handover; for two of them the first session ten times more.
    const requests: Request[] = people.flatMap((id, i) => [
      submit(id, 1),
      submit(id, 2),
      handOver(id),
      submit(id, 3),
      submit(id, 4),
      ...(i < 2 ? Array.from({ length: 10 }, () => submit(id, 1)) : []),
    ]);
    // Each is sent once: no 412 reaches the client. (Before the embedded store committed an open
    // group ahead of a read, most handovers here got one: their read-then-If-Match retries ran in
    // one turn of the event loop and never saw the session write sitting in the group.)
    const outcomes = await within(
      ANSWER_DEADLINE_MS,
      Promise.all(
        requests.map(async (request) => {
          const answer = await request.send();
          return { what: request.what, status: answer.status, body: answer.body };
        }),
      ),
      'sessions and handovers at once',
    );
    expect(outcomes.filter((o) => o.status < 200 || o.status >= 300)).toEqual([]);

    const tasks: Task[] = [];
    for (const [i, id] of people.entries()) {
      const subject = `Patient/${id}`;
      const [responses, observations, plans, provenance, personTasks] = await Promise.all([
        all(c, 'QuestionnaireResponse', `&subject=${subject}`),
        all(c, 'Observation', `&subject=${subject}`),
        all(c, 'CarePlan', `&subject=${subject}`),
        all(c, 'Provenance', `&patient=${subject}`),
        all(c, 'Task', `&patient=${subject}`),
      ]);
      expect(responses.map((r) => r.identifier.value).sort()).toEqual(
        [0, 1, 2, 3, 4].map((step) => `${id}-${step}`),
      );
      expect(plans).toHaveLength(1);
      const plan = plans[0] as CarePlan;
      const keys = observations.map((o) => `${o.identifier[0].system}|${o.identifier[0].value}`);
      expect(keys.filter((k, j) => keys.indexOf(k) !== j)).toEqual([]);
      for (const r of responses) {
        const reference = `QuestionnaireResponse/${r.id}`;
        expect(r.id).toBe(uuidV5(`${SESSION_SYSTEM}|${r.identifier.value}`, DIALOG_NAMESPACE));
        const extracted = extractObservations(r as QuestionnaireResponse);
        if (!extracted.ok) throw new Error(`${r.identifier.value} does not extract`);
        const expected = (extracted.bundle.entry ?? [])
          .map((e) => e.resource as Json)
          .filter((o) => (o.derivedFrom ?? []).some((d: Json) => d.reference === reference))
          .map((o) => `${o.identifier[0].system}|${o.identifier[0].value}`)
          .sort();
        const stored = observations
          .filter((o) => (o.derivedFrom ?? []).some((d: Json) => d.reference === reference))
          .map((o) => `${o.identifier[0].system}|${o.identifier[0].value}`)
          .sort();
        expect({ session: r.identifier.value, observations: stored }).toEqual({
          session: r.identifier.value,
          observations: expected,
        });
        expect({
          session: r.identifier.value,
          linked: (plan.supportingInfo ?? []).some((s) => s.reference === reference),
          provenance: provenance.filter((p) =>
            (p.target ?? []).some((x: Json) => x.reference === reference),
          ).length,
        }).toEqual({ session: r.identifier.value, linked: true, provenance: 1 });
      }
      // One Task for the one handover, its change in the plan (the ward responsible from then).
      expect(personTasks).toHaveLength(1);
      const task = personTasks[0] as Task;
      const answered = outcomes.find((o) => o.what === `handover ${id}`);
      expect(answered?.body.id).toBe(task.id);
      const wardSpells = (plan.extension ?? [])
        .filter(
          (e) =>
            e.url === Extensions.responsibleService &&
            e.extension?.some((p) => p.url === 'setting' && p.valueCoding?.code === 'inpatient'),
        )
        .map((e) => e.extension?.find((p) => p.url === 'period')?.valuePeriod?.start);
      expect({ person: i, wardSpells }).toEqual({ person: i, wardSpells: [task.authoredOn] });
      tasks.push(task);
    }

    // Every handover delivered, once each: one Patient, one plan and one receipt per person.
    const done = await until(
      () => Promise.all(tasks.map((task) => fhir(c.base, 'GET', `/fhir/Task/${task.id}`))),
      (answers) => answers.every((a) => ['completed', 'failed'].includes(a.body.status)),
    );
    expect(done.map((a) => a.body.status)).toEqual(tasks.map(() => 'completed'));
    expect(await all(w, 'CarePlan')).toHaveLength(people.length);
    for (const i of people.keys()) {
      const patients = await all(w, 'Patient', `&identifier=${NHS_SYSTEM}|${nhsNumber(10 + i)}`);
      expect(patients).toHaveLength(1);
      const wardId = String(patients[0].id);
      expect(await all(w, 'CarePlan', `&subject=Patient/${wardId}`)).toHaveLength(1);
      const receipts = (await all(w, 'Provenance', `&patient=Patient/${wardId}`)).filter((p) =>
        String(p.activity?.text ?? '').startsWith('Handover ('),
      );
      expect(receipts).toHaveLength(1);
    }
    for (const type of ['Patient', 'QuestionnaireResponse', 'Observation', 'Goal']) {
      const keys = (await all(w, type)).map((r) => {
        const id = Array.isArray(r.identifier) ? r.identifier[0] : r.identifier;
        return `${id?.system}|${id?.value}`;
      });
      expect({ type, duplicates: keys.filter((k, j) => keys.indexOf(k) !== j) }).toEqual({
        type,
        duplicates: [],
      });
    }
  });
});
