/**
 * The FHIR side of DIALOG: the canonical URLs of the dialog-fhir package, the session view and
 * DIALOG QuestionnaireResponse ⇄ session, stable identities for derived resources, `$extract`
 * (Observations), `$populate` (a new response with last time's actions to review, the previous
 * ratings beside it for comparison), and the one CarePlan built up by every session.
 */
export * from './canonical';
export * from './dialog-session';
export * from './response-session';
export * from './stable-id';
export * from './extract';
export * from './populate';
export * from './populate-parameters';
export * from './care-plan-builder';
export * from './goal-builder';
export {
  extractedIdentifier,
  ITEM_WEIGHT,
  OBSERVATION_EXTRACT,
  type PlainReference,
} from './item-observations';
