import { getStatus, OperationOutcomeError } from '@medplum/core';
import { checkPlaceholders, copyJson, resolvePlaceholders } from '../../src/store/bundle-request';

function faultOf(run: () => void): { status: number; expression: string | undefined } {
  try {
    run();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return { status: getStatus(err.outcome), expression: err.outcome.issue[0]?.expression?.[0] };
  }
  throw new Error('expected an OperationOutcome');
}

describe('copyJson', () => {
  it('copies every level, so changing the copy leaves the original as it was', () => {
    const original = { a: [{ b: 'x' }, 2, null, true], c: { d: { e: 'y' } }, u: undefined };
    const copy = copyJson(original);
    expect(copy).toEqual(original);
    copy.a[0] = { b: 'changed' };
    copy.c.d.e = 'changed';
    expect(original.a[0]).toEqual({ b: 'x' });
    expect(original.c.d.e).toBe('y');
    expect('u' in copy).toBe(true);
  });

  it('keeps an own "__proto__" key as a key, never as the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "k": 1}') as Record<
      string,
      unknown
    >;
    const copy = copyJson(parsed);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(copy)).toEqual(['__proto__', 'k']);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(parsed));
  });

  it('copies 2,000 levels of nesting and refuses 2,001 with a RangeError', () => {
    const nested = (depth: number): unknown => {
      let deep: unknown = 'leaf';
      for (let i = 0; i < depth; i++) deep = i % 2 === 0 ? [deep] : { k: deep };
      return deep;
    };
    expect(copyJson(nested(2000))).toEqual(nested(2000));
    expect(() => copyJson(nested(2001))).toThrow(RangeError);
    expect(() => copyJson(nested(100_000))).toThrow(RangeError);
  });
});

describe('resolvePlaceholders', () => {
  const ids = new Map([
    ['urn:uuid:plan', 'CarePlan/p1'],
    ['urn:uuid:obs', 'Observation/o1'],
  ]);

  it('replaces placeholder references and narrative links, and leaves the rest', () => {
    const goal = {
      resourceType: 'Goal',
      text: { div: '<div><a href="urn:uuid:plan">plan</a> urn:uuid:other</div>' },
      addresses: [{ reference: 'urn:uuid:obs' }, { reference: 'Condition/c1' }],
      extension: [{ url: 'x', valueReference: { reference: 'urn:uuid:plan' } }],
    };
    resolvePlaceholders(goal, ids, 'Bundle.entry[0].resource');
    expect(goal.addresses).toEqual([
      { reference: 'Observation/o1' },
      { reference: 'Condition/c1' },
    ]);
    expect(goal.extension[0]?.valueReference.reference).toBe('CarePlan/p1');
    expect(goal.text.div).toBe('<div><a href="CarePlan/p1">plan</a> urn:uuid:other</div>');
  });

  it('names where the first unknown placeholder is, after known ones before it', () => {
    const goal = {
      resourceType: 'Goal',
      addresses: [{ reference: 'urn:uuid:obs' }, { reference: 'urn:uuid:nowhere' }],
      extension: [{ url: 'x', valueReference: { reference: 'urn:uuid:elsewhere' } }],
    };
    expect(faultOf(() => resolvePlaceholders(goal, ids, 'Bundle.entry[2].resource'))).toEqual({
      status: 400,
      expression: 'Bundle.entry[2].resource.addresses[1].reference',
    });
  });

  it('writes a choice-typed reference as value.ofType(Reference)', () => {
    const observation = {
      resourceType: 'Observation',
      extension: [{ url: 'x', valueReference: { reference: 'urn:uuid:nowhere' } }],
    };
    expect(
      faultOf(() => resolvePlaceholders(observation, ids, 'Bundle.entry[0].resource')),
    ).toEqual({
      status: 400,
      expression: 'Bundle.entry[0].resource.extension[0].value.ofType(Reference).reference',
    });
  });
});

describe('checkPlaceholders', () => {
  const ids = new Map([['urn:uuid:obs', 'Observation/o1']]);

  it('refuses where resolvePlaceholders does, and leaves the resource as it was', () => {
    const goal = {
      resourceType: 'Goal',
      text: { div: '<div>urn:uuid:obs</div>' },
      addresses: [{ reference: 'urn:uuid:obs' }, { reference: 'urn:uuid:nowhere' }],
    };
    const before = JSON.stringify(goal);
    expect(faultOf(() => checkPlaceholders(goal, ids, 'Bundle.entry[2].resource'))).toEqual({
      status: 400,
      expression: 'Bundle.entry[2].resource.addresses[1].reference',
    });
    expect(JSON.stringify(goal)).toBe(before);
  });

  it('passes a resource whose placeholders are all known, unchanged', () => {
    const goal = { resourceType: 'Goal', addresses: [{ reference: 'urn:uuid:obs' }] };
    expect(() => checkPlaceholders(goal, ids, 'Bundle.entry[0].resource')).not.toThrow();
    expect(goal.addresses[0]?.reference).toBe('urn:uuid:obs');
  });
});
