import { deepFreeze, RecentVersions } from '../../src/store/recent-versions';

const text = (id: string, pad = 0): string =>
  JSON.stringify({ resourceType: 'Patient', id, name: [{ family: 'x'.repeat(pad) }] });

describe('RecentVersions', () => {
  it('gives a kept version only for the row it was read from', () => {
    const recent = new RecentVersions();
    const kept = recent.keep('Patient/a', 7, text('a'));
    expect(kept.resource).toEqual(JSON.parse(text('a')));
    expect(recent.get('Patient/a', 7)).toBe(kept);
    // Another row is current now: a miss, and the stale entry goes.
    expect(recent.get('Patient/a', 8)).toBeUndefined();
    expect(recent.size).toBe(0);
    expect(recent.get('Patient/b', 7)).toBeUndefined();
  });

  it('keeps at most its entries and its text, dropping the least recently used first', () => {
    const recent = new RecentVersions(1_000_000, 2);
    recent.keep('Patient/a', 1, text('a'));
    recent.keep('Patient/b', 2, text('b'));
    expect(recent.get('Patient/a', 1)).toBeDefined(); // a is now the most recently used
    recent.keep('Patient/c', 3, text('c'));
    expect([recent.get('Patient/b', 2), recent.size]).toEqual([undefined, 2]);
    expect(recent.get('Patient/a', 1)).toBeDefined();
    expect(recent.get('Patient/c', 3)).toBeDefined();

    // Nine texts of 908 characters are over 8,000: the first goes.
    const small = new RecentVersions(8000, 100);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    ids.forEach((id, seq) => small.keep(`Patient/${id}`, seq, text(id, 850)));
    expect(text('a', 850)).toHaveLength(908);
    expect([small.get('Patient/a', 0), small.size]).toEqual([undefined, 8]);
    expect(small.get('Patient/i', 8)).toBeDefined();
  });

  it('hands out a version too long to keep without keeping it', () => {
    const recent = new RecentVersions(8000, 100);
    const long = recent.keep('Patient/a', 1, text('a', 2000));
    expect(long.resource.id).toBe('a');
    expect(Object.isFrozen(long.resource)).toBe(true);
    expect(recent.size).toBe(0);
  });

  it('replacing an entry counts its text once', () => {
    const recent = new RecentVersions(3000, 100);
    for (let seq = 1; seq <= 20; seq++) recent.keep('Patient/a', seq, text('a', 300));
    recent.keep('Patient/b', 21, text('b', 300));
    expect(recent.get('Patient/a', 20)).toBeDefined();
    expect(recent.get('Patient/b', 21)).toBeDefined();
  });
});

describe('deepFreeze', () => {
  it('freezes every object and array in a parsed value', () => {
    const value = deepFreeze(JSON.parse('{"a":[{"b":{"c":[1,2]}}],"d":"e"}') as unknown) as {
      a: { b: { c: number[] } }[];
    };
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.a)).toBe(true);
    expect(Object.isFrozen(value.a[0]?.b.c)).toBe(true);
    expect(() => value.a[0]?.b.c.push(3)).toThrow(TypeError);
  });
});
