/**
 * Clinical safety (CLINICAL_SAFETY.md, hazard H14): the SMS version of the plan
 * (src/letter/letter-sms.ts, `$letter?format=sms`) holds as little as it can, because a text
 * message is read on a lock screen, by whoever holds the phone, and may go to an old number. It
 * greets the person by their call name only and carries the key worker's contact, the review
 * date, the open actions and a link to the full letter (which needs sign-in) — never the
 * person's family name, NHS number, date of birth, address or phone, their ratings or means,
 * the safety plan, or the inpatient sections (Mental Health Act status, leave, visits, nursing
 * observations). Checked on the journey's plan while the person is on the ward (sections open)
 * and after discharge.
 */
import type { Patient } from '@medplum/fhirtypes';
import { letterSms, readPlanView, type PlanView } from '../../src/letter';
import { journeyResources, journeyStore, PLAN_ID } from './journey-store';

const PLAN_URL = 'https://plans.example.nhs.uk/p/5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913';

async function viewAt(upTo: string): Promise<PlanView> {
  const open = await journeyStore(upTo);
  try {
    return await readPlanView(open.store, PLAN_ID);
  } finally {
    await open.close();
  }
}

const patient = journeyResources().find((r): r is Patient => r.resourceType === 'Patient');

/** What must never be in the SMS: the person's identifying details. */
function identifying(): string[] {
  if (!patient) throw new Error('the journey has no Patient');
  const name = patient.name?.[0];
  return [
    ...(patient.identifier ?? []).flatMap((i) => (i.value ? [i.value] : [])),
    ...(name?.family ? [name.family] : []),
    ...(name?.given?.slice(1) ?? []),
    ...(patient.birthDate ? [patient.birthDate] : []),
    ...(patient.telecom ?? []).flatMap((t) => (t.value ? [t.value] : [])),
    ...(patient.address ?? []).flatMap((a) => [...(a.line ?? []), a.postalCode ?? '']),
  ].filter((v) => v.length > 0);
}

describe.each(['02', '04'])('H14: the SMS of the journey plan up to step %s', (upTo) => {
  let view: PlanView;
  let text: string;
  beforeAll(async () => {
    view = await viewAt(upTo);
    text = letterSms(view, { planUrl: PLAN_URL }).text;
  });

  it('greets by the call name and carries the contact and the link (what it is for)', () => {
    const callName = view.person?.callName;
    expect(callName).toBeTruthy();
    expect(text.startsWith(`${callName ?? ''}, this is your care plan.`)).toBe(true);
    expect(text.endsWith(`Full plan: ${PLAN_URL}`)).toBe(true);
  });

  it('holds no NHS number, family name, other given names, birth date, address or phone of the person', () => {
    // NHS number, family name, second given name, birth date, phone, email, address lines, postcode.
    expect(identifying().length).toBeGreaterThanOrEqual(8);
    const found = identifying().filter((v) => text.includes(v));
    expect(found).toEqual([]);
    // Nor the NHS number written with spaces (3-3-4).
    const nhs = patient?.identifier?.[0]?.value ?? '';
    expect(nhs).toHaveLength(10);
    expect(text).not.toContain(`${nhs.slice(0, 3)} ${nhs.slice(3, 6)} ${nhs.slice(6)}`);
  });

  it('holds no ratings or means', () => {
    expect(view.ratings.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/out of 7|score|rating|rated|average|mean/i);
  });

  it('holds neither the safety plan nor any inpatient section', () => {
    const hidden = [...(view.safetyPlan ? [view.safetyPlan] : []), ...view.sections].flatMap((s) =>
      s.text ? [s.text] : [],
    );
    if (upTo === '02') expect(view.sections.some((s) => s.open)).toBe(true);
    expect(hidden.length).toBeGreaterThan(0);
    for (const section of hidden) expect(text).not.toContain(section.slice(0, 40));
    expect(text).not.toMatch(/Mental Health Act|section 2|section 3|leave|observations/i);
  });
});
