/** The frame of every clinician page: language, skip link, header, one main landmark. */
import { html, type Html, type HtmlValue } from './html';

export interface PageContext {
  readonly csrf: string;
  /** Whether sign-in is needed (AUTH on) and whether this browser is signed in. */
  readonly authRequired: boolean;
  readonly signedIn: boolean;
}

export function page(title: string, ctx: PageContext, body: HtmlValue): string {
  const account = ctx.authRequired
    ? ctx.signedIn
      ? html`<form method="post" action="/ui/logout">
          <input type="hidden" name="_csrf" value="${ctx.csrf}" />
          <button type="submit" class="link">Sign out</button>
        </form>`
      : html`<a href="/ui/login">Sign in</a>`
    : html`<span>Sign-in is off (AUTH=off): not for real patient data</span>`;
  return html`<!doctype html>
    <html lang="en-GB">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} – DIALOG+ care plan</title>
        <link rel="stylesheet" href="/ui/static/ui.css" />
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to main content</a>
        <header class="site">
          <a href="/ui/">DIALOG+ care plans</a>
          ${account}
        </header>
        <main id="main" tabindex="-1">${body}</main>
      </body>
    </html> `.text;
}

export interface FieldError {
  /** The id of the input (or the first input of a group) the error is about. */
  readonly field: string;
  readonly message: string;
}

/** The error summary at the top of a form: each error links to its field. */
export function errorSummary(errors: readonly FieldError[]): Html | undefined {
  if (errors.length === 0) return undefined;
  return html`<div
    class="error-summary"
    role="alert"
    aria-labelledby="error-summary-title"
    tabindex="-1"
    id="error-summary"
  >
    <h2 id="error-summary-title">There is a problem</h2>
    <ul>
      ${errors.map((e) => html`<li><a href="#${e.field}">${e.message}</a></li>`)}
    </ul>
  </div>`;
}
