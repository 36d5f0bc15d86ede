import { describe, expect, it } from 'vitest';
import { loadContract } from '../../../src/core/contract.js';
import type { OperationId } from '../../../src/http/operation.js';
import { MAX_DETAILS, toDetails, validateRequest } from '../../../src/http/pipeline/validate.js';
import { createRequestValidation } from '../../../src/http/request-validation.js';
import { fakeRequest } from './fakes.js';

const contract = loadContract();
const validation = createRequestValidation(contract);
const info = (id: OperationId) => contract.operations.get(id)!;
const json = { 'content-type': 'application/json' };
const keyed = { ...json, 'idempotency-key': 'key-1' };

/** An operation whose Idempotency-Key header is required. */
const keyRequired = [...contract.operations.values()].find((op) => {
  const item = contract.document.paths[op.path];
  return (item[op.method.toLowerCase()].parameters ?? []).some((p: any) => p.$ref === '#/components/parameters/IdempotencyKey');
})!;

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; details?: unknown };
  }
  throw new Error('the request was accepted');
};

describe('pipeline step: validate', () => {
  it('returns the request as the handler sees it, query and path values coerced', () => {
    const req = fakeRequest({ query: { limit: '5' }, headers: {} });
    const request = validateRequest(validation, info('listTasks'), { req, params: {} });
    expect(request.query).toMatchObject({ limit: 5 });
    expect(req.query.limit).toBe('5'); // the request's own query is left as parsed
  });

  it('lists what is wrong as {field, message} details', () => {
    const err = refusal(() => validateRequest(validation, info('createTask'), { req: fakeRequest({ method: 'POST', headers: keyed, body: { title: 7, nonsense: true } }), params: {} }));
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.details).toEqual(expect.arrayContaining([
      { field: 'body.nonsense', message: 'is not allowed' },
      expect.objectContaining({ field: 'body.title' }),
    ]));
  });

  it('reports a missing required body as "a JSON body is required"', () => {
    const err = refusal(() => validateRequest(validation, info('createTask'), { req: fakeRequest({ method: 'POST', headers: { 'idempotency-key': 'key-1' } }), params: {} }));
    expect(err.details).toEqual([{ field: 'body', message: 'a JSON body is required' }]);
  });

  it('names query and path parameters by where they are', () => {
    const err = refusal(() => validateRequest(validation, info('listTasks'), { req: fakeRequest({ query: { limit: 'many', extra: 'x' } }), params: {} }));
    expect(err.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'query.limit' }), { field: 'query.extra', message: 'is not allowed' }]));
  });

  it('refuses a body sent to an operation that takes none, but allows {}', () => {
    const err = refusal(() => validateRequest(validation, info('listTasks'), { req: fakeRequest({ headers: json, body: { a: 1 } }), params: {} }));
    expect(err.details).toEqual([{ field: 'body', message: 'this operation takes no body' }]);
    expect(() => validateRequest(validation, info('listTasks'), { req: fakeRequest({ headers: json, body: {} }), params: {} })).not.toThrow();
  });

  it('answers IDEMPOTENCY_KEY_REQUIRED when the required key is missing', () => {
    expect(keyRequired).toBeDefined();
    const err = refusal(() => validateRequest(validation, keyRequired, { req: fakeRequest({ method: keyRequired.method, headers: json, body: {} }), params: {} }));
    expect(err).toMatchObject({ code: 'IDEMPOTENCY_KEY_REQUIRED', message: 'This request needs an Idempotency-Key header', details: [{ field: 'header.idempotency-key', message: 'is required' }] });
  });

  it('refuses what PostgreSQL cannot store before validating', () => {
    const err = refusal(() => validateRequest(validation, info('createTask'), { req: fakeRequest({ method: 'POST', headers: keyed, body: { title: 'a\u0000b' } }), params: {} }));
    expect(err.code).toBe('VALIDATION_ERROR');
  });

  describe('toDetails', () => {
    it('unescapes JSON pointers, keeps one complaint per field and skips oneOf/if summaries', () => {
      const details = toDetails([
        { instancePath: '/requestBody/a~1b~0c', keyword: 'type', message: 'must be string', params: {} },
        { instancePath: '/requestBody/a~1b~0c', keyword: 'type', message: 'must be string', params: {} },
        { instancePath: '/requestBody', keyword: 'oneOf', message: 'must match exactly one schema', params: {} },
        { instancePath: '/requestBody', keyword: 'dependentRequired', message: 'x', params: { missingProperty: 'end', property: 'start' } },
      ]);
      expect(details).toEqual([
        { field: 'body.a/b~c', message: 'must be string' },
        { field: 'body.end', message: 'is required with start' },
      ]);
    });

    it(`lists at most ${MAX_DETAILS} details, and something when Ajv said nothing usable`, () => {
      const many = Array.from({ length: 300 }, (_, i) => ({ instancePath: `/requestBody/${i}`, keyword: 'type', message: 'must be string', params: {} }));
      expect(toDetails(many)).toHaveLength(MAX_DETAILS);
      expect(toDetails([{ instancePath: '/requestBody', keyword: 'oneOf', message: 'x', params: {} }])).toEqual([{ field: 'body', message: 'is invalid' }]);
    });
  });
});
