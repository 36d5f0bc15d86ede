import { describe, expect, it } from 'vitest';
import { loadContract } from '../../../src/core/contract.js';
import { DomainError } from '../../../src/http/errors.js';
import { createOperationRouter } from '../../../src/http/operation-router.js';
import { routeRequest } from '../../../src/http/pipeline/route.js';
import { fakeResponse } from './fakes.js';

const router = createOperationRouter(loadContract(), '/api/v1');
const route = (method: string, path: string) => {
  const out = fakeResponse();
  try {
    return { match: routeRequest(router, { method, path }, out.res), headers: out.headers };
  } catch (err) {
    return { error: err as DomainError, headers: out.headers };
  }
};

describe('pipeline step: route', () => {
  it('a literal path beats a template of the same shape', () => {
    expect(route('POST', '/api/v1/notifications/read-all').match).toMatchObject({ operationId: 'markAllNotificationsRead', params: {} });
    expect(route('DELETE', '/api/v1/notifications/push-subscription').match?.params).toEqual({});
    expect(route('DELETE', '/api/v1/notifications/abc').match?.params).toEqual({ notification_id: 'abc' });
  });

  it('decodes path parameters, and keeps a malformed escape for validation to refuse', () => {
    expect(route('GET', '/api/v1/tasks/a%20b').match?.params).toEqual({ task_id: 'a b' });
    expect(route('GET', '/api/v1/tasks/%E0%A4%A').match?.params).toEqual({ task_id: '%E0%A4%A' });
  });

  it('ignores trailing slashes', () => {
    expect(route('GET', '/api/v1/tasks/').match?.operationId).toBe('listTasks');
    expect(route('GET', '/api/v1/tasks//').match?.operationId).toBe('listTasks');
    expect(route('GET', '/api/v1/tasks/t1/').match).toMatchObject({ operationId: 'getTask', params: { task_id: 't1' } });
  });

  it('routes HEAD as GET', () => {
    expect(route('HEAD', '/api/v1/tasks').match?.operationId).toBe('listTasks');
  });

  it('answers 405 listing the methods the path allows', () => {
    const { error, headers } = route('PUT', '/api/v1/tasks/t1');
    expect(error?.code).toBe('METHOD_NOT_ALLOWED');
    expect(error?.message).toBe('PUT is not allowed on /api/v1/tasks/t1');
    expect(headers.Allow).toBe('GET, DELETE, PATCH');
  });

  it('answers 404 for a path no operation has, naming the request', () => {
    const { error, headers } = route('GET', '/api/v1/nothing-here');
    expect(error?.code).toBe('NOT_FOUND');
    expect(error?.message).toBe('No operation at GET /api/v1/nothing-here');
    expect(headers.Allow).toBeUndefined();
  });
});
