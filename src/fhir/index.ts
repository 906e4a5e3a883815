/**
 * The FHIR side of DIALOG: the session view, DIALOG QuestionnaireResponse ⇄ session, and the
 * canonical URLs of the dialog-fhir package.
 */
export * from './canonical';
export * from './dialog-session';
export * from './response-session';
