/**
 * `/native/{format}`: import (POST, the format's own text) and export (GET `?patient=`). The body
 * limit is larger than /fhir's (a month of a team's DIALOG+ exports is a few MB); the media type
 * must be the format's, or text/plain.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { FhirService } from '../service/fhir-service';
import type { Transfers } from '../transfer/handover';
import { exportNative, formatOf, importNative, NATIVE_MEDIA_TYPES } from '../service/native';
import { fault } from '../service/outcomes';
import { mediaType, rawText } from './body';
import { accessOf } from './fhir-routes';
import { sendFhir } from './http';

export const NATIVE_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

const ACCEPTED_TYPES: Readonly<Record<string, readonly string[]>> = {
  'dialogplus-csv': ['text/csv', 'text/plain'],
  'mhsds-csv': ['text/csv', 'text/plain'],
  hl7v2: ['x-application/hl7-v2+er7', 'application/hl7-v2', 'text/plain'],
  fhir: [
    'application/fhir+json',
    'application/json',
    'application/fhir+ndjson',
    'application/x-ndjson',
    'application/ndjson',
  ],
};

function checkMediaType(req: Request, _res: Response, next: NextFunction): void {
  const format = formatOf(String((req.params as { format?: string }).format));
  const allowed = ACCEPTED_TYPES[format] ?? [];
  if (allowed.includes(mediaType(req))) next();
  else next(fault(415, 'not-supported', `Send ${format} as ${allowed.join(' or ')}`, 'format'));
}

export function nativeRoutes(service: FhirService, transfers?: Transfers): Router {
  const router = Router();
  router.post('/:format', checkMediaType, rawText(NATIVE_BODY_LIMIT_BYTES), (req, res, next) => {
    const format = formatOf(String(req.params.format));
    const text = typeof req.body === 'string' ? req.body : '';
    if (text.trim() === '') {
      next(fault(400, 'required', 'The body is empty: there is nothing to import', 'format'));
      return;
    }
    const patient = typeof req.query.patient === 'string' ? req.query.patient : undefined;
    importNative(service, accessOf(res), format, text, patient, transfers).then((result) => {
      // Nothing kept and something wrong (records refused, a header that is not the format's):
      // 422; otherwise 200 with each record's outcome (a file of no records is not a fault).
      sendFhir(res, result.failed ? 422 : 200, result.bundle);
    }, next);
  });
  router.get('/:format', (req, res, next) => {
    const format = formatOf(String(req.params.format));
    const patient = typeof req.query.patient === 'string' ? req.query.patient : undefined;
    if (!patient) {
      next(fault(400, 'required', 'Name the person: ?patient=<id>', 'patient'));
      return;
    }
    exportNative(service, accessOf(res), format, patient).then(({ text, leftOut }) => {
      // How many responses the format could not hold (in-progress ones in MHSDS, say).
      res.setHeader('X-Records-Left-Out', String(leftOut));
      res.status(200).type(NATIVE_MEDIA_TYPES[format]).send(text);
    }, next);
  });
  return router;
}
