import type { Consent, Resource } from '@medplum/fhirtypes';
import { consentView, contextFromClaims } from '../../src/auth';
import {
  buildLetter,
  isGsm7,
  letterHtml,
  letterPdf,
  letterSms,
  readPlanView,
  smsLength,
  type Action,
  type PlanView,
  type Viewer,
} from '../../src/letter';
import type { EmbeddedStore } from '../../src/store';
import { wellFormed } from '../charts/well-formed';
import { journeyResources, journeyStore, PLAN_ID, type OpenStore } from './journey-store';

const PLAN_URL = 'https://plans.example.nhs.uk/p/5f0c2a8e-3d47-4b1e-9a6f-2c81d7e4b913';

let open: OpenStore;
let store: EmbeddedStore;
let view: PlanView;
beforeAll(async () => {
  open = await journeyStore();
  store = open.store;
  view = await readPlanView(store, PLAN_ID);
});
afterAll(async () => open.close());

/** Windows-1252 0x80–0x9F (Node's TextDecoder reads them as Latin-1 controls); '' is unused. */
const CP1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ';
const cp1252 = (bytes: Buffer): string =>
  [...bytes]
    .map((b) => (b >= 0x80 && b <= 0x9f ? (CP1252_HIGH[b - 0x80] ?? '') : String.fromCharCode(b)))
    .join('');

/** The text a PDF shows, from its uncompressed content streams (pdfkit writes hex strings). */
function pdfShownText(pdf: Buffer): string {
  const source = pdf.toString('latin1');
  const shown: string[] = [];
  for (const [, array = ''] of source.matchAll(/\[((?:<[0-9a-f]*>\s*-?[\d.]*\s*)*)\]\s*TJ/g)) {
    shown.push(
      [...array.matchAll(/<([0-9a-f]*)>/g)]
        .map(([, hex = '']) => cp1252(Buffer.from(hex, 'hex')))
        .join(''),
    );
  }
  return squash(shown.join(' '));
}

const squash = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** The visible text of the HTML (tags dropped, the few entities we write decoded). */
function htmlText(html: string): string {
  return squash(
    html
      .replace(/<style>[\s\S]*?<\/style>/, '')
      .replace(/<svg[\s\S]*?<\/svg>/g, '')
      .replace(/<[^>]+>/g, ' ')
      .replace(/&#39;/g, "'")
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&'),
  );
}

const openActions = (): Action[] => view.actions.filter((a) => a.open);

/** What the journey's plan says and the letter must carry, whatever the format. */
function keyTexts(): string[] {
  const safety = view.safetyPlan?.text ?? '';
  return [
    'Your key worker is Sam Whitfield',
    'Phone: 01632 960118',
    'Email: sam.whitfield@northbrook.example',
    'Your next review is due by 9 March 2026',
    safety,
    'Refer Megan to the IPS employment specialist',
    'Sam Whitfield (your key worker)',
    'By 19 December 2025',
    'Phone Gill, her manager at the garden centre, to talk about a phased return',
    'By 9 January 2026',
    'Thursdays, starting again on 8 January 2026',
    'Priya Nair',
    'By 10 December 2025',
  ];
}

describe('readPlanView on the journey', () => {
  it('finds the key worker, how to reach them, the next review, actions and safety plan', () => {
    expect(view.keyWorker).toMatchObject({
      reference: 'Practitioner/sam-whitfield',
      name: 'Sam Whitfield',
      contacts: [
        { system: 'phone', value: '01632 960118' },
        { system: 'email', value: 'sam.whitfield@northbrook.example' },
      ],
    });
    expect(view.service?.name).toBe('Northbrook Community Mental Health Team');
    expect(view.nextReview).toEqual({
      due: '2026-03-09',
      timepoint: 'review',
      setting: 'community',
    });
    expect(view.safetyPlan?.text).toMatch(/^Megan's safety plan\. Warning signs/);
    expect(openActions().map((a) => a.id)).toEqual([
      'action-sleep-routine',
      'action-send-plan',
      'action-home-visit',
      'action-ips-referral',
      'action-phone-manager',
      'action-walking-group',
    ]);
    expect(view.person).toMatchObject({ callName: 'Megan', fullName: 'Megan Price' });
    expect(view.carers).toEqual([
      expect.objectContaining({
        name: 'Hannah Price',
        relationship: 'sister',
        shares: ['agreed-action', 'safety-plan'],
      }),
    ]);
    expect(view.deliveryPreference).toBe('email');
    expect(view.restricted).toBe(false);
  });

  it('answers 404 for a plan that is not there, or that the viewer hides', async () => {
    await expect(readPlanView(store, 'no-such-plan')).rejects.toMatchObject({
      outcome: { issue: [expect.objectContaining({ code: 'not-found' })] },
    });
    await expect(readPlanView(store, PLAN_ID, { viewer: () => undefined })).rejects.toMatchObject({
      outcome: { issue: [expect.objectContaining({ code: 'not-found' })] },
    });
  });

  it('falls back to the display text when the key worker cannot be read', async () => {
    const hidePractitioners: Viewer = (r) => (r.resourceType === 'Practitioner' ? undefined : r);
    const seen = await readPlanView(store, PLAN_ID, { viewer: hidePractitioners });
    expect(seen.keyWorker).toEqual({
      reference: 'Practitioner/sam-whitfield',
      name: 'Sam Whitfield',
      contacts: [],
    });
    expect(seen.restricted).toBe(true);
    expect(letterHtml(seen)).toContain('Ask Sam Whitfield how best to reach them.');
  });
});

describe('letterHtml', () => {
  it('is a well-formed, standalone page in en-GB with headings and the chart inline', () => {
    const html = letterHtml(view, { date: '2025-12-09T12:00:00+00:00' });
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en-GB">')).toBe(true);
    const elements = wellFormed(html);
    const names = elements.map((e) => e.name);
    expect(names.filter((n) => n === 'h1')).toHaveLength(1);
    expect(names.filter((n) => n === 'h2').length).toBeGreaterThanOrEqual(6);
    // No external resources: nothing is loaded from anywhere.
    expect(html).not.toMatch(/<(link|script|img|iframe)\b|\bsrc=|url\(|@import/);
    expect(html).toContain('@media print');
    const svg = elements.find((e) => e.name === 'svg');
    expect(svg?.attributes).toMatchObject({
      role: 'img',
      'aria-labelledby': 'ratings-chart-title ratings-chart-desc',
    });
    expect(html).toContain('<caption>Your ratings: 1 is totally dissatisfied');
  });

  it('carries the key worker and their contact, the next review, the actions with owners and dates, and the safety plan', () => {
    const text = htmlText(letterHtml(view, { date: '2025-12-09' }));
    for (const expected of keyTexts()) expect(text).toContain(squash(expected));
    expect(text).toContain('Dear Megan,');
    expect(text).toContain('Date: 9 December 2025');
    expect(text).toContain('You asked to get your plan by email.');
    expect(text).toContain(
      'Your mental health: better by 3 points (22 October 2025 to 9 December 2025)',
    );
    expect(text).toContain(
      'You agreed to share with Hannah: the actions you agreed and your safety plan.',
    );
  });

  it('speaks plainly: no clinical shorthand', () => {
    const text = htmlText(letterHtml(view));
    expect(text).not.toMatch(
      /\bSQoL\b|\bTS\b|QuestionnaireResponse|Observation\b|CarePlan|\bepisode\b|timepoint|paired|reliable/i,
    );
    expect(text).toContain('Your overall satisfaction with life: 4.63 out of 7');
    expect(text).toContain('How satisfied you are with your care: 5.33 out of 7');
  });

  it('escapes hostile text from the plan', () => {
    const hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>';
    const [first, ...rest] = view.actions;
    if (!first) throw new Error('no actions');
    const bad: PlanView = {
      ...view,
      person: { reference: 'Patient/megan-price', callName: hostile, contacts: [] },
      actions: [{ ...first, what: hostile, open: true }, ...rest],
      safetyPlan: {
        code: 'safety-plan',
        text: `"quoted" 'single' ${hostile}`,
        status: 'active',
        open: true,
      },
    };
    const html = letterHtml(bad);
    wellFormed(html);
    expect(html).not.toMatch(/<script|<img/);
    expect(html).toContain(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;',
    );
  });
});

describe('the carer view', () => {
  const NOW = new Date('2025-12-10T12:00:00Z');
  const consent = journeyResources().find((r): r is Consent => r.resourceType === 'Consent');

  it('leaves out what a viewer hides (here the ratings) and says that something is not shown', async () => {
    const noRatings: Viewer = (r) =>
      r.resourceType === 'QuestionnaireResponse' || r.resourceType === 'Observation'
        ? undefined
        : r;
    const seen = await readPlanView(store, PLAN_ID, { viewer: noRatings });
    expect(seen.ratings).toEqual([]);
    expect(seen.changes).toEqual([]);
    const html = letterHtml(seen);
    expect(html).not.toContain('<svg');
    expect(html).not.toContain('How you rated your life and care');
    expect(htmlText(html)).toContain(
      'Some parts of this plan are not shown here, because they have not been shared.',
    );
    for (const expected of keyTexts()) expect(htmlText(html)).toContain(squash(expected));
  });

  it('with the person’s own Consent: only the shared plan sections, no ratings or goals', async () => {
    if (!consent) throw new Error('no Consent in the journey');
    const hannah = contextFromClaims({
      sub: 'h',
      fhirUser: 'RelatedPerson/hannah-price',
      patient: 'megan-price',
      scope: 'patient/*.rs',
    });
    const share = consentView(hannah, [consent], NOW);
    const viewer: Viewer = <T extends Resource>(r: T) => share(r) as T | undefined;
    const seen = await readPlanView(store, PLAN_ID, { viewer });
    expect(seen.restricted).toBe(true);
    expect(seen.ratings).toEqual([]);
    expect(seen.goals).toEqual([]);
    expect(seen.sections).toEqual([]);
    expect(seen.safetyPlan?.text).toBe(view.safetyPlan?.text);
    expect(seen.actions.map((a) => a.id)).toEqual(view.actions.map((a) => a.id));
    const text = htmlText(letterHtml(seen));
    expect(text).not.toContain('What you want to change');
    expect(text).not.toContain('How you rated your life and care');
    expect(text).not.toContain('Larch Ward');
    expect(text).toContain('Refer Megan to the IPS employment specialist');
    expect(text).toContain(squash(view.safetyPlan?.text ?? 'missing'));
    const sms = letterSms(seen, { planUrl: PLAN_URL });
    expect(sms.segments).toBeLessThanOrEqual(3);
    expect(sms.text.endsWith(PLAN_URL)).toBe(true);
  });
});

describe('letterPdf', () => {
  it('is a PDF with the same key texts (stream compression off to read them back)', async () => {
    const pdf = await letterPdf(view, { date: '2025-12-09', compress: false });
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const text = pdfShownText(pdf);
    for (const expected of keyTexts()) expect(text).toContain(squash(expected));
    expect(text).toContain('Your care and support plan');
    expect(text).toContain('Dear Megan,');
    // The chart is given as the table of scores.
    expect(text).toContain(
      'Your ratings: 1 is totally dissatisfied, 4 is in the middle, 7 is totally satisfied',
    );
    expect(text).toContain('5 (better by 3 points)');
    expect(pdf.toString('latin1')).toMatch(/\/Lang \(en-GB\)/);
  });

  it('is compressed by default and keeps characters the standard fonts lack out of the page', async () => {
    const compressed = await letterPdf(view);
    expect(compressed.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(compressed.toString('latin1')).toContain('/FlateDecode');
    const odd: PlanView = {
      ...view,
      safetyPlan: {
        code: 'safety-plan',
        text: 'Call Zoë ✆ or Łukasz 😀 – “now”',
        status: 'active',
        open: true,
      },
    };
    const text = pdfShownText(await letterPdf(odd, { compress: false }));
    expect(text).toContain('Call Zo\u00eb ? or ?ukasz ? \u2013 \u201cnow\u201d');
  });
});

describe('letterSms', () => {
  it('fits the journey in at most 3 GSM-7 segments, with the key worker, review, first actions and the link', () => {
    const sms = letterSms(view, { planUrl: PLAN_URL });
    expect(sms.encoding).toBe('GSM-7');
    expect(isGsm7(sms.text)).toBe(true);
    expect(sms.segments).toBeLessThanOrEqual(3);
    expect(smsLength(sms.text)).toEqual({
      encoding: 'GSM-7',
      units: sms.text.length,
      segments: sms.segments,
    });
    expect(sms.text).toContain('Key worker: Sam Whitfield, 01632 960118.');
    expect(sms.text).toContain('Next review by 9 March 2026.');
    expect(sms.text).toContain(
      'To do: Try the wind-down routine from the sleep guide every night and note how it goes (you, by 30 Sep 2025)',
    );
    expect(sms.text.endsWith(`Full plan: ${PLAN_URL}`)).toBe(true);
    expect(sms.actionsIncluded).toBeGreaterThan(0);
    expect(sms.actionsTotal).toBe(6);
  });

  it('cuts very long actions gracefully and always keeps the link', () => {
    const long =
      'Ring the housing officer \u2013 the one called \u201cDee\u201d \u2014 about the repairs '.repeat(
        20,
      );
    const actions = openActions().map((a, i) => ({ ...a, what: `${i}: ${long}` }));
    const sms = letterSms({ ...view, actions }, { planUrl: PLAN_URL });
    expect(sms.encoding).toBe('GSM-7');
    expect(sms.segments).toBeLessThanOrEqual(3);
    expect(sms.truncated).toBe(true);
    expect(sms.text).toContain('...');
    expect(sms.text).toContain('Key worker: Sam Whitfield, 01632 960118.');
    expect(sms.text).toContain('Next review by 9 March 2026.');
    expect(sms.text).toContain('the one called "Dee" - about');
    expect(sms.text.endsWith(`Full plan: ${PLAN_URL}`)).toBe(true);
  });

  it('counts a name outside GSM-7 as UCS-2 and still fits 3 segments', () => {
    const sms = letterSms(
      { ...view, person: { reference: 'Patient/x', callName: 'Zoë', contacts: [] } },
      { planUrl: PLAN_URL },
    );
    expect(sms.encoding).toBe('UCS-2');
    expect(sms.text.startsWith('Zoë, this is your care plan.')).toBe(true);
    expect(sms.segments).toBeLessThanOrEqual(3);
    expect(sms.text.endsWith(PLAN_URL)).toBe(true);
  });

  it('honours a smaller limit, and refuses a link that cannot fit at all', () => {
    const one = letterSms(view, { planUrl: PLAN_URL, maxSegments: 1 });
    expect(one.segments).toBe(1);
    expect(one.text.endsWith(PLAN_URL)).toBe(true);
    expect(() => letterSms(view, { planUrl: `https://x.example/${'a'.repeat(500)}` })).toThrow(
      RangeError,
    );
  });
});

describe('smsLength', () => {
  it('counts GSM-7 as 160 in one message, 153 per part', () => {
    expect(smsLength('a'.repeat(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsLength('a'.repeat(161)).segments).toBe(2);
    expect(smsLength('a'.repeat(306)).segments).toBe(2);
    expect(smsLength('a'.repeat(307)).segments).toBe(3);
  });

  it('counts extension characters as two septets, never split across parts', () => {
    expect(smsLength('€'.repeat(80))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    // 152 septets then a two-septet character: it does not fit the first part's last septet.
    expect(smsLength(`${'a'.repeat(152)}[${'a'.repeat(152)}`).segments).toBe(3);
    expect(smsLength(`${'a'.repeat(151)}[${'a'.repeat(153)}`).segments).toBe(2);
  });

  it('counts UCS-2 as 70 in one message, 67 per part, surrogate pairs kept whole', () => {
    expect(smsLength('ë'.repeat(70))).toEqual({ encoding: 'UCS-2', units: 70, segments: 1 });
    expect(smsLength('ë'.repeat(71)).segments).toBe(2);
    expect(smsLength('ë'.repeat(134)).segments).toBe(2);
    expect(smsLength('ë'.repeat(135)).segments).toBe(3);
    // 134 units would be 2 parts of 67, but the pair may not straddle the first part's end.
    expect(smsLength(`${'ë'.repeat(66)}😀${'ë'.repeat(66)}`).segments).toBe(3);
  });
});

describe('buildLetter', () => {
  it('shows the hospital sections only while they are open', async () => {
    const admission = await journeyStore('02');
    try {
      const onWard = await readPlanView(admission.store, PLAN_ID);
      const letter = buildLetter(onWard);
      const hospital = letter.sections.find((s) => s.id === 'hospital');
      expect(hospital?.heading).toBe('While you are in hospital');
      expect(JSON.stringify(hospital)).toContain('Your rights in hospital (Mental Health Act)');
      expect(buildLetter(view).sections.some((s) => s.id === 'hospital')).toBe(false);
    } finally {
      await admission.close();
    }
  });

  it('keeps the plan’s own section order', () => {
    expect(buildLetter(view).sections.map((s) => s.id)).toEqual([
      'contact',
      'review',
      'safety',
      'goals',
      'actions',
      'carers',
      'ratings',
    ]);
  });
});
