/**
 * The clinician page (`/ui/…`): server-rendered HTML and forms over the same FhirService as the
 * API — find a person, see their one plan and chart, record a DIALOG+ session, resolve a handover
 * conflict, open the letter. See routes.ts for the routes and ui-access.ts for sign-in and CSRF.
 */
export { uiRoutes, type UiOptions } from './routes';
export { html, trusted, Html } from './html';
