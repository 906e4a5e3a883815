/**
 * Columns of the CSV formats, compiled from a mapping's column list: header names (with `{item}`
 * expanded per item), code tables, date patterns, and how each cell is read and written.
 */
import {
  DIALOG_ITEMS,
  DIALOG_ITEMS_APP_ORDER,
  type DialogItem,
  type DialogItemConcept,
} from '../dialog';
import { Codes } from './codes';
import { DATE_PROBLEM_TEXT, type DateProblem, NativeDateTime, type ZoneClock } from './datetime';
import { placedIssue, targetExpression } from './issues';
import { CONTROL_CHARACTER_TEXT } from './types';
import type { PersonName } from './record';
import type { ColumnSpec, ForEachItem, Target } from './spec';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

export function itemsInOrder(order: 'app' | 'snomed'): readonly DialogItem[] {
  return order === 'app' ? DIALOG_ITEMS_APP_ORDER : DIALOG_ITEMS;
}

/** Header comparison ignores case and runs of white space. */
export function headerKey(header: string): string {
  return header.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Collapses runs of white space and trims: names and actions are compared this way. */
export function collapse(text: string): string {
  return UNUSUAL_SPACE.test(text) ? text.replace(/\s+/g, ' ').trim() : text.trim();
}

const UNUSUAL_SPACE = /\s\s|[^\S ]/;

export class Column {
  readonly codes: Codes<number | boolean> | undefined;
  readonly date: NativeDateTime | undefined;
  readonly expression: string;

  constructor(
    readonly spec: ColumnSpec,
    readonly header: string,
    readonly concept: DialogItemConcept | undefined,
    clock: ZoneClock,
  ) {
    this.codes = spec.codes ? new Codes(spec.codes) : undefined;
    this.date = spec.dateTime ? new NativeDateTime(spec.dateTime, clock) : undefined;
    this.expression = targetExpression(spec.target, concept);
  }

  get target(): Target {
    return this.spec.target;
  }
}

/** Expands a mapping's columns (with `forEachItem` groups) in export order. */
export function expandColumns(
  columns: readonly (ColumnSpec | ForEachItem)[],
  itemNames: Readonly<Record<DialogItemConcept, string>> | undefined,
  order: 'app' | 'snomed',
  clock: ZoneClock,
): Column[] {
  const out: Column[] = [];
  for (const entry of columns) {
    if ('forEachItem' in entry) {
      for (const item of itemsInOrder(order))
        for (const spec of entry.forEachItem) {
          const name = itemNames?.[item.concept] ?? item.label;
          out.push(new Column(spec, spec.header.replace('{item}', name), item.concept, clock));
        }
    } else {
      out.push(new Column(entry, entry.header, undefined, clock));
    }
  }
  return out;
}

export type HeaderMatch =
  | {
      readonly ok: true;
      readonly byIndex: (Column | undefined)[];
      readonly issues: OperationOutcomeIssue[];
    }
  | { readonly ok: false; readonly issues: OperationOutcomeIssue[] };

/**
 * Matches a header row to the expected columns, in any order. Unknown columns are reported (their
 * cells are not converted); a missing or repeated column stops the file, since rows could not be
 * read without guessing. A row 1 naming fewer than half of them is not taken for a header at all
 * (`notAHeader`).
 */
export function matchHeader(
  cells: readonly string[],
  columns: readonly Column[],
  aliases: Readonly<Record<string, string>> | undefined,
  file: string,
  title: string,
): HeaderMatch {
  const expected = new Map(columns.map((c) => [headerKey(c.header), c]));
  const alias = new Map(
    Object.entries(aliases ?? {}).map(([k, v]) => [headerKey(k), headerKey(v)]),
  );
  const byIndex: (Column | undefined)[] = [];
  const seen = new Set<Column>();
  const warnings: OperationOutcomeIssue[] = [];
  const fatal: OperationOutcomeIssue[] = [];
  cells.forEach((cell, i) => {
    const key = headerKey(cell);
    const column = expected.get(alias.get(key) ?? key);
    const where = `row 1, column ${i + 1} "${cell}"`;
    if (!column) {
      if (key === '' && i === cells.length - 1) {
        byIndex.push(undefined); // a trailing delimiter
        return;
      }
      warnings.push(
        placedIssue(
          'structure',
          `Column "${cell}" is not part of the ${title}; its cells are not converted`,
          cell,
          file,
          where,
          'warning',
        ),
      );
      byIndex.push(undefined);
      return;
    }
    if (seen.has(column))
      fatal.push(
        placedIssue(
          'structure',
          `Column "${column.header}" appears twice`,
          column.header,
          file,
          where,
          'fatal',
        ),
      );
    seen.add(column);
    byIndex.push(column);
  });
  if (cells.length > 0 && seen.size * 2 < columns.length)
    return { ok: false, issues: [notAHeader(seen, columns, file, title)] };
  for (const column of columns)
    if (!seen.has(column))
      fatal.push(
        placedIssue(
          'required',
          `Column "${column.header}" is missing from the header`,
          column.expression,
          file,
          'row 1',
          'fatal',
        ),
      );
  if (fatal.length > 0) return { ok: false, issues: [...fatal, ...warnings] };
  return { ok: true, byIndex, issues: warnings };
}

/**
 * Row 1 names fewer than half the expected columns: most likely a file sent without its header
 * row, so its cells are a person's details. Said once, fatal, without repeating a cell (the
 * unknown-column notices would quote each one, and notices are returned and printed); the
 * expected columns it lacks are named (the mapping's words, no one's data), for a header that
 * is one but spelt another way.
 */
function notAHeader(
  seen: ReadonlySet<Column>,
  columns: readonly Column[],
  file: string,
  title: string,
): OperationOutcomeIssue {
  const missing = columns.filter((c) => !seen.has(c)).map((c) => `"${c.header}"`);
  return placedIssue(
    'structure',
    `Row 1 is not the header of the ${title}: it names ${seen.size} of its ${columns.length} ` +
      "columns. The file must begin with its header row; row 1's cells are not repeated here, as " +
      `they may be a person's details. Columns not named: ${missing.join(', ')}`,
    'QuestionnaireResponse',
    file,
    'row 1',
    'fatal',
  );
}

/**
 * "Last, First Middle" → family and given names. Without a comma, or with more than one
 * (`Smith, Jr., John`: where would the suffix go?), the name stays one text: never split by
 * guessing.
 */
export function readFamilyCommaGiven(text: string): PersonName | undefined {
  const name = collapse(text);
  if (name === '') return undefined;
  const comma = name.indexOf(',');
  if (comma < 0 || name.includes(',', comma + 1)) return { given: [], text: name };
  const family = name.slice(0, comma).trim();
  const given = name
    .slice(comma + 1)
    .split(' ')
    .filter((g) => g !== '');
  if (family === '') return { given: [], text: name };
  return { family, given };
}

export function writeFamilyCommaGiven(name: PersonName): string {
  if (name.family === undefined) return name.text ?? name.given.join(' ');
  return `${name.family},${name.given.length > 0 ? ' ' : ''}${name.given.join(' ')}`;
}

export function dateIssue(
  problem: DateProblem,
  column: Column,
  file: string,
  location: string,
): OperationOutcomeIssue {
  const pattern = column.spec.dateTime ?? '';
  return placedIssue(
    'value',
    `${column.header} ${DATE_PROBLEM_TEXT[problem]} (expected ${pattern})`,
    column.expression,
    file,
    location,
  );
}

/** A cell holding a control character FHIR text may not hold (its row is refused). */
export function controlCharacterIssue(
  column: Column,
  file: string,
  row: number,
): OperationOutcomeIssue {
  return placedIssue(
    'value',
    `${column.header} ${CONTROL_CHARACTER_TEXT}`,
    column.expression,
    file,
    cellLocation(row, column),
  );
}

export function cellLocation(row: number, column: Column): string {
  return `row ${row}, column "${column.header}"`;
}
