/**
 * The DIALOG ratings as a table, shared by the response and the plan: the 11 areas in SNOMED order
 * with each rating and its scale label, whether more help is wanted, and — when the rating before
 * is given — last time's rating and what changed (reliable improvement / deterioration, by DIALOG's
 * threshold of 1 point); then the two averages, an incomplete one said to be so.
 */
import {
  classifyChange,
  classifyMeanChange,
  DIALOG_ITEMS,
  formatMean,
  MAX_MISSING_ITEMS_FOR_COMPLETE,
  meanScore,
  missingConcepts,
  type DialogRatings,
  type MeanMeasure,
} from '../dialog';
import { el, elWith, type XElement, type XNode } from './xhtml';
import { bandWords, CHANGE_WORDS, MEAN_NAMES, scoreWithLabel, signed, yesNo } from './words';

export interface RatingsTableOptions {
  /** The rating before this one, to say what changed since last time. */
  readonly previous?: DialogRatings;
  readonly caption?: string;
}

function changeCell(change: number, mean: boolean, words: string): string {
  return `${signed(change, mean)}: ${words}`;
}

function meanRow(
  ratings: DialogRatings,
  measure: MeanMeasure,
  previous: DialogRatings | undefined,
  helpColumn: boolean,
): XElement | undefined {
  const mean = meanScore(ratings, measure);
  const before = previous && meanScore(previous, measure);
  const value = mean
    ? `${formatMean(mean.value)} (${bandWords(mean.value)}${mean.complete ? '' : '; incomplete'})`
    : 'Cannot be worked out: no area in this group was rated';
  const cells: XNode[] = [elWith('th', { scope: 'row' }, MEAN_NAMES[measure]), el('td', value)];
  if (helpColumn) cells.push(el('td'));
  if (previous) {
    const beforeText = before
      ? `${formatMean(before.value)}${before.complete ? '' : ' (incomplete)'}`
      : 'Not worked out';
    cells.push(el('td', beforeText));
    cells.push(
      el(
        'td',
        mean && before
          ? changeCell(
              mean.value - before.value,
              true,
              CHANGE_WORDS[classifyMeanChange(before, mean)],
            )
          : '',
      ),
    );
  }
  return el('tr', cells);
}

/** The ratings table (and a note when the averages are incomplete). */
export function ratingsTable(ratings: DialogRatings, options: RatingsTableOptions = {}): XNode[] {
  const { previous } = options;
  const helpColumn = ratings.helpWanted !== undefined;
  const head = [
    elWith('th', { scope: 'col' }, 'Area'),
    elWith('th', { scope: 'col' }, 'Rating'),
    helpColumn && elWith('th', { scope: 'col' }, 'More help wanted'),
    previous && elWith('th', { scope: 'col' }, 'Last time'),
    previous && elWith('th', { scope: 'col' }, 'Change since last time'),
  ];
  const rows = DIALOG_ITEMS.map((item) => {
    const score = ratings.scores[item.concept];
    const before = previous?.scores[item.concept];
    return el(
      'tr',
      elWith('th', { scope: 'row' }, item.label),
      el('td', score === undefined ? 'Not rated' : scoreWithLabel(score)),
      helpColumn && el('td', yesNo(ratings.helpWanted?.[item.concept])),
      previous && el('td', before === undefined ? 'Not rated' : scoreWithLabel(before)),
      previous &&
        el(
          'td',
          score !== undefined && before !== undefined
            ? changeCell(score - before, false, CHANGE_WORDS[classifyChange(score - before)])
            : '',
        ),
    );
  });
  const means = (['sqol', 'ts'] as const).flatMap(
    (m) => meanRow(ratings, m, previous, helpColumn) ?? [],
  );
  const missing = missingConcepts(ratings).length;
  const table = el(
    'table',
    options.caption !== undefined && el('caption', options.caption),
    el('thead', el('tr', head)),
    el('tbody', rows, means),
  );
  return [
    table,
    missing > MAX_MISSING_ITEMS_FOR_COMPLETE &&
      el(
        'p',
        `${missing} of the 11 areas were not rated, so the averages may be substantially affected: read them as incomplete.`,
      ),
  ].filter((n): n is XElement => n !== false);
}
