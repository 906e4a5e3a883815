/**
 * The clinician page in a real browser: Debian's Chromium (/usr/bin/chromium, installed by
 * .ci/run) driven by playwright-core, at a tablet's size (768 × 1024), against a real service with
 * AUTH on. A clinician signs in, finds Megan by NHS number, opens her plan, and records a whole
 * DIALOG+ session with the keyboard only (Tab, Shift+Tab, arrows, Space, Enter and typing — no
 * clicks): reviews last time's actions, rates the 11 areas with help wanted, chooses too many
 * areas and is told so, chooses two, saves for later, comes back, writes the four steps and an
 * action, submits; the plan's chart gains one rating and the letter shows the new action.
 * Screenshots go to test-artifacts/ui/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DIALOG_ITEMS, type DialogItemConcept } from '../../src/dialog';
import { startUiService, type UiService } from './support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'ui');

jest.setTimeout(180_000);

// The browser's globals, as far as the page.evaluate callbacks below use them: the project
// compiles without the DOM lib, and these declarations stay local to this module.
interface PageNode {
  readonly nodeType: number;
  readonly textContent: string | null;
}
interface PageElement extends PageNode {
  readonly tagName: string;
  readonly id: string;
  readonly parentElement: PageElement | null;
  readonly childNodes: ArrayLike<PageNode>;
  matches(selector: string): boolean;
}
declare const document: {
  readonly activeElement: PageElement | null;
  readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number };
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};
declare function getComputedStyle(element: PageElement): {
  readonly color: string;
  readonly backgroundColor: string;
  readonly outlineWidth: string;
  readonly outlineStyle: string;
};

let ui: UiService;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `No Chromium at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it). They are not skipped.`,
    );
  mkdirSync(ARTIFACTS, { recursive: true });
  ui = await startUiService();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await ui?.service.close();
});

/** Presses Tab (or Shift+Tab) until the focused element matches `selector`. */
async function tabTo(page: Page, selector: string, backwards = false): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const there = await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector);
    if (there) return;
    await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`Tab never reached ${selector}`);
}

async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()}#${el.id}` : '';
  });
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });
}

/** Megan's ratings this time, and whether she wants more help. */
const RATINGS: Readonly<Record<DialogItemConcept, [number, boolean]>> = {
  'mental-health': [3, true],
  'physical-health': [5, false],
  'job-situation': [2, true],
  accommodation: [6, false],
  'leisure-activities': [4, false],
  friendships: [3, true],
  'partner-family': [5, false],
  'personal-safety': [6, false],
  medication: [5, false],
  'practical-help': [2, true],
  meetings: [7, false],
};

it('a clinician records a whole DIALOG+ session by keyboard on a tablet', async () => {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  const page = await context.newPage();
  // Every request answered with an error, but the one refusal of four areas (422).
  const failures: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) failures.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });

  // Sign in: the token typed into the one field, Enter submits.
  await page.goto(`${ui.service.base}/ui/login`);
  await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('a#'); // the skip link comes first
  await tabTo(page, '#token');
  await page.keyboard.type(ui.clinicianToken);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ui/');

  // Find Megan by NHS number.
  await tabTo(page, '#q');
  await page.keyboard.type('999 246 8017');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ui/?q=*');
  await tabTo(page, 'a[href="/ui/patients/megan-price"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ui/patients/megan-price');
  expect(await page.locator('h1').textContent()).toBe('Megan Rose Price');
  const pointsBefore = await page.locator('.chart svg circle').count();
  expect(pointsBefore).toBeGreaterThan(0);
  await expect(page.locator('main').textContent()).resolves.toContain('Sam Whitfield');
  await shot(page, '01-plan-before');

  // Open the session.
  await tabTo(page, 'a[href="/ui/patients/megan-price/session"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/session');
  const main = (await page.locator('main').textContent()) ?? '';
  expect(main).toContain('Last time:');

  // Last time's actions first: each marked done with Space.
  const previous = await page.locator('input[name^="previous."][value="done"]').count();
  expect(previous).toBeGreaterThan(0);
  for (let i = 0; i < previous; i++) {
    await tabTo(page, `#previous-${i}-done`);
    await page.keyboard.press('Space');
  }

  // The 11 ratings: Space picks 1, each ArrowRight one more; then yes (Space) or no (ArrowRight).
  for (const item of DIALOG_ITEMS) {
    const [score, help] = RATINGS[item.concept];
    await tabTo(page, `input[name="score.${item.concept}"]`);
    await page.keyboard.press('Space');
    for (let n = 1; n < score; n++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe(`input#help-${item.concept}-yes`);
    await page.keyboard.press(help ? 'Space' : 'ArrowRight');
  }
  await page.locator('#item-mental-health').scrollIntoViewIfNeeded();
  await shot(page, '02-session-ratings', false);
  for (const item of DIALOG_ITEMS) {
    const [score, help] = RATINGS[item.concept];
    expect(await page.isChecked(`#score-${item.concept}-${score}`)).toBe(true);
    expect(await page.isChecked(`#help-${item.concept}-${help ? 'yes' : 'no'}`)).toBe(true);
  }

  // Four areas is one too many: the error is shown at the top and on the field.
  for (const concept of ['mental-health', 'job-situation', 'friendships', 'practical-help']) {
    await tabTo(page, `#chosen-${concept}`);
    await page.keyboard.press('Space');
  }
  await tabTo(page, 'button[value="save"]');
  await page.keyboard.press('Enter');
  await page.waitForLoadState('load');
  await expect(page.locator('#error-summary').textContent()).resolves.toContain(
    'Choose up to 3 areas',
  );
  expect(await page.getAttribute('#chosen', 'aria-describedby')).toBe('chosen-hint chosen-error');
  expect(await page.isChecked('#score-accommodation-6')).toBe(true); // nothing typed is lost
  await shot(page, '02-too-many-areas');
  await page.locator('#chosen').scrollIntoViewIfNeeded();
  await shot(page, '02-too-many-areas-field', false);

  // Untick two (Shift+Tab back up to them), keep mental health and practical help; save for later.
  await tabTo(page, '#chosen-job-situation');
  await page.keyboard.press('Space');
  await tabTo(page, '#chosen-friendships');
  await page.keyboard.press('Space');
  await tabTo(page, 'button[value="save"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/session?saved=1');
  await expect(page.locator('[role="status"]').textContent()).resolves.toContain('Saved');

  // Away and back: the plan page says a session is in progress; continuing keeps every answer.
  await tabTo(page, 'a[href="/ui/patients/megan-price"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ui/patients/megan-price');
  await tabTo(page, 'a[href="/ui/patients/megan-price/session"]');
  expect(await page.evaluate(() => document.activeElement?.textContent ?? '')).toMatch(
    /^Continue the DIALOG\+ session started/,
  );
  await page.keyboard.press('Enter');
  await page.waitForURL('**/session');
  expect(await page.isChecked('#score-meetings-7')).toBe(true);
  expect(await page.isChecked('#chosen-practical-help')).toBe(true);

  // The four steps for each chosen area, and an action each: what, who, by when.
  const steps: [DialogItemConcept, string, string, string, string, string][] = [
    [
      'mental-health',
      'Sleeping better since the new routine',
      'Feeling calm most days; first, a walk each morning',
      'Megan walks; Sam finds a local walking group',
      'Walk to the park every morning',
      'Megan',
    ],
    [
      'practical-help',
      'Bills feel out of control',
      'Bills paid on time; first, open the post weekly',
      'Sam refers to the money advice service',
      'Book a money advice appointment',
      'Sam Whitfield',
    ],
  ];
  for (const [concept, understanding, forward, options, what, who] of steps) {
    await tabTo(page, `#understanding-${concept}`);
    await page.keyboard.type(understanding);
    await tabTo(page, `#looking-forward-${concept}`);
    await page.keyboard.type(forward);
    await tabTo(page, `#exploring-options-${concept}`);
    await page.keyboard.type(options);
    await tabTo(page, `#action-${concept}-0-what`);
    await page.keyboard.type(what);
    await page.keyboard.press('Tab');
    await page.keyboard.type(who);
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe(`input#action-${concept}-0-day`);
    await page.keyboard.type('14');
    await page.keyboard.press('Tab');
    await page.keyboard.type('9');
    await page.keyboard.press('Tab');
    await page.keyboard.type('2026');
  }
  await shot(page, '03-session-filled');

  // Submit: the plan page, its chart one rating longer, the new actions listed.
  await tabTo(page, 'button[value="submit"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ui/patients/megan-price?submitted=1');
  await expect(page.locator('[role="status"]').textContent()).resolves.toContain('submitted');
  const pointsAfter = await page.locator('.chart svg circle').count();
  expect(pointsAfter).toBeGreaterThan(pointsBefore);
  const plan = (await page.locator('main').textContent()) ?? '';
  expect(plan).toContain('Walk to the park every morning');
  expect(plan).toContain('Book a money advice appointment');
  await shot(page, '04-plan-after');

  // The letter, opened from the plan by keyboard.
  await tabTo(page, 'a[href$="letter?format=html"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/letter?format=html');
  const letter = (await page.locator('body').textContent()) ?? '';
  expect(letter).toContain('Walk to the park every morning');
  expect(letter).toContain('Sam Whitfield');
  expect(await page.locator('svg').count()).toBeGreaterThan(0);
  await shot(page, '05-letter');

  expect(failures.filter((f) => !f.endsWith('/favicon.ico'))).toEqual([
    '422 /ui/patients/megan-price/session',
  ]);
  await context.close();
});

it('focus is always visible and text meets contrast on the session page', async () => {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  const page = await context.newPage();
  await page.goto(`${ui.service.base}/ui/login`);
  await tabTo(page, '#token');
  await page.keyboard.type(ui.clinicianToken);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/ui/');
  await page.goto(`${ui.service.base}/ui/patients/megan-price/session`);
  await tabTo(page, 'input[name="score.mental-health"]');
  const outline = await page.evaluate(() => {
    const el = document.activeElement;
    if (!el) return { width: '0', style: 'none' };
    const style = getComputedStyle(el);
    return { width: style.outlineWidth, style: style.outlineStyle };
  });
  expect(outline.style).toBe('solid');
  expect(parseFloat(outline.width)).toBeGreaterThanOrEqual(3);
  // Every text element's contrast against the page's white or grey: at least 4.5:1.
  const worst = await page.evaluate(() => {
    const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
    const lum = ([r, g, b]: number[]): number => {
      const f = (v: number): number => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r ?? 0) + 0.7152 * f(g ?? 0) + 0.0722 * f(b ?? 0);
    };
    const background = (el: PageElement | null): number[] => {
      for (let e = el; e; e = e.parentElement) {
        const bg = getComputedStyle(e).backgroundColor;
        if (bg && !bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return rgb(bg);
      }
      return [255, 255, 255];
    };
    let min = 21;
    let where = '';
    for (const el of Array.from(document.querySelectorAll('main *, header *'))) {
      const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent?.trim());
      if (!own) continue;
      const a = lum(rgb(getComputedStyle(el).color));
      const b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < min) {
        min = ratio;
        where = `${el.tagName} ${el.textContent?.slice(0, 40) ?? ''}`;
      }
    }
    return { min, where };
  });
  expect(worst.min).toBeGreaterThanOrEqual(4.5);
  // Nothing wider than a tablet: no sideways scrolling at 768px.
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
  await context.close();
});
