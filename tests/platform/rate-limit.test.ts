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

describe('the Checkout.com webhook and the calendar feed', () => {
  it('limits the webhook per client IP (RATE_LIMIT_WEBHOOK), with the X-RateLimit headers and a 429 past it', async () => {
    // No CHECKOUT_WEBHOOK_SECRET: every delivery answers 503, and counts.
    const app = await startTestApp({ env: { RATE_LIMIT_WEBHOOK: '2' } });
    try {
      const deliver = (ip: string) => app.api.post('/webhooks/checkout', { id: 'evt_1', type: 'payment_captured', data: {} }, { token: null, headers: { 'x-forwarded-for': ip } });
      const [a, b, c] = [await deliver('203.0.113.7'), await deliver('203.0.113.7'), await deliver('203.0.113.7')];
      expect([a.status, b.status, c.status]).toEqual([503, 503, 429]);
      expect(a.headers.get('x-ratelimit-limit')).toBe('2');
      expect(a.headers.get('x-ratelimit-remaining')).toBe('1');
      expect(c.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
      expect(Number(c.headers.get('retry-after'))).toBeGreaterThan(0);
      // another address has a bucket of its own
      expect((await deliver('198.51.100.9')).status).toBe(503);
    } finally {
      await app.close();
    }
  });

  it('limits each calendar feed by itself (RATE_LIMIT_CALENDAR_FEED), not by the address fetching it', async () => {
    // A calendar service fetches many users' feeds from one address: the general per-IP bucket (3
    // here) must not stop the fourth user's feed.
    const app = await startTestApp({ env: { RATE_LIMIT_CALENDAR_FEED: '2', RATE_LIMIT_GENERAL: '3', RATE_LIMIT_STORE: 'postgres' } });
    try {
      const users = await Promise.all([signUp(app), signUp(app), signUp(app), signUp(app)]);
      const paths: string[] = [];
      for (const u of users) paths.push(new URL((await u.api.post('/calendar/feed')).body.data.url).pathname);
      const fetchFeed = (p: string) => app.api.get(p, { token: null, headers: { 'x-forwarded-for': '192.0.2.10' } });
      for (const p of paths) {
        const res = await fetchFeed(p);
        expect(res.status, p).toBe(200);
        expect(res.headers.get('x-ratelimit-limit')).toBe('2');
        expect(res.headers.get('x-ratelimit-remaining')).toBe('1');
      }
      expect((await fetchFeed(paths[0]!)).status).toBe(200);
      const limited = await fetchFeed(paths[0]!);
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      // an unknown feed URL is limited too (by its own path), and still a 404 below the limit
      expect((await fetchFeed('/api/v1/calendar/pfcal_unknown.ics')).status).toBe(404);
      // the shared store keys a feed by a hash, never by its secret
      const keys = (await app.db.selectFrom('rate_limits' as never).select('key' as never).execute()) as { key: string }[];
      for (const p of paths) {
        const secret = /\/calendar\/(.+)\.ics$/.exec(p)![1]!;
        expect(keys.some((k) => k.key.includes(secret)), secret).toBe(false);
      }
    } finally {
      await app.close();
    }
  });
});
