/**
 * Query parameters an endpoint does not take are refused (400 at the first), never ignored: for
 * the routes (src/api/query-parameters.ts) and for the Bundle entries answered as they are
 * (a batch history entry, history-bundle.ts).
 */
import { fault } from './outcomes';

/**
 * Refuses the first parameter of `query` not in `allowed` (nor in `alsoAllowed`, taken without
 * being listed), naming `subject` (`This endpoint`, `A history`) and what it takes.
 */
export function refuseParametersNotIn(
  query: URLSearchParams,
  allowed: readonly string[],
  subject: string,
  alsoAllowed: readonly string[] = [],
): void {
  for (const name of query.keys())
    if (!allowed.includes(name) && !alsoAllowed.includes(name))
      throw fault(
        400,
        'not-supported',
        allowed.length === 0
          ? `${subject} takes no parameter ${name}: it takes no query parameters`
          : `${subject} takes no parameter ${name} (it takes ${allowed.join(', ')})`,
        name,
      );
}
