/** src/service/page-links.ts: the paging links of a search's or a history's page. */
import { pageLinks } from '../../src/service/page-links';

const rels = (links: { relation?: string; url?: string }[]): Record<string, string> =>
  Object.fromEntries(links.map((l) => [l.relation ?? '', l.url ?? '']));

describe('pageLinks', () => {
  const query = new URLSearchParams({ subject: 'Patient/p1', _count: '9', _offset: '9' });

  it('keeps the query, sets the page, and links next and previous where there are pages', () => {
    expect(rels(pageLinks('Goal', query, { offset: 2, count: 2 }, true))).toEqual({
      self: 'Goal?subject=Patient%2Fp1&_count=2&_offset=2',
      next: 'Goal?subject=Patient%2Fp1&_count=2&_offset=4',
      previous: 'Goal?subject=Patient%2Fp1&_count=2&_offset=0',
    });
  });

  it('has no next on the last page and no previous on the first', () => {
    expect(Object.keys(rels(pageLinks('Goal', query, { offset: 0, count: 2 }, false)))).toEqual([
      'self',
    ]);
  });

  it('a previous page never starts before the first', () => {
    expect(rels(pageLinks('u', new URLSearchParams(), { offset: 1, count: 5 }, false))).toEqual({
      self: 'u?_count=5&_offset=1',
      previous: 'u?_count=5&_offset=0',
    });
  });

  it('a count only (_count=0) links to itself alone, whatever follows', () => {
    expect(Object.keys(rels(pageLinks('u', query, { offset: 4, count: 0 }, true)))).toEqual([
      'self',
    ]);
  });
});
