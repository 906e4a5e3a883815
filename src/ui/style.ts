/**
 * The page's one style sheet, served at /ui/static/ui.css (helmet's CSP allows same-origin
 * styles). Colours meet WCAG AA (text ≥ 4.5:1 on its background; the NHS blue #005eb8 on white is
 * 6.1:1, the error red #b3261e 6.5:1); focus is always visible (a thick yellow and black outline,
 * as the NHS design system draws it); the layout is one column and fits a 768px tablet.
 */
export const UI_CSS = `
*, *::before, *::after { box-sizing: border-box; }
html { font-family: Arial, Helvetica, sans-serif; font-size: 100%; color: #212b32; background: #f0f4f5; }
body { margin: 0; line-height: 1.5; }
a { color: #005eb8; }
a:visited { color: #330072; }
a:focus, button:focus, input:focus, textarea:focus, select:focus, summary:focus {
  outline: 4px solid #ffeb3b; outline-offset: 0; box-shadow: 0 0 0 7px #212b32;
}
a:focus { background: #ffeb3b; color: #212b32; text-decoration: none; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip-link { position: absolute; left: -9999px; top: 0; padding: 0.5rem 1rem; background: #ffeb3b; color: #212b32; }
.skip-link:focus { left: 0; z-index: 10; }
header.site { background: #005eb8; color: #fff; padding: 0.75rem 1rem; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between; }
header.site a { color: #fff; font-weight: bold; }
header.site a:focus { color: #212b32; }
header.site form { margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; background: #fff; min-height: 80vh; }
h1 { font-size: 1.75rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.375rem; margin: 1.5rem 0 0.5rem; border-bottom: 1px solid #d8dde0; }
h3 { font-size: 1.125rem; margin: 1rem 0 0.5rem; }
fieldset { border: 1px solid #aeb7bd; margin: 0 0 1rem; padding: 0.5rem 0.75rem 0.75rem; }
legend { font-weight: bold; padding: 0 0.25rem; }
label { display: block; font-weight: bold; margin: 0.5rem 0 0.25rem; }
.hint { color: #4c6272; margin: 0 0 0.25rem; }
input[type=text], input[type=search], input[type=password], textarea, select {
  font: inherit; width: 100%; max-width: 40rem; padding: 0.4rem; border: 2px solid #4c6272; background: #fff; color: #212b32;
}
input.short { width: 5rem; }
input.year { width: 7rem; }
textarea { min-height: 5rem; }
.scale { display: flex; flex-wrap: wrap; gap: 0.25rem 0.5rem; margin: 0; padding: 0; list-style: none; }
.scale li, .choice { display: flex; align-items: center; gap: 0.35rem; }
.scale label, .choice label { display: inline; font-weight: normal; margin: 0; }
.scale li { border: 1px solid #d8dde0; padding: 0.3rem 0.5rem; min-width: 9.5rem; }
input[type=radio], input[type=checkbox] { width: 1.4rem; height: 1.4rem; margin: 0; accent-color: #005eb8; }
.previous { color: #4c6272; margin: 0 0 0.25rem; }
.date-input { display: flex; gap: 0.5rem; }
.date-input label { font-weight: normal; }
button, .button {
  font: inherit; font-weight: bold; padding: 0.6rem 1.2rem; border: 0; border-bottom: 4px solid #00401e;
  background: #007f3b; color: #fff; cursor: pointer; margin: 0.5rem 0.5rem 0.5rem 0; text-decoration: none; display: inline-block;
}
button.secondary { background: #4c6272; border-bottom-color: #212b32; }
button.link { background: none; border: 0; color: #fff; text-decoration: underline; padding: 0; margin: 0; font-weight: bold; }
button:focus { color: #212b32; background: #ffeb3b; border-bottom-color: #212b32; }
.error-summary { border: 4px solid #b3261e; padding: 0.75rem 1rem; margin-bottom: 1rem; }
.error-summary h2 { border: 0; margin-top: 0; }
.error-summary a { color: #b3261e; font-weight: bold; }
.error-message { color: #b3261e; font-weight: bold; margin: 0.25rem 0; }
.has-error { border-left: 4px solid #b3261e; padding-left: 0.75rem; }
.notice { border-left: 8px solid #005eb8; background: #eef7ff; padding: 0.5rem 1rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { text-align: left; border-bottom: 1px solid #d8dde0; padding: 0.35rem 0.5rem; vertical-align: top; }
.chart svg { width: 100%; height: auto; max-width: 56rem; }
dl.facts { display: grid; grid-template-columns: minmax(8rem, 14rem) 1fr; gap: 0.25rem 1rem; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
pre.version { white-space: pre-wrap; word-break: break-word; background: #f0f4f5; padding: 0.5rem; max-height: 14rem; overflow: auto; }
@media (max-width: 48rem) {
  main { padding: 0.75rem; }
  dl.facts { grid-template-columns: 1fr; }
  .scale li { min-width: 8rem; }
}
@media print {
  header.site, .skip-link, form { display: none; }
}
`;
