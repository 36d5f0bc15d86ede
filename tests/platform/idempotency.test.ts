import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/http/idempotency.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let user: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
});
afterAll(() => t?.close());

const activityCount = async (userId: string) =>
  Number((await t.db.selectFrom('activity_logs').select(t.db.fn.countAll().as('n')).where('user_id', '=', userId).where('action', '=', 'user_updated').executeTakeFirstOrThrow()).n);

describe('Idempotency-Key', () => {
  it('replays the first response with Idempotent-Replayed and runs the operation once', async () => {
    const before = await activityCount(user.id);
    const first = await user.api.patch('/users/me', { name: 'Once' }, { idempotencyKey: 'key-replay-1' });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    await user.api.patch('/users/me', { name: 'Someone else did this' }, { idempotencyKey: 'another-key' });
    const replay = await user.api.patch('/users/me', { name: 'Once' }, { idempotencyKey: 'key-replay-1' });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(await activityCount(user.id)).toBe(before + 2);
  });

  it('replays the stored body byte for byte, keys in the order of the first answer (jsonb would reorder them)', async () => {
    // A task has many keys of different lengths: jsonb stores object keys shortest first.
    const key = 'key-bytes-1';
    const first = await user.api.post('/tasks', { title: 'Prepare the quarterly report', description: 'Collect the figures.', priority: 'high', estimated_duration: 90 }, { idempotencyKey: key });
    expect(first.status).toBe(201);
    expect(Object.keys(first.body.data).length).toBeGreaterThan(15);
    const replay = await user.api.post('/tasks', { title: 'Prepare the quarterly report', description: 'Collect the figures.', priority: 'high', estimated_duration: 90 }, { idempotencyKey: key });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.status).toBe(201);
    expect(replay.text).toBe(first.text);
  });

  it('treats a body with its keys reordered as the same request', async () => {
    await user.api.patch('/users/me', { name: 'Order', timezone: 'UTC' }, { idempotencyKey: 'key-order' });
    const replay = await user.api.patch('/users/me', { timezone: 'UTC', name: 'Order' }, { idempotencyKey: 'key-order' });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('answers 422 when the key is reused with a different body', async () => {
    await user.api.patch('/users/me', { name: 'First' }, { idempotencyKey: 'key-mismatch' });
    const res = await user.api.patch('/users/me', { name: 'Second' }, { idempotencyKey: 'key-mismatch' });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_MISMATCH');
    expect((await user.api.get('/users/me')).body.data.name).toBe('First');
  });

  it('scopes keys to the user', async () => {
    const other = await signUp(t);
    await user.api.patch('/users/me', { name: 'Mine' }, { idempotencyKey: 'shared-key' });
    const res = await other.api.patch('/users/me', { name: 'Mine' }, { idempotencyKey: 'shared-key' });
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(res.body.data.id).toBe(other.id);
  });

  it('replays a business error too, so a retry cannot turn into a different outcome', async () => {
    const first = await user.api.patch('/users/me', { timezone: 'Nowhere/Land' }, { idempotencyKey: 'key-error' });
    expect(first.status).toBe(400);
    const replay = await user.api.patch('/users/me', { timezone: 'Nowhere/Land' }, { idempotencyKey: 'key-error' });
    expect(replay.status).toBe(400);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('answers 409 while the first request with the key is still running', async () => {
    const body = { name: 'In flight' };
    await t.db
      .insertInto('idempotency_keys')
      .values({
        user_id: user.id, key: 'key-in-flight', fingerprint: fingerprintOf({ method: 'PATCH', path: '/api/v1/users/me', body }),
        method: 'PATCH', path: '/api/v1/users/me', state: 'in_flight',
        locked_until: sql<Date>`now() + interval '1 minute'`, expires_at: sql<Date>`now() + interval '1 day'`,
      })
      .execute();
    const res = await user.api.patch('/users/me', body, { idempotencyKey: 'key-in-flight' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_IN_USE');
  });

  it('lets a retry take over a key whose first attempt died', async () => {
    const body = { name: 'Recovered' };
    await t.db
      .insertInto('idempotency_keys')
      .values({
        user_id: user.id, key: 'key-crashed', fingerprint: fingerprintOf({ method: 'PATCH', path: '/api/v1/users/me', body }),
        method: 'PATCH', path: '/api/v1/users/me', state: 'in_flight',
        locked_until: sql<Date>`now() - interval '1 second'`, expires_at: sql<Date>`now() + interval '1 day'`,
      })
      .execute();
    const res = await user.api.patch('/users/me', body, { idempotencyKey: 'key-crashed' });
    expect(res.status).toBe(200);
    expect(res.body.data.name).toBe('Recovered');
  });

  it('runs concurrent duplicates once: the others replay or get 409', async () => {
    const before = await activityCount(user.id);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => user.api.patch('/users/me', { name: 'Concurrent' }, { idempotencyKey: 'key-concurrent' })),
    );
    for (const r of results) expect([200, 409]).toContain(r.status);
    expect(results.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    expect(await activityCount(user.id)).toBe(before + 1);
  });

  it('starts afresh once the stored key has expired', async () => {
    await user.api.patch('/users/me', { name: 'Old' }, { idempotencyKey: 'key-expired' });
    await t.db.updateTable('idempotency_keys').set({ expires_at: new Date(Date.now() - 1000) }).where('key', '=', 'key-expired').execute();
    const res = await user.api.patch('/users/me', { name: 'Newer' }, { idempotencyKey: 'key-expired' });
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(res.body.data.name).toBe('Newer');
  });
});
