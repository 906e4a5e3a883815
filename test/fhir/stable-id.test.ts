import {
  conditionalPut,
  conditionalUrl,
  derivedIdentifier,
  DIALOG_NAMESPACE,
  responseKey,
  responseKeyOf,
  responseReference,
  sameResource,
  uuidV5,
} from '../../src/fhir';

describe('uuidV5', () => {
  it('matches the RFC 4122 reference value', () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'www.example.com')
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('derives the project namespace from the package base URL', () => {
    expect(DIALOG_NAMESPACE).toBe(
      uuidV5('https://dialog-fhir.org/fhir', '6ba7b811-9dad-11d1-80b4-00c04fd430c8'),
    );
  });
});

describe('responseKey', () => {
  const base = { resourceType: 'QuestionnaireResponse', status: 'completed' } as const;

  it('prefers the business identifier, then the id', () => {
    expect(responseKey({ ...base, id: 'x', identifier: { system: 's', value: 'v' } })).toBe('s|v');
    expect(responseKey({ ...base, id: 'x' })).toBe('QuestionnaireResponse/x');
    expect(responseKey({ ...base, identifier: { value: 'v' } })).toBeUndefined();
  });
});

describe('derived identifiers', () => {
  it('differ by part and by response, and repeat exactly', () => {
    const a = derivedIdentifier('https://s', 'QuestionnaireResponse/1', 'x');
    expect(derivedIdentifier('https://s', 'QuestionnaireResponse/1', 'x')).toEqual(a);
    expect(derivedIdentifier('https://s', 'QuestionnaireResponse/1', 'y')).not.toEqual(a);
    expect(derivedIdentifier('https://s', 'QuestionnaireResponse/2', 'x')).not.toEqual(a);
    expect(derivedIdentifier('https://t', 'QuestionnaireResponse/1', 'x').value).not.toBe(a.value);
  });

  it('make conditional URLs that escape what a query cannot hold', () => {
    expect(conditionalUrl('Goal', { system: 'https://a.example/sid', value: 'b c&d' })).toBe(
      'Goal?identifier=https://a.example/sid|b%20c%26d',
    );
    expect(conditionalPut('Goal', { system: 'https://s', value: 'v' })).toEqual({
      method: 'PUT',
      url: 'Goal?identifier=https://s|v',
    });
  });
});

describe('sameResource', () => {
  it('compares literal references by type and id, relative or absolute, any version', () => {
    expect(sameResource('Patient/1', 'https://ehr.example/fhir/Patient/1')).toBe(true);
    expect(sameResource('Patient/1/_history/2', 'Patient/1')).toBe(true);
    expect(sameResource('Patient/1', 'Patient/2')).toBe(false);
    expect(sameResource('Patient/1', 'Practitioner/1')).toBe(false);
    expect(sameResource('https://a.example/Patient/1', 'https://b.example/Patient/1')).toBe(false);
    expect(sameResource('urn:uuid:1f0c', 'urn:uuid:1f0c')).toBe(true);
    expect(sameResource(undefined, undefined)).toBe(false);
  });
});

describe('responseReference and responseKeyOf', () => {
  it('refer to a response by id, else by identifier; a reference in any form keys as by id', () => {
    const qr = {
      resourceType: 'QuestionnaireResponse' as const,
      status: 'completed' as const,
      identifier: { system: 'https://s', value: 'v' },
    };
    expect(responseReference({ ...qr, id: 'a' })).toEqual({ reference: 'QuestionnaireResponse/a' });
    expect(responseReference(qr)).toEqual({
      type: 'QuestionnaireResponse',
      identifier: qr.identifier,
    });
    expect(responseKeyOf('https://ehr.example/fhir/QuestionnaireResponse/a')).toBe(
      responseKey({ ...qr, identifier: {}, id: 'a' }),
    );
  });
});
