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

/** CPU time this process has used (user + system, all its threads), in microseconds. */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/**
 * Runs `fn` repeatedly for about `ms` milliseconds of this process's CPU time and returns
 * operations per CPU second. CPU time, not wall time: on a shared machine the scheduler hands
 * the process out in slices, and wall time counts the slices other processes had (GC threads
 * count, as they work for the contender). The heap is collected first (node --expose-gc), so one
 * contender's garbage is not paid for by the next.
 */
function rate(fn: () => void, ms = 1000): number {
  for (let i = 0; i < 200; i++) fn();
  (globalThis as { gc?: () => void }).gc?.();
  let count = 0;
  const start = cpuMicros();
  const limit = ms * 1000;
  while (cpuMicros() - start < limit) {
    for (let i = 0; i < 50; i++) fn();
    count += 50;
  }
  return count / ((cpuMicros() - start) / 1e6);
}

const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/**
 * Interleaves rounds of the three measurements so machine noise hits them alike; keeps each
 * contender's rate per round (the medians are the result).
 */
function sideBySide(cases: Record<string, () => void>, rounds = 9): Record<string, number[]> {
  const samples: Record<string, number[]> = Object.fromEntries(
    Object.keys(cases).map((k) => [k, []]),
  );
  // One round unmeasured first: V8 compiles the hot code on background threads, whose CPU time
  // would otherwise count against whichever contender runs meanwhile.
  for (const fn of Object.values(cases)) rate(fn);
  for (let r = 0; r < rounds; r++)
    for (const [name, fn] of Object.entries(cases)) samples[name]?.push(rate(fn));
  return samples;
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
  const samples = sideBySide({
    'JSON.parse': () => JSON.parse(bytes),
    'dialog-fhir validateJson': () => {
      if (hasErrors(validator.validateJson(bytes).outcome))
        throw new Error('example must be valid');
    },
    'Medplum validateResource': () =>
      validateResource(JSON.parse(bytes) as QuestionnaireResponse, profile ? { profile } : {}),
  });
  const rates = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const ours = rates['dialog-fhir validateJson'] ?? 0;
  // Each round's ratio, from the two measurements taken next to each other: how steady it is.
  const parse = samples['JSON.parse'] ?? [];
  const byRound = (samples['dialog-fhir validateJson'] ?? []).map((v, i) => v / (parse[i] ?? 1));
  const result = {
    date: new Date().toISOString(),
    resource: `QuestionnaireResponse/${qr.id} (${bytes.length} bytes)`,
    measure: 'operations per CPU second of this process; medians of 9 interleaved rounds of 1 s',
    ratesPerSecond: rates,
    ratioToJsonParse: ours / (rates['JSON.parse'] ?? 1),
    ratioToJsonParseByRound: {
      min: Math.min(...byRound),
      median: median(byRound),
      max: Math.max(...byRound),
    },
    ratioToMedplum: ours / (rates['Medplum validateResource'] ?? 1),
    targets: { ratioToJsonParse: 0.5, ratioToMedplum: 25 },
    agreement: agreement(validator),
  };
  for (const [name, value] of Object.entries(rates))
    console.log(`${name.padEnd(28)} ${value.toFixed(0).padStart(8)} /s`);
  console.log(`ratio to JSON.parse:  ${result.ratioToJsonParse.toFixed(2)}× (target ≥ 0.5×)`);
  const round = result.ratioToJsonParseByRound;
  console.log(
    `  by round: min ${round.min.toFixed(2)}×, median ${round.median.toFixed(2)}×, max ${round.max.toFixed(2)}×`,
  );
  console.log(`ratio to Medplum:     ${result.ratioToMedplum.toFixed(1)}× (target ≥ 25×)`);
  console.log(`validators agree on ${result.agreement.agree}/${result.agreement.total} examples`);
  for (const d of result.agreement.differ) console.log(`  differ: ${d}`);
  writeFileSync(join(RESULTS_DIR, 'validation.json'), `${JSON.stringify(result, null, 2)}\n`);
}

main();
