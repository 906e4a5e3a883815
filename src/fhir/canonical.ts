/** Canonical URLs of the dialog-fhir package (profiles/sushi-config.yaml) used in code. */
export const BASE = 'https://dialog-fhir.org/fhir';
export const DIALOG_QUESTIONNAIRE = `${BASE}/Questionnaire/dialog`;

export const CodeSystems = {
  dialog: `${BASE}/CodeSystem/dialog`,
  scale: `${BASE}/CodeSystem/dialog-scale`,
  steps: `${BASE}/CodeSystem/dialog-plus-steps`,
  timepoints: `${BASE}/CodeSystem/dialog-timepoints`,
  settings: `${BASE}/CodeSystem/dialog-settings`,
  notRated: `${BASE}/CodeSystem/dialog-not-rated-reasons`,
  change: `${BASE}/CodeSystem/dialog-change-interpretation`,
  planSections: `${BASE}/CodeSystem/dialog-plan-sections`,
  mha: `${BASE}/CodeSystem/mental-health-act-status`,
  delivery: `${BASE}/CodeSystem/dialog-delivery-channels`,
} as const;

export const Extensions = {
  timepoint: `${BASE}/StructureDefinition/dialog-timepoint`,
  setting: `${BASE}/StructureDefinition/dialog-setting`,
  reusedRating: `${BASE}/StructureDefinition/dialog-reused-rating`,
  measure: `${BASE}/StructureDefinition/dialog-measure`,
  meanComplete: `${BASE}/StructureDefinition/dialog-mean-complete`,
  keyWorker: `${BASE}/StructureDefinition/dialog-key-worker`,
  reviewDue: `${BASE}/StructureDefinition/dialog-review-due`,
  carer: `${BASE}/StructureDefinition/dialog-carer`,
  deliveryPreference: `${BASE}/StructureDefinition/dialog-delivery-preference`,
  responsibleService: `${BASE}/StructureDefinition/dialog-responsible-service`,
  plusStep: `${BASE}/StructureDefinition/dialog-plus-step`,
  legalStatus: `${BASE}/StructureDefinition/dialog-legal-status`,
} as const;

export const Profiles = {
  response: `${BASE}/StructureDefinition/dialog-questionnaire-response`,
  itemScore: `${BASE}/StructureDefinition/dialog-item-score`,
  helpWanted: `${BASE}/StructureDefinition/dialog-help-wanted`,
  meanScore: `${BASE}/StructureDefinition/dialog-mean-score`,
  pairedChange: `${BASE}/StructureDefinition/dialog-paired-change`,
  goal: `${BASE}/StructureDefinition/dialog-goal`,
  carePlan: `${BASE}/StructureDefinition/dialog-care-plan`,
} as const;

/** The plan's business identifier system: the same value in every system the plan moves to. */
export const CARE_PLAN_IDENTIFIER_SYSTEM = `${BASE}/sid/care-plan`;
export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
