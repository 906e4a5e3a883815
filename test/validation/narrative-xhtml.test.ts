import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { withNarrative } from '../../src/narrative';
import { createValidator, hasErrors } from '../../src/validation';
import { narrativeIssues } from '../../src/validation/narrative-xhtml';
import { journeyResponses } from '../fhir/journey';
import { EXAMPLES_DIR } from '../support/examples';

const XHTML = 'xmlns="http://www.w3.org/1999/xhtml"';
const div = (inner: string, attributes = ''): string => `<div ${XHTML}${attributes}>${inner}</div>`;
const problem = (text: string): string | undefined =>
  narrativeIssues(text, 'Patient.text.div')[0]?.details?.text;

describe('the narrative XHTML (txt-1, txt-2)', () => {
  it('accepts formatting, lists, tables, links, images and style attributes', () => {
    const ok = [
      div('<p>Megan &amp; Sam &#160;met.</p>'),
      div('<h3 style="color:#333">Plan</h3><ul><li><b>a</b> <i>b</i></li></ul>'),
      div(
        '<table border="1"><caption>x</caption><thead><tr><th scope="col">A</th></tr></thead><tbody><tr><td colspan="2">1</td></tr></tbody></table>',
      ),
      div('<a href="https://nhs.uk/x" title="t">link</a> <a href="Patient/1">p</a>'),
      div('<img src="data:image/png;base64,iVBORw0KGgo=" alt="chart"/>'),
      div('<img src="#chart-1" alt="chart"/><!-- a note for editors -->'),
      div('<p xml:lang="en-GB" lang="en-GB" class="c" id="i">text</p>'),
      div('<p tabindex="0" accesskey="p" xml:space="preserve">text</p>'),
      div('<p style="color: rgb(0, 0, 0); font-weight: bold; margin: 0 1em">text</p>'),
    ];
    for (const text of ok) expect(problem(text)).toBeUndefined();
  });

  it('refuses active content: scripts, forms, frames, objects, event attributes, script links', () => {
    const bad: [string, RegExp][] = [
      [div('<script>alert(1)</script>'), /<script> element/],
      [div('<p onclick="alert(1)">x</p>'), /onclick attribute/],
      [div('<iframe src="https://x"></iframe>'), /<iframe> element/],
      [div('<form><input/></form>'), /<form> element/],
      [div('<object data="x"></object>'), /<object> element/],
      [div('<a href="javascript:alert(1)">x</a>'), /active content \(href on <a>\)/],
      [div('<a href=" jav&#x09;ascript:alert(1)">x</a>'), /active content/],
      [div('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>'), /active content/],
      [div('<img src="data:text/html,x" alt="x"/>'), /only images held inside/],
      [div('<img src="https://tracker.example/p.gif" alt="x"/>'), /only images held inside/],
      [div('<p>a<!--><img src="#x" onerror="alert(1)"/>--></p>'), /comment/],
      [div('<p>a<!---><b>x</b>--></p>'), /comment/],
      [div('<p style="--p:fixed; position:var(--p)">x</p>'), /style/],
      [div('<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'), /<svg> element/],
      [div('<p>x</p>', ' onload="alert(1)"'), /onload attribute/],
      // HTML ends a CDATA section at the first '>': the img below would run in innerHTML.
      [div('<p>a<![CDATA[ x > <img src=x onerror=alert(1)> ]]></p>'), /CDATA/],
      [div('<p style="background:url(https://tracker.example/x)">x</p>'), /style/],
      [div('<p style="width:expression(alert(1))">x</p>'), /style/],
      [div('<p style="background:u\\72l(https://x)">x</p>'), /style/],
      [div('<p style="@import \'https://x\'">x</p>'), /style/],
      [div('<div style="position: fixed; top: 0">x</div>'), /style/],
    ];
    for (const [text, message] of bad) expect(problem(text)).toMatch(message);
  });

  it('refuses what is not one well-formed XHTML div, and a narrative with no text', () => {
    expect(problem('<div>no namespace</div>')).toMatch(/one div element in the XHTML namespace/);
    expect(problem(`<p ${XHTML}>x</p>`)).toMatch(/one div element/);
    expect(problem(div('<p>unclosed'))).toMatch(/not well-formed/);
    expect(problem(div('a&nbsp;b'))).toMatch(/not well-formed/);
    expect(problem(`<!DOCTYPE div>${div('x')}`)).toMatch(/DOCTYPE/);
    expect(problem(`<?xml-stylesheet href="x"?>${div('x')}`)).toMatch(/processing instruction/);
    expect(problem(`${div('x')}${div('y')}`)).toBeDefined();
    expect(problem(div('  <p> </p> '))).toMatch(/no text \(txt-2\)/);
    expect(problem('not xml at all')).toBeDefined();
  });

  it('the validator refuses a resource with such a narrative, at its text.div, contained too', () => {
    const validator = createValidator();
    const person = (text: string): Patient => ({
      resourceType: 'Patient',
      text: { status: 'generated', div: text },
    });
    const top = validator.validate(person(div('<script>x</script>')));
    expect(hasErrors(top)).toBe(true);
    expect(top.issue[0]?.expression).toEqual(['Patient.text.div']);
    const nested = validator.validate({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      contained: [person(div('<b onmouseover="x">y</b>'))],
    });
    expect(nested.issue.map((i) => i.expression?.[0])).toContain(
      'Observation.contained[0].text.div',
    );
    expect(hasErrors(validator.validate(person(div('<p>Fine</p>'))))).toBe(false);
  });

  it('every narrative dialog-fhir generates passes: plans, goals, scores, responses', () => {
    const validator = createValidator();
    const described = ['CarePlan', 'Goal', 'Observation'];
    for (const file of ['01-community-start.json', '02-admission.json', '04-discharge.json']) {
      const bundle = JSON.parse(
        readFileSync(join(EXAMPLES_DIR, 'journey', file), 'utf8'),
      ) as Bundle;
      for (const entry of bundle.entry ?? []) {
        const resource = entry.resource as Resource;
        if (!described.includes(resource.resourceType)) continue;
        const div = (withNarrative(resource) as { text?: { div?: string } }).text?.div;
        expect(div).toBeDefined();
        expect(narrativeIssues(div ?? '', `${resource.resourceType}.text.div`)).toEqual([]);
      }
    }
    for (const response of journeyResponses()) {
      const narrated = withNarrative(response);
      expect(narrated.text?.div).toBeDefined();
      expect(narrativeIssues(narrated.text?.div ?? '', 'QuestionnaireResponse.text.div')).toEqual(
        [],
      );
      expect(hasErrors(validator.validate(narrated))).toBe(false);
    }
  });
});
