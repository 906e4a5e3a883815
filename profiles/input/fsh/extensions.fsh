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

// Extensions the service writes for itself: the DIALOG app's session start, and the bookkeeping
// of handover, plan sync and plan sending (src/transfer). None carries a clinical finding; each
// is defined so that servers and EHRs that validate against this package know what it is.

Extension: DialogSessionStart
Id: dialog-session-start
Title: "Session start"
Description: "When the DIALOG+ session started (the DIALOG+ app's \"Date Start\"), written only when it differs from the response's authored time. A dateTime with a time and a UTC offset."
* ^context[0].type = #element
* ^context[0].expression = "QuestionnaireResponse"
* value[x] only dateTime

Extension: DialogHandoverOrigin
Id: dialog-handover-origin
Title: "Handover origin"
Description: "Which version of the sending system's resource this copy came from, as `<sender base>/<Type>/<id>/_history/<version>`: set on the plan and on the Goals, carers and consent that move with it when a handover sends them. A URI, not a Reference, so that it stays as sent when a handover rewrites references. Later merges of the two systems' copies find their common base by it. A Goal, carer or consent carries at most one; a plan can carry two, one from each side, after a merge that had no agreed version to start from (the plan merge keeps both sides' differing parts)."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan"
* ^context[1].type = #element
* ^context[1].expression = "Goal"
* ^context[2].type = #element
* ^context[2].expression = "RelatedPerson"
* ^context[3].type = #element
* ^context[3].expression = "Consent"
* value[x] only uri

Extension: DialogMergedFrom
Id: dialog-merged-from
Title: "Merged from"
Description: "On a Goal, carer or consent that a plan-sync pull merged into: the other system's version it merged, as `<peer base>/<Type>/<id>/_history/<version>`. Written only when the merge changed the copy. The peer, pulling back, merges against that version of its own rather than an older one, so no false conflict is raised. At most one per resource."
* ^context[0].type = #element
* ^context[0].expression = "Goal"
* ^context[1].type = #element
* ^context[1].expression = "RelatedPerson"
* ^context[2].type = #element
* ^context[2].expression = "Consent"
* value[x] only uri

Extension: DialogConflictingCopy
Id: dialog-conflicting-copy
Title: "Conflicting copy of an activity"
Description: "Marks a plan activity that is this system's version of an activity both systems changed differently since they last agreed. It sits beside the other system's version, whose activity id is the value (or, if that activity has no id, the FHIRPath of the part); a resolve-plan-conflict Task asks a clinician to choose. Nothing is lost until they do."
* ^context[0].type = #element
* ^context[0].expression = "CarePlan.activity"
* value[x] only string

Extension: DialogDelivery
Id: dialog-delivery
Title: "Delivery state"
Description: "How the delivery a Task stands for (a handover to a peer system, or sending the plan to a recipient after discharge) is going: where to, the attempts made, when the next is due, the lease of the deliverer that holds it, and the last error. The Task is the durable outbox entry; deliverers claim it by updating this with If-Match. Carries no patient data. One per Task."
* ^context[0].type = #element
* ^context[0].expression = "Task"
* extension contains
    destination 1..1 and
    attempts 1..1 and
    nextAttempt 1..1 and
    leaseUntil 0..1 and
    lastError 0..1
* extension[destination] ^short = "The peer system's id (handover), or the recipient's reference (plan sending)"
* extension[destination].value[x] only string
* extension[attempts] ^short = "Attempts made so far"
* extension[attempts].value[x] only integer
* extension[nextAttempt] ^short = "When the next attempt is due"
* extension[nextAttempt].value[x] only dateTime
* extension[leaseUntil] ^short = "While a deliverer holds the Task: until when"
* extension[leaseUntil].value[x] only dateTime
* extension[lastError] ^short = "Why the last attempt failed, in words a person can read"
* extension[lastError].value[x] only string

Extension: DialogPlanSync
Id: dialog-plan-sync
Title: "Plan sync state"
Description: "On the Basic resource `Basic/plan-sync-<peer id>`: what this system last took from one peer's plans, kept durably so that the next pull merges against it. The since-watermark of polling, and per plan its business identifier, the peer's version pulled and that version's content in this system's terms (JSON, the base of the next three-way merge), with the same for the Goals, carers and consent pulled with it."
* ^context[0].type = #element
* ^context[0].expression = "Basic"
* extension contains
    peer 1..1 and
    since 0..1 and
    plan 0..*
* extension[peer] ^short = "The peer system's id"
* extension[peer].value[x] only string
* extension[since] ^short = "The last change seen at the peer: the next poll starts a little before it"
* extension[since].value[x] only instant
* extension[plan] ^short = "One plan pulled from the peer"
* extension[plan].extension contains
    identifier 1..1 and
    theirVersion 1..1 and
    base 1..1 and
    resource 0..*
* extension[plan].extension[identifier] ^short = "The plan's business identifier, `<system>|<value>`"
* extension[plan].extension[identifier].value[x] only string
* extension[plan].extension[theirVersion] ^short = "The peer's version (meta.versionId) of the plan last pulled"
* extension[plan].extension[theirVersion].value[x] only string
* extension[plan].extension[base] ^short = "That version's content in this system's terms (JSON): the base of the next merge"
* extension[plan].extension[base].value[x] only string
* extension[plan].extension[resource] ^short = "A Goal, carer or consent pulled with the plan"
* extension[plan].extension[resource].extension contains
    key 1..1 and
    theirs 1..1 and
    at 1..1 and
    base 1..1
* extension[plan].extension[resource].extension[key] ^short = "`<Type>|<fullUrl>`: the resource as the handover bundle names it"
* extension[plan].extension[resource].extension[key].value[x] only string
* extension[plan].extension[resource].extension[theirs] ^short = "The peer's version pulled: `<Type>/<id>/_history/<version>`"
* extension[plan].extension[resource].extension[theirs].value[x] only string
* extension[plan].extension[resource].extension[at] ^short = "When it was pulled (this system's clock)"
* extension[plan].extension[resource].extension[at].value[x] only instant
* extension[plan].extension[resource].extension[base] ^short = "Its content in this system's terms (JSON): the base of the next merge"
* extension[plan].extension[resource].extension[base].value[x] only string
