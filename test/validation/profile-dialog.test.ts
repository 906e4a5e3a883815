import fc from 'fast-check';
import type {
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
} from '@medplum/fhirtypes';
import {
  createValidator,
  DIALOG_QR_PROFILE,
  DIALOG_QUESTIONNAIRE,
  loadConformancePackage,
} from '../../src/validation';
import { loadFhirSchema } from '../../src/validation/fhir-schema';
import { responseSchema } from '../../src/validation/questionnaire-schema';
import { compileVerdict } from '../../src/validation/schema-verdict';
import { invalidExamples, validExamples } from '../support/examples';
import { medplumIssues } from '../support/medplum';

// dlg-qr-6 and dlg-qr-7 restate the DIALOG Questionnaire in the profile, so that validators that
// do not check a response against its Questionnaire (Medplum's) refuse what ours refuses. They
// must say exactly what the Questionnaire says, and the validator skips them for responses that
// passed the Questionnaire's compiled schema: both are checked here.
const pkg = loadConformancePackage();
const questionnaire = pkg.questionnaire(DIALOG_QUESTIONNAIRE) as Questionnaire;
const validator = createValidator(pkg);
const profile = validator.profile(DIALOG_QR_PROFILE);
const invariant = (key: string) => {
  const found = profile?.invariants.find((i) => i.key === key);
  if (!found) throw new Error(`${key} is missing from the DIALOG response profile`);
  return found;
};
const ratings = (questionnaire.item ?? []).find((i) => i.linkId === 'ratings') as QuestionnaireItem;

describe('the DIALOG response profile restates the Questionnaire', () => {
  it('dlg-qr-6: the only coded answers in the ratings are the scores, whose options are 1–7', () => {
    const questions = (ratings.item ?? []).flatMap((area) => area.item ?? []);
    const coded = questions.filter((q) => q.type === 'choice' || q.type === 'open-choice');
    expect(coded.map((q) => q.linkId)).toEqual(
      questions.filter((q) => q.linkId.endsWith('.score')).map((q) => q.linkId),
    );
    for (const q of coded)
      expect(q.answerOption?.map((o) => `${o.valueCoding?.system}|${o.valueCoding?.code}`)).toEqual(
        ['1', '2', '3', '4', '5', '6', '7'].map(
          (c) => `https://dialog-fhir.org/fhir/CodeSystem/dialog-scale|${c}`,
        ),
      );
    expect(invariant('dlg-qr-6').expression).toContain(
      "system = 'https://dialog-fhir.org/fhir/CodeSystem/dialog-scale'",
    );
  });

  it("dlg-qr-7 is the ratings group's linkIds, none repeating", () => {
    const items = ratings.item ?? [];
    expect(items.concat(items.flatMap((a) => a.item ?? [])).some((i) => i.repeats)).toBe(false);
    const one = (ids: string[]) =>
      ids.map((k) => ` and item.where(linkId = '${k}').count() <= 1`).join('');
    const only = (ids: string[]) => `item.all(${ids.map((k) => `linkId = '${k}'`).join(' or ')})`;
    const areas = items
      .filter((a) => a.item)
      .map((a) => {
        const kids = (a.item ?? []).map((c) => c.linkId);
        return `item.where(linkId = '${a.linkId}').all(${only(kids)}${one(kids)})`;
      });
    const top = items.map((a) => a.linkId);
    expect(invariant('dlg-qr-7').expression).toBe(
      `item.where(linkId = 'ratings').all(${only(top)}${one(top)} and ${areas.join(' and ')})`,
    );
  });

  it('Medplum now refuses the bad scores, the unknown linkId and the duplicated item', () => {
    const cases = invalidExamples().filter((c) =>
      [
        'qr-score-code-0.json',
        'qr-score-code-8.json',
        'qr-unknown-linkid.json',
        'qr-duplicate-linkid.json',
      ].includes(c.file),
    );
    expect(cases).toHaveLength(4);
    for (const c of cases)
      expect([c.file, medplumIssues(c.resource).length > 0]).toEqual([c.file, true]);
  });

  it("our validator reports the Questionnaire's own issue for them, as before, not the restatement", () => {
    const cases = invalidExamples().filter((c) =>
      [
        'qr-score-code-0.json',
        'qr-score-code-8.json',
        'qr-unknown-linkid.json',
        'qr-duplicate-linkid.json',
      ].includes(c.file),
    );
    for (const c of cases) {
      const errors = validator
        .validate(c.resource, c.profile ? { profile: c.profile } : {})
        .issue.filter((i) => i.severity === 'error');
      expect([c.file, errors[0]?.code, errors[0]?.expression]).toEqual([
        c.file,
        c.expect.code,
        [c.expect.expression],
      ]);
      expect(errors.filter((i) => /dlg-qr-[67]/.test(i.diagnostics ?? ''))).toEqual([]);
    }
  });

  it('a response that passes the compiled Questionnaire meets dlg-qr-6 and dlg-qr-7', () => {
    const fhir = loadFhirSchema();
    const definitions = fhir.definitions as Record<string, Record<string, unknown>>;
    const gates = [false, true].map((completed) => {
      const schema = responseSchema(
        definitions.QuestionnaireResponse ?? {},
        questionnaire,
        pkg,
        completed,
        definitions,
      );
      return compileVerdict(schema, schema, { fhir });
    });
    const responses = validExamples()
      .map((e) => e.resource)
      .filter(
        (r): r is QuestionnaireResponse =>
          r.resourceType === 'QuestionnaireResponse' && r.questionnaire === DIALOG_QUESTIONNAIRE,
      );
    const linkIds = [
      ...(ratings.item ?? []).flatMap((a) => [a.linkId, ...(a.item ?? []).map((c) => c.linkId)]),
      'friends.score',
      'ratings',
    ];
    const edit = fc.record({
      area: fc.nat(),
      question: fc.nat(),
      kind: fc.constantFrom('code', 'system', 'linkId', 'duplicate', 'move'),
      code: fc.constantFrom('0', '1', '7', '8', 'x'),
      linkId: fc.constantFrom(...linkIds),
    });
    const held = { gate: 0, refused: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...responses), fc.array(edit, { maxLength: 3 }), (r, edits) => {
        const copy = JSON.parse(JSON.stringify(r)) as QuestionnaireResponse;
        const areas = copy.item?.find((i) => i.linkId === 'ratings')?.item ?? [];
        for (const e of edits) {
          const area = areas[e.area % Math.max(areas.length, 1)];
          const questions = area?.item ?? [];
          const q = questions[e.question % Math.max(questions.length, 1)] as
            QuestionnaireResponseItem | undefined;
          if (!area || !q) continue;
          const coding = q.answer?.[0]?.valueCoding;
          if (e.kind === 'code' && coding) coding.code = e.code;
          if (e.kind === 'system' && coding) coding.system = 'http://example.org/other';
          if (e.kind === 'linkId') q.linkId = e.linkId;
          if (e.kind === 'duplicate') questions.push(JSON.parse(JSON.stringify(q)) as typeof q);
          if (e.kind === 'move') areas.push(JSON.parse(JSON.stringify(area)) as typeof area);
        }
        const edited = JSON.parse(JSON.stringify(copy)) as QuestionnaireResponse;
        const gate = gates[edited.status === 'completed' ? 1 : 0] as (d: unknown) => boolean;
        const six = invariant('dlg-qr-6').evaluate(edited);
        const seven = invariant('dlg-qr-7').evaluate(edited);
        if (gate(edited)) {
          held.gate++;
          expect([six, seven]).toEqual([[true], [true]]);
        } else if (six[0] !== true || seven[0] !== true) held.refused++;
      }),
      { numRuns: 400, seed: 7 },
    );
    // Both sides occur: responses the gate passes, and edits the invariants refuse.
    expect(held.gate).toBeGreaterThan(20);
    expect(held.refused).toBeGreaterThan(50);
  });
});

// dlg-qr-8 restates R4's dateTime pattern (an offset whenever there is a time of day) for
// validators whose pattern lets a time without one through (Medplum's); this validator never
// evaluates it, because whatever reaches the invariants has passed the R4 schema.
describe('the DIALOG response profile restates R4’s dateTime pattern for authored', () => {
  const r4 = loadFhirSchema().definitions as Record<string, { pattern?: string }>;
  const dateTime = new RegExp(r4.dateTime?.pattern ?? '^$');
  const holds = (authored: string): boolean => {
    const check = invariant('dlg-qr-8');
    const response = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      authored,
    } as QuestionnaireResponse;
    const result = check.evaluate(response);
    return result.length === 1 && result[0] === true;
  };

  it('holds for every authored value R4’s pattern accepts, and fails without an offset', () => {
    const part = (n: number, width = 2) => String(n).padStart(width, '0');
    const values = fc.record({
      year: fc.integer({ min: 1900, max: 2100 }),
      month: fc.integer({ min: 1, max: 12 }),
      day: fc.integer({ min: 1, max: 28 }),
      hour: fc.integer({ min: 0, max: 23 }),
      minute: fc.integer({ min: 0, max: 59 }),
      precision: fc.constantFrom('year', 'month', 'day', 'seconds', 'millis'),
      zone: fc.constantFrom('Z', '+01:00', '-05:30', ''),
    });
    let accepted = 0;
    fc.assert(
      fc.property(values, (v) => {
        const date = `${v.year}${v.precision === 'year' ? '' : `-${part(v.month)}${v.precision === 'month' ? '' : `-${part(v.day)}`}`}`;
        const time = `T${part(v.hour)}:${part(v.minute)}:07${v.precision === 'millis' ? '.250' : ''}`;
        const value =
          v.precision === 'seconds' || v.precision === 'millis' ? `${date}${time}${v.zone}` : date;
        if (dateTime.test(value)) accepted++;
        expect([value, holds(value)]).toEqual([value, dateTime.test(value)]);
      }),
      { numRuns: 300 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('Medplum now refuses a time of day without an offset; ours says where, as before', () => {
    const cases = invalidExamples().filter((c) =>
      ['qr-authored-no-offset.json', 'qr-authored-seconds-no-offset.json'].includes(c.file),
    );
    expect(cases).toHaveLength(2);
    for (const c of cases) {
      expect([c.file, medplumIssues(c.resource).length > 0]).toEqual([c.file, true]);
      const errors = validator
        .validate(c.resource, c.profile ? { profile: c.profile } : {})
        .issue.filter((i) => i.severity === 'error');
      expect([c.file, errors[0]?.code, errors[0]?.expression]).toEqual([
        c.file,
        c.expect.code,
        [c.expect.expression],
      ]);
      expect(errors.filter((i) => /dlg-qr-8/.test(i.diagnostics ?? ''))).toEqual([]);
    }
  });
});
