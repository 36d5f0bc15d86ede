import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handlers } from '../../src/handlers/index.js';
import { loadContract } from '../../src/core/contract.js';
import { deprecationHeaders } from '../../src/http/deprecation.js';
import { isNotYet, notYet } from '../../src/http/not-implemented.js';
import type { OperationId } from '../../src/http/operation.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

// The rules every operation of openapi.yaml follows (see the "How we build" section of the README).

const contract = loadContract();
const doc = contract.document;
const resolve = (o: any): any => (o?.$ref ? resolve(o.$ref.slice(2).split('/').reduce((x: any, k: string) => x[k], doc)) : o);
const operations = [...contract.operations.values()];
const raw = (id: string) => doc.paths[contract.operations.get(id as OperationId)!.path][contract.operations.get(id as OperationId)!.method.toLowerCase()];

/**
 * Input schemas reject unknown fields; the webhook takes the provider's format as it comes, and an
 * MCP message's `params` depend on its method (a tool's arguments are checked by the tool's schema).
 */
const OPEN_INPUTS = new Set(['handleCheckoutWebhook', 'callMcp']);

function objectSchemasWithoutClosedProperties(schema: any, seen = new Set<any>()): string[] {
  schema = resolve(schema);
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return [];
  seen.add(schema);
  const problems: string[] = [];
  if ((schema.type === 'object' || schema.properties) && schema.additionalProperties !== false) problems.push(JSON.stringify(Object.keys(schema.properties ?? {})));
  for (const key of ['oneOf', 'anyOf', 'allOf']) for (const s of schema[key] ?? []) problems.push(...objectSchemasWithoutClosedProperties(s, seen));
  for (const s of Object.values<any>(schema.properties ?? {})) problems.push(...objectSchemasWithoutClosedProperties(s, seen));
  if (schema.items) problems.push(...objectSchemasWithoutClosedProperties(schema.items, seen));
  return problems;
}

describe('openapi.yaml', () => {
  it('gives every operation a unique operationId, one tag, a summary and a rate-limit bucket', () => {
    const ids = operations.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of operations) {
      const r = raw(op.operationId);
      expect(r.tags, op.operationId).toHaveLength(1);
      expect(r.summary, op.operationId).toBeTruthy();
      expect(['general', 'ai', 'auth', 'webhook', 'calendar-feed', 'none'], op.operationId).toContain(r['x-rate-limit']);
    }
  });

  it('documents the errors every operation can give', () => {
    for (const op of operations) {
      const statuses = Object.keys(raw(op.operationId).responses);
      expect(statuses, `${op.operationId} 400`).toContain('400');
      expect(statuses, `${op.operationId} 500`).toContain('500');
      if (op.authenticated) expect(statuses, `${op.operationId} 401`).toContain('401');
      if (op.rateLimit !== 'none') expect(statuses, `${op.operationId} 429`).toContain('429');
      // The mismatch 422 is the `default` response: Prism's mock answers invalid requests with a declared 422 (or 4XX) before the 400.
      expect(statuses, `${op.operationId} declares 422 or 4XX`).not.toEqual(expect.arrayContaining([expect.stringMatching(/^(422|4XX)$/)]));
      if (op.idempotent) expect(raw(op.operationId).responses.default, `${op.operationId} 422 (default)`).toEqual({ $ref: '#/components/responses/IdempotencyKeyMismatch' });
      if (op.hasBody) expect(statuses, `${op.operationId} 413/415`).toEqual(expect.arrayContaining(['413', '415']));
    }
  });

  it('documents the 403 a personal access token gets on every operation that takes a bearer credential', () => {
    for (const op of operations.filter((o) => o.authenticated)) {
      const examples = Object.values<any>(resolve(raw(op.operationId).responses['403'])?.content?.['application/json']?.examples ?? {});
      const codes = examples.map((e) => resolve(e).value.error.code);
      // An operation that accepts tokens refuses one without its scopes; any other refuses every token.
      // (An operation for tokens only that names no scopes, callMcp, checks its tools' scopes itself.)
      if (op.tokenOnly && op.tokenScopes?.length === 0) continue;
      expect(codes, `${op.operationId} 403`).toContain(op.tokenScopes ? 'INSUFFICIENT_SCOPE' : 'TOKEN_NOT_ALLOWED');
    }
  });

  // What client generators need (npm run generators:check compiles their output): openapi-zod-client
  // emits z.enum([..., null]), which does not compile, for an enum that lists null; openapi-typescript
  // (default flags) makes a property that carries its own `default` required.
  it('says nullable enums with oneOf [enum, null] and keeps request defaults in named schemas', () => {
    const enumsWithNull: string[] = [];
    const walk = (node: any, at: string) => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node.enum) && node.enum.includes(null)) enumsWithNull.push(at);
      for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`);
    };
    walk(doc, '#');
    expect(enumsWithNull, 'enum with null').toEqual([]);
    const defaulted: string[] = [];
    const properties = (schema: any, seen: Set<any>, at: string) => {
      if (!schema || typeof schema !== 'object' || seen.has(schema)) return;
      seen.add(schema);
      for (const [k, v] of Object.entries<any>(schema.properties ?? {})) {
        if (v && typeof v === 'object' && 'default' in v) defaulted.push(`${at}.${k}`);
        properties(resolve(v), seen, `${at}.${k}`);
      }
      for (const key of ['oneOf', 'anyOf', 'allOf']) for (const s of schema[key] ?? []) properties(resolve(s), seen, at);
      if (schema.items) properties(resolve(schema.items), seen, `${at}[]`);
    };
    for (const op of operations) {
      if (op.hasBody) properties(resolve(raw(op.operationId).requestBody.content['application/json']?.schema), new Set(), op.operationId);
    }
    expect(defaulted, 'request properties with their own default').toEqual([]);
  });

  it('closes every request body schema with additionalProperties: false', () => {
    for (const op of operations) {
      if (!op.hasBody || OPEN_INPUTS.has(op.operationId)) continue;
      const schema = raw(op.operationId).requestBody.content['application/json'].schema;
      expect(objectSchemasWithoutClosedProperties(schema), op.operationId).toEqual([]);
    }
  });

  it('needs an Idempotency-Key on authenticated POST, PATCH and PUT, and accepts one on DELETE', () => {
    for (const op of operations) {
      if (!op.authenticated) continue;
      const params = raw(op.operationId).parameters ?? [];
      const refs = params.map((p: any) => p.$ref);
      // MCP clients send no Idempotency-Key (JSON-RPC requests carry an id): optional on callMcp.
      if (op.operationId === 'callMcp') expect(refs, op.operationId).toContain('#/components/parameters/OptionalIdempotencyKey');
      else if (['POST', 'PATCH', 'PUT'].includes(op.method)) expect(refs, op.operationId).toContain('#/components/parameters/IdempotencyKey');
      if (op.method === 'DELETE') expect(refs, op.operationId).toContain('#/components/parameters/OptionalIdempotencyKey');
    }
  });

  // Spectral's OWASP rules check the rate-limit headers (npm run lint:spectral); X-Request-ID is ours.
  // The refusals made before the rate limit counts a request (no valid token, a body too large or
  // not JSON) carry no X-RateLimit-*; neither does a WebSocket's 101.
  it('declares X-Request-ID on every response, and X-RateLimit-* on the 2xx and 4xx of rate-limited operations', () => {
    const beforeRateLimit = new Set(['Unauthorized', 'PayloadTooLarge', 'UnsupportedMediaType'].map((n) => `#/components/responses/${n}`));
    const missing: string[] = [];
    for (const op of operations) {
      for (const [status, declared] of Object.entries<any>(raw(op.operationId).responses)) {
        if (status === '101') continue;
        const headers = Object.keys(resolve(declared).headers ?? {});
        const at = `${op.operationId} ${status}`;
        if (!headers.includes('X-Request-ID')) missing.push(`${at} X-Request-ID`);
        const counted = op.rateLimit !== 'none' && /^[24]/.test(status) && !beforeRateLimit.has(declared.$ref);
        if (counted && !['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'].every((h) => headers.includes(h))) missing.push(`${at} X-RateLimit-*`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('documents 501 exactly for the operations that are not built yet', () => {
    for (const op of operations) {
      const h = handlers[op.operationId];
      const documents501 = '501' in raw(op.operationId).responses;
      expect(documents501, `${op.operationId}: 501 documented ⇔ handler not built`).toBe(isNotYet(h));
    }
  });

  it('gives every deprecated operation a sunset at least 90 days after its deprecation', () => {
    const headers = deprecationHeaders(contract);
    for (const op of operations.filter((o) => o.deprecated)) expect(headers.get(op.operationId)).toBeDefined();
  });
});

describe('deprecationHeaders', () => {
  const withOperation = (extra: Record<string, unknown>) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'contract-')), 'openapi.yaml');
    fs.writeFileSync(file, JSON.stringify({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: { '/x': { get: { operationId: 'getX', responses: {}, ...extra } } } }));
    return loadContract(file);
  };

  it('formats Deprecation as an RFC 9745 structured date and Sunset as an HTTP date', () => {
    const h = deprecationHeaders(withOperation({ deprecated: true, 'x-deprecated-at': '2026-11-27', 'x-sunset': '2027-03-31' }));
    expect(h.get('getX' as OperationId)).toEqual({ Deprecation: `@${Date.UTC(2026, 10, 27) / 1000}`, Sunset: 'Wed, 31 Mar 2027 00:00:00 GMT' });
  });

  it('refuses less than 90 days of notice, or a deprecation without dates', () => {
    expect(() => deprecationHeaders(withOperation({ deprecated: true, 'x-deprecated-at': '2026-11-27', 'x-sunset': '2027-01-31' }))).toThrow(/90 days/);
    expect(() => deprecationHeaders(withOperation({ deprecated: true }))).toThrow(/x-sunset/);
  });
});

describe('operations not built yet, and deprecated ones', () => {
  let t: TestApp;
  let user: TestUser;
  beforeAll(async () => {
    t = await startTestApp();
    user = await signUp(t);
  });
  afterAll(() => t?.close());

  it('answer 501 NOT_IMPLEMENTED through notYet(), never a fake success', async () => {
    const stub = notYet('listTasks', 3);
    expect(isNotYet(stub)).toBe(true);
    await expect(stub({} as never, {} as never)).rejects.toMatchObject({ code: 'NOT_IMPLEMENTED' });
  });

  it('still send Deprecation and Sunset on a deprecated operation', async () => {
    const res = await user.api.post('/ai/chat/stream', { message: 'hello' });
    expect(res.headers.get('deprecation')).toMatch(/^@\d+$/);
    expect(res.headers.get('sunset')).toMatch(/GMT$/);
  });
});
