/**
 * A real SMTP server on loopback for the plan-mail tests (smtp-server), keeping every message it
 * accepts parsed (mailparser), with a hook to answer a recipient with an SMTP error. Not a test
 * file itself.
 */
import type { AddressInfo } from 'node:net';
import type { RelatedPerson, Resource } from '@medplum/fhirtypes';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

/** The journey's people and the mail settings both plan-mail test files use. */
export const FROM = 'DIALOG care plans <dialog.plans@trust.example.nhs.uk>';
export const MEGAN = 'megan.price@example.com';
export const SAM = 'sam.whitfield@northbrook.example';
export const HANNAH = 'hannah.price@example.org';
export const SUBJECTS = ['Your DIALOG care plan', 'DIALOG care plan after discharge'];
/** What identifies Megan: none of it may be in a subject line. */
export const IDENTIFIERS = [/megan/i, /price/i, /9992468017/, /1991/, /NB1/i];

/** Hannah, Megan's sister, as the journey has her, with an e-mail address. */
export const HANNAH_WITH_EMAIL = (resources: readonly Resource[]): RelatedPerson => {
  const hannah = resources.find(
    (r) => r.resourceType === 'RelatedPerson' && r.id === 'hannah-price',
  ) as RelatedPerson;
  return {
    ...hannah,
    telecom: [...(hannah.telecom ?? []), { system: 'email', value: HANNAH, use: 'home' }],
  };
};

export interface Received {
  /** The envelope's recipients (RCPT TO). */
  readonly to: readonly string[];
  readonly mail: ParsedMail;
  /** The login the client used, if any. */
  readonly user?: string;
}

export interface TestSmtp {
  readonly url: string;
  readonly received: Received[];
  /** RCPT TO commands seen, accepted or not. */
  readonly attempts: string[];
  close(): Promise<void>;
}

export interface SmtpBehaviour {
  /** An SMTP error code to answer this RCPT TO with (e.g. 451, 550), or undefined to accept. */
  readonly refuse?: (address: string, attempt: number) => number | undefined;
  /** Require this login (user, password). */
  readonly login?: { readonly user: string; readonly pass: string };
}

class SmtpReply extends Error {
  constructor(
    message: string,
    readonly responseCode: number,
  ) {
    super(message);
  }
}

export async function smtpServer(behaviour: SmtpBehaviour = {}): Promise<TestSmtp> {
  const received: Received[] = [];
  const attempts: string[] = [];
  const parsing: Promise<void>[] = [];
  const login = behaviour.login;
  const server = new SMTPServer({
    disabledCommands: login ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !login,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (login && auth.username === login.user && auth.password === login.pass)
        callback(null, { user: auth.username });
      else callback(new SmtpReply('Authentication failed', 535));
    },
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      attempts.push(address.address);
      const tries = attempts.filter((a) => a === address.address).length;
      const code = behaviour.refuse?.(address.address, tries);
      if (code === undefined) return callback();
      const text = code >= 500 ? '5.1.1 Mailbox unavailable' : '4.7.1 Try again later';
      callback(new SmtpReply(text, code));
    },
    onData(stream, session, callback) {
      const to = session.envelope.rcptTo.map((r) => r.address);
      const user = typeof session.user === 'string' ? session.user : undefined;
      const parsed = simpleParser(stream).then((mail) => {
        received.push({ to, mail, ...(user ? { user } : {}) });
      });
      parsing.push(parsed);
      parsed.then(
        () => callback(),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const credentials = login
    ? `${encodeURIComponent(login.user)}:${encodeURIComponent(login.pass)}@`
    : '';
  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    received,
    attempts,
    close: async () => {
      await Promise.allSettled(parsing);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
