import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { convert, createWriter, loadMapping } from '../../src/mapping';
import { dialogPlusRecord, hl7Record } from './arbitraries';
import { FIXED_NOW, run } from './helpers';

function csvOf(count: number, seed: number): string {
  const writer = createWriter(loadMapping('dialogplus-csv'));
  let text = writer.begin();
  for (const record of fc.sample(dialogPlusRecord, { numRuns: count, seed })) {
    const written = writer.write(record);
    if (written.ok) text += written.text;
  }
  return text;
}

async function throughStream(
  text: string,
  from: string,
  to: string,
  chunk = 4096,
): Promise<string> {
  const output = new PassThrough();
  const parts: Buffer[] = [];
  output.on('data', (b: Buffer) => parts.push(b));
  const input = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) chunks.push(input.subarray(i, i + chunk));
  await convert(chunks, output, { from, to, now: FIXED_NOW });
  output.end();
  return Buffer.concat(parts).toString('utf8');
}

describe('the engine, streaming', () => {
  it('writes the same FHIR through reused byte buffers as through strings (past the verified records)', async () => {
    const text = csvOf(400, 3);
    const viaStrings = (await run(text, 'dialogplus-csv', 'fhir')).output;
    expect(viaStrings.split('\n').length).toBeGreaterThan(300);
    expect(await throughStream(text, 'dialogplus-csv', 'fhir')).toBe(viaStrings);
  });

  it('gives the same output whatever the chunk boundaries (multi-byte characters split included)', async () => {
    const text = csvOf(60, 5);
    const whole = (await run(text, 'dialogplus-csv', 'fhir')).output;
    for (const size of [1, 7, 333])
      expect(await throughStream(text, 'dialogplus-csv', 'fhir', size)).toBe(whole);
    const hl7Writer = createWriter(loadMapping('hl7v2'), { now: FIXED_NOW });
    let hl7 = '';
    for (const r of fc.sample(hl7Record, { numRuns: 20, seed: 9 })) {
      const w = hl7Writer.write(r);
      if (w.ok) hl7 += w.text;
    }
    const hl7Whole = (await run(hl7, 'hl7v2', 'fhir')).output;
    for (const size of [1, 13])
      expect(await throughStream(hl7, 'hl7v2', 'fhir', size)).toBe(hl7Whole);
  });
});
