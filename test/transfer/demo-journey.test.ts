/**
 * The demo's walk as the end-to-end test (issue 5 §5): community start → admission → inpatient
 * review → discharge between two real services over HTTP, checking where the plan is after each
 * step; and `dialog-fhir demo` itself (two `serve` processes, AUTH on with each side's dev key,
 * peers files with tokens from the other side's key) run to the end.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { walkJourney, type PlanSnapshot } from '../../src/cli/demo';
import { all, expectMirrored, onePlan, trusts } from './two-trusts';
import type { TestService } from '../support/service';

const ROOT = join(__dirname, '../..');

describe('the demo journey between two trusts', () => {
  let open: TestService[] = [];
  afterEach(async () => {
    for (const s of open) await s.close();
    open = [];
  });

  it('walks community start → admission → inpatient review → discharge; one plan follows the person', async () => {
    const t = await trusts();
    open.push(t.community, t.ward);
    const steps: PlanSnapshot[] = [];
    await walkJourney(
      { name: 'community', fhirBase: t.communityUrl, peerId: 'community' },
      { name: 'ward', fhirBase: t.wardUrl, peerId: 'ward' },
      (s) => steps.push(s),
    );
    expect(steps.map((s) => [s.at, s.sessions, s.heldBySetting, s.handover?.status])).toEqual([
      ['community', 1, '-', undefined],
      ['ward', 2, 'inpatient', 'completed'],
      ['ward', 3, 'inpatient', undefined],
      ['community', 4, 'community', 'completed'],
    ]);
    const [start, admitted, reviewed, home] = steps as [
      PlanSnapshot,
      PlanSnapshot,
      PlanSnapshot,
      PlanSnapshot,
    ];
    // One business identifier throughout; the ward and the community each hold one plan.
    expect(new Set(steps.map((s) => s.planIdentifier)).size).toBe(1);
    expect(home.planId).toBe(start.planId);
    expect(admitted.heldBy).toBe('Larch Ward');
    expect(admitted.reviewsDue.join()).toMatch(/^episode-start \(inpatient\) due /);
    expect(admitted.sections).toEqual([
      'mental-health-act-status: not-started',
      'leave: not-started',
      'visits: not-started',
      'nursing-observations: not-started',
    ]);
    expect(reviewed.planId).toBe(admitted.planId);
    expect(home.heldBy).toBe('Northbrook CMHT');
    expect(home.reviewsDue.join()).toMatch(/^review \(community\) due /);
    expect(home.sections.every((s) => s.endsWith(': completed'))).toBe(true);
    expect(home.sections).toHaveLength(4);
    expect(steps.every((s) => s.conflicts === 0)).toBe(true);
    expect(home.page).toBe(`${t.community.base}/ui/patients/megan-price`);
    // Everything the ward recorded came home, once.
    await expectMirrored(t.ward, t.community);
    expect(await all(t.community, 'Patient')).toHaveLength(1);
    expect((await onePlan(t.community)).id).toBe(start.planId);
  });

  it('npm run demo: two serve processes with AUTH on walk the journey and end with the plan home', () => {
    const run = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'src/cli/main.ts'), 'demo'],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('AUTH=jwt');
    expect(run.stdout).toContain('4. Discharge: back to the community team');
    expect(run.stdout.match(/handover: completed/g)).toHaveLength(2);
    expect(run.stdout).toContain('The one plan is back with the community team');
    expect(run.stdout).toMatch(
      /clinician page: http:\/\/127\.0\.0\.1:\d+\/ui\/patients\/megan-price/,
    );
  }, 120_000);
});
