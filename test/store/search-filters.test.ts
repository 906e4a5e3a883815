/**
 * src/store/embedded-store.ts, searches with several filters: one finds the matches (a
 * reference or identifier before a code most resources share) and every other is checked on each
 * match. Whatever filter finds them, a search answers what each filter alone would allow,
 * with its total and pages: compared here with the same rules applied to every stored resource.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, QuestionnaireResponse } from '@medplum/fhirtypes';
import { EmbeddedStore } from '../../src/store';

const STATUSES = ['completed', 'amended', 'in-progress', 'stopped'] as const;
const SYSTEMS = ['urn:a', 'urn:b'];
/** The 12 people stored, and 88 more no one names. */
const HUNDRED = Array.from({ length: 100 }, (_, i) => `Patient/p${i}`);

let dir: string;
let store: EmbeddedStore;
let all: QuestionnaireResponse[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-filters-'));
  store = EmbeddedStore.open({ dataDir: dir });
  const entry = Array.from({ length: 240 }, (_, i) => ({
    request: { method: 'PUT' as const, url: `QuestionnaireResponse/r${i}` },
    resource: {
      resourceType: 'QuestionnaireResponse' as const,
      id: `r${i}`,
      questionnaire: 'Questionnaire/dialog',
      status: STATUSES[i % 4] ?? 'completed',
      identifier: { system: SYSTEMS[i % 2] ?? '', value: `v${i % 7}` },
      // Every tenth names no one; the rest one of 12 people.
      ...(i % 10 === 9 ? {} : { subject: { reference: `Patient/p${i % 12}` } }),
    },
  }));
  await store.transaction({ resourceType: 'Bundle', type: 'transaction', entry } as Bundle);
  all = (await store.search('QuestionnaireResponse', {}, { count: 1000 })).resources;
  expect(all).toHaveLength(240);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

type Rule = (r: QuestionnaireResponse) => boolean;
const subjectIs =
  (...people: string[]): Rule =>
  (r) =>
    people.includes(r.subject?.reference ?? '');
const statusIs =
  (...statuses: string[]): Rule =>
  (r) =>
    statuses.includes(r.status);
const identifierIs =
  (system: string | undefined, value: string | undefined): Rule =>
  (r) =>
    (system === undefined || r.identifier?.system === system) &&
    (value === undefined || r.identifier?.value === value);
const idIs =
  (...ids: string[]): Rule =>
  (r) =>
    ids.includes(r.id ?? '');

/** The ids every rule allows. */
function expected(...rules: Rule[]): string[] {
  return all.filter((r) => rules.every((rule) => rule(r))).map((r) => r.id ?? '');
}

async function found(params: Record<string, string>, count = 1000, offset = 0) {
  const result = await store.search('QuestionnaireResponse', params, { count, offset });
  return { ids: result.resources.map((r) => r.id ?? ''), total: result.total };
}

describe('several filters', () => {
  it.each<[string, Record<string, string>, Rule[]]>([
    [
      'subject and status (two codes)',
      { subject: 'Patient/p3', status: 'completed,amended' },
      [subjectIs('Patient/p3'), statusIs('completed', 'amended')],
    ],
    [
      'patient (read from subject) and status',
      { patient: 'p4', status: 'in-progress' },
      [subjectIs('Patient/p4'), statusIs('in-progress')],
    ],
    [
      'two people and a status',
      { subject: 'Patient/p1,Patient/p2', status: 'stopped,completed' },
      [subjectIs('Patient/p1', 'Patient/p2'), statusIs('stopped', 'completed')],
    ],
    [
      'identifier with its system, and status',
      { identifier: 'urn:a|v2', status: 'completed' },
      [identifierIs('urn:a', 'v2'), statusIs('completed')],
    ],
    [
      'identifier without a system, subject and status',
      { identifier: 'v3', subject: 'Patient/p6', status: 'completed,in-progress' },
      [
        identifierIs(undefined, 'v3'),
        subjectIs('Patient/p6'),
        statusIs('completed', 'in-progress'),
      ],
    ],
    [
      'identifier by system only, and status',
      { identifier: 'urn:b|', status: 'amended' },
      [identifierIs('urn:b', undefined), statusIs('amended')],
    ],
    ['status alone', { status: 'amended' }, [statusIs('amended')]],
    [
      'as many people as a parameter takes (100), and a status',
      { subject: HUNDRED.join(','), status: 'completed' },
      [subjectIs(...HUNDRED), statusIs('completed')],
    ],
    [
      '_id with subject and status',
      { _id: 'r1,r13,r25,r37,r2', subject: 'Patient/p1', status: 'amended' },
      [idIs('r1', 'r13', 'r25', 'r37', 'r2'), subjectIs('Patient/p1'), statusIs('amended')],
    ],
    [
      'a status no one has, with a subject',
      { subject: 'Patient/p3', status: 'entered-in-error' },
      [subjectIs('Patient/p3'), statusIs('entered-in-error')],
    ],
    [
      'a status with a system (codes have none)',
      {
        subject: 'Patient/p3',
        status: 'http://hl7.org/fhir/questionnaire-answers-status|completed',
      },
      [() => false],
    ],
  ])('%s', async (_name, params, rules) => {
    const want = expected(...rules);
    const { ids, total } = await found(params);
    expect([...ids].sort()).toEqual([...want].sort());
    expect(total).toBe(want.length);
  });

  it('pages and totals hold whichever filter finds the matches', async () => {
    const want = expected(statusIs('completed', 'amended'), identifierIs('urn:a', undefined));
    expect(want.length).toBeGreaterThan(10);
    const first = await found({ status: 'completed,amended', identifier: 'urn:a|' }, 4, 0);
    const second = await found({ status: 'completed,amended', identifier: 'urn:a|' }, 4, 4);
    expect(first.total).toBe(want.length);
    expect(second.total).toBe(want.length);
    expect(new Set([...first.ids, ...second.ids]).size).toBe(8);
    for (const id of [...first.ids, ...second.ids]) expect(want).toContain(id);
  });
});
