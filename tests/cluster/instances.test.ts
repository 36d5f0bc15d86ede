import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../db/index.js';
import { startFakeCheckout, type FakeCheckout } from '../fakes/checkout.js';
import { createTestDatabase } from '../helpers/app.js';
import { TestClient } from '../helpers/client.js';
import { serviceEnv, startService, stopAllServices, type Service } from '../helpers/services.js';
import { EventStreamClient } from '../sync/event-stream.js';

// Two API processes and two worker processes on one database, as production runs them (SPEC §2:
// every piece of shared state lives in PostgreSQL). Every request goes to a real process through
// the contract-checking client; the database is read directly only to count effects.

const GENERAL_LIMIT = 12;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let handle: DatabaseHandle;
let checkout: FakeCheckout;
let apis: [Service, Service];
let workers: [Service, Service];

// Tests here start and kill real processes: seconds on a quiet machine, far longer on a loaded one.
vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, { max: 3 });
  checkout = await startFakeCheckout();
  const env = serviceEnv(database.url, {
    RATE_LIMIT_GENERAL: String(GENERAL_LIMIT),
    CHECKOUT_SECRET_KEY: checkout.secretKey,
    CHECKOUT_WEBHOOK_SECRET: checkout.webhookSecret,
    CHECKOUT_API_URL: checkout.url,
  });
  const [a, b, w1, w2] = await Promise.all([startService('api', env), startService('api', env), startService('worker', env), startService('worker', env)]);
  apis = [a, b];
  workers = [w1, w2];
}, 240_000); // four processes start; seconds each on a quiet machine, far longer on a loaded one

afterAll(async () => {
  await stopAllServices();
  await handle?.close();
  await checkout?.close();
  await database?.drop();
});

/** A new user, signed in through API `a`; a client for each API carrying their token. */
async function signIn(email = `cluster-${randomUUID().slice(0, 8)}@example.com`): Promise<{ id: string; email: string; refreshToken: string; via: [TestClient, TestClient] }> {
  const res = await new TestClient(apis[0].baseUrl).post('/auth/dev/login', { email });
  expect(res.status, res.text).toBe(200);
  const token = res.body.access_token as string;
  return { id: res.body.user.id, email, refreshToken: res.body.refresh_token, via: [new TestClient(apis[0].baseUrl, token), new TestClient(apis[1].baseUrl, token)] };
}

describe('two API processes and two workers on one database', () => {
  it('hold one general rate limit per user across both APIs (PostgreSQL store), even for simultaneous requests', async () => {
    const user = await signIn();
    // 2 × 8 requests at once, half to each process: exactly GENERAL_LIMIT pass.
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => user.via[i % 2]!.get('/users/me')));
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(GENERAL_LIMIT);
    expect(limited).toHaveLength(16 - GENERAL_LIMIT);
    for (const r of limited) {
      expect(r.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // One counter: the remaining counts the two processes gave out are each used exactly once.
    expect(ok.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort((x, y) => x - y)).toEqual(Array.from({ length: GENERAL_LIMIT }, (_, i) => i));
  });

  it('replay an idempotency key across both APIs: the second process answers the first one’s response', async () => {
    const user = await signIn();
    const key = randomUUID();
    const first = await user.via[0].post('/tasks', { title: 'Book the flights' }, { idempotencyKey: key });
    expect(first.status).toBe(201);
    const replay = await user.via[1].post('/tasks', { title: 'Book the flights' }, { idempotencyKey: key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    const mismatch = await user.via[1].post('/tasks', { title: 'Book the hotel' }, { idempotencyKey: key });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.error.code).toBe('IDEMPOTENCY_KEY_MISMATCH');
    const tasks = await handle.db.selectFrom('task_instances').select('id').where('user_id', '=', user.id).execute();
    expect(tasks.map((x) => x.id)).toEqual([first.body.data.id]);
  });

  it('run a request sent with one key to both APIs at the same moment once', async () => {
    const user = await signIn();
    const key = randomUUID();
    const results = await Promise.all(user.via.map((api) => api.post('/tasks', { title: 'Renew the passport' }, { idempotencyKey: key })));
    // One ran; the other replayed its answer or was told the key is still in use.
    for (const r of results) expect([201, 409]).toContain(r.status);
    const created = results.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const r of created) expect(r.body).toEqual(created[0]!.body);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    const tasks = await handle.db.selectFrom('task_instances').select('id').where('user_id', '=', user.id).execute();
    expect(tasks).toHaveLength(1);
  });

  it('fire each of 50 reminders exactly once with two workers', async () => {
    // 10 users × 1 task × 5 reminders (the per-task limit), created half through each API.
    const dueAt = new Date(Date.now() + 2_000).toISOString();
    const users = await Promise.all(Array.from({ length: 10 }, () => signIn()));
    const reminderIds: string[] = [];
    await Promise.all(
      users.map(async (user, u) => {
        const api = user.via[u % 2]!;
        const task = await api.post('/tasks', { title: `Stand-up ${u}` });
        expect(task.status, task.text).toBe(201);
        for (let i = 0; i < 5; i++) {
          const reminder = await user.via[(u + i) % 2]!.post(`/tasks/${task.body.data.id}/reminders`, { type: 'absolute', scheduled_at: dueAt });
          expect(reminder.status, reminder.text).toBe(201);
          reminderIds.push(reminder.body.data.id);
        }
      }),
    );
    expect(reminderIds).toHaveLength(50);
    const userIds = users.map((u) => u.id);
    const keys = reminderIds.map((id) => `reminder:${id}`);
    const reminderJobs = async () => (await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where key = any(${keys}::text[])`.execute(handle.db)).rows[0]!.n;
    const notifications = () => handle.db.selectFrom('notifications').select(['id', 'task_id']).where('user_id', 'in', userIds).where('type', '=', 'reminder').execute();

    await expect.poll(async () => (await notifications()).length, { timeout: 20_000, interval: 200 }).toBe(50);
    await expect.poll(reminderJobs, { timeout: 10_000, interval: 200 }).toBe(0);

    const all = await notifications();
    expect(all).toHaveLength(50);
    const perTask = new Map<string, number>();
    for (const n of all) perTask.set(n.task_id!, (perTask.get(n.task_id!) ?? 0) + 1);
    expect([...perTask.values()]).toEqual(Array(10).fill(5));
    const fired = await handle.db.selectFrom('reminders').select(['id', 'fired']).where('id', 'in', reminderIds).execute();
    expect(fired.every((r) => r.fired)).toBe(true);
    const firedEntries = await handle.db.selectFrom('activity_logs').select('entity_id').where('action', '=', 'reminder_fired').where('entity_id', 'in', reminderIds).execute();
    expect(new Set(firedEntries.map((e) => e.entity_id)).size).toBe(50);
    expect(firedEntries).toHaveLength(50);

    // Each reminder was notified by exactly one of the two workers (their own logs say which).
    const notifiedBy = new Map<string, string[]>();
    for (const worker of workers) {
      for (const line of worker.logs) {
        const entry = JSON.parse(line) as { job?: string; reminder_id?: string; outcome?: string };
        if (entry.job === 'reminder_fire' && entry.outcome === 'notified' && reminderIds.includes(entry.reminder_id!)) {
          notifiedBy.set(entry.reminder_id!, [...(notifiedBy.get(entry.reminder_id!) ?? []), worker.workerId]);
        }
      }
    }
    expect(notifiedBy.size).toBe(50);
    expect([...notifiedBy.values()].every((by) => by.length === 1)).toBe(true);
  });

  it('stop an ended session’s access token on both APIs: logout, a refresh reused after the grace, a newer sign-in', async () => {
    const anon = apis.map((api) => new TestClient(api.baseUrl));
    /** Both processes have the session in memory; after `end` (sent to API b) neither accepts its token. */
    const endsEverywhere = async (user: Awaited<ReturnType<typeof signIn>>, end: () => Promise<unknown>) => {
      for (const api of user.via) expect((await api.get('/tasks')).status).toBe(200);
      await end();
      for (const api of user.via) await expect.poll(async () => (await api.get('/tasks')).status, { timeout: 3000, interval: 20 }).toBe(401);
    };

    const loggedOut = await signIn();
    await endsEverywhere(loggedOut, () => anon[1]!.post('/auth/logout', { refresh_token: loggedOut.refreshToken }));

    const stolen = await signIn();
    await endsEverywhere(stolen, async () => {
      expect((await anon[1]!.post('/auth/refresh', { refresh_token: stolen.refreshToken })).status).toBe(200);
      // The rotated row is made older than the 10 s grace instead of waiting for it.
      await handle.db.updateTable('refresh_tokens').set({ revoked_at: new Date(Date.now() - 60_000) }).where('user_id', '=', stolen.id).where('revoked_reason', '=', 'rotated').execute();
      expect((await anon[1]!.post('/auth/refresh', { refresh_token: stolen.refreshToken })).status).toBe(401);
    });

    const replaced = await signIn();
    let newer: Awaited<ReturnType<typeof signIn>> | undefined;
    await endsEverywhere(replaced, async () => {
      const res = await anon[1]!.post('/auth/dev/login', { email: replaced.email });
      expect(res.status).toBe(200);
      newer = { ...replaced, via: [new TestClient(apis[0].baseUrl, res.body.access_token), new TestClient(apis[1].baseUrl, res.body.access_token)] };
    });
    for (const api of newer!.via) expect((await api.get('/tasks')).status).toBe(200);
  });

  it('push a change made through either API, or by a worker, to a stream on the other API (GET /events), and end it with the session', async () => {
    const user = await signIn();
    const cursor = (await user.via[0].get('/sync', { query: { limit: 100 } })).body.data.cursor as string;
    const stream = await EventStreamClient.open(apis[1].baseUrl, { token: user.via[1].token!, cursor });
    try {
      expect(stream.status).toBe(200);
      const hasTask = (id: string) => (d: any) => d.tasks.some((x: any) => x.id === id);
      // Through the other process, then through the stream's own.
      for (const via of [user.via[0], user.via[1]]) {
        const task = await via.post('/tasks', { title: 'Live', due_date: new Date(Date.now() - 60_000).toISOString() });
        expect(task.status, task.text).toBe(201);
        await stream.changes(hasTask(task.body.data.id), { ms: 5_000 });
      }
      // A reminder due already: one of the worker processes fires it, and its notification arrives.
      const task = await user.via[0].post('/tasks', { title: 'Stand-up' });
      const reminder = await user.via[0].post(`/tasks/${task.body.data.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - 60_000).toISOString() });
      expect(reminder.status, reminder.text).toBe(201);
      await stream.changes((d) => d.notifications.some((n: any) => n.task_id === task.body.data.id), { ms: 20_000 });
      expect((await user.via[0].post('/auth/logout', { refresh_token: user.refreshToken })).status).toBe(200);
      expect((await stream.ending(5_000))?.data.reason).toBe('session_ended');
    } finally {
      stream.close();
    }
  });

  it('apply a webhook event delivered to both APIs at the same moment once', async () => {
    const user = await signIn();
    const event = checkout.event('payment_captured', {
      id: `pay_${randomUUID().slice(0, 12)}`,
      amount: 999,
      currency: 'USD',
      metadata: { user_id: user.id, plan: 'pro_monthly' },
      source: { id: 'src_cluster', type: 'card' },
    });
    const rawBody = JSON.stringify(event);
    const headers = { 'content-type': 'application/json', 'cko-signature': checkout.sign(rawBody) };
    const deliveries = await Promise.all(Array.from({ length: 6 }, (_, i) => new TestClient(apis[i % 2]!.baseUrl).post('/webhooks/checkout', undefined, { rawBody, headers })));
    expect(deliveries.map((d) => d.status)).toEqual(Array(6).fill(200));
    expect(deliveries.filter((d) => d.body.processed)).toHaveLength(1);
    expect(deliveries.filter((d) => !d.body.processed).map((d) => d.body.reason)).toEqual(Array(5).fill('duplicate'));

    expect(await handle.db.selectFrom('webhook_events').select('event_id').where('event_id', '=', event.id).execute()).toHaveLength(1);
    const grants = await handle.db.selectFrom('ai_credit_ledger').select(['amount']).where('user_id', '=', user.id).where('category', '=', 'subscription').execute();
    expect(grants).toEqual([{ amount: 100 }]);
    const subscription = await user.via[1].get('/subscription');
    expect(subscription.body.data).toMatchObject({ tier: 'pro', status: 'active' });
  });
});
