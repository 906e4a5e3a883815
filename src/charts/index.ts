/**
 * Charts of a person's DIALOG ratings: `scoresChartSvg` (the 11 areas and the two averages over
 * time, real changes marked, readable in grey-scale, with title and description) and its text
 * alternative `scoresTable` / `scoresTableHtml`; UK-style dates (`ukDate`) and XML escaping shared
 * with the letter. Pure functions: data in, text out.
 */
export * from './scores-chart';
export { dateParts, ukDate, ukTime, type DateParts } from './uk-date';
export { escapeXml } from './xml';
