import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePeers, PeersFileError, readPeersFile } from '../../src/transfer/peers';

const self = {
  id: 'community',
  setting: 'community',
  organization: { reference: 'Organization/northbrook' },
  baseUrl: 'https://community.example/fhir/',
};
const ward = {
  id: 'ward',
  setting: 'inpatient',
  organization: { reference: 'Organization/westmere' },
  baseUrl: 'https://ward.example/fhir',
  auth: { type: 'bearer', tokenEnv: 'WARD_TOKEN' },
};

describe('the peers file', () => {
  it('reads self and peers, tokens from the environment, base URLs without a trailing slash', () => {
    const peers = parsePeers({ self, peers: [ward] }, { WARD_TOKEN: 'secret' });
    expect(peers.self.baseUrl).toBe('https://community.example/fhir');
    expect(peers.peers[0]).toMatchObject({
      id: 'ward',
      setting: 'inpatient',
      auth: { type: 'bearer', token: 'secret' },
    });
  });

  it.each([
    [{ peers: [] }, /self must be an object/],
    [
      { self: { ...self, setting: 'hospital' }, peers: [] },
      /self.setting must be one of community, inpatient, crisis/,
    ],
    [{ self: { ...self, baseUrl: 'ftp://x' }, peers: [] }, /self.baseUrl must be an http\(s\) URL/],
    [{ self, peers: {} }, /peers must be an array/],
    [
      { self, peers: [{ ...ward, id: 'community', auth: undefined }] },
      /peers\[0\].id "community" is used twice/,
    ],
    [
      { self, peers: [{ ...ward, auth: { type: 'bearer', tokenEnv: 'NOT_SET' } }] },
      /peers\[0\].auth.tokenEnv names NOT_SET, which is not set/,
    ],
    [
      { self, peers: [{ ...ward, auth: { type: 'basic' } }] },
      /peers\[0\].auth.type must be "none" or "bearer"/,
    ],
    [
      { self, peers: [{ ...ward, organization: {} }] },
      /peers\[0\].organization.reference must be a non-empty string/,
    ],
  ])('refuses %j with a clear message', (json, message) => {
    expect(() => parsePeers(json, {})).toThrow(PeersFileError);
    expect(() => parsePeers(json, {})).toThrow(message);
  });

  it('names the file when it cannot be read or is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peers-'));
    try {
      expect(() => readPeersFile(join(dir, 'missing.json'))).toThrow(/cannot be read/);
      writeFileSync(join(dir, 'bad.json'), '{');
      expect(() => readPeersFile(join(dir, 'bad.json'))).toThrow(/is not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
