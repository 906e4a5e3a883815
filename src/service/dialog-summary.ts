/**
 * `Patient/{id}/$dialog-summary`: a person's DIALOG ratings over time, the paired changes between
 * them, and the timepoint due next — what a clinician looks at before a session, as FHIR
 * `Parameters` (one `rating` per completed session, oldest first; one `change` per stored
 * paired-change Observation; one `due`).
 *
 * The due timepoint is for the episode of the latest rating: its setting, starting at the latest
 * episode-start rating of that setting (as paired change counts it). Dates and deadlines use the
 * trust's zone (Europe/London) for the 6-month calendar rule. When the episode cannot be told (no
 * setting, no episode-start rating), `due` says `unknown` and why.
 */
import type {
  Observation,
  Parameters,
  ParametersParameter,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import {
  DIALOG_ITEMS,
  nextDue,
  scoreRatings,
  type CareSetting,
  type MeanScore,
  type NextDue,
} from '../dialog';
import { Profiles } from '../fhir/canonical';
import { ratingsOf } from '../fhir/dialog-observations';
import { readHistory, type HistoryEntry } from '../fhir/history';
import type { FhirStore } from '../store';

export const TRUST_TIME_ZONE = 'Europe/London';
const PAGE = 1000;

/** What the caller may see of a resource (a carer: only what the person shares). */
export type Viewer = <T extends Resource>(resource: T) => T | undefined;

export async function dialogSummary(
  store: FhirStore,
  patientId: string,
  now: Date,
  view: Viewer = (resource) => resource,
): Promise<Parameters> {
  const subject = `Patient/${patientId}`;
  await store.read('Patient', patientId);
  const [responses, observations] = await Promise.all([
    store.search(
      'QuestionnaireResponse',
      { subject, status: 'completed,amended' },
      { count: PAGE },
    ),
    store.search('Observation', { subject }, { count: PAGE }),
  ]);
  const seen = <T extends Resource>(found: readonly T[]): T[] =>
    found.flatMap((r) => view(r) ?? []);
  const entries = readHistory(seen(responses.resources as QuestionnaireResponse[]), subject)
    .entries.slice()
    .sort((a, b) => Date.parse(a.session.authored) - Date.parse(b.session.authored));
  const changes = seen(observations.resources as Observation[]).filter((o) =>
    o.meta?.profile?.includes(Profiles.pairedChange),
  );
  return {
    resourceType: 'Parameters',
    parameter: [
      ...entries.map(ratingParameter),
      ...changes.map(changeParameter),
      dueParameter(entries, now),
    ],
  };
}

function ratingParameter(entry: HistoryEntry): ParametersParameter {
  const { session } = entry;
  const scores = scoreRatings(ratingsOf(session));
  const part: ParametersParameter[] = [
    {
      name: 'response',
      valueReference: { reference: `QuestionnaireResponse/${entry.response.id ?? ''}` },
    },
    { name: 'authored', valueDateTime: session.authored },
    ...(session.timepoint ? [{ name: 'timepoint', valueCode: session.timepoint }] : []),
    ...(session.setting ? [{ name: 'setting', valueCode: session.setting }] : []),
    ...DIALOG_ITEMS.flatMap((item) => {
      const score = session.scores[item.concept];
      if (typeof score !== 'number') return [];
      return [
        {
          name: 'score',
          part: [
            {
              name: 'item',
              valueCoding: {
                system: 'http://snomed.info/sct',
                code: item.snomed,
                display: item.label,
              },
            },
            { name: 'value', valueInteger: score },
            ...(session.helpWanted[item.concept] !== undefined
              ? [{ name: 'helpWanted', valueBoolean: session.helpWanted[item.concept] === true }]
              : []),
          ],
        },
      ];
    }),
    ...meanParts('sqol', scores.sqol),
    ...meanParts('ts', scores.ts),
  ];
  return { name: 'rating', part };
}

function meanParts(name: string, mean: MeanScore | undefined): ParametersParameter[] {
  if (!mean) return [];
  return [
    {
      name,
      part: [
        { name: 'value', valueDecimal: Math.round(mean.value * 100) / 100 },
        { name: 'complete', valueBoolean: mean.complete },
      ],
    },
  ];
}

function changeParameter(change: Observation): ParametersParameter {
  const part: ParametersParameter[] = [
    { name: 'observation', valueReference: { reference: `Observation/${change.id ?? ''}` } },
  ];
  if (change.code) part.push({ name: 'code', valueCodeableConcept: change.code });
  if (change.effectiveDateTime)
    part.push({ name: 'effective', valueDateTime: change.effectiveDateTime });
  if (change.valueQuantity) part.push({ name: 'value', valueQuantity: change.valueQuantity });
  if (typeof change.valueInteger === 'number')
    part.push({ name: 'value', valueInteger: change.valueInteger });
  for (const interpretation of change.interpretation ?? [])
    part.push({ name: 'interpretation', valueCodeableConcept: interpretation });
  return { name: 'change', part };
}

function dueParameter(entries: readonly HistoryEntry[], now: Date): ParametersParameter {
  const latest = entries[entries.length - 1]?.session;
  const setting = latest?.setting;
  if (!latest || !setting)
    return unknownDue(latest ? 'The latest rating states no care setting' : 'No DIALOG rating yet');
  const start = latestStart(entries, setting);
  if (!start) return unknownDue('No episode-start rating in the current setting');
  const episodeRatings = entries.filter(
    (e) => e.session.setting === setting && Date.parse(e.session.authored) >= Date.parse(start),
  );
  const due = nextDue(
    { setting, start, timeZone: TRUST_TIME_ZONE },
    episodeRatings.map((e) => ({
      id: e.key,
      timepoint: e.session.timepoint ?? 'review',
      ratings: ratingsOf(e.session),
    })),
    now.toISOString(),
  );
  return { name: 'due', part: [{ name: 'setting', valueCode: setting }, ...dueParts(due)] };
}

function latestStart(entries: readonly HistoryEntry[], setting: CareSetting): string | undefined {
  const starts = entries.filter(
    (e) => e.session.setting === setting && e.session.timepoint === 'episode-start',
  );
  return starts[starts.length - 1]?.session.authored;
}

function dueParts(due: NextDue): ParametersParameter[] {
  if (due.status === 'complete') return [{ name: 'status', valueCode: 'complete' }];
  const parts: ParametersParameter[] = [
    { name: 'status', valueCode: due.status },
    { name: 'timepoint', valueCode: due.timepoint },
    { name: 'rule', valueCode: due.rule },
    { name: 'overdue', valueBoolean: due.overdue },
  ];
  if (due.status === 'due') parts.push({ name: 'dueBy', valueDateTime: due.dueBy });
  return parts;
}

function unknownDue(reason: string): ParametersParameter {
  return {
    name: 'due',
    part: [
      { name: 'status', valueCode: 'unknown' },
      { name: 'reason', valueString: reason },
    ],
  };
}
