/** The example journey (examples/journey) step by step. Not a test file itself. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  Bundle,
  CarePlan,
  Goal,
  Observation,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { EXAMPLES_DIR } from '../support/examples';

export interface JourneyStep {
  readonly file: string;
  /** The step's number, as the example ids use it ("01"). */
  readonly step: string;
  readonly responses: readonly QuestionnaireResponse[];
  readonly observations: readonly Observation[];
  readonly goals: readonly Goal[];
  readonly carePlan?: CarePlan;
}

function ofType<T extends Resource>(resources: Resource[], type: T['resourceType']): T[] {
  return resources.filter((r): r is T => r.resourceType === type);
}

export function journey(): JourneyStep[] {
  const dir = join(EXAMPLES_DIR, 'journey');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle;
      const resources = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
      const [carePlan] = ofType<CarePlan>(resources, 'CarePlan');
      return {
        file,
        step: file.slice(0, 2),
        responses: ofType<QuestionnaireResponse>(resources, 'QuestionnaireResponse'),
        observations: ofType<Observation>(resources, 'Observation'),
        goals: ofType<Goal>(resources, 'Goal'),
        ...(carePlan ? { carePlan } : {}),
      };
    });
}

/** Every journey response, in journey order. */
export function journeyResponses(): QuestionnaireResponse[] {
  return journey().flatMap((s) => s.responses);
}

/**
 * The journey's first session as a client sends a new one: no id, meta or source, its own
 * business identifier `value`, and `extra` laid over it (a subject, a source, contained…).
 */
export function newSession(
  value: string,
  extra: Partial<QuestionnaireResponse> = {},
): QuestionnaireResponse {
  const first = journeyResponses()[0];
  if (!first) throw new Error('The example journey has no sessions');
  const { id: _id, meta: _meta, source: _source, ...rest } = first;
  void _id;
  void _meta;
  void _source;
  return { ...rest, identifier: { system: 'urn:dialog-fhir:test:session', value }, ...extra };
}
