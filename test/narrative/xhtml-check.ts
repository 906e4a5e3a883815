/**
 * A strict checker for narrative XHTML (not a test file). It accepts only what a FHIR narrative
 * may hold and what well-formed XML allows: a `<div xmlns="http://www.w3.org/1999/xhtml">` root,
 * start, end and empty-element tags with double-quoted attributes, text, and the five XML entities
 * or numeric character references. Comments, CDATA, processing instructions and doctype are
 * refused; so are elements and attributes outside the narrative allow-lists, `href`s that leave
 * the narrative, and characters XML 1.0 cannot hold. It gives back the tree and the decoded text.
 */
import { ALLOWED_ATTRIBUTES, ALLOWED_ELEMENTS, XHTML_NAMESPACE } from '../../src/narrative';

export interface CheckedElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: (CheckedElement | string)[];
}

const ELEMENTS: ReadonlySet<string> = new Set(ALLOWED_ELEMENTS);
const ATTRIBUTES: ReadonlySet<string> = new Set(ALLOWED_ATTRIBUTES);
const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?$/;
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([0-9A-Fa-f]+));/y;
const NAMED: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

/** Characters XML 1.0 cannot hold, as the narrative builder drops them. */
export function withoutNonXml(text: string): string {
  return text.replace(new RegExp(NOT_XML_CHAR.source, 'g'), '');
}

class Parser {
  private at = 0;
  constructor(private readonly src: string) {}

  fail(message: string): never {
    throw new Error(
      `${message} at ${this.at}: …${this.src.slice(Math.max(0, this.at - 30), this.at + 30)}…`,
    );
  }

  /** Character data up to the next `<`, entities decoded; `>` and `&` must be escaped. */
  text(): string {
    let out = '';
    while (this.at < this.src.length && this.src[this.at] !== '<') {
      const c = this.src[this.at] ?? '';
      if (c === '&') out += this.entity();
      else if (c === '>') this.fail('an unescaped >');
      else {
        out += c;
        this.at += 1;
      }
    }
    return out;
  }

  entity(): string {
    ENTITY.lastIndex = this.at;
    const m = ENTITY.exec(this.src);
    if (!m) this.fail('a stray &');
    this.at = ENTITY.lastIndex;
    const [, named, dec, hex] = m;
    if (named) return NAMED[named] ?? '';
    const code = dec !== undefined ? Number(dec) : parseInt(hex ?? '', 16);
    const char = String.fromCodePoint(code);
    if (NOT_XML_CHAR.test(char)) this.fail('a reference to a character XML cannot hold');
    return char;
  }

  name(): string {
    const m = /^[A-Za-z_][\w.:-]*/.exec(this.src.slice(this.at));
    if (!m || !NAME.test(m[0])) this.fail('a name expected');
    this.at += m[0].length;
    return m[0];
  }

  spaces(): boolean {
    const start = this.at;
    while (/\s/.test(this.src[this.at] ?? '')) this.at += 1;
    return this.at > start;
  }

  attributeValue(): string {
    if (this.src[this.at] !== '"') this.fail('a double-quoted attribute value expected');
    this.at += 1;
    let out = '';
    while (this.src[this.at] !== '"') {
      const c = this.src[this.at];
      if (c === undefined || c === '<') this.fail('an unterminated or bad attribute value');
      if (c === '&') out += this.entity();
      else {
        out += c;
        this.at += 1;
      }
    }
    this.at += 1;
    return out;
  }

  element(root: boolean): CheckedElement {
    if (this.src[this.at] !== '<') this.fail('< expected');
    if (/^<[!?]/.test(this.src.slice(this.at)))
      this.fail('comments, CDATA, doctype and PIs are not narrative');
    this.at += 1;
    const name = this.name();
    if (!ELEMENTS.has(name)) this.fail(`<${name}> is not allowed`);
    const attributes: Record<string, string> = {};
    for (;;) {
      const spaced = this.spaces();
      const c = this.src[this.at];
      if (c === '>' || c === '/') break;
      if (!spaced) this.fail('a space expected between attributes');
      const key = this.name();
      if (this.src[this.at] !== '=') this.fail('= expected');
      this.at += 1;
      const value = this.attributeValue();
      if (key in attributes) this.fail(`a duplicate attribute ${key}`);
      attributes[key] = value;
    }
    for (const [key, value] of Object.entries(attributes)) {
      if (root && key === 'xmlns') {
        if (value !== XHTML_NAMESPACE) this.fail('the root namespace must be XHTML');
        continue;
      }
      if (!ATTRIBUTES.has(key)) this.fail(`attribute ${key} is not allowed`);
      if (/^on/i.test(key)) this.fail('an event attribute');
      if (key === 'href' && !value.startsWith('#')) this.fail('an href leaving the narrative');
      if (key === 'style' && /[()]|url|expression|@import|javascript/i.test(value))
        this.fail('a style that can fetch or run something');
    }
    if (root && (name !== 'div' || attributes.xmlns !== XHTML_NAMESPACE))
      this.fail('the root must be <div xmlns="http://www.w3.org/1999/xhtml">');
    if (this.src.startsWith('/>', this.at)) {
      this.at += 2;
      return { name, attributes, children: [] };
    }
    this.at += 1;
    const children: (CheckedElement | string)[] = [];
    for (;;) {
      const text = this.text();
      if (text !== '') children.push(text);
      if (this.at >= this.src.length) this.fail(`<${name}> is not closed`);
      if (this.src.startsWith('</', this.at)) {
        this.at += 2;
        const closing = this.name();
        this.spaces();
        if (closing !== name) this.fail(`</${closing}> closes <${name}>`);
        if (this.src[this.at] !== '>') this.fail('> expected');
        this.at += 1;
        return { name, attributes, children };
      }
      children.push(this.element(false));
    }
  }

  document(): CheckedElement {
    if (NOT_XML_CHAR.test(this.src)) this.fail('a character XML cannot hold');
    const root = this.element(true);
    if (this.at !== this.src.length) this.fail('content after the root element');
    return root;
  }
}

/** Parses and checks a narrative div; throws with where and why when it is not acceptable. */
export function checkNarrative(div: string): CheckedElement {
  return new Parser(div).document();
}

/** Every element name in the tree, root first. */
export function elementNames(node: CheckedElement): string[] {
  return [
    node.name,
    ...node.children.flatMap((c) => (typeof c === 'string' ? [] : elementNames(c))),
  ];
}

const BLOCK = new Set([
  'p',
  'div',
  'li',
  'tr',
  'td',
  'th',
  'h3',
  'h4',
  'h5',
  'dt',
  'dd',
  'caption',
  'br',
  'ul',
  'table',
  'dl',
]);

/** The decoded text, with a space where a block or cell ends (for "the narrative says …"). */
export function plainText(node: CheckedElement): string {
  const parts = node.children.map((c) => (typeof c === 'string' ? c : plainText(c)));
  const joined = parts.join('');
  return BLOCK.has(node.name) ? ` ${joined} ` : joined;
}

/** plainText with runs of white space as one space. */
export function sayings(div: string): string {
  return plainText(checkNarrative(div)).replace(/\s+/g, ' ').trim();
}
