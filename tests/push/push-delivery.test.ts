import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverPush } from '../../src/domain/push/deliver-push.js';
import { createPushSender } from '../../src/integrations/web-push.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Reminders with method `push` reach the browser through Web Push: VAPID-signed, aes128gcm-encrypted
// (the fake push service verifies and decrypts like a browser). A push failure never blocks the reminder.

let app: BillingApp;

beforeAll(async () => {
  app = await startBillingApp({ worker: true });
});
afterAll(() => app?.close());

async function pushReminder(user: TestUser, title: string) {
  const task = await user.api.post('/tasks', { title });
  const reminder = await user.api.post(`/tasks/${task.body.data.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - 1000).toISOString(), method: 'push' });
  expect(reminder.status).toBe(201);
  return { taskId: task.body.data.id as string, reminderId: reminder.body.data.id as string };
}

const notificationsOf = (user: TestUser) => app.t.db.selectFrom('notifications').selectAll().where('user_id', '=', user.id).execute();
const subscriptionExists = async (endpoint: string) => (await app.t.db.selectFrom('push_subscriptions').select('id').where('endpoint', '=', endpoint).execute()).length === 1;

describe('push delivery', () => {
  it('delivers a push reminder to every browser of the user, encrypted and VAPID-signed', async () => {
    const ada = await signUp(app.t);
    const laptop = app.pushService.subscribe();
    const phone = app.pushService.subscribe();
    await ada.api.post('/notifications/push-subscription', laptop);
    await ada.api.post('/notifications/push-subscription', phone);
    const { taskId } = await pushReminder(ada, 'Prepare the quarterly report');

    await expect.poll(() => app.pushService.deliveriesTo(laptop.endpoint).length + app.pushService.deliveriesTo(phone.endpoint).length, { timeout: 10_000 }).toBe(2);
    const [delivery] = app.pushService.deliveriesTo(laptop.endpoint);
    expect(delivery!.contentEncoding).toBe('aes128gcm');
    expect(delivery!.vapid).toMatchObject({ aud: app.pushService.origin, sub: 'mailto:ops@example.com' });
    expect(delivery!.payload).toMatchObject({ type: 'reminder', title: 'Task Reminder', task_id: taskId, url: `/tasks/${taskId}` });
    expect(delivery!.payload.body).toContain('Prepare the quarterly report');
    const [notification] = await notificationsOf(ada);
    expect(delivery!.payload.notification_id).toBe(notification!.id);
  });

  it('deletes a subscription the push service reports gone (410 or 404), keeps delivering to the others, and the reminder still fires', async () => {
    const bob = await signUp(app.t);
    const gone = app.pushService.subscribe();
    const unknown = app.pushService.subscribe();
    const alive = app.pushService.subscribe();
    for (const s of [gone, unknown, alive]) await bob.api.post('/notifications/push-subscription', s);
    app.pushService.respondWith(gone.endpoint, 410);
    app.pushService.respondWith(unknown.endpoint, 404);
    const { reminderId } = await pushReminder(bob, 'Water the plants');

    await expect.poll(async () => (await subscriptionExists(gone.endpoint)) || (await subscriptionExists(unknown.endpoint)), { timeout: 10_000 }).toBe(false);
    await expect.poll(() => app.pushService.deliveriesTo(alive.endpoint).length, { timeout: 10_000 }).toBe(1);
    expect(await subscriptionExists(alive.endpoint)).toBe(true);
    const reminder = await bob.api.get(`/reminders/${reminderId}`);
    expect(reminder.body.data.fired).toBe(true);
    expect((await notificationsOf(bob)).map((n) => n.type)).toEqual(['reminder']);
  });

  it('retries a push the service failed to take (500) until it is delivered', async () => {
    const cleo = await signUp(app.t);
    const flaky = app.pushService.subscribe();
    await cleo.api.post('/notifications/push-subscription', flaky);
    app.pushService.respondWith(flaky.endpoint, 500);
    await pushReminder(cleo, 'Call the venue');
    await expect.poll(() => app.pushService.deliveriesTo(flaky.endpoint).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    app.pushService.respondWith(flaky.endpoint, 201);
    await expect.poll(() => app.pushService.deliveriesTo(flaky.endpoint).at(-1)?.status, { timeout: 15_000 }).toBe(201);
    expect(await subscriptionExists(flaky.endpoint)).toBe(true);
  });

  it('pushes an achievement unlock, and the completion that unlocked it does not wait for the push', async () => {
    const fred = await signUp(app.t);
    const sub = app.pushService.subscribe();
    await fred.api.post('/notifications/push-subscription', sub);
    app.pushService.respondWith(sub.endpoint, 503); // a failing push service never blocks the completion
    const unlocked: string[] = [];
    for (let i = 0; i < 5; i++) {
      const task = await fred.api.post('/tasks', { title: `Task ${i}` });
      const done = await fred.api.patch(`/tasks/${task.body.data.id}`, { completed: true });
      expect(done.status).toBe(200);
      unlocked.push(...(done.body.unlocked_achievements ?? []).map((u: { achievement_id: string }) => u.achievement_id));
    }
    expect(unlocked).toEqual(['tasks_5']);
    await expect.poll(() => app.pushService.deliveriesTo(sub.endpoint).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    app.pushService.respondWith(sub.endpoint, 201);
    await expect.poll(() => app.pushService.deliveriesTo(sub.endpoint).at(-1)?.status, { timeout: 15_000 }).toBe(201);
    expect(app.pushService.deliveriesTo(sub.endpoint).at(-1)!.payload).toMatchObject({ type: 'achievement', title: 'Achievement unlocked: Task Starter', url: '/achievements' });
  });

  it('sends nothing for an in-app reminder', async () => {
    const dan = await signUp(app.t);
    const sub = app.pushService.subscribe();
    await dan.api.post('/notifications/push-subscription', sub);
    const task = await dan.api.post('/tasks', { title: 'Quiet reminder' });
    await dan.api.post(`/tasks/${task.body.data.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - 1000).toISOString(), method: 'in_app' });
    await expect.poll(async () => (await notificationsOf(dan)).length, { timeout: 10_000 }).toBe(1);
    const [notification] = await notificationsOf(dan);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id
      where k.identifier = 'push_deliver' and j.payload->>'notificationId' = ${notification!.id}`.execute(app.t.db);
    expect(rows[0]!.n).toBe(0);
    expect(app.pushService.deliveriesTo(sub.endpoint)).toHaveLength(0);
  });

  it('never connects to an endpoint whose name resolves to a private address (every address is checked); the subscription is kept', async () => {
    const gus = await signUp(app.t);
    const sub = app.pushService.subscribe();
    // The push service's own URL under a name; registered while the name resolved publicly.
    const endpoint = sub.endpoint.replace('127.0.0.1', 'push.test');
    const row = await app.t.db.insertInto('push_subscriptions').values({ user_id: gus.id, endpoint, p256dh_key: sub.p256dh_key, auth_key: sub.auth_key }).returning('id').executeTakeFirstOrThrow();
    const notification = await app.t.db.insertInto('notifications').values({ user_id: gus.id, type: 'system', title: 'Hello', body: 'World' }).returning('id').executeTakeFirstOrThrow();
    // The worker's sender, with a resolver answering for push.test (loopback is allowed, as for the fake).
    const resolvingTo = (addresses: string[]) =>
      createPushSender({
        publicKey: app.t.config.VAPID_PUBLIC_KEY,
        privateKey: app.t.config.VAPID_PRIVATE_KEY,
        contact: app.t.config.VAPID_CONTACT_EMAIL,
        extraCaCerts: app.pushService.ca,
        allowLoopback: true,
        lookup: async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      });
    const job = { notificationId: notification.id, subscriptionId: row.id };

    for (const addresses of [['127.0.0.1', '10.0.0.7'], ['fd00::7'], ['169.254.169.254']]) {
      expect(await deliverPush(app.t.db, { push: resolvingTo(addresses), log: app.t.deps.log, payload: job }), addresses.join()).toBe('refused');
    }
    expect(app.pushService.deliveriesTo(sub.endpoint)).toHaveLength(0);
    expect(await subscriptionExists(endpoint)).toBe(true);
    // a name that does not resolve right now is a network failure: thrown, so the worker retries it
    await expect(deliverPush(app.t.db, { push: resolvingTo([]), log: app.t.deps.log, payload: job })).rejects.toThrow(/push delivery failed \(network\)/);

    // The same endpoint resolving to the push service's address alone is delivered: the guard stopped it, not the network.
    expect(await deliverPush(app.t.db, { push: resolvingTo(['127.0.0.1']), log: app.t.deps.log, payload: job })).toBe('delivered');
    expect(app.pushService.deliveriesTo(sub.endpoint)).toHaveLength(1);
  });

  it('sends nothing to an endpoint that resolves to loopback without the test-only allowance, and neither the reminder nor the push job fails', async () => {
    const strict = await startBillingApp({ worker: true, env: { PUSH_ALLOW_LOOPBACK: 'false' } });
    try {
      const hal = await signUp(strict.t);
      const sub = strict.pushService.subscribe();
      // localhost resolves (through the system's resolver) to loopback; stored as if it once resolved publicly
      const endpoint = sub.endpoint.replace('127.0.0.1', 'localhost');
      await strict.t.db.insertInto('push_subscriptions').values({ user_id: hal.id, endpoint, p256dh_key: sub.p256dh_key, auth_key: sub.auth_key }).execute();
      const task = await hal.api.post('/tasks', { title: 'Renew the passport' });
      const reminder = await hal.api.post(`/tasks/${task.body.data.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - 1000).toISOString(), method: 'push' });
      expect(reminder.status).toBe(201);

      // Done when the notification exists and no push_deliver job of it is left (a failed one would stay, to be retried).
      const pushJobsLeft = async () => {
        const [notification] = await strict.t.db.selectFrom('notifications').select('id').where('user_id', '=', hal.id).execute();
        if (!notification) return -1;
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id
          where k.identifier = 'push_deliver' and j.payload->>'notificationId' = ${notification.id}`.execute(strict.t.db);
        return rows[0]!.n;
      };
      await expect.poll(pushJobsLeft, { timeout: 10_000 }).toBe(0);
      expect((await hal.api.get(`/reminders/${reminder.body.data.id}`)).body.data.fired).toBe(true);
      expect(strict.pushService.deliveries).toHaveLength(0);
      expect(await strict.t.db.selectFrom('push_subscriptions').select('id').where('endpoint', '=', endpoint).execute()).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });

  it('skips a push quietly when VAPID keys are not configured', async () => {
    const eve = await signUp(app.t);
    const sub = app.pushService.subscribe();
    const registered = await eve.api.post('/notifications/push-subscription', sub);
    const notification = await app.t.db
      .insertInto('notifications')
      .values({ user_id: eve.id, type: 'system', title: 'Hello', body: 'World' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const unconfigured = createPushSender({ publicKey: undefined, privateKey: undefined, contact: undefined });
    const result = await deliverPush(app.t.db, { push: unconfigured, log: app.t.deps.log, payload: { notificationId: notification.id, subscriptionId: registered.body.data.id } });
    expect(result).toBe('skipped');
    expect(app.pushService.deliveriesTo(sub.endpoint)).toHaveLength(0);
  });
});
