/**
 * The fhir-server store against a second instance of this service (embedded store, over real
 * HTTP): the same contract suite the embedded store passes, end to end through the façade —
 * sequential versions, atomic transactions, update-as-create reported as 201; only the narrative
 * differs (the service writes its own).
 */
import { FhirServerStore, type FhirStore } from '../../src/store';
import { startService, type TestService } from '../support/service';
import { storeContract } from './store-contract';

const services = new Set<TestService>();
afterEach(async () => {
  for (const service of services) await service.close();
  services.clear();
});

storeContract(
  'fhir-server → a second dialog-fhir (embedded) over HTTP',
  async (): Promise<FhirStore> => {
    const service = await startService();
    services.add(service);
    return new FhirServerStore({ baseUrl: `${service.base}/fhir`, timeoutMs: 10_000 });
  },
  // The service narrates what it stores (README: "What people see").
  { keepsNarrative: false },
);
