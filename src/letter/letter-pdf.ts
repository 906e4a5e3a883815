/**
 * The letter as a PDF (pdfkit, A4, the standard Helvetica fonts pdfkit bundles: nothing is
 * downloaded or embedded). Same words as the HTML letter (both are laid out from `buildLetter`).
 * The ratings chart is given as a table of scores (the chart's text alternative), split into
 * column groups so any number of ratings fits the page: a table reads the same in print, in
 * grey-scale and to a screen reader, where a drawn chart would need a separate description.
 *
 * The standard fonts hold only the Windows-1252 characters, so text is first brought into that
 * set: typographic quotes and dashes stay, accented letters outside it lose their accent, and
 * anything else becomes "?" rather than a wrong glyph.
 */
import PDFDocument from 'pdfkit';
import { buildLetter, type Block, type Letter, type LetterOptions } from './letter-content';
import type { PlanView } from './plan-view';

export interface PdfOptions extends LetterOptions {
  /** Compress page streams (default true). Tests turn it off to read the text back. */
  readonly compress?: boolean;
}

const MARGIN = 56;
const BODY = 11;
const INK = '#1a1a1a';
const RULE = '#505a5f';
const SHADE = '#f3f2f1';
/** At most this many value columns per table (ratings): more are split into further tables. */
const RATINGS_PER_TABLE = 5;

// Windows-1252 0x80–0x9F: the characters beyond Latin-1 that the standard fonts can show.
const WIN_ANSI_EXTRA = new Set('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');

function encodable(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return (
    code === 0x0a ||
    (code >= 0x20 && code <= 0x7e) ||
    (code >= 0xa0 && code <= 0xff) ||
    WIN_ANSI_EXTRA.has(char)
  );
}

/** Text the standard PDF fonts can show. */
export function pdfText(text: string): string {
  let out = '';
  for (const char of text.replace(/\u2212/g, '-').replace(/[\u2010\u2011]/g, '-')) {
    if (encodable(char)) out += char;
    else if (/\s/.test(char)) out += ' ';
    else {
      const plain = char.normalize('NFD').replace(/\p{M}/gu, '');
      out += [...plain].every(encodable) && plain !== '' ? plain : '?';
    }
  }
  return out;
}

type Doc = InstanceType<typeof PDFDocument>;

function contentWidth(doc: Doc): number {
  return doc.page.width - doc.page.margins.left - doc.page.margins.right;
}

function bottom(doc: Doc): number {
  return doc.page.height - doc.page.margins.bottom;
}

function ensureRoom(doc: Doc, height: number): void {
  if (doc.y + height > bottom(doc)) doc.addPage();
}

function heading(doc: Doc, text: string, size: number): void {
  ensureRoom(doc, size * 3);
  doc.moveDown(0.6);
  doc
    .font('Helvetica-Bold')
    .fontSize(size)
    .fillColor(INK)
    .text(pdfText(text), doc.page.margins.left, doc.y, {
      width: contentWidth(doc),
    });
  doc.moveDown(0.3);
}

function paragraph(doc: Doc, text: string): void {
  doc
    .font('Helvetica')
    .fontSize(BODY)
    .fillColor(INK)
    .text(pdfText(text), doc.page.margins.left, doc.y, {
      width: contentWidth(doc),
    });
  doc.moveDown(0.5);
}

function note(doc: Doc, text: string): void {
  const left = doc.page.margins.left;
  const width = contentWidth(doc);
  doc.font('Helvetica').fontSize(BODY);
  const body = pdfText(text);
  const height = doc.heightOfString(body, { width: width - 24 }) + 16;
  ensureRoom(doc, Math.min(height, bottom(doc) - doc.page.margins.top));
  const top = doc.y;
  if (top + height <= bottom(doc)) {
    doc.rect(left, top, width, height).fill(SHADE);
    doc.rect(left, top, 5, height).fill(INK);
  }
  doc.fillColor(INK).text(body, left + 16, top + 8, { width: width - 24 });
  doc.x = left;
  doc.y = Math.max(doc.y, top + height);
  doc.moveDown(0.5);
}

function list(doc: Doc, items: readonly string[]): void {
  const left = doc.page.margins.left;
  doc.font('Helvetica').fontSize(BODY).fillColor(INK);
  for (const item of items) {
    const text = pdfText(item);
    ensureRoom(doc, doc.heightOfString(text, { width: contentWidth(doc) - 16 }));
    const top = doc.y;
    doc.text('\u2022', left, top, { width: 12 });
    doc.text(text, left + 16, top, { width: contentWidth(doc) - 16 });
  }
  doc.x = left;
  doc.moveDown(0.5);
}

function table(
  doc: Doc,
  caption: string,
  header: readonly string[],
  rows: readonly (readonly string[])[],
): void {
  const left = doc.page.margins.left;
  const width = contentWidth(doc);
  const columns = header.length;
  const first = columns > 1 ? Math.min(width * 0.4, Math.max(width / columns, 150)) : width;
  const rest = columns > 1 ? (width - first) / (columns - 1) : 0;
  const widths = header.map((_, i) => (i === 0 ? first : rest));
  const pad = 4;
  const fontOf = (bold: boolean, i: number): string =>
    bold || i === 0 ? 'Helvetica-Bold' : 'Helvetica';
  const rowHeight = (cells: readonly string[], bold: boolean): number =>
    Math.max(
      ...cells.map((c, i) =>
        doc
          .font(fontOf(bold, i))
          .fontSize(BODY - 1)
          .heightOfString(pdfText(c), { width: (widths[i] ?? rest) - pad * 2 }),
      ),
    ) +
    pad * 2;
  const drawRow = (cells: readonly string[], bold: boolean, shaded: boolean): void => {
    const height = rowHeight(cells, bold);
    ensureRoom(doc, height);
    const top = doc.y;
    let x = left;
    cells.forEach((cell, i) => {
      const w = widths[i] ?? rest;
      if (shaded) doc.rect(x, top, w, height).fill(SHADE);
      doc.rect(x, top, w, height).lineWidth(0.75).strokeColor(RULE).stroke();
      doc
        .font(fontOf(bold, i))
        .fontSize(BODY - 1)
        .fillColor(INK)
        .text(pdfText(cell), x + pad, top + pad, { width: w - pad * 2 });
      x += w;
    });
    doc.x = left;
    doc.y = top + height;
  };
  heading(doc, caption, BODY);
  drawRow(header, true, true);
  for (const row of rows) drawRow(row, false, false);
  doc.moveDown(0.8);
}

/** A wide table split into tables of at most RATINGS_PER_TABLE value columns each. */
function splitTable(doc: Doc, block: Extract<Block, { kind: 'table' }>, maxColumns: number): void {
  const values = block.header.length - 1;
  if (values <= maxColumns) {
    table(doc, block.caption, block.header, block.rows);
    return;
  }
  for (let start = 1; start <= values; start += maxColumns) {
    const pick = (cells: readonly string[]): string[] => [
      cells[0] ?? '',
      ...cells.slice(start, start + maxColumns),
    ];
    const part = `${block.caption} (${Math.ceil(start / maxColumns)} of ${Math.ceil(values / maxColumns)})`;
    table(doc, part, pick(block.header), block.rows.map(pick));
  }
}

function block(doc: Doc, b: Block): void {
  switch (b.kind) {
    case 'paragraph':
      paragraph(doc, b.text);
      return;
    case 'note':
      note(doc, b.text);
      return;
    case 'subheading':
      heading(doc, b.text, 13);
      return;
    case 'list':
      list(doc, b.items);
      return;
    case 'table':
      splitTable(doc, b, RATINGS_PER_TABLE);
      return;
    case 'chart':
      // Given as the table of scores that follows it.
      return;
  }
}

/** Lays the letter out as a PDF. */
export function letterDocumentPdf(
  letter: Letter,
  options: { compress?: boolean } = {},
): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    compress: options.compress ?? true,
    lang: letter.lang,
    displayTitle: true,
    info: { Title: letter.title, Subject: 'Care and support plan', Creator: 'dialog-fhir' },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.font('Helvetica-Bold').fontSize(22).fillColor(INK).text(pdfText(letter.title));
  doc.moveDown(0.3);
  for (const m of letter.meta) paragraph(doc, `${m.label}: ${m.value}`);
  doc.moveDown(0.3);
  paragraph(doc, letter.greeting);
  for (const b of letter.intro) block(doc, b);
  for (const section of letter.sections) {
    heading(doc, section.heading, 16);
    for (const b of section.blocks) block(doc, b);
  }
  doc.moveDown(0.5);
  for (const line of letter.closing) paragraph(doc, line);
  doc.end();
  return done;
}

/** The plan letter as a PDF. */
export function letterPdf(view: PlanView, options: PdfOptions = {}): Promise<Buffer> {
  const { compress, ...letterOptions } = options;
  return letterDocumentPdf(
    buildLetter(view, letterOptions),
    compress === undefined ? {} : { compress },
  );
}
