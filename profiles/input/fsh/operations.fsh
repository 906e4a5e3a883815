// The operations of the dialog-fhir server that the FHIR specification and SDC do not define: the
// CapabilityStatement the API serves at /fhir/metadata names these canonicals
// (src/api/capability-statement.ts). Routes: src/api/letter-routes.ts, transfer-routes.ts,
// fhir-routes.ts ($dialog-summary) and plan-sync-routes.ts.

RuleSet: Operation(id, name, title, code)
* url = "https://dialog-fhir.org/fhir/OperationDefinition/{id}"
* name = "{name}"
* title = "{title}"
* status = #draft
* kind = #operation
* code = #{code}

// A new parameter with a type, added to a list (parameter, or parameter[=].part): list, name,
// use, min, max, type, documentation.
RuleSet: Param(list, name, use, min, max, type, doc)
* {list}[+].name = #{name}
* {list}[=].use = #{use}
* {list}[=].min = {min}
* {list}[=].max = "{max}"
* {list}[=].type = #{type}
* {list}[=].documentation = "{doc}"

// A new parameter made of parts (no type of its own).
RuleSet: Group(list, name, use, min, max, doc)
* {list}[+].name = #{name}
* {list}[=].use = #{use}
* {list}[=].min = {min}
* {list}[=].max = "{max}"
* {list}[=].documentation = "{doc}"

Instance: CarePlan-letter
InstanceOf: OperationDefinition
Usage: #definition
* insert Operation(CarePlan-letter, DialogCarePlanLetter, The plan as a letter for the person, letter)
* description = "GET CarePlan/{id}/$letter: the plan in plain English for the person, read through the caller's view (a carer sees only what the person's Consent shares). The answer is the document itself, not a Parameters resource."
* affectsState = false
* resource[0] = #CarePlan
* system = false
* type = false
* instance = true
* insert Param(parameter, format, in, 0, 1, code, html (the default\)\, pdf\, or sms)
* insert Param(parameter, return, out, 1, 1, Binary, The letter as text/html or application/pdf; for sms\, text/plain of at most 3 SMS segments with a link to the full letter\, and the headers X-SMS-Segments and X-SMS-Encoding)

Instance: CarePlan-chart
InstanceOf: OperationDefinition
Usage: #definition
* insert Operation(CarePlan-chart, DialogCarePlanChart, The person's DIALOG ratings as a chart, chart)
* description = "GET CarePlan/{id}/$chart: the DIALOG ratings and paired changes of the plan's person over time as an SVG chart with its text alternative, read through the caller's view. The answer is the image itself, not a Parameters resource."
* affectsState = false
* resource[0] = #CarePlan
* system = false
* type = false
* instance = true
* insert Param(parameter, return, out, 1, 1, Binary, The chart as image/svg+xml)

Instance: Patient-transfer
InstanceOf: OperationDefinition
Usage: #definition
* insert Operation(Patient-transfer, DialogPatientTransfer, Hand the person's one plan over to a peer system, transfer)
* description = "POST Patient/{id}/$transfer: records the handover in the person's plan (responsibility passes; inpatient sections open or close; the next rating due) and writes a handover Task (code dialog-task#handover) in one transaction; the service then delivers the plan to the peer. Answered 202 Accepted with the Task, which ends completed or failed with a reason. Refused (422) where no peer systems are configured."
* affectsState = true
* resource[0] = #Patient
* system = false
* type = false
* instance = true
* insert Param(parameter, destination, in, 1, 1, string, The peer system's id in the peers file (PEERS_FILE\); a code or id value is accepted too)
* insert Param(parameter, reason, in, 1, 1, code, Why the plan is handed over)
* parameter[=].binding.strength = #required
* parameter[=].binding.valueSet = Canonical(DialogHandoverReasonVS)
* insert Param(parameter, return, out, 1, 1, Task, The handover Task\, requested; its delivery state is in the dialog-delivery extension)

Instance: Patient-dialog-summary
InstanceOf: OperationDefinition
Usage: #definition
* insert Operation(Patient-dialog-summary, DialogPatientSummary, A person's DIALOG ratings over time, dialog-summary)
* description = "GET Patient/{id}/$dialog-summary: what a clinician looks at before a session. One rating per completed session (oldest first), one change per paired-change Observation, and the timepoint due next, read through the caller's view. Due dates use the trust's zone (Europe/London)."
* affectsState = false
* resource[0] = #Patient
* system = false
* type = false
* instance = true
* insert Group(parameter, rating, out, 0, *, One completed DIALOG session)
* insert Param(parameter[=].part, response, out, 1, 1, Reference, The QuestionnaireResponse)
* insert Param(parameter[=].part, authored, out, 1, 1, dateTime, When it was rated)
* insert Param(parameter[=].part, timepoint, out, 0, 1, code, Its dialog-timepoints code)
* insert Param(parameter[=].part, setting, out, 0, 1, code, Its dialog-settings code)
* insert Group(parameter[=].part, score, out, 0, 11, One item rated)
* insert Param(parameter[=].part[=].part, item, out, 1, 1, Coding, The DIALOG item: its SNOMED CT code)
* insert Param(parameter[=].part[=].part, value, out, 1, 1, integer, The score: 1 totally dissatisfied to 7 totally satisfied)
* insert Param(parameter[=].part[=].part, helpWanted, out, 0, 1, boolean, Whether the person wants more help in this area: only when it was asked)
* insert Group(parameter[=].part, sqol, out, 0, 1, Subjective quality of life: the mean of the 8 life items)
* insert Param(parameter[=].part[=].part, value, out, 1, 1, decimal, The mean\, to 2 places)
* insert Param(parameter[=].part[=].part, complete, out, 1, 1, boolean, False when more than one item was missing)
* insert Group(parameter[=].part, ts, out, 0, 1, Treatment satisfaction: the mean of the 3 treatment items)
* insert Param(parameter[=].part[=].part, value, out, 1, 1, decimal, The mean\, to 2 places)
* insert Param(parameter[=].part[=].part, complete, out, 1, 1, boolean, False when more than one item was missing)
* insert Group(parameter, change, out, 0, *, One stored paired-change Observation)
* insert Param(parameter[=].part, observation, out, 1, 1, Reference, The Observation)
* insert Param(parameter[=].part, code, out, 0, 1, CodeableConcept, Its code)
* insert Param(parameter[=].part, effective, out, 0, 1, dateTime, Its effectiveDateTime\, when it has one)
* insert Param(parameter[=].part, value, out, 0, 1, Quantity, The change in score)
* insert Param(parameter[=].part, interpretation, out, 0, *, CodeableConcept, Whether the change is reliable: dialog-change-interpretation)
* insert Group(parameter, due, out, 1, 1, The DIALOG timepoint due next for the episode of the latest rating)
* insert Param(parameter[=].part, setting, out, 0, 1, code, The setting of the latest rating (dialog-settings\))
* insert Param(parameter[=].part, status, out, 1, 1, code, due (with dueBy\)\, due-at-next-meeting\, complete (nothing more is due in the episode\)\, or unknown (the episode cannot be told\))
* insert Param(parameter[=].part, timepoint, out, 0, 1, code, The timepoint due (dialog-timepoints\))
* insert Param(parameter[=].part, rule, out, 0, 1, code, The DIALOG timing rule that makes it due: within-48-hours\, by-second-meeting\, at-next-meeting\, every-28-days\, within-6-months or at-discharge)
* insert Param(parameter[=].part, overdue, out, 0, 1, boolean, Whether its deadline has passed)
* insert Param(parameter[=].part, dueBy, out, 0, 1, dateTime, When it is due by)
* insert Param(parameter[=].part, reason, out, 0, 1, string, With status unknown: why)

Instance: plan-sync-notification
InstanceOf: OperationDefinition
Usage: #definition
* insert Operation(plan-sync-notification, DialogPlanSyncNotification, A peer's notification that shared plans changed, plan-sync-notification)
* description = "POST $plan-sync-notification/{peer}: the rest-hook endpoint of the Subscription this system asks a peer for. The body is the notification as the peer sends it (a Bundle naming the changed CarePlans, a bare CarePlan, or nothing: a ping), not a Parameters resource. The plans it names are read from the peer and merged three ways into this system's copy (a ping polls the peer instead). The caller must be allowed to update CarePlans and not be confined to one patient. An unknown peer is 404."
* affectsState = true
* system = true
* type = false
* instance = false
* insert Param(parameter, resource, in, 0, 1, Resource, The notification: a Bundle or a CarePlan)
* insert Param(parameter, return, out, 1, 1, OperationOutcome, How many of the plans named were brought into this system's copy)
