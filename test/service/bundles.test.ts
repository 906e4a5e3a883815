/**
 * src/service/bundles.ts: a large transaction (a peer's handover holds thousands of entries) is
 * validated a hundred entries at a time, with the event loop's other work between, rather than
 * keeping every other request waiting until all of it is validated. On a real embedded store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { authOffAccess } from '../../src/api/bearer-access';
import { processBundle } from '../../src/service/bundles';
import { FhirService } from '../../src/service/fhir-service';
import { EmbeddedStore } from '../../src/store';
import type { Validator } from '../../src/validation';
import { sharedValidator } from '../support/service';

let dir: string;
let store: EmbeddedStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dialog-fhir-bundles-'));
  store = EmbeddedStore.open({ dataDir: dir });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a 350-entry transaction lets other work run after every 100 entries validated', async () => {
  let validated = 0;
  const real = sharedValidator();
  const counting: Validator = {
    ...real,
    package: real.package,
    validate: (resource, options) => {
      validated++;
      return real.validate(resource, options);
    },
    validateJson: (text, options) => real.validateJson(text, options),
    profile: (url) => real.profile(url),
  };
  const service = new FhirService({
    store,
    validator: counting,
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
  });
  const entry = Array.from({ length: 350 }, (_, i) => ({
    request: { method: 'PUT' as const, url: `Organization/o${i}` },
    resource: { resourceType: 'Organization' as const, id: `o${i}`, name: `Trust ${i}` },
  }));
  /** How many entries were validated each time other work got a turn, until the answer. */
  const turns: number[] = [];
  let answered = false;
  const other = (): void => {
    if (answered) return;
    turns.push(validated);
    setImmediate(other);
  };
  setImmediate(other);
  const result = await processBundle(service, authOffAccess(), {
    resourceType: 'Bundle',
    type: 'transaction',
    entry,
  } as Bundle).finally(() => {
    answered = true;
  });
  expect(result.entry).toHaveLength(350);
  // Other work ran while validation was under way, at each hundred.
  expect(turns).toEqual(expect.arrayContaining([100, 200, 300]));
  expect(turns.filter((n) => n > 0 && n < 350)).not.toHaveLength(0);
});
