/**
 * What Node's HTTP parser refuses before Express runs still gets an OperationOutcome
 * (src/api/client-errors.ts): a request line over the 16 KB header limit, and bytes that are not
 * HTTP. Raw sockets, since fetch would refuse to send either.
 */
import { connect } from 'node:net';
import { startService, type TestService } from '../support/service';

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await service.close();
});

function raw(request: string): Promise<string> {
  const { port } = new URL(service.base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function split(response: string): { status: number; type: string; body: unknown } {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const type = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? '';
  return { status, type, body: JSON.parse(body) as unknown };
}

describe('requests the HTTP parser refuses', () => {
  it('a request line over 16 KB: 431 with an OperationOutcome, nothing of it echoed', async () => {
    const marker = 'NHS9434765919';
    const answer = await raw(
      `GET /fhir/Patient?name=${marker}${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const { status, type, body } = split(answer);
    expect(status).toBe(431);
    expect(type).toBe('application/fhir+json');
    expect(body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'too-costly' }],
    });
    expect(answer).not.toContain(marker);
    expect(service.logs.join('')).not.toContain(marker);
  });

  it('bytes that are not HTTP: 400 with an OperationOutcome', async () => {
    const { status, body } = split(await raw('HELLO THERE\r\n\r\n'));
    expect(status).toBe(400);
    expect(body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'structure' }],
    });
  });
});
