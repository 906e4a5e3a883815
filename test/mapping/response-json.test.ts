import fc from 'fast-check';
import { recordToResponse } from '../../src/mapping';
import { asciiJson, ResponseJson } from '../../src/mapping/response-json';
import { anyRecord, dialogPlusRecord, hl7Record, mhsdsRecord } from './arbitraries';

describe('the fast response JSON', () => {
  it('is exactly the canonical response, stringified, for any record', () => {
    const json = new ResponseJson(0);
    fc.assert(
      fc.property(fc.oneof(dialogPlusRecord, mhsdsRecord, hl7Record, anyRecord), (record) => {
        expect(json.stringify(record)).toBe(asciiJson(JSON.stringify(recordToResponse(record))));
      }),
      { numRuns: 400 },
    );
    expect(json.fastPath).toBe(true);
  });

  it('parses to the canonical response (the escapes are only an encoding)', () => {
    const json = new ResponseJson();
    fc.assert(
      fc.property(dialogPlusRecord, (record) => {
        expect(JSON.parse(json.stringify(record))).toEqual(recordToResponse(record));
      }),
      { numRuns: 50 },
    );
  });

  it('writes only ASCII, as one-byte strings', () => {
    expect(asciiJson('{"a":"Siân — …"}')).toBe('{"a":"Si\\u00e2n \\u2014 \\u2026"}');
    expect(asciiJson('plain')).toBe('plain');
  });
});
