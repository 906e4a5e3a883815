/**
 * Narratives: the generated, human-readable `text.div` of every DIALOG+ resource the service
 * writes (`narrativeOf`, `withNarrative`), built with a small XHTML tree (`el`, `elWith`,
 * `narrativeDiv`) that escapes every text and allows only the FHIR narrative subset of XHTML.
 * Pure functions: resources (and what the caller already has at hand) in, text out.
 */
export {
  narrativeOf,
  withNarrative,
  type GeneratedNarrative,
  type NarrativeContext,
  type RatingSource,
} from './narrative';
export {
  ALLOWED_ATTRIBUTES,
  ALLOWED_ELEMENTS,
  el,
  elWith,
  lines,
  narrativeDiv,
  render,
  text,
  XHTML_NAMESPACE,
  type Attributes,
  type Child,
  type Tag,
  type XElement,
  type XNode,
  type XText,
} from './xhtml';
