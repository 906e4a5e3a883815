/** src/validation/invariants.ts: invariants fhirpath.js evaluates print nothing. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Questionnaire } from '@medplum/fhirtypes';
import { createValidator } from '../../src/validation';

describe('invariants evaluated by fhirpath.js', () => {
  it('an invariant using trace() writes nothing to stdout (the logs are JSON lines there)', () => {
    const questionnaire = JSON.parse(
      readFileSync(
        join(__dirname, '..', '..', 'profiles', 'package', 'Questionnaire-dialog.json'),
        'utf8',
      ),
    ) as Questionnaire;
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const result = createValidator().validate(questionnaire);
      expect(result.resourceType).toBe('OperationOutcome');
      expect(log).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
  });
});
