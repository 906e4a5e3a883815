/**
 * The clinician page's tests: a real service with AUTH on (the dev signing key in a temporary
 * DATA_DIR, verified by the same `bearerAuthenticate` the server uses), seeded with the first step
 * of the example journey (Megan Price, her plan, key worker, carer and first rating), and a tiny
 * cookie-keeping client for tests without a browser. Not a test file itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { mintDevToken, type DevKey } from '../../src/auth';
import { EXAMPLES_DIR } from '../support/examples';
import { startServiceWithDevKey, type TestService } from '../support/service';

export interface UiService {
  readonly service: TestService;
  readonly key: DevKey;
  /** A clinician's token (user/*.cruds as Practitioner/sam-whitfield). */
  readonly clinicianToken: string;
}

export async function startUiService(
  options: Parameters<typeof startServiceWithDevKey>[0] = {},
): Promise<UiService> {
  const { service, key } = await startServiceWithDevKey(options);
  await seedJourneyStart(service);
  const clinicianToken = await mintDevToken(key, {
    scopes: ['user/*.cruds'],
    fhirUser: 'Practitioner/sam-whitfield',
  });
  return { service, key, clinicianToken };
}

/** Everything the journey's first step holds, stored as it is. */
export async function seedJourneyStart(service: TestService): Promise<void> {
  const bundle = JSON.parse(
    readFileSync(join(EXAMPLES_DIR, 'journey', '01-community-start.json'), 'utf8'),
  ) as Bundle;
  for (const entry of bundle.entry ?? [])
    if (entry.resource) await service.store.update(entry.resource);
}

/** A browser-like client without a browser: keeps cookies, reads the CSRF token of the last page. */
export class PageClient {
  private readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly base: string) {}

  private remember(res: Response): void {
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const at = pair?.indexOf('=') ?? -1;
      if (pair && at > 0) this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(path: string): Promise<{ status: number; text: string; res: Response }> {
    const res = await fetch(`${this.base}${path}`, {
      headers: { cookie: this.cookieHeader },
      redirect: 'manual',
    });
    this.remember(res);
    const text = await res.text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (csrf) this.csrf = csrf;
    return { status: res.status, text, res };
  }

  async post(
    path: string,
    form: Record<string, string | string[]>,
    options: { csrf?: string | null } = {},
  ): Promise<{ status: number; text: string; location: string | null }> {
    const body = new URLSearchParams();
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf !== null) body.append('_csrf', csrf);
    for (const [name, value] of Object.entries(form))
      for (const v of Array.isArray(value) ? value : [value]) body.append(name, v);
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { cookie: this.cookieHeader, 'content-type': 'application/x-www-form-urlencoded' },
      body,
      redirect: 'manual',
    });
    this.remember(res);
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }

  async signIn(token: string): Promise<void> {
    await this.get('/ui/login');
    const res = await this.post('/ui/login', { token });
    if (res.status !== 303) throw new Error(`sign-in refused: ${res.status} ${res.text}`);
  }
}
