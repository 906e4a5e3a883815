import * as dialog from '../../src/dialog';
import * as items from '../../src/dialog/items';
import * as scale from '../../src/dialog/scale';
import * as instant from '../../src/dialog/instant';
import * as zonedTime from '../../src/dialog/zoned-time';
import * as ratings from '../../src/dialog/ratings';
import * as scoring from '../../src/dialog/scoring';
import * as pairedChange from '../../src/dialog/paired-change';
import * as timepoints from '../../src/dialog/timepoints';
import * as reuse from '../../src/dialog/reuse';
import * as notRated from '../../src/dialog/not-rated';

const modules = {
  items,
  scale,
  instant,
  zonedTime,
  ratings,
  scoring,
  pairedChange,
  timepoints,
  reuse,
  notRated,
};

describe('src/dialog entry file', () => {
  it.each(Object.entries(modules))('re-exports everything %s offers', (_name, module) => {
    for (const [key, value] of Object.entries(module)) {
      expect(dialog).toHaveProperty(key);
      expect((dialog as Record<string, unknown>)[key]).toBe(value);
    }
  });

  it('exports nothing that no module offers (no name clashes hide one)', () => {
    const offered = new Set(Object.values(modules).flatMap((m) => Object.keys(m)));
    const count = Object.values(modules).reduce((n, m) => n + Object.keys(m).length, 0);
    expect(offered.size).toBe(count);
    expect(Object.keys(dialog).sort()).toEqual([...offered].sort());
  });
});
