/**
 * The HTTP façade, at this stage: health checks, the CapabilityStatement, and `$validate`.
 * Nothing here stores or returns patient data; the store, the REST API and authentication
 * arrive together (see README, "What is not there yet").
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { error, outcome, type Validator } from '../validation';

const FHIR_JSON = 'application/fhir+json';
/** Larger bodies are refused with 413 before they are read. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export function createApp(validator: Validator): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    res.json({
      status: 'ready',
      package: `${validator.package.name}#${validator.package.version}`,
    });
  });
  app.get('/fhir/metadata', (_req, res) => {
    sendFhir(res, 200, capabilityStatement(validator));
  });
  const body = express.text({ type: () => true, limit: BODY_LIMIT_BYTES });
  app.post(['/fhir/\\$validate', '/fhir/:type/\\$validate'], requireJson, body, (req, res) => {
    const result = validator.validateJson(typeof req.body === 'string' ? req.body : '');
    const expected = req.params.type;
    const actual = result.resource?.resourceType;
    if (expected && actual && expected !== actual) {
      sendFhir(
        res,
        400,
        outcome([
          error('invalid', `The body is a ${actual}, not a ${expected}`, `${actual}.resourceType`),
        ]),
      );
      return;
    }
    // $validate answers 200 with the outcome whether or not the resource is valid (FHIR R4).
    sendFhir(res, 200, result.outcome);
  });
  app.use((_req, res) => {
    sendFhir(res, 404, outcome([error('not-found', 'No such endpoint', 'Resource')]));
  });
  app.use(errorHandler);
  return app;
}

function requireJson(req: Request, res: Response, next: NextFunction): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
  if (type === FHIR_JSON || type === 'application/json') {
    next();
    return;
  }
  sendFhir(
    res,
    415,
    outcome([error('not-supported', 'Send FHIR JSON (application/fhir+json)', 'Resource')]),
  );
}

function errorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  void _next;
  const status = (err as { status?: number }).status;
  if (status === 413) {
    sendFhir(
      res,
      413,
      outcome([
        error('too-costly', `The body is larger than ${BODY_LIMIT_BYTES} bytes`, 'Resource'),
      ]),
    );
    return;
  }
  sendFhir(res, 500, outcome([error('exception', 'Internal error', 'Resource')]));
}

export function sendFhir(res: Response, status: number, resource: object): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(resource));
}

function capabilityStatement(validator: Validator): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: 'dialog-fhir', version: validator.package.version },
    implementationGuide: [
      `${validator.package.canonical}/ImplementationGuide/${validator.package.name}`,
    ],
    rest: [
      {
        mode: 'server',
        documentation:
          'This version validates resources ($validate) against the dialog-fhir package. It stores no data: read, search, create and update are not implemented yet.',
        operation: [
          {
            name: 'validate',
            definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
          },
        ],
      },
    ],
  };
}
