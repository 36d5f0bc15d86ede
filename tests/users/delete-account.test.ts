import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../jobs/enqueue.js';
import { subscriptionCheck } from '../../jobs/tasks/subscription-check.js';
import { addUtcMonths } from '../../src/domain/utc-calendar.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startTestApp } from '../helpers/app.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { createReminder, createSubtask, createTask, createTemplate, createTombstone, createNote } from '../helpers/resources.js';
import type { TestUser } from '../helpers/users.js';
import { signUp } from '../helpers/users.js';

let app: BillingApp;
let google: FakeGoogle;

beforeAll(async () => {
  google = await startFakeGoogle();
  app = await startBillingApp({ env: { GOOGLE_CLIENT_ID: google.clientId, GOOGLE_JWKS_URL: google.jwksUrl } });
});
afterAll(async () => {
  await app?.close();
  await google?.close();
});

let sub = 0;
/** A user signed in through (fake) Google, as in production. */
async function googleUser(name = 'Grace Hopper'): Promise<TestUser & { googleSub: string; refreshToken: string }> {
  const googleSub = `g-del-${++sub}-${Date.now()}`;
  const email = `${googleSub}@example.com`;
  const res = await app.t.api.post('/auth/google/callback', { id_token: google.signIdToken({ sub: googleSub, email, name }) });
  expect(res.status).toBe(200);
  return { id: res.body.user.id, email, token: res.body.access_token, refreshToken: res.body.refresh_token, api: app.t.api.as(res.body.access_token), googleSub };
}

async function subscribe(user: TestUser) {
  const res = await user.api.post('/subscription/checkout');
  expect(res.status).toBe(201);
  const { delivery } = await app.checkout.payHostedPage(res.body.data.session_id, { createdOn: new Date() });
  expect(delivery.body).toMatchObject({ processed: true });
}

/** Every row of every table of the public schema (and every queued job) that mentions the text. */
async function rowsMentioning(needle: string): Promise<string[]> {
  const tables = await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public' order by tablename`.execute(app.t.db);
  const found: string[] = [];
  for (const { tablename } of tables.rows) {
    const { rows } = await sql<{ row: string }>`select x::text as row from ${sql.table(tablename)} x where position(lower(${needle}) in lower(x::text)) > 0`.execute(app.t.db);
    for (const r of rows) found.push(`${tablename}: ${r.row}`);
  }
  const jobs = await sql<{ row: string }>`select j::text as row from graphile_worker._private_jobs j where position(lower(${needle}) in lower(j::text)) > 0`.execute(app.t.db);
  for (const r of jobs.rows) found.push(`job: ${r.row}`);
  return found;
}

const deleteAccount = (u: TestUser, confirm: unknown, opts: { idempotencyKey?: string } = {}) => u.api.delete('/users/me', { body: { confirm }, ...opts });

describe('deleteCurrentUser', () => {
  it('refuses a wrong confirmation with 400 CONFIRMATION_MISMATCH and changes nothing', async () => {
    const u = await googleUser();
    await createTask(u);
    const before = await snapshotDatabase(app.t);
    for (const confirm of ['someone-else@example.com', u.email.replace('@', '+x@'), ' ']) {
      const res = await deleteAccount(u, confirm);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(confirm.trim() ? 'CONFIRMATION_MISMATCH' : 'CONFIRMATION_MISMATCH');
    }
    const noBody = await u.api.delete('/users/me');
    expect(noBody.status).toBe(400);
    expect(noBody.body.error.code).toBe('VALIDATION_ERROR');
    expect(diffSnapshots(before, await snapshotDatabase(app.t))).toEqual({});
    expect((await u.api.get('/users/me')).status).toBe(200);
  });

  it('deletes every row of the user, cancels the subscription, revokes tokens and removes queued jobs', async () => {
    const u = await googleUser('Ada Deleted');
    const other = await signUp(app.t);
    const othersTask = await createTask(other);
    await subscribe(u);
    await createSubtask(u);
    const reminder = await createReminder(u);
    const template = await createTemplate(u);
    await createNote(u);
    await createTombstone(u, 'task');
    const recurring = (await u.api.post(`/templates/${template.id}/generate`)).body.data;
    await u.api.patch(`/tasks/${recurring.id}`, { completed: true });
    await app.t.db.insertInto('push_subscriptions').values({ user_id: u.id, endpoint: `https://push.example.com/${u.id}`, p256dh_key: 'k', auth_key: 'a' }).execute();
    await app.t.db.insertInto('notifications').values({ user_id: u.id, type: 'system', title: 'Hello', body: 'Ada Deleted, welcome' }).execute();
    // An outgoing webhook with a delivery waiting for its retry (issue 19).
    const hook = await app.t.db.insertInto('webhooks').values({ user_id: u.id, url: 'https://hooks.example.com/ada', events: ['task.created'], secret: 'whsec_test' }).returning('id').executeTakeFirstOrThrow();
    const delivery = await app.t.db.insertInto('webhook_deliveries').values({ webhook_id: hook.id, event_id: randomUUID(), event_type: 'task.created', payload: '{}', attempts: 1 }).returning('id').executeTakeFirstOrThrow();
    await enqueueJob(app.t.db, { name: 'webhook_deliver', payload: { deliveryId: delivery.id, attempt: 2 }, runAt: new Date(Date.now() + 3600_000), jobKey: `webhook:${delivery.id}:2` });
    expect((await rowsMentioning(`webhook:${delivery.id}`)).length).toBe(1);
    expect((await rowsMentioning(`reminder:${reminder.id}`)).length).toBe(1);
    expect((await rowsMentioning(`recurring:${recurring.id}`)).length).toBe(1);
    const sub = await app.t.db.selectFrom('subscriptions').selectAll().where('user_id', '=', u.id).executeTakeFirstOrThrow();
    expect(sub.status).toBe('active');
    const othersBefore = (await other.api.get(`/tasks/${othersTask.id}`)).body;

    const res = await deleteAccount(u, u.email.toUpperCase());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { id: u.id, deleted: true } });

    // Nothing of the user anywhere: not the id, not the email, not the name, not a queued job.
    expect(await rowsMentioning(u.id)).toEqual([]);
    expect(await rowsMentioning(u.email)).toEqual([]);
    expect(await rowsMentioning('Ada Deleted')).toEqual([]);
    expect(await rowsMentioning(u.googleSub)).toEqual([]);
    expect(await rowsMentioning(reminder.id)).toEqual([]);
    expect(await rowsMentioning(recurring.id)).toEqual([]);
    expect(await rowsMentioning(delivery.id)).toEqual([]);

    // The access token is dead on every kind of operation; the refresh token too.
    for (const [method, path, body] of [
      ['GET', '/users/me'],
      ['GET', '/tasks'],
      ['POST', '/tasks', { title: 'Back from the dead' }],
      ['GET', '/users/me/export'],
      ['GET', '/credits/balance'],
      ['POST', '/notes', { content: 'Still here?' }],
      ['DELETE', '/users/me', { confirm: u.email }],
    ] as const) {
      const r = await u.api.request(method, path, body ? { body } : {});
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.body.error.code).toBe('UNAUTHORIZED');
    }
    expect((await app.t.api.post('/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
    expect(await rowsMentioning(u.id)).toEqual([]);

    // No renewal is ever charged: the hourly job at and after the period end charges nobody.
    const charges = app.checkout.chargesTo().length;
    await subscriptionCheck({ db: app.t.db, config: app.t.config, checkout: app.t.deps.checkout, log: app.t.deps.log }, { now: addUtcMonths(sub.current_period_end, 1).toISOString() });
    expect(app.checkout.chargesTo().length).toBe(charges);

    // Other users are untouched.
    expect((await other.api.get(`/tasks/${othersTask.id}`)).body).toEqual(othersBefore);

    // The audit entry: counts only, nothing that leads back to the person.
    const audit = await app.t.db.selectFrom('account_deletions').selectAll().orderBy('deleted_at', 'desc').executeTakeFirstOrThrow();
    expect(audit).toMatchObject({ source: 'user_request', subscription_status: 'active' });
    expect(audit.counts).toMatchObject({ tasks: 4, subtasks: 2, reminders: 1, templates: 1, notes: 1, tombstones: 1, push_subscriptions: 1, webhooks: 1, notifications: 1 });
    expect(audit.counts.queued_jobs).toBeGreaterThanOrEqual(2);
    const auditText = JSON.stringify(audit);
    for (const personal of [u.id, u.email, 'Ada Deleted', u.googleSub]) expect(auditText).not.toContain(personal);
    const { rows: columns } = await sql<{ column_name: string }>`select column_name from information_schema.columns where table_name = 'account_deletions'`.execute(app.t.db);
    expect(columns.map((c) => c.column_name).sort()).toEqual(['counts', 'created_at', 'deleted_at', 'id', 'source', 'subscription_status', 'updated_at']);
  });

  it('lets the same Google account sign in again as a brand new user with fresh kickstart credits', async () => {
    const u = await googleUser('Returning User');
    await createTask(u);
    await app.t.db.updateTable('credit_lots').set({ remaining: 0 }).where('user_id', '=', u.id).execute();
    expect((await deleteAccount(u, u.email)).status).toBe(200);

    const again = await app.t.api.post('/auth/google/callback', { id_token: google.signIdToken({ sub: u.googleSub, email: u.email, name: 'Returning User' }) });
    expect(again.status).toBe(200);
    expect(again.body.user.id).not.toBe(u.id);
    const fresh = app.t.api.as(again.body.access_token);
    expect((await fresh.get('/credits/balance')).body.data).toMatchObject({ kickstart: 5, total: 5 });
    expect((await fresh.get('/tasks')).body.pagination.total).toBe(0);
    // The old token still names the old account: 401, never the new one's data.
    expect((await u.api.get('/tasks')).status).toBe(401);
  });

  it("refuses a deleted account's token on every API process, also when the row was deleted by hand", async () => {
    const other = await startTestApp({ databaseUrl: app.t.databaseUrl });
    try {
      const [u, v] = [await googleUser(), await googleUser()];
      const onBoth = (x: TestUser) => [x.api, other.api.as(x.token)];
      // Both processes have seen both accounts and remember them; GET /tasks of a missing account
      // would be an empty 200 without the check.
      for (const x of [u, v]) for (const api of onBoth(x)) expect((await api.get('/tasks')).status).toBe(200);

      expect((await deleteAccount(u, u.email)).status).toBe(200);
      expect((await u.api.get('/tasks')).status).toBe(401);
      await expect.poll(async () => (await other.api.as(u.token).get('/tasks')).status, { timeout: 2000, interval: 20 }).toBe(401);

      await app.t.db.deleteFrom('users').where('id', '=', v.id).execute();
      for (const api of onBoth(v)) await expect.poll(async () => (await api.get('/tasks')).status, { timeout: 2000, interval: 20 }).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('answers a retry with the same Idempotency-Key 401: the account it would replay for is gone', async () => {
    const u = await googleUser();
    const key = `del-${u.id}`;
    expect((await deleteAccount(u, u.email, { idempotencyKey: key })).status).toBe(200);
    expect((await deleteAccount(u, u.email, { idempotencyKey: key })).status).toBe(401);
  });

  it('leaves nothing behind when the user keeps writing during the deletion', async () => {
    const u = await googleUser();
    for (let i = 0; i < 5; i++) await createReminder(u);
    const task = await createTask(u);
    const writeOnce = (i: number) => {
      switch (i % 5) {
        case 0:
          return u.api.post('/notes', { content: `Note ${i}` });
        case 1:
          return u.api.post('/tasks', { title: `Task ${i}` });
        case 2:
          return u.api.patch('/users/me', { name: `Name ${i}` });
        case 3:
          return u.api.post(`/tasks/${task.id}/subtasks`, { title: `Step ${i}` });
        default:
          return u.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -i });
      }
    };
    // Five writers keep going until the account is gone for them.
    const statuses: number[] = [];
    const writer = async (k: number) => {
      for (let i = k; i < 2000; i += 5) {
        const r = await writeOnce(i);
        statuses.push(r.status);
        // Done before the deletion, refused by a limit, or too late: never a 5xx. A write on the
        // task that went with the account may also find it gone (404).
        expect([200, 201, 401, 404, 409], `${r.status} ${r.text}`).toContain(r.status);
        if (r.status === 401) return;
      }
      throw new Error('the writer never saw the account go');
    };
    const writers = [0, 1, 2, 3, 4].map(writer);
    await new Promise((r) => setTimeout(r, 300));
    const deleted = await deleteAccount(u, u.email);
    expect(deleted.status).toBe(200);
    await Promise.all(writers);
    expect(statuses.filter((s) => s < 300).length).toBeGreaterThan(0);
    expect(await rowsMentioning(u.id)).toEqual([]);
    expect(await rowsMentioning(u.email)).toEqual([]);
  });
});
