/**
 * A tiny XHTML tree for FHIR narrative (`Narrative.div`), rendered to a string. There is no way to
 * put markup in from text: every string child becomes a text node and is escaped when rendered, and
 * attribute values are escaped too. Only the elements and attributes the FHIR R4 narrative rules
 * allow can be built (typed, and checked again when rendering, so a cast cannot get round it):
 * no script, style or link elements, no event attributes, no images, and links only to fragments
 * inside the same narrative (`href="#…"`). The root is `<div xmlns="http://www.w3.org/1999/xhtml">`
 * and the output is well-formed XML.
 */
import { escapeXml } from '../charts/xml';

export const XHTML_NAMESPACE = 'http://www.w3.org/1999/xhtml';

/**
 * The narrative subset of XHTML that FHIR R4 allows (HTML 4.0 chapters 7–11 and 15, `a`, images,
 * internal style) minus `img`: a narrative here never shows an image, so none can point outside.
 */
export const ALLOWED_ELEMENTS = [
  'div',
  'p',
  'span',
  'br',
  'hr',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'b',
  'i',
  'em',
  'strong',
  'small',
  'big',
  'tt',
  'sub',
  'sup',
  'code',
  'kbd',
  'samp',
  'var',
  'dfn',
  'abbr',
  'acronym',
  'q',
  'cite',
  'ins',
  'del',
  'pre',
  'blockquote',
  'address',
  'ul',
  'ol',
  'li',
  'dl',
  'dt',
  'dd',
  'table',
  'caption',
  'thead',
  'tbody',
  'tfoot',
  'tr',
  'th',
  'td',
  'col',
  'colgroup',
  'a',
] as const;

export type Tag = (typeof ALLOWED_ELEMENTS)[number];

/** Elements that never have content: written `<br/>`. */
const VOID_ELEMENTS: ReadonlySet<Tag> = new Set<Tag>(['br', 'hr', 'col']);

/** Attributes a narrative element may carry. No event handlers, no `src`, no external `href`. */
export interface Attributes {
  readonly id?: string;
  readonly class?: string;
  /** Simple inline CSS: `property: value` pairs, no parentheses (so no `url(…)`, `expression(…)`). */
  readonly style?: string;
  readonly title?: string;
  readonly lang?: string;
  readonly 'xml:lang'?: string;
  readonly dir?: 'ltr' | 'rtl';
  readonly colspan?: number;
  readonly rowspan?: number;
  readonly span?: number;
  readonly scope?: 'row' | 'col' | 'rowgroup' | 'colgroup';
  readonly abbr?: string;
  /** Only on `a`: a fragment inside the same narrative (`#id`). */
  readonly href?: `#${string}`;
  /** Only on `a`: an anchor name. */
  readonly name?: string;
}

export const ALLOWED_ATTRIBUTES: readonly (keyof Attributes)[] = [
  'id',
  'class',
  'style',
  'title',
  'lang',
  'xml:lang',
  'dir',
  'colspan',
  'rowspan',
  'span',
  'scope',
  'abbr',
  'href',
  'name',
];

export interface XElement {
  readonly kind: 'element';
  readonly tag: Tag;
  readonly attributes: Attributes;
  readonly children: readonly XNode[];
}

export interface XText {
  readonly kind: 'text';
  readonly text: string;
}

export type XNode = XElement | XText;

/** What may be given as content: nodes, text (escaped), numbers; nothing for false/undefined. */
export type Child = XNode | string | number | false | null | undefined | readonly Child[];

function flatten(children: readonly Child[]): XNode[] {
  const out: XNode[] = [];
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    if (typeof child === 'string') {
      if (child !== '') out.push({ kind: 'text', text: child });
    } else if (typeof child === 'number') out.push({ kind: 'text', text: String(child) });
    else if (Array.isArray(child)) out.push(...flatten(child as readonly Child[]));
    else out.push(child as XNode);
  }
  return out;
}

/** An element with content. */
export function el(tag: Tag, ...children: Child[]): XElement {
  return elWith(tag, {}, ...children);
}

/** An element with attributes and content. */
export function elWith(tag: Tag, attributes: Attributes, ...children: Child[]): XElement {
  const content = flatten(children);
  if (VOID_ELEMENTS.has(tag) && content.length > 0)
    throw new TypeError(`<${tag}> cannot have content`);
  return { kind: 'element', tag, attributes, children: content };
}

/** A text node: the text exactly, escaped when rendered. */
export function text(value: string): XText {
  return { kind: 'text', text: value };
}

/** Lines of text with `<br/>` between them (for text whose line breaks matter). */
export function lines(value: string): XNode[] {
  const parts = value.split(/\r\n|\r|\n/);
  return parts.flatMap((part, i) => (i === 0 ? [text(part)] : [el('br'), text(part)]));
}

// ---- rendering ---------------------------------------------------------------------------------

const ELEMENT_SET: ReadonlySet<string> = new Set(ALLOWED_ELEMENTS);
const ATTRIBUTE_SET: ReadonlySet<string> = new Set(ALLOWED_ATTRIBUTES);
/** `property: value` pairs; values of words, numbers, units, `#hex`, commas. No parentheses. */
const SIMPLE_STYLE =
  /^\s*[a-z-]+\s*:\s*[#A-Za-z0-9 .,%-]+\s*(?:;\s*[a-z-]+\s*:\s*[#A-Za-z0-9 .,%-]+\s*)*;?\s*$/;
const FRAGMENT = /^#[A-Za-z_][\w.-]*$/;
const NAME_TOKEN = /^[A-Za-z_][\w.-]*$/;

function checkAttribute(tag: Tag, key: string, value: unknown): string {
  if (!ATTRIBUTE_SET.has(key)) throw new TypeError(`attribute ${key} is not allowed in narrative`);
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`${key} must be a count`);
    return String(value);
  }
  if (typeof value !== 'string') throw new TypeError(`attribute ${key} must be text`);
  if ((key === 'href' || key === 'name') && tag !== 'a')
    throw new TypeError(`${key} is only for <a>`);
  if (key === 'href' && !FRAGMENT.test(value))
    throw new TypeError('a narrative links only to a fragment inside itself (#id)');
  if ((key === 'id' || key === 'name') && !NAME_TOKEN.test(value))
    throw new TypeError(`${key} must be a name token`);
  if (key === 'style' && !SIMPLE_STYLE.test(value))
    throw new TypeError('style must be simple property: value pairs');
  return value;
}

function renderNode(node: XNode, out: string[]): void {
  if (node.kind === 'text') {
    out.push(escapeXml(node.text));
    return;
  }
  const { tag } = node;
  if (!ELEMENT_SET.has(tag)) throw new TypeError(`<${tag}> is not allowed in narrative`);
  out.push('<', tag);
  for (const [key, value] of Object.entries(node.attributes) as [string, unknown][]) {
    if (value === undefined) continue;
    out.push(' ', key, '="', escapeXml(checkAttribute(tag, key, value)), '"');
  }
  if (VOID_ELEMENTS.has(tag)) {
    if (node.children.length > 0) throw new TypeError(`<${tag}> cannot have content`);
    out.push('/>');
    return;
  }
  out.push('>');
  for (const child of node.children) renderNode(child, out);
  out.push('</', tag, '>');
}

/** Renders a fragment (no namespace): for tests and for composing. */
export function render(node: XNode): string {
  const out: string[] = [];
  renderNode(node, out);
  return out.join('');
}

/** The narrative root `<div xmlns="http://www.w3.org/1999/xhtml">` around the content, as text. */
export function narrativeDiv(...children: Child[]): string {
  const out: string[] = [`<div xmlns="${XHTML_NAMESPACE}">`];
  for (const child of flatten(children)) renderNode(child, out);
  out.push('</div>');
  return out.join('');
}
