/**
 * Resolving a handover conflict from the plan page: the open resolve-plan-conflict Task is shown
 * with both versions; keeping the sending system's version writes it into the plan (and drops the
 * marked copy the merge left beside it) and completes the Task.
 */
import type { CarePlan, CarePlanActivity, Goal, Task } from '@medplum/fhirtypes';
import { CONFLICT_CODE } from '../../src/transfer/deliver';
import { CONFLICTING_COPY_EXTENSION } from '../../src/transfer/plan-three-way-merge';
import { keepVersion } from '../../src/ui/resolve-conflict';
import { PageClient, startUiService, type UiService } from './support';

let ui: UiService;
beforeAll(async () => {
  ui = await startUiService();
});
afterAll(() => ui.service.close());

const PLAN_ID = 'care-plan-megan-price';

function conflictTask(
  part: string,
  sending: unknown,
  here: unknown,
  focus = `CarePlan/${PLAN_ID}`,
  id = 'conflict-1',
): Task {
  return {
    resourceType: 'Task',
    id,
    status: 'requested',
    intent: 'order',
    code: { coding: [CONFLICT_CODE], text: 'Resolve a conflicting change to the care plan' },
    description: `${part}: both systems changed it differently; the other system's version is kept in place`,
    focus: { reference: focus },
    for: { reference: 'Patient/megan-price' },
    input: [
      { type: { text: 'part' }, valueString: part },
      { type: { text: 'the sending system’s version' }, valueString: JSON.stringify(sending) },
      { type: { text: 'this system’s version' }, valueString: JSON.stringify(here) },
    ],
  };
}

it('keepVersion puts the chosen version of an element or an activity in place', () => {
  const activity: CarePlanActivity = {
    id: 'a1',
    detail: { status: 'not-started', description: 'Walk daily' },
  };
  const sent: CarePlanActivity = {
    id: 'a1',
    detail: { status: 'in-progress', description: 'Walk daily' },
  };
  const copy: CarePlanActivity = {
    ...sent,
    id: 'conflict-x',
    extension: [{ url: CONFLICTING_COPY_EXTENSION, valueString: 'a1' }],
  };
  const plan = {
    resourceType: 'CarePlan',
    status: 'active',
    intent: 'plan',
    subject: { reference: 'Patient/p' },
    title: 'Here',
    activity: [activity, copy],
  } as CarePlan;
  const task = conflictTask(`CarePlan.activity.where(id = 'a1')`, sent, activity);
  expect(keepVersion(plan, task, 'here').activity).toEqual([activity]);
  expect(keepVersion(plan, task, 'sending').activity).toEqual([sent]);
  const title = conflictTask('CarePlan.title', 'Sent', 'Here');
  expect(keepVersion(plan, title, 'sending').title).toBe('Sent');
  expect(keepVersion(plan, title, 'here').title).toBe('Here');
});

it('a clinician keeps the sending system’s version from the plan page', async () => {
  const plan = (await ui.service.store.read('CarePlan', PLAN_ID)) as CarePlan;
  await ui.service.store.update(
    conflictTask('CarePlan.description', 'Sent description', plan.description),
  );
  const client = new PageClient(ui.service.base);
  await client.signIn(ui.clinicianToken);
  const page = await client.get('/ui/patients/megan-price');
  expect(page.text).toContain('Handover conflicts to resolve');
  expect(page.text).toContain('Sent description');
  const res = await client.post('/ui/tasks/conflict-1/resolve', { keep: 'sending' });
  expect(res.status).toBe(303);
  expect(res.location).toBe('/ui/patients/megan-price?resolved=1');
  const after = (await ui.service.store.read('CarePlan', PLAN_ID)) as CarePlan;
  expect(after.description).toBe('Sent description');
  const task = (await ui.service.store.read('Task', 'conflict-1')) as Task;
  expect(task.status).toBe('completed');
  const again = await client.get('/ui/patients/megan-price?resolved=1');
  expect(again.text).not.toContain('Handover conflicts to resolve');
  expect(again.text).toContain('The conflict is resolved');
});

it('a clinician keeps the sending system’s wording of a Goal from the plan page', async () => {
  const found = await ui.service.store.search('Goal', { subject: 'Patient/megan-price' });
  const goal = found.resources[0] as Goal;
  const wording = { text: 'Get back to the allotment twice a week' };
  await ui.service.store.update(
    conflictTask('Goal.description', wording, goal.description, `Goal/${goal.id}`, 'conflict-goal'),
  );
  const client = new PageClient(ui.service.base);
  await client.signIn(ui.clinicianToken);
  const page = await client.get('/ui/patients/megan-price');
  expect(page.text).toContain('Get back to the allotment twice a week');
  const res = await client.post('/ui/tasks/conflict-goal/resolve', { keep: 'sending' });
  expect(res.status).toBe(303);
  const after = (await ui.service.store.read('Goal', goal.id ?? '')) as Goal;
  expect(after.description).toEqual(wording);
  expect(Number(after.meta?.versionId)).toBe(Number(goal.meta?.versionId) + 1);
  expect(((await ui.service.store.read('Task', 'conflict-goal')) as Task).status).toBe('completed');
});
