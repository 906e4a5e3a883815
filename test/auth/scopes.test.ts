import { allows, formatScope, parseScope, parseScopes, type Interaction } from '../../src/auth';

/** scope text → [context, type, letters] when it grants, or 'ignored' / 'other'. */
const CASES: [string, [string, string, string] | 'ignored' | 'other'][] = [
  ['patient/Observation.rs', ['patient', 'Observation', 'rs']],
  ['user/*.cruds', ['user', '*', 'cruds']],
  ['system/*.cruds', ['system', '*', 'cruds']],
  ['system/CarePlan.c', ['system', 'CarePlan', 'c']],
  ['user/Goal.cud', ['user', 'Goal', 'cud']],
  ['patient/*.read', ['patient', '*', 'rs']],
  ['user/*.write', ['user', '*', 'cud']],
  ['user/*.*', ['user', '*', 'cruds']],
  ['system/Task.*', ['system', 'Task', 'cruds']],
  ['patient/Observation.rs?category=laboratory', 'ignored'],
  ['patient/Observation.sr', 'ignored'],
  ['patient/Observation.rrs', 'ignored'],
  ['patient/Observation.x', 'ignored'],
  ['patient/observation.rs', 'ignored'],
  ['practitioner/*.rs', 'ignored'],
  ['patient/*.', 'ignored'],
  ['patient/*.rs*', 'ignored'],
  ['openid', 'other'],
  ['fhirUser', 'other'],
  ['profile', 'other'],
  ['offline_access', 'other'],
  ['online_access', 'other'],
  ['launch', 'other'],
  ['launch/patient', 'other'],
  ['launch/encounter', 'other'],
];

describe('parseScope', () => {
  it.each(CASES)('%s', (text, expected) => {
    const parsed = parseScope(text);
    if (typeof expected === 'string') {
      expect(parsed).toBe(expected);
      return;
    }
    expect(typeof parsed).toBe('object');
    if (typeof parsed === 'string') return;
    expect([parsed.context, parsed.resourceType, formatScope(parsed).split('.')[1]]).toEqual(
      expected,
    );
    expect(parsed.text).toBe(text);
  });
});

describe('parseScopes', () => {
  it('splits a scope claim on white space, keeps grants, reports what it ignores', () => {
    const parsed = parseScopes(
      'openid fhirUser launch/patient  patient/*.rs patient/Observation.rs?code=x  user/Goal.bogus',
    );
    expect(parsed.scopes.map((s) => s.text)).toEqual(['patient/*.rs']);
    expect(parsed.ignored).toEqual(['patient/Observation.rs?code=x', 'user/Goal.bogus']);
  });

  it('takes an array (the scp claim) and drops duplicates', () => {
    const parsed = parseScopes(['user/*.rs', 'user/*.rs', 'system/Task.cu']);
    expect(parsed.scopes.map(formatScope)).toEqual(['user/*.rs', 'system/Task.cu']);
  });

  it('grants nothing for an empty claim', () => {
    expect(parseScopes('  ')).toEqual({ scopes: [], ignored: [] });
  });
});

describe('allows', () => {
  const scopes = parseScopes('patient/Observation.rs patient/QuestionnaireResponse.cru').scopes;
  /** interaction, type, allowed */
  const TABLE: [Interaction, string, boolean][] = [
    ['read', 'Observation', true],
    ['vread', 'Observation', true],
    ['history', 'Observation', true],
    ['search', 'Observation', true],
    ['create', 'Observation', false],
    ['update', 'Observation', false],
    ['delete', 'Observation', false],
    ['create', 'QuestionnaireResponse', true],
    ['update', 'QuestionnaireResponse', true],
    ['patch', 'QuestionnaireResponse', true],
    ['search', 'QuestionnaireResponse', false],
    ['delete', 'QuestionnaireResponse', false],
    ['read', 'CarePlan', false],
  ];
  it.each(TABLE)('%s %s → %s', (interaction, type, expected) => {
    expect(allows(scopes, interaction, type)).toBe(expected);
  });

  it('a wildcard type covers every type', () => {
    const all = parseScopes('system/*.cruds').scopes;
    expect(allows(all, 'delete', 'Consent')).toBe(true);
    expect(allows(all, 'search', 'AuditEvent')).toBe(true);
  });

  it('nothing is allowed without scopes', () => {
    expect(allows([], 'read', 'Patient')).toBe(false);
  });
});
