import type { Request } from 'express';
import { isAuditedUiPath, requestShape } from '../../src/api/audit-trail';

const request = (method: string, baseUrl: string, path: string) =>
  ({ method, baseUrl, path }) as unknown as Request;

describe('what an AuditEvent says a request did', () => {
  it.each([
    ['GET', '/fhir', '/Patient/p1', { interaction: 'read', type: 'Patient', id: 'p1' }],
    ['GET', '/fhir', '/Patient', { interaction: 'search', type: 'Patient' }],
    ['GET', '/fhir', '/CarePlan/c/_history/2', { interaction: 'vread', type: 'CarePlan', id: 'c' }],
    ['PUT', '/fhir', '/Goal/g', { interaction: 'update', type: 'Goal', id: 'g' }],
    ['POST', '/fhir', '/', { interaction: 'transaction' }],
    ['GET', '/ui', '/patients/p1', { interaction: 'read', type: 'Patient', id: 'p1' }],
    ['POST', '/ui', '/patients/p1/session', { interaction: 'update', type: 'Patient', id: 'p1' }],
    ['POST', '/ui', '/tasks/t1/resolve', { interaction: 'update', type: 'Task', id: 't1' }],
    ['GET', '/ui', '/plans/c1/letter', { interaction: 'read', type: 'CarePlan', id: 'c1' }],
    ['GET', '/ui', '/', { interaction: 'search', type: 'Patient' }],
  ])('%s %s%s', (method, base, path, shape) => {
    expect(requestShape(request(method, base, path))).toEqual(shape);
  });

  it.each([
    [{ subject: 'Patient/p1' }, 'p1'],
    [{ patient: 'p1', _count: '5' }, 'p1'],
    [{ patient: 'Patient/p1', subject: 'Patient/p1' }, 'p1'],
    [{ subject: 'Patient/p1,Patient/p2' }, undefined],
    [{ patient: 'p1', subject: 'Patient/p2' }, undefined],
    [{ subject: 'Group/g1' }, undefined],
    [{ subject: ['Patient/p1', 'Patient/p2'] }, undefined],
    [{ status: 'completed' }, undefined],
    [{ patient: '9434765919' }, undefined],
  ])('a search with %j names the person %s', (query, patient) => {
    const req = { ...request('GET', '/fhir', '/Observation'), query } as unknown as Request;
    expect(requestShape(req)).toEqual({
      interaction: 'search',
      type: 'Observation',
      ...(patient ? { searched: patient } : {}),
    });
  });

  it('does not audit the clinician page’s sign-in and style sheet', () => {
    expect(isAuditedUiPath('/static/ui.css')).toBe(false);
    expect(isAuditedUiPath('/login')).toBe(false);
    expect(isAuditedUiPath('/patients/p1')).toBe(true);
  });
});
