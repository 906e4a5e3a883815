import {
  SCALE_LABELS,
  SCALE_MAX,
  SCALE_MIN,
  SCALE_NEUTRAL,
  isDialogScore,
  satisfactionBand,
  scaleLabel,
} from '../../src/dialog/scale';
import type { DialogScore } from '../../src/dialog/scale';

describe('the DIALOG scale', () => {
  it('runs 1–7 with 4 neutral', () => {
    expect([SCALE_MIN, SCALE_NEUTRAL, SCALE_MAX]).toEqual([1, 4, 7]);
  });

  it.each([
    [1, 'totally dissatisfied'],
    [2, 'very dissatisfied'],
    [3, 'fairly dissatisfied'],
    [4, 'in the middle'],
    [5, 'fairly satisfied'],
    [6, 'very satisfied'],
    [7, 'totally satisfied'],
  ] as [DialogScore, string][])('labels %i "%s"', (score, label) => {
    expect(scaleLabel(score)).toBe(label);
    expect(SCALE_LABELS[score]).toBe(label);
    expect(isDialogScore(score)).toBe(true);
  });

  it.each([
    { desc: 'zero', value: 0 },
    { desc: 'eight', value: 8 },
    { desc: 'a fraction', value: 7.5 },
    { desc: 'a numeric string', value: '7' },
    { desc: 'null', value: null },
    { desc: 'undefined', value: undefined },
    { desc: 'NaN', value: NaN },
    { desc: 'Infinity', value: Infinity },
    { desc: 'a negative', value: -1 },
    { desc: 'a boolean', value: true },
    { desc: 'a bigint', value: BigInt(7) },
    { desc: 'a boxed number', value: Object(7) as unknown },
    { desc: 'an array', value: [7] },
  ])('rejects $desc', ({ value }) => {
    expect(isDialogScore(value)).toBe(false);
  });

  it.each([
    { value: 1, band: 'dissatisfied' },
    { value: 3.875, band: 'dissatisfied' },
    { value: 3.999, band: 'dissatisfied' },
    { value: 4, band: 'neutral' },
    { value: 4.001, band: 'satisfied' },
    { value: 4.125, band: 'satisfied' },
    { value: 7, band: 'satisfied' },
  ])('reads $value as $band', ({ value, band }) => {
    expect(satisfactionBand(value)).toBe(band);
  });
});
