// Search parameters the dialog-fhir API offers beyond the R4 core ones it also supports.

Instance: dialog-timepoint
InstanceOf: SearchParameter
Usage: #definition
* url = "https://dialog-fhir.org/fhir/SearchParameter/dialog-timepoint"
* name = "timepoint"
* status = #active
* description = "The DIALOG timepoint (episode-start, review, episode-end) of a rating or a value extracted from it"
* code = #timepoint
* base[0] = #QuestionnaireResponse
* base[1] = #Observation
* type = #token
* expression = "QuestionnaireResponse.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-timepoint').value | Observation.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-timepoint').value"
* xpathUsage = #normal

Instance: dialog-setting
InstanceOf: SearchParameter
Usage: #definition
* url = "https://dialog-fhir.org/fhir/SearchParameter/dialog-setting"
* name = "setting"
* status = #active
* description = "The care setting (community, inpatient, crisis) a rating was made in"
* code = #setting
* base[0] = #QuestionnaireResponse
* base[1] = #Observation
* type = #token
* expression = "QuestionnaireResponse.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-setting').value | Observation.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-setting').value"
* xpathUsage = #normal

Instance: dialog-measure
InstanceOf: SearchParameter
Usage: #definition
* url = "https://dialog-fhir.org/fhir/SearchParameter/dialog-measure"
* name = "dialog-measure"
* status = #active
* description = "The DIALOG item or mean a paired change or a goal is about"
* code = #dialog-measure
* base[0] = #Observation
* base[1] = #Goal
* type = #token
* expression = "Observation.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-measure').value | Goal.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-measure').value"
* xpathUsage = #normal

Instance: careplan-responsible-organization
InstanceOf: SearchParameter
Usage: #definition
* url = "https://dialog-fhir.org/fhir/SearchParameter/careplan-responsible-organization"
* name = "responsible-organization"
* status = #active
* description = "A service that holds or held responsibility for the plan"
* code = #responsible-organization
* base[0] = #CarePlan
* type = #reference
* target[0] = #Organization
* expression = "CarePlan.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-responsible-service').extension('organization').value"
* xpathUsage = #normal

Instance: careplan-key-worker
InstanceOf: SearchParameter
Usage: #definition
* url = "https://dialog-fhir.org/fhir/SearchParameter/careplan-key-worker"
* name = "key-worker"
* status = #active
* description = "The plan's named key worker"
* code = #key-worker
* base[0] = #CarePlan
* type = #reference
* target[0] = #Practitioner
* target[1] = #PractitionerRole
* expression = "CarePlan.extension('https://dialog-fhir.org/fhir/StructureDefinition/dialog-key-worker').value"
* xpathUsage = #normal
