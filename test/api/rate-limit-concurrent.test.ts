/**
 * The rate limit holds for requests under way at once (src/api/rate-limit.ts), over real HTTP:
 * each request is counted as it arrives, so of many slow requests sent together exactly the limit
 * are answered, whether they come from an address (AUTH=off) or carry one new token.
 */
import { request } from 'node:http';
import { mintDevToken } from '../../src/auth';
import { startService, startServiceWithDevKey, type TestService } from '../support/service';

const LIMIT = 5;
const SENT = 4 * LIMIT;
/** How long to hold the bodies back while waiting for the refusals (a bound, not a measure). */
const HOLD_MS = 3000;

let service: TestService;

afterEach(() => service.close());

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/**
 * A create whose headers go now and whose body waits for `release`: the limiter has seen it
 * (and answered it, if it refuses it) while it is still under way.
 */
function slowCreate(
  i: number,
  release: Promise<void>,
  authorization: string | undefined,
): Promise<Answer> {
  const url = new URL(`${service.base}/fhir/Organization`);
  const body = JSON.stringify({ resourceType: 'Organization', name: `Organization ${i}` });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/fhir+json',
          'content-length': Buffer.byteLength(body),
          ...(authorization === undefined ? {} : { authorization }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    // A refused request is answered before its body is sent; the server may then close it.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    req.flushHeaders();
    void release.then(() => req.end(body));
  });
}

/**
 * Sends SENT slow creates at once, holds their bodies until all but LIMIT are answered (or
 * HOLD_MS has passed, so a limiter letting them all through fails the test rather than hangs it),
 * then sends the bodies.
 */
async function sendTogether(
  authorization?: string | ((i: number) => string | undefined),
): Promise<Answer[]> {
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const hold = setTimeout(release, HOLD_MS);
  let answered = 0;
  const answers = Array.from({ length: SENT }, (_, i) =>
    slowCreate(
      i,
      released,
      typeof authorization === 'function' ? authorization(i) : authorization,
    ).then((answer) => {
      if (++answered === SENT - LIMIT) release();
      return answer;
    }),
  );
  try {
    return await Promise.all(answers);
  } finally {
    clearTimeout(hold);
  }
}

function expectLimitHeld(answers: readonly Answer[]): void {
  const statuses = answers.map((a) => a.status).sort((a, b) => a - b);
  expect(statuses).toEqual([...Array(LIMIT).fill(201), ...Array(SENT - LIMIT).fill(429)]);
  for (const refused of answers.filter((a) => a.status === 429)) {
    expect(refused.retryAfter).toMatch(/^[1-9]\d*$/);
    const outcome = JSON.parse(refused.body) as {
      resourceType: string;
      issue: { severity: string; code: string; expression?: string[] }[];
    };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue).toEqual([
      expect.objectContaining({ severity: 'error', code: 'throttled', expression: ['Resource'] }),
    ]);
  }
}

describe('the rate limit holds for requests under way at once', () => {
  it('answers exactly the limit of an address’s concurrent requests (AUTH=off)', async () => {
    service = await startService({ rateLimitPerMinute: LIMIT });
    expectLimitHeld(await sendTogether());
    // They were all counted: the minute's limit is used.
    expect((await sendTogether()).every((a) => a.status === 429)).toBe(true);
  });

  it('with AUTH=off, counts requests with and without a token in the one address bucket from the first', async () => {
    service = await startService({ rateLimitPerMinute: LIMIT });
    // Half carry a JWT-shaped token, which names no one with AUTH=off.
    expectLimitHeld(await sendTogether((i) => (i % 2 ? 'Bearer aaa.bbb.ccc' : undefined)));
  });

  it('answers exactly the limit of one new token’s concurrent requests', async () => {
    const started = await startServiceWithDevKey({ rateLimitPerMinute: LIMIT });
    service = started.service;
    const token = await mintDevToken(started.key, { scopes: ['system/*.cruds'], subject: 'one' });
    expectLimitHeld(await sendTogether(`Bearer ${token}`));
    // Once verified, the token is its caller's, whose bucket those requests are counted in too.
    expect((await sendTogether(`Bearer ${token}`)).every((a) => a.status === 429)).toBe(true);
  });
});
