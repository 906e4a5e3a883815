import * as fhir from '../../src/fhir';
import * as canonical from '../../src/fhir/canonical';
import * as responseSession from '../../src/fhir/response-session';
import * as stableId from '../../src/fhir/stable-id';
import * as extract from '../../src/fhir/extract';
import * as populate from '../../src/fhir/populate';
import * as populateParameters from '../../src/fhir/populate-parameters';
import * as carePlanBuilder from '../../src/fhir/care-plan-builder';
import * as goalBuilder from '../../src/fhir/goal-builder';
import * as dialogSession from '../../src/fhir/dialog-session';

const modules = {
  canonical,
  dialogSession,
  responseSession,
  stableId,
  extract,
  populate,
  populateParameters,
  carePlanBuilder,
  goalBuilder,
};

describe('src/fhir entry file', () => {
  it.each(Object.entries(modules))('re-exports everything %s offers', (_name, module) => {
    for (const [key, value] of Object.entries(module)) {
      expect(fhir).toHaveProperty(key);
      expect((fhir as Record<string, unknown>)[key]).toBe(value);
    }
  });

  it('offers the operations by name', () => {
    for (const name of [
      'sessionToResponse',
      'responseToSession',
      'extractObservations',
      'populateResponse',
      'populateOperation',
      'buildCarePlan',
      'sessionTransaction',
      'extractedIdentifier',
    ])
      expect(typeof (fhir as Record<string, unknown>)[name]).toBe('function');
  });
});
