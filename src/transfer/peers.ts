/**
 * The systems this instance hands plans over with, from a JSON file (PEERS_FILE):
 *
 *   {
 *     "self":  { "id": "northbrook-community", "setting": "community",
 *                "organization": { "reference": "Organization/northbrook-community-trust",
 *                                  "display": "Northbrook Community Mental Health Team" },
 *                "baseUrl": "https://community.example.nhs.uk/fhir" },
 *     "peers": [ { "id": "westmere-ward", "setting": "inpatient",
 *                  "organization": { "reference": "Organization/westmere-inpatient-trust" },
 *                  "baseUrl": "https://ward.example.nhs.uk/fhir",
 *                  "auth": { "type": "bearer", "tokenEnv": "WARD_TOKEN" } } ]
 *   }
 *
 * `self.baseUrl` is how peers reach this instance (references to what a handover does not carry
 * point there). A peer may be another dialog-fhir or any FHIR R4 server. `auth` is `none`, or a
 * bearer token given inline (`token`, for tests and demos) or, better, named by the environment
 * variable that holds it (`tokenEnv`), so secrets stay out of the file. Every fault in the file is
 * a clear error naming where it is.
 */
import { readFileSync } from 'node:fs';
import type { Reference } from '@medplum/fhirtypes';
import { CARE_SETTINGS, type CareSetting } from '../dialog';

export type PeerAuth =
  { readonly type: 'none' } | { readonly type: 'bearer'; readonly token: string };

export interface SystemIdentity {
  readonly id: string;
  readonly setting: CareSetting;
  readonly organization: Reference;
  readonly baseUrl: string;
}

export interface Peer extends SystemIdentity {
  readonly auth: PeerAuth;
}

export interface Peers {
  readonly self: SystemIdentity;
  readonly peers: readonly Peer[];
}

export class PeersFileError extends Error {}

type Json = Record<string, unknown>;

function object(value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PeersFileError(`${where} must be an object`);
  return value as Json;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new PeersFileError(`${where} must be a non-empty string`);
  return value;
}

function identity(value: unknown, where: string): SystemIdentity {
  const json = object(value, where);
  const setting = text(json.setting, `${where}.setting`);
  if (!(CARE_SETTINGS as readonly string[]).includes(setting))
    throw new PeersFileError(`${where}.setting must be one of ${CARE_SETTINGS.join(', ')}`);
  const organization = object(json.organization, `${where}.organization`);
  text(organization.reference, `${where}.organization.reference`);
  const baseUrl = text(json.baseUrl, `${where}.baseUrl`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(baseUrl))
    throw new PeersFileError(`${where}.baseUrl must be an http(s) URL`);
  return {
    id: text(json.id, `${where}.id`),
    setting: setting as CareSetting,
    organization: organization as Reference,
    baseUrl,
  };
}

function auth(value: unknown, where: string, env: NodeJS.ProcessEnv): PeerAuth {
  if (value === undefined) return { type: 'none' };
  const json = object(value, where);
  if (json.type === 'none') return { type: 'none' };
  if (json.type !== 'bearer') throw new PeersFileError(`${where}.type must be "none" or "bearer"`);
  if (json.tokenEnv !== undefined) {
    const name = text(json.tokenEnv, `${where}.tokenEnv`);
    const token = env[name];
    if (!token) throw new PeersFileError(`${where}.tokenEnv names ${name}, which is not set`);
    return { type: 'bearer', token };
  }
  return { type: 'bearer', token: text(json.token, `${where}.token`) };
}

export function parsePeers(value: unknown, env: NodeJS.ProcessEnv = process.env): Peers {
  const json = object(value, 'the peers file');
  const self = identity(json.self, 'self');
  if (!Array.isArray(json.peers)) throw new PeersFileError('peers must be an array');
  const peers = json.peers.map((p: unknown, i) => ({
    ...identity(p, `peers[${i}]`),
    auth: auth(object(p, `peers[${i}]`).auth, `peers[${i}].auth`, env),
  }));
  const ids = new Set<string>([self.id]);
  for (const [i, peer] of peers.entries()) {
    if (ids.has(peer.id)) throw new PeersFileError(`peers[${i}].id "${peer.id}" is used twice`);
    ids.add(peer.id);
  }
  return { self, peers };
}

export function readPeersFile(path: string, env: NodeJS.ProcessEnv = process.env): Peers {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new PeersFileError(`PEERS_FILE ${path} cannot be read`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PeersFileError(`PEERS_FILE ${path} is not JSON`);
  }
  return parsePeers(json, env);
}

export function peerById(peers: Peers, id: string): Peer | undefined {
  return peers.peers.find((p) => p.id === id);
}
