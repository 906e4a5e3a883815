import fc from 'fast-check';
import {
  el,
  elWith,
  lines,
  narrativeDiv,
  render,
  type Attributes,
  type Tag,
} from '../../src/narrative';
import { checkNarrative, elementNames, sayings, withoutNonXml } from './xhtml-check';

describe('the narrative XHTML builder', () => {
  it('roots the narrative in an XHTML div and writes well-formed XML', () => {
    const div = narrativeDiv(el('h3', 'Plan'), el('p', 'One ', el('b', 'two'), el('br'), 3));
    expect(div).toBe(
      '<div xmlns="http://www.w3.org/1999/xhtml"><h3>Plan</h3><p>One <b>two</b><br/>3</p></div>',
    );
    expect(elementNames(checkNarrative(div))).toEqual(['div', 'h3', 'p', 'b', 'br']);
  });

  it('escapes text and attribute values, and drops characters XML cannot hold', () => {
    expect(render(el('p', '<script>alert("x")</script> & \'y\''))).toBe(
      '<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;</p>',
    );
    expect(render(elWith('span', { title: '"><img src=x onerror=alert(1)>' }, 'a'))).toBe(
      '<span title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">a</span>',
    );
    expect(render(el('p', 'a\u0000b\u0007c\uFFFEd\uD800e'))).toBe('<p>abcde</p>');
    expect(render(el('p', ']]>'))).toBe('<p>]]&gt;</p>');
  });

  it('leaves out false, null and undefined children and flattens arrays', () => {
    expect(render(el('ul', [el('li', 'a'), false, [null, el('li', 'b')], undefined]))).toBe(
      '<ul><li>a</li><li>b</li></ul>',
    );
    expect(render(el('p', lines('one\ntwo\r\nthree')))).toBe('<p>one<br/>two<br/>three</p>');
  });

  it('refuses what the FHIR narrative rules do not allow, even through a cast', () => {
    const tag = (name: string): Tag => name as Tag;
    const attrs = (a: Record<string, unknown>): Attributes => a as Attributes;
    for (const bad of ['script', 'img', 'style', 'iframe', 'object', 'form', 'link', 'body'])
      expect(() => render(el(tag(bad), 'x'))).toThrow(/not allowed/);
    expect(() => render(elWith('p', attrs({ onclick: 'x()' })))).toThrow(/not allowed/);
    expect(() => render(elWith('p', attrs({ src: 'http://x' })))).toThrow(/not allowed/);
    expect(() => render(elWith('a', attrs({ href: 'https://evil.example/' })))).toThrow(/fragment/);
    expect(() => render(elWith('a', attrs({ href: 'javascript:alert(1)' })))).toThrow(/fragment/);
    expect(() => render(elWith('p', attrs({ href: '#x' })))).toThrow(/only for <a>/);
    expect(() => render(elWith('p', { style: 'background: url(http://x/y.png)' }))).toThrow(
      /simple/,
    );
    expect(() => render(elWith('p', { style: 'width: expression(alert(1))' }))).toThrow(/simple/);
    expect(() => render(elWith('p', { id: 'a b' }))).toThrow(/name token/);
    expect(() => el('br', 'x')).toThrow(/content/);
    expect(render(elWith('a', { href: '#goals' }, 'Goals'))).toBe('<a href="#goals">Goals</a>');
    expect(render(elWith('td', { colspan: 2, style: 'text-align: right' }, 'x'))).toBe(
      '<td colspan="2" style="text-align: right">x</td>',
    );
  });

  it('never turns any string into markup (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'grapheme-composite' }),
        (a, b) => {
          const div = narrativeDiv(el('p', a), elWith('span', { title: b }, b));
          const tree = checkNarrative(div);
          expect(elementNames(tree)).toEqual(['div', 'p', 'span']);
          const [p, span] = tree.children;
          expect(typeof p === 'object' && p.children.join('')).toBe(withoutNonXml(a));
          expect(typeof span === 'object' && span.attributes.title).toBe(withoutNonXml(b));
          expect(sayings(div).length).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
