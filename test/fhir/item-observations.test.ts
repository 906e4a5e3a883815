import type { QuestionnaireItem } from '@medplum/fhirtypes';
import { ITEM_WEIGHT, observationValue } from '../../src/fhir/item-observations';

describe('observationValue', () => {
  const plain: QuestionnaireItem = { linkId: 'x', type: 'string' };
  const weighted: QuestionnaireItem = {
    linkId: 'w',
    type: 'choice',
    answerOption: [
      {
        valueCoding: { system: 'https://s', code: 'a' },
        extension: [{ url: ITEM_WEIGHT, valueDecimal: 3 }],
      },
    ],
  };

  it.each([
    [{ valueBoolean: true }, { valueBoolean: true }],
    [{ valueInteger: 4 }, { valueInteger: 4 }],
    [{ valueDecimal: 2.5 }, { valueQuantity: { value: 2.5 } }],
    [{ valueString: 'x' }, { valueString: 'x' }],
    [{ valueUri: 'https://x' }, { valueString: 'https://x' }],
    [{ valueDate: '2026-01-02' }, { valueDateTime: '2026-01-02' }],
    [{ valueDateTime: '2026-01-02T10:00:00Z' }, { valueDateTime: '2026-01-02T10:00:00Z' }],
    [{ valueTime: '10:00:00' }, { valueTime: '10:00:00' }],
    [{ valueQuantity: { value: 70, unit: 'kg' } }, { valueQuantity: { value: 70, unit: 'kg' } }],
    [{ valueReference: { reference: 'Patient/p' } }, undefined],
  ])('maps %j to %j', (answer, expected) => {
    expect(observationValue(answer, plain)).toEqual(expected);
  });

  it('records a weighted code as its weight: whole numbers as integers', () => {
    expect(observationValue({ valueCoding: { system: 'https://s', code: 'a' } }, weighted)).toEqual(
      {
        valueInteger: 3,
      },
    );
    // The weight belongs to the option with that system and code, not just that code.
    expect(observationValue({ valueCoding: { system: 'https://t', code: 'a' } }, weighted)).toEqual(
      {
        valueCodeableConcept: { coding: [{ system: 'https://t', code: 'a' }] },
      },
    );
  });

  it('takes a weight carried on the answer coding itself', () => {
    const coding = {
      system: 'https://t',
      code: 'b',
      extension: [{ url: ITEM_WEIGHT, valueDecimal: 0.5 }],
    };
    expect(observationValue({ valueCoding: coding }, plain)).toEqual({
      valueQuantity: { value: 0.5 },
    });
  });
});
