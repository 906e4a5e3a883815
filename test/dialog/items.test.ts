import {
  DIALOG_ITEMS,
  DIALOG_ITEMS_APP_ORDER,
  LIFE_ITEMS,
  SNOMED_SYSTEM,
  TREATMENT_ITEMS,
  isDialogItemConcept,
  itemByConcept,
  itemBySnomed,
} from '../../src/dialog/items';

// The table in DIALOG.md: concept, group, SNOMED code, SNOMED number, app number.
const expected = [
  {
    concept: 'mental-health',
    group: 'life',
    snomed: '1037651000000100',
    snomedNumber: 1,
    appNumber: 1,
  },
  {
    concept: 'physical-health',
    group: 'life',
    snomed: '1037661000000102',
    snomedNumber: 2,
    appNumber: 2,
  },
  {
    concept: 'job-situation',
    group: 'life',
    snomed: '1037671000000109',
    snomedNumber: 3,
    appNumber: 3,
  },
  {
    concept: 'accommodation',
    group: 'life',
    snomed: '1037681000000106',
    snomedNumber: 4,
    appNumber: 4,
  },
  {
    concept: 'leisure-activities',
    group: 'life',
    snomed: '1037691000000108',
    snomedNumber: 5,
    appNumber: 5,
  },
  {
    concept: 'friendships',
    group: 'life',
    snomed: '1037701000000108',
    snomedNumber: 6,
    appNumber: 7,
  },
  {
    concept: 'partner-family',
    group: 'life',
    snomed: '1037711000000105',
    snomedNumber: 7,
    appNumber: 6,
  },
  {
    concept: 'personal-safety',
    group: 'life',
    snomed: '1037721000000104',
    snomedNumber: 8,
    appNumber: 8,
  },
  {
    concept: 'medication',
    group: 'treatment',
    snomed: '1037731000000102',
    snomedNumber: 9,
    appNumber: 9,
  },
  {
    concept: 'practical-help',
    group: 'treatment',
    snomed: '1037741000000106',
    snomedNumber: 10,
    appNumber: 10,
  },
  {
    concept: 'meetings',
    group: 'treatment',
    snomed: '1037751000000109',
    snomedNumber: 11,
    appNumber: 11,
  },
] as const;

describe('DIALOG items', () => {
  it('has the 11 items of DIALOG.md in SNOMED order', () => {
    expect(
      DIALOG_ITEMS.map(({ concept, group, snomed, snomedNumber, appNumber }) => ({
        concept,
        group,
        snomed,
        snomedNumber,
        appNumber,
      })),
    ).toEqual(expected);
  });

  it('has unique concepts, SNOMED codes and numbers', () => {
    for (const key of ['concept', 'snomed', 'snomedNumber', 'appNumber'] as const) {
      expect(new Set(DIALOG_ITEMS.map((i) => i[key])).size).toBe(11);
    }
  });

  it('splits into 8 life and 3 treatment items', () => {
    expect(LIFE_ITEMS).toHaveLength(8);
    expect(TREATMENT_ITEMS.map((i) => i.concept)).toEqual([
      'medication',
      'practical-help',
      'meetings',
    ]);
  });

  it('puts partner/family before friendships in app order, after in SNOMED order', () => {
    const app = DIALOG_ITEMS_APP_ORDER.map((i) => i.concept);
    const snomed = DIALOG_ITEMS.map((i) => i.concept);
    expect(app.indexOf('partner-family')).toBe(5);
    expect(app.indexOf('friendships')).toBe(6);
    expect(snomed.indexOf('friendships')).toBe(5);
    expect(snomed.indexOf('partner-family')).toBe(6);
  });

  it('matches the DIALOG+ app CSV column order', () => {
    const csvColumns: [string, string][] = [
      ['Mental Health', 'mental-health'],
      ['Physical Health', 'physical-health'],
      ['Job Situation', 'job-situation'],
      ['Accommodation', 'accommodation'],
      ['Leisure Activities', 'leisure-activities'],
      ['Partner / Family', 'partner-family'],
      ['Friendships', 'friendships'],
      ['Personal Safety', 'personal-safety'],
      ['Medication', 'medication'],
      ['Practical Help', 'practical-help'],
      ['Meetings', 'meetings'],
    ];
    expect(DIALOG_ITEMS_APP_ORDER.map((i) => i.concept)).toEqual(csvColumns.map(([, c]) => c));
  });

  it('writes the question and SNOMED display text', () => {
    const item = itemByConcept('friendships');
    expect(item?.question).toBe('How satisfied are you with your friendships?');
    expect(item?.snomedDisplay).toBe(
      'DIALOG patient rated outcome measure item 6 score - how satisfied are you with friendships',
    );
    expect(SNOMED_SYSTEM).toBe('http://snomed.info/sct');
  });

  it.each(expected)(
    'finds $concept by concept and by SNOMED code $snomed',
    ({ concept, snomed }) => {
      expect(itemByConcept(concept)?.snomed).toBe(snomed);
      expect(itemBySnomed(snomed)?.concept).toBe(concept);
      expect(isDialogItemConcept(concept)).toBe(true);
    },
  );

  it.each([
    '',
    'Mental Health',
    'mental_health',
    '1',
    '6',
    'toString',
    '__proto__',
    '1037651000000101',
  ])('finds nothing for %j', (value) => {
    expect(itemByConcept(value)).toBeUndefined();
    expect(itemBySnomed(value)).toBeUndefined();
    expect(isDialogItemConcept(value)).toBe(false);
  });
});
