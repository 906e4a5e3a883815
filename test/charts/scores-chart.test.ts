import type { Observation } from '@medplum/fhirtypes';
import {
  chartSummary,
  scoresChartSvg,
  scoresTable,
  scoresTableHtml,
  ukDate,
  ukTime,
  type ScoresChartData,
} from '../../src/charts';
import { DIALOG_ITEMS, meanScore, type DialogRatings } from '../../src/dialog';
import { Profiles } from '../../src/fhir/canonical';
import { readPlanView, type PlanView } from '../../src/letter/plan-view';
import { journeyResources, journeyStore, PLAN_ID } from '../letter/journey-store';
import { wellFormed, type Element } from './well-formed';

let view: PlanView;
beforeAll(async () => {
  const { store, close } = await journeyStore();
  try {
    view = await readPlanView(store, PLAN_ID);
  } finally {
    await close();
  }
});

const data = (): ScoresChartData => ({ ratings: view.ratings, changes: view.changes });
const byClass = (elements: readonly Element[], cls: string): Element[] =>
  elements.filter((e) => e.attributes.class === cls);

/** The journey's paired-change Observations, straight from the example files. */
function journeyChanges(): Observation[] {
  return journeyResources().filter(
    (r): r is Observation =>
      r.resourceType === 'Observation' && (r.meta?.profile ?? []).includes(Profiles.pairedChange),
  );
}

describe('scoresChartSvg on the journey', () => {
  it('is well-formed, an image with a title and a description it is labelled by', () => {
    const svg = scoresChartSvg(data(), { idPrefix: 'plan-chart' });
    const elements = wellFormed(svg);
    const root = elements[0];
    expect(root?.name).toBe('svg');
    expect(root?.attributes).toMatchObject({
      xmlns: 'http://www.w3.org/2000/svg',
      role: 'img',
      'aria-labelledby': 'plan-chart-title plan-chart-desc',
    });
    expect(root?.attributes.viewBox).toMatch(/^0 0 \d+ \d+$/);
    expect(root?.attributes.width).toBeUndefined();
    expect(svg).toMatch(/<title id="plan-chart-title">Your ratings over time<\/title>/);
    const desc = /<desc id="plan-chart-desc">([^<]+)<\/desc>/.exec(svg)?.[1] ?? '';
    expect(desc).toContain('4 ratings, from 16 September 2025 to 9 December 2025');
    expect(desc).toContain(
      'Mental health better by 3 points from 22 October 2025 to 9 December 2025',
    );
  });

  it('has one point per rating of each area and of each average (a reused rating is not a new one)', () => {
    expect(view.ratings).toHaveLength(4);
    const elements = wellFormed(scoresChartSvg(data()));
    const points = byClass(elements, 'point');
    for (const { concept } of DIALOG_ITEMS) {
      const rated = view.ratings.filter((r) => r.scores[concept] !== undefined);
      const drawn = points.filter((p) => p.attributes['data-series'] === concept);
      expect(drawn.map((p) => p.attributes['data-rated-at'])).toEqual(rated.map((r) => r.ratedAt));
      expect(drawn.map((p) => p.attributes['data-value'])).toEqual(
        rated.map((r) => String(r.scores[concept])),
      );
    }
    for (const measure of ['sqol', 'ts'] as const) {
      const drawn = points.filter((p) => p.attributes['data-series'] === measure);
      expect(drawn).toHaveLength(view.ratings.filter((r) => meanScore(r, measure)).length);
    }
    // Job situation and partner/family were not rated on admission: 3 points each, not 4.
    expect(points.filter((p) => p.attributes['data-series'] === 'job-situation')).toHaveLength(3);
  });

  it('marks every reliable change the paired-change Observations state, and nothing else', () => {
    const observations = journeyChanges();
    expect(observations.length).toBeGreaterThan(0);
    const reliable = observations.filter((o) =>
      o.interpretation?.some((i) => i.coding?.some((c) => c.code !== 'no-reliable-change')),
    );
    expect(reliable.length).toBeGreaterThan(0);
    expect(reliable.length).toBeLessThan(observations.length);
    const marks = byClass(wellFormed(scoresChartSvg(data())), 'change');
    const key = (series: string, category: string, to: string): string =>
      `${series}|${category}|${to}`;
    const drawn = marks.map((m) =>
      key(
        m.attributes['data-series'] ?? '',
        m.attributes['data-change'] ?? '',
        m.attributes['data-to'] ?? '',
      ),
    );
    const expected = reliable.map((o) => {
      const measure = o.extension?.find((e) => e.url.endsWith('dialog-measure'))?.valueCoding;
      const series =
        measure?.code === 'sqol-mean'
          ? 'sqol'
          : measure?.code === 'ts-mean'
            ? 'ts'
            : (DIALOG_ITEMS.find((i) => i.snomed === measure?.code)?.concept ?? '?');
      const category = o.interpretation?.[0]?.coding?.[0]?.code ?? '';
      return key(series, category, o.effectivePeriod?.end ?? '');
    });
    expect([...drawn].sort()).toEqual([...expected].sort());
  });

  it('tells things apart by shape and text, never by colour: every colour is a grey', () => {
    const svg = scoresChartSvg(data());
    const colours = [...svg.matchAll(/(?:fill|stroke)="(#[0-9a-fA-F]{6})"/g)].map(
      (m) => m[1] ?? '',
    );
    expect(colours.length).toBeGreaterThan(0);
    for (const colour of new Set(colours)) {
      const [r, g, b] = [1, 3, 5].map((i) => colour.slice(i, i + 2));
      expect(r === g && g === b).toBe(true);
    }
    // The two averages: circles on a solid line, squares on a dashed one.
    expect(svg).toMatch(/<circle class="point" data-series="sqol"/);
    expect(svg).toMatch(/<rect class="point" data-series="ts"/);
    expect(svg).toMatch(/stroke-dasharray="6 4"/);
  });

  it('is the same every time (no random ids)', () => {
    expect(scoresChartSvg(data())).toBe(scoresChartSvg(data()));
    expect(scoresChartSvg(data())).not.toMatch(/id="(?!dialog-scores-)/);
  });

  it('has the same numbers as a table (the text alternative)', () => {
    const table = scoresTable(data());
    expect(table.header).toEqual([
      'Area',
      '16 Sep 2025',
      '22 Oct 2025',
      '18 Nov 2025',
      '9 Dec 2025',
    ]);
    expect(table.rows).toHaveLength(13);
    const mental = table.rows.find((r) => r.series === 'mental-health');
    expect(mental?.cells).toEqual([
      'Mental health',
      '3',
      '2',
      '4 (better by 2 points)',
      '5 (better by 3 points)',
    ]);
    const job = table.rows.find((r) => r.series === 'job-situation');
    expect(job?.cells[2]).toBe('not rated');
    const sqol = table.rows.find((r) => r.series === 'sqol');
    expect(sqol?.cells[0]).toBe('Overall satisfaction with life');
    expect(sqol?.cells[2]).toBe('2.67 (some areas not rated)');
    const html = scoresTableHtml(data());
    expect(wellFormed(html)[0]?.name).toBe('table');
    expect(html).toContain('<th scope="row">Mental health</th>');
  });
});

describe('scoresChartSvg on made-up ratings', () => {
  const at = (day: number): string => `2026-01-${String(day).padStart(2, '0')}T10:00:00+00:00`;
  const rating = (day: number, score: 1 | 2 | 3 | 4 | 5 | 6 | 7): DialogRatings => ({
    ratedAt: at(day),
    scores: Object.fromEntries(DIALOG_ITEMS.map((i) => [i.concept, score])),
  });

  it('draws a decline as a triangle pointing down, an improvement as one pointing up', () => {
    const svg = scoresChartSvg({
      ratings: [rating(1, 5), rating(20, 3)],
      changes: [
        {
          series: 'mental-health',
          from: at(1),
          to: at(20),
          change: -2,
          category: 'reliable-deterioration',
        },
        {
          series: 'friendships',
          from: at(1),
          to: at(20),
          change: 1,
          category: 'reliable-improvement',
        },
      ],
    });
    const triangle = (series: string): number[] => {
      const d = new RegExp(
        `data-series="${series}"[^>]*><title>[^<]*</title><path d="M([\\d.]+) ([\\d.]+)L[\\d.]+ ([\\d.]+)`,
      ).exec(svg);
      return [Number(d?.[2]), Number(d?.[3])];
    };
    const [downTip = 0, downBase = 0] = triangle('mental-health');
    const [upTip = 0, upBase = 0] = triangle('friendships');
    expect(downTip).toBeGreaterThan(downBase); // the tip is below the base: pointing down
    expect(upTip).toBeLessThan(upBase);
    expect(svg).toContain('>\u22122</text>');
    expect(svg).toContain('>+1</text>');
    expect(svg).toContain('worse by 2 points');
  });

  it('escapes every text it is given and draws an empty chart without ratings', () => {
    const svg = scoresChartSvg(
      { ratings: [], changes: [] },
      { title: '<script>alert("x")</script> & co' },
    );
    wellFormed(svg);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co');
    expect(svg).toContain('No ratings yet');
    expect(chartSummary({ ratings: [], changes: [] })).toBe('No ratings yet.');
  });

  it('hollows an average with more than one area missing', () => {
    const partial: DialogRatings = {
      ratedAt: at(3),
      scores: { 'mental-health': 4, medication: 5 },
    };
    const svg = scoresChartSvg({ ratings: [partial], changes: [] });
    expect(svg).toMatch(/data-series="sqol"[^>]*fill="#ffffff"/);
    expect(svg).toContain('(some areas not rated)');
  });
});

describe('UK dates', () => {
  it('reads the date and time as written, at the offset the value carries', () => {
    expect(ukDate('2025-12-09T23:30:00-05:00')).toBe('9 December 2025');
    expect(ukDate('2025-10-22T00:15:00+01:00')).toBe('22 October 2025');
    expect(ukDate('2026-03-09')).toBe('9 March 2026');
    expect(ukDate('2026-03-09', { short: true })).toBe('9 Mar 2026');
    expect(ukDate('2026-03')).toBe('March 2026');
    expect(ukDate('not a date')).toBe('not a date');
    expect(ukTime('2025-12-09T00:05:00+00:00')).toBe('12:05am');
    expect(ukTime('2025-12-09T14:00:00+00:00')).toBe('2pm');
    expect(ukTime('2025-12-09')).toBeUndefined();
  });
});
