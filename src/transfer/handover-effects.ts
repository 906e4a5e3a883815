/**
 * What a handover changes in the one plan itself, before it moves (DIALOG.md, "The one care
 * plan"; issue 5):
 * - Responsibility: the period of the service that held the plan ends, and the receiving service's
 *   begins (`dialog-responsible-service`; the one without an end holds it now).
 * - Admission to inpatient (or crisis) care: the inpatient sections open — Mental Health Act
 *   status, leave, visits, nursing observations — as activities for the ward to fill in, and the
 *   episode-start rating is due within 48 hours.
 * - Discharge back to community care: the inpatient sections are closed (completed, kept in the
 *   plan and its history), the ward's rating due is dropped (its versions keep it), and the
 *   community review is due within 6 months (the discharge rating
 *   serves as the community admission rating, recorded as reused when the community team takes it
 *   through $populate).
 * Applying the same handover twice changes nothing more (the responsible period and sections are
 * matched, not added again).
 */
import type {
  CarePlan,
  CarePlanActivity,
  Extension,
  Organization,
  Reference,
} from '@medplum/fhirtypes';
import {
  ACUTE_EPISODE_START_WINDOW_MS,
  COMMUNITY_REVIEW_INTERVAL_MONTHS,
  isAcuteSetting,
} from '../dialog';
import { instantOf } from '../dialog/instant';
import { addCalendarMonths, formatDateTime } from '../dialog/zoned-time';
import { TRUST_TIME_ZONE } from '../service/dialog-summary';
import { CodeSystems, Extensions } from '../fhir/canonical';
import { packageCoding } from '../fhir/response-session';
import type { SystemIdentity } from './peers';

export const HANDOVER_REASONS = ['admission', 'discharge', 'transfer'] as const;
export type HandoverReason = (typeof HANDOVER_REASONS)[number];

export const INPATIENT_SECTIONS = [
  'mental-health-act-status',
  'leave',
  'visits',
  'nursing-observations',
] as const;

export interface HandoverMoment {
  readonly reason: HandoverReason;
  readonly from: SystemIdentity;
  readonly to: SystemIdentity;
  /** FHIR dateTime with offset: when responsibility passes. */
  readonly at: string;
}

/**
 * A system's organisation as a reference that holds wherever the plan goes: relative references
 * in the peers file name resources on that system's own server.
 */
export function organizationOf(system: SystemIdentity, self: SystemIdentity): Reference {
  const reference = system.organization.reference ?? '';
  if (system === self || /^https?:/.test(reference)) return { ...system.organization };
  return { ...system.organization, reference: `${system.baseUrl}/${reference}` };
}

export function planAfterHandover(plan: CarePlan, moment: HandoverMoment): CarePlan {
  let extension = withResponsibility(plan.extension ?? [], moment);
  let activity = plan.activity ?? [];
  if (isAcuteSetting(moment.to.setting)) {
    activity = withSectionsOpen(activity, moment);
    extension = withReviewDue(
      extension,
      moment.to.setting,
      'episode-start',
      plusMs(moment.at, ACUTE_EPISODE_START_WINDOW_MS),
    );
  } else if (isAcuteSetting(moment.from.setting)) {
    activity = withSectionsClosed(activity);
    // The ward's rating due no longer applies once the person has left (its versions keep it).
    extension = withoutReviewDue(extension, moment.from.setting);
    extension = withReviewDue(
      extension,
      moment.to.setting,
      'review',
      plusMonths(moment.at, COMMUNITY_REVIEW_INTERVAL_MONTHS),
    );
  }
  return {
    ...plan,
    ...(extension.length > 0 ? { extension } : {}),
    ...(activity.length > 0 ? { activity } : {}),
  };
}

function part(extension: Extension, url: string): Extension | undefined {
  return extension.extension?.find((e) => e.url === url);
}

function isResponsibility(e: Extension): boolean {
  return e.url === Extensions.responsibleService;
}

/** Ends the open period (unless it is the receiver's already) and opens the receiver's. */
function withResponsibility(extensions: readonly Extension[], moment: HandoverMoment): Extension[] {
  const receiver = organizationOf(moment.to, moment.from).reference;
  const open = extensions.find((e) => isResponsibility(e) && !part(e, 'period')?.valuePeriod?.end);
  if (open && part(open, 'organization')?.valueReference?.reference === receiver)
    return [...extensions];
  const closed = extensions.map((e) =>
    e === open
      ? {
          ...e,
          extension: (e.extension ?? []).map((p) =>
            p.url === 'period'
              ? { url: 'period', valuePeriod: { ...p.valuePeriod, end: moment.at } }
              : p,
          ),
        }
      : e,
  );
  return [
    ...closed,
    {
      url: Extensions.responsibleService,
      extension: [
        { url: 'organization', valueReference: organizationOf(moment.to, moment.from) },
        { url: 'setting', valueCoding: packageCoding(CodeSystems.settings, moment.to.setting) },
        { url: 'period', valuePeriod: { start: moment.at } },
      ],
    },
  ];
}

function sectionOf(activity: CarePlanActivity): string | undefined {
  return activity.detail?.code?.coding?.find((c) => c.system === CodeSystems.planSections)?.code;
}

const OPEN: ReadonlySet<string> = new Set(['not-started', 'scheduled', 'in-progress', 'on-hold']);

function withSectionsOpen(
  activities: readonly CarePlanActivity[],
  moment: HandoverMoment,
): CarePlanActivity[] {
  const result = [...activities];
  for (const section of INPATIENT_SECTIONS) {
    const present = result.some(
      (a) => sectionOf(a) === section && OPEN.has(a.detail?.status ?? ''),
    );
    if (present) continue;
    result.push({
      id: `${section}-${moment.at.slice(0, 10)}`,
      detail: {
        code: { coding: [packageCoding(CodeSystems.planSections, section)] },
        status: 'not-started',
        performer: [organizationOf(moment.to, moment.from) as Reference<Organization>],
        description: 'To be agreed with you on the ward.',
      },
    });
  }
  return result;
}

function withSectionsClosed(activities: readonly CarePlanActivity[]): CarePlanActivity[] {
  return activities.map((a) => {
    const section = sectionOf(a);
    if (!section || !(INPATIENT_SECTIONS as readonly string[]).includes(section)) return a;
    if (!a.detail || !OPEN.has(a.detail.status)) return a;
    return { ...a, detail: { ...a.detail, status: 'completed' } };
  });
}

function withoutReviewDue(extensions: readonly Extension[], setting: string): Extension[] {
  return extensions.filter(
    (e) => e.url !== Extensions.reviewDue || part(e, 'setting')?.valueCoding?.code !== setting,
  );
}

function withReviewDue(
  extensions: readonly Extension[],
  setting: string,
  timepoint: 'episode-start' | 'review',
  due: string,
): Extension[] {
  const kept = extensions.filter(
    (e) => e.url !== Extensions.reviewDue || part(e, 'setting')?.valueCoding?.code !== setting,
  );
  return [
    ...kept,
    {
      url: Extensions.reviewDue,
      extension: [
        { url: 'timepoint', valueCoding: packageCoding(CodeSystems.timepoints, timepoint) },
        { url: 'due', valueDateTime: due },
        { url: 'setting', valueCoding: packageCoding(CodeSystems.settings, setting) },
      ],
    },
  ];
}

/** A dateTime `ms` later, written with the trust zone's offset at that instant. */
function plusMs(dateTime: string, ms: number): string {
  return formatDateTime(instantOf(dateTime) + ms, TRUST_TIME_ZONE);
}

/** The same wall-clock time `months` later in the trust's zone (the 6-month calendar rule). */
function plusMonths(dateTime: string, months: number): string {
  return formatDateTime(
    addCalendarMonths(instantOf(dateTime), months, TRUST_TIME_ZONE),
    TRUST_TIME_ZONE,
  );
}
