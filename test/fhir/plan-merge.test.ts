import type { Extension } from '@medplum/fhirtypes';
import {
  replaceExtensions,
  sameParty,
  sameTarget,
  withParties,
  withReferences,
} from '../../src/fhir/plan-merge';

const id = (value: string) => ({ system: 'https://s', value });

describe('sameTarget', () => {
  it('matches by reference or by business identifier, not by display', () => {
    expect(sameTarget({ reference: 'Goal/1' }, { reference: 'Goal/1' })).toBe(true);
    expect(
      sameTarget(
        { reference: 'Goal/1', identifier: id('a') },
        { type: 'Goal', identifier: id('a') },
      ),
    ).toBe(true);
    expect(
      sameTarget({ identifier: id('a') }, { identifier: { ...id('a'), system: 'https://t' } }),
    ).toBe(false);
    expect(sameTarget({ display: 'X' }, { display: 'X' })).toBe(false);
    expect(
      sameTarget({ reference: 'Goal/1' }, { reference: 'https://ehr.example/fhir/Goal/1' }),
    ).toBe(true);
  });
});

describe('withReferences and withParties', () => {
  it('append only what is not there, keeping order', () => {
    const existing = [{ reference: 'Goal/1' }, { display: 'kept as found' }];
    expect(withReferences(existing, [{ reference: 'Goal/1' }, { reference: 'Goal/2' }])).toEqual([
      ...existing,
      { reference: 'Goal/2' },
    ]);
  });

  it('treat two unreferenced parties with one name as one', () => {
    expect(sameParty({ display: 'Sam' }, { display: 'Sam' })).toBe(true);
    expect(sameParty({ display: 'Sam' }, { reference: 'Practitioner/s', display: 'Sam' })).toBe(
      false,
    );
    expect(withParties([{ display: 'Sam' }], [{ display: 'Sam' }, { display: 'Priya' }])).toEqual([
      { display: 'Sam' },
      { display: 'Priya' },
    ]);
  });
});

describe('replaceExtensions', () => {
  const a: Extension = { url: 'a', valueString: '1' };
  const b: Extension = { url: 'b', valueString: '2' };
  const c: Extension = { url: 'c', valueString: '3' };
  const owns = (e: Extension): boolean => e.url === 'b';

  it('replaces in place, keeping the others where they were', () => {
    const b2 = { url: 'b', valueString: 'new' };
    expect(replaceExtensions([a, b, c], owns, [b2])).toEqual([a, b2, c]);
  });

  it('appends when there was none, and removes when given none', () => {
    expect(replaceExtensions([a, c], owns, [b])).toEqual([a, c, b]);
    expect(replaceExtensions([a, b, c], owns, [])).toEqual([a, c]);
    expect(replaceExtensions(undefined, owns, [])).toEqual([]);
  });
});
