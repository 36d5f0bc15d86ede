import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakePushService, type FakePushService } from '../fakes/push-service.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let pushService: FakePushService;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  pushService = await startFakePushService();
  ada = await signUp(t);
  bob = await signUp(t);
});
afterAll(async () => {
  await t?.close();
  await pushService?.close();
});

const rowsOf = (endpoint: string) => t.db.selectFrom('push_subscriptions').selectAll().where('endpoint', '=', endpoint).execute();

describe('registerPushSubscription', () => {
  it('registers a new endpoint (201), and the same endpoint again updates its keys under the same id (200)', async () => {
    const sub = pushService.subscribe();
    const created = await ada.api.post('/notifications/push-subscription', sub);
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ endpoint: sub.endpoint });
    const rotated = { ...pushService.subscribe(), endpoint: sub.endpoint };
    const again = await ada.api.post('/notifications/push-subscription', rotated);
    expect(again.status).toBe(200);
    expect(again.body.data.id).toBe(created.body.data.id);
    const [row] = await rowsOf(sub.endpoint);
    expect(row).toMatchObject({ user_id: ada.id, p256dh_key: rotated.p256dh_key, auth_key: rotated.auth_key });
  });

  it('never hands an endpoint to another user: 409, and the owner keeps it unchanged', async () => {
    const sub = pushService.subscribe();
    await ada.api.post('/notifications/push-subscription', sub);
    const before = await rowsOf(sub.endpoint);
    const res = await bob.api.post('/notifications/push-subscription', { ...pushService.subscribe(), endpoint: sub.endpoint });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
    expect(await rowsOf(sub.endpoint)).toEqual(before);
  });

  it('lets exactly one of two users racing for a new endpoint have it', async () => {
    const sub = pushService.subscribe();
    const results = await Promise.all([ada.api.post('/notifications/push-subscription', sub), bob.api.post('/notifications/push-subscription', sub)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(await rowsOf(sub.endpoint)).toHaveLength(1);
  });

  it.each([
    [{ p256dh_key: 'AAAA' }, 'body.p256dh_key'],
    [{ auth_key: 'c2hvcnQ' }, 'body.auth_key'],
    [{ endpoint: 'http://push.example.com/x' }, 'body.endpoint'],
    [{ extra: true }, 'body.extra'],
  ])('rejects %j with 400 naming %s and stores nothing', async (change, field) => {
    const sub = { ...pushService.subscribe(), ...change };
    const res = await ada.api.post('/notifications/push-subscription', sub);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(await rowsOf(sub.endpoint)).toHaveLength(0);
  });

  it('needs a token', async () => {
    expect((await t.api.post('/notifications/push-subscription', pushService.subscribe())).status).toBe(401);
  });
});

describe('removePushSubscription', () => {
  it('deletes the caller’s subscription, then answers 404', async () => {
    const sub = pushService.subscribe();
    const created = await ada.api.post('/notifications/push-subscription', sub);
    const res = await ada.api.delete('/notifications/push-subscription', { query: { endpoint: sub.endpoint } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ id: created.body.data.id, deleted: true });
    expect(await rowsOf(sub.endpoint)).toHaveLength(0);
    expect((await ada.api.delete('/notifications/push-subscription', { query: { endpoint: sub.endpoint } })).status).toBe(404);
  });

  it('answers 404 for another user’s endpoint without revealing or touching it', async () => {
    const sub = pushService.subscribe();
    await ada.api.post('/notifications/push-subscription', sub);
    const res = await bob.api.delete('/notifications/push-subscription', { query: { endpoint: sub.endpoint } });
    expect(res.status).toBe(404);
    expect(await rowsOf(sub.endpoint)).toHaveLength(1);
  });

  it('rejects a missing or non-https endpoint with 400', async () => {
    expect((await ada.api.delete('/notifications/push-subscription')).status).toBe(400);
    expect((await ada.api.delete('/notifications/push-subscription', { query: { endpoint: 'http://x.example/y' } })).status).toBe(400);
  });
});
