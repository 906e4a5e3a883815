/**
 * The letter as one standalone HTML page: `lang="en-GB"`, a heading for every section, no
 * external resources (styles inline, the chart inline as SVG with its title, description and the
 * table of the same numbers beside it), print styles, and text at more than 7:1 contrast. Every
 * value from the plan is escaped.
 */
import { escapeXml, scoresChartSvg } from '../charts';
import { buildLetter, type Block, type Letter, type LetterOptions } from './letter-content';
import type { PlanView } from './plan-view';

const STYLE = `
:root { color: #1a1a1a; background: #ffffff; }
body { font-family: Arial, Helvetica, sans-serif; font-size: 1.125rem; line-height: 1.5; margin: 0 auto; max-width: 46rem; padding: 1.5rem; }
h1 { font-size: 2rem; margin: 0 0 .5rem; }
h2 { font-size: 1.5rem; margin: 2rem 0 .5rem; border-top: 2px solid #1a1a1a; padding-top: 1rem; }
h3 { font-size: 1.2rem; margin: 1.25rem 0 .25rem; }
.meta { margin: 0 0 1.5rem; }
.meta dt { font-weight: bold; display: inline; }
.meta dd { display: inline; margin: 0 1.5rem 0 .25rem; }
.note { border-left: 6px solid #1a1a1a; background: #f3f2f1; padding: .75rem 1rem; margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
caption { text-align: left; font-weight: bold; margin-bottom: .5rem; }
th, td { border: 1px solid #505a5f; padding: .4rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #f3f2f1; }
figure { margin: 1rem 0; }
figure svg { width: 100%; height: auto; border: 1px solid #b1b4b6; }
a { color: #1d4ed8; }
a:focus { outline: 3px solid #ffdd00; background: #ffdd00; color: #0b0c0c; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, figure, .note { break-inside: avoid; page-break-inside: avoid; }
  .note { background: none; }
}
`.trim();

function blockHtml(block: Block, chartId: string): string {
  switch (block.kind) {
    case 'paragraph':
      return `<p>${escapeXml(block.text)}</p>`;
    case 'note':
      return `<p class="note">${escapeXml(block.text)}</p>`;
    case 'subheading':
      return `<h3>${escapeXml(block.text)}</h3>`;
    case 'list':
      return `<ul>\n${block.items.map((i) => `<li>${escapeXml(i)}</li>`).join('\n')}\n</ul>`;
    case 'table': {
      const head = block.header.map((h) => `<th scope="col">${escapeXml(h)}</th>`).join('');
      const rows = block.rows
        .map((row) => {
          const [first = '', ...rest] = row;
          return `<tr><th scope="row">${escapeXml(first)}</th>${rest.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`;
        })
        .join('\n');
      return `<table>\n<caption>${escapeXml(block.caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody>\n</table>`;
    }
    case 'chart':
      return `<figure>\n${scoresChartSvg(block.data, { idPrefix: chartId })}\n<figcaption>The same ratings are in the table below.</figcaption>\n</figure>`;
  }
}

/** The letter document as HTML. */
export function letterDocumentHtml(letter: Letter): string {
  const meta =
    letter.meta.length > 0
      ? `<dl class="meta">${letter.meta.map((m) => `<dt>${escapeXml(m.label)}:</dt><dd>${escapeXml(m.value)}</dd>`).join('')}</dl>`
      : '';
  const sections = letter.sections
    .map(
      (s) =>
        `<section aria-labelledby="${s.id}">\n<h2 id="${s.id}">${escapeXml(s.heading)}</h2>\n${s.blocks.map((b) => blockHtml(b, `${s.id}-chart`)).join('\n')}\n</section>`,
    )
    .join('\n');
  return [
    '<!DOCTYPE html>',
    `<html lang="${letter.lang}">`,
    '<head>',
    '<meta charset="utf-8" />',
    '<meta name="viewport" content="width=device-width, initial-scale=1" />',
    `<title>${escapeXml(letter.title)}</title>`,
    `<style>\n${STYLE}\n</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeXml(letter.title)}</h1>`,
    meta,
    `<p>${escapeXml(letter.greeting)}</p>`,
    ...letter.intro.map((b) => blockHtml(b, 'intro-chart')),
    sections,
    `<footer>\n${letter.closing.map((c) => `<p>${escapeXml(c)}</p>`).join('\n')}\n</footer>`,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The plan letter as a standalone HTML page. */
export function letterHtml(view: PlanView, options: LetterOptions = {}): string {
  return letterDocumentHtml(buildLetter(view, options));
}
