import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runValidate } from '../../src/cli/validate-files';
import { EXAMPLES_DIR } from '../support/examples';

function run(targets: string[]): { code: number; output: string } {
  const lines: string[] = [];
  const code = runValidate(targets, (line) => lines.push(line));
  return { code, output: lines.join('\n') };
}

describe('dialog-fhir validate', () => {
  it('exits 0 on the journey and the valid examples', () => {
    const { code, output } = run([join(EXAMPLES_DIR, 'journey'), join(EXAMPLES_DIR, 'valid')]);
    expect(output).toMatch(/file\(s\) checked, 0 invalid/);
    expect(code).toBe(0);
  });

  it('exits 1 and prints the OperationOutcome for an invalid file', () => {
    const { code, output } = run([join(EXAMPLES_DIR, 'invalid', 'qr-four-chosen-items.json')]);
    expect(code).toBe(1);
    expect(output).toContain('"resourceType": "OperationOutcome"');
    expect(output).toContain('dlg-qr-1');
  });

  it('validates NDJSON line by line and names the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dialog-validate-'));
    const file = join(dir, 'two.ndjson');
    writeFileSync(
      file,
      `{"resourceType":"Patient","id":"a"}\n{"resourceType":"Patient","foo":1}\n`,
    );
    const { code, output } = run([file]);
    expect(code).toBe(1);
    expect(output).toContain('line 2');
    expect(output).toContain('Patient.foo');
  });

  it('prints usage and exits 2 without arguments', () => {
    expect(run([]).code).toBe(2);
  });
});
