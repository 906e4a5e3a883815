// Extensions the DIALOG profiles need. Contexts are the elements each one may appear on.

Extension: DialogTimepoint
Id: dialog-timepoint
Title: "DIALOG timepoint"
Description: "Which timepoint of the episode a rating (or a value derived from it) stands for."
* ^context[0].type = #element
* ^context[0].expression = "QuestionnaireResponse"
* ^context[1].type = #element
* ^context[1].expression = "Observation"
* value[x] only Coding
* valueCoding from DialogTimepointsVS (required)

Extension: DialogSetting
Id: dialog-setting
Title: "Care setting"
Description: "The setting (community, inpatient, crisis) a rating was made in."
* ^context[0].type = #element
* ^context[0].expression = "QuestionnaireResponse"
* ^context[1].type = #element
* ^context[1].expression = "Observation"
* value[x] only Coding
* valueCoding from DialogSettingsVS (required)

Extension: DialogReusedRating
Id: dialog-reused-rating
Title: "Reused rating"
Description: "This rating is a rating made at another timepoint of another service of the same provider, reused here (e.g. the inpatient discharge rating used as the community admission rating). Records how, so outcomes stay attributable."
* ^context[0].type = #element
* ^context[0].expression = "QuestionnaireResponse"
* extension contains
    source 1..1 and
    originalTimepoint 1..1 and
    originalSetting 0..1 and
    reason 0..1
* extension[source].value[x] only Reference(QuestionnaireResponse)
* extension[originalTimepoint].value[x] only Coding
* extension[originalTimepoint].valueCoding from DialogTimepointsVS (required)
* extension[originalSetting].value[x] only Coding
* extension[originalSetting].valueCoding from DialogSettingsVS (required)
* extension[reason].value[x] only string

Extension: DialogMeasure
Id: dialog-measure
Title: "DIALOG measure"
Description: "The DIALOG item (SNOMED) or mean a paired change, or a goal, is about."
* ^context[0].type = #element
* ^context[0].expression = "Observation"
* ^context[1].type = #element
* ^context[1].expression = "Goal"
* value[x] only Coding
* valueCoding from DialogMeasures (required)

Extension: DialogMeanComplete
Id: dialog-mean-complete
Title: "Mean computed from a complete rating"
Description: "False when more than one of the 11 items was missing: the mean may be substantially affected and must be read as incomplete."
* ^context[0].type = #element
* ^context[0].expression = "Observation"
* value[x] only boolean

Extension: DialogKeyWorker
Id: dialog-key-worker
Title: "Key worker"
Description: "The named key worker responsible for the plan."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan"
* value[x] only Reference(Practitioner or PractitionerRole)

Extension: DialogReviewDue
Id: dialog-review-due
Title: "Review due"
Description: "A review of the plan (and its DIALOG rating) agreed at the outset, with its timepoint and setting."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan"
* extension contains
    timepoint 1..1 and
    due 1..1 and
    setting 0..1
* extension[timepoint].value[x] only Coding
* extension[timepoint].valueCoding from DialogTimepointsVS (required)
* extension[due].value[x] only dateTime
* extension[setting].value[x] only Coding
* extension[setting].valueCoding from DialogSettingsVS (required)

Extension: DialogCarer
Id: dialog-carer
Title: "Carer"
Description: "A carer or family member, what the person agrees to share with them (a Consent), and how they are involved."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan"
* extension contains
    carer 1..1 and
    consent 0..1 and
    involvement 0..1
* extension[carer].value[x] only Reference(RelatedPerson)
* extension[consent].value[x] only Reference(Consent)
* extension[involvement].value[x] only string

Extension: DialogDeliveryPreference
Id: dialog-delivery-preference
Title: "Delivery preference"
Description: "How the person wants to receive their plan."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan"
* value[x] only Coding
* valueCoding from DialogDeliveryChannelsVS (required)

Extension: DialogResponsibleService
Id: dialog-responsible-service
Title: "Responsible service"
Description: "A service that holds (or held) responsibility for the plan, in which setting, and when. The one without an end to its period holds it now."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan"
* extension contains
    organization 1..1 and
    setting 1..1 and
    period 1..1
* extension[organization].value[x] only Reference(Organization)
* extension[setting].value[x] only Coding
* extension[setting].valueCoding from DialogSettingsVS (required)
* extension[period].value[x] only Period

Extension: DialogPlusStep
Id: dialog-plus-step
Title: "DIALOG+ step"
Description: "What was said in one of the four DIALOG+ steps about the item a goal addresses."
* ^context[0].type = #element
* ^context[0].expression = "Goal"
* extension contains
    step 1..1 and
    text 1..1
* extension[step].value[x] only Coding
* extension[step].valueCoding from DialogPlusStepsVS (required)
* extension[text].value[x] only string

Extension: DialogLegalStatus
Id: dialog-legal-status
Title: "Mental Health Act status"
Description: "The person's legal status, on the plan's Mental Health Act activity."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan.activity.detail"
* value[x] only Coding
* valueCoding from MentalHealthActStatusVS (required)
