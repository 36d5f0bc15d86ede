import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contract } from '../helpers/contract.js';
import { logCapture, startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let user: TestUser;
const logs = logCapture();

/** A request sent exactly as written (fetch would normalise `%2e%2e` and other paths). */
function rawGet(path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: new URL(t.baseUrl).port, method, path }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  t = await startTestApp({ env: { BODY_LIMIT_BYTES: '2048', LOG_LEVEL: 'info' }, logTo: logs });
  user = await signUp(t);
});
afterAll(() => t?.close());

describe('request ids', () => {
  it('echoes a UUID X-Request-ID and uses it in error bodies', async () => {
    const id = '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d';
    const res = await t.api.get('/users/me', { token: null, headers: { 'x-request-id': id } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe(id);
    expect(res.body.error.request_id).toBe(id);
  });

  it('replaces a non-UUID X-Request-ID with a fresh one', async () => {
    const res = await t.api.get('/health/live', { headers: { 'x-request-id': 'not-a-uuid' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('error envelope', () => {
  it('answers an unknown route with 404 NOT_FOUND as JSON', async () => {
    const res = await t.api.get('/no-such-thing', { token: user.token });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  it('answers a path outside /api/v1 with the JSON envelope too', async () => {
    const res = await t.api.get('/api/v2/tasks', { unchecked: true });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  it('answers a missing documentation file with 404 NOT_FOUND, not a 500', async () => {
    const res = await t.api.get('/docs/assets/no-such-file.css', { unchecked: true });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect((await t.api.get('/docs/assets/docs-init.js', { unchecked: true })).status).toBe(200);
  });

  it('answers a path that leaves the documentation files with 404, and a malformed escape with 400, never a 500', async () => {
    for (const [path, status, code] of [
      ['/api/v1/docs/assets/%2e%2e/x', 404, 'NOT_FOUND'],
      ['/api/v1/docs/assets/%2e%2e/%2e%2e/package.json', 404, 'NOT_FOUND'],
      ['/api/v1/docs/assets/../../../etc/passwd', 404, 'NOT_FOUND'],
      ['/api/v1/docs/assets/%ff', 400, 'VALIDATION_ERROR'],
      ['/api/v1/docs/assets/%E0%A4%A', 400, 'VALIDATION_ERROR'],
    ] as const) {
      const res = await rawGet(path);
      expect(res.status, path).toBe(status);
      expect(res.headers['content-type'], path).toContain('application/json');
      expect(JSON.parse(res.text).error.code, path).toBe(code);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(logs.entries().filter((e) => e.level === 'error'), 'nothing in the error log').toEqual([]);
  });

  it('answers a wrong method with 405 METHOD_NOT_ALLOWED and an Allow header', async () => {
    const res = await user.api.request('PUT', '/users/me');
    expect(res.status).toBe(405);
    expect(res.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(res.headers.get('allow')).toBe('GET, DELETE, PATCH');
  });

  it('routes a trailing slash like the path without it, and a literal path before a template', async () => {
    expect((await user.api.get('/users/me/')).status).toBe(200);
    // POST /notifications/read-all is its own operation, not /notifications/{notification_id}
    // with the id "read-all"; DELETE has only the template, so there "read-all" is a bad id
    const readAll = await user.api.post('/notifications/read-all', {});
    expect(readAll.status, readAll.text).toBe(200);
    const del = await user.api.delete('/notifications/read-all');
    expect(del.status).toBe(400);
    expect(del.body.error.details[0].field).toBe('path.notification_id');
  });

  it('answers a malformed or non-UUID path parameter with 400 on that parameter, not a 500', async () => {
    for (const id of ['%E0%A4%A', 'not-a-uuid', '%20']) {
      const res = await user.api.get(`/tasks/${id}`);
      expect(res.status, id).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual(['path.task_id']);
    }
  });

  it('answers malformed JSON with 400 VALIDATION_ERROR', async () => {
    const res = await user.api.request('PATCH', '/users/me', { rawBody: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body', message: 'is not valid JSON' }] });
  });

  it('answers an oversized body with 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await user.api.patch('/users/me', { name: 'x'.repeat(4000) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a non-JSON body with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await user.api.request('PATCH', '/users/me', { rawBody: 'name=Ada', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('accepts Content-Type: application/json with an empty body on a GET', async () => {
    const res = await user.api.get('/users/me', { headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
  });
});

describe('validation', () => {
  it('rejects unknown body fields and wrong types with per-field details, changing nothing', async () => {
    const res = await user.api.patch('/users/me', { name: 'New', role: 'admin', timezone: 5 });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([
        { field: 'body.role', message: 'is not allowed' },
        { field: 'body.timezone', message: 'must be string' },
      ]),
    );
    const me = await user.api.get('/users/me');
    expect(me.body.data.name).not.toBe('New');
  });

  // The contract bounds error texts (ErrorDetail.field ≤ 300, messages ≤ 2000): what a request
  // echoes into them is cut to fit, so an error body stays within its documented size.
  it('cuts an echoed field name or path to the bounds the contract gives error texts', async () => {
    const longKey = 'k'.repeat(1500);
    const res = await user.api.patch('/users/me', { name: 'New', [longKey]: 1 });
    expect(res.status).toBe(400);
    const detail = res.body.error.details.find((d: { field: string }) => d.field.startsWith('body.kkk'));
    expect([...detail.field].length).toBeLessThanOrEqual(300);
    expect(detail.message).toBe('is not allowed');
    const notFound = await t.api.get(`/${'p'.repeat(3000)}`, { token: user.token });
    expect(notFound.status).toBe(404);
    expect([...notFound.body.error.message].length).toBeLessThanOrEqual(2000);
  });

  it('rejects unknown query parameters', async () => {
    const res = await user.api.get('/users/me', { query: { debug: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ field: 'query.debug', message: 'is not allowed' }]);
  });

  it('needs an Idempotency-Key on an authenticated PATCH', async () => {
    const res = await user.api.patch('/users/me', { name: 'Nobody' }, { idempotencyKey: null });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
  });
});

describe('security headers and CORS', () => {
  it('sets security headers on every response', async () => {
    const res = await t.api.get('/health/live');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('strict-transport-security')).toContain('max-age=31536000');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('answers a preflight from an allowed origin with the methods and headers the frontend sends', async () => {
    const res = await fetch(`${t.baseUrl}/api/v1/tasks`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization,content-type,idempotency-key,if-match',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,PUT,PATCH,DELETE');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toBe('authorization,content-type,idempotency-key,if-match,x-request-id');
  });

  it('exposes the response headers clients read', async () => {
    const res = await user.api.get('/users/me', { headers: { origin: 'http://localhost:3000' } });
    const exposed = res.headers.get('access-control-expose-headers')!.toLowerCase();
    for (const h of ['x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'etag', 'deprecation', 'sunset', 'idempotent-replayed']) {
      expect(exposed).toContain(h);
    }
  });

  it('lets no cache store a token response or an authenticated one, and says which answers depend on the caller', async () => {
    const login = await t.api.post('/auth/dev/login', { email: 'cache@example.com' });
    expect(login.status).toBe(200);
    expect(login.headers.get('cache-control')).toBe('no-store'); // RFC 6749 §5.1
    for (const res of [await user.api.get('/users/me'), await user.api.get('/tasks'), await user.api.patch('/users/me', { name: 'Cached' }), await t.api.get('/users/me')]) {
      expect(res.headers.get('cache-control'), res.text.slice(0, 100)).toBe('no-store');
      expect(res.headers.get('vary')?.split(/\s*,\s*/)).toEqual(expect.arrayContaining(['Origin', 'Authorization']));
    }
    const task = await user.api.post('/tasks', { title: 'Cache me not' });
    const got = await user.api.get(`/tasks/${task.body.data.id}`);
    expect(got.headers.get('etag')).toBe('"1"');
    expect(got.headers.get('cache-control')).toBe('no-store');
  });

  it('does not allow an unknown origin', async () => {
    const res = await t.api.get('/health/live', { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('the contract endpoints', () => {
  it('serves the contract as JSON and YAML, and the docs page', async () => {
    const json = await t.api.get('/openapi.json');
    expect(json.body.openapi).toBe('3.1.0');
    const yaml = await t.api.get('/openapi.yaml');
    expect(yaml.text.startsWith('openapi: 3.1.0')).toBe(true);
    const docs = await t.api.get('/docs');
    expect(docs.text).toContain('swagger-ui-bundle.js');
    const asset = await fetch(`${t.baseUrl}/api/v1/docs/assets/swagger-ui-bundle.js`);
    expect(asset.status).toBe(200);
  });
});

describe('HEAD', () => {
  const SAME = ['content-type', 'content-length', 'etag', 'cache-control', 'vary', 'allow', 'www-authenticate', 'deprecation', 'content-disposition'];

  it('answers every GET operation as GET would, without the body', async () => {
    const task = (await user.api.post('/tasks', { title: 'Head' })).body.data;
    const feed = (await user.api.post('/calendar/feed')).body.data;
    const example = (name: string) => (name === 'task_id' ? task.id : name === 'token' ? new URL(feed.url).pathname.split('/').pop()!.replace(/\.ics$/, '') : '0193f1a3-43b5-72f1-b384-9fa0b1c2d3e4');
    const gets = [...contract.operations.values()].filter((op) => op.method === 'GET');
    expect(gets.length).toBeGreaterThan(20);
    for (const op of gets) {
      const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => example(name));
      for (const token of [user.token, null]) {
        const get = await user.api.get(path, { token });
        const head = await user.api.request('HEAD', path, { token });
        const where = `HEAD ${path} ${token ? 'with' : 'without'} a token`;
        expect(head.status, where).toBe(get.status);
        expect(head.text, where).toBe('');
        // The metrics change between two scrapes (this test's own requests among them): not their length.
        const same = op.operationId === 'getMetrics' ? SAME.filter((h) => h !== 'content-length') : SAME;
        for (const h of same) expect(head.headers.get(h), `${where}: ${h}`).toBe(get.headers.get(h));
        if (get.status === 200 && !get.headers.get('transfer-encoding')) expect(Number(head.headers.get('content-length')), where).toBeGreaterThan(0);
      }
    }
  }, 60_000);

  it('answers HEAD on the root aliases and the documentation files too', async () => {
    for (const path of ['/health/live', '/metrics', '/api/v1/docs/assets/swagger-ui.css']) {
      const res = await fetch(`${t.baseUrl}${path}`, { method: 'HEAD' });
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe('');
    }
  });
});

describe('the API index', () => {
  it('answers GET /api/v1 with the name, the version and links to the docs, the contract and the probes', async () => {
    for (const path of ['/api/v1', '/api/v1/']) {
      const res = await t.api.get(path);
      expect(res.status, path).toBe(200);
      expect(res.body).toMatchObject({ name: 'Perpetua Flow API', version: contract.document.info.version });
      expect(res.headers.get('cache-control')).toBe('no-store');
      const base = t.config.PUBLIC_API_URL;
      expect(res.body.links).toEqual({
        docs: `${base}/docs`,
        openapi_json: `${base}/openapi.json`,
        openapi_yaml: `${base}/openapi.yaml`,
        health_live: `${base}/health/live`,
        health_ready: `${base}/health/ready`,
      });
      // Each link is an operation of this API.
      for (const link of Object.values<string>(res.body.links)) {
        const served = await t.api.get(new URL(link).pathname, { unchecked: link.endsWith('/ready') });
        expect([200, 503], link).toContain(served.status);
      }
    }
  });
});
