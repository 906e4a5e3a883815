/**
 * A person with a long record is handed over whole: 20 DIALOG sessions (about 1.4 MB of FHIR
 * JSON with their Observations, Goals and Provenance) sent from a community service to a ward
 * service over real HTTP. The record travels as one transaction Bundle, which is over the 1 MB
 * a single resource may be (src/api/body.ts): the ward takes transaction and batch Bundles up to
 * BUNDLE_LIMIT_BYTES.
 */
import { authOffAccess } from '../../src/api/bearer-access';
import { newSession } from '../fhir/journey';
import { journeyPatient } from '../store/store-contract';
import type { TestService } from '../support/service';
import { all, transfer, trusts } from './two-trusts';

const SESSIONS = 20;

let services: TestService[] = [];
afterEach(async () => {
  for (const s of services) await s.close();
  services = [];
});

it('a person with 20 sessions arrives at the ward with every session', async () => {
  const { community, ward } = await trusts();
  services = [community, ward];
  await community.store.update(journeyPatient());
  const start = Date.UTC(2025, 0, 6);
  for (let i = 0; i < SESSIONS; i++)
    await community.app.service.create(
      authOffAccess(),
      'QuestionnaireResponse',
      newSession(`long-${i}`, {
        subject: { reference: 'Patient/megan-price' },
        authored: new Date(start + i * 14 * 86_400_000).toISOString(),
      }),
    );
  const task = await transfer(community, 'megan-price', 'ward', 'admission');
  expect(task.status).toBe('completed');
  expect(await all(ward, 'QuestionnaireResponse')).toHaveLength(SESSIONS);
  expect((await all(ward, 'Observation')).length).toBe(
    (await all(community, 'Observation')).length,
  );
}, 120_000);
