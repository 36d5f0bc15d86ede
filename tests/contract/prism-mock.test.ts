import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contract } from '../helpers/contract.js';
import { callEveryOperation, callInvalidRequests, invalidRequestCases, startPrism, type RunningPrism } from '../helpers/prism.js';

// QA mocks the API with `npm run mock` (Prism). This proves Prism can serve every operation of the
// contract with a documented, schema-valid answer built from our examples (`npm run mock:check`
// runs the same check outside the test suite).

let prism: RunningPrism;

beforeAll(async () => {
  prism = await startPrism('mock');
}, 40_000);

afterAll(() => prism?.stop());

describe('prism mock of openapi.yaml', () => {
  it('serves every operation with a documented, valid answer', async () => {
    const results = await callEveryOperation(prism.baseUrl);
    expect(results.filter((r) => r.problem).map((r) => `${r.operationId}: ${r.problem}`)).toEqual([]);
    expect(results).toHaveLength(contract.operations.size);
  }, 60_000);

  // Prism answers an invalid request with a declared 422 before a 400; the contract declares the
  // Idempotency-Key mismatch 422 as `default` so that QA sees the server's 400 here.
  it('answers invalid requests as the server does: 400 VALIDATION_ERROR, not the mismatch 422', async () => {
    const results = await callInvalidRequests(prism.baseUrl);
    expect(results.filter((r) => r.problem).map((r) => `${r.name}: ${r.problem}`)).toEqual([]);
    expect(results).toHaveLength(invalidRequestCases.length);
  }, 30_000);
});
