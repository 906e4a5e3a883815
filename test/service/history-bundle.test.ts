/** src/service/history-bundle.ts: the page a history request asks for, and its Bundle. */
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import {
  checkHistoryParameters,
  historyPageOf,
  historyResultBundle,
} from '../../src/service/history-bundle';

function faultOf(run: () => unknown): { status: number; at: string | undefined } {
  try {
    run();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return { status: getStatus(err.outcome), at: err.outcome.issue[0]?.expression?.[0] };
  }
  throw new Error('expected an OperationOutcome');
}

describe('historyPageOf', () => {
  it('reads _count (at most 1,000), _offset and _since (its + sent unencoded as a space)', () => {
    expect(historyPageOf(new URLSearchParams('_count=5000&_offset=3'))).toEqual({
      count: 1000,
      offset: 3,
    });
    const page = historyPageOf(new URLSearchParams('_since=2026-01-31T09:00:00 01:00'));
    expect(page.since).toBe(Date.parse('2026-01-31T08:00:00Z'));
    expect(page).toMatchObject({ count: 20, offset: 0 });
  });

  it('refuses a _since that is no instant, and a parameter given twice, at the parameter', () => {
    expect(faultOf(() => historyPageOf(new URLSearchParams('_since=2026-01-31')))).toEqual({
      status: 400,
      at: '_since',
    });
    expect(faultOf(() => historyPageOf(new URLSearchParams('_count=1&_count=2')))).toEqual({
      status: 400,
      at: '_count',
    });
  });
});

describe('checkHistoryParameters', () => {
  it('refuses a parameter a history does not take, and passes its own', () => {
    expect(faultOf(() => checkHistoryParameters(new URLSearchParams('_sort=x')))).toEqual({
      status: 400,
      at: '_sort',
    });
    expect(() =>
      checkHistoryParameters(new URLSearchParams('_count=1&_offset=0&_since=2026-01-31T09:00:00Z')),
    ).not.toThrow();
  });
});

describe('historyResultBundle', () => {
  const version = (v: string): Patient => ({
    resourceType: 'Patient',
    id: 'p1',
    meta: { versionId: v, lastUpdated: '2026-01-31T09:00:00Z' },
  });

  it('is the history Bundle of the page: total by the store, links by its positions', () => {
    const bundle = historyResultBundle(
      { versions: [version('3'), version('2')], total: 5 },
      { count: 2, offset: 2 },
      'Patient/p1/_history',
      new URLSearchParams(),
    );
    expect(bundle).toMatchObject({ type: 'history', total: 5 });
    expect(bundle.entry?.map((e) => e.request)).toEqual([
      { method: 'PUT', url: 'Patient/p1' },
      { method: 'PUT', url: 'Patient/p1' },
    ]);
    expect(bundle.link?.map((l) => l.relation)).toEqual(['self', 'next', 'previous']);
    expect(bundle.entry?.[0]?.fullUrl).toBeUndefined();
  });

  it('the first version is the create, and fullUrls are given under a known base', () => {
    const bundle = historyResultBundle(
      { versions: [version('1')], total: 1 },
      { count: 20, offset: 0 },
      'http://x/fhir/Patient/p1/_history',
      new URLSearchParams(),
      'http://x/fhir',
    );
    expect(bundle.entry?.[0]).toMatchObject({
      fullUrl: 'http://x/fhir/Patient/p1',
      request: { method: 'POST', url: 'Patient' },
      response: { status: '201 Created' },
    });
    expect(bundle.link?.map((l) => l.relation)).toEqual(['self']);
  });
});
