// The DIALOG resource profiles. Invariants are FHIRPath; src/validation evaluates them too.

// Categories are sliced (open) rather than fixed, so other systems may add their own categories
// without the resource failing the profile.
RuleSet: SurveyCategory
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains survey 1..1
* category[survey] = $obs-category#survey

Invariant: dlg-qr-1
Description: "At most 3 items are chosen for discussion"
Severity: #error
Expression: "item.where(linkId='discussion').item.where(linkId='chosen-items').answer.count() <= 3"

Invariant: dlg-qr-2
Description: "At most 3 items are discussed"
Severity: #error
Expression: "item.where(linkId='discussion').item.where(linkId='discussed-item').count() <= 3"

Invariant: dlg-qr-3
Description: "The person rates for themselves: a carer or anyone else never rates on the person's behalf"
Severity: #error
Expression: "source.exists() implies source.reference = subject.reference"

// In the ratings group only the scores have coded answers (help answers are yes/no), so
// `value.ofType(Coding)` finds a score without testing every linkId.
Invariant: dlg-qr-4
Description: "A completed response holds at least one rating or the reason it was not rated"
Severity: #error
Expression: "status = 'completed' implies (item.where(linkId='ratings').item.item.answer.value.ofType(Coding).exists() or item.where(linkId='not-rated').item.answer.exists())"

Invariant: dlg-qr-5
Description: "A response either holds ratings or says why there are none, not both"
Severity: #error
Expression: "(item.where(linkId='ratings').item.item.answer.value.ofType(Coding).exists() and item.where(linkId='not-rated').item.answer.exists()).not()"

// The Questionnaire's answerOptions say the same; as a profile constraint it is also enforced by
// validators that do not check answers against the Questionnaire (Medplum's validateResource).
Invariant: dlg-qr-6
Description: "Every score is a point of the DIALOG scale, 1 to 7"
Severity: #error
Expression: "item.where(linkId='ratings').item.item.answer.value.ofType(Coding).all(system = 'https://dialog-fhir.org/fhir/CodeSystem/dialog-scale' and (code = '1' or code = '2' or code = '3' or code = '4' or code = '5' or code = '6' or code = '7'))"

// Also what the Questionnaire says, written out for validators that do not check a response
// against its Questionnaire: in the ratings group only the 11 areas and the two means, in each
// area only its own score and 'more help' question, none of them twice. Spelled out linkId by
// linkId (FHIRPath cannot name the enclosing item's linkId); test/validation/profile-dialog.test.ts
// checks it says exactly what the Questionnaire's ratings group says.
Invariant: dlg-qr-7
Description: "In the ratings, each area holds only its own score and 'more help' question, and no item appears twice"
Severity: #error
Expression: "item.where(linkId = 'ratings').all(item.all(linkId = 'mental-health' or linkId = 'physical-health' or linkId = 'job-situation' or linkId = 'accommodation' or linkId = 'leisure-activities' or linkId = 'friendships' or linkId = 'partner-family' or linkId = 'personal-safety' or linkId = 'medication' or linkId = 'practical-help' or linkId = 'meetings' or linkId = 'sqol-mean' or linkId = 'ts-mean') and item.where(linkId = 'mental-health').count() <= 1 and item.where(linkId = 'physical-health').count() <= 1 and item.where(linkId = 'job-situation').count() <= 1 and item.where(linkId = 'accommodation').count() <= 1 and item.where(linkId = 'leisure-activities').count() <= 1 and item.where(linkId = 'friendships').count() <= 1 and item.where(linkId = 'partner-family').count() <= 1 and item.where(linkId = 'personal-safety').count() <= 1 and item.where(linkId = 'medication').count() <= 1 and item.where(linkId = 'practical-help').count() <= 1 and item.where(linkId = 'meetings').count() <= 1 and item.where(linkId = 'sqol-mean').count() <= 1 and item.where(linkId = 'ts-mean').count() <= 1 and item.where(linkId = 'mental-health').all(item.all(linkId = 'mental-health.score' or linkId = 'mental-health.help') and item.where(linkId = 'mental-health.score').count() <= 1 and item.where(linkId = 'mental-health.help').count() <= 1) and item.where(linkId = 'physical-health').all(item.all(linkId = 'physical-health.score' or linkId = 'physical-health.help') and item.where(linkId = 'physical-health.score').count() <= 1 and item.where(linkId = 'physical-health.help').count() <= 1) and item.where(linkId = 'job-situation').all(item.all(linkId = 'job-situation.score' or linkId = 'job-situation.help') and item.where(linkId = 'job-situation.score').count() <= 1 and item.where(linkId = 'job-situation.help').count() <= 1) and item.where(linkId = 'accommodation').all(item.all(linkId = 'accommodation.score' or linkId = 'accommodation.help') and item.where(linkId = 'accommodation.score').count() <= 1 and item.where(linkId = 'accommodation.help').count() <= 1) and item.where(linkId = 'leisure-activities').all(item.all(linkId = 'leisure-activities.score' or linkId = 'leisure-activities.help') and item.where(linkId = 'leisure-activities.score').count() <= 1 and item.where(linkId = 'leisure-activities.help').count() <= 1) and item.where(linkId = 'friendships').all(item.all(linkId = 'friendships.score' or linkId = 'friendships.help') and item.where(linkId = 'friendships.score').count() <= 1 and item.where(linkId = 'friendships.help').count() <= 1) and item.where(linkId = 'partner-family').all(item.all(linkId = 'partner-family.score' or linkId = 'partner-family.help') and item.where(linkId = 'partner-family.score').count() <= 1 and item.where(linkId = 'partner-family.help').count() <= 1) and item.where(linkId = 'personal-safety').all(item.all(linkId = 'personal-safety.score' or linkId = 'personal-safety.help') and item.where(linkId = 'personal-safety.score').count() <= 1 and item.where(linkId = 'personal-safety.help').count() <= 1) and item.where(linkId = 'medication').all(item.all(linkId = 'medication.score' or linkId = 'medication.help') and item.where(linkId = 'medication.score').count() <= 1 and item.where(linkId = 'medication.help').count() <= 1) and item.where(linkId = 'practical-help').all(item.all(linkId = 'practical-help.score' or linkId = 'practical-help.help') and item.where(linkId = 'practical-help.score').count() <= 1 and item.where(linkId = 'practical-help.help').count() <= 1) and item.where(linkId = 'meetings').all(item.all(linkId = 'meetings.score' or linkId = 'meetings.help') and item.where(linkId = 'meetings.score').count() <= 1 and item.where(linkId = 'meetings.help').count() <= 1))"

// R4's dateTime pattern already asks for an offset whenever there is a time of day; written out as
// a constraint too, for validators whose pattern lets a time without one through (Medplum's).
// A time without an offset names no instant (29 March 2026, the UK clocks change at 01:00).
Invariant: dlg-qr-8
Description: "A time of day the session was authored carries its UTC offset"
Severity: #error
Expression: "authored.exists() implies (authored.toString().length() <= 10 or authored.toString().matches('(Z|[+-][0-9]{2}:[0-9]{2})$'))"

Profile: DialogQuestionnaireResponse
Parent: QuestionnaireResponse
Id: dialog-questionnaire-response
Title: "DIALOG QuestionnaireResponse"
Description: "One DIALOG+ session: the person's 11 ratings with the 'more help' follow-ups, the items chosen for discussion, the four steps and agreed actions. May be built over several sittings (in-progress, then completed)."
* obeys dlg-qr-1 and dlg-qr-2 and dlg-qr-3 and dlg-qr-4 and dlg-qr-5 and dlg-qr-6 and dlg-qr-7 and dlg-qr-8
* extension contains
    DialogTimepoint named timepoint 0..1 and
    DialogSetting named setting 0..1 and
    DialogReusedRating named reusedRating 0..1 and
    DialogSessionStart named sessionStart 0..1
* identifier 0..1
* questionnaire 1..1
* questionnaire = "https://dialog-fhir.org/fhir/Questionnaire/dialog" (exactly)
* subject 1..1
* subject only Reference(Patient)
* authored 1..1
* source only Reference(Patient)

Invariant: dlg-score-1
Description: "A DIALOG score is a whole number from 1 to 7"
Severity: #error
Expression: "value.ofType(integer).all($this >= 1 and $this <= 7)"

Profile: DialogItemScore
Parent: Observation
Id: dialog-item-score
Title: "DIALOG item score"
Description: "The person's satisfaction with one DIALOG item, 1 (totally dissatisfied) to 7 (totally satisfied), extracted from a DIALOG QuestionnaireResponse."
* obeys dlg-score-1
* extension contains
    DialogTimepoint named timepoint 0..1 and
    DialogSetting named setting 0..1
* insert SurveyCategory
* code from DialogItems (required)
* subject 1..1
* subject only Reference(Patient)
* effective[x] 1..1
* effective[x] only dateTime
* value[x] 1..1
* value[x] only integer
* derivedFrom 1..*
* derivedFrom only Reference(QuestionnaireResponse)
* component 0..0

Profile: DialogHelpWanted
Parent: Observation
Id: dialog-help-wanted
Title: "DIALOG 'more help' answer"
Description: "Whether the person wants more help with one DIALOG item."
* extension contains
    DialogTimepoint named timepoint 0..1 and
    DialogSetting named setting 0..1
* insert SurveyCategory
* code from DialogHelpWantedVS (required)
* subject 1..1
* subject only Reference(Patient)
* effective[x] 1..1
* effective[x] only dateTime
* value[x] 1..1
* value[x] only boolean
* derivedFrom 1..*
* derivedFrom only Reference(QuestionnaireResponse)

Invariant: dlg-mean-1
Description: "A DIALOG mean lies between 1 and 7"
Severity: #error
Expression: "value.ofType(Quantity).value.all($this >= 1 and $this <= 7)"

Profile: DialogMeanScore
Parent: Observation
Id: dialog-mean-score
Title: "DIALOG mean score"
Description: "Subjective quality of life (mean of the 8 life items) or treatment satisfaction (mean of the 3 treatment items). Marked incomplete when more than one of the 11 items was missing."
* obeys dlg-mean-1
* extension contains
    DialogMeanComplete named complete 1..1 and
    DialogTimepoint named timepoint 0..1 and
    DialogSetting named setting 0..1
* insert SurveyCategory
* code from DialogMeans (required)
* subject 1..1
* subject only Reference(Patient)
* effective[x] 1..1
* effective[x] only dateTime
* value[x] 1..1
* value[x] only Quantity
* valueQuantity.system = $ucum
* valueQuantity.code = #{score}
* derivedFrom 1..*
* derivedFrom only Reference(QuestionnaireResponse or Observation)
* component 1..1
* component.code = $dialog-cs#items-used
* component.value[x] 1..1
* component.value[x] only integer

Invariant: dlg-change-1
Description: "The change is the follow-up score minus the baseline score"
Severity: #error
Expression: "value.ofType(Quantity).value = component.where(code.coding.code = 'follow-up-score').value.ofType(Quantity).value - component.where(code.coding.code = 'baseline-score').value.ofType(Quantity).value"

Invariant: dlg-change-2
Description: "A change of +1 or more is reliable improvement, -1 or less reliable deterioration, otherwise no reliable change"
Severity: #error
Expression: "interpretation.coding.where(system = 'https://dialog-fhir.org/fhir/CodeSystem/dialog-change-interpretation').code = iif(value.ofType(Quantity).value >= 1, 'reliable-improvement', iif(value.ofType(Quantity).value <= -1, 'reliable-deterioration', 'no-reliable-change'))"

Profile: DialogPairedChange
Parent: Observation
Id: dialog-paired-change
Title: "DIALOG paired change"
Description: "Change in one DIALOG item or mean between the first valid rating and the latest later rating (NHS England community mental health PROMs rule; reliable change threshold 1)."
* obeys dlg-change-1 and dlg-change-2
* extension contains DialogMeasure named measure 1..1
* insert SurveyCategory
* code = $dialog-cs#paired-change
* subject 1..1
* subject only Reference(Patient)
* effective[x] 1..1
* effective[x] only Period
* value[x] 1..1
* value[x] only Quantity
* interpretation 1..1
* interpretation from DialogChangeInterpretationVS (required)
* derivedFrom 2..*
* derivedFrom only Reference(QuestionnaireResponse or Observation)
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #closed
* component 2..2
* component contains baseline 1..1 and followUp 1..1
* component[baseline].code = $dialog-cs#baseline-score
* component[baseline].value[x] 1..1
* component[baseline].value[x] only Quantity
* component[followUp].code = $dialog-cs#follow-up-score
* component[followUp].value[x] 1..1
* component[followUp].value[x] only Quantity

Invariant: dlg-goal-1
Description: "A DIALOG goal is about one of the 11 DIALOG items"
Severity: #error
Expression: "extension.where(url = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-measure').value.ofType(Coding).system = 'http://snomed.info/sct'"

Profile: DialogGoal
Parent: Goal
Id: dialog-goal
Title: "DIALOG+ goal"
Description: "What the person wants to change about one item they chose to discuss, with what was said in the DIALOG+ steps."
* obeys dlg-goal-1
* extension contains
    DialogMeasure named item 1..1 and
    DialogPlusStep named step 0..4 and
    DialogHandoverOrigin named handoverOrigin 0..1 and
    DialogMergedFrom named mergedFrom 0..1
* description.text 1..1
* subject only Reference(Patient)
* addresses 1..*
* addresses only Reference(Observation)

Invariant: dlg-plan-1
Description: "The plan has exactly one business identifier in the dialog-fhir care-plan system, the same in every system it moves to"
Severity: #error
Expression: "identifier.where(system = 'https://dialog-fhir.org/fhir/sid/care-plan').count() = 1"

Invariant: dlg-plan-2
Description: "At most one service holds responsibility for the plan now"
Severity: #error
Expression: "extension.where(url = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-responsible-service').where(extension.where(url = 'period').value.ofType(Period).end.empty()).count() <= 1"

Invariant: dlg-plan-3
Description: "A Mental Health Act status belongs on the plan's Mental Health Act activity"
Severity: #error
Expression: "activity.detail.where(extension.where(url = 'https://dialog-fhir.org/fhir/StructureDefinition/dialog-legal-status').exists()).all(code.coding.where(code = 'mental-health-act-status').exists())"

Profile: DialogCarePlan
Parent: CarePlan
Id: dialog-care-plan
Title: "The one DIALOG+ care plan"
Description: "One co-produced care and support plan per person that follows them between community, inpatient and crisis services: DIALOG+ goals and actions, key worker, review dates, safety plan, carers and what is shared with them, delivery preference, and the inpatient sections (Mental Health Act status, leave, visits, nursing observations) as activities."
* obeys dlg-plan-1 and dlg-plan-2 and dlg-plan-3
* extension contains
    DialogKeyWorker named keyWorker 0..1 and
    DialogReviewDue named reviewDue 0..* and
    DialogCarer named carer 0..* and
    DialogDeliveryPreference named deliveryPreference 0..1 and
    DialogResponsibleService named responsibleService 0..* and
    DialogHandoverOrigin named handoverOrigin 0..*
* identifier 1..*
* intent = #plan
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "The DIALOG care plan category; other systems may add their own"
* category contains dialogPlan 1..1
* category[dialogPlan] = $dialog-cs#dialog-care-plan
* subject only Reference(Patient)
* goal only Reference(Goal)
* activity.detail.code 1..1
* activity.detail.code from DialogPlanSectionsVS (required)
* activity.detail.extension contains DialogLegalStatus named legalStatus 0..1
* activity.extension contains DialogConflictingCopy named conflictingCopy 0..*
