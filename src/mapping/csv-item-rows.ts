/**
 * CSV with one item score per row (kind `csv-item-rows`: MHSDS coded scored assessments). Rows
 * are grouped into sessions by every column that is not about the item (person, session
 * identifier, assessment time): rows of one session must be adjacent, as an extract sorted by
 * person and time is. Rows with a code that is not a DIALOG item (another assessment tool) are
 * skipped, not rejected. A bad row rejects its whole session — a session missing one item would
 * otherwise be imported as if the person had not rated it.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { type DialogItemConcept, type DialogScore, itemBySnomed, SNOMED_SYSTEM } from '../dialog';
import { error } from '../validation/outcome';
import {
  cellLocation,
  controlCharacterIssue,
  type Column,
  dateIssue,
  expandColumns,
  itemsInOrder,
  matchHeader,
} from './columns';
import { isNhsNumber, isSnomedCtId } from './codes';
import { CsvReader, CsvWriter } from './csv';
import { shownTwiceIssue, ZoneClock } from './datetime';
import { headerNotice, placedIssue, targetExpression } from './issues';
import {
  type DialogRecord,
  nativeSession,
  notHeldByNative,
  type PersonDetails,
  type PersonIdentifier,
} from './record';
import type { CsvItemRowsMapping } from './spec';
import type {
  FormatReader,
  FormatWriter,
  Projection,
  ReadOptions,
  ReadSink,
  WriteResult,
} from './types';
import { CONTROL_CHARACTER } from './types';

const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER.source, 'g');

interface Compiled {
  readonly spec: CsvItemRowsMapping;
  readonly columns: Column[];
  readonly itemOrder: readonly DialogItemConcept[];
  readonly authored: Column;
  readonly code: Column;
  readonly score: Column;
  readonly personIds: Column[];
  readonly sessionId: Column | undefined;
}

const compiled = new WeakMap<CsvItemRowsMapping, Compiled>();

function compile(spec: CsvItemRowsMapping): Compiled {
  const hit = compiled.get(spec);
  if (hit) return hit;
  const clock = new ZoneClock(spec.timeZone);
  const columns = expandColumns(spec.columns, undefined, spec.itemOrder, clock);
  const find = (target: string): Column => {
    const column = columns.find((c) => c.target === target);
    if (!column) throw new Error(`${spec.format}: the mapping has no ${target} column`);
    return column;
  };
  const result: Compiled = {
    spec,
    columns,
    itemOrder: itemsInOrder(spec.itemOrder).map((i) => i.concept),
    authored: find('session.authored'),
    code: find('item.code'),
    score: find('item.score'),
    personIds: columns.filter((c) => c.target === 'person.identifier'),
    sessionId: columns.find((c) => c.target === 'session.identifier'),
  };
  compiled.set(spec, result);
  return result;
}

function isItemColumn(column: Column): boolean {
  return column.target === 'item.code' || column.target === 'item.score';
}

interface Group {
  readonly key: string;
  readonly firstRow: number;
  lastRow: number;
  readonly cells: readonly string[];
  readonly items: { row: number; concept: DialogItemConcept; score: string }[];
  /** What is wrong with the session's rows that are not items (a code that is no code). */
  readonly faults: OperationOutcomeIssue[];
}

export function createItemRowsReader(
  spec: CsvItemRowsMapping,
  options: ReadOptions,
  sink: ReadSink,
): FormatReader {
  const c = compile(spec);
  const file = options.file;
  let byIndex: (Column | undefined)[] | undefined;
  let headerFailed = false;
  let sessionIndexes: number[] = [];
  let codeIndex = -1;
  let scoreIndex = -1;
  let group: Group | undefined;
  /** First row of each session already converted, to catch sessions split across the file. */
  const done = new Map<string, number>();
  /** The input has held a control character (CsvReader.controlSeen). */
  let controlInInput = false;

  function row(cells: string[], rowNumber: number, controlSeen = false): void {
    controlInInput = controlSeen;
    if (rowNumber === 1) {
      const match = matchHeader(cells, c.columns, undefined, file, spec.title);
      for (const issue of match.issues) sink.notice(headerNotice(issue, file));
      if (!match.ok) {
        headerFailed = true;
        return;
      }
      byIndex = match.byIndex;
      sessionIndexes = byIndex.flatMap((col, i) => (col && !isItemColumn(col) ? [i] : []));
      codeIndex = byIndex.indexOf(c.code);
      scoreIndex = byIndex.indexOf(c.score);
      return;
    }
    if (cells.every((cell) => cell.trim() === '')) return;
    const location = `row ${rowNumber}`;
    if (headerFailed || !byIndex || cells.length !== byIndex.length) flush(); // keep outcomes in row order
    if (headerFailed || !byIndex) {
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
    if (cells.length !== byIndex.length) {
      sink.reject(
        [
          placedIssue(
            'structure',
            `The row has ${cells.length} cells where the header has ${byIndex.length}: an unquoted delimiter has probably shifted the cells. The row is not imported`,
            `row ${rowNumber}`,
            file,
            location,
          ),
        ],
        location,
      );
      return;
    }
    // The session's identifiers go into FHIR as they are: they may hold no control character
    // (one here rejects the whole session, as any bad row does).
    if (controlSeen)
      for (const i of sessionIndexes) {
        const column = byIndex[i];
        if (column && CONTROL_CHARACTER.test(cells[i] ?? ''))
          inGroup(cells, rowNumber).faults.push(controlCharacterIssue(column, file, rowNumber));
      }
    const code = (cells[codeIndex] ?? '').trim();
    const item = itemBySnomed(code);
    if (!item) {
      if (code === '')
        sink.reject(
          [
            placedIssue(
              'required',
              `${c.code.header} is empty`,
              c.code.expression,
              file,
              cellLocation(rowNumber, c.code),
            ),
          ],
          location,
        );
      // Another assessment tool's row is skipped; a code that is no SNOMED CT code at all
      // (one a spreadsheet rounded, a DIALOG item's among them) rejects the session it is in:
      // skipped, it would leave that session looking as if the person had not rated the item.
      else if (isSnomedCtId(code)) sink.skip(location);
      else
        inGroup(cells, rowNumber).faults.push(
          placedIssue(
            'code-invalid',
            `${c.code.header} is not a SNOMED CT code (its form or check digit is wrong): a spreadsheet may have rounded it or written it as a number like 1.03766E+15 — keep the column as text`,
            c.code.expression,
            file,
            cellLocation(rowNumber, c.code),
          ),
        );
      return;
    }
    inGroup(cells, rowNumber).items.push({
      row: rowNumber,
      concept: item.concept,
      score: (cells[scoreIndex] ?? '').trim(),
    });
  }

  /** The session this row belongs to (rows of one session are adjacent). */
  function inGroup(cells: string[], rowNumber: number): Group {
    // A control character (rejected) does not split the session its row belongs to: the whole
    // session is rejected, not converted short of that row's item.
    const key = sessionIndexes
      .map((i) => {
        const cell = (cells[i] ?? '').trim();
        return controlInInput ? cell.replace(CONTROL_CHARACTERS, '').trim() : cell;
      })
      .join('\u0001');
    if (group && group.key !== key) flush();
    group ??= { key, firstRow: rowNumber, lastRow: rowNumber, cells, items: [], faults: [] };
    group.lastRow = rowNumber;
    return group;
  }

  function flush(): void {
    const g = group;
    group = undefined;
    if (!g || !byIndex) return;
    const location =
      g.firstRow === g.lastRow ? `row ${g.firstRow}` : `rows ${g.firstRow}–${g.lastRow}`;
    const issues: OperationOutcomeIssue[] = [...g.faults];
    const earlier = done.get(g.key);
    if (earlier !== undefined)
      issues.push(
        placedIssue(
          'structure',
          `These rows belong to the session at row ${earlier}, which was already converted without them (so that session lacks these items): rows of one session must be adjacent — sort the extract by person and assessment time`,
          c.authored.expression,
          file,
          location,
        ),
      );
    const identifiers: PersonIdentifier[] = [];
    let sessionIdentifier: { system: string; value: string } | undefined;
    let authored = '';
    byIndex.forEach((column, i) => {
      if (!column || isItemColumn(column)) return;
      const cell = (g.cells[i] ?? '').trim();
      const where = cellLocation(g.firstRow, column);
      if (cell === '') {
        if (column.spec.required)
          issues.push(
            placedIssue('required', `${column.header} is empty`, column.expression, file, where),
          );
        return;
      }
      switch (column.target) {
        case 'person.identifier':
          if (column.spec.check === 'nhs-number' && !isNhsNumber(cell)) {
            issues.push(
              placedIssue(
                'value',
                `${column.header} is not a valid NHS number (10 digits, not all the same, with a correct check digit)`,
                column.expression,
                file,
                where,
              ),
            );
            return;
          }
          identifiers.push({ system: column.spec.system ?? '', value: cell });
          return;
        case 'session.identifier':
          sessionIdentifier = { system: column.spec.system ?? '', value: cell };
          return;
        case 'session.authored': {
          const read = column.date?.read(cell);
          if (!read?.ok) issues.push(dateIssue(read?.problem ?? 'format', column, file, where));
          else authored = read.value;
          return;
        }
        default:
          return;
      }
    });
    const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
    for (const item of g.items) {
      const where = cellLocation(item.row, c.score);
      if (scores[item.concept] !== undefined) {
        issues.push(
          placedIssue(
            'duplicate',
            `The session has two scores for the same item (${c.code.header})`,
            c.code.expression,
            file,
            cellLocation(item.row, c.code),
          ),
        );
        continue;
      }
      const read = c.score.codes?.read(item.score);
      if (!read?.ok || read.value === null) {
        issues.push(
          placedIssue(
            'code-invalid',
            `${c.score.header} is not one of ${c.score.codes?.describe() ?? ''}`,
            targetExpression('item.score', item.concept),
            file,
            where,
          ),
        );
        continue;
      }
      scores[item.concept] = read.value as DialogScore;
    }
    done.set(g.key, earlier ?? g.firstRow);
    if (issues.length > 0) {
      sink.reject(issues, location);
      return;
    }
    const ordered: Partial<Record<DialogItemConcept, DialogScore>> = {};
    for (const concept of c.itemOrder)
      if (scores[concept] !== undefined) ordered[concept] = scores[concept];
    const person: PersonDetails = { identifiers };
    const session = nativeSession({
      status: 'completed',
      person,
      subject: options.subject,
      authored,
      identifier: sessionIdentifier,
      scores: ordered,
    });
    sink.record({ session, person }, location);
  }

  const reader = new CsvReader(spec.csv, {
    row,
    unreadable(rowNumber, reason) {
      const location = `row ${rowNumber}`;
      sink.reject(
        [placedIssue('structure', `Not valid CSV: ${reason}`, location, file, location)],
        location,
      );
    },
  });
  return {
    push: (chunk) => reader.push(chunk),
    async end() {
      await reader.end();
      flush();
    },
  };
}

/** What MHSDS rows can hold: the scores of a completed session, its time and identifiers. */
export function projectItemRows(
  spec: CsvItemRowsMapping,
  record: DialogRecord,
  options: Pick<ReadOptions, 'subject'> = {},
): Projection {
  const c = compile(spec);
  const { session, person } = record;
  const issues: OperationOutcomeIssue[] = [];
  const notHeld: string[] = [];
  if (session.status !== 'completed')
    issues.push(
      error(
        'not-supported',
        `${spec.title} hold completed assessments only`,
        'QuestionnaireResponse.status',
      ),
    );
  if (Object.keys(session.scores).length === 0)
    issues.push(
      error(
        'required',
        'The session has no scores to write',
        "QuestionnaireResponse.item.where(linkId='ratings')",
      ),
    );
  const identifiers: PersonIdentifier[] = [];
  for (const column of c.personIds) {
    const found = person.identifiers.filter((i) => i.system === column.spec.system);
    const id = found[0];
    if (found.length > 1) notHeld.push(`person.identifier (${column.header}, more than one)`);
    if (!id) {
      if (column.spec.required)
        issues.push(
          error(
            'required',
            `${column.header} needs a person identifier with system ${column.spec.system ?? ''}`,
            'QuestionnaireResponse.subject',
          ),
        );
      continue;
    }
    if (column.spec.check === 'nhs-number' && !isNhsNumber(id.value))
      issues.push(
        error(
          'value',
          `${column.header}: the NHS number is not valid`,
          'QuestionnaireResponse.subject',
        ),
      );
    identifiers.push({ system: id.system, value: id.value });
  }
  if (person.identifiers.some((i) => !c.personIds.some((col) => col.spec.system === i.system)))
    notHeld.push('person.identifier (other systems)');
  if (person.name) notHeld.push('person.name');
  if (person.birthDate) notHeld.push('person.birthDate');
  if (person.gender) notHeld.push('person.gender');
  let identifier: { system: string; value: string } | undefined;
  if (session.identifier) {
    if (c.sessionId && session.identifier.system === c.sessionId.spec.system)
      identifier = session.identifier;
  }
  const authored = c.authored.date?.normalise(session.authored);
  if (!authored)
    issues.push(
      error('invalid', 'authored is not a dateTime with offset', 'QuestionnaireResponse.authored'),
    );
  else if (authored !== session.authored) notHeld.push('authored (fraction of a second, offset)');
  if (authored && c.authored.date?.shownTwice(session.authored))
    issues.push(shownTwiceIssue(c.authored.header, 'QuestionnaireResponse.authored'));
  if (Object.keys(session.helpWanted).length > 0) notHeld.push('helpWanted');
  if (session.chosen.length > 0 || session.discussed.length > 0) notHeld.push('discussion');
  if (session.previousActions.length > 0) notHeld.push('previousActions');
  if (record.startedAt) notHeld.push('startedAt');
  for (const key of ['id', 'timepoint', 'setting', 'reusedFrom', 'subjectDisplay'] as const)
    if (session[key] !== undefined) notHeld.push(key);
  if (issues.length > 0 || !authored) return { ok: false, issues };
  const scores: Partial<Record<DialogItemConcept, DialogScore>> = {};
  for (const concept of c.itemOrder)
    if (session.scores[concept] !== undefined) scores[concept] = session.scores[concept];
  const projectedPerson: PersonDetails = { identifiers };
  const projected = nativeSession({
    status: 'completed',
    person: projectedPerson,
    subject: options.subject,
    authored,
    identifier,
    scores,
  });
  if (session.identifier && session.identifier.value !== projected.identifier?.value && !identifier)
    notHeld.push('identifier');
  if (session.author) notHeld.push('author');
  return {
    ok: true,
    notHeld: [...new Set([...notHeld, ...notHeldByNative(record, options.subject)])],
    record: { session: projected, person: projectedPerson },
  };
}

export function createItemRowsWriter(spec: CsvItemRowsMapping): FormatWriter {
  const c = compile(spec);
  const csv = new CsvWriter(spec.csv);
  return {
    begin: () => csv.row(c.columns.map((col) => col.header)),
    write(record): WriteResult {
      const projected = projectItemRows(spec, record);
      if (!projected.ok) return projected;
      const { session, person } = projected.record;
      let text = '';
      for (const concept of c.itemOrder) {
        const score = session.scores[concept];
        if (score === undefined) continue;
        const cells = c.columns.map((column) => {
          switch (column.target) {
            case 'person.identifier':
              return person.identifiers.find((i) => i.system === column.spec.system)?.value ?? '';
            case 'session.identifier':
              return session.identifier?.system === column.spec.system
                ? (session.identifier?.value ?? '')
                : '';
            case 'session.authored':
              return column.date?.write(session.authored) ?? '';
            case 'item.code':
              return column.spec.codeSystem === SNOMED_SYSTEM
                ? (itemsBySnomedCode(concept) ?? '')
                : '';
            case 'item.score':
              return column.codes?.write(score) ?? '';
            default:
              return '';
          }
        });
        text += csv.row(cells);
      }
      return { ok: true, text, notHeld: projected.notHeld };
    },
    end: () => '',
  };
}

function itemsBySnomedCode(concept: DialogItemConcept): string | undefined {
  return itemsInOrder('snomed').find((i) => i.concept === concept)?.snomed;
}
