import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createDeps } from '../../src/deps.js';
import { signingKeysFromPem } from '../../src/domain/auth/signing-keys.js';
import { createLogger } from '../../src/core/logging.js';
import { createDatabase } from '../../db/index.js';
import { freePort } from '../../db/embedded.js';
import { TestClient } from '../helpers/client.js';
import { logCapture, startTestApp, testConfig, type TestApp } from '../helpers/app.js';
import { signUp } from '../helpers/users.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe('health probes', () => {
  it('answers live at /api/v1/health/live and at /health/live', async () => {
    expect((await t.api.get('/health/live')).body).toEqual({ status: 'ok' });
    const root = await fetch(`${t.baseUrl}/health/live`);
    expect(root.status).toBe(200);
  });

  it('is not ready without a worker heartbeat, and ready once a worker runs', async () => {
    const before = await t.api.get('/health/ready');
    expect(before.status).toBe(503);
    expect(before.body).toEqual({ status: 'unavailable', checks: { database: { status: 'ok' }, worker: { status: 'unavailable' } } });
    const worker = await t.startWorker();
    const after = await t.api.get('/health/ready');
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ status: 'ok', checks: { database: { status: 'ok' }, worker: { status: 'ok' } } });
    await worker.stop();
    expect((await t.api.get('/health/ready')).status).toBe(503);
  });

  it('treats a stale heartbeat as no worker', async () => {
    await t.db
      .insertInto('worker_heartbeats')
      .values({ worker_id: 'ghost', hostname: 'h', pid: 1, beat_at: new Date(Date.now() - 5 * 60_000) })
      .execute();
    const res = await t.api.get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.body.checks.worker).toEqual({ status: 'unavailable' });
    await t.db.deleteFrom('worker_heartbeats').where('worker_id', '=', 'ghost').execute();
  });

  it('answers ready 503 while the database is unreachable, without crashing, and tells only the log why', async () => {
    const config = testConfig();
    const port = await freePort();
    const dead = createDatabase(`postgres://postgres:postgres@127.0.0.1:${port}/nowhere`);
    const logs = logCapture();
    const deps = createDeps({ config, db: dead.db, pool: dead.pool, log: createLogger('info', {}, logs), keys: signingKeysFromPem({ privatePem: config.JWT_PRIVATE_KEY!, publicPem: config.JWT_PUBLIC_KEY! }) });
    const app = await createApp(deps);
    await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
    const api = new TestClient(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    try {
      const res = await api.get('/health/ready');
      expect(res.status).toBe(503);
      // Anyone may call the probe: no address, port or driver error in the answer.
      expect(res.body).toEqual({ status: 'unavailable', checks: { database: { status: 'unavailable' }, worker: { status: 'unavailable' } } });
      expect(res.text).not.toContain(String(port));
      expect(logs.lines.join('\n')).toContain(`127.0.0.1:${port}`);
      expect((await api.get('/health/live')).status).toBe(200);
    } finally {
      await app.close();
      await dead.close();
    }
  });
});

describe('metrics', () => {
  it('exposes request latency by operation and status in Prometheus format', async () => {
    const user = await signUp(t);
    await user.api.get('/users/me');
    await t.api.get('/users/me');
    const res = await fetch(`${t.baseUrl}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(text).toMatch(/http_request_duration_seconds_count\{operation="getCurrentUser",status="200"\} \d+/);
    expect(text).toMatch(/http_errors_total\{operation="getCurrentUser",code="UNAUTHORIZED"\} \d+/);
    expect(text).toContain('process_resident_memory_bytes');
    // the pool as it is at the scrape: this app's pool has 10 connections at most, none awaited now
    const pool = Object.fromEntries([...text.matchAll(/^db_pool_connections\{state="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(pool.waiting).toBe(0);
    expect(pool.total).toBeGreaterThanOrEqual(1);
    expect(pool.total).toBeLessThanOrEqual(10);
    expect(pool.idle).toBeLessThanOrEqual(pool.total!);
  });

  it('labels unknown paths as unmatched, so clients cannot grow the label set', async () => {
    await t.api.get('/random-path-12345');
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(text).not.toContain('random-path-12345');
    expect(text).toContain('operation="unmatched"');
  });
});

describe('metrics behind METRICS_TOKEN', () => {
  const token = 'mt_4bX9kQ2vLr7sZt1wYc8pNf3Hd6Gj5eAu';
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { METRICS_TOKEN: token } });
  });
  afterAll(() => app?.close());

  it('answers 401 without "Authorization: Bearer <METRICS_TOKEN>", and the metrics with it', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, `Basic ${Buffer.from(`x:${token}`).toString('base64')}`]) {
      for (const path of ['/metrics', '/api/v1/metrics']) {
        const res = await fetch(`${app.baseUrl}${path}`, { headers: authorization ? { authorization } : {} });
        const text = await res.text();
        expect(res.status, `${path} with ${authorization}`).toBe(401);
        expect(JSON.parse(text).error.code).toBe('UNAUTHORIZED');
        expect(text).not.toContain('process_resident_memory_bytes');
      }
    }
    expect((await app.api.get('/metrics', { token: null })).status).toBe(401); // as the contract documents it
    const res = await app.api.get('/metrics', { token: null, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.text).toContain('process_resident_memory_bytes');
  });
});

describe('a database with no connection to spare', () => {
  it('answers 503 SERVICE_UNAVAILABLE with Retry-After (not a 500) once the wait for a connection times out, then serves again', async () => {
    const user = await signUp(t);
    // Every connection of the API's pool taken: the request waits connectionTimeoutMillis (5 s) for one.
    const held = await Promise.all(Array.from({ length: t.deps.pool.options.max }, () => t.deps.pool.connect()));
    try {
      const res = await user.api.get('/tasks');
      expect(res.status, res.text).toBe(503);
      expect(res.body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe('5');
    } finally {
      for (const client of held) client.release();
    }
    expect((await user.api.get('/tasks')).status).toBe(200);
  }, 30_000);
});
