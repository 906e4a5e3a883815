/**
 * The person's DIALOG ratings over time as one SVG: eleven small charts (one per area of life and
 * care, 1–7) and a larger one of the two averages, with real (reliable) changes between paired
 * ratings marked. Readable in grey-scale: everything is drawn in near-black on white, and what
 * differs is told by shape and text, never by colour — a circle is a rating, a square the care
 * average, a hollow marker an average with more than one area not rated, a triangle pointing up
 * a real improvement and one pointing down a real decline, each labelled with its size ("+3").
 *
 * Accessible: `role="img"` with `<title>` and `<desc>` (aria-labelledby), a `<title>` on every
 * point, and `scoresTable` gives the same numbers as a table (the text alternative to show beside
 * the chart). Deterministic: the same data gives the same bytes (ids come from `idPrefix`), and
 * the size is set by viewBox only so the chart scales to its container.
 */
import {
  DIALOG_ITEMS,
  SCALE_LABELS,
  SCALE_MAX,
  SCALE_MIN,
  SCALE_NEUTRAL,
  formatMean,
  isDialogScore,
  meanScore,
  parseDateTime,
  type ChangeCategory,
  type DialogItemConcept,
  type DialogRatings,
  type MeanMeasure,
} from '../dialog';
import { dateParts, ukDate } from './uk-date';
import { escapeXml } from './xml';

/** One line of the chart: an item, or one of the two means. */
export type SeriesKey = DialogItemConcept | MeanMeasure;

/** A change between two paired ratings, as a paired-change Observation states it. */
export interface ChartChange {
  readonly series: SeriesKey;
  /** When the baseline rating was made (FHIR dateTime or date). */
  readonly from: string;
  /** When the follow-up rating was made: the marker is drawn at this rating. */
  readonly to: string;
  /** Follow-up − baseline. */
  readonly change: number;
  readonly category: ChangeCategory;
}

export interface ScoresChartData {
  /** The ratings, in any order (drawn in time order); one point per rating and item rated. */
  readonly ratings: readonly DialogRatings[];
  readonly changes: readonly ChartChange[];
}

export interface ScoresChartOptions {
  /** Prefix of the ids in the SVG (title, description), for pages that show several charts. */
  readonly idPrefix?: string;
  /** The chart's accessible name. */
  readonly title?: string;
}

/** Plain names of the two averages, as the person reads them (never "SQoL" or "TS"). */
export const MEAN_NAMES: Readonly<Record<MeanMeasure, string>> = {
  sqol: 'Overall satisfaction with life',
  ts: 'Satisfaction with care',
};

export const MEAN_EXPLANATIONS: Readonly<Record<MeanMeasure, string>> = {
  sqol: 'the average of the 8 areas of your life',
  ts: 'the average of the 3 areas about your care',
};

/** The chart's name for a series. */
export function seriesName(series: SeriesKey): string {
  if (series === 'sqol' || series === 'ts') return MEAN_NAMES[series];
  return DIALOG_ITEMS.find((i) => i.concept === series)?.label ?? series;
}

/** "better by 3 points", "worse by 1 point", "better by 1.96 points". */
export function changeWords(change: ChartChange): string {
  const size = Math.abs(change.change);
  const amount = Number.isInteger(size) ? String(size) : formatMean(size);
  const points = size === 1 ? 'point' : 'points';
  if (change.category === 'reliable-improvement') return `better by ${amount} ${points}`;
  if (change.category === 'reliable-deterioration') return `worse by ${amount} ${points}`;
  return 'about the same';
}

function signed(change: number): string {
  const size = Math.abs(change);
  const text = Number.isInteger(size) ? String(size) : formatMean(size);
  return change < 0 ? `\u2212${text}` : `+${text}`;
}

// ---- the data, in time order ------------------------------------------------------------------

interface Point {
  readonly ratedAt: string;
  readonly instant: number;
  readonly ratings: DialogRatings;
}

/** An instant for a dateTime with offset, else for a date (midday UTC, to sit inside its day). */
function instantOfText(value: string): number | undefined {
  const exact = parseDateTime(value);
  if (exact !== undefined) return exact;
  const parts = dateParts(value);
  if (!parts) return undefined;
  return Date.UTC(parts.year, (parts.month ?? 1) - 1, parts.day ?? 1, 12);
}

function timeline(ratings: readonly DialogRatings[]): Point[] {
  return ratings
    .flatMap((r) => {
      const instant = instantOfText(r.ratedAt);
      return instant === undefined ? [] : [{ ratedAt: r.ratedAt, instant, ratings: r }];
    })
    .sort((a, b) => a.instant - b.instant);
}

function valueAt(
  point: Point,
  series: SeriesKey,
): { value: number; complete: boolean } | undefined {
  if (series === 'sqol' || series === 'ts') {
    const mean = meanScore(point.ratings, series);
    return mean && { value: mean.value, complete: mean.complete };
  }
  const score = point.ratings.scores[series];
  return isDialogScore(score) ? { value: score, complete: true } : undefined;
}

/** Reliable changes whose follow-up is this point (same instant). */
function changesAt(data: ScoresChartData, series: SeriesKey, point: Point): ChartChange[] {
  return data.changes.filter(
    (c) =>
      c.series === series &&
      c.category !== 'no-reliable-change' &&
      instantOfText(c.to) === point.instant,
  );
}

const ALL_SERIES: readonly SeriesKey[] = [...DIALOG_ITEMS.map((i) => i.concept), 'sqol', 'ts'];

function valueText(series: SeriesKey, value: number): string {
  if (series === 'sqol' || series === 'ts') return formatMean(value);
  return String(value);
}

// ---- the text alternative ---------------------------------------------------------------------

export interface ScoresTable {
  readonly caption: string;
  /** Column headings: "Area", then one per rating (its date). */
  readonly header: readonly string[];
  /** One row per series: its name, then one cell per rating. */
  readonly rows: readonly { readonly series: SeriesKey; readonly cells: readonly string[] }[];
}

/**
 * The chart's numbers as a table: one row per area and per average, one column per rating.
 * A cell is the score ("5"), "not rated", or for an average "4.63" (with "some areas not rated"
 * when incomplete); a real change ends the cell with "(better by 3 points)".
 */
export function scoresTable(data: ScoresChartData): ScoresTable {
  const points = timeline(data.ratings);
  const header = ['Area', ...points.map((p) => ukDate(p.ratedAt, { short: true }))];
  const rows = ALL_SERIES.map((series) => ({
    series,
    cells: [
      seriesName(series),
      ...points.map((point) => {
        const at = valueAt(point, series);
        if (!at) return 'not rated';
        const notes = [
          ...(at.complete ? [] : ['some areas not rated']),
          ...changesAt(data, series, point).map(changeWords),
        ];
        const text = valueText(series, at.value);
        return notes.length > 0 ? `${text} (${notes.join('; ')})` : text;
      }),
    ],
  }));
  return {
    caption: 'Your ratings: 1 is totally dissatisfied, 4 is in the middle, 7 is totally satisfied',
    header,
    rows,
  };
}

/** The table as HTML (a `<table>` with caption and header cells), everything escaped. */
export function scoresTableHtml(data: ScoresChartData): string {
  const table = scoresTable(data);
  const head = table.header
    .map((h, i) => `<th scope="col"${i === 0 ? ' class="area"' : ''}>${escapeXml(h)}</th>`)
    .join('');
  const body = table.rows
    .map(({ cells }) => {
      const [name = '', ...rest] = cells;
      return `<tr><th scope="row">${escapeXml(name)}</th>${rest.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table class="scores">\n<caption>${escapeXml(table.caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** A few sentences saying what the chart shows (its `<desc>`). */
export function chartSummary(data: ScoresChartData): string {
  const points = timeline(data.ratings);
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last) return 'No ratings yet.';
  const span =
    points.length === 1
      ? `One rating, on ${ukDate(first.ratedAt)}.`
      : `${points.length} ratings, from ${ukDate(first.ratedAt)} to ${ukDate(last.ratedAt)}.`;
  const real = data.changes.filter(
    (c) =>
      c.category !== 'no-reliable-change' && points.some((p) => p.instant === instantOfText(c.to)),
  );
  const changes =
    real.length === 0
      ? 'No real changes (of 1 point or more) are marked.'
      : `Real changes (1 point or more): ${real
          .map(
            (c) =>
              `${seriesName(c.series)} ${changeWords(c)} from ${ukDate(c.from)} to ${ukDate(c.to)}`,
          )
          .join('; ')}.`;
  return [
    span,
    'Each small chart is one area of your life and care, rated from 1 (totally dissatisfied) to 7 (totally satisfied); the dashed line is 4 (in the middle).',
    `The large chart shows ${MEAN_NAMES.sqol.toLowerCase()} (circles, solid line) and ${MEAN_NAMES.ts.toLowerCase()} (squares, dashed line).`,
    'A triangle pointing up marks a real improvement and a triangle pointing down a real decline.',
    changes,
  ].join(' ');
}

// ---- drawing ----------------------------------------------------------------------------------

const WIDTH = 960;
const COLUMNS = 4;
const CELL_W = WIDTH / COLUMNS;
const CELL_H = 150;
const SMALL_ROWS = 3;
const MEANS_TOP = SMALL_ROWS * CELL_H + 20;
const MEANS_H = 330;
const HEIGHT = MEANS_TOP + MEANS_H + 10;
const INK = '#1a1a1a';
const FAINT = '#767676';
const FONT = 'Arial, Helvetica, sans-serif';

interface Frame {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

function fmt(n: number): string {
  return Number(n.toFixed(2)).toString();
}

function xScale(points: readonly Point[], frame: Frame): (instant: number) => number {
  const first = points[0]?.instant ?? 0;
  const last = points[points.length - 1]?.instant ?? first;
  if (last === first) return () => frame.left + frame.width / 2;
  return (instant) => frame.left + ((instant - first) / (last - first)) * frame.width;
}

function yScale(frame: Frame): (value: number) => number {
  return (value) =>
    frame.top + frame.height - ((value - SCALE_MIN) / (SCALE_MAX - SCALE_MIN)) * frame.height;
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${fmt(x)}" y="${fmt(y)}"${attrs}>${escapeXml(content)}</text>`;
}

function axes(frame: Frame, y: (v: number) => number, ticks: readonly number[]): string {
  const bottom = frame.top + frame.height;
  const right = frame.left + frame.width;
  const neutral = y(SCALE_NEUTRAL);
  return [
    `<path class="axis" d="M${fmt(frame.left)} ${fmt(frame.top)}V${fmt(bottom)}H${fmt(right)}" fill="none" stroke="${FAINT}"/>`,
    `<path class="neutral" d="M${fmt(frame.left)} ${fmt(neutral)}H${fmt(right)}" stroke="${FAINT}" stroke-dasharray="3 3"/>`,
    ...ticks.map((t) =>
      text(frame.left - 6, y(t) + 4, String(t), ' text-anchor="end" font-size="10"'),
    ),
  ].join('');
}

function circle(x: number, y: number, r: number, hollow: boolean): string {
  return `cx="${fmt(x)}" cy="${fmt(y)}" r="${r}" fill="${hollow ? '#ffffff' : INK}" stroke="${INK}" stroke-width="1.5"`;
}

function pointTitle(series: SeriesKey, point: Point, value: number, complete: boolean): string {
  const date = ukDate(point.ratedAt);
  if (series === 'sqol' || series === 'ts') {
    return `${seriesName(series)}, ${date}: ${formatMean(value)}${complete ? '' : ' (some areas not rated)'}`;
  }
  const label = isDialogScore(value) ? SCALE_LABELS[value] : '';
  return `${seriesName(series)}, ${date}: ${value} (${label})`;
}

function marker(
  series: SeriesKey,
  point: Point,
  value: number,
  complete: boolean,
  x: number,
  y: number,
): string {
  const hollow = !complete;
  const title = `<title>${escapeXml(pointTitle(series, point, value, complete))}</title>`;
  const data = `class="point" data-series="${series}" data-rated-at="${escapeXml(point.ratedAt)}" data-value="${escapeXml(valueText(series, value))}"`;
  if (series === 'ts') {
    const s = 4.5;
    return `<rect ${data} x="${fmt(x - s)}" y="${fmt(y - s)}" width="${s * 2}" height="${s * 2}" fill="${hollow ? '#ffffff' : INK}" stroke="${INK}" stroke-width="1.5">${title}</rect>`;
  }
  return `<circle ${data} ${circle(x, y, series === 'sqol' ? 4.5 : 3.5, hollow)}>${title}</circle>`;
}

/**
 * ▲ above the point for a real improvement, ▼ below it for a real decline, with its size; in a
 * lane (the averages' chart, where two lines can meet), centred on the lane instead.
 */
function changeMark(
  change: ChartChange,
  x: number,
  y: number,
  size: number,
  lane: boolean,
): string {
  const up = change.category === 'reliable-improvement';
  const h = size * 1.6;
  const tip = lane ? (up ? y - h / 2 : y + h / 2) : up ? y - 8 - h : y + 8 + h;
  const base = up ? tip + h : tip - h;
  const d = `M${fmt(x)} ${fmt(tip)}L${fmt(x - size)} ${fmt(base)}L${fmt(x + size)} ${fmt(base)}Z`;
  const labelY = Math.max(tip, base) - h / 2 + 4;
  const right = x + size + 3;
  const words = signed(change.change);
  // Near the right edge the label goes to the left of the triangle (about 6 units a character).
  const label =
    right + words.length * 6 > WIDTH
      ? text(
          x - size - 3,
          labelY,
          signed(change.change),
          ' font-size="10" font-weight="bold" text-anchor="end"',
        )
      : text(right, labelY, signed(change.change), ' font-size="10" font-weight="bold"');
  const title = `${seriesName(change.series)}: ${changeWords(change)} since ${ukDate(change.from)} (a real ${up ? 'improvement' : 'decline'})`;
  return `<g class="change" data-series="${change.series}" data-change="${change.category}" data-from="${escapeXml(change.from)}" data-to="${escapeXml(change.to)}"><title>${escapeXml(title)}</title><path d="${d}" fill="${up ? INK : '#ffffff'}" stroke="${INK}" stroke-width="1.5"/>${label}</g>`;
}

function seriesDrawing(
  data: ScoresChartData,
  series: SeriesKey,
  points: readonly Point[],
  x: (i: number) => number,
  y: (v: number) => number,
  markSize: number,
  lane?: number,
): string {
  const present = points.flatMap((p) => {
    const at = valueAt(p, series);
    return at ? [{ point: p, ...at, px: x(p.instant), py: y(at.value) }] : [];
  });
  const line =
    present.length > 1
      ? `<polyline class="line" points="${present.map((p) => `${fmt(p.px)},${fmt(p.py)}`).join(' ')}" fill="none" stroke="${INK}" stroke-width="1.5"${series === 'ts' ? ' stroke-dasharray="6 4"' : ''}/>`
      : '';
  const marks = present
    .map((p) => marker(series, p.point, p.value, p.complete, p.px, p.py))
    .join('');
  const changes = present
    .flatMap((p) =>
      changesAt(data, series, p.point).map((c) =>
        changeMark(c, p.px, lane ?? p.py, markSize, lane !== undefined),
      ),
    )
    .join('');
  return line + marks + changes;
}

/** A panel title, on two lines when long. */
function panelTitle(x: number, y: number, title: string): string {
  if (title.length <= 30) return text(x, y, title, ' font-size="12" font-weight="bold"');
  const words = title.split(' ');
  let first = '';
  while (
    words.length > 0 &&
    (first + ' ' + (words[0] ?? '')).trim().length <= Math.ceil(title.length / 2) + 4
  ) {
    first = `${first} ${words.shift() ?? ''}`.trim();
  }
  return (
    text(x, y - 7, first, ' font-size="11" font-weight="bold"') +
    text(x, y + 6, words.join(' '), ' font-size="11" font-weight="bold"')
  );
}

function smallPanel(
  data: ScoresChartData,
  series: DialogItemConcept,
  index: number,
  points: readonly Point[],
): string {
  const col = index % COLUMNS;
  const row = Math.floor(index / COLUMNS);
  const frame: Frame = {
    left: col * CELL_W + 30,
    top: row * CELL_H + 34,
    width: CELL_W - 64,
    height: CELL_H - 62,
  };
  const y = yScale(frame);
  const x = xScale(points, frame);
  const first = points[0];
  const last = points[points.length - 1];
  const dates =
    first && last && points.length > 1
      ? text(
          frame.left,
          frame.top + frame.height + 14,
          ukDate(first.ratedAt, { short: true }),
          ' font-size="9"',
        ) +
        text(
          frame.left + frame.width,
          frame.top + frame.height + 14,
          ukDate(last.ratedAt, { short: true }),
          ' font-size="9" text-anchor="end"',
        )
      : '';
  return [
    `<g class="panel" data-series="${series}">`,
    panelTitle(col * CELL_W + 8, row * CELL_H + 18, seriesName(series)),
    axes(frame, y, [1, 4, 7]),
    dates,
    seriesDrawing(data, series, points, x, y, 4),
    '</g>',
  ].join('');
}

function legendPanel(): string {
  const left = 3 * CELL_W + 12;
  const top = 2 * CELL_H + 14;
  const line = (i: number): number => top + 18 + i * 22;
  return [
    '<g class="legend">',
    text(left, top + 4, 'How to read these charts', ' font-size="12" font-weight="bold"'),
    `<circle ${circle(left + 6, line(0) - 4, 3.5, false)}/>`,
    text(left + 18, line(0), 'a rating (1 to 7)', ' font-size="11"'),
    `<path d="M${left} ${line(1) - 4}H${left + 14}" stroke="${FAINT}" stroke-dasharray="3 3"/>`,
    text(left + 18, line(1), '4 = in the middle', ' font-size="11"'),
    `<path d="M${left + 6} ${line(2) - 10}L${left + 1} ${line(2)}L${left + 11} ${line(2)}Z" fill="${INK}"/>`,
    text(left + 18, line(2), 'real improvement (1 point or more)', ' font-size="11"'),
    `<path d="M${left + 6} ${line(3)}L${left + 1} ${line(3) - 10}L${left + 11} ${line(3) - 10}Z" fill="#ffffff" stroke="${INK}" stroke-width="1.5"/>`,
    text(left + 18, line(3), 'real decline (1 point or more)', ' font-size="11"'),
    `<circle ${circle(left + 6, line(4) - 4, 4, true)}/>`,
    text(left + 18, line(4), 'average with areas not rated', ' font-size="11"'),
    '</g>',
  ].join('');
}

function meansPanel(data: ScoresChartData, points: readonly Point[]): string {
  const frame: Frame = {
    left: 50,
    top: MEANS_TOP + 116,
    width: WIDTH - 120,
    height: MEANS_H - 156,
  };
  const y = yScale(frame);
  const x = xScale(points, frame);
  const ticks = points.map((p) =>
    text(
      x(p.instant),
      frame.top + frame.height + 18,
      ukDate(p.ratedAt, { short: true }),
      ' font-size="11" text-anchor="middle"',
    ),
  );
  const lanes: Readonly<Record<MeanMeasure, number>> = { sqol: MEANS_TOP + 80, ts: MEANS_TOP + 98 };
  const key = (row: number, series: MeanMeasure, shape: string): string => {
    const kx = 50;
    const ky = MEANS_TOP + 36 + row * 18;
    return (
      `<path d="M${kx} ${ky - 4}H${kx + 30}" stroke="${INK}" stroke-width="1.5"${series === 'ts' ? ' stroke-dasharray="6 4"' : ''}/>` +
      shape.replace('{x}', fmt(kx + 15)).replace('{y}', fmt(ky - 4)) +
      text(kx + 38, ky, `${MEAN_NAMES[series]} (${MEAN_EXPLANATIONS[series]})`, ' font-size="11"')
    );
  };
  const laneLabel = (series: MeanMeasure, label: string): string =>
    text(frame.left - 6, lanes[series] + 4, label, ' font-size="10" text-anchor="end"');
  return [
    '<g class="panel means">',
    text(8, MEANS_TOP + 14, 'Your averages', ' font-size="14" font-weight="bold"'),
    key(0, 'sqol', `<circle cx="{x}" cy="{y}" r="4.5" fill="${INK}"/>`),
    key(
      1,
      'ts',
      `<rect x="{x}" y="{y}" width="9" height="9" transform="translate(-4.5 -4.5)" fill="${INK}"/>`,
    ),
    text(frame.left, MEANS_TOP + 68, 'Real changes (1 point or more):', ' font-size="10"'),
    laneLabel('sqol', 'Life'),
    laneLabel('ts', 'Care'),
    axes(frame, y, [1, 2, 3, 4, 5, 6, 7]),
    ...ticks,
    seriesDrawing(data, 'sqol', points, x, y, 5, lanes.sqol),
    seriesDrawing(data, 'ts', points, x, y, 5, lanes.ts),
    '</g>',
  ].join('');
}

/** The chart as a standalone SVG document fragment (`<svg …>…</svg>`, no XML declaration). */
export function scoresChartSvg(data: ScoresChartData, options: ScoresChartOptions = {}): string {
  const id = options.idPrefix ?? 'dialog-scores';
  const title = options.title ?? 'Your ratings over time';
  const points = timeline(data.ratings);
  const panels =
    points.length === 0
      ? [text(WIDTH / 2, HEIGHT / 2, 'No ratings yet', ' text-anchor="middle" font-size="14"')]
      : [
          ...DIALOG_ITEMS.map((item, i) => smallPanel(data, item.concept, i, points)),
          legendPanel(),
          meansPanel(data, points),
        ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${escapeXml(id)}-title ${escapeXml(id)}-desc" font-family="${FONT}" fill="${INK}">`,
    `<title id="${escapeXml(id)}-title">${escapeXml(title)}</title>`,
    `<desc id="${escapeXml(id)}-desc">${escapeXml(chartSummary(data))}</desc>`,
    `<rect class="background" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    ...panels,
    '</svg>',
  ].join('\n');
}
