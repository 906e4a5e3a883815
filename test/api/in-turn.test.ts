/**
 * src/api/in-turn.ts over real HTTP: steps run in order, each when the one before calls next;
 * an error (passed to next, thrown, or a rejected promise) skips the rest and reaches the error
 * handler; a step that answers ends the request there.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { inTurn } from '../../src/api/in-turn';

let server: Server;
let base: string;

const mark =
  (name: string): RequestHandler =>
  (_req, res, next) => {
    res.locals.steps = [...((res.locals.steps as string[] | undefined) ?? []), name];
    next();
  };

function failing(how: string): RequestHandler {
  return (_req, _res, next): Promise<void> | undefined => {
    if (how === 'next') next(new Error('by next'));
    else if (how === 'throw') throw new Error('by throw');
    else return Promise.reject(new Error('by rejection'));
    return undefined;
  };
}

beforeAll(async () => {
  const app = express();
  app.use('/ok', inTurn(mark('a'), mark('b'), mark('c')), (_req, res) => {
    res.json({ steps: res.locals.steps as string[] });
  });
  for (const how of ['next', 'throw', 'reject'])
    app.use(`/${how}`, inTurn(mark('a'), failing(how), mark('never')), (_req, res) => {
      res.json({ reached: true });
    });
  app.use(
    '/answered',
    inTurn(mark('a'), (_req, res) => {
      res.status(202).json({ answered: true });
    }),
    (_req: Request, res: Response) => {
      res.json({ reached: true });
    },
  );
  app.use(
    '/route',
    inTurn(
      mark('a'),
      (_req, _res, next) => {
        next('route');
      },
      mark('never'),
    ),
    (_req: Request, res: Response) => {
      res.json({ reached: true });
    },
  );
  app.use('/empty', inTurn(), (_req, res) => {
    res.json({ empty: true });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.message, steps: res.locals.steps as string[] });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const get = async (path: string) => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('inTurn', () => {
  it('runs every step in order, then the next layer', async () => {
    expect(await get('/ok')).toEqual({ status: 200, body: { steps: ['a', 'b', 'c'] } });
  });

  it.each([
    ['next', 'by next'],
    ['throw', 'by throw'],
    ['reject', 'by rejection'],
  ])(
    'an error by %s skips the remaining steps and goes to the error handler',
    async (how, message) => {
      expect(await get(`/${how}`)).toEqual({ status: 500, body: { error: message, steps: ['a'] } });
    },
  );

  it('a step that answers ends the request (the next layer never runs)', async () => {
    expect(await get('/answered')).toEqual({ status: 202, body: { answered: true } });
  });

  it("next('route') in a step is an error, never a way past the steps after it", async () => {
    expect(await get('/route')).toEqual({
      status: 500,
      body: { error: "next('route') is not for a step of inTurn", steps: ['a'] },
    });
  });

  it('no steps is the next layer at once', async () => {
    expect(await get('/empty')).toEqual({ status: 200, body: { empty: true } });
  });
});
