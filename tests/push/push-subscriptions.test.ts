import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPushSubscription } from '../../src/domain/push/push-subscriptions.js';
import { loadConfig } from '../../src/config.js';
import { DomainError } from '../../src/core/errors.js';
import { createPushSender } from '../../src/integrations/web-push.js';
import type { LookupAll } from '../../src/integrations/public-address.js';
import { startFakePushService, type FakePushService } from '../fakes/push-service.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let pushService: FakePushService;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  // The fake push service listens on 127.0.0.1, which only this test-only setting lets through.
  t = await startTestApp({ env: { PUSH_ALLOW_LOOPBACK: 'true' } });
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

describe('registerPushSubscription: only public push endpoints', () => {
  const fieldsOf = (res: { body: any }) => res.body.error.details.map((d: { field: string }) => d.field);

  it.each([
    'https://10.0.0.5/push/a',
    'https://172.16.8.1:8443/push/a',
    'https://192.168.1.20/push/a',
    'https://169.254.169.254/latest/meta-data',
    'https://100.64.0.1/push/a',
    'https://0.0.0.0/push/a',
    'https://[fd12:3456::1]/push/a',
    'https://[fe80::1]/push/a',
    'https://[::ffff:10.0.0.1]/push/a',
    'https://[::ffff:0:a00:1]/push/a', // IPv4-translated 10.0.0.1
    'https://[64:ff9b::a00:1]/push/a',
    'https://[64:ff9b::808:808]/push/a',
    'https://[3fff::1]/push/a',
    'https://[5f00::1]/push/a',
    'https://[2001:db8::1]/push/a',
    'https://0x0a000001/push/a', // 10.0.0.1 written in hex
  ])('refuses %s with 400 naming body.endpoint, storing nothing', async (endpoint) => {
    const res = await ada.api.post('/notifications/push-subscription', { ...pushService.subscribe(), endpoint });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(fieldsOf(res)).toEqual(['body.endpoint']);
    expect(res.body.error.message).toBe('The push endpoint is not a public internet address');
    expect(await rowsOf(endpoint)).toHaveLength(0);
  });

  it('refuses loopback, literal or by DNS (localhost), without the test-only allowance', async () => {
    const strict = await startTestApp();
    try {
      const cleo = await signUp(strict);
      const port = new URL(pushService.origin).port;
      for (const [endpoint, message] of [
        [`https://127.0.0.1:${port}/push/a`, 'The push endpoint is not a public internet address'],
        [`https://[::1]:${port}/push/a`, 'The push endpoint is not a public internet address'],
        [`https://localhost:${port}/push/a`, 'The push endpoint is not a public internet address'],
      ] as const) {
        const res = await cleo.api.post('/notifications/push-subscription', { ...pushService.subscribe(), endpoint });
        expect(res.status, endpoint).toBe(400);
        expect(fieldsOf(res)).toEqual(['body.endpoint']);
        expect(res.body.error.message).toBe(message);
      }
      expect(await strict.db.selectFrom('push_subscriptions').select('id').where('user_id', '=', cleo.id).execute()).toEqual([]);
    } finally {
      await strict.close();
    }
  });

  it('checks every address a name resolves to: one private address among public ones is refused, as is a name that does not resolve', async () => {
    // Push service names resolve through the system's DNS; here a resolver answers for a test name.
    const resolver = (addresses: string[]): LookupAll => async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    const sender = (addresses: string[]) => createPushSender({ publicKey: undefined, privateKey: undefined, contact: undefined, lookup: resolver(addresses) });
    const keys = (endpoint: string) => {
      const sub = pushService.subscribe();
      return { endpoint, p256dh: sub.p256dh_key, auth: sub.auth_key };
    };

    const mixed = 'https://push.mixed.test/push/a';
    const refused = await registerPushSubscription(t.db, { push: sender(['93.184.216.34', '10.1.2.3']), userId: bob.id, keys: keys(mixed) }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body.endpoint', message: 'The push endpoint is not a public internet address' }] });
    expect(await rowsOf(mixed)).toHaveLength(0);

    const v6 = 'https://push.v6.test/push/a';
    await expect(registerPushSubscription(t.db, { push: sender(['2606:4700:4700::1111', 'fd00::7']), userId: bob.id, keys: keys(v6) })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });

    const nowhere = 'https://push.nowhere.test/push/a';
    const notFound: LookupAll = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND push.nowhere.test'), { code: 'ENOTFOUND' });
    };
    const unresolvable = createPushSender({ publicKey: undefined, privateKey: undefined, contact: undefined, lookup: notFound });
    await expect(registerPushSubscription(t.db, { push: unresolvable, userId: bob.id, keys: keys(nowhere) })).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [{ field: 'body.endpoint', message: "The push endpoint's host name does not resolve" }],
    });
    expect(await rowsOf(nowhere)).toHaveLength(0);

    const good = 'https://push.public.test/push/a';
    const ok = await registerPushSubscription(t.db, { push: sender(['93.184.216.34', '2606:4700:4700::1111']), userId: bob.id, keys: keys(good) });
    expect(ok.created).toBe(true);
    expect(await rowsOf(good)).toHaveLength(1);
  });

  it('PUSH_ALLOW_LOOPBACK is refused in production', () => {
    const keys = { JWT_PRIVATE_KEY: 'x', JWT_PUBLIC_KEY: 'y', DATABASE_URL: 'postgres://x/y' };
    expect(() => loadConfig({ NODE_ENV: 'production', ...keys, PUSH_ALLOW_LOOPBACK: 'true' })).toThrow(/PUSH_ALLOW_LOOPBACK/);
    expect(loadConfig({ NODE_ENV: 'test', PUSH_ALLOW_LOOPBACK: 'true' }).PUSH_ALLOW_LOOPBACK).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).PUSH_ALLOW_LOOPBACK).toBe(false);
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
