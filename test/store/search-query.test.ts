import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { Provenance, Task } from '@medplum/fhirtypes';
import { parseSearch, searchParametersFor, versionOfETag } from '../../src/store';
import { instantRange, MAX_VALUES_PER_PARAMETER } from '../../src/store/search-query';
import { indexValues, referenceValue } from '../../src/store/search-parameters';

const iso = (ms: number): string => new Date(ms).toISOString();

/** desc / value / [lo, hi) — or undefined when the value is not a date. */
const dates: [string, string, [string, string] | undefined][] = [
  ['a year', '2025', ['2025-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']],
  ['a month', '2025-02', ['2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z']],
  ['a December', '2025-12', ['2025-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']],
  ['a leap day', '2024-02-29', ['2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z']],
  [
    'minutes with an offset',
    '2025-10-20T22:40+01:00',
    ['2025-10-20T21:40:00.000Z', '2025-10-20T21:41:00.000Z'],
  ],
  [
    'seconds in UTC',
    '2025-10-20T22:40:05Z',
    ['2025-10-20T22:40:05.000Z', '2025-10-20T22:40:06.000Z'],
  ],
  ['tenths', '2025-10-20T22:40:05.1Z', ['2025-10-20T22:40:05.100Z', '2025-10-20T22:40:05.200Z']],
  [
    'milliseconds',
    '2025-10-20T22:40:05.123Z',
    ['2025-10-20T22:40:05.123Z', '2025-10-20T22:40:05.124Z'],
  ],
  [
    'more than milliseconds',
    '2025-10-20T22:40:05.123456Z',
    ['2025-10-20T22:40:05.123Z', '2025-10-20T22:40:05.124Z'],
  ],
  [
    'a negative offset',
    '2025-03-30T00:30-05:00',
    ['2025-03-30T05:30:00.000Z', '2025-03-30T05:31:00.000Z'],
  ],
  [
    'no offset (read as UTC)',
    '2025-03-30T01:30',
    ['2025-03-30T01:30:00.000Z', '2025-03-30T01:31:00.000Z'],
  ],
  ['no leap day', '2025-02-29', undefined],
  ['month 13', '2025-13', undefined],
  ['hour 24', '2025-10-20T24:00Z', undefined],
  ['no separators', '20251020', undefined],
  ['an hour alone', '2025-10-20T10Z', undefined],
  [
    'the largest offset east',
    '2025-01-01T00:00:00+14:00',
    ['2024-12-31T10:00:00.000Z', '2024-12-31T10:00:01.000Z'],
  ],
  [
    'the largest offset west',
    '2025-01-01T00:00:00-14:00',
    ['2025-01-01T14:00:00.000Z', '2025-01-01T14:00:01.000Z'],
  ],
  ['an offset with 99 hours and minutes', '2025-01-01T00:00:00+99:99', undefined],
  ['an offset past +14:00', '2025-01-01T00:00:00+14:01', undefined],
  ['an offset of 15 hours', '2025-01-01T00:00-15:00', undefined],
  ['an offset with 60 minutes', '2025-01-01T00:00:00+01:60', undefined],
  ['a year before 100', '0099', ['0099-01-01T00:00:00.000Z', '0100-01-01T00:00:00.000Z']],
  ['a day before year 100', '0050-03-01', ['0050-03-01T00:00:00.000Z', '0050-03-02T00:00:00.000Z']],
  ['year 0', '0000-01-01', undefined],
];

describe('dates in search values', () => {
  it.each(dates)('reads %s', (_desc, value, expected) => {
    const range = instantRange(value);
    expect(range ? [iso(range.lo), iso(range.hi)] : undefined).toEqual(expected);
  });
});

function refused(call: () => unknown): { status: number; expression: string[] | undefined } {
  try {
    call();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return { status: getStatus(err.outcome), expression: err.outcome.issue[0]?.expression };
  }
  throw new Error('not refused');
}

describe('parseSearch', () => {
  it('reads escapes: \\, inside a value, \\| inside a system', () => {
    const parsed = parseSearch('Patient', 'identifier=a\\,b,c&identifier=sys\\|x|v');
    expect(parsed.filters).toEqual([
      { kind: 'index', param: 'identifier', alternatives: [{ value: 'a,b' }, { value: 'c' }] },
      { kind: 'index', param: 'identifier', alternatives: [{ system: 'sys|x', value: 'v' }] },
    ]);
  });

  it('takes at most MAX_VALUES_PER_PARAMETER values of one parameter (a 400 too-costly past it)', () => {
    const values = (n: number, prefix: string): string =>
      Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(',');
    expect(
      parseSearch('Observation', { subject: values(MAX_VALUES_PER_PARAMETER, 'Patient/p') })
        .filters[0],
    ).toMatchObject({ kind: 'index', param: 'subject' });
    for (const [name, prefix] of [
      ['subject', 'Patient/p'],
      ['identifier', 'v'],
    ] as const)
      expect(
        refused(() =>
          parseSearch('Observation', { [name]: values(MAX_VALUES_PER_PARAMETER + 1, prefix) }),
        ),
      ).toEqual({ status: 400, expression: [name] });
  });

  it('reads references with and without a type', () => {
    const parsed = parseSearch('Observation', {
      subject: ['Patient/1/_history/2', '7'],
      'patient:Patient': '9',
    });
    expect(parsed.filters).toEqual([
      { kind: 'index', param: 'subject', alternatives: [{ system: 'Patient', value: '1' }] },
      { kind: 'index', param: 'subject', alternatives: [{ value: '7' }] },
      { kind: 'index', param: 'patient', alternatives: [{ system: 'Patient', value: '9' }] },
    ]);
    expect(refused(() => parseSearch('Observation', { 'subject:Group': 'Patient/1' }))).toEqual({
      status: 400,
      expression: ['subject'],
    });
  });

  it('refuses a UTC offset no zone has, at the parameter', () => {
    for (const value of [
      '2025-01-01T00:00:00+99:99',
      'ge2025-01-01T00:00:00-14:30',
      'lt2025-01-01T10:00+02:60',
    ])
      expect(refused(() => parseSearch('Patient', { _lastUpdated: value }))).toEqual({
        status: 400,
        expression: ['_lastUpdated'],
      });
    // As a query string, where the + arrives as a space.
    expect(refused(() => parseSearch('Patient', '_lastUpdated=2025-01-01T00:00:00+99:99'))).toEqual(
      { status: 400, expression: ['_lastUpdated'] },
    );
  });

  it('takes a space in an offset as the + a query string turned into one', () => {
    const plus = parseSearch('Patient', { _lastUpdated: 'ge2025-01-01T00:00:00+01:00' });
    const space = parseSearch('Patient', '_lastUpdated=ge2025-01-01T00:00:00+01:00');
    expect(space.filters).toEqual(plus.filters);
    expect(plus.filters).toEqual([
      { kind: 'lastUpdated', ranges: [{ from: Date.parse('2024-12-31T23:00:00Z') }] },
    ]);
  });

  it('pages: defaults, caps, and the parameters over the options', () => {
    expect(parseSearch('Patient', {})).toMatchObject({ count: 20, offset: 0, sort: 'id' });
    expect(parseSearch('Patient', { _count: '5000' }).count).toBe(1000);
    expect(parseSearch('Patient', { _count: '3' }, { count: 50, offset: 4 })).toMatchObject({
      count: 3,
      offset: 4,
    });
    expect(parseSearch('Patient', {}, { count: -5, offset: 2.5 })).toMatchObject({
      count: 0,
      offset: 2,
    });
    expect(parseSearch('Patient', { _sort: '-_lastUpdated' }).sort).toBe('-_lastUpdated');
    expect(refused(() => parseSearch('Patient', '_count=1&_count=2')).status).toBe(400);
  });

  it('refuses paging in a condition, pointing where the caller says', () => {
    expect(
      refused(() =>
        parseSearch(
          'Patient',
          { _count: '1' },
          { condition: true, at: 'Bundle.entry[2].request.url' },
        ),
      ),
    ).toEqual({ status: 400, expression: ['Bundle.entry[2].request.url'] });
  });
});

describe('search parameters', () => {
  it('follows R4: Goal has lifecycle-status, Task is searched by its for', () => {
    const names = (type: string): string[] => searchParametersFor(type).map((p) => p.name);
    expect(names('Goal')).toEqual(
      expect.arrayContaining([
        '_id',
        '_lastUpdated',
        'identifier',
        'lifecycle-status',
        'subject',
        'patient',
      ]),
    );
    expect(names('Goal')).not.toContain('status');
    expect(names('Patient')).toEqual(['_id', '_lastUpdated', 'identifier']);
    expect(names('Basic')).toEqual(['_id', '_lastUpdated']);
    const task: Task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      for: { reference: 'Patient/p' },
      focus: { reference: 'CarePlan/c' },
      owner: { reference: 'https://elsewhere.example/fhir/Organization/o' },
    };
    expect(indexValues(task).sort()).toEqual(
      [
        ['status', '', 'requested'],
        ['subject', 'Patient', 'p'],
        ['patient', 'Patient', 'p'],
        ['focus', 'CarePlan', 'c'],
      ].sort(),
    );
  });

  it('indexes patient only for Patient targets', () => {
    const provenance: Provenance = {
      resourceType: 'Provenance',
      recorded: '2025-10-20T10:00:00Z',
      agent: [{ who: { display: 'ward' } }],
      target: [{ reference: 'Group/g' }, { reference: 'Patient/p' }, { reference: 'urn:uuid:x' }],
    };
    expect(indexValues(provenance).sort()).toEqual(
      [
        ['target', 'Group', 'g'],
        ['target', 'Patient', 'p'],
        ['patient', 'Patient', 'p'],
      ].sort(),
    );
  });

  it('reads only relative references', () => {
    expect(referenceValue('Patient/1/_history/2')).toEqual({ system: 'Patient', value: '1' });
    expect(referenceValue('https://x.example/fhir/Patient/1')).toBeUndefined();
    expect(referenceValue('#contained')).toBeUndefined();
    expect(referenceValue(7)).toBeUndefined();
  });
});

describe('ETags', () => {
  it.each([
    ['W/"3"', '3'],
    ['"3"', '3'],
    ['3', '3'],
    [' W/"12" ', '12'],
  ])('reads %s', (etag, version) => {
    expect(versionOfETag(etag, 'x')).toBe(version);
  });

  it.each(['W/3', 'W/"1', '"a b"', ''])('refuses %j', (etag) => {
    expect(refused(() => versionOfETag(etag, 'Patient.meta.versionId'))).toEqual({
      status: 400,
      expression: ['Patient.meta.versionId'],
    });
  });
});
