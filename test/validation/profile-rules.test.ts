import fc from 'fast-check';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { loadConformancePackage } from '../../src/validation';
import { loadFhirSchema } from '../../src/validation/fhir-schema';
import { compileProfile, simpleExtensionVerdict } from '../../src/validation/profile-rules';
import { compileVerdict } from '../../src/validation/schema-verdict';

// The predicate for simple extensions decides alone when an extension meets its definition, so
// it must agree with the compiled definition on everything the R4 schema lets through.
const pkg = loadConformancePackage();
const fhir = loadFhirSchema();
const extensionShape = compileVerdict(
  (fhir.definitions as Record<string, Record<string, unknown>>).Extension ?? {},
  fhir,
  { fhir },
);
const extensions = pkg.resources.filter(
  (r): r is StructureDefinition =>
    r.resourceType === 'StructureDefinition' && r.type === 'Extension',
);
const simple = extensions
  .map((sd) => ({
    sd,
    verdict: simpleExtensionVerdict(sd, pkg),
    compiled: compileProfile(sd, pkg),
  }))
  .filter((e) => e.verdict !== undefined);

const value = fc.oneof(
  fc.record({
    valueCoding: fc.record({
      system: fc.constantFrom(
        'https://dialog-fhir.org/fhir/CodeSystem/dialog-timepoints',
        'https://dialog-fhir.org/fhir/CodeSystem/dialog-settings',
        'http://other',
      ),
      code: fc.constantFrom('review', 'community', 'sms', 'informal', 'x'),
    }),
  }),
  fc.record({ valueString: fc.constantFrom('a', 'review') }),
  fc.record({ valueCode: fc.constantFrom('review', 'sms') }),
  fc.record({
    valueCodeableConcept: fc.record({
      coding: fc.constant([
        { system: 'https://dialog-fhir.org/fhir/CodeSystem/dialog-delivery-channels', code: 'sms' },
      ]),
    }),
  }),
  fc.record({ valueBoolean: fc.boolean() }),
  fc.record({ valueCoding: fc.constant({ code: 'review' }), valueString: fc.constant('also') }),
);

describe('the simple-extension predicate agrees with the compiled extension definition', () => {
  it('covers the package’s value-only extensions', () => {
    expect(simple.map((e) => e.sd.id)).toEqual(
      expect.arrayContaining(['dialog-timepoint', 'dialog-setting', 'dialog-measure']),
    );
  });

  it('on generated extensions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...simple),
        fc.constantFrom(...extensions.map((e) => e.url)),
        value,
        fc.boolean(),
        (ext, url, v, nested) => {
          const node: Record<string, unknown> = { url, ...v };
          if (nested) node.extension = [{ url: 'x', valueString: 'y' }];
          if (!extensionShape(node)) return;
          expect(ext.verdict?.(node)).toBe(ext.compiled.check(node).length === 0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
