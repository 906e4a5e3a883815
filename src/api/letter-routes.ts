/**
 * The plan for people, served from the same data as the API:
 * - `GET /fhir/CarePlan/{id}/$letter?format=html|pdf|sms` — the plain-English letter (HTML or
 *   PDF), or the SMS version (text, at most 3 segments, with a link to the full letter);
 * - `GET /fhir/CarePlan/{id}/$chart` — the ratings chart as SVG (with its text alternative).
 * Both read through the caller's view (`readableView`): only types its scopes let it read, and a
 * carer sees only what the person's Consent shares.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { scoresChartSvg } from '../charts';
import { letterHtml, letterPdf, letterSms, readPlanView, type PlanView } from '../letter';
import { readableView, type Access } from '../service/access';
import type { FhirService } from '../service/fhir-service';
import { fault } from '../service/outcomes';
import { accessOf } from './fhir-routes';
import { fhirBase } from './http';

const FORMATS = ['html', 'pdf', 'sms'] as const;
type LetterFormat = (typeof FORMATS)[number];

async function viewOf(service: FhirService, access: Access, id: string): Promise<PlanView> {
  // The read checks scopes, patient context and consent, and 404s or 403s as a read would.
  await service.read(access, 'CarePlan', id);
  return readPlanView(service.deps.store, id, { viewer: readableView(access) });
}

function formatOf(req: Request): LetterFormat {
  const format = typeof req.query.format === 'string' ? req.query.format : 'html';
  if ((FORMATS as readonly string[]).includes(format)) return format as LetterFormat;
  throw fault(400, 'value', 'format is html, pdf or sms', 'format');
}

/** The routes under `/fhir/CarePlan` (where createApp mounts them). */
export function letterRoutes(service: FhirService): Router {
  const router = Router();
  router.get('/:id/\\$letter', (req: Request, res: Response, next: NextFunction) => {
    const send = async (): Promise<void> => {
      const format = formatOf(req);
      const id = String(req.params.id);
      const view = await viewOf(service, accessOf(res), id);
      res.locals.sentResource = view.carePlan;
      if (format === 'html') {
        res.status(200).type('text/html; charset=utf-8').send(letterHtml(view));
      } else if (format === 'pdf') {
        res
          .status(200)
          .type('application/pdf')
          .send(await letterPdf(view));
      } else {
        const sms = letterSms(view, {
          planUrl: `${fhirBase(req)}/CarePlan/${id}/$letter?format=html`,
        });
        res.setHeader('X-SMS-Segments', String(sms.segments));
        res.setHeader('X-SMS-Encoding', sms.encoding);
        res.status(200).type('text/plain; charset=utf-8').send(sms.text);
      }
    };
    send().catch(next);
  });
  router.get('/:id/\\$chart', (req: Request, res: Response, next: NextFunction) => {
    viewOf(service, accessOf(res), String(req.params.id)).then((view) => {
      res.locals.sentResource = view.carePlan;
      res
        .status(200)
        .type('image/svg+xml')
        .send(scoresChartSvg({ ratings: view.ratings, changes: view.changes }));
    }, next);
  });
  return router;
}
