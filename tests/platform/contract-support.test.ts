import { describe, expect, it } from 'vitest';
import { unsupportedFeatures } from '../../src/http/contract-support.js';
import { loadContract, type Contract } from '../../src/core/contract.js';
import { createOperationRouter } from '../../src/http/operation-router.js';

// The router and request validation implement a subset of OpenAPI; a contract beyond it must not serve.

const contract = loadContract();
const copy = (): Record<string, any> => structuredClone(contract.document);

describe('the contract router refuses OpenAPI features it does not implement', () => {
  it('accepts openapi.yaml as it is, personal token scopes included', () => {
    expect(contract.operations.get('listTasks')).toMatchObject({ authenticated: true, tokenScopes: ['tasks:read'], tokenOnly: false });
    expect(contract.operations.get('createPersonalToken')).toMatchObject({ authenticated: true, tokenScopes: null, tokenOnly: false });
    expect(unsupportedFeatures(contract.document)).toEqual([]);
    expect(() => createOperationRouter(contract, '/api/v1')).not.toThrow();
  });

  const cases: Array<[string, (doc: Record<string, any>) => void, RegExp]> = [
    ['a second security scheme', (d) => (d.components.securitySchemes.apiKey = { type: 'apiKey', in: 'header', name: 'X-Api-Key' }), /security scheme "apiKey"/],
    ['the metrics token on another operation', (d) => (d.paths['/tasks'].get.security = [{}, { metricsToken: [] }]), /GET \/tasks: metricsToken is checked only by getMetrics/],
    ['optional authentication', (d) => (d.paths['/tasks'].get.security = [{}, { bearerAuth: [] }]), /GET \/tasks: alternative security requirements/],
    ['a scope that is not a TokenScope', (d) => (d.paths['/tasks'].get.security = [{ bearerAuth: [] }, { personalToken: ['tasks:admin'] }]), /GET \/tasks: scope "tasks:admin" is not a TokenScope/],
    ['a token requirement without a scope', (d) => (d.paths['/tasks'].get.security = [{ bearerAuth: [] }, { personalToken: [] }]), /GET \/tasks: "personalToken" names no scope/],
    ['a scope named twice', (d) => (d.paths['/tasks'].get.security = [{ bearerAuth: [] }, { personalToken: ['tasks:read', 'tasks:read'] }]), /GET \/tasks: "personalToken" names a scope twice/],
    ['roles on the access token', (d) => (d.paths['/tasks'].get.security = [{ bearerAuth: ['tasks:read'] }]), /GET \/tasks: roles on "bearerAuth"/],
    ['tokens for the whole document', (d) => (d.security = [{ bearerAuth: [] }, { personalToken: ['tasks:read'] }]), /document: "personalToken" \(tokens are accepted per operation\)/],
    ['a token requirement combined with the access token in one object', (d) => (d.paths['/tasks'].get.security = [{ bearerAuth: [], personalToken: ['tasks:read'] }]), /GET \/tasks: security must be/],
    ['tokens as optional authentication', (d) => (d.paths['/tasks'].get.security = [{}, { personalToken: ['tasks:read'] }]), /GET \/tasks: security must be/],
    ['an MCP tool with a scope that is not a TokenScope', (d) => (d.paths['/mcp'].post['x-mcp-tools'].list_tasks.scopes = ['admin']), /POST \/mcp: MCP tool "list_tasks": scope "admin" is not a TokenScope/],
    ['a cookie parameter', (d) => d.paths['/tasks'].get.parameters.push({ name: 'session', in: 'cookie', schema: { type: 'string' } }), /parameter "session" in cookie/],
    ['an array query parameter', (d) => d.paths['/tasks'].get.parameters.push({ name: 'ids', in: 'query', schema: { type: 'array', items: { type: 'string' } } }), /parameter "ids" in query: a non-scalar schema/],
    ['style and explode', (d) => d.paths['/tasks'].get.parameters.push({ name: 'tag', in: 'query', style: 'pipeDelimited', explode: false, schema: { type: 'string' } }), /parameter "tag" in query: "style"/],
    ['a form body', (d) => (d.paths['/tasks'].post.requestBody = { content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } } } }), /POST \/tasks: request body as application\/x-www-form-urlencoded/],
    ['callbacks', (d) => (d.paths['/tasks'].post.callbacks = {}), /POST \/tasks: "callbacks"/],
    ['an OPTIONS operation', (d) => (d.paths['/tasks'].options = { operationId: 'optionsTasks', responses: {} }), /\/tasks: "options"/],
  ];
  for (const [feature, change, named] of cases) {
    it(`refuses ${feature}, naming it`, () => {
      const doc = copy();
      change(doc);
      expect(unsupportedFeatures(doc).join('\n')).toMatch(named);
      const changed: Contract = { ...contract, document: doc };
      expect(() => createOperationRouter(changed, '/api/v1')).toThrow(named);
    });
  }
});
