import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let user: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t, { name: 'Ada' });
});
afterAll(() => t?.close());

describe('getCurrentUser', () => {
  it('returns the frontend user shape with Z timestamps and google_id', async () => {
    const res = await user.api.get('/users/me');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ id: user.id, email: user.email, name: 'Ada', avatar_url: null, timezone: 'UTC', tier: 'free' });
    expect(res.body.data.google_id).toBe(`dev:${user.email}`);
    expect(res.body.data.created_at).toMatch(/\.\d{3}Z$/);
  });

  it('needs a token', async () => {
    const res = await t.api.get('/users/me');
    expect(res.status).toBe(401);
  });

  it('treats a token of a deleted account as signed out', async () => {
    const gone = await signUp(t);
    await t.db.deleteFrom('users').where('id', '=', gone.id).execute();
    const res = await gone.api.get('/users/me');
    expect(res.status).toBe(401);
  });
});

describe('a new account', () => {
  it('starts with its achievement state and the kickstart credits, written with the account', async () => {
    const fresh = await signUp(t);
    const state = await t.db.selectFrom('user_achievement_states').selectAll().where('user_id', '=', fresh.id).executeTakeFirst();
    expect(state).toMatchObject({ lifetime_tasks_completed: 0, current_streak: 0 });
    const balance = await fresh.api.get('/credits/balance');
    expect(balance.body.data).toMatchObject({ kickstart: 5, total: 5 });
    // Signing in again creates nothing more.
    const again = await t.api.post('/auth/dev/login', { email: fresh.email });
    expect((await t.api.as(again.body.access_token).get('/credits/balance')).body.data.kickstart).toBe(5);
  });
});

describe('updateCurrentUser', () => {
  it('changes name and timezone and records the change in the activity log', async () => {
    const res = await user.api.patch('/users/me', { name: '  Ada King  ', timezone: 'Europe/London' });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ name: 'Ada King', timezone: 'Europe/London' });
    const log = await t.db.selectFrom('activity_logs').selectAll().where('user_id', '=', user.id).where('action', '=', 'user_updated').execute();
    expect(log).toHaveLength(1);
    expect(log[0]!.request_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    [{ timezone: 'Mars/Olympus' }, 'body.timezone'],
    [{ timezone: '+01:00' }, 'body.timezone'],
    [{ name: '   ' }, 'body.name'],
    [{ name: 'x'.repeat(101) }, 'body.name'],
    [{}, 'body'],
  ])('rejects %j with 400 naming %s and changes nothing', async (body, field) => {
    const before = await user.api.get('/users/me');
    const res = await user.api.patch('/users/me', body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    const after = await user.api.get('/users/me');
    expect(after.body.data).toEqual(before.body.data);
  });
});
