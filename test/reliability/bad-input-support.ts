/**
 * What the bad-input corpus runner (bad-input.test.ts) and the HTTP fuzz test need: a service on
 * loopback with AUTH on and a token per kind of caller, requests sent byte for byte (node:http,
 * so `%2e%2e` and `../` reach the server as written — fetch would resolve them first), and a
 * snapshot of the store read straight from its SQLite file. Not a test file.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import BetterSqlite3 from 'better-sqlite3';
import { mintDevToken } from '../../src/auth';
import { EXAMPLES_DIR } from '../support/examples';
import { startServiceWithDevKey, type Json, type TestService } from '../support/service';

export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** One request exactly as given: the path is not normalised, the body sent as these bytes. */
export function send(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    // A server may answer (413) and close before the whole body is sent: the answer still counts.
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export const parse = (text: string): Json => {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
};

/** Callers the corpus sends as (tokens from the service's dev key). */
export type Caller = 'system' | 'clinician' | 'person-someone-else';

export interface CorpusService {
  readonly service: TestService;
  readonly tokens: Readonly<Record<Caller, string>>;
  /** `Authorization` for a caller. */
  auth(caller?: Caller): Record<string, string>;
}

const journey = JSON.parse(
  readFileSync(join(EXAMPLES_DIR, 'journey', '01-community-start.json'), 'utf8'),
) as Bundle;

/** A resource of the example journey (step 01) by id, without its id (as a client would POST it). */
export function journeyResource(id: string): Record<string, unknown> {
  const found = journey.entry?.find((e) => e.resource?.id === id)?.resource;
  if (!found) throw new Error(`no journey resource ${id}`);
  const copy = JSON.parse(JSON.stringify(found)) as Record<string, unknown>;
  delete copy.id;
  return copy;
}

/** A completed DIALOG session for `patient` (the journey's first, moved to that person). */
export function sessionFor(patient: string): Record<string, unknown> {
  const qr = journeyResource('qr-01-community-start');
  qr.subject = { reference: `Patient/${patient}` };
  qr.source = { reference: `Patient/${patient}` };
  return qr;
}

export const SOMEONE_ELSE_NHS = '9434765919';

/**
 * The service with AUTH on and two people who each have a session (so a plan, Goals,
 * Observations and a Provenance): Megan (the journey's person) and someone else.
 */
export async function startCorpusService(): Promise<CorpusService> {
  const { service, key } = await startServiceWithDevKey();
  const tokens: Record<Caller, string> = {
    system: await mintDevToken(key, { scopes: ['system/*.cruds'] }),
    clinician: await mintDevToken(key, {
      scopes: ['user/*.cruds'],
      fhirUser: 'Practitioner/sam-whitfield',
    }),
    'person-someone-else': await mintDevToken(key, {
      scopes: ['patient/*.cruds'],
      patient: 'someone-else',
    }),
  };
  const auth = (caller: Caller = 'system'): Record<string, string> => ({
    authorization: `Bearer ${tokens[caller]}`,
  });
  await service.store.update({ ...journeyResource('megan-price'), id: 'megan-price' } as Resource);
  await service.store.update({
    resourceType: 'Patient',
    id: 'someone-else',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: SOMEONE_ELSE_NHS }],
  });
  for (const patient of ['megan-price', 'someone-else']) {
    const res = await send(
      service.base,
      'POST',
      '/fhir/QuestionnaireResponse',
      JSON.stringify(sessionFor(patient)),
      { 'content-type': 'application/fhir+json', ...auth() },
    );
    if (res.status !== 201) throw new Error(`seeding ${patient}: ${res.status} ${res.text}`);
  }
  return { service, tokens, auth };
}

/** The id of the first stored resource of `type` about `patient`. */
export async function firstOf(
  service: TestService,
  type: string,
  patient: string,
): Promise<string> {
  const found = await service.store.search(type as 'Observation', {
    patient: `Patient/${patient}`,
    _count: '1',
  });
  const id = found.resources[0]?.id;
  if (!id) throw new Error(`no ${type} stored for ${patient}`);
  return id;
}

/**
 * Everything the store holds except AuditEvents: each current row, each version's content, each
 * search index row and each outbox row, by key, as a digest of the row. AuditEvents are left out
 * because every request — refused ones too — is audited: that is the one expected difference.
 */
export type StoreSnapshot = ReadonlyMap<string, string>;

export function snapshot(service: TestService): StoreSnapshot {
  const db = new BetterSqlite3(service.store.path, { readonly: true, fileMustExist: true });
  try {
    const rows = new Map<string, string>();
    const put = (key: string, row: unknown): void => {
      rows.set(key, createHash('sha256').update(JSON.stringify(row)).digest('hex'));
    };
    for (const row of db
      .prepare("SELECT type, id, version, last_updated FROM resource WHERE type <> 'AuditEvent'")
      .all() as { type: string; id: string }[])
      put(`current ${row.type}/${row.id}`, row);
    for (const row of db
      .prepare(
        "SELECT type, id, version, last_updated, content FROM resource_version WHERE type <> 'AuditEvent'",
      )
      .all() as { type: string; id: string; version: number }[])
      put(`version ${row.type}/${row.id}/${row.version}`, row);
    for (const row of db
      .prepare("SELECT type, param, value, system, id FROM search_index WHERE type <> 'AuditEvent'")
      .all() as { type: string; param: string; value: string; system: string; id: string }[])
      put(`index ${row.type}/${row.id} ${row.param}=${row.system}|${row.value}`, row);
    for (const row of db.prepare('SELECT * FROM outbox').all() as { id: string }[])
      put(`outbox ${row.id}`, row);
    return rows;
  } finally {
    db.close();
  }
}

/** What differs between two snapshots: keys added, removed or changed (empty when equal). */
export function changes(before: StoreSnapshot, after: StoreSnapshot): string[] {
  const out: string[] = [];
  for (const [key, digest] of after) {
    const was = before.get(key);
    if (was === undefined) out.push(`added ${key}`);
    else if (was !== digest) out.push(`changed ${key}`);
  }
  for (const key of before.keys()) if (!after.has(key)) out.push(`removed ${key}`);
  return out.sort();
}
