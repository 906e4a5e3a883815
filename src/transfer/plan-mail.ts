/**
 * Sending the plan after discharge by e-mail (issue 5): a `PlanSender` (plan-distribution.ts) that
 * mails each recipient the plan letter through an SMTP server — NHSmail is SMTP with STARTTLS and
 * a login, so this is the NHSmail channel — with `nodemailer`.
 *
 * - The address: the recipient resource's `telecom` with system `email` (in use, not ended; a
 *   clinician's or organisation's work address first, a person's or carer's home one), read from
 *   the store: Patient, RelatedPerson, Practitioner, PractitionerRole (else its Practitioner's),
 *   CareTeam, Organization (else one of its contacts'). A reference into a peer's FHIR base (a key
 *   worker the handover left at the community system) is read from that peer. None, or a
 *   reference to a server that is not a peer: `PlanNotSendable` — the Task fails with "No e-mail
 *   address for …", never completes silently.
 * - The person, when the plan says they want it another way (a text message, a printed letter):
 *   not e-mailed; the Task fails saying so, for someone to send it that way.
 * - The content: the plan letter (src/letter) as this recipient may see it — the distributor's
 *   viewer, so a carer gets only what the person's Consent shares — as HTML with a plain-text
 *   alternative of the same words, with a line saying why the recipient gets it. The subject names
 *   no one ("Your DIALOG care plan", "DIALOG care plan after discharge").
 * - SMTP outcomes: accepted — sent; a permanent refusal (5xx but 503) — `PlanNotSendable` with the
 *   server's answer; anything else (4xx, 503, refused or dropped connections, timeouts, a failed
 *   login or STARTTLS, which are this service's settings to fix) — rejected, so the distributor
 *   retries with backoff and fails the Task after its last attempt.
 * - Nothing is logged here: addresses, names and the server's answers go only into the Task.
 *
 * The Message-ID is derived from the Task's identifier, so the rare second copy (a send whose
 * outcome could not be recorded) is recognisable as the same message.
 */
import { createTransport, type Transporter } from 'nodemailer';
import type {
  ContactPoint,
  Organization,
  Practitioner,
  PractitionerRole,
  Reference,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import { Extensions } from '../fhir';
import { buildLetter, letterDocumentHtml, readPlanView, type Block, type Letter } from '../letter';
import { statusOf } from '../service/outcomes';
import { openFhirServerStore, type FhirStore } from '../store';
import type { Peer, Peers } from './peers';
import {
  PLAN_SEND_SYSTEM,
  PlanNotSendable,
  type PlanDelivery,
  type PlanSender,
  type RecipientRole,
} from './plan-distribution';

export interface SmtpSettings {
  /** `smtp://[user:password@]host[:port]` (STARTTLS; port 587) or `smtps://…` (TLS; port 465). */
  readonly url: string;
  /** With `smtp://`: refuse to send unless the server upgrades the connection with STARTTLS. */
  readonly requireTls: boolean;
}

export interface PlanMailOptions {
  readonly store: FhirStore;
  /** Where to send through: the settings, or a transporter made elsewhere. */
  readonly smtp: SmtpSettings | Transporter;
  /** The sender: an address, or `Name <address>`. */
  readonly from: string;
  readonly now?: () => Date;
  /** The systems this one hands plans over with: recipients' records there are read from them. */
  readonly peers?: Peers;
  /** How to reach a peer (default: the fhir-server store adapter, one attempt, 10 s). */
  readonly peerStore?: (peer: Peer) => FhirStore;
}

/** What `sender` reports as the channel on the completed Task. */
export const MAIL_CHANNEL = 'email (SMTP)';

/** Limits on one SMTP conversation, well within the distributor's 60 s claim. */
const CONNECTION_TIMEOUT_MS = 10_000;
const GREETING_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 20_000;

const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

/** The nodemailer transport options for the settings (credentials from the URL). */
export function smtpTransportOptions(
  settings: SmtpSettings,
): Parameters<typeof createTransport>[0] {
  const url = new URL(settings.url);
  const secure = url.protocol === 'smtps:';
  const user = decodeURIComponent(url.username);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure && settings.requireTls,
    ...(user ? { auth: { user, pass: decodeURIComponent(url.password) } } : {}),
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    greetingTimeout: GREETING_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

export class PlanMailer {
  private readonly transporter: Transporter;
  private readonly now: () => Date;

  constructor(private readonly options: PlanMailOptions) {
    const smtp = options.smtp;
    this.transporter = 'sendMail' in smtp ? smtp : createTransport(smtpTransportOptions(smtp));
    this.now = options.now ?? (() => new Date());
  }

  /** The `PlanSender` to hand `PlanDistributor.sendDue`. */
  readonly send: PlanSender = async (delivery) => {
    const who = await nameOf(this.options, delivery.recipient);
    const whom = `${who} (${delivery.role})`;
    const preference = delivery.plan.extension?.find((e) => e.url === Extensions.deliveryPreference)
      ?.valueCoding?.code;
    if (delivery.role === 'person' && preference && preference !== 'email')
      throw new PlanNotSendable(
        `${who} asked to get the plan ${OTHER_WAYS[preference] ?? `by "${preference}"`}, not by e-mail, so it was not e-mailed: send it that way and complete this Task.`,
      );
    const address = await emailOf(this.options, delivery.recipient);
    if (!address)
      throw new PlanNotSendable(
        `No e-mail address for ${whom}: add one to their record (telecom with system "email"${
          locate(this.options, delivery.recipient.reference)
            ? ` on ${delivery.recipient.reference ?? ''}`
            : ` in this system; the plan names them as ${delivery.recipient.reference ?? 'no one it can read'}`
        }) and set this Task back to "requested" to send it, or send the plan another way and complete this Task.`,
      );
    const view = await readPlanView(this.options.store, delivery.plan.id ?? '', {
      viewer: delivery.viewer,
    });
    const letter = forRecipient(
      buildLetter(view, { date: this.now().toISOString() }),
      delivery.role,
      view.person?.fullName,
    );
    try {
      await this.transporter.sendMail({
        from: this.options.from,
        to: address,
        subject:
          delivery.role === 'person' ? 'Your DIALOG care plan' : 'DIALOG care plan after discharge',
        text: letterText(letter),
        html: letterDocumentHtml(letter),
        messageId: messageIdOf(delivery, this.options.from),
      });
    } catch (err) {
      throw smtpFailure(err, whom);
    }
    return { channel: MAIL_CHANNEL };
  };

  /** Closes the transport's connections (a pooled transporter's; nothing otherwise). */
  close(): void {
    this.transporter.close();
  }
}

const OTHER_WAYS: Readonly<Record<string, string>> = {
  sms: 'by text message',
  letter: 'as a printed letter',
};

interface SmtpError {
  readonly code?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly permanent?: boolean;
}

/** Setup problems of this service (login, TLS): worth retrying once someone fixes the settings. */
const OUR_SETTINGS = new Set(['EAUTH', 'ENOAUTH', 'ETLS', 'EREQUIRETLS', 'ECONFIG']);

/** The error to reject with: `PlanNotSendable` for a permanent refusal, else one to retry. */
export function smtpFailure(err: unknown, whom: string): Error {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SmtpError;
  const answer = e.response?.trim();
  const code = e.responseCode;
  if (e.code && OUR_SETTINGS.has(e.code))
    return new Error(
      `the mail server refused this service's ${e.code === 'EAUTH' || e.code === 'ENOAUTH' ? 'login' : 'secure connection'} (${e.code}${answer ? `: ${answer}` : ''}); check PLAN_MAIL_SMTP_URL and PLAN_MAIL_REQUIRE_TLS`,
    );
  const permanent =
    e.permanent ?? (code !== undefined && code >= 500 && code < 600 && code !== 503);
  if (permanent)
    return new PlanNotSendable(
      `The mail server refused the plan for ${whom}${answer ? `: ${answer}` : ''}. Check the e-mail address, then set this Task back to "requested" to send it again, or send the plan another way and complete this Task.`,
    );
  if (answer) return new Error(`the mail server asked to try later: ${answer}`);
  const reason = e.code ?? (err instanceof Error ? err.name : 'error');
  return new Error(`the mail server could not be reached (${reason})`);
}

function messageIdOf(delivery: PlanDelivery, from: string): string {
  const key =
    delivery.task.identifier?.find((i) => i.system === PLAN_SEND_SYSTEM)?.value ??
    delivery.task.id ??
    'plan';
  const domain = /@([^\s@<>]+)>?\s*$/.exec(from)?.[1] ?? 'dialog-fhir.invalid';
  return `<plan-send.${key}@${domain}>`;
}

// ---- the address --------------------------------------------------------------------------------

const CLINICAL = new Set(['Practitioner', 'PractitionerRole', 'CareTeam', 'Organization']);
const TYPES: readonly ResourceType[] = [
  'Patient',
  'RelatedPerson',
  'Practitioner',
  'PractitionerRole',
  'CareTeam',
  'Organization',
];

/** Where recipients' records are read: this system's store, and its peers' for their references. */
export interface Records {
  readonly store: FhirStore;
  readonly peers?: Peers;
  readonly peerStore?: (peer: Peer) => FhirStore;
}

function defaultPeerStore(peer: Peer): FhirStore {
  return openFhirServerStore({
    baseUrl: peer.baseUrl,
    retries: 0,
    timeoutMs: 10_000,
    ...(peer.auth.type === 'bearer' ? { token: peer.auth.token } : {}),
  });
}

/** The store holding what `reference` names, and its relative form there; undefined: nowhere known. */
function locate(
  records: Records,
  reference: string | undefined,
): { store: FhirStore; relative: string } | undefined {
  const ref = reference ?? '';
  if (RELATIVE.test(ref)) return { store: records.store, relative: ref };
  for (const peer of records.peers?.peers ?? []) {
    const base = peer.baseUrl.replace(/\/+$/, '');
    if (!ref.startsWith(`${base}/`)) continue;
    const relative = ref.slice(base.length + 1).replace(/\/_history\/[^/]+$/, '');
    if (RELATIVE.test(relative))
      return { store: (records.peerStore ?? defaultPeerStore)(peer), relative };
  }
  return undefined;
}

async function readReference(
  records: Records,
  reference: string | undefined,
): Promise<Resource | undefined> {
  const found = locate(records, reference);
  const [, type, id] = RELATIVE.exec(found?.relative ?? '') ?? [];
  if (!found || !type || !id || !(TYPES as readonly string[]).includes(type)) return undefined;
  try {
    return await found.store.read(type as ResourceType, id);
  } catch (err) {
    const status = statusOf(err);
    if (status === 404 || status === 410) return undefined;
    throw err;
  }
}

/** The best e-mail address among contact points, or undefined. */
export function bestEmail(
  telecom: readonly ContactPoint[] | undefined,
  clinical: boolean,
): string | undefined {
  const preferred = clinical ? 'work' : 'home';
  const usable = (telecom ?? []).filter(
    (t) =>
      t.system === 'email' &&
      typeof t.value === 'string' &&
      /^[^\s@<>,;]+@[^\s@<>,;]+$/.test(t.value.trim()) &&
      t.use !== 'old' &&
      !t.period?.end,
  );
  const score = (t: ContactPoint): number =>
    (t.use === preferred ? 0 : t.use === undefined ? 1 : 2) * 1000 + (t.rank ?? 999);
  return [...usable].sort((a, b) => score(a) - score(b))[0]?.value?.trim();
}

/** The recipient's e-mail address as their record in the store gives it, or undefined. */
export async function emailOf(records: Records, recipient: Reference): Promise<string | undefined> {
  const resource = await readReference(records, recipient.reference);
  if (!resource) return undefined;
  const clinical = CLINICAL.has(resource.resourceType);
  const own = 'telecom' in resource ? (resource.telecom as ContactPoint[] | undefined) : undefined;
  const found = bestEmail(own, clinical);
  if (found) return found;
  if (resource.resourceType === 'PractitionerRole') {
    const practitioner = await readReference(
      records,
      (resource as PractitionerRole).practitioner?.reference,
    );
    return bestEmail((practitioner as Practitioner | undefined)?.telecom, true);
  }
  if (resource.resourceType === 'Organization')
    return bestEmail(
      ((resource as Organization).contact ?? []).flatMap((c) => c.telecom ?? []),
      true,
    );
  return undefined;
}

/** How the recipient is named in a Task's reason: the reference's display, else their record's. */
async function nameOf(records: Records, recipient: Reference): Promise<string> {
  if (recipient.display?.trim()) return recipient.display.trim();
  const resource = await readReference(records, recipient.reference).catch(() => undefined);
  const named = resource as { name?: unknown } | undefined;
  if (typeof named?.name === 'string' && named.name) return named.name;
  if (Array.isArray(named?.name)) {
    const first = (named.name as { text?: string; given?: string[]; family?: string }[])[0];
    const text = first?.text ?? [first?.given?.[0], first?.family].filter(Boolean).join(' ');
    if (text) return text;
  }
  return recipient.reference ?? 'this recipient';
}

// ---- the content --------------------------------------------------------------------------------

/** The letter with a line at the top saying why this recipient gets it. */
export function forRecipient(
  letter: Letter,
  role: RecipientRole,
  person: string | undefined,
): Letter {
  if (role === 'person') return letter;
  const whose = person ? `${person}'s` : 'this';
  const why: Record<Exclude<RecipientRole, 'person'>, string> = {
    'key worker': `You are getting ${whose} care and support plan after their discharge from hospital because you are named in it as their key worker.`,
    GP: `You are getting ${whose} care and support plan after their discharge from hospital because you are named in it as their GP.`,
    'care team': `You are getting ${whose} care and support plan after their discharge from hospital because you are named in it as part of their care team.`,
    carer: `You are getting ${whose} care and support plan after their discharge from hospital because you are named in it as their carer. It shows only what they chose to share with you.`,
  };
  return {
    ...letter,
    intro: [{ kind: 'note', text: `${why[role]} It is written to them.` }, ...letter.intro],
  };
}

function blockText(block: Block): string[] {
  switch (block.kind) {
    case 'paragraph':
      return [block.text, ''];
    case 'note':
      return [`* ${block.text}`, ''];
    case 'subheading':
      return [block.text, '-'.repeat(Math.min(block.text.length, 72)), ''];
    case 'list':
      return [...block.items.map((i) => `- ${i}`), ''];
    case 'table': {
      const [, ...headers] = block.header;
      return [
        `${block.caption}:`,
        ...block.rows.map((row) => {
          const [first = '', ...rest] = row;
          const cells = rest.map((c, i) => (headers[i] ? `${headers[i]}: ${c}` : c));
          return `- ${first}${cells.length > 0 ? ` (${cells.join('; ')})` : ''}`;
        }),
        '',
      ];
    }
    case 'chart':
      return []; // the table that follows holds the same numbers
  }
}

/** The letter as plain text: the same words as the HTML, for mail readers without HTML. */
export function letterText(letter: Letter): string {
  const lines = [
    letter.title,
    '='.repeat(letter.title.length),
    ...letter.meta.map((m) => `${m.label}: ${m.value}`),
    '',
    letter.greeting,
    '',
    ...letter.intro.flatMap(blockText),
    ...letter.sections.flatMap((s) => [
      s.heading.toUpperCase(),
      '',
      ...s.blocks.flatMap(blockText),
    ]),
    ...letter.closing.flatMap((c) => [c, '']),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}
