import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FORMATS,
  loadMapping,
  MAPPINGS_DIR,
  MappingFileError,
  parseMapping,
} from '../../src/mapping';
import { fixture, rejectSummary, responses, run } from './helpers';

describe('mapping files', () => {
  it.each(FORMATS)('%s is valid against mappings/mapping.schema.json', (format) => {
    const spec = loadMapping(format);
    expect(spec.format).toBe(format);
  });

  it('a broken mapping is refused, naming where', () => {
    const spec = JSON.parse(
      readFileSync(join(MAPPINGS_DIR, 'dialogplus-csv.json'), 'utf8'),
    ) as Record<string, unknown>;
    const broken = { ...spec, itemOrder: 'alphabetical', csv: { delimiter: ',,' } };
    expect(() => parseMapping(broken, 'broken.json')).toThrow(MappingFileError);
    try {
      parseMapping(broken, 'broken.json');
    } catch (e) {
      const errors = (e as MappingFileError).errors.join('\n');
      expect(errors).toMatch(/\/itemOrder must be equal to one of the allowed values/);
      expect(errors).toMatch(/\/csv must have required property 'quote'/);
    }
  });

  it('an edited copy changes what is read, without code: a renamed column, another zone', async () => {
    const spec = JSON.parse(readFileSync(join(MAPPINGS_DIR, 'dialogplus-csv.json'), 'utf8')) as {
      columns: { header?: string }[];
      timeZone: string;
    };
    const first = spec.columns[0];
    if (first) first.header = 'Patient Name';
    spec.timeZone = 'America/New_York';
    const dir = mkdtempSync(join(tmpdir(), 'dialog-mapping-'));
    const file = join(dir, 'trust-export.json');
    writeFileSync(file, JSON.stringify(spec));
    const text = fixture('dialogplus-csv', 'export-app-order.csv').replace(
      'Client Name',
      'Patient Name',
    );
    const r = await run(text, loadMapping(file), 'fhir');
    expect(rejectSummary(r)).toEqual([]);
    expect(responses(r.output)[0]?.authored).toBe('2025-09-16T15:10:00-04:00');
  });
});
