/** The DIALOG 7-point satisfaction scale. Scores outside 1–7 (or not whole numbers) are invalid. */

export type DialogScore = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const SCALE_LABELS: Readonly<Record<DialogScore, string>> = {
  1: 'totally dissatisfied',
  2: 'very dissatisfied',
  3: 'fairly dissatisfied',
  4: 'in the middle',
  5: 'fairly satisfied',
  6: 'very satisfied',
  7: 'totally satisfied',
};

export const SCALE_MIN = 1;
export const SCALE_MAX = 7;
/** The neutral point: below it a rating reads as dissatisfied, above it as satisfied. */
export const SCALE_NEUTRAL = 4;

export function isDialogScore(value: unknown): value is DialogScore {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= SCALE_MIN && value <= SCALE_MAX
  );
}

export function scaleLabel(score: DialogScore): string {
  return SCALE_LABELS[score];
}

export type SatisfactionBand = 'dissatisfied' | 'neutral' | 'satisfied';

/** Reads a score or a mean: below 4 dissatisfied, 4 neutral, above 4 satisfied. */
export function satisfactionBand(value: number): SatisfactionBand {
  if (value < SCALE_NEUTRAL) return 'dissatisfied';
  if (value > SCALE_NEUTRAL) return 'satisfied';
  return 'neutral';
}
