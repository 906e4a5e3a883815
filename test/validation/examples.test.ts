import { createValidator, hasErrors } from '../../src/validation';
import { invalidExamples, validExamples } from '../support/examples';
import { medplumIssues } from '../support/medplum';

const validator = createValidator();
const valid = validExamples();
const invalid = invalidExamples();

describe('valid examples', () => {
  it('has a whole journey to check', () => {
    expect(valid.filter((e) => e.name.startsWith('journey/')).length).toBeGreaterThan(40);
  });

  it.each(valid.map((e) => [e.name, e.resource] as const))(
    '%s passes the dialog-fhir validator',
    (_name, resource) => {
      const result = validator.validate(resource);
      expect(result.issue.filter((i) => i.severity === 'error')).toEqual([]);
    },
  );

  it.each(valid.map((e) => [e.name, e.resource] as const))(
    '%s passes Medplum validateResource',
    (_name, resource) => {
      expect(medplumIssues(resource)).toEqual([]);
    },
  );
});

describe('invalid examples', () => {
  it.each(invalid.map((c) => [c.file, c] as const))('%s raises its expected issue', (_file, c) => {
    const result = validator.validate(c.resource, c.profile ? { profile: c.profile } : {});
    expect(hasErrors(result)).toBe(true);
    const match = result.issue.find(
      (i) =>
        i.severity === 'error' &&
        i.code === c.expect.code &&
        i.expression?.[0] === c.expect.expression &&
        (!c.expect.invariant || (i.diagnostics ?? '').includes(c.expect.invariant)),
    );
    if (!match)
      throw new Error(
        `expected ${JSON.stringify(c.expect)}; got ${JSON.stringify(result.issue, null, 1)}`,
      );
    expect(match.details?.text).toBeTruthy();
  });
});
