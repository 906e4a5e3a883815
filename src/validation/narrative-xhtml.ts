/**
 * The narrative's XHTML (`text.div`), checked as FHIR R4 requires of it (txt-1, txt-2, and the
 * xhtml data type), which the JSON schema cannot say: it is a string there. An EHR shows the
 * narrative as it is, and a handover carries it to other systems, so active content in it would
 * run wherever the plan is shown.
 *
 * - Well-formed XML whose root is a `div` in the XHTML namespace, with only XML's own entities
 *   (`&nbsp;` is not XML: `&#160;` is); no DOCTYPE, no processing instructions.
 * - Only the basic formatting elements and attributes of HTML 4.0 chapters 7–11 and 15 (text,
 *   lists, tables, links, images, style attributes): no scripts, forms, frames, objects, head or
 *   body, no event attributes (`onclick`), no `javascript:` (or `vbscript:`, `data:`) links; an
 *   image's source must be inside the resource (`data:image/…`, `#id`); no CDATA sections or
 *   comments that HTML reads differently; style that neither loads, runs nor covers the page.
 * - Some text, or an image (txt-2).
 * sax (strict mode) reads it: a real XML parser, so what is checked is what an XML reader builds,
 * and what HTML parsers read differently (CDATA) is refused.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import sax from 'sax';
import { error } from './outcome';

const XHTML = 'http://www.w3.org/1999/xhtml';

const ELEMENTS: ReadonlySet<string> = new Set([
  // text (HTML 4 ch. 7, 9 but not 9.4 — ins/del), fonts and rules (ch. 15)
  'div', 'span', 'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'address', 'blockquote',
  'q', 'pre', 'em', 'strong', 'dfn', 'code', 'samp', 'kbd', 'var', 'cite', 'abbr', 'acronym',
  'sub', 'sup', 'bdo', 'b', 'i', 'tt', 'big', 'small',
  // lists (ch. 10), tables (ch. 11), links and images
  'ul', 'ol', 'li', 'dl', 'dt', 'dd',
  'table', 'caption', 'thead', 'tbody', 'tfoot', 'colgroup', 'col', 'tr', 'th', 'td',
  'a', 'img', 'map', 'area',
]); // prettier-ignore

/** Attributes any element may have (HTML 4 core and i18n attributes, and `style`). */
const COMMON: ReadonlySet<string> = new Set([
  'id', 'class', 'style', 'title', 'lang', 'xml:lang', 'xml:space', 'dir', 'xmlns', 'tabindex',
  'accesskey',
]); // prettier-ignore

const CELL = ['abbr', 'axis', 'headers', 'scope', 'rowspan', 'colspan', 'align', 'char', 'charoff', 'valign', 'width', 'height', 'nowrap', 'bgcolor']; // prettier-ignore
const COLUMN = ['span', 'width', 'align', 'char', 'charoff', 'valign'];
const ROWS = ['align', 'char', 'charoff', 'valign'];

const BY_ELEMENT: Readonly<Record<string, readonly string[]>> = {
  a: ['href', 'name', 'hreflang', 'type', 'rel', 'rev', 'charset', 'shape', 'coords'],
  img: ['src', 'alt', 'longdesc', 'height', 'width', 'usemap', 'ismap', 'align', 'border', 'hspace', 'vspace'], // prettier-ignore
  map: ['name'],
  area: ['shape', 'coords', 'href', 'nohref', 'alt'],
  table: ['summary', 'width', 'border', 'frame', 'rules', 'cellspacing', 'cellpadding', 'align', 'bgcolor'], // prettier-ignore
  th: CELL,
  td: CELL,
  tr: [...ROWS, 'bgcolor'],
  thead: ROWS,
  tbody: ROWS,
  tfoot: ROWS,
  col: COLUMN,
  colgroup: COLUMN,
  caption: ['align'],
  ol: ['type', 'start', 'compact'],
  ul: ['type', 'compact'],
  li: ['type', 'value'],
  dl: ['compact'],
  q: ['cite'],
  blockquote: ['cite'],
  bdo: ['dir'],
  hr: ['align', 'noshade', 'size', 'width'],
  pre: ['width'],
  br: ['clear'],
  div: ['align'],
  p: ['align'],
  h1: ['align'],
  h2: ['align'],
  h3: ['align'],
  h4: ['align'],
  h5: ['align'],
  h6: ['align'],
};

/** Attributes holding a URL: none may run script. */
const URL_ATTRIBUTES: ReadonlySet<string> = new Set(['href', 'src', 'longdesc', 'usemap', 'cite']);
/** A scheme that runs or embeds content (spaces and control characters are ignored by browsers). */
const ACTIVE_SCHEME = /^(?:javascript|vbscript|data):/i;
const IMAGE_DATA = /^data:image\/(?:png|gif|jpeg|jpg|webp|bmp);/i;

/**
 * Style that reaches outside the narrative or runs: a URL (`url(…)`, `@import`: fetched when the
 * record is opened), script (`expression(…)`, `behavior`, `-moz-binding`), CSS escapes or
 * comments that hide either (a backslash, `/*`), or a box laid over the page (fixed or absolute position).
 */
const ACTIVE_STYLE =
  /url\s*\(|image-set\s*\(|var\s*\(|expression\s*\(|@import|behavior\s*:|-moz-binding|\\|\/\*|position\s*:\s*(?:fixed|absolute|sticky)/i;

function styleProblem(element: string, value: string): string | undefined {
  return ACTIVE_STYLE.test(value)
    ? `The narrative may not have style that loads, runs or covers content (style on <${element}>)`
    : undefined;
}

/** The issues of one narrative `div` (FHIRPath `at`); none when it is as FHIR requires. */
export function narrativeIssues(div: string, at: string): OperationOutcomeIssue[] {
  // strictEntities: XML's five entities only (@types/sax lags sax 1.6 and does not name it).
  const options: sax.SAXOptions & { strictEntities: boolean } = {
    xmlns: true,
    strictEntities: true,
  };
  const parser = sax.parser(true, options);
  let depth = 0;
  let content = false;
  let failed: string | undefined;
  const fail = (message: string): void => {
    failed ??= message;
  };
  parser.onerror = (e) => {
    fail(`The narrative is not well-formed XHTML (${e.message.split('\n')[0] ?? 'parse error'})`);
  };
  parser.ondoctype = () => fail('The narrative may not have a DOCTYPE');
  parser.onprocessinginstruction = () => fail('The narrative may not hold processing instructions');
  parser.onopentag = (tag) => {
    const node = tag as sax.QualifiedTag;
    if (depth === 0 && (node.local !== 'div' || node.uri !== XHTML))
      fail('The narrative must be one div element in the XHTML namespace');
    depth++;
    if (node.uri !== XHTML || !ELEMENTS.has(node.local))
      fail(`The narrative may not hold a <${node.name}> element (only basic formatting, lists, tables, links and images)`); // prettier-ignore
    if (node.local === 'img') content = true;
    for (const attribute of Object.values(node.attributes)) {
      const problem = attributeProblem(node.local, attribute);
      if (problem) fail(problem);
    }
  };
  parser.onclosetag = () => {
    depth--;
  };
  const text = (t: string): void => {
    if (depth === 0 && t.trim() !== '') fail('The narrative must be one div element');
    if (t.trim() !== '') content = true;
  };
  parser.ontext = text;
  // XML reads a CDATA section as text, but an HTML parser (innerHTML) ends it at the first `>`:
  // `<![CDATA[ > <img src=x onerror=…> ]]>` would come alive in an EHR that shows it as HTML.
  parser.onopencdata = () => fail('The narrative may not hold CDATA sections');
  // The same for comments an HTML parser ends earlier than XML does (`<!-->`, `<!--->`, `--!>`).
  parser.oncomment = (comment) => {
    if (/^-?>/.test(comment) || comment.includes('--!>') || comment.includes('<!--'))
      fail('The narrative may not hold a comment that HTML reads differently');
  };
  try {
    parser.write(div).close();
  } catch {
    // sax throws after onerror when not resumed: the failure is recorded already.
  }
  if (failed === undefined && !content) fail('The narrative has no text (txt-2)');
  return failed === undefined ? [] : [error('invalid', failed, at)];
}

function attributeProblem(element: string, attribute: sax.QualifiedAttribute): string | undefined {
  const name = attribute.prefix === 'xml' ? `xml:${attribute.local}` : attribute.name;
  if (attribute.prefix === 'xmlns' || name === 'xmlns') return undefined;
  if (!COMMON.has(name) && !(BY_ELEMENT[element] ?? []).includes(name))
    return `The narrative may not have a ${name} attribute on <${element}>`;
  if (name === 'style') return styleProblem(element, attribute.value);
  if (!URL_ATTRIBUTES.has(name)) return undefined;
  // Browsers skip leading spaces and control characters, and tabs and newlines anywhere.
  const url = attribute.value.replace(/[\p{Cc}\s]/gu, '');
  if (element === 'img' && name === 'src')
    // An image from elsewhere is fetched whenever the record is shown (a beacon): images are held
    // inside the resource (`data:image/…`) or point into it (`#id`).
    return IMAGE_DATA.test(url) || url.startsWith('#')
      ? undefined
      : 'The narrative may show only images held inside the resource (src on <img>)';
  if (ACTIVE_SCHEME.test(url))
    return `The narrative may not link to active content (${name} on <${element}>)`;
  return undefined;
}
