import fc from 'fast-check';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import { createValidator, DIALOG_QR_PROFILE, loadConformancePackage } from '../../src/validation';
import type { CompiledProfile } from '../../src/validation/profile-rules';
import { invalidExamples, validExamples } from '../support/examples';

// A profile's fast path decides alone that a resource meets it (the issues are only looked for
// when it says no), so it must say yes exactly when the full check finds nothing.
const validator = createValidator();
const pkg = loadConformancePackage();
const definitions = pkg.resources.filter(
  (r): r is StructureDefinition => r.resourceType === 'StructureDefinition',
);
const resources: Resource[] = [
  ...validExamples().map((e) => e.resource),
  ...invalidExamples().map((c) => c.resource),
];
const IMPLIED = new Set(['qrs-1']);

function agrees(profile: CompiledProfile, value: unknown, implied?: ReadonlySet<string>): boolean {
  return profile.holds?.(value, implied) === (profile.issues(value, implied).length === 0);
}

/** Every extension object in a JSON tree. */
function extensionsIn(value: unknown, out: Record<string, unknown>[] = []): typeof out {
  if (value === null || typeof value !== 'object') return out;
  if (!Array.isArray(value) && typeof (value as { url?: unknown }).url === 'string')
    out.push(value as Record<string, unknown>);
  for (const child of Object.values(value)) extensionsIn(child, out);
  return out;
}

describe('profile fast path', () => {
  it('exists for every profile and extension of the package', () => {
    const without = definitions
      .filter((sd) => !validator.profile(sd.url)?.holds)
      .map((sd) => sd.url);
    expect(without).toEqual([]);
  });

  it('agrees with the full check on every example, for every profile of its type', () => {
    let compared = 0;
    let held = 0;
    for (const sd of definitions) {
      const profile = validator.profile(sd.url) as CompiledProfile;
      const subjects =
        sd.type === 'Extension'
          ? extensionsIn(resources).filter((e) => e.url === sd.url)
          : resources.filter((r) => r.resourceType === sd.type);
      for (const subject of subjects) {
        for (const implied of [undefined, IMPLIED]) {
          expect([sd.url, subject, agrees(profile, subject, implied)]).toEqual([
            sd.url,
            subject,
            true,
          ]);
          compared++;
          if (profile.holds?.(subject, implied)) held++;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
    // Both verdicts occur: the invalid examples break profiles.
    expect(held).toBeGreaterThan(compared / 2);
    expect(held).toBeLessThan(compared);
  });

  it('agrees with the full check on mutated DIALOG responses', () => {
    const profile = validator.profile(DIALOG_QR_PROFILE) as CompiledProfile;
    const responses = resources.filter((r) => r.resourceType === 'QuestionnaireResponse');
    const timepoint = {
      url: 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-timepoint',
      valueCoding: {
        system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-timepoints',
        code: 'review',
      },
    };
    type Mutation = (r: Record<string, unknown>) => void;
    const mutations: Mutation[] = [
      (r) => delete r.subject,
      (r) => delete r.authored,
      (r) => delete r.questionnaire,
      (r) => (r.questionnaire = 'https://example.org/Questionnaire/other'),
      (r) => (r.subject = { reference: 'Practitioner/1' }),
      (r) => (r.subject = { reference: 'Patient?identifier=x|1' }),
      (r) => (r.subject = { reference: '#p' }),
      (r) => (r.source = { reference: 'Patient/someone-else' }),
      (r) => (r.source = { reference: 'RelatedPerson/1' }),
      (r) => (r.extension = [...((r.extension as unknown[]) ?? []), timepoint]),
      (r) => (r.extension = [...((r.extension as unknown[]) ?? []), timepoint, timepoint]),
      (r) =>
        (r.extension = [
          { ...timepoint, valueCoding: { system: timepoint.valueCoding.system, code: 'x' } },
        ]),
      (r) => (r.extension = [{ url: timepoint.url, valueString: 'review' }]),
      (r) => (r.status = 'completed'),
      (r) => (r.status = 'in-progress'),
      (r) => delete r.item,
      (r) => (r.contained = [{ resourceType: 'Patient', meta: { versionId: '1' } }]),
      (r) =>
        (r.item = [
          ...((r.item as unknown[]) ?? []),
          { linkId: 'x', answer: [{}], item: [{ linkId: 'y' }] },
        ]),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...responses),
        fc.array(fc.nat(mutations.length - 1), { minLength: 1, maxLength: 3 }),
        (response, picks) => {
          const copy = JSON.parse(JSON.stringify(response)) as Record<string, unknown>;
          for (const i of picks) mutations[i]?.(copy);
          expect(agrees(profile, copy)).toBe(true);
          expect(agrees(profile, copy, IMPLIED)).toBe(true);
        },
      ),
      { numRuns: 400, seed: 3 },
    );
  });
});
