import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIALOG_ITEMS } from '../../src/dialog';

// The domain's item table and the FHIR package must say the same: one SNOMED display, one question.
const packageFile = (name: string): unknown =>
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'profiles', 'package', name), 'utf8'));

interface Concept {
  code: string;
  display: string;
}
interface Item {
  linkId: string;
  text?: string;
  code?: { code: string }[];
  item?: Item[];
}

const valueSet = packageFile('ValueSet-dialog-items.json') as {
  compose: { include: { concept: Concept[] }[] };
};
const questionnaire = packageFile('Questionnaire-dialog.json') as { item: Item[] };
const ratings = questionnaire.item.find((i) => i.linkId === 'ratings')?.item ?? [];

describe.each(DIALOG_ITEMS.map((i) => [i.concept, i] as const))('%s', (concept, item) => {
  it('has the SNOMED display of the dialog-items ValueSet', () => {
    const listed = valueSet.compose.include[0]?.concept.find((c) => c.code === item.snomed);
    expect(listed?.display).toBe(item.snomedDisplay);
  });

  it('asks the question the Questionnaire asks, under its SNOMED code', () => {
    const score = ratings
      .find((g) => g.linkId === concept)
      ?.item?.find((i) => i.linkId === `${concept}.score`);
    expect(score?.text).toBe(item.question);
    expect(score?.code?.[0]?.code).toBe(item.snomed);
  });
});

it('keeps the Questionnaire in SNOMED order', () => {
  const order = ratings.filter((g) => g.linkId.indexOf('-mean') < 0).map((g) => g.linkId);
  expect(order).toEqual(
    [...DIALOG_ITEMS].sort((a, b) => a.snomedNumber - b.snomedNumber).map((i) => i.concept),
  );
});
