/**
 * `npm run bench`: validation of the example DIALOG QuestionnaireResponse, parse included, side
 * by side in one run with JSON.parse alone of the same bytes and Medplum's validateResource
 * against the same profile. Prints rates and ratios and writes bench/results/validation.json.
 * Targets (issue 2): ≥ 0.5× the JSON.parse rate and ≥ 25× Medplum's rate.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { validateResource } from '@medplum/core';
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { createValidator, hasErrors, PACKAGE_DIR } from '../src/validation';
import { invalidExamples, validExamples } from '../test/support/examples';
import { medplumIssues, medplumProfiles } from '../test/support/medplum';

const RESULTS_DIR = join(dirname(dirname(PACKAGE_DIR)), 'bench', 'results');
const PROFILE = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-questionnaire-response';

/**
 * Runs `fn` repeatedly for about `ms` milliseconds and returns operations per second. The heap is
 * collected first (node --expose-gc), so one contender's garbage is not paid for by the next.
 */
function rate(fn: () => void, ms = 1500): number {
  for (let i = 0; i < 200; i++) fn();
  (globalThis as { gc?: () => void }).gc?.();
  let count = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() - start < limit) {
    for (let i = 0; i < 50; i++) fn();
    count += 50;
  }
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Interleaves rounds of the three measurements so machine noise hits them alike; keeps medians. */
function sideBySide(cases: Record<string, () => void>, rounds = 5): Record<string, number> {
  const samples: Record<string, number[]> = Object.fromEntries(
    Object.keys(cases).map((k) => [k, []]),
  );
  for (let r = 0; r < rounds; r++)
    for (const [name, fn] of Object.entries(cases)) samples[name]?.push(rate(fn));
  return Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [
      k,
      v.sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0,
    ]),
  );
}

function agreement(validator: ReturnType<typeof createValidator>): {
  agree: number;
  total: number;
  differ: string[];
} {
  const cases = [
    ...validExamples().map((e) => ({ name: e.name, resource: e.resource, invalid: false })),
    ...invalidExamples().map((c) => ({ name: c.file, resource: c.resource, invalid: true })),
  ];
  const differ: string[] = [];
  for (const c of cases) {
    const ours = hasErrors(validator.validate(c.resource));
    const theirs = medplumIssues(c.resource).length > 0;
    if (ours !== theirs)
      differ.push(
        `${c.name}: dialog-fhir ${ours ? 'invalid' : 'valid'}, Medplum ${theirs ? 'invalid' : 'valid'}`,
      );
  }
  return { agree: cases.length - differ.length, total: cases.length, differ };
}

function main(): void {
  const validator = createValidator();
  const profile = medplumProfiles().get(PROFILE);
  const qr = validExamples().find((e) => e.resource.resourceType === 'QuestionnaireResponse')
    ?.resource as QuestionnaireResponse;
  const bytes = JSON.stringify(qr);
  const rates = sideBySide({
    'JSON.parse': () => JSON.parse(bytes),
    'dialog-fhir validateJson': () => {
      if (hasErrors(validator.validateJson(bytes).outcome))
        throw new Error('example must be valid');
    },
    'Medplum validateResource': () =>
      validateResource(JSON.parse(bytes) as QuestionnaireResponse, profile ? { profile } : {}),
  });
  const ours = rates['dialog-fhir validateJson'] ?? 0;
  const result = {
    date: new Date().toISOString(),
    resource: `QuestionnaireResponse/${qr.id} (${bytes.length} bytes)`,
    ratesPerSecond: rates,
    ratioToJsonParse: ours / (rates['JSON.parse'] ?? 1),
    ratioToMedplum: ours / (rates['Medplum validateResource'] ?? 1),
    targets: { ratioToJsonParse: 0.5, ratioToMedplum: 25 },
    agreement: agreement(validator),
  };
  for (const [name, value] of Object.entries(rates))
    console.log(`${name.padEnd(28)} ${value.toFixed(0).padStart(8)} /s`);
  console.log(`ratio to JSON.parse:  ${result.ratioToJsonParse.toFixed(2)}× (target ≥ 0.5×)`);
  console.log(`ratio to Medplum:     ${result.ratioToMedplum.toFixed(1)}× (target ≥ 25×)`);
  console.log(`validators agree on ${result.agreement.agree}/${result.agreement.total} examples`);
  for (const d of result.agreement.differ) console.log(`  differ: ${d}`);
  writeFileSync(join(RESULTS_DIR, 'validation.json'), `${JSON.stringify(result, null, 2)}\n`);
}

main();
