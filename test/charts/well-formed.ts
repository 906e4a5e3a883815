/** A strict well-formedness check for the XML (SVG) and polyglot HTML we write. Not a test file. */

export interface Element {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
}

const TOKEN =
  /<!DOCTYPE html>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/g;
const ATTRIBUTE = /([A-Za-z_:][\w:.-]*)="([^"<]*)"/g;

/**
 * Every element, in document order; throws on a stray `<` or `&`, an unclosed, mis-nested or
 * unexpected closing tag, a duplicate attribute, or text outside the root element.
 */
export function wellFormed(text: string): Element[] {
  const elements: Element[] = [];
  const stack: string[] = [];
  let rootClosed = false;
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const [token, closing, name, attrs = '', selfClosing] = match;
    const index = match.index;
    const between = text.slice(last, index);
    if (stack.length === 0 && between.trim() !== '')
      throw new Error(`text outside the root at ${index}`);
    last = index + token.length;
    if (token.startsWith('<!DOCTYPE')) continue;
    if (!name)
      throw new Error(
        `stray ${JSON.stringify(token)} at ${index}: ${text.slice(index - 40, index + 40)}`,
      );
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}> at ${index}`);
      if (stack.length === 0) rootClosed = true;
      continue;
    }
    if (rootClosed) throw new Error(`a second root element <${name}>`);
    const attributes: Record<string, string> = {};
    for (const [, key = '', value = ''] of attrs.matchAll(ATTRIBUTE)) {
      if (key in attributes) throw new Error(`duplicate attribute ${key} on <${name}>`);
      attributes[key] = value;
    }
    elements.push({ name, attributes });
    if (!selfClosing) stack.push(name);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (text.slice(last).trim() !== '') throw new Error('text after the root element');
  return elements;
}
