/**
 * Requests Node's HTTP parser refuses before Express sees them (a request line or headers over
 * the 16 KB limit, malformed HTTP) still get an OperationOutcome: by default Node answers them
 * with a bare status and no body. Nothing of the request is logged or echoed: it may be a URL
 * holding patient data.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { outcome } from '../validation';

function answer(
  status: number,
  reason: string,
  code: OperationOutcomeIssue['code'],
  message: string,
): string {
  // No expression: the fault is in the HTTP framing, before there is any resource to point into.
  const body = JSON.stringify(outcome([{ severity: 'error', code, details: { text: message } }]));
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: application/fhir+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** Answers the HTTP parser's refusals with an OperationOutcome, then closes the connection. */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    socket.end(
      tooLarge
        ? answer(
            431,
            'Request Header Fields Too Large',
            'too-costly',
            'The request line and headers are over the 16 KB limit',
          )
        : answer(400, 'Bad Request', 'structure', 'The request is not well-formed HTTP'),
    );
  });
}
