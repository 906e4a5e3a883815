import {
  codeDisplay,
  dialogQuestionnaire,
  formText,
  itemsByLinkId,
} from '../../src/fhir/package-lookup';

describe('package lookups', () => {
  it('finds the DIALOG Questionnaire and its item texts at any depth', () => {
    expect(dialogQuestionnaire().url).toBe('https://dialog-fhir.org/fhir/Questionnaire/dialog');
    expect(formText('discussed-item.action.by-when')).toBe('By when');
    expect(formText('previous-action')).toBeUndefined();
    expect(formText('no-such-item')).toBeUndefined();
    expect(itemsByLinkId(dialogQuestionnaire()).size).toBeGreaterThan(40);
  });

  it('gives displays from the CodeSystems, and SNOMED ones from the ValueSet', () => {
    expect(codeDisplay('https://dialog-fhir.org/fhir/CodeSystem/dialog-scale', '4')).toBe(
      'in the middle',
    );
    // Nested concepts count too (help-* sit under help-wanted).
    expect(codeDisplay('https://dialog-fhir.org/fhir/CodeSystem/dialog', 'help-meetings')).toBe(
      'More help wanted with meetings with mental health professionals',
    );
    expect(codeDisplay('http://snomed.info/sct', '1037741000000106')).toBe(
      'DIALOG patient rated outcome measure item 10 score - how satisfied are you with practical help received',
    );
    expect(
      codeDisplay('https://dialog-fhir.org/fhir/CodeSystem/dialog-scale', '8'),
    ).toBeUndefined();
  });
});
