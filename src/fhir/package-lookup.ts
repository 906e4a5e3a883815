/**
 * Lookups into the dialog-fhir FHIR package: the DIALOG Questionnaire's item texts and the
 * displays of the package's own codes. Writers take texts and displays from here, never from
 * string literals of their own, so what they write is exactly what the package says.
 */
import type {
  CodeSystem,
  CodeSystemConcept,
  Questionnaire,
  QuestionnaireItem,
  ValueSet,
} from '@medplum/fhirtypes';
import { type ConformancePackage, loadConformancePackage } from '../validation/conformance';
import { DIALOG_QUESTIONNAIRE } from './canonical';

let loaded: ConformancePackage | undefined;

/** The package, loaded once per process (it reads some 50 files). */
export function conformancePackage(): ConformancePackage {
  loaded ??= loadConformancePackage();
  return loaded;
}

let dialogForm: Questionnaire | undefined;

export function dialogQuestionnaire(): Questionnaire {
  dialogForm ??= conformancePackage().questionnaire(DIALOG_QUESTIONNAIRE);
  if (!dialogForm) throw new Error(`The FHIR package has no ${DIALOG_QUESTIONNAIRE}`);
  return dialogForm;
}

/** Every item of a Questionnaire by linkId, at any depth. */
export function itemsByLinkId(
  questionnaire: Questionnaire,
): ReadonlyMap<string, QuestionnaireItem> {
  const out = new Map<string, QuestionnaireItem>();
  const walk = (items: readonly QuestionnaireItem[] | undefined): void => {
    for (const item of items ?? []) {
      out.set(item.linkId, item);
      walk(item.item);
    }
  };
  walk(questionnaire.item);
  return out;
}

let dialogItems: ReadonlyMap<string, QuestionnaireItem> | undefined;

/** The DIALOG Questionnaire's text for an item; undefined where the item has none. */
export function formText(linkId: string): string | undefined {
  dialogItems ??= itemsByLinkId(dialogQuestionnaire());
  return dialogItems.get(linkId)?.text;
}

let displays: ReadonlyMap<string, string> | undefined;

function collectDisplays(): Map<string, string> {
  const out = new Map<string, string>();
  const add = (system: string, concepts: readonly CodeSystemConcept[] | undefined): void => {
    for (const c of concepts ?? []) {
      if (c.display) out.set(`${system}|${c.code}`, c.display);
      add(system, c.concept);
    }
  };
  const resources = conformancePackage().resources;
  // ValueSets first: they hold the displays of external codes (the SNOMED DIALOG items).
  for (const r of resources) {
    if (r.resourceType !== 'ValueSet') continue;
    for (const include of (r as ValueSet).compose?.include ?? [])
      if (include.system) add(include.system, include.concept);
  }
  for (const r of resources) {
    const cs = r as CodeSystem;
    if (r.resourceType === 'CodeSystem' && cs.url) add(cs.url, cs.concept);
  }
  return out;
}

/**
 * The display the package gives a code: from its CodeSystems, or for external codes (SNOMED) from
 * the ValueSets that list them. Undefined for codes the package does not name.
 */
export function codeDisplay(system: string, code: string): string | undefined {
  displays ??= collectDisplays();
  return displays.get(`${system}|${code}`);
}
