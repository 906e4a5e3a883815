/**
 * The plan for the person (`CarePlan/{id}/$letter?format=html|pdf|sms`): `readPlanView` gathers
 * what the plan says from the store, through the caller's view (a carer sees only what the person
 * shares); `letterHtml`, `letterPdf` and `letterSms` write it for the person, in plain English and
 * the "you" voice, with the ratings chart from `src/charts`. Framework-free: the API only routes.
 */
export * from './plan-view';
export * from './letter-content';
export { letterHtml, letterDocumentHtml } from './letter-html';
export { letterPdf, letterDocumentPdf, pdfText, type PdfOptions } from './letter-pdf';
export { letterSms, MAX_SMS_SEGMENTS, type PlanSms, type SmsOptions } from './letter-sms';
export { isGsm7, smsLength, toGsmPunctuation, type SmsEncoding, type SmsLength } from './gsm';
