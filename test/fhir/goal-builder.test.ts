import type { Reference } from '@medplum/fhirtypes';
import { itemBySnomed } from '../../src/dialog';
import {
  actionSummary,
  buildGoal,
  DIALOG_GOAL_SYSTEM,
  goalIdentifier,
  readableDate,
  responseToSession,
} from '../../src/fhir';
import { errorsOf, omit } from './helpers';
import { journey } from './journey';

describe('readableDate and actionSummary', () => {
  it('write dates and actions as the plan is read', () => {
    expect(readableDate('2025-09-05')).toBe('5 September 2025');
    expect(readableDate('2026-12-31')).toBe('31 December 2026');
    expect(actionSummary({ what: 'Call Jess', who: 'Megan', byWhen: '2025-09-23' })).toBe(
      'Call Jess (Megan, by 23 September 2025).',
    );
    expect(actionSummary({ what: 'Call Jess', byWhen: '2025-09-23' })).toBe(
      'Call Jess (by 23 September 2025).',
    );
    expect(actionSummary({ what: 'Call Jess', who: 'Megan' })).toBe('Call Jess (Megan).');
    expect(actionSummary({ what: 'Call Jess' })).toBe('Call Jess.');
  });
});

describe('buildGoal', () => {
  const cases = journey().flatMap((step) =>
    step.goals.map((goal) => ({ goal, response: step.responses[0] })),
  );

  it('finds the example goals', () => expect(cases.length).toBe(5));

  it.each(cases.map((c) => [c.goal.id, c] as const))(
    'builds %s as the example records it',
    (_id, { goal: example, response }) => {
      if (!response) throw new Error('the step has a response');
      const read = responseToSession(response);
      if (!read.ok) throw new Error('reads');
      const snomed = example.extension?.[0]?.valueCoding?.code ?? '';
      const discussed = read.session.discussed.find(
        (d) => d.concept === itemBySnomed(snomed)?.concept,
      );
      if (!discussed) throw new Error('the goal is about a discussed item');
      const addresses: Reference = example.addresses?.[0] ?? {};
      const built = buildGoal(discussed, {
        responseKey: `QuestionnaireResponse/${response.id}`,
        subject: example.subject,
        startDate: read.session.authored.slice(0, 10),
        addresses,
        ...(example.description.text ? { description: example.description.text } : {}),
      });
      expect(built).toEqual({
        ...omit(example, 'id'),
        identifier: [goalIdentifier(`QuestionnaireResponse/${response.id}`, discussed.concept)],
      });
      expect(built.identifier?.[0]?.system).toBe(DIALOG_GOAL_SYSTEM);
      expect(errorsOf(built)).toEqual([]);
    },
  );

  it('without the person’s words, takes the looking-forward step, else names the item', () => {
    const context = {
      responseKey: 'QuestionnaireResponse/x',
      subject: { reference: 'Patient/p' },
      startDate: '2026-01-01',
      addresses: { reference: 'Observation/o' },
    };
    expect(
      buildGoal({ concept: 'friendships', lookingForward: 'See friends', actions: [] }, context)
        .description.text,
    ).toBe('See friends');
    const bare = buildGoal({ concept: 'partner-family', actions: [] }, context);
    expect(bare.description.text).toBe('Be more satisfied with relationship with partner/family');
    expect(bare.extension?.map((e) => e.url.split('/').pop())).toEqual(['dialog-measure']);
  });
});
