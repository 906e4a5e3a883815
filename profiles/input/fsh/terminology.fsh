// Codes SNOMED CT lacks (DIALOG.md: no SNOMED or LOINC codes exist for the two means or for
// "more help"), and the project's own vocabularies for timepoints, settings and plan sections.

CodeSystem: DialogCodes
Id: dialog
Title: "DIALOG measures"
Description: "Measures derived from DIALOG ratings for which SNOMED CT has no code: the two mean scores, paired change, and the 'more help' follow-up per item."
* ^caseSensitive = true
* ^content = #complete
* ^hierarchyMeaning = #is-a
* #sqol-mean "Subjective quality of life (DIALOG mean of the 8 life items)"
* #ts-mean "Treatment satisfaction (DIALOG mean of the 3 treatment items)"
* #paired-change "Change between paired DIALOG ratings"
* #baseline-score "Baseline score of a paired DIALOG rating"
* #follow-up-score "Follow-up score of a paired DIALOG rating"
* #items-used "Number of DIALOG items a mean was computed from"
* #chosen-for-discussion "DIALOG item chosen for discussion"
* #dialog-care-plan "DIALOG+ care and support plan (the one plan that follows the person)"
* #help-wanted "Does the person want more help in this area?"
  * #help-mental-health "More help wanted with mental health"
  * #help-physical-health "More help wanted with physical health"
  * #help-job-situation "More help wanted with job situation"
  * #help-accommodation "More help wanted with accommodation"
  * #help-leisure-activities "More help wanted with leisure activities"
  * #help-friendships "More help wanted with friendships"
  * #help-partner-family "More help wanted with relationship with partner/family"
  * #help-personal-safety "More help wanted with personal safety"
  * #help-medication "More help wanted with medication"
  * #help-practical-help "More help wanted with practical help received"
  * #help-meetings "More help wanted with meetings with mental health professionals"

CodeSystem: DialogScale
Id: dialog-scale
Title: "DIALOG satisfaction scale"
Description: "The 7-point DIALOG satisfaction scale. Each code is the score itself; the Questionnaire also carries it as the answer's itemWeight."
* ^caseSensitive = true
* ^content = #complete
* #1 "totally dissatisfied"
* #2 "very dissatisfied"
* #3 "fairly dissatisfied"
* #4 "in the middle"
* #5 "fairly satisfied"
* #6 "very satisfied"
* #7 "totally satisfied"

CodeSystem: DialogPlusSteps
Id: dialog-plus-steps
Title: "DIALOG+ solution-focused steps"
Description: "The four steps discussed for each item the person chooses."
* ^caseSensitive = true
* ^content = #complete
* #understanding "Understanding" "What is going well, and why the person is dissatisfied."
* #looking-forward "Looking forward" "The best case, and the smallest step towards it."
* #exploring-options "Exploring options" "What the person, the clinician and others can do."
* #agreeing-actions "Agreeing actions" "What is done and by whom; reviewed at the next meeting."

CodeSystem: DialogTimepoints
Id: dialog-timepoints
Title: "DIALOG timepoints"
Description: "When a DIALOG rating is made within an episode of care."
* ^caseSensitive = true
* ^content = #complete
* #episode-start "Episode start" "Within 48 hours for acute treatment; first or second meeting in community services."
* #review "Review" "Every 4 weeks for inpatient and crisis care; at most 6 months apart in community services."
* #episode-end "Episode end" "At discharge from a team, service or provider."

CodeSystem: DialogSettings
Id: dialog-settings
Title: "Care settings"
Description: "The settings one care plan follows the person between."
* ^caseSensitive = true
* ^content = #complete
* #community "Community mental health service"
* #inpatient "Inpatient mental health service"
* #crisis "Crisis service"

CodeSystem: DialogNotRatedReasons
Id: dialog-not-rated-reasons
Title: "Reasons DIALOG was not rated"
Description: "Why a DIALOG rating was not made at a timepoint. A check of understanding, not a capacity assessment; a carer never rates on the person's behalf."
* ^caseSensitive = true
* ^content = #complete
* #could-not-understand "Could not understand the questions at that time"
* #declined "Declined to rate"
* #too-unwell "Too unwell to rate at that time"
* #other "Other reason"

CodeSystem: DialogChangeInterpretation
Id: dialog-change-interpretation
Title: "Reliable change in DIALOG scores"
Description: "NHS England community mental health PROMs rule: change of +1 or more is reliable improvement, -1 or less is reliable deterioration."
* ^caseSensitive = true
* ^content = #complete
* #reliable-improvement "Reliable improvement"
* #reliable-deterioration "Reliable deterioration"
* #no-reliable-change "No reliable change"

CodeSystem: DialogPlanSections
Id: dialog-plan-sections
Title: "Sections of the one DIALOG care plan"
Description: "Kinds of CarePlan activity in the one plan, including the inpatient sections."
* ^caseSensitive = true
* ^content = #complete
* #agreed-action "Action agreed in a DIALOG+ session"
* #safety-plan "Safety plan (within the personal safety domain)"
* #mental-health-act-status "Mental Health Act 1983 status"
* #mental-capacity "Mental Capacity Act 2005 considerations"
* #leave "Leave arrangements"
* #visits "Visit arrangements"
* #nursing-observations "Nursing observations"

CodeSystem: MentalHealthActStatus
Id: mental-health-act-status
Title: "Mental Health Act 1983 status"
Description: "Legal status of a person receiving inpatient care."
* ^caseSensitive = true
* ^content = #complete
* #informal "Informal (voluntary)"
* #section-2 "Section 2 (assessment)"
* #section-3 "Section 3 (treatment)"
* #section-4 "Section 4 (emergency)"
* #section-5-2 "Section 5(2) (doctor's holding power)"
* #section-5-4 "Section 5(4) (nurse's holding power)"
* #section-35 "Section 35"
* #section-36 "Section 36"
* #section-37 "Section 37"
* #section-37-41 "Section 37/41"
* #section-135 "Section 135"
* #section-136 "Section 136"
* #cto "Community treatment order (section 17A)"
* #other "Other legal status"

CodeSystem: DialogDeliveryChannels
Id: dialog-delivery-channels
Title: "How the person wants to receive their plan"
Description: "Delivery to the person by SMS, email or printed letter, whichever they choose."
* ^caseSensitive = true
* ^content = #complete
* #sms "SMS"
* #email "Email"
* #letter "Printed letter"

ValueSet: DialogItems
Id: dialog-items
Title: "DIALOG items"
Description: "The 11 DIALOG items, as the SNOMED CT UK extension codes MHSDS uses."
* $sct#1037651000000100 "DIALOG patient rated outcome measure item 1 score - how satisfied are you with mental health"
* $sct#1037661000000102 "DIALOG patient rated outcome measure item 2 score - how satisfied are you with physical health"
* $sct#1037671000000109 "DIALOG patient rated outcome measure item 3 score - how satisfied are you with job situation"
* $sct#1037681000000106 "DIALOG patient rated outcome measure item 4 score - how satisfied are you with accommodation"
* $sct#1037691000000108 "DIALOG patient rated outcome measure item 5 score - how satisfied are you with leisure activities"
* $sct#1037701000000108 "DIALOG patient rated outcome measure item 6 score - how satisfied are you with friendships"
* $sct#1037711000000105 "DIALOG patient rated outcome measure item 7 score - how satisfied are you with relationship with partner/family"
* $sct#1037721000000104 "DIALOG patient rated outcome measure item 8 score - how satisfied are you with personal safety"
* $sct#1037731000000102 "DIALOG patient rated outcome measure item 9 score - how satisfied are you with medication"
* $sct#1037741000000106 "DIALOG patient rated outcome measure item 10 score - how satisfied are you with practical help received"
* $sct#1037751000000109 "DIALOG patient rated outcome measure item 11 score - how satisfied are you with meetings (consultations) with mental health professionals"

ValueSet: DialogMeans
Id: dialog-means
Title: "DIALOG mean scores"
Description: "Subjective quality of life and treatment satisfaction."
* $dialog-cs#sqol-mean
* $dialog-cs#ts-mean

ValueSet: DialogMeasures
Id: dialog-measures
Title: "DIALOG measures that can change"
Description: "What a paired change is computed for: an item score or one of the two means."
* include codes from valueset DialogItems
* include codes from valueset DialogMeans

ValueSet: DialogHelpWantedVS
Id: dialog-help-wanted
Title: "DIALOG 'more help' questions"
Description: "One code per item for the follow-up 'Do you need more help in this area?'"
* include codes from system $dialog-cs where concept descendent-of #help-wanted

ValueSet: DialogScaleAnswers
Id: dialog-scale-answers
Title: "DIALOG scale answers"
Description: "The seven answers of the DIALOG satisfaction scale."
* include codes from system $scale-cs

ValueSet: DialogPlusStepsVS
Id: dialog-plus-steps
Title: "DIALOG+ steps"
Description: "The four DIALOG+ steps."
* include codes from system $steps-cs

ValueSet: DialogTimepointsVS
Id: dialog-timepoints
Title: "DIALOG timepoints"
Description: "Episode start, review, episode end."
* include codes from system $timepoint-cs

ValueSet: DialogSettingsVS
Id: dialog-settings
Title: "Care settings"
Description: "Community, inpatient, crisis."
* include codes from system $setting-cs

ValueSet: DialogNotRatedReasonsVS
Id: dialog-not-rated-reasons
Title: "Reasons DIALOG was not rated"
Description: "Why a rating was not made."
* include codes from system $not-rated-cs

ValueSet: DialogChangeInterpretationVS
Id: dialog-change-interpretation
Title: "Reliable change"
Description: "Reliable improvement, reliable deterioration, no reliable change."
* include codes from system $change-cs

ValueSet: DialogPlanSectionsVS
Id: dialog-plan-sections
Title: "Plan sections"
Description: "Kinds of activity in the one DIALOG care plan."
* include codes from system $section-cs

ValueSet: MentalHealthActStatusVS
Id: mental-health-act-status
Title: "Mental Health Act status"
Description: "Legal status under the Mental Health Act 1983."
* include codes from system $mha-cs

ValueSet: DialogDeliveryChannelsVS
Id: dialog-delivery-channels
Title: "Plan delivery channels"
Description: "SMS, email or printed letter."
* include codes from system $delivery-cs

CodeSystem: DialogTask
Id: dialog-task
Title: "dialog-fhir tasks"
Description: "What a Task the service writes asks for (its Task.code): the service's outbox entries and the work it leaves to a clinician."
* ^caseSensitive = true
* ^content = #complete
* #handover "Hand the care plan over" "Deliver the one plan, and what moves with it, to the peer system that takes responsibility (the Task is the outbox entry; its delivery state is in dialog-delivery)."
* #send-plan "Send the care plan after discharge" "Send the plan to one recipient named in it within 24 hours of discharge (restriction.recipient; delivery state in dialog-delivery)."
* #resolve-plan-conflict "Resolve a conflicting change to the care plan" "Both systems changed the same part of the plan, or of a Goal, carer or consent beside it, differently since they last agreed: a clinician chooses. The focus is the resource; both versions are in the Task."
* #review-sync-refusal "Review a plan update from another system that was not taken" "Plan sync did not take a peer's change to the plan: what the peer sent does not pass this system's checks. The faults are named (FHIRPath and issue code, never the values); the two copies differ until the cause is found with the peer. The focus is this system's plan, unchanged."

CodeSystem: DialogHandoverReason
Id: dialog-handover-reason
Title: "Reasons for a handover"
Description: "Why a handover Task hands the plan to another system (its Task.reasonCode)."
* ^caseSensitive = true
* ^content = #complete
* #admission "Admission" "Admission to inpatient or crisis care."
* #discharge "Discharge" "Discharge from inpatient or crisis care back to community care."
* #transfer "Transfer" "Another move of responsibility for the plan between services."

ValueSet: DialogHandoverReasonVS
Id: dialog-handover-reason
Title: "Reasons for a handover"
Description: "The reasons $transfer takes and a handover Task records."
* include codes from system DialogHandoverReason
