/** src/service/known-parameters.ts: parameters an endpoint does not take are refused, not ignored. */
import { getStatus, OperationOutcomeError } from '@medplum/core';
import { refuseParametersNotIn } from '../../src/service/known-parameters';

function refusal(run: () => void): { status: number; at?: string; text?: string } | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    const issue = err.outcome.issue[0];
    return {
      status: getStatus(err.outcome),
      ...(issue?.expression?.[0] !== undefined ? { at: issue.expression[0] } : {}),
      ...(issue?.details?.text !== undefined ? { text: issue.details.text } : {}),
    };
  }
}

describe('refuseParametersNotIn', () => {
  it('refuses the first parameter not taken, at its name, saying what is taken', () => {
    const query = new URLSearchParams('_count=1&_sort=x&_elements=y');
    expect(refusal(() => refuseParametersNotIn(query, ['_count'], 'A history'))).toEqual({
      status: 400,
      at: '_sort',
      text: 'A history takes no parameter _sort (it takes _count)',
    });
  });

  it('says when nothing is taken, and passes what is taken without being listed', () => {
    expect(
      refusal(() => refuseParametersNotIn(new URLSearchParams('x=1'), [], 'This endpoint')),
    ).toMatchObject({ text: 'This endpoint takes no parameter x: it takes no query parameters' });
    expect(
      refusal(() =>
        refuseParametersNotIn(new URLSearchParams('_format=json'), [], 'This endpoint', [
          '_format',
        ]),
      ),
    ).toBeUndefined();
  });
});
