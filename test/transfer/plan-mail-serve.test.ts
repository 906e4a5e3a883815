/**
 * `dialog-fhir serve` sending the plan after discharge, as a real process: with PLAN_MAIL_* set it
 * e-mails a due send-plan Task through a real SMTP server on loopback (with a login) and completes
 * it, logging nothing about the person or the password, and stops cleanly on SIGTERM; without them
 * it says once that plan sending is off and leaves the Task requested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CarePlan, Patient, Task } from '@medplum/fhirtypes';
import { PLAN_SEND_SYSTEM, planSendTask } from '../../src/transfer/plan-distribution';
import { journeyResources, PLAN_ID } from '../letter/journey-store';
import { freePort } from '../support/service';
import { smtpServer, type TestSmtp } from './plan-mail-smtp';
import { ward } from './two-trusts';
import { collectOutput, waitForOutput } from '../support/process';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const PASSWORD = 'pl4n-s3cret';
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Running {
  readonly child: ChildProcess;
  readonly base: string;
  output(): string;
}

async function serve(env: Record<string, string>): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dialog-fhir-plan-mail-'));
  dirs.push(dataDir);
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      AUTH: 'off',
      ...env,
    },
  });
  const output = collectOutput(child);
  await waitForOutput(child, output, 'dialog-fhir listening');
  return { child, base: `http://127.0.0.1:${port}/fhir`, output };
}

async function put(base: string, resource: { resourceType: string; id?: string }): Promise<void> {
  const res = await fetch(`${base}/${resource.resourceType}/${resource.id ?? ''}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify(resource),
  });
  if (res.status >= 300) throw new Error(`PUT ${resource.resourceType}: ${await res.text()}`);
}

/** Megan and her plan through the API, and one due send-plan Task to her. */
async function dueTask(base: string): Promise<Task> {
  const resources = journeyResources('01');
  const patient = resources.find((r) => r.resourceType === 'Patient') as Patient;
  const plan = resources.find((r) => r.resourceType === 'CarePlan' && r.id === PLAN_ID) as CarePlan;
  for (const r of resources)
    if (
      r.resourceType !== 'CarePlan' &&
      r.resourceType !== 'Practitioner' &&
      r.resourceType !== 'Organization'
    )
      await put(base, r);
  await put(base, plan);
  await put(base, patient);
  const now = new Date();
  const task = planSendTask(
    {
      plan,
      patientId: 'megan-price',
      dischargedAt: now.toISOString(),
      from: { ...ward, baseUrl: base },
      now,
    },
    { recipient: { reference: 'Patient/megan-price', display: 'Megan Price' }, role: 'person' },
  );
  const res = await fetch(`${base}/Task`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify(task),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Task;
}

async function readTask(base: string, id: string): Promise<Task> {
  return (await (await fetch(`${base}/Task/${id}`)).json()) as Task;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('serve sends the plan after discharge', () => {
  let smtp: TestSmtp | undefined;
  let running: Running | undefined;
  afterEach(async () => {
    running?.child.kill('SIGKILL');
    running = undefined;
    await smtp?.close();
    smtp = undefined;
  });

  it('with PLAN_MAIL_* set: mails a due Task once, completes it, logs no one, stops cleanly', async () => {
    smtp = await smtpServer({ login: { user: 'dialog.plans@nhs.net', pass: PASSWORD } });
    running = await serve({
      PLAN_MAIL_SMTP_URL: smtp.url,
      PLAN_MAIL_FROM: 'DIALOG care plans <dialog.plans@nhs.net>',
      PLAN_MAIL_REQUIRE_TLS: 'false',
      PLAN_MAIL_POLL_SECONDS: '1',
    });
    expect(running.output()).toMatch(/plan sending is on/);
    const task = await dueTask(running.base);
    const received = smtp.received;
    for (let i = 0; i < 300 && received.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toHaveLength(1);
    expect(received[0]?.to).toEqual(['megan.price@example.com']);
    expect(received[0]?.user).toBe('dialog.plans@nhs.net');
    expect(received[0]?.mail.subject).toBe('Your DIALOG care plan');
    let done = await readTask(running.base, task.id ?? '');
    for (let i = 0; i < 100 && done.status !== 'completed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      done = await readTask(running.base, task.id ?? '');
    }
    expect(done.status).toBe('completed');
    expect(done.identifier?.[0]?.system).toBe(PLAN_SEND_SYSTEM);
    // A few more passes: still one mail.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(received).toHaveLength(1);

    const exit = exited(running.child);
    running.child.kill('SIGTERM');
    expect(await exit).toBe(0);
    const log = running.output();
    expect(log).toMatch(/plan sending.*"sent":1/);
    for (const secret of [PASSWORD, 'megan', 'Megan', 'Price', 'example.com', '9992468017'])
      expect(log).not.toContain(secret);
  }, 50_000);

  it('without them: says once that plan sending is off, and the Task waits', async () => {
    running = await serve({});
    const task = await dueTask(running.base);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await readTask(running.base, task.id ?? '')).status).toBe('requested');
    expect(running.output().match(/plan sending is off/g)).toHaveLength(1);
  }, 50_000);
});
