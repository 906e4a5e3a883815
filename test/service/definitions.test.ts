/** src/service/definitions.ts: the package's Questionnaires in the store, written once. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeDefinitions } from '../../src/service/definitions';
import { EmbeddedStore } from '../../src/store';
import { loadConformancePackage } from '../../src/validation';

describe('storeDefinitions', () => {
  it('stores the DIALOG Questionnaire as the package has it, and nothing again when unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dialog-definitions-'));
    const store = EmbeddedStore.open({ dataDir: dir });
    try {
      const pkg = loadConformancePackage();
      expect(await storeDefinitions(store, pkg)).toBe(1);
      const stored = await store.read('Questionnaire', 'dialog');
      const { meta: _meta, ...content } = stored;
      void _meta;
      const { meta: _pkgMeta, ...expected } = pkg.questionnaire(stored.url ?? '') ?? {};
      void _pkgMeta;
      expect(content).toEqual(expected);
      expect(await storeDefinitions(store, pkg)).toBe(0);
      expect((await store.history('Questionnaire', 'dialog')).length).toBe(1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
