import { instantOf } from '../../src/dialog/instant';
import {
  ACUTE_EPISODE_START_WINDOW_MS,
  ACUTE_REVIEW_INTERVAL_MS,
  CARE_SETTINGS,
  COMMUNITY_REVIEW_INTERVAL_MONTHS,
  TIMEPOINT_KINDS,
  isAcuteSetting,
  nextDue,
} from '../../src/dialog/timepoints';
import type {
  CareSetting,
  Episode,
  NextDue,
  TimepointKind,
  TimepointRating,
} from '../../src/dialog/timepoints';
import { rating } from './fixtures';

const LONDON = 'Europe/London';

function rated(
  timepoint: TimepointKind,
  ratedAt: string,
  id = `${timepoint}@${ratedAt}`,
): TimepointRating {
  return { id, timepoint, ratings: rating({ medication: 4, meetings: 5 }, ratedAt) };
}

function episode(setting: CareSetting, start: string, extra: Partial<Episode> = {}): Episode {
  return { setting, start, timeZone: LONDON, ...extra };
}

describe('settings and constants', () => {
  it('lists the timepoints and settings', () => {
    expect(TIMEPOINT_KINDS).toEqual(['episode-start', 'review', 'episode-end']);
    expect(CARE_SETTINGS).toEqual(['community', 'inpatient', 'crisis']);
  });

  it.each([
    ['inpatient', true],
    ['crisis', true],
    ['community', false],
  ] as const)('%s is acute: %p', (setting, acute) => expect(isAcuteSetting(setting)).toBe(acute));

  it('uses 48 elapsed hours, 28 elapsed days and 6 calendar months', () => {
    expect(ACUTE_EPISODE_START_WINDOW_MS).toBe(48 * 3600 * 1000);
    expect(ACUTE_REVIEW_INTERVAL_MS).toBe(28 * 86400 * 1000);
    expect(COMMUNITY_REVIEW_INTERVAL_MONTHS).toBe(6);
  });
});

interface Case {
  desc: string;
  episode: Episode;
  ratings: TimepointRating[];
  now: string;
  expected: NextDue;
}

const acuteStart: Case[] = (['inpatient', 'crisis'] as const).flatMap((setting) => [
  {
    desc: `${setting}: episode start due within 48 hours`,
    episode: episode(setting, '2026-01-10T09:00:00Z'),
    ratings: [],
    now: '2026-01-10T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-12T09:00:00+00:00',
      overdue: false,
      rule: 'within-48-hours',
      from: '2026-01-10T09:00:00Z',
    },
  },
  {
    desc: `${setting}: exactly at 48 hours is not yet overdue`,
    episode: episode(setting, '2026-01-10T09:00:00Z'),
    ratings: [],
    now: '2026-01-12T09:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-12T09:00:00+00:00',
      overdue: false,
      rule: 'within-48-hours',
      from: '2026-01-10T09:00:00Z',
    },
  },
  {
    desc: `${setting}: a millisecond after 48 hours is overdue`,
    episode: episode(setting, '2026-01-10T09:00:00Z'),
    ratings: [],
    now: '2026-01-12T09:00:00.001Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-12T09:00:00+00:00',
      overdue: true,
      rule: 'within-48-hours',
      from: '2026-01-10T09:00:00Z',
    },
  },
]);

const dst48h: Case[] = [
  {
    // Clocks go forward at 01:00 UTC on Sunday 29 March 2026: 48 elapsed hours read 49 on the wall.
    desc: 'inpatient: 48 hours across the March clock change end an hour later on the wall clock',
    episode: episode('inpatient', '2026-03-28T12:00:00+00:00'),
    ratings: [],
    now: '2026-03-30T12:30:00+01:00', // 11:30Z: before the deadline although 12:30 > 12:00 local
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-03-30T13:00:00+01:00',
      overdue: false,
      rule: 'within-48-hours',
      from: '2026-03-28T12:00:00+00:00',
    },
  },
  {
    // Clocks go back at 01:00 UTC on Sunday 25 October 2026: 48 elapsed hours read 47 on the wall.
    desc: 'crisis: 48 hours across the October clock change end an hour earlier on the wall clock',
    episode: episode('crisis', '2026-10-24T12:00:00+01:00'),
    ratings: [],
    now: '2026-10-26T11:30:00+00:00', // before 12:00 local, but after the deadline
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-10-26T11:00:00+00:00',
      overdue: true,
      rule: 'within-48-hours',
      from: '2026-10-24T12:00:00+01:00',
    },
  },
  {
    desc: 'inpatient: an episode starting in the hour that happens twice',
    episode: episode('inpatient', '2026-10-25T01:30:00+00:00'),
    ratings: [],
    now: '2026-10-25T02:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-10-27T01:30:00+00:00',
      overdue: false,
      rule: 'within-48-hours',
      from: '2026-10-25T01:30:00+00:00',
    },
  },
];

const acuteReview: Case[] = [
  {
    desc: 'inpatient: review 28 days after the episode-start rating, across the March clock change',
    episode: episode('inpatient', '2026-03-09T09:00:00Z'),
    ratings: [rated('episode-start', '2026-03-10T10:00:00Z')],
    now: '2026-03-20T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'review',
      dueBy: '2026-04-07T11:00:00+01:00',
      overdue: false,
      rule: 'every-28-days',
      from: '2026-03-10T10:00:00Z',
    },
  },
  {
    desc: 'crisis: the next review counts from the latest rating, by instant',
    episode: episode('crisis', '2026-01-01T09:00:00Z'),
    ratings: [
      rated('review', '2026-01-29T10:00:00+01:00'), // 09:00Z
      rated('episode-start', '2026-01-02T10:00:00Z'),
      rated('review', '2026-01-29T09:30:00+00:00'), // later, though it sorts first as text
    ],
    now: '2026-03-01T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'review',
      dueBy: '2026-02-26T09:30:00+00:00',
      overdue: true,
      rule: 'every-28-days',
      from: '2026-01-29T09:30:00+00:00',
    },
  },
  {
    desc: 'inpatient: planned discharge before the review deadline makes episode end next',
    episode: episode('inpatient', '2026-01-01T09:00:00Z', { end: '2026-01-20T12:00:00Z' }),
    ratings: [rated('episode-start', '2026-01-02T10:00:00Z')],
    now: '2026-01-10T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-end',
      dueBy: '2026-01-20T12:00:00+00:00',
      overdue: false,
      rule: 'at-discharge',
      from: '2026-01-20T12:00:00Z',
    },
  },
  {
    desc: 'inpatient: discharge exactly at the review deadline makes episode end next',
    episode: episode('inpatient', '2026-01-01T09:00:00Z', { end: '2026-01-30T10:00:00Z' }),
    ratings: [rated('episode-start', '2026-01-02T10:00:00Z')],
    now: '2026-01-10T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-end',
      dueBy: '2026-01-30T10:00:00+00:00',
      overdue: false,
      rule: 'at-discharge',
      from: '2026-01-30T10:00:00Z',
    },
  },
  {
    desc: 'inpatient: discharge after the review deadline leaves the review next',
    episode: episode('inpatient', '2026-01-01T09:00:00Z', { end: '2026-03-01T12:00:00Z' }),
    ratings: [rated('episode-start', '2026-01-02T10:00:00Z')],
    now: '2026-01-10T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'review',
      dueBy: '2026-01-30T10:00:00+00:00',
      overdue: false,
      rule: 'every-28-days',
      from: '2026-01-02T10:00:00Z',
    },
  },
  {
    desc: 'inpatient: discharged without a discharge rating is overdue',
    episode: episode('inpatient', '2026-01-01T09:00:00Z', { end: '2026-01-20T12:00:00Z' }),
    ratings: [rated('episode-start', '2026-01-02T10:00:00Z')],
    now: '2026-01-21T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-end',
      dueBy: '2026-01-20T12:00:00+00:00',
      overdue: true,
      rule: 'at-discharge',
      from: '2026-01-20T12:00:00Z',
    },
  },
  {
    desc: 'crisis: a discharge within the 48 hours takes the place of the episode-start rating',
    episode: episode('crisis', '2026-01-01T09:00:00Z', { end: '2026-01-02T09:00:00Z' }),
    ratings: [],
    now: '2026-01-01T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-end',
      dueBy: '2026-01-02T09:00:00+00:00',
      overdue: false,
      rule: 'at-discharge',
      from: '2026-01-02T09:00:00Z',
    },
  },
  {
    desc: 'inpatient: once the discharge rating is done nothing more is due',
    episode: episode('inpatient', '2026-01-01T09:00:00Z', { end: '2026-01-20T12:00:00Z' }),
    ratings: [
      rated('episode-start', '2026-01-02T10:00:00Z'),
      rated('episode-end', '2026-01-20T11:00:00Z'),
    ],
    now: '2026-02-21T10:00:00Z',
    expected: { status: 'complete' },
  },
  {
    desc: 'inpatient: a rating without any valid score does not count',
    episode: episode('inpatient', '2026-01-10T09:00:00Z'),
    ratings: [
      { id: 'empty', timepoint: 'episode-start', ratings: rating({}, '2026-01-10T10:00:00Z') },
    ],
    now: '2026-01-10T11:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-12T09:00:00+00:00',
      overdue: false,
      rule: 'within-48-hours',
      from: '2026-01-10T09:00:00Z',
    },
  },
  {
    desc: 'inpatient: a review without an episode-start rating leaves episode start due',
    episode: episode('inpatient', '2026-01-10T09:00:00Z'),
    ratings: [rated('review', '2026-02-07T10:00:00Z')],
    now: '2026-02-08T10:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-12T09:00:00+00:00',
      overdue: true,
      rule: 'within-48-hours',
      from: '2026-01-10T09:00:00Z',
    },
  },
];

const communityStart: Case[] = [
  {
    desc: 'community: second meeting not known: due at the next meeting',
    episode: episode('community', '2026-01-10T09:00:00Z'),
    ratings: [],
    now: '2026-06-10T09:00:00Z',
    expected: {
      status: 'due-at-next-meeting',
      timepoint: 'episode-start',
      overdue: false,
      rule: 'at-next-meeting',
    },
  },
  {
    desc: 'community: a planned discharge in the future leaves it due at the next meeting',
    episode: episode('community', '2026-01-10T09:00:00Z', { end: '2026-03-01T09:00:00Z' }),
    ratings: [],
    now: '2026-01-20T09:00:00Z',
    expected: {
      status: 'due-at-next-meeting',
      timepoint: 'episode-start',
      overdue: false,
      rule: 'at-next-meeting',
    },
  },
  {
    desc: 'community: discharged without any rating: episode end overdue',
    episode: episode('community', '2026-01-10T09:00:00Z', { end: '2026-03-01T09:00:00Z' }),
    ratings: [],
    now: '2026-03-02T09:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-end',
      dueBy: '2026-03-01T09:00:00+00:00',
      overdue: true,
      rule: 'at-discharge',
      from: '2026-03-01T09:00:00Z',
    },
  },
  {
    desc: 'community: due by the second meeting when known',
    episode: episode('community', '2026-01-10T09:00:00Z', {
      secondMeeting: '2026-01-24T14:00:00Z',
    }),
    ratings: [],
    now: '2026-01-12T09:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-24T14:00:00+00:00',
      overdue: false,
      rule: 'by-second-meeting',
      from: '2026-01-24T14:00:00Z',
    },
  },
  {
    desc: 'community: overdue after the second meeting',
    episode: episode('community', '2026-01-10T09:00:00Z', {
      secondMeeting: '2026-01-24T14:00:00Z',
    }),
    ratings: [],
    now: '2026-01-24T15:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-start',
      dueBy: '2026-01-24T14:00:00+00:00',
      overdue: true,
      rule: 'by-second-meeting',
      from: '2026-01-24T14:00:00Z',
    },
  },
];

function communityReview(desc: string, ratedAt: string, dueBy: string, zone = LONDON): Case {
  return {
    desc: `community: review ${desc}`,
    episode: { ...episode('community', '2025-01-01T09:00:00Z'), timeZone: zone },
    ratings: [rated('episode-start', ratedAt)],
    now: '2025-06-01T09:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'review',
      dueBy,
      overdue: false,
      rule: 'within-6-months',
      from: ratedAt,
    },
  };
}

const sixMonths: Case[] = [
  communityReview(
    '6 months on, wall time kept across the clock change',
    '2026-01-15T10:00:00Z',
    '2026-07-15T10:00:00+01:00',
  ),
  communityReview(
    'from summer to spring',
    '2025-10-15T10:00:00+01:00',
    '2026-04-15T10:00:00+01:00',
  ),
  communityReview(
    'from 31 August clamps to 28 February',
    '2026-08-31T12:00:00+01:00',
    '2027-02-28T12:00:00+00:00',
  ),
  communityReview(
    'from 31 August clamps to 29 February in a leap year',
    '2027-08-31T12:00:00+01:00',
    '2028-02-29T12:00:00+00:00',
  ),
  communityReview(
    'from a London 1 September that is 31 August in UTC',
    '2025-08-31T23:30:00Z',
    '2026-03-01T00:30:00+00:00',
  ),
  communityReview(
    'in UTC, the same instant is 31 August',
    '2025-08-31T23:30:00Z',
    '2026-02-28T23:30:00+00:00',
    'UTC',
  ),
  communityReview(
    'into the missing hour of the last Sunday of March moves forward',
    '2025-09-29T00:30:00Z',
    '2026-03-29T02:30:00+01:00',
  ),
  communityReview(
    'into the repeated hour of the last Sunday of October takes the first',
    '2026-04-25T00:30:00Z',
    '2026-10-25T01:30:00+01:00',
  ),
  communityReview(
    'onto the last Sunday of October, after the clocks go back',
    '2026-04-25T12:00:00+01:00',
    '2026-10-25T12:00:00+00:00',
  ),
  communityReview(
    'in New York',
    '2026-09-10T12:00:00-04:00',
    '2027-03-10T12:00:00-05:00',
    'America/New_York',
  ),
];

const communityLater: Case[] = [
  {
    desc: 'community: overdue a second after 6 months',
    episode: episode('community', '2026-01-10T09:00:00Z'),
    ratings: [rated('episode-start', '2026-01-15T10:00:00Z')],
    now: '2026-07-15T09:00:01Z',
    expected: {
      status: 'due',
      timepoint: 'review',
      dueBy: '2026-07-15T10:00:00+01:00',
      overdue: true,
      rule: 'within-6-months',
      from: '2026-01-15T10:00:00Z',
    },
  },
  {
    desc: 'community: discharge before the review deadline makes episode end next',
    episode: episode('community', '2026-01-10T09:00:00Z', { end: '2026-05-01T09:00:00+01:00' }),
    ratings: [rated('episode-start', '2026-01-15T10:00:00Z')],
    now: '2026-04-01T09:00:00Z',
    expected: {
      status: 'due',
      timepoint: 'episode-end',
      dueBy: '2026-05-01T09:00:00+01:00',
      overdue: false,
      rule: 'at-discharge',
      from: '2026-05-01T09:00:00+01:00',
    },
  },
  {
    desc: 'community: a discharge rating completes the episode',
    episode: episode('community', '2026-01-10T09:00:00Z'),
    ratings: [rated('episode-end', '2026-05-01T09:00:00+01:00')],
    now: '2026-06-01T09:00:00Z',
    expected: { status: 'complete' },
  },
];

describe('nextDue', () => {
  it.each([
    ...acuteStart,
    ...dst48h,
    ...acuteReview,
    ...communityStart,
    ...sixMonths,
    ...communityLater,
  ])('$desc', ({ episode: ep, ratings, now, expected }) => {
    expect(nextDue(ep, ratings, now)).toEqual(expected);
  });

  it('48 hours are elapsed time: the deadline is exactly 48 h after the start instant', () => {
    const result = nextDue(
      episode('inpatient', '2026-03-28T12:00:00Z'),
      [],
      '2026-03-28T12:00:00Z',
    );
    if (result.status !== 'due') throw new Error('expected due');
    expect(instantOf(result.dueBy) - instantOf('2026-03-28T12:00:00Z')).toBe(48 * 3600 * 1000);
  });

  it('does not depend on the order or offsets the ratings are given in', () => {
    const ep = episode('inpatient', '2026-01-01T09:00:00Z');
    const ratings = [
      rated('episode-start', '2026-01-02T10:00:00Z'),
      rated('review', '2026-01-30T11:00:00+01:00'),
      rated('review', '2026-01-30T09:59:00Z'),
    ];
    const forward = nextDue(ep, ratings, '2026-02-01T00:00:00Z');
    expect(nextDue(ep, [...ratings].reverse(), '2026-02-01T00:00:00Z')).toEqual(forward);
    expect(forward).toMatchObject({
      from: '2026-01-30T11:00:00+01:00',
      dueBy: '2026-02-27T10:00:00+00:00',
    });
  });

  it.each([
    {
      desc: 'an unknown time zone',
      ep: { ...episode('community', '2026-01-01T09:00:00Z'), timeZone: 'Europe/Atlantis' },
      now: '2026-01-02T00:00:00Z',
      message: /unknown IANA time zone: Europe\/Atlantis/,
    },
    {
      desc: 'a start without offset',
      ep: episode('inpatient', '2026-01-01T09:00:00'),
      now: '2026-01-02T00:00:00Z',
      message: /episode start/,
    },
    {
      desc: 'an end that is a date only',
      ep: episode('inpatient', '2026-01-01T09:00:00Z', { end: '2026-01-05' }),
      now: '2026-01-02T00:00:00Z',
      message: /episode end/,
    },
    {
      desc: 'a second meeting without offset',
      ep: episode('community', '2026-01-01T09:00:00Z', { secondMeeting: '2026-01-05T10:00' }),
      now: '2026-01-02T00:00:00Z',
      message: /second meeting/,
    },
    {
      desc: 'a now without offset',
      ep: episode('inpatient', '2026-01-01T09:00:00Z'),
      now: '2026-01-02T00:00:00',
      message: /^now /,
    },
  ])('throws RangeError for $desc', ({ ep, now, message }) => {
    expect(() => nextDue(ep, [], now)).toThrow(RangeError);
    expect(() => nextDue(ep, [], now)).toThrow(message);
  });

  it('throws RangeError for a rating whose ratedAt has no offset', () => {
    const bad: TimepointRating = {
      id: 'bad',
      timepoint: 'episode-start',
      ratings: { scores: { medication: 4 }, ratedAt: '2026-01-02T10:00:00' },
    };
    expect(() =>
      nextDue(episode('inpatient', '2026-01-01T09:00:00Z'), [bad], '2026-01-03T00:00:00Z'),
    ).toThrow(RangeError);
  });
});
