/**
 * CSV with one session per row (kind `csv-session-rows`: the DIALOG+ app export). Reads and
 * writes rows as the mapping declares them; see mappings/README.md for the decisions:
 *
 * - status: a row with Date End is a completed session whose `authored` is Date End; a row
 *   without Date End is in progress and `authored` is Date Start. Date Start, when it differs
 *   from Date End, is kept in the `dialog-session-start` extension.
 * - Discussed = 1 puts the item among the chosen items; an item's action items become one
 *   discussed item with those actions (the CSV holds only their text).
 * - A row whose cell count differs from the header's is reported as shifted (an unquoted comma),
 *   never imported.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { DialogItemConcept, DialogScore } from '../dialog';
import { itemByConcept } from '../dialog';
import type { DialogSession, DiscussedItem, ResponseStatus } from '../fhir';
import { error } from '../validation/outcome';
import {
  cellLocation,
  controlCharacterIssue,
  collapse,
  type Column,
  dateIssue,
  expandColumns,
  itemsInOrder,
  matchHeader,
  readFamilyCommaGiven,
  writeFamilyCommaGiven,
} from './columns';
import { CsvReader, CsvWriter, type LineEnding } from './csv';
import { readFhirDateTime, shownTwiceIssue, ZoneClock } from './datetime';
import { headerNotice, placedIssue, targetExpression } from './issues';
import {
  type DialogRecord,
  displayNotFromName,
  nativeSession,
  notHeldByNative,
  type PersonDetails,
  type PersonName,
} from './record';
import type { CsvSessionRowsMapping } from './spec';
import type {
  FormatReader,
  FormatWriter,
  Projection,
  ReadOptions,
  ReadSink,
  WriteResult,
} from './types';
import { CONTROL_CHARACTER } from './types';

const MAX_CHOSEN = 3;
/** Cells of the wrong kind in one row from which the row is reported as shifted. */
const MISFITS_FOR_SHIFT = 3;

interface Compiled {
  readonly spec: CsvSessionRowsMapping;
  readonly columns: Column[];
  readonly clock: ZoneClock;
  readonly itemOrder: readonly DialogItemConcept[];
  readonly name: Column;
  readonly start: Column;
  readonly end: Column;
  readonly actions: Column | undefined;
}

const compiled = new WeakMap<CsvSessionRowsMapping, Compiled>();

function compile(spec: CsvSessionRowsMapping): Compiled {
  const hit = compiled.get(spec);
  if (hit) return hit;
  const clock = new ZoneClock(spec.timeZone);
  const columns = expandColumns(spec.columns, spec.itemNames, spec.itemOrder, clock);
  const find = (target: string): Column => {
    const column = columns.find((c) => c.target === target);
    if (!column) throw new Error(`${spec.format}: the mapping has no ${target} column`);
    return column;
  };
  const result: Compiled = {
    spec,
    columns,
    clock,
    itemOrder: itemsInOrder(spec.itemOrder).map((i) => i.concept),
    name: find('person.name'),
    start: find('session.start'),
    end: find('session.end'),
    actions: columns.find((c) => c.target === 'item.actions'),
  };
  compiled.set(spec, result);
  return result;
}

// ---- reading --------------------------------------------------------------------------------

interface RowValues {
  name: PersonName | undefined;
  start: string | undefined;
  end: string | undefined;
  startAt: number;
  endAt: number;
  scores: Partial<Record<DialogItemConcept, DialogScore>>;
  helpWanted: Partial<Record<DialogItemConcept, boolean>>;
  /** Chosen items as bits, by index in `itemOrder`. */
  chosen: number;
  /** Action texts by index in `itemOrder`, created on first use. */
  actions: (string[] | undefined)[] | undefined;
  swappable: boolean;
}

enum Kind {
  Ignore,
  Name,
  Start,
  End,
  Score,
  Help,
  Chosen,
  Actions,
}

const KIND: Readonly<Record<string, Kind>> = {
  'person.name': Kind.Name,
  'session.start': Kind.Start,
  'session.end': Kind.End,
  'item.score': Kind.Score,
  'item.helpWanted': Kind.Help,
  'item.chosen': Kind.Chosen,
  'item.actions': Kind.Actions,
};

function fits(column: Column, cell: string): boolean {
  if (column.codes) return column.codes.read(cell.trim()).ok;
  if (column.date) return cell.trim() === '' || column.date.pattern.read(cell.trim()).ok;
  return true;
}

/** A dialogplus-csv reader, which can also read part of a file (csv-pieces.ts). */
export interface SessionRowsReader extends FormatReader {
  /** The header row's cells, once row 1 has been read. */
  readonly headerCells: readonly string[] | undefined;
  /** The number the next record gets; set it to go on reading from elsewhere in the file. */
  nextRow: number;
  /**
   * Reads whole records (a piece cut by csv-cutter.ts) numbered from `firstRow`, apart from the
   * rest of the input; returns how many records it held.
   */
  readPiece(bytes: Uint8Array, firstRow: number): number;
}

/**
 * `continuation`: this reader reads records after row 2 of a file whose header row is `header`
 * and whose records end with `lineEnding` (another reader read rows 1 and 2 and reported what
 * the header row is worth).
 */
export function createSessionRowsReader(
  spec: CsvSessionRowsMapping,
  options: ReadOptions,
  sink: ReadSink,
  continuation?: { readonly header: readonly string[]; readonly lineEnding: LineEnding },
): SessionRowsReader {
  const c = compile(spec);
  const file = options.file;
  let byIndex: (Column | undefined)[] | undefined;
  let headerCells: readonly string[] | undefined;
  let headerFailed = false;
  let monthFirstSeen = options.monthFirstSeen === true;
  let monthFirstRow = 0;
  let ambiguousConverted = 0;
  let firstAmbiguousRow = 0;
  let lastAmbiguousRow = 0;

  function header(cells: readonly string[], report: boolean): void {
    headerCells = cells;
    const match = matchHeader(cells, c.columns, spec.headerAliases, file, spec.title);
    if (report) for (const issue of match.issues) sink.notice(headerNotice(issue, file));
    if (match.ok) {
      byIndex = match.byIndex;
      plan(byIndex);
    } else headerFailed = true;
  }

  function isQuestionRow(cells: string[]): boolean {
    if (!spec.questionRow || !byIndex) return false;
    return byIndex.every((column, i) => {
      const cell = (cells[i] ?? '').trim();
      if (!column) return true;
      if (column.target === spec.questionRow?.under) return cell === '' || !fits(column, cell);
      return cell === '';
    });
  }

  function row(cells: string[], rowNumber: number, controlSeen = false): void {
    if (rowNumber === 1) {
      header(cells, true);
      return;
    }
    if (cells.every((cell) => cell.trim() === '')) return; // a blank line is not a record
    const location = `row ${rowNumber}`;
    if (headerFailed) {
      sink.reject(
        [
          placedIssue(
            'structure',
            'Not converted: the header row is not the expected one',
            'row 1',
            file,
            location,
          ),
        ],
        location,
      );
      return;
    }
    if (!byIndex) return;
    if (rowNumber === 2 && isQuestionRow(cells)) return;
    if (cells.length !== byIndex.length) {
      sink.reject([shifted(cells, rowNumber, byIndex)], location);
      return;
    }
    const issues: OperationOutcomeIssue[] = [];
    const values = readCells(cells, rowNumber, byIndex, issues, controlSeen);
    if (issues.length > 0) {
      const misfits = byIndex.filter((col, i) => col !== undefined && !fits(col, cells[i] ?? ''));
      // Right cell count, yet several cells of the wrong kind: a comma shifted part of the row
      // and a cell is missing elsewhere. Say so, besides each cell's own issue.
      if (misfits.length >= MISFITS_FOR_SHIFT && misfits[0])
        issues.unshift(
          placedIssue(
            'structure',
            `${misfits.length} cells do not fit their columns, from "${misfits[0].header}" on: the cells are probably shifted (an unquoted comma, and a cell missing elsewhere). The row is not imported`,
            misfits[0].expression,
            file,
            cellLocation(rowNumber, misfits[0]),
          ),
        );
      sink.reject(issues, location);
      return;
    }
    const built = buildRecord(values, rowNumber);
    if (!built.ok) {
      sink.reject(built.issues, location);
      return;
    }
    if (values.swappable) {
      ambiguousConverted++;
      if (firstAmbiguousRow === 0) firstAmbiguousRow = rowNumber;
      lastAmbiguousRow = rowNumber;
    }
    sink.record(built.record, location);
  }

  function shifted(
    cells: string[],
    rowNumber: number,
    columns: readonly (Column | undefined)[],
  ): OperationOutcomeIssue {
    const firstMisfit = columns.findIndex(
      (col, i) => col !== undefined && !fits(col, cells[i] ?? ''),
    );
    const from = columns[firstMisfit];
    const where = from ? cellLocation(rowNumber, from) : `row ${rowNumber}`;
    // Line breaks inside the cells of a row that is too long: a quote opened and never closed
    // ran the lines after it into this row (csv-parse reads on to the next quote), and those
    // rows are lost with it unless the message says so.
    const breaks = cells.reduce((n, cell) => n + (cell.match(/\r\n|\r|\n/g)?.length ?? 0), 0);
    const hint =
      cells.length <= columns.length
        ? 'cells are missing'
        : breaks > 0
          ? `a quote that is never closed has probably run the ${breaks} line(s) after this row into it (its cells hold ${breaks} line break(s)), so those lines are not imported either: close the quote and import them again`
          : 'an unquoted comma (in a name or an action item) has probably shifted the cells';
    return placedIssue(
      'structure',
      `The row has ${cells.length} cells where the header has ${columns.length}: ${hint}${from ? `; the first cell that does not fit is under "${from.header}"` : ''}. The row is not imported`,
      from?.expression ?? `row ${rowNumber}`,
      file,
      where,
    );
  }

  /** Per header position: what the cell is, and its item's index in `itemOrder`. */
  let kinds: Kind[] = [];
  let itemIndex: number[] = [];
  let requiredAt: number[] = [];

  function plan(columns: readonly (Column | undefined)[]): void {
    kinds = columns.map((col) => (col ? (KIND[col.target] ?? Kind.Ignore) : Kind.Ignore));
    itemIndex = columns.map((col) => (col?.concept ? c.itemOrder.indexOf(col.concept) : -1));
    requiredAt = [c.name, c.start]
      .filter((col) => col.spec.required)
      .map((col) => columns.indexOf(col));
  }

  function readCells(
    cells: string[],
    rowNumber: number,
    columns: readonly (Column | undefined)[],
    issues: OperationOutcomeIssue[],
    controlSeen: boolean,
  ): RowValues {
    const values: RowValues = {
      name: undefined,
      start: undefined,
      end: undefined,
      startAt: 0,
      endAt: 0,
      scores: {},
      helpWanted: {},
      chosen: 0,
      actions: undefined,
      swappable: false,
    };
    const order = c.itemOrder;
    for (let i = 0; i < columns.length; i++) {
      const kind = kinds[i];
      if (kind === Kind.Ignore) continue;
      const column = columns[i] as Column;
      const raw = cells[i] ?? '';
      // Text that goes into FHIR as it is (a name, an action): it may hold no control character.
      if (
        controlSeen &&
        (kind === Kind.Name || kind === Kind.Actions) &&
        CONTROL_CHARACTER.test(raw)
      ) {
        issues.push(controlCharacterIssue(column, file, rowNumber));
        continue;
      }
      switch (kind) {
        case Kind.Name:
          values.name = readFamilyCommaGiven(raw);
          break;
        case Kind.Start:
        case Kind.End: {
          const text = raw.trim();
          if (text === '' || !column.date) break;
          const read = column.date.read(text);
          if (!read.ok) {
            if (read.problem === 'month-first' && !monthFirstSeen) {
              monthFirstSeen = true;
              monthFirstRow = rowNumber;
            }
            issues.push(dateIssue(read.problem, column, file, cellLocation(rowNumber, column)));
            break;
          }
          if (read.swappable) {
            if (monthFirstSeen) {
              issues.push(
                dateIssue('ambiguous-order', column, file, cellLocation(rowNumber, column)),
              );
              break;
            }
            values.swappable = true;
          }
          if (kind === Kind.Start) {
            values.start = read.value;
            values.startAt = read.instant;
          } else {
            values.end = read.value;
            values.endAt = read.instant;
          }
          break;
        }
        case Kind.Actions: {
          if (raw === '') break;
          const actions = splitActions(raw, column.spec.separator ?? ';');
          if (actions.length === 0) break;
          values.actions ??= [];
          values.actions[itemIndex[i] ?? 0] = actions;
          break;
        }
        default: {
          const value = column.codes?.lookup(raw);
          if (value === undefined) {
            issues.push(
              placedIssue(
                'code-invalid',
                `${column.header} is not one of ${column.codes?.describe() ?? ''}`,
                column.expression,
                file,
                cellLocation(rowNumber, column),
              ),
            );
            break;
          }
          if (value === null) break;
          const concept = order[itemIndex[i] ?? 0] as DialogItemConcept;
          if (kind === Kind.Score) values.scores[concept] = value as DialogScore;
          else if (kind === Kind.Help) values.helpWanted[concept] = value as boolean;
          else if (value === true) values.chosen |= 1 << (itemIndex[i] ?? 0);
        }
      }
    }
    for (const at of requiredAt) {
      const column = columns[at] as Column;
      if ((cells[at] ?? '').trim() === '')
        issues.push(
          placedIssue(
            'required',
            `${column.header} is empty`,
            column.expression,
            file,
            cellLocation(rowNumber, column),
          ),
        );
    }
    return values;
  }

  function buildRecord(
    values: RowValues,
    rowNumber: number,
  ): { ok: true; record: DialogRecord } | { ok: false; issues: OperationOutcomeIssue[] } {
    const location = `row ${rowNumber}`;
    const start = values.start ?? '';
    const end = values.end;
    const issues: OperationOutcomeIssue[] = [];
    if (end !== undefined && values.endAt < values.startAt)
      issues.push(
        placedIssue(
          'value',
          `${c.end.header} is before ${c.start.header}`,
          c.end.expression,
          file,
          cellLocation(rowNumber, c.end),
        ),
      );
    const status: ResponseStatus = end !== undefined ? 'completed' : 'in-progress';
    if (status === 'completed' && Object.keys(values.scores).length === 0)
      issues.push(
        placedIssue(
          'required',
          'A completed session (it has a Date End) holds no rank: a completed DIALOG needs at least one rating',
          "QuestionnaireResponse.item.where(linkId='ratings')",
          file,
          location,
        ),
      );
    const chosen = c.itemOrder.filter((_, i) => (values.chosen & (1 << i)) !== 0);
    if (chosen.length > MAX_CHOSEN)
      issues.push(
        placedIssue(
          'business-rule',
          `${chosen.length} items are marked Discussed; at most 3 can be chosen`,
          targetExpression('item.chosen'),
          file,
          location,
        ),
      );
    const discussed: DiscussedItem[] = [];
    if (values.actions)
      values.actions.forEach((actions, i) => {
        const concept = c.itemOrder[i];
        if (actions && concept)
          discussed.push({ concept, actions: actions.map((what) => ({ what })) });
      });
    if (discussed.length > MAX_CHOSEN)
      issues.push(
        placedIssue(
          'business-rule',
          `${discussed.length} items have action items; at most 3 items are discussed`,
          targetExpression('item.actions'),
          file,
          location,
        ),
      );
    if (issues.length > 0) return { ok: false, issues };
    const person: PersonDetails = {
      identifiers: [],
      ...(values.name ? { name: values.name } : {}),
    };
    const session = nativeSession({
      status,
      person,
      subject: options.subject,
      authored: end ?? start,
      start,
      startInstant: values.startAt,
      scores: values.scores,
      helpWanted: values.helpWanted,
      chosen,
      discussed,
    });
    return {
      ok: true,
      record: {
        session,
        person,
        ...(end !== undefined && end !== start ? { startedAt: start } : {}),
      },
    };
  }

  const csvHandler = {
    row,
    unreadable(rowNumber: number, reason: string) {
      const location = `row ${rowNumber}`;
      sink.reject(
        [placedIssue('structure', `Not valid CSV: ${reason}`, location, file, location)],
        location,
      );
    },
  };
  /** A reader of CSV text; of part of the file, primed with its header (CsvReader.prime). */
  const csvReader = (): CsvReader => {
    const made = new CsvReader(spec.csv, csvHandler, continuation?.lineEnding);
    if (continuation) made.prime(continuation.header, continuation.lineEnding);
    return made;
  };
  const reader = csvReader();

  if (continuation) {
    header(continuation.header, false);
    reader.nextRow = 3;
  }

  return {
    get headerCells() {
      return headerCells;
    },
    get nextRow() {
      return reader.nextRow;
    },
    set nextRow(row: number) {
      reader.nextRow = row;
    },
    readPiece(bytes, firstRow) {
      // A parser of its own: csv-parse gives up the last records only when its input ends.
      const piece = csvReader();
      piece.nextRow = firstRow;
      piece.push(bytes);
      piece.finish();
      return piece.nextRow - firstRow;
    },
    push: (chunk) => reader.push(chunk),
    async end() {
      await reader.end();
      if (monthFirstSeen && ambiguousConverted > 0 && !options.monthFirstSeen)
        sink.notice(
          placedIssue(
            'value',
            `Row ${monthFirstRow} has a date that reads only month first, but ${ambiguousConverted} earlier row(s) between rows ${firstAmbiguousRow} and ${lastAmbiguousRow} had dates that read either way and were converted day first: check them (reading a file rather than standard input scans the dates first and rejects those rows instead)`,
            c.start.expression,
            file,
            firstAmbiguousRow === lastAmbiguousRow
              ? `row ${firstAmbiguousRow}`
              : `rows ${firstAmbiguousRow}–${lastAmbiguousRow}`,
          ),
        );
    },
  };
}

function splitActions(cell: string, separator: string): string[] {
  const out: string[] = [];
  for (const part of cell.split(separator)) {
    const action = collapse(part);
    if (action !== '') out.push(action);
  }
  return out;
}

/**
 * Whether this mapping's rows read independently of each other once the input's dates have been
 * scanned (`scanForMonthFirst`, which decides the day/month order for the whole file): the scan
 * looks for dates with the Date Start column's pattern, so a reader can meet no date the scan
 * did not see only when every date column has that pattern (as dialogplus-csv's do). Then the
 * rows after the header can be read in any order (cut-input.ts).
 */
export function rowsReadIndependently(spec: CsvSessionRowsMapping): boolean {
  const c = compile(spec);
  const pattern = c.start.date?.pattern.pattern;
  return c.columns.every((column) => !column.date || column.date.pattern.pattern === pattern);
}

/**
 * Scans text for a date that reads only month first (e.g. 3/25/2026 under d/M/yyyy). Cheap (a
 * regular expression over the raw text, no CSV parsing); run over a file before converting it,
 * so that a month-first export has all its either-way dates rejected, from the first row on. A
 * date-like text inside an action item could trip it; the effect is only more rejections.
 */
export async function scanForMonthFirst(
  spec: CsvSessionRowsMapping,
  chunks: AsyncIterable<string> | Iterable<string>,
): Promise<boolean> {
  const pattern = compile(spec).start.date?.pattern;
  if (!pattern?.dayFirst) return false;
  const regex = pattern.searchMonthFirst();
  let tail = '';
  for await (const chunk of chunks) {
    const text = tail + chunk;
    regex.lastIndex = 0;
    for (let m = regex.exec(text); m; m = regex.exec(text)) {
      const read = pattern.read(m[0]);
      if (!read.ok && read.problem === 'month-first') return true;
    }
    tail = text.slice(-64);
  }
  return false;
}

// ---- what the format holds ------------------------------------------------------------------

const NOT_HELD_SESSION: readonly (keyof DialogSession)[] = [
  'id',
  'timepoint',
  'setting',
  'reusedFrom',
];

function projectName(record: DialogRecord, notHeld: string[]): PersonName | undefined {
  const name = record.person.name;
  if (!name) {
    const display = record.session.subjectDisplay;
    return display !== undefined ? readFamilyCommaGiven(display) : undefined;
  }
  if (name.prefix?.length) notHeld.push('person.name.prefix');
  if (name.suffix?.length) notHeld.push('person.name.suffix');
  if (name.family === undefined) return readFamilyCommaGiven(name.text ?? name.given.join(' '));
  const read = readFamilyCommaGiven(writeFamilyCommaGiven(name));
  // A comma in a given name makes the cell read back as one text (two commas): the family and
  // given names are not held apart.
  if (read && read.family === undefined && !name.family.includes(','))
    notHeld.push('person.name (a given name with a comma: read back as text)');
  return read;
}

/** What a DIALOG+ app CSV row can hold of a record (see the file comment). */
export function projectSessionRows(
  spec: CsvSessionRowsMapping,
  record: DialogRecord,
  options: Pick<ReadOptions, 'subject'> = {},
): Projection {
  const c = compile(spec);
  const { session, person } = record;
  const issues: OperationOutcomeIssue[] = [];
  const notHeld: string[] = [];
  if (session.status !== 'completed' && session.status !== 'in-progress')
    issues.push(
      error(
        'not-supported',
        `A ${spec.title} row holds completed or in-progress sessions only`,
        'QuestionnaireResponse.status',
      ),
    );
  if (session.notRated)
    issues.push(
      error(
        'not-supported',
        `A ${spec.title} row cannot hold why a session was not rated`,
        "QuestionnaireResponse.item.where(linkId='not-rated')",
      ),
    );
  const name = projectName(record, notHeld);
  if (!name)
    issues.push(
      error(
        'required',
        `${c.name.header} needs the person's name; the response has none`,
        'QuestionnaireResponse.subject',
      ),
    );
  else if (name.family?.includes(','))
    issues.push(
      error(
        'not-supported',
        `${c.name.header} cannot hold a family name with a comma`,
        'QuestionnaireResponse.subject',
      ),
    );
  if (person.identifiers.length > 0) notHeld.push('person.identifier');
  if (person.birthDate) notHeld.push('person.birthDate');
  if (person.gender) notHeld.push('person.gender');
  for (const key of NOT_HELD_SESSION) if (session[key] !== undefined) notHeld.push(key);
  if (session.previousActions.length > 0) notHeld.push('previousActions');
  const date = c.end.date;
  const authored = date?.normalise(session.authored);
  if (!authored || !date)
    return {
      ok: false,
      issues: [
        ...issues,
        error(
          'invalid',
          'authored is not a dateTime with offset',
          'QuestionnaireResponse.authored',
        ),
      ],
    };
  if (authored !== session.authored) notHeld.push('authored (seconds, offset)');
  if (date.shownTwice(session.authored))
    issues.push(shownTwiceIssue(c.end.header, 'QuestionnaireResponse.authored'));
  let startedAt: string | undefined;
  if (session.status === 'completed' && record.startedAt) {
    if (date.shownTwice(record.startedAt))
      issues.push(shownTwiceIssue(c.start.header, 'QuestionnaireResponse.extension'));
    startedAt = date.normalise(record.startedAt);
    if (startedAt !== undefined && startedAt !== record.startedAt)
      notHeld.push('startedAt (seconds, offset)');
    if (
      (readFhirDateTime(startedAt ?? '')?.instant ?? 0) > (readFhirDateTime(authored)?.instant ?? 0)
    )
      issues.push(
        error(
          'value',
          'The session starts after it was authored',
          'QuestionnaireResponse.extension',
        ),
      );
    if (startedAt === authored) startedAt = undefined;
  } else if (record.startedAt) notHeld.push('startedAt');
  const separator = c.actions?.spec.separator ?? ';';
  const actions = new Map<DialogItemConcept, string[]>();
  for (const d of session.discussed) {
    if (
      d.understanding !== undefined ||
      d.lookingForward !== undefined ||
      d.exploringOptions !== undefined
    )
      notHeld.push('discussed.steps');
    for (const action of d.actions) {
      if (action.who !== undefined || action.byWhen !== undefined)
        notHeld.push('discussed.action.who/byWhen');
      if (action.what.includes(separator)) {
        issues.push(
          error(
            'not-supported',
            `An action contains "${separator}", which this format uses between actions`,
            targetExpression('item.actions'),
          ),
        );
        continue;
      }
      const what = collapse(action.what);
      if (what === '') {
        notHeld.push('discussed.action (no text but white space)');
        continue;
      }
      const list = actions.get(d.concept) ?? [];
      list.push(what);
      actions.set(d.concept, list);
    }
  }
  // An item is discussed in a row only through its actions: one without any is not held (it
  // stays among the chosen items if it was chosen).
  if (session.discussed.some((d) => !actions.has(d.concept)))
    notHeld.push('discussed (an item without actions)');
  const discussed: DiscussedItem[] = c.itemOrder.flatMap((concept) => {
    const list = actions.get(concept);
    return list ? [{ concept, actions: list.map((what) => ({ what })) }] : [];
  });
  const chosenSet = new Set(session.chosen);
  const chosen = c.itemOrder.filter((k) => chosenSet.has(k));
  if (chosen.length > MAX_CHOSEN || discussed.length > MAX_CHOSEN)
    issues.push(
      error(
        'business-rule',
        'At most 3 items are chosen and discussed',
        targetExpression('item.chosen'),
      ),
    );
  if (session.status === 'completed' && Object.keys(session.scores).length === 0)
    issues.push(
      error(
        'required',
        'A completed row needs at least one rank',
        "QuestionnaireResponse.item.where(linkId='ratings')",
      ),
    );
  if (issues.length > 0) return { ok: false, issues };
  const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
  const helpWanted: Partial<Record<DialogItemConcept, boolean>> = {};
  for (const concept of c.itemOrder) {
    const score = session.scores[concept];
    if (score !== undefined) scores[concept] = score;
    const help = session.helpWanted[concept];
    if (help !== undefined) helpWanted[concept] = help;
  }
  const projectedPerson: PersonDetails = { identifiers: [], ...(name ? { name } : {}) };
  const projected = nativeSession({
    status: session.status,
    person: projectedPerson,
    subject: options.subject,
    authored,
    start: startedAt ?? authored,
    scores,
    helpWanted,
    chosen,
    discussed,
  });
  if (session.identifier && session.identifier.value !== projected.identifier?.value)
    notHeld.push('identifier');
  if (session.author) notHeld.push('author');
  if (displayNotFromName(record)) notHeld.push('subject.display');
  return {
    ok: true,
    notHeld: [...new Set([...notHeld, ...notHeldByNative(record, options.subject)])],
    record: {
      session: projected,
      person: projectedPerson,
      ...(startedAt !== undefined ? { startedAt } : {}),
    },
  };
}

// ---- writing --------------------------------------------------------------------------------

export function createSessionRowsWriter(spec: CsvSessionRowsMapping): FormatWriter {
  const c = compile(spec);
  const csv = new CsvWriter(spec.csv);
  return {
    begin() {
      let text = csv.row(c.columns.map((col) => col.header));
      const under = spec.questionRow?.under;
      if (under)
        text += csv.row(
          c.columns.map((col) =>
            col.target === under && col.concept ? (itemByConcept(col.concept)?.question ?? '') : '',
          ),
        );
      return text;
    },
    write(record): WriteResult {
      const projected = projectSessionRows(spec, record);
      if (!projected.ok) return projected;
      const { session, person, startedAt } = projected.record;
      const completed = session.status === 'completed';
      const cells = c.columns.map((column) => {
        const concept = column.concept;
        switch (column.target) {
          case 'person.name':
            return person.name ? writeFamilyCommaGiven(person.name) : '';
          case 'session.start':
            return (
              column.date?.write(completed ? (startedAt ?? session.authored) : session.authored) ??
              ''
            );
          case 'session.end':
            return completed ? (column.date?.write(session.authored) ?? '') : '';
          case 'item.score':
            return column.codes?.write(concept ? (session.scores[concept] ?? null) : null) ?? '';
          case 'item.helpWanted':
            return (
              column.codes?.write(concept ? (session.helpWanted[concept] ?? null) : null) ?? ''
            );
          case 'item.chosen':
            return (
              column.codes?.write(concept !== undefined && session.chosen.includes(concept)) ?? ''
            );
          case 'item.actions': {
            const d = session.discussed.find((x) => x.concept === concept);
            return d ? d.actions.map((a) => a.what).join(column.spec.separator ?? ';') : '';
          }
          default:
            return '';
        }
      });
      return { ok: true, text: csv.row(cells), notHeld: projected.notHeld };
    },
    end: () => '',
  };
}
