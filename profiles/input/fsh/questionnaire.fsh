// The DIALOG scale and the DIALOG+ session form, SDC style. Items in SNOMED order; linkIds are
// concepts, never positions. The score answers are codes 1-7 whose numeric value is their itemWeight.

RuleSet: ScaleOptions(i)
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#1 "totally dissatisfied"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 1
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#2 "very dissatisfied"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 2
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#3 "fairly dissatisfied"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 3
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#4 "in the middle"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 4
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#5 "fairly satisfied"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 5
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#6 "very satisfied"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 6
* item[1].item[{i}].item[0].answerOption[+].valueCoding = $scale-cs#7 "totally satisfied"
* item[1].item[{i}].item[0].answerOption[=].extension[0].url = $itemWeight
* item[1].item[{i}].item[0].answerOption[=].extension[0].valueDecimal = 7

Instance: dialog
InstanceOf: Questionnaire
Usage: #definition
Title: "DIALOG and DIALOG+ session"
Description: "The DIALOG scale (11 items rated 1-7, each with a 'more help' follow-up) and the DIALOG+ session: items chosen for discussion (at most 3), the four solution-focused steps per chosen item, and agreed actions. Saved in progress over several sittings. The SQoL and TS means are calculated; extracted Observations use sdc-questionnaire-observationExtract."
* url = "https://dialog-fhir.org/fhir/Questionnaire/dialog"
* version = "0.1.0"
* name = "DIALOG"
* title = "DIALOG and DIALOG+ session"
* status = #active
* subjectType = #Patient
* item[0].linkId = "previous-actions"
* item[0].text = "Actions agreed last time: how did they go?"
* item[0].type = #group
* item[0].item[0].linkId = "previous-action"
* item[0].item[0].type = #group
* item[0].item[0].repeats = true
* item[0].item[0].item[0].linkId = "previous-action.what"
* item[0].item[0].item[0].text = "Action agreed last time"
* item[0].item[0].item[0].type = #string
* item[0].item[0].item[0].readOnly = true
* item[0].item[0].item[1].linkId = "previous-action.status"
* item[0].item[0].item[1].text = "How did it go?"
* item[0].item[0].item[1].type = #choice
* item[0].item[0].item[1].answerOption[+].valueString = "done"
* item[0].item[0].item[1].answerOption[+].valueString = "partly done"
* item[0].item[0].item[1].answerOption[+].valueString = "not done"
* item[1].linkId = "ratings"
* item[1].text = "How satisfied are you with …"
* item[1].type = #group
* item[1].item[0].linkId = "mental-health"
* item[1].item[0].text = "Mental health"
* item[1].item[0].type = #group
* item[1].item[0].item[0].linkId = "mental-health.score"
* item[1].item[0].item[0].code = $sct#1037651000000100
* item[1].item[0].item[0].text = "How satisfied are you with your mental health?"
* item[1].item[0].item[0].type = #choice
* item[1].item[0].item[0].extension[0].url = $obsExtract
* item[1].item[0].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(0)
* item[1].item[0].item[1].linkId = "mental-health.help"
* item[1].item[0].item[1].code = $dialog-cs#help-mental-health
* item[1].item[0].item[1].text = "Do you need more help in this area?"
* item[1].item[0].item[1].type = #boolean
* item[1].item[0].item[1].extension[0].url = $obsExtract
* item[1].item[0].item[1].extension[0].valueBoolean = true
* item[1].item[1].linkId = "physical-health"
* item[1].item[1].text = "Physical health"
* item[1].item[1].type = #group
* item[1].item[1].item[0].linkId = "physical-health.score"
* item[1].item[1].item[0].code = $sct#1037661000000102
* item[1].item[1].item[0].text = "How satisfied are you with your physical health?"
* item[1].item[1].item[0].type = #choice
* item[1].item[1].item[0].extension[0].url = $obsExtract
* item[1].item[1].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(1)
* item[1].item[1].item[1].linkId = "physical-health.help"
* item[1].item[1].item[1].code = $dialog-cs#help-physical-health
* item[1].item[1].item[1].text = "Do you need more help in this area?"
* item[1].item[1].item[1].type = #boolean
* item[1].item[1].item[1].extension[0].url = $obsExtract
* item[1].item[1].item[1].extension[0].valueBoolean = true
* item[1].item[2].linkId = "job-situation"
* item[1].item[2].text = "Job situation"
* item[1].item[2].type = #group
* item[1].item[2].item[0].linkId = "job-situation.score"
* item[1].item[2].item[0].code = $sct#1037671000000109
* item[1].item[2].item[0].text = "How satisfied are you with your job situation?"
* item[1].item[2].item[0].type = #choice
* item[1].item[2].item[0].extension[0].url = $obsExtract
* item[1].item[2].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(2)
* item[1].item[2].item[1].linkId = "job-situation.help"
* item[1].item[2].item[1].code = $dialog-cs#help-job-situation
* item[1].item[2].item[1].text = "Do you need more help in this area?"
* item[1].item[2].item[1].type = #boolean
* item[1].item[2].item[1].extension[0].url = $obsExtract
* item[1].item[2].item[1].extension[0].valueBoolean = true
* item[1].item[3].linkId = "accommodation"
* item[1].item[3].text = "Accommodation"
* item[1].item[3].type = #group
* item[1].item[3].item[0].linkId = "accommodation.score"
* item[1].item[3].item[0].code = $sct#1037681000000106
* item[1].item[3].item[0].text = "How satisfied are you with your accommodation?"
* item[1].item[3].item[0].type = #choice
* item[1].item[3].item[0].extension[0].url = $obsExtract
* item[1].item[3].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(3)
* item[1].item[3].item[1].linkId = "accommodation.help"
* item[1].item[3].item[1].code = $dialog-cs#help-accommodation
* item[1].item[3].item[1].text = "Do you need more help in this area?"
* item[1].item[3].item[1].type = #boolean
* item[1].item[3].item[1].extension[0].url = $obsExtract
* item[1].item[3].item[1].extension[0].valueBoolean = true
* item[1].item[4].linkId = "leisure-activities"
* item[1].item[4].text = "Leisure activities"
* item[1].item[4].type = #group
* item[1].item[4].item[0].linkId = "leisure-activities.score"
* item[1].item[4].item[0].code = $sct#1037691000000108
* item[1].item[4].item[0].text = "How satisfied are you with your leisure activities?"
* item[1].item[4].item[0].type = #choice
* item[1].item[4].item[0].extension[0].url = $obsExtract
* item[1].item[4].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(4)
* item[1].item[4].item[1].linkId = "leisure-activities.help"
* item[1].item[4].item[1].code = $dialog-cs#help-leisure-activities
* item[1].item[4].item[1].text = "Do you need more help in this area?"
* item[1].item[4].item[1].type = #boolean
* item[1].item[4].item[1].extension[0].url = $obsExtract
* item[1].item[4].item[1].extension[0].valueBoolean = true
* item[1].item[5].linkId = "friendships"
* item[1].item[5].text = "Friendships"
* item[1].item[5].type = #group
* item[1].item[5].item[0].linkId = "friendships.score"
* item[1].item[5].item[0].code = $sct#1037701000000108
* item[1].item[5].item[0].text = "How satisfied are you with your friendships?"
* item[1].item[5].item[0].type = #choice
* item[1].item[5].item[0].extension[0].url = $obsExtract
* item[1].item[5].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(5)
* item[1].item[5].item[1].linkId = "friendships.help"
* item[1].item[5].item[1].code = $dialog-cs#help-friendships
* item[1].item[5].item[1].text = "Do you need more help in this area?"
* item[1].item[5].item[1].type = #boolean
* item[1].item[5].item[1].extension[0].url = $obsExtract
* item[1].item[5].item[1].extension[0].valueBoolean = true
* item[1].item[6].linkId = "partner-family"
* item[1].item[6].text = "Relationship with partner/family"
* item[1].item[6].type = #group
* item[1].item[6].item[0].linkId = "partner-family.score"
* item[1].item[6].item[0].code = $sct#1037711000000105
* item[1].item[6].item[0].text = "How satisfied are you with your relationship with your partner/family?"
* item[1].item[6].item[0].type = #choice
* item[1].item[6].item[0].extension[0].url = $obsExtract
* item[1].item[6].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(6)
* item[1].item[6].item[1].linkId = "partner-family.help"
* item[1].item[6].item[1].code = $dialog-cs#help-partner-family
* item[1].item[6].item[1].text = "Do you need more help in this area?"
* item[1].item[6].item[1].type = #boolean
* item[1].item[6].item[1].extension[0].url = $obsExtract
* item[1].item[6].item[1].extension[0].valueBoolean = true
* item[1].item[7].linkId = "personal-safety"
* item[1].item[7].text = "Personal safety"
* item[1].item[7].type = #group
* item[1].item[7].item[0].linkId = "personal-safety.score"
* item[1].item[7].item[0].code = $sct#1037721000000104
* item[1].item[7].item[0].text = "How satisfied are you with your personal safety?"
* item[1].item[7].item[0].type = #choice
* item[1].item[7].item[0].extension[0].url = $obsExtract
* item[1].item[7].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(7)
* item[1].item[7].item[1].linkId = "personal-safety.help"
* item[1].item[7].item[1].code = $dialog-cs#help-personal-safety
* item[1].item[7].item[1].text = "Do you need more help in this area?"
* item[1].item[7].item[1].type = #boolean
* item[1].item[7].item[1].extension[0].url = $obsExtract
* item[1].item[7].item[1].extension[0].valueBoolean = true
* item[1].item[8].linkId = "medication"
* item[1].item[8].text = "Medication"
* item[1].item[8].type = #group
* item[1].item[8].item[0].linkId = "medication.score"
* item[1].item[8].item[0].code = $sct#1037731000000102
* item[1].item[8].item[0].text = "How satisfied are you with your medication?"
* item[1].item[8].item[0].type = #choice
* item[1].item[8].item[0].extension[0].url = $obsExtract
* item[1].item[8].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(8)
* item[1].item[8].item[1].linkId = "medication.help"
* item[1].item[8].item[1].code = $dialog-cs#help-medication
* item[1].item[8].item[1].text = "Do you need more help in this area?"
* item[1].item[8].item[1].type = #boolean
* item[1].item[8].item[1].extension[0].url = $obsExtract
* item[1].item[8].item[1].extension[0].valueBoolean = true
* item[1].item[9].linkId = "practical-help"
* item[1].item[9].text = "Practical help received"
* item[1].item[9].type = #group
* item[1].item[9].item[0].linkId = "practical-help.score"
* item[1].item[9].item[0].code = $sct#1037741000000106
* item[1].item[9].item[0].text = "How satisfied are you with the practical help you receive?"
* item[1].item[9].item[0].type = #choice
* item[1].item[9].item[0].extension[0].url = $obsExtract
* item[1].item[9].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(9)
* item[1].item[9].item[1].linkId = "practical-help.help"
* item[1].item[9].item[1].code = $dialog-cs#help-practical-help
* item[1].item[9].item[1].text = "Do you need more help in this area?"
* item[1].item[9].item[1].type = #boolean
* item[1].item[9].item[1].extension[0].url = $obsExtract
* item[1].item[9].item[1].extension[0].valueBoolean = true
* item[1].item[10].linkId = "meetings"
* item[1].item[10].text = "Meetings (consultations) with mental health professionals"
* item[1].item[10].type = #group
* item[1].item[10].item[0].linkId = "meetings.score"
* item[1].item[10].item[0].code = $sct#1037751000000109
* item[1].item[10].item[0].text = "How satisfied are you with your meetings with mental health professionals?"
* item[1].item[10].item[0].type = #choice
* item[1].item[10].item[0].extension[0].url = $obsExtract
* item[1].item[10].item[0].extension[0].valueBoolean = true
* insert ScaleOptions(10)
* item[1].item[10].item[1].linkId = "meetings.help"
* item[1].item[10].item[1].code = $dialog-cs#help-meetings
* item[1].item[10].item[1].text = "Do you need more help in this area?"
* item[1].item[10].item[1].type = #boolean
* item[1].item[10].item[1].extension[0].url = $obsExtract
* item[1].item[10].item[1].extension[0].valueBoolean = true
* item[1].item[11].linkId = "sqol-mean"
* item[1].item[11].code = $dialog-cs#sqol-mean
* item[1].item[11].text = "Subjective quality of life (mean of the 8 life items)"
* item[1].item[11].type = #decimal
* item[1].item[11].readOnly = true
* item[1].item[11].extension[0].url = $calculated
* item[1].item[11].extension[0].valueExpression.language = #text/fhirpath
* item[1].item[11].extension[0].valueExpression.expression = "%resource.repeat(item).where(linkId in ('mental-health.score' | 'physical-health.score' | 'job-situation.score' | 'accommodation.score' | 'leisure-activities.score' | 'friendships.score' | 'partner-family.score' | 'personal-safety.score')).answer.value.select(code.toInteger()).aggregate($total + $this, 0) / %resource.repeat(item).where(linkId in ('mental-health.score' | 'physical-health.score' | 'job-situation.score' | 'accommodation.score' | 'leisure-activities.score' | 'friendships.score' | 'partner-family.score' | 'personal-safety.score')).answer.count()"
* item[1].item[12].linkId = "ts-mean"
* item[1].item[12].code = $dialog-cs#ts-mean
* item[1].item[12].text = "Treatment satisfaction (mean of the 3 treatment items)"
* item[1].item[12].type = #decimal
* item[1].item[12].readOnly = true
* item[1].item[12].extension[0].url = $calculated
* item[1].item[12].extension[0].valueExpression.language = #text/fhirpath
* item[1].item[12].extension[0].valueExpression.expression = "%resource.repeat(item).where(linkId in ('medication.score' | 'practical-help.score' | 'meetings.score')).answer.value.select(code.toInteger()).aggregate($total + $this, 0) / %resource.repeat(item).where(linkId in ('medication.score' | 'practical-help.score' | 'meetings.score')).answer.count()"
* item[2].linkId = "discussion"
* item[2].text = "What would you like to talk about?"
* item[2].type = #group
* item[2].item[0].linkId = "chosen-items"
* item[2].item[0].code = $dialog-cs#chosen-for-discussion
* item[2].item[0].text = "Choose up to three areas to discuss today"
* item[2].item[0].type = #choice
* item[2].item[0].repeats = true
* item[2].item[0].answerValueSet = Canonical(DialogItems)
* item[2].item[0].extension[0].url = $maxOccurs
* item[2].item[0].extension[0].valueInteger = 3
* item[2].item[1].linkId = "discussed-item"
* item[2].item[1].text = "Discussing one area"
* item[2].item[1].type = #group
* item[2].item[1].repeats = true
* item[2].item[1].extension[0].url = $maxOccurs
* item[2].item[1].extension[0].valueInteger = 3
* item[2].item[1].item[0].linkId = "discussed-item.concept"
* item[2].item[1].item[0].text = "Area"
* item[2].item[1].item[0].type = #choice
* item[2].item[1].item[0].required = true
* item[2].item[1].item[0].answerValueSet = Canonical(DialogItems)
* item[2].item[1].item[1].linkId = "discussed-item.understanding"
* item[2].item[1].item[1].code = $steps-cs#understanding
* item[2].item[1].item[1].text = "Understanding: what is going well, and why are you dissatisfied?"
* item[2].item[1].item[1].type = #text
* item[2].item[1].item[2].linkId = "discussed-item.looking-forward"
* item[2].item[1].item[2].code = $steps-cs#looking-forward
* item[2].item[1].item[2].text = "Looking forward: what would the best case be, and the smallest step towards it?"
* item[2].item[1].item[2].type = #text
* item[2].item[1].item[3].linkId = "discussed-item.exploring-options"
* item[2].item[1].item[3].code = $steps-cs#exploring-options
* item[2].item[1].item[3].text = "Exploring options: what could you, your clinician and others do?"
* item[2].item[1].item[3].type = #text
* item[2].item[1].item[4].linkId = "discussed-item.action"
* item[2].item[1].item[4].code = $steps-cs#agreeing-actions
* item[2].item[1].item[4].text = "Agreeing actions: what will be done, by whom, by when?"
* item[2].item[1].item[4].type = #group
* item[2].item[1].item[4].repeats = true
* item[2].item[1].item[4].item[0].linkId = "discussed-item.action.what"
* item[2].item[1].item[4].item[0].text = "What will be done"
* item[2].item[1].item[4].item[0].type = #string
* item[2].item[1].item[4].item[0].required = true
* item[2].item[1].item[4].item[1].linkId = "discussed-item.action.who"
* item[2].item[1].item[4].item[1].text = "Who will do it"
* item[2].item[1].item[4].item[1].type = #string
* item[2].item[1].item[4].item[2].linkId = "discussed-item.action.by-when"
* item[2].item[1].item[4].item[2].text = "By when"
* item[2].item[1].item[4].item[2].type = #date
* item[3].linkId = "not-rated"
* item[3].text = "DIALOG was not rated at this timepoint"
* item[3].type = #group
* item[3].item[0].linkId = "not-rated.reason"
* item[3].item[0].text = "Why was it not rated?"
* item[3].item[0].type = #choice
* item[3].item[0].required = true
* item[3].item[0].answerValueSet = Canonical(DialogNotRatedReasonsVS)
* item[3].item[1].linkId = "not-rated.note"
* item[3].item[1].text = "Note (for example, when understanding will be checked again)"
* item[3].item[1].type = #text
