import type { DialogScore } from '../../src/dialog';
import { extractedIdentifier, type DialogSession } from '../../src/fhir';
import {
  changeObservations,
  episodeRatings,
  inEpisode,
  meanObservations,
  type RatedResponse,
} from '../../src/fhir/dialog-observations';
import type { ExtractContext } from '../../src/fhir/item-observations';

const ALL = [
  'mental-health',
  'physical-health',
  'job-situation',
  'accommodation',
  'leisure-activities',
  'friendships',
  'partner-family',
  'personal-safety',
  'medication',
  'practical-help',
  'meetings',
] as const;

function rated(
  key: string,
  authored: string,
  score: DialogScore,
  missing: readonly string[] = [],
): RatedResponse {
  const scores = Object.fromEntries(ALL.filter((c) => !missing.includes(c)).map((c) => [c, score]));
  const session: DialogSession = {
    status: 'completed',
    subject: 'Patient/p',
    authored,
    scores,
    helpWanted: {},
    chosen: [],
    discussed: [],
    previousActions: [],
  };
  return { key, session };
}

const context = (key: string, authored: string): ExtractContext => ({
  key,
  responseReference: { reference: key },
  subject: { reference: 'Patient/p' },
  effective: authored,
  contextExtensions: [],
});

describe('meanObservations', () => {
  it('marks the means incomplete and says why once two items are missing', () => {
    const r = rated('QuestionnaireResponse/a', '2026-01-01T10:00:00Z', 4, [
      'medication',
      'meetings',
    ]);
    const [sqol, ts] = meanObservations(r.session, context(r.key, r.session.authored));
    expect(sqol?.observation.extension?.[0]).toEqual({
      url: 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-mean-complete',
      valueBoolean: false,
    });
    expect(ts?.observation.component?.[0]?.valueInteger).toBe(1);
    expect(sqol?.observation.note?.[0]?.text).toMatch(/^2 of the 11 items were not rated/);
  });

  it('leaves out a mean whose group has no scores', () => {
    const r = rated('QuestionnaireResponse/a', '2026-01-01T10:00:00Z', 4, [
      'medication',
      'practical-help',
      'meetings',
    ]);
    expect(
      meanObservations(r.session, context(r.key, r.session.authored)).map((e) => e.part),
    ).toEqual(['sqol-mean']);
  });
});

describe('changeObservations', () => {
  const first = rated('QuestionnaireResponse/first', '2026-01-01T10:00:00Z', 3);
  const middle = rated('QuestionnaireResponse/middle', '2026-02-01T10:00:00Z', 5);
  const current = rated('QuestionnaireResponse/now', '2026-03-01T10:00:00+01:00', 4, [
    'friendships',
  ]);
  const ctx = context(current.key, current.session.authored);

  it('pairs the first valid score with this one, naming both Observations', () => {
    const changes = changeObservations(current, [middle, first], ctx);
    const mental = changes.find((c) => c.part === 'mental-health.change')?.observation;
    expect(mental?.component?.map((c) => c.valueQuantity?.value)).toEqual([3, 4]);
    expect(mental?.valueQuantity?.value).toBe(1);
    expect(mental?.interpretation?.[0]?.coding?.[0]?.code).toBe('reliable-improvement');
    expect(mental?.effectivePeriod).toEqual({
      start: first.session.authored,
      end: current.session.authored,
    });
    expect(mental?.derivedFrom?.[0]).toEqual({
      type: 'Observation',
      identifier: extractedIdentifier(first.key, 'mental-health.score'),
    });
  });

  it('gives no change for an item this rating left out', () => {
    const parts = changeObservations(current, [first, middle], ctx).map((c) => c.part);
    expect(parts).not.toContain('friendships.change');
    expect(parts).toContain('sqol-mean.change');
    expect(parts).toHaveLength(10 + 2);
  });

  it('gives nothing for a first rating, or against ratings made after it', () => {
    expect(changeObservations(first, [], context(first.key, first.session.authored))).toEqual([]);
    expect(
      changeObservations(first, [middle, current], context(first.key, first.session.authored)),
    ).toEqual([]);
  });

  it('marks a mean change complete only when both means are', () => {
    const changes = changeObservations(
      middle,
      [first],
      context(middle.key, middle.session.authored),
    );
    const sqol = changes.find((c) => c.part === 'sqol-mean.change')?.observation;
    expect(
      sqol?.extension?.find((e) => e.url.endsWith('/dialog-mean-complete'))?.valueBoolean,
    ).toBe(true);
    expect(sqol?.valueQuantity?.value).toBe(2);
  });
});

describe('episodeRatings and inEpisode', () => {
  const at = (key: string, authored: string, more: Partial<DialogSession>): RatedResponse => {
    const r = rated(key, authored, 4);
    return { key, session: { ...r.session, ...more } };
  };
  const reused = {
    source: 'QuestionnaireResponse/discharge',
    originalTimepoint: 'episode-end' as const,
  };

  it('counts a reused start rating up to the reuse window (14 days) before the episode start', () => {
    const start = '2026-01-15T09:00:00Z';
    const reusedStart = (authored: string) =>
      at('r', authored, { timepoint: 'episode-start', setting: 'community', reusedFrom: reused })
        .session;
    expect(inEpisode(reusedStart('2026-01-01T09:00:00Z'), { start, setting: 'community' })).toBe(
      true,
    );
    expect(inEpisode(reusedStart('2026-01-01T08:59:59Z'), { start, setting: 'community' })).toBe(
      false,
    );
    const notReused = { ...reusedStart('2026-01-14T09:00:00Z') };
    delete notReused.reusedFrom;
    expect(inEpisode(notReused, { start, setting: 'community' })).toBe(false);
    expect(inEpisode(reusedStart('2026-01-16T09:00:00Z'), { start, setting: 'inpatient' })).toBe(
      false,
    );
  });

  it('starts the episode at the latest start rating of the setting, skipping other settings', () => {
    const community = at('c', '2026-01-01T09:00:00Z', {
      timepoint: 'episode-start',
      setting: 'community',
    });
    const admission = at('a', '2026-02-01T09:00:00Z', {
      timepoint: 'episode-start',
      setting: 'inpatient',
    });
    const crisis = at('x', '2026-02-10T09:00:00Z', { timepoint: 'review', setting: 'crisis' });
    const review = at('r', '2026-03-01T09:00:00Z', { timepoint: 'review', setting: 'inpatient' });
    const episode = episodeRatings(review, [community, crisis, admission]);
    expect(episode.ok && episode.ratings.map((r) => r.key)).toEqual(['a', 'r']);
  });
});
