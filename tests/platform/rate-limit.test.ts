import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp } from '../helpers/users.js';

describe('rate limits (memory store)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { RATE_LIMIT_GENERAL: '3', RATE_LIMIT_AUTH: '4' } });
  });
  afterAll(() => t?.close());

  it('counts every general request per user and answers 429 with Retry-After past the limit', async () => {
    const user = await signUp(t);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await user.api.get('/users/me');
      statuses.push(res.status);
      expect(res.headers.get('x-ratelimit-limit')).toBe('3');
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(2 - i));
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
    }
    const limited = await user.api.get('/users/me');
    expect(statuses).toEqual([200, 200, 200]);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
    expect(limited.body.error.retry_after).toBeGreaterThan(0);
    expect(limited.headers.get('retry-after')).toBe(String(limited.body.error.retry_after));
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    // Another user has a bucket of their own.
    const other = await signUp(t);
    expect((await other.api.get('/users/me')).status).toBe(200);
  });

  it('limits /auth/* per client IP, whoever signs in', async () => {
    const fresh = await startTestApp({ env: { RATE_LIMIT_AUTH: '2' } });
    try {
      const a = await fresh.api.post('/auth/dev/login', { email: 'a@example.com' });
      const b = await fresh.api.post('/auth/dev/login', { email: 'b@example.com' });
      const c = await fresh.api.post('/auth/refresh', { refresh_token: 'rt_x' });
      expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    } finally {
      await fresh.close();
    }
  });

  it('does not limit health probes', async () => {
    for (let i = 0; i < 6; i++) expect((await t.api.get('/health/live')).status).toBe(200);
  });
});

describe('rate limits (PostgreSQL store)', () => {
  it('holds across two API instances on one database', async () => {
    const env = { RATE_LIMIT_STORE: 'postgres', RATE_LIMIT_GENERAL: '4' };
    const a = await startTestApp({ env });
    const b = await startTestApp({ env, databaseUrl: a.databaseUrl });
    try {
      const user = await signUp(a);
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const client = (i % 2 === 0 ? a : b).api.as(user.token);
        statuses.push((await client.get('/users/me')).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await b.close();
      // b shares a's database, which a drops.
      await a.close();
    }
  });
});
