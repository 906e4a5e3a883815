/**
 * The narrative of a DIALOG+ Goal: the area of life or care it is about, the goal in the person's
 * words, its status, when it was set, any target and due date, who expressed it, and what was said
 * in the DIALOG+ steps (including the actions agreed, as the agreeing-actions step records them).
 */
import type { Extension, Goal, GoalTarget } from '@medplum/fhirtypes';
import { Extensions } from '../fhir/canonical';
import { day, goalStatusWords, itemOfCoding, referenceName } from './words';
import { el, lines, type Child } from './xhtml';

const STEP_ORDER = ['understanding', 'looking-forward', 'exploring-options', 'agreeing-actions'];
const STEP_NAMES: Readonly<Record<string, string>> = {
  understanding: 'Understanding',
  'looking-forward': 'Looking forward',
  'exploring-options': 'Exploring options',
  'agreeing-actions': 'Agreeing actions',
};

/** The DIALOG item a Goal is about (its dialog-measure), as its label. */
export function goalArea(goal: Goal): string | undefined {
  const measure = goal.extension?.find((e) => e.url === Extensions.measure)?.valueCoding;
  return itemOfCoding(measure)?.label ?? measure?.display;
}

/** The goal in the person's words: its description text, else its coding's display. */
export function goalText(goal: Goal): string | undefined {
  return goal.description.text ?? goal.description.coding?.find((c) => c.display)?.display;
}

function steps(goal: Goal): { name: string; text: string; order: number }[] {
  return (goal.extension ?? []).flatMap((e: Extension) => {
    if (e.url !== Extensions.plusStep) return [];
    const code = e.extension?.find((x) => x.url === 'step')?.valueCoding;
    const text = e.extension?.find((x) => x.url === 'text')?.valueString;
    if (!text) return [];
    const known = code?.code !== undefined ? STEP_NAMES[code.code] : undefined;
    const name = known ?? code?.display ?? code?.code ?? 'DIALOG+ step';
    const order = code?.code !== undefined ? STEP_ORDER.indexOf(code.code) : -1;
    return [{ name, text, order: order < 0 ? STEP_ORDER.length : order }];
  });
}

function targetText(target: GoalTarget): string | undefined {
  const detail =
    target.detailString ??
    (target.detailQuantity?.value !== undefined
      ? [target.detailQuantity.value, target.detailQuantity.unit].filter(Boolean).join(' ')
      : undefined) ??
    (target.detailInteger !== undefined ? String(target.detailInteger) : undefined) ??
    (target.detailBoolean !== undefined ? (target.detailBoolean ? 'yes' : 'no') : undefined) ??
    target.detailCodeableConcept?.text ??
    target.detailCodeableConcept?.coding?.[0]?.display;
  const measure = target.measure?.text ?? target.measure?.coding?.[0]?.display;
  const what = [measure, detail].filter((p): p is string => p !== undefined).join(': ');
  const due = target.dueDate !== undefined ? `by ${day(target.dueDate)}` : undefined;
  const parts = [what === '' ? undefined : what, due].filter((p): p is string => p !== undefined);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** The narrative content of a Goal. */
export function goalContent(goal: Goal): Child[] {
  const area = goalArea(goal);
  const words = goalText(goal);
  const achievement =
    goal.achievementStatus?.text ?? goal.achievementStatus?.coding?.find((c) => c.display)?.display;
  const status = [goalStatusWords(goal.lifecycleStatus), achievement]
    .filter((p): p is string => p !== undefined)
    .join('; ');
  const targets = (goal.target ?? []).flatMap((t) => targetText(t) ?? []);
  const expressedBy = referenceName(goal.expressedBy);
  const subject = goal.subject.display;
  const said = steps(goal).sort((a, b) => a.order - b.order);
  return [
    el('h3', area !== undefined ? `Goal: ${area}` : 'Goal'),
    subject !== undefined && el('p', `For ${subject}.`),
    words !== undefined && el('blockquote', el('p', lines(words))),
    el('p', el('b', 'Status: '), status),
    goal.startDate !== undefined && el('p', `Set on ${day(goal.startDate)}.`),
    targets.length > 0 &&
      (targets.length === 1
        ? el('p', el('b', 'Target: '), targets[0])
        : [
            el('p', el('b', 'Targets:')),
            el(
              'ul',
              targets.map((t) => el('li', t)),
            ),
          ]),
    goal.statusDate !== undefined && el('p', `Status last changed on ${day(goal.statusDate)}.`),
    goal.statusReason !== undefined && el('p', el('b', 'Why: '), goal.statusReason),
    expressedBy !== undefined && el('p', `In the words of ${expressedBy}.`),
    said.length > 0 &&
      el(
        'dl',
        said.map((s) => [el('dt', s.name), el('dd', lines(s.text))]),
      ),
    (goal.note ?? []).map((n) => el('p', lines(n.text))),
  ];
}
