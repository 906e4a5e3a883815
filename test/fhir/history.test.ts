import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { readHistory } from '../../src/fhir/history';
import { journeyResponses } from './journey';

const responses = journeyResponses();
const byId = (id: string): QuestionnaireResponse => {
  const found = responses.find((r) => r.id === id);
  if (!found) throw new Error(`no example ${id}`);
  return found;
};
const SUBJECT = 'Patient/megan-price';

describe('readHistory: one rule for the person’s earlier ratings', () => {
  it('counts the same person however the reference is written', () => {
    const absolute = {
      ...byId('qr-01-community-start'),
      subject: { reference: 'https://ehr.westmere.example/fhir/Patient/megan-price' },
    };
    const versioned = {
      ...byId('qr-02-admission'),
      subject: { reference: 'Patient/megan-price/_history/3' },
    };
    const read = readHistory([absolute, versioned], SUBJECT);
    expect(read.entries.map((e) => e.key)).toEqual([
      'QuestionnaireResponse/qr-01-community-start',
      'QuestionnaireResponse/qr-02-admission',
    ]);
    expect(read.issues).toEqual([]);
  });

  it('reports every entry it leaves out, with its place and why', () => {
    const other = { ...byId('qr-01-community-start'), subject: { reference: 'Patient/someone' } };
    const otherServer = {
      ...byId('qr-01-community-start'),
      subject: { reference: 'https://a.example/fhir/Patient/megan-price' },
    };
    const form = {
      ...byId('qr-02-admission'),
      questionnaire: 'https://example.org/Questionnaire/phq-9',
    };
    const draft = { ...byId('qr-03-inpatient-review'), status: 'in-progress' as const };
    const unreadable = { ...byId('qr-04-discharge'), authored: '2025-12-09' };
    const read = readHistory(
      [other, form, draft, unreadable, byId('qr-01-community-start')],
      SUBJECT,
    );
    expect(read.entries.map((e) => e.index)).toEqual([4]);
    expect(read.issues.map((i) => [i.severity, i.expression?.[0], i.diagnostics])).toEqual([
      [
        'information',
        'history[0]',
        'An earlier response is left out: it is about Patient/someone, not Patient/megan-price',
      ],
      [
        'information',
        'history[1]',
        'An earlier response is left out: it does not answer the DIALOG Questionnaire',
      ],
      [
        'information',
        'history[2]',
        'An earlier response is left out: it is in-progress, not a completed rating',
      ],
      [
        'warning',
        'history[3]',
        'An earlier response could not be read (no identity, faults, or no point in time): it is left out',
      ],
    ]);
    // Two servers' Patient/megan-price are not known to be one person.
    const absolute = 'https://b.example/fhir/Patient/megan-price';
    expect(readHistory([otherServer], absolute).entries).toEqual([]);
  });

  it('leaves out the response being processed without reporting it', () => {
    const read = readHistory(responses, SUBJECT, 'QuestionnaireResponse/qr-02-admission');
    expect(read.entries.map((e) => e.key)).not.toContain('QuestionnaireResponse/qr-02-admission');
    expect(read.issues).toEqual([]);
  });

  it('knows a reused rating by the Observations of the rating it reuses', () => {
    const read = readHistory(responses, SUBJECT);
    const reused = read.entries.find(
      (e) => e.key === 'QuestionnaireResponse/qr-04b-community-start',
    );
    expect(reused?.extractedAs).toBe('QuestionnaireResponse/qr-04-discharge');
    const discharge = read.entries.find((e) => e.key === 'QuestionnaireResponse/qr-04-discharge');
    expect(discharge?.extractedAs).toBe(discharge?.key);
    // The reused rating known by its business identifier there: its Observations are keyed by it.
    const identified = {
      ...byId('qr-04-discharge'),
      identifier: { system: 'https://trust.example/sid/qr', value: 'D4' },
    };
    const withIdentifier = readHistory([identified, byId('qr-04b-community-start')], SUBJECT);
    expect(withIdentifier.entries[1]?.extractedAs).toBe('https://trust.example/sid/qr|D4');
  });
});
