// A draft: what the dialog-fhir server is built to offer. The API serves the live one at
// /fhir/metadata, which says what is actually implemented at that version.

RuleSet: Crud(type, profile)
* rest[0].resource[+].type = #{type}
* rest[0].resource[=].profile = "{profile}"
* rest[0].resource[=].interaction[0].code = #read
* rest[0].resource[=].interaction[1].code = #vread
* rest[0].resource[=].interaction[2].code = #search-type
* rest[0].resource[=].interaction[3].code = #create
* rest[0].resource[=].interaction[4].code = #update
* rest[0].resource[=].interaction[5].code = #history-instance
* rest[0].resource[=].versioning = #versioned-update
* rest[0].resource[=].conditionalCreate = true
* rest[0].resource[=].searchParam[0].name = "patient"
* rest[0].resource[=].searchParam[0].type = #reference
* rest[0].resource[=].searchParam[1].name = "identifier"
* rest[0].resource[=].searchParam[1].type = #token
* rest[0].resource[=].searchParam[2].name = "_lastUpdated"
* rest[0].resource[=].searchParam[2].type = #date

Instance: dialog-fhir-server
InstanceOf: CapabilityStatement
Usage: #definition
* url = "https://dialog-fhir.org/fhir/CapabilityStatement/dialog-fhir-server"
* name = "DialogFhirServer"
* title = "dialog-fhir server (draft)"
* status = #draft
* date = "2026-11-23"
* kind = #requirements
* fhirVersion = #4.0.1
* format[0] = #json
* implementationGuide = "https://dialog-fhir.org/fhir/ImplementationGuide/dialog-fhir.r4"
* rest[0].mode = #server
* rest[0].documentation = "Bearer JWTs with SMART v2 scopes (patient/*.rs, user/*.cruds, system/*.cruds). Every read and write is audited."
* rest[0].security.service = http://terminology.hl7.org/CodeSystem/restful-security-service#SMART-on-FHIR
* insert Crud(QuestionnaireResponse, https://dialog-fhir.org/fhir/StructureDefinition/dialog-questionnaire-response)
* insert Crud(Observation, https://dialog-fhir.org/fhir/StructureDefinition/dialog-item-score)
* insert Crud(CarePlan, https://dialog-fhir.org/fhir/StructureDefinition/dialog-care-plan)
* insert Crud(Goal, https://dialog-fhir.org/fhir/StructureDefinition/dialog-goal)
* rest[0].interaction[0].code = #transaction
* rest[0].interaction[1].code = #batch
* rest[0].operation[0].name = "validate"
* rest[0].operation[0].definition = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
* rest[0].operation[1].name = "extract"
* rest[0].operation[1].definition = "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract"
* rest[0].operation[2].name = "populate"
* rest[0].operation[2].definition = "http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate"
* rest[0].operation[3].name = "letter"
* rest[0].operation[3].definition = Canonical(CarePlan-letter)
* rest[0].operation[4].name = "chart"
* rest[0].operation[4].definition = Canonical(CarePlan-chart)
* rest[0].operation[5].name = "transfer"
* rest[0].operation[5].definition = Canonical(Patient-transfer)
* rest[0].operation[6].name = "dialog-summary"
* rest[0].operation[6].definition = Canonical(Patient-dialog-summary)
* rest[0].operation[7].name = "plan-sync-notification"
* rest[0].operation[7].definition = Canonical(plan-sync-notification)
