import type { CarePlan, Extension } from '@medplum/fhirtypes';
import { Extensions } from '../../src/fhir/canonical';
import { INPATIENT_SECTIONS, planAfterHandover } from '../../src/transfer/handover-effects';
import type { SystemIdentity } from '../../src/transfer/peers';

const community: SystemIdentity = {
  id: 'community',
  setting: 'community',
  organization: { reference: 'Organization/northbrook', display: 'Northbrook CMHT' },
  baseUrl: 'https://community.example/fhir',
};
const ward: SystemIdentity = {
  id: 'ward',
  setting: 'inpatient',
  organization: { reference: 'Organization/westmere', display: 'Larch Ward' },
  baseUrl: 'https://ward.example/fhir',
};
const plan: CarePlan = {
  resourceType: 'CarePlan',
  status: 'active',
  intent: 'plan',
  subject: { reference: 'Patient/p' },
  extension: [
    {
      url: Extensions.responsibleService,
      extension: [
        { url: 'organization', valueReference: community.organization },
        { url: 'period', valuePeriod: { start: '2025-09-09T09:00:00+01:00' } },
      ],
    },
  ],
};

const part = (e: Extension | undefined, url: string) => e?.extension?.find((p) => p.url === url);
const responsibilities = (p: CarePlan) =>
  (p.extension ?? []).filter((e) => e.url === Extensions.responsibleService);
const sections = (p: CarePlan) =>
  (p.activity ?? []).map((a) => [a.detail?.code?.coding?.[0]?.code, a.detail?.status]);
const due = (p: CarePlan, setting: string) =>
  (p.extension ?? []).find(
    (e) => e.url === Extensions.reviewDue && part(e, 'setting')?.valueCoding?.code === setting,
  );

describe('what a handover changes in the plan', () => {
  const admitted = planAfterHandover(plan, {
    reason: 'admission',
    from: community,
    to: ward,
    at: '2025-10-20T22:40:00+01:00',
  });

  it('admission: responsibility passes to the ward, from that moment', () => {
    const [before, after] = responsibilities(admitted);
    expect(part(before, 'period')?.valuePeriod).toEqual({
      start: '2025-09-09T09:00:00+01:00',
      end: '2025-10-20T22:40:00+01:00',
    });
    // The ward's organisation, named on the ward's server (the plan travels).
    expect(part(after, 'organization')?.valueReference?.reference).toBe(
      'https://ward.example/fhir/Organization/westmere',
    );
    expect(part(after, 'period')?.valuePeriod).toEqual({ start: '2025-10-20T22:40:00+01:00' });
  });

  it('admission: the four inpatient sections open, and the rating is due within 48 hours', () => {
    expect(sections(admitted)).toEqual(INPATIENT_SECTIONS.map((s) => [s, 'not-started']));
    const rating = due(admitted, 'inpatient');
    expect(part(rating, 'timepoint')?.valueCoding?.code).toBe('episode-start');
    expect(part(rating, 'due')?.valueDateTime).toBe('2025-10-22T22:40:00+01:00');
  });

  it('the same handover applied again changes nothing more', () => {
    const again = planAfterHandover(admitted, {
      reason: 'admission',
      from: community,
      to: ward,
      at: '2025-10-20T22:40:00+01:00',
    });
    expect(again).toEqual(admitted);
  });

  it('discharge: sections closed but kept, responsibility back, community review within 6 months (London calendar, across the clock change)', () => {
    const discharged = planAfterHandover(admitted, {
      reason: 'discharge',
      from: ward,
      to: community,
      at: '2025-11-14T11:00:00Z',
    });
    expect(sections(discharged)).toEqual(INPATIENT_SECTIONS.map((s) => [s, 'completed']));
    expect(responsibilities(discharged)).toHaveLength(3);
    const review = due(discharged, 'community');
    expect(part(review, 'timepoint')?.valueCoding?.code).toBe('review');
    expect(part(review, 'due')?.valueDateTime).toBe('2026-05-14T11:00:00+01:00');
  });
});
