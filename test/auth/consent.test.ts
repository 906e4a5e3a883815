import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, CarePlan, Consent, ConsentProvision, Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import {
  consentFilter,
  consentTypeShare,
  consentView,
  contextFromClaims,
  inForce,
  requiredConsentSearch,
} from '../../src/auth';
import { narrativeOf, withNarrative } from '../../src/narrative';
import { escapeXml } from '../../src/charts/xml';
import { EXAMPLES_DIR } from '../support/examples';

function journey(file: string): Resource[] {
  const bundle = JSON.parse(readFileSync(join(EXAMPLES_DIR, 'journey', file), 'utf8')) as Bundle;
  return (bundle.entry ?? []).map((e) => e.resource as Resource);
}

const admission = journey('02-admission.json');
const community = journey('01-community-start.json');
/** The journey's own Consent: Megan shares her plan's agreed actions and safety plan with Hannah. */
const CONSENT = community.find((r) => r.resourceType === 'Consent') as Consent;
const PLAN = admission.find((r) => r.resourceType === 'CarePlan') as CarePlan;
const PATIENT = 'megan-price';
const NOW = new Date('2025-10-01T12:00:00Z');

const hannah = contextFromClaims({
  sub: 'h',
  fhirUser: 'RelatedPerson/hannah-price',
  patient: PATIENT,
  scope: 'patient/*.rs',
});
const otherCarer = contextFromClaims({
  sub: 'o',
  fhirUser: 'RelatedPerson/someone-else',
  patient: PATIENT,
  scope: 'patient/*.rs',
});
const megan = contextFromClaims({
  sub: 'm',
  fhirUser: `Patient/${PATIENT}`,
  scope: 'patient/*.rs',
});

const sections = (plan: Resource | undefined): string[] =>
  [
    ...new Set(
      ((plan as CarePlan | undefined)?.activity ?? []).map(
        (a) => a.detail?.code?.coding?.[0]?.code ?? '',
      ),
    ),
  ].sort();

function withProvision(provision: ConsentProvision, extra: Partial<Consent> = {}): Consent {
  return { ...CONSENT, ...extra, provision };
}

const base = CONSENT.provision as ConsentProvision;
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';

/** `provision` without the named elements. */
function without(
  provision: ConsentProvision,
  ...names: (keyof ConsentProvision)[]
): ConsentProvision {
  return Object.fromEntries(
    Object.entries(provision).filter(([name]) => !names.includes(name as keyof ConsentProvision)),
  ) as ConsentProvision;
}

describe('the journey Consent', () => {
  it('shares the plan with Hannah, limited to agreed actions and the safety plan', () => {
    const view = consentView(hannah, [CONSENT], NOW)(PLAN);
    expect(view).toBeDefined();
    expect(sections(PLAN)).toEqual([
      'agreed-action',
      'leave',
      'mental-health-act-status',
      'nursing-observations',
      'safety-plan',
      'visits',
    ]);
    expect(sections(view)).toEqual(['agreed-action', 'safety-plan']);
    expect((view as CarePlan).subject).toEqual(PLAN.subject);
  });

  it('gives the view a narrative of its own: nothing the view leaves out is told in its text', () => {
    const plan = withNarrative(PLAN);
    const unshared = (PLAN.activity ?? []).filter(
      (a) => !['agreed-action', 'safety-plan'].includes(a.detail?.code?.coding?.[0]?.code ?? ''),
    );
    const told = unshared.map((a) => a.detail?.description ?? '').filter((d) => d !== '');
    expect(told.length).toBeGreaterThan(0);
    for (const description of told) expect(plan.text?.div).toContain(escapeXml(description));
    const view = consentView(hannah, [CONSENT], NOW)(plan) as CarePlan;
    expect(view.text?.status).toBe('generated');
    for (const description of told) expect(view.text?.div).not.toContain(escapeXml(description));
    expect(view.text).toEqual(narrativeOf(view));
    // A plan stored without a narrative is shown without one.
    expect((consentView(hannah, [CONSENT], NOW)(PLAN) as CarePlan).text).toBeUndefined();
  });

  it('keeps only this carer’s dialog-carer entry', () => {
    const other = {
      url: 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-carer',
      extension: [{ url: 'carer', valueReference: { reference: 'RelatedPerson/someone-else' } }],
    };
    const plan: CarePlan = { ...PLAN, extension: [...(PLAN.extension ?? []), other] };
    const carers = ((consentView(hannah, [CONSENT], NOW)(plan) as CarePlan).extension ?? []).filter(
      (e) => e.url.endsWith('dialog-carer'),
    );
    expect(carers).toHaveLength(1);
    expect(JSON.stringify(carers)).toContain('RelatedPerson/hannah-price');
  });

  it('shares nothing else: no scores, no responses, no goals, not the Patient', () => {
    const filter = consentFilter(hannah, [CONSENT], NOW);
    const visible = admission.filter(filter).map((r) => r.resourceType);
    expect(visible).toEqual(['CarePlan']);
  });

  it('shares nothing with another carer', () => {
    expect(community.concat(admission).filter(consentFilter(otherCarer, [CONSENT], NOW))).toEqual(
      [],
    );
  });

  it('does not filter anyone but carers: it answers no, so the API must not apply it to them', () => {
    expect(consentFilter(megan, [CONSENT], NOW)(PLAN)).toBe(false);
  });

  it('another person’s plan is never shared, whatever the Consent says', () => {
    const plan: CarePlan = { ...PLAN, subject: { reference: 'Patient/someone' } };
    expect(consentFilter(hannah, [CONSENT], NOW)(plan)).toBe(false);
  });
});

describe('deny by default and Consent conditions', () => {
  /** name, consents, whether Hannah sees the plan */
  const CASES: [string, Consent[], boolean][] = [
    ['no Consent', [], false],
    ['the Consent as recorded', [CONSENT], true],
    ['inactive', [{ ...CONSENT, status: 'inactive' }], false],
    ['draft', [{ ...CONSENT, status: 'draft' }], false],
    ['entered in error', [{ ...CONSENT, status: 'entered-in-error' }], false],
    [
      'not a privacy Consent',
      [
        {
          ...CONSENT,
          scope: {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' },
            ],
          },
        },
      ],
      false,
    ],
    ['about another patient', [{ ...CONSENT, patient: { reference: 'Patient/someone' } }], false],
    ['not started yet', [withProvision({ ...base, period: { start: '2025-10-02' } })], false],
    [
      'started today (a whole UTC day)',
      [withProvision({ ...base, period: { start: '2025-10-01' } })],
      true,
    ],
    [
      'expired',
      [withProvision({ ...base, period: { start: '2025-01-01', end: '2025-09-30' } })],
      false,
    ],
    [
      'ends today',
      [withProvision({ ...base, period: { start: '2025-01-01', end: '2025-10-01' } })],
      true,
    ],
    [
      'ended an hour ago',
      [withProvision({ ...base, period: { end: '2025-10-01T11:00:00Z' } })],
      false,
    ],
    ['an unreadable period', [withProvision({ ...base, period: { start: 'soon' } })], false],
    [
      'another actor',
      [
        withProvision({
          ...base,
          actor: [{ role: {}, reference: { reference: 'RelatedPerson/someone-else' } }],
        }),
      ],
      false,
    ],
    ['no actor (a permit must name the carer)', [withProvision(without(base, 'actor'))], false],
    [
      'another class',
      [
        withProvision({
          ...base,
          class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Goal' }],
        }),
      ],
      false,
    ],
    [
      'a class from another system',
      [withProvision({ ...base, class: [{ system: 'urn:ietf:bcp:13', code: 'application/pdf' }] })],
      false,
    ],
    [
      'another action (collect, not access)',
      [
        withProvision({
          ...base,
          action: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'collect' },
              ],
            },
          ],
        }),
      ],
      false,
    ],
    ['a base deny', [withProvision({ ...base, type: 'deny' })], false],
    [
      'a permit restricted by securityLabel (not supported: shares nothing)',
      [withProvision({ ...base, securityLabel: [{ system: 'x', code: 'R' }] })],
      false,
    ],
    [
      'a second Consent that denies wins',
      [CONSENT, withProvision({ type: 'deny', actor: base.actor ?? [] }, { id: 'refusal' })],
      false,
    ],
    [
      'a second Consent that denies everyone, naming no actor, wins',
      [CONSENT, withProvision({ type: 'deny' }, { id: 'refusal' })],
      false,
    ],
    [
      'a deny for another carer does not touch Hannah',
      [
        CONSENT,
        withProvision(
          {
            type: 'deny',
            actor: [{ role: {}, reference: { reference: 'RelatedPerson/someone-else' } }],
          },
          { id: 'refusal' },
        ),
      ],
      true,
    ],
    [
      'an expired deny no longer applies',
      [CONSENT, withProvision({ type: 'deny', period: { end: '2025-06-01' } }, { id: 'refusal' })],
      true,
    ],
    [
      'opt-out with an exception: base deny, nested permit for Hannah',
      [withProvision({ type: 'deny', provision: [{ ...base }] })],
      true,
    ],
    [
      'a nested deny of the whole CarePlan class',
      [
        withProvision({
          ...base,
          provision: [
            {
              type: 'deny',
              class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'CarePlan' }],
            },
          ],
        }),
      ],
      false,
    ],
  ];

  it.each(CASES)('%s', (_name, consents, shared) => {
    expect(consentFilter(hannah, consents, NOW)(PLAN)).toBe(shared);
  });

  it('a nested deny by code removes that section only', () => {
    const consent = withProvision({
      ...base,
      provision: [
        {
          type: 'deny',
          code: [
            {
              coding: [
                {
                  system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-plan-sections',
                  code: 'safety-plan',
                },
              ],
            },
          ],
        },
      ],
    });
    expect(sections(consentView(hannah, [consent], NOW)(PLAN))).toEqual(['agreed-action']);
  });

  it('a permit without codes shares the whole plan; contained resources are dropped', () => {
    const consent = withProvision(without(base, 'code'));
    const plan: CarePlan = { ...PLAN, contained: [{ resourceType: 'Patient', id: 'x' }] };
    const view = consentView(hannah, [consent], NOW)(plan) as CarePlan;
    expect(sections(view)).toEqual(sections(PLAN));
    expect(view.contained).toBeUndefined();
    expect(view.note).toEqual(PLAN.note);
    expect(view.supportingInfo).toEqual(PLAN.supportingInfo);
  });

  it('a plan shared by section keeps its frame and the sections named, not the clinical rest', () => {
    expect(PLAN.note?.length).toBeGreaterThan(0);
    const view = consentView(hannah, [CONSENT], NOW)(PLAN) as CarePlan;
    // Clinicians' notes, the description, goals, the ratings behind it, who contributed and the
    // services the person went through (an inpatient stay) are not sections she shared.
    for (const hidden of [
      'note',
      'description',
      'goal',
      'supportingInfo',
      'contributor',
      'contained',
    ] as const)
      expect(view[hidden]).toBeUndefined();
    const kept = (view.extension ?? []).map((e) => e.url.split('/').pop()).sort();
    expect(kept).toEqual(['dialog-carer', 'dialog-key-worker']);
    expect(view.subject).toEqual(PLAN.subject);
    expect(view.status).toBe(PLAN.status);
    expect(view.period).toEqual(PLAN.period);
  });

  it('a plan shared by section keeps only its own identifier and the version of its meta', () => {
    const travelled: CarePlan = {
      ...PLAN,
      meta: {
        ...PLAN.meta,
        versionId: '4',
        lastUpdated: '2025-09-30T10:00:00Z',
        source: 'https://ward.example.nhs.uk/fhir',
        tag: [{ system: 'urn:ward', code: 'admitted' }],
        profile: ['https://dialog-fhir.org/fhir/StructureDefinition/dialog-care-plan'],
      },
      identifier: [
        ...(PLAN.identifier ?? []),
        {
          system: 'https://dialog-fhir.org/fhir/sid/source-resource',
          value: 'https://ward.example.nhs.uk/fhir/CarePlan/9',
        },
      ],
    };
    const view = consentView(hannah, [CONSENT], NOW)(travelled) as CarePlan;
    expect(view.meta).toEqual({
      versionId: '4',
      lastUpdated: '2025-09-30T10:00:00Z',
      profile: travelled.meta?.profile,
    });
    const own = (PLAN.identifier ?? []).filter(
      (i) => i.system === 'https://dialog-fhir.org/fhir/sid/care-plan',
    );
    expect(own.length).toBeGreaterThan(0);
    expect(view.identifier).toEqual(own);
    expect(JSON.stringify(view)).not.toContain('ward.example');
    // Shared whole, the plan is the person's to show as it is.
    const whole = consentView(
      hannah,
      [withProvision(without(base, 'code'))],
      NOW,
    )(travelled) as CarePlan;
    expect(whole.identifier).toEqual(travelled.identifier);
  });

  it('a whole-plan permit with one section denied is a plan shared by section', () => {
    const consent = withProvision({
      ...without(base, 'code'),
      provision: [
        {
          type: 'deny',
          code: [
            {
              coding: [
                {
                  system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-plan-sections',
                  code: 'mental-health-act-status',
                },
              ],
            },
          ],
        },
      ],
    });
    const view = consentView(hannah, [consent], NOW)(PLAN) as CarePlan;
    expect(sections(view)).not.toContain('mental-health-act-status');
    expect(sections(view)).toContain('leave');
    // The notes tell the section denied ("under Section 2"): the frame only, as by section.
    expect(view.note).toBeUndefined();
    expect(view.supportingInfo).toBeUndefined();
    // Also when this plan has no activity in the denied section (it is still in the notes).
    const withoutSection: CarePlan = {
      ...PLAN,
      activity: (PLAN.activity ?? []).filter(
        (a) => a.detail?.code?.coding?.[0]?.code !== 'mental-health-act-status',
      ),
    };
    const other = consentView(hannah, [consent], NOW)(withoutSection) as CarePlan;
    expect(other.note).toBeUndefined();
    expect(sections(other)).toContain('leave');
  });

  it('never shares a Task, whatever the Consent says (work items hold copies of plan parts)', () => {
    const consent = withProvision(without(base, 'class', 'code'));
    const task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      for: { reference: `Patient/${PATIENT}` },
      input: [{ type: { text: 'their version' }, valueString: '{"note":"admitted"}' }],
    } as Resource;
    expect(consentView(hannah, [consent], NOW)(task)).toBeUndefined();
    const observation = community.find((r) => r.resourceType === 'Observation') as Resource;
    expect(consentView(hannah, [consent], NOW)(observation)).toBeDefined();
  });

  it('a permit without class shares every type in the person’s compartment', () => {
    const consent = withProvision(without(base, 'class', 'code'));
    const filter = consentFilter(hannah, [consent], NOW);
    const types = new Set(community.filter(filter).map((r) => r.resourceType));
    expect([...types].sort()).toEqual([
      'CarePlan',
      'Consent',
      'Goal',
      'Observation',
      'Patient',
      'QuestionnaireResponse',
      'RelatedPerson',
    ]);
  });

  it('a permit by code shares only resources carrying that code', () => {
    const dialogItemScores = admission.filter(
      (r) => r.resourceType === 'Observation',
    ) as Resource[];
    const first = dialogItemScores[0] as Resource & {
      code: { coding: { system: string; code: string }[] };
    };
    const coding = first.code.coding[0] as { system: string; code: string };
    const consent = withProvision({
      ...base,
      class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }],
      code: [{ coding: [coding] }],
    });
    const shared = dialogItemScores.filter(consentFilter(hannah, [consent], NOW));
    expect(shared.length).toBeGreaterThan(0);
    expect(shared.length).toBeLessThan(dialogItemScores.length);
    for (const r of shared) expect(JSON.stringify((r as typeof first).code)).toContain(coding.code);
  });

  it('a deny with codes given only as text applies as if unrestricted (fails closed)', () => {
    const consent = withProvision({
      ...base,
      provision: [{ type: 'deny', code: [{ text: 'anything upsetting' }] }],
    });
    expect(consentFilter(hannah, [consent], NOW)(PLAN)).toBe(false);
  });
});

describe('consentTypeShare: what a Consent shares of a type, before any resource is read', () => {
  it('the journey Consent: some plans, none of the ratings, goals or Tasks, every definition', () => {
    const share = consentTypeShare(hannah, [CONSENT], NOW);
    expect(share('CarePlan')).toBe('some');
    for (const type of ['QuestionnaireResponse', 'Observation', 'Goal', 'Patient', 'Task'])
      expect(share(type)).toBe('none');
    expect(share('Questionnaire')).toBe('every');
  });

  it('nothing for another carer, nor for anyone who is not a carer', () => {
    expect(consentTypeShare(otherCarer, [CONSENT], NOW)('CarePlan')).toBe('none');
    expect(consentTypeShare(megan, [CONSENT], NOW)('CarePlan')).toBe('none');
  });

  it('a type shared without codes is every; a coded deny inside it makes it some', () => {
    const observations = withProvision({
      ...without(base, 'code'),
      class: [{ system: RESOURCE_TYPES, code: 'Observation' }],
    });
    expect(consentTypeShare(hannah, [observations], NOW)('Observation')).toBe('every');
    const coded = withProvision({
      ...(observations.provision as ConsentProvision),
      provision: [{ type: 'deny', code: [{ coding: [{ system: 'urn:x', code: 'a' }] }] }],
    });
    expect(consentTypeShare(hannah, [coded], NOW)('Observation')).toBe('some');
    // …and a deny of another type leaves it every.
    const elsewhere = withProvision({
      ...(observations.provision as ConsentProvision),
      provision: [
        {
          type: 'deny',
          class: [{ system: RESOURCE_TYPES, code: 'Goal' }],
          code: [{ coding: [{ system: 'urn:x', code: 'a' }] }],
        },
      ],
    });
    expect(consentTypeShare(hannah, [elsewhere], NOW)('Observation')).toBe('every');
  });

  it('a permit out of its period, or with codes only as text, shares none', () => {
    const lapsed = withProvision({ ...without(base, 'class', 'code'), period: { end: '2025-01' } });
    expect(consentTypeShare(hannah, [lapsed], NOW)('Observation')).toBe('none');
    const text = withProvision({ ...without(base, 'class'), code: [{ text: 'the good bits' }] });
    expect(consentTypeShare(hannah, [text], NOW)('Observation')).toBe('none');
  });

  it('agrees with the view: none shares no resource of the type, every shares each', () => {
    const CODES = ['a', 'b', 'c'];
    const TYPES = ['Observation', 'Goal', 'QuestionnaireResponse', 'CarePlan'];
    const coding = fc.constantFrom(...CODES).map((code) => ({ system: 'urn:x', code }));
    const codes = fc.oneof(
      fc.constant(undefined),
      fc.constant([{ text: 'as text' }]),
      fc
        .array(coding, { minLength: 1, maxLength: 2 })
        .map((cs) => cs.map((c) => ({ coding: [c] }))),
    );
    const classes = fc.oneof(
      fc.constant(undefined),
      fc
        .subarray(TYPES, { minLength: 1 })
        .map((ts) => ts.map((code) => ({ system: RESOURCE_TYPES, code }))),
    );
    const actor = fc.constantFrom(
      undefined,
      'RelatedPerson/hannah-price',
      'RelatedPerson/someone-else',
    );
    const period = fc.constantFrom(undefined, { start: '2025-01' }, { end: '2025-01' });
    const { provision } = fc.letrec<{ provision: ConsentProvision }>((tie) => ({
      provision: fc
        .record({
          type: fc.constantFrom('permit' as const, 'deny' as const),
          class: classes,
          code: codes,
          actor,
          period,
          provision: fc.oneof(
            { maxDepth: 2, depthIdentifier: 'nested' },
            fc.constant(undefined),
            fc.array(tie('provision'), { minLength: 1, maxLength: 2 }),
          ),
        })
        .map(
          ({ actor: who, ...rest }) =>
            Object.fromEntries(
              Object.entries({
                ...rest,
                actor: who ? [{ reference: { reference: who } }] : undefined,
              }).filter(([, v]) => v !== undefined),
            ) as ConsentProvision,
        ),
    }));
    const resource = fc
      .record({ type: fc.constantFrom(...TYPES), codings: fc.subarray(CODES) })
      .map(({ type, codings }): Resource => {
        const concept = { coding: codings.map((code) => ({ system: 'urn:x', code })) };
        const subject = { reference: `Patient/${PATIENT}` };
        if (type === 'Observation')
          return { resourceType: 'Observation', status: 'final', code: concept, subject };
        if (type === 'Goal')
          return {
            resourceType: 'Goal',
            lifecycleStatus: 'active',
            category: [concept],
            description: { text: 'g' },
            subject,
          };
        if (type === 'CarePlan')
          return {
            resourceType: 'CarePlan',
            status: 'active',
            intent: 'plan',
            category: [concept],
            subject,
          };
        return { resourceType: 'QuestionnaireResponse', status: 'completed', subject };
      });
    fc.assert(
      fc.property(
        fc.array(provision, { minLength: 1, maxLength: 2 }),
        fc.array(resource),
        (provisions, resources) => {
          const consents = provisions.map((p) => withProvision(p));
          const share = consentTypeShare(hannah, consents, NOW);
          const view = consentView(hannah, consents, NOW);
          for (const r of resources) {
            const shown = view(r);
            const expected = share(r.resourceType);
            if (expected === 'none') expect(shown).toBeUndefined();
            if (expected === 'every') expect(shown).toBeDefined();
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('inForce', () => {
  it.each([
    [{}, true],
    [{ start: '2025' }, true],
    [{ start: '2025-10' }, true],
    [{ start: '2025-11' }, false],
    [{ end: '2025-10' }, true],
    [{ end: '2025-09' }, false],
    [{ start: '2025-10-01T12:00:00+01:00' }, true],
    [{ start: '2025-10-01T13:00:01+01:00' }, false],
    [{ start: '2025-10-01T12:00' }, false],
  ])('%j → %s', (period, expected) => {
    expect(inForce(period, NOW)).toBe(expected);
  });
});

describe('requiredConsentSearch', () => {
  it('asks for the person’s active Consents', () => {
    expect(requiredConsentSearch(PATIENT)).toEqual({
      resourceType: 'Consent',
      params: { patient: 'Patient/megan-price', status: 'active' },
    });
  });
});
