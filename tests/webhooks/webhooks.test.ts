import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup } from '../../jobs/tasks/cleanup.js';
import { deliverWebhook } from '../../src/domain/webhooks/deliveries.js';
import { createWebhookSender } from '../../src/integrations/webhook-sender.js';
import { startFakeWebhookReceiver, type FakeWebhookReceiver, type ReceivedWebhook } from '../fakes/webhook-receiver.js';
import { TEST_TLS_CERT } from '../fakes/tls.js';
import { createLogger } from '../../src/core/logging.js';
import { logCapture, startTestApp, type TestApp } from '../helpers/app.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Outgoing webhooks (issue 19 item 4), through the real API and worker, to a local https receiver.
// The receiver is on 127.0.0.1: the app reaches it only with PUSH_ALLOW_LOOPBACK, the test-only
// allowance the push tests use (refused in production by src/config.ts).

let t: TestApp;
let receiver: FakeWebhookReceiver;

beforeAll(async () => {
  receiver = await startFakeWebhookReceiver();
  t = await startTestApp({ worker: true, env: { PUSH_ALLOW_LOOPBACK: 'true', WEBHOOK_EXTRA_CA_CERTS: TEST_TLS_CERT } });
}, 30_000);
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

let paths = 0;
const freshPath = () => `/hook-${++paths}`;

async function addWebhook(user: TestUser, path: string, events = ['task.created', 'task.updated', 'task.completed', 'task.deleted', 'note.created', 'reminder.fired']) {
  const res = await user.api.post('/webhooks', { url: receiver.url(path), events, description: 'test receiver' });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; secret: string };
}

/** The documented recipe (openapi.yaml createWebhook, docs/WEBHOOKS.md), written out independently of the server's code. */
function verify(received: ReceivedWebhook, secret: string, now = Date.now()): boolean {
  const header = String(received.headers['perpetua-signature'] ?? '');
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const t = parts.t;
  const v1 = parts.v1;
  if (!t || !v1 || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(now / 1000 - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${received.raw}`).digest();
  return timingSafeEqual(Buffer.from(v1, 'hex'), expected);
}

/** Makes the waiting retries due now (instead of waiting out the backoff). */
const retryNow = () => sql`update graphile_worker._private_jobs set run_at = now() where key like 'webhook:%' and locked_at is null`.execute(t.db);

const deliveriesOf = async (user: TestUser, webhookId: string) => (await user.api.get(`/webhooks/${webhookId}/deliveries`, { query: { limit: 100 } })).body.data as any[];

describe('managing webhook endpoints', () => {
  it('creates an endpoint and shows its secret once: never in get, list, or an idempotent replay', async () => {
    const ada = await signUp(t);
    const key = randomUUID();
    const res = await ada.api.post('/webhooks', { url: receiver.url('/once'), events: ['task.created'] }, { idempotencyKey: key });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data).toMatchObject({ url: receiver.url('/once'), events: ['task.created'], description: null, enabled: true, consecutive_failures: 0 });
    expect(res.body.data.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const replay = await ada.api.post('/webhooks', { url: receiver.url('/once'), events: ['task.created'] }, { idempotencyKey: key });
    expect(replay.status).toBe(201);
    expect(replay.body.data).toMatchObject({ id: res.body.data.id, secret: null });
    const got = await ada.api.get(`/webhooks/${res.body.data.id}`);
    expect(got.body.data).not.toHaveProperty('secret');
    const listed = await ada.api.get('/webhooks');
    expect(listed.body.pagination).toMatchObject({ total: 1 });
    expect(listed.text).not.toContain(res.body.data.secret);
    expect(replay.text).not.toContain(res.body.data.secret);
    // Nor is it kept with the stored answer.
    const stored = await sql<{ n: number }>`select count(*)::int as n from idempotency_keys where response_text like ${`%${res.body.data.secret}%`}`.execute(t.db);
    expect(stored.rows[0]!.n).toBe(0);
  });

  it('refuses an http URL, a private or loopback-looking address, a name that does not resolve, credentials — 400 naming body.url, and nothing changes', async () => {
    const bob = await signUp(t);
    const before = await snapshotDatabase(t);
    for (const url of ['http://hooks.example.com/x', 'https://10.0.0.1/x', 'https://192.168.1.20/x', 'https://169.254.169.254/latest', 'https://[fd00::1]/x', 'https://hooks.invalid/x', 'https://user:pw@127.0.0.1/x']) {
      const res = await bob.api.post('/webhooks', { url, events: ['task.created'] });
      expect(res.status, url).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual(['body.url']);
    }
    expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});
  });

  it('without the test-only allowance, loopback is not public, and a name that comes to resolve to a private address is not connected to (DNS rebinding)', async () => {
    const strict = createWebhookSender({ extraCaCerts: TEST_TLS_CERT });
    expect(await strict.checkUrl(receiver.url('/x'))).toMatchObject({ ok: false, message: expect.stringMatching(/not a public/) });
    expect(await strict.checkUrl('https://[::1]/x')).toMatchObject({ ok: false });
    // A name that resolves to a public address at registration and to 127.0.0.1 at delivery.
    let answer = '93.184.216.34';
    const rebinding = createWebhookSender({ lookup: async () => [{ address: answer, family: 4 }], extraCaCerts: TEST_TLS_CERT });
    const port = new URL(receiver.origin).port;
    expect(await rebinding.checkUrl(`https://rebind.example:${port}/x`)).toEqual({ ok: true });
    answer = '127.0.0.1';
    const before = receiver.received.length;
    const sent = await rebinding.send({ url: `https://rebind.example:${port}/rebound`, secret: 'whsec_x', eventId: '00000000-0000-4000-8000-000000000000', eventType: 'task.created', body: '{}' });
    expect(sent).toMatchObject({ outcome: 'failed', statusCode: null, refused: true });
    expect(receiver.received.length).toBe(before);
  });

  it('allows 10 endpoints per user (409 LIMIT_EXCEEDED, nothing stored), changes and deletes them', async () => {
    const cleo = await signUp(t);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await addWebhook(cleo, `/limit-${i}`, ['task.created'])).id);
    const before = await snapshotDatabase(t);
    const over = await cleo.api.post('/webhooks', { url: receiver.url('/limit-11'), events: ['task.created'] });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 10 });
    expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});

    const patched = await cleo.api.patch(`/webhooks/${ids[0]}`, { events: ['task.completed', 'note.created'], description: 'changed', enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.body.data).toMatchObject({ events: ['task.completed', 'note.created'], description: 'changed', enabled: false });
    const badUrl = await cleo.api.patch(`/webhooks/${ids[0]}`, { url: 'https://10.1.2.3/x' });
    expect(badUrl.status).toBe(400);
    expect((await cleo.api.get(`/webhooks/${ids[0]}`)).body.data.url).toBe(receiver.url('/limit-0'));
    const deleted = await cleo.api.delete(`/webhooks/${ids[0]}`);
    expect(deleted.body.data).toEqual({ id: ids[0], deleted: true });
    expect((await cleo.api.get(`/webhooks/${ids[0]}`)).status).toBe(404);
    const page = await cleo.api.get('/webhooks', { query: { limit: 4, offset: 4 } });
    expect(page.body.data.map((w: { id: string }) => w.id)).toEqual(ids.slice(5, 9));
    expect(page.body.pagination).toEqual({ offset: 4, limit: 4, total: 9, has_more: true });
  });

  it("another user's endpoint is a 403 FORBIDDEN for every operation (SPEC FR-005), and nothing changes", async () => {
    const owner = await signUp(t);
    const intruder = await signUp(t);
    const hook = await addWebhook(owner, freshPath());
    const before = await snapshotDatabase(t);
    for (const res of [
      await intruder.api.get(`/webhooks/${hook.id}`),
      await intruder.api.patch(`/webhooks/${hook.id}`, { enabled: false }),
      await intruder.api.delete(`/webhooks/${hook.id}`),
      await intruder.api.get(`/webhooks/${hook.id}/deliveries`),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    expect((await intruder.api.get('/webhooks')).body.data).toEqual([]);
    expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});
  });
});

describe('deliveries', () => {
  it('sends each subscribed event, signed: the signature verifies with the documented recipe and the event id is in the header and the body', async () => {
    const dan = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(dan, path);
    const task = (await dan.api.post('/tasks', { title: 'Prepare the quarterly report' })).body.data;
    await dan.api.patch(`/tasks/${task.id}`, { completed: true });
    const note = (await dan.api.post('/notes', { content: 'Call the venue' })).body.data;
    await dan.api.delete(`/tasks/${task.id}`);

    await expect.poll(() => receiver.receivedAt(path).length, { timeout: 15_000 }).toBe(5);
    const got = receiver.receivedAt(path);
    expect(got.map((r) => r.body.type).sort()).toEqual(['note.created', 'task.completed', 'task.created', 'task.deleted', 'task.updated']);
    for (const r of got) {
      expect(verify(r, hook.secret), `signature of ${r.body.type}`).toBe(true);
      expect(verify(r, 'whsec_not-the-secret')).toBe(false);
      expect(r.headers['perpetua-event-id']).toBe(r.body.id);
      expect(r.headers['perpetua-event-type']).toBe(r.body.type);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const byType = Object.fromEntries(got.map((r) => [r.body.type, r.body]));
    expect(byType['task.created'].data.task).toMatchObject({ id: task.id, title: 'Prepare the quarterly report' });
    expect(byType['task.completed'].data.task).toMatchObject({ id: task.id, completed: true });
    expect(byType['task.updated'].data.changed).toEqual(['completed']);
    expect(byType['note.created'].data.note).toMatchObject({ id: note.id });
    expect(byType['task.deleted'].data).toMatchObject({ task_id: task.id, tombstone_id: expect.any(String) });

    // The worker records a delivery once its answer is back, so just after the receiver saw it.
    await expect.poll(async () => (await deliveriesOf(dan, hook.id)).filter((d) => d.status !== 'pending').length, { timeout: 5_000 }).toBe(5);
    const deliveries = await deliveriesOf(dan, hook.id);
    expect(deliveries).toHaveLength(5);
    expect(deliveries.every((d) => d.status === 'succeeded' && d.attempts === 1 && d.response_status === 200)).toBe(true);
  });

  it('sends only the events the endpoint subscribes to, and only the owner’s', async () => {
    const eve = await signUp(t);
    const other = await signUp(t);
    const path = freshPath();
    await addWebhook(eve, path, ['task.completed']);
    const task = (await eve.api.post('/tasks', { title: 'Water the plants' })).body.data;
    await other.api.post('/tasks', { title: 'Not Eve’s' });
    await eve.api.patch(`/tasks/${task.id}`, { completed: true });
    await expect.poll(() => receiver.receivedAt(path).length, { timeout: 15_000 }).toBe(1);
    expect(receiver.receivedAt(path)[0]!.body).toMatchObject({ type: 'task.completed', data: { task: { id: task.id } } });
  });

  it('sends reminder.fired when a reminder fires', async () => {
    const fay = await signUp(t);
    const path = freshPath();
    await addWebhook(fay, path, ['reminder.fired']);
    const task = (await fay.api.post('/tasks', { title: 'Stand-up' })).body.data;
    const reminder = (await fay.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - 60_000).toISOString() })).body.data;
    await expect.poll(() => receiver.receivedAt(path).length, { timeout: 15_000 }).toBe(1);
    expect(receiver.receivedAt(path)[0]!.body).toMatchObject({ type: 'reminder.fired', data: { reminder: { id: reminder.id, fired: true } } });
  });

  it('retries a delivery the receiver failed (500) until it succeeds: the same event id and the same signed bytes, a bounded excerpt kept', async () => {
    const gus = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(gus, path, ['task.created']);
    receiver.respondWith(path, 500, 500, 200);
    await gus.api.post('/tasks', { title: 'Call the venue' });

    await expect.poll(() => receiver.receivedAt(path).length, { timeout: 15_000 }).toBe(1);
    await expect.poll(async () => (await deliveriesOf(gus, hook.id))[0]?.response_status, { timeout: 10_000 }).toBe(500);
    const failed = (await deliveriesOf(gus, hook.id))[0];
    expect(failed).toMatchObject({ status: 'pending', attempts: 1, response_status: 500 });
    expect(failed.response_excerpt.length).toBeLessThanOrEqual(256);
    // The next attempt waits its backoff (30 s after the first failure).
    expect(new Date(failed.next_attempt_at).getTime() - new Date(failed.last_attempt_at).getTime()).toBeGreaterThanOrEqual(29_000);
    expect((await gus.api.get(`/webhooks/${hook.id}`)).body.data.consecutive_failures).toBe(1);

    for (let n = 2; n <= 3; n++) {
      // Attempt n is queued once attempt n-1's failure is recorded.
      await expect.poll(async () => (await sql<{ n: number }>`select count(*)::int as n from graphile_worker._private_jobs where key like ${`webhook:%:${n}`}`.execute(t.db)).rows[0]!.n, { timeout: 10_000 }).toBe(1);
      await retryNow();
      await expect.poll(() => receiver.receivedAt(path).length, { timeout: 15_000 }).toBe(n);
    }
    await expect.poll(async () => (await deliveriesOf(gus, hook.id))[0]?.status, { timeout: 10_000 }).toBe('succeeded');
    const [first, second, third] = receiver.receivedAt(path);
    expect(new Set([first, second, third].map((r) => r!.headers['perpetua-event-id'])).size).toBe(1);
    expect(second!.raw).toBe(first!.raw);
    expect(third!.raw).toBe(first!.raw);
    for (const r of [first, second, third]) expect(verify(r!, hook.secret)).toBe(true);
    expect((await deliveriesOf(gus, hook.id))[0]).toMatchObject({ status: 'succeeded', attempts: 3, response_status: 200, next_attempt_at: null });
    expect((await gus.api.get(`/webhooks/${hook.id}`)).body.data).toMatchObject({ consecutive_failures: 0, enabled: true });
  });

  it('runs an attempt once however often its job runs (a duplicate job sends nothing more)', async () => {
    const hal = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(hal, path, ['task.created']);
    await hal.api.post('/tasks', { title: 'Once' });
    await expect.poll(async () => (await deliveriesOf(hal, hook.id))[0]?.status, { timeout: 15_000 }).toBe('succeeded');
    const [delivery] = await deliveriesOf(hal, hook.id);
    const sender = createWebhookSender({ allowLoopback: true, extraCaCerts: TEST_TLS_CERT });
    expect(await deliverWebhook({ db: t.db, sender, log: t.deps.log }, { deliveryId: delivery.id, attempt: 1 })).toBe('skipped');
    expect(receiver.receivedAt(path)).toHaveLength(1);
  });

  it('never logs the secret, whether the attempt fails or succeeds', async () => {
    const lee = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(lee, path, ['task.created']);
    // The running worker would take the job first: this delivery's path fails until the direct runs below.
    receiver.respondWith(path, 500);
    await lee.api.post('/tasks', { title: 'Logged' });
    await expect.poll(async () => (await deliveriesOf(lee, hook.id))[0]?.response_status, { timeout: 15_000 }).toBe(500);
    const [delivery] = await deliveriesOf(lee, hook.id);
    const capture = logCapture();
    const log = createLogger('debug', {}, capture);
    const sender = createWebhookSender({ allowLoopback: true, extraCaCerts: TEST_TLS_CERT });
    expect(await deliverWebhook({ db: t.db, sender, log }, { deliveryId: delivery.id, attempt: 2 })).toBe('retrying');
    receiver.respondWith(path, 200);
    expect(await deliverWebhook({ db: t.db, sender, log }, { deliveryId: delivery.id, attempt: 3 })).toBe('delivered');
    expect(capture.lines.length).toBeGreaterThanOrEqual(2);
    for (const line of capture.lines) expect(line).not.toContain(hook.secret);
    expect(capture.entries().map((e) => e.msg)).toEqual(['webhook delivery failed; will retry', 'webhook delivered']);
  });

  it('does not follow redirects: a 302 is a failed attempt and the target is never called', async () => {
    const ida = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(ida, path, ['task.created']);
    receiver.redirect(path, receiver.url('/redirect-target'));
    await ida.api.post('/tasks', { title: 'Redirected' });
    await expect.poll(async () => (await deliveriesOf(ida, hook.id))[0]?.response_status, { timeout: 15_000 }).toBe(302);
    expect(receiver.receivedAt('/redirect-target')).toHaveLength(0);
    expect((await deliveriesOf(ida, hook.id))[0]).toMatchObject({ status: 'pending', attempts: 1 });
  });

  it('disables an endpoint after repeated failures, gives up its pending deliveries and notifies its owner in-app; re-enabling starts it afresh', async () => {
    const jo = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(jo, path, ['task.created']);
    receiver.respondWith(path, 503);
    // 19 failed attempts over the last two hours; the next failure is the 20th.
    await t.db.updateTable('webhooks').set({ consecutive_failures: 19, failing_since: new Date(Date.now() - 2 * 3600_000) }).where('id', '=', hook.id).execute();
    await jo.api.post('/tasks', { title: 'Twentieth failure' });

    await expect.poll(async () => (await jo.api.get(`/webhooks/${hook.id}`)).body.data.enabled, { timeout: 15_000 }).toBe(false);
    const disabled = (await jo.api.get(`/webhooks/${hook.id}`)).body.data;
    expect(disabled).toMatchObject({ disabled_reason: 'failures', consecutive_failures: 20, disabled_at: expect.any(String) });
    expect((await deliveriesOf(jo, hook.id))[0]).toMatchObject({ status: 'failed', attempts: 1, response_status: 503, next_attempt_at: null });
    const notifications = (await jo.api.get('/notifications')).body.data;
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({ type: 'system', title: 'Webhook disabled', action_url: `/settings/webhooks/${hook.id}` });
    expect(notifications[0].body).toContain(receiver.origin);

    // A disabled endpoint gets nothing queued.
    await jo.api.post('/tasks', { title: 'While disabled' });
    expect(await deliveriesOf(jo, hook.id)).toHaveLength(1);

    receiver.respondWith(path, 200);
    const enabled = await jo.api.patch(`/webhooks/${hook.id}`, { enabled: true });
    expect(enabled.body.data).toMatchObject({ enabled: true, disabled_at: null, disabled_reason: null, consecutive_failures: 0 });
    await jo.api.post('/tasks', { title: 'After re-enabling' });
    await expect.poll(async () => (await deliveriesOf(jo, hook.id))[0]?.status, { timeout: 15_000 }).toBe('succeeded');
  });

  it('lists deliveries newest first, paginated', async () => {
    const kim = await signUp(t);
    const path = freshPath();
    const hook = await addWebhook(kim, path, ['task.created']);
    for (let i = 0; i < 3; i++) await kim.api.post('/tasks', { title: `Task ${i}` });
    await expect.poll(() => receiver.receivedAt(path).length, { timeout: 15_000 }).toBe(3);
    const page = await kim.api.get(`/webhooks/${hook.id}/deliveries`, { query: { limit: 2 } });
    expect(page.body.pagination).toEqual({ offset: 0, limit: 2, total: 3, has_more: true });
    const all = await deliveriesOf(kim, hook.id);
    expect(all.map((d) => d.created_at)).toEqual([...all.map((d) => d.created_at)].sort().reverse());
    expect(all.map((d) => d.event_type)).toEqual(['task.created', 'task.created', 'task.created']);
  });

  it('the cleanup job deletes finished deliveries after 30 days and keeps pending ones', async () => {
    const max = await signUp(t);
    const hook = await addWebhook(max, freshPath(), ['note.created']);
    const old = new Date(Date.now() - 31 * 86_400_000);
    const rows = (['succeeded', 'failed', 'pending'] as const).map((status) => ({ webhook_id: hook.id, event_id: randomUUID(), event_type: 'note.created', payload: '{}', status, created_at: old }));
    await t.db.insertInto('webhook_deliveries').values([...rows, { webhook_id: hook.id, event_id: randomUUID(), event_type: 'note.created', payload: '{}', status: 'succeeded' }]).execute();
    const result = await cleanup(t.db);
    expect(result.webhookDeliveries).toBeGreaterThanOrEqual(2);
    const left = await t.db.selectFrom('webhook_deliveries').select(['status', 'created_at']).where('webhook_id', '=', hook.id).execute();
    expect(left.map((r) => r.status).sort()).toEqual(['pending', 'succeeded']);
    expect(left.find((r) => r.status === 'succeeded')!.created_at.getTime()).toBeGreaterThan(old.getTime());
  });
});
