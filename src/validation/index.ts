/**
 * Validation: FHIR resources against the R4 schema, the dialog-fhir profiles (with their FHIRPath
 * invariants) and, for responses, their Questionnaire. Results are OperationOutcomes whose issues
 * name the fault with a FHIRPath expression.
 */
export { createValidator, DIALOG_QUESTIONNAIRE, DIALOG_QR_PROFILE } from './validator';
export type { ValidateOptions, Validator } from './validator';
export { loadConformancePackage, PACKAGE_DIR } from './conformance';
export type { ConformancePackage } from './conformance';
export { hasErrors, outcome, error, issue } from './outcome';
export { compileFhirPath, UnsupportedFhirPath } from './fhirpath-compile';
export { fhirResourceTypes } from './fhir-schema';
