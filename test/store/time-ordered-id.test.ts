import { timeOrderedId } from '../../src/store';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedId', () => {
  it('is a version 7 UUID whose first 48 bits are the time in milliseconds', () => {
    const at = Date.UTC(2026, 10, 24, 16, 30);
    const id = timeOrderedId(at + 1000);
    expect(id).toMatch(UUID_V7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at + 1000);
  });

  it('sorts in the order made, within a millisecond and across them, and never repeats', () => {
    const at = Date.UTC(2030, 0, 1);
    const ids = [
      ...Array.from({ length: 5000 }, () => timeOrderedId(at)),
      ...Array.from({ length: 10 }, (_, i) => timeOrderedId(at + 1 + i)),
    ];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });

  it('has fresh random bits in every id, across refills of its random pool', () => {
    const at = Date.UTC(2032, 0, 1);
    // 410 ids use up a 4 KB pool: 5000 take it through a dozen refills.
    const randomParts = Array.from({ length: 5000 }, (_, i) => timeOrderedId(at + i).slice(19));
    expect(new Set(randomParts).size).toBe(randomParts.length);
  });

  it('stays in order when the clock goes back', () => {
    const at = Date.UTC(2031, 0, 1);
    const first = timeOrderedId(at);
    const afterStep = timeOrderedId(at - 60_000);
    expect(afterStep > first).toBe(true);
  });
});
