import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  ada = await signUp(t, { name: 'Ada' });
  bob = await signUp(t, { name: 'Bob' });
  // user_created at sign-up, then two profile updates with their own request ids
  await ada.api.patch('/users/me', { name: 'Ada King' }, { headers: { 'x-request-id': '3f1c2b7e-9a4d-4c1e-8b2f-6d5e4c3b2a10' } });
  await ada.api.patch('/users/me', { timezone: 'Europe/London' });
  await bob.api.patch('/users/me', { name: 'Bob Stone' });
});
afterAll(() => t?.close());

describe('listActivity', () => {
  it('lists only the caller’s entries, newest first, with the request that caused them', async () => {
    const res = await ada.api.get('/activity');
    expect(res.status).toBe(200);
    expect(res.body.data.map((e: { action: string }) => e.action)).toEqual(['user_updated', 'user_updated', 'user_created']);
    expect(res.body.data.every((e: { user_id: string }) => e.user_id === ada.id)).toBe(true);
    expect(res.body.data[1]).toMatchObject({ entity_type: 'user', entity_id: ada.id, source: 'user', request_id: '3f1c2b7e-9a4d-4c1e-8b2f-6d5e4c3b2a10', extra_data: { fields: ['name'] } });
    expect(res.body.pagination).toEqual({ offset: 0, limit: 25, total: 3, has_more: false });
  });

  it('filters by entity type, entity id, action and source, combined with AND', async () => {
    const byAction = await ada.api.get('/activity', { query: { action: 'user_created' } });
    expect(byAction.body.data).toHaveLength(1);
    const combined = await ada.api.get('/activity', { query: { entity_type: 'user', entity_id: ada.id, source: 'user', action: 'user_updated' } });
    expect(combined.body.pagination.total).toBe(2);
    const none = await ada.api.get('/activity', { query: { entity_type: 'task' } });
    expect(none.body).toEqual({ data: [], pagination: { offset: 0, limit: 25, total: 0, has_more: false } });
    // Bob's entity id does not leak Bob's entries.
    const foreign = await ada.api.get('/activity', { query: { entity_id: bob.id } });
    expect(foreign.body.pagination.total).toBe(0);
  });

  it('pages with offset and limit, and still knows the total past the end', async () => {
    const first = await ada.api.get('/activity', { query: { limit: 2 } });
    expect(first.body.data).toHaveLength(2);
    expect(first.body.pagination).toEqual({ offset: 0, limit: 2, total: 3, has_more: true });
    const second = await ada.api.get('/activity', { query: { limit: 2, offset: 2 } });
    expect(second.body.data.map((e: { action: string }) => e.action)).toEqual(['user_created']);
    const past = await ada.api.get('/activity', { query: { offset: 10 } });
    expect(past.body).toEqual({ data: [], pagination: { offset: 10, limit: 25, total: 3, has_more: false } });
  });

  it.each([
    [{ entity_type: 'planet' }, 'query.entity_type'],
    [{ entity_id: 'not-a-uuid' }, 'query.entity_id'],
    [{ source: 'robot' }, 'query.source'],
    [{ limit: 0 }, 'query.limit'],
    [{ action: 'Task Completed' }, 'query.action'],
  ])('rejects %j with 400 naming %s', async (query, field) => {
    const res = await ada.api.get('/activity', { query });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('needs a token', async () => {
    expect((await t.api.get('/activity')).status).toBe(401);
  });
});

describe('listUserActivity (GET /users/{id}/activity, the frontend’s hook)', () => {
  it('is the caller’s own /activity, with the same filters and pages', async () => {
    const own = await ada.api.get(`/users/${ada.id}/activity`);
    expect(own.status).toBe(200);
    expect(own.body).toEqual((await ada.api.get('/activity')).body);
    const filtered = await ada.api.get(`/users/${ada.id}/activity`, { query: { action: 'user_updated', limit: 1 } });
    expect(filtered.body).toEqual((await ada.api.get('/activity', { query: { action: 'user_updated', limit: 1 } })).body);
  });

  it('refuses another user’s id (403, without their entries) and a nobody’s id (403); a bad filter is 400', async () => {
    for (const id of [bob.id, '0193f19f-5a2b-7c3d-8e4f-5a6b7c8d9e0f']) {
      const res = await ada.api.get(`/users/${id}/activity`);
      expect([res.status, res.body.error.code]).toEqual([403, 'FORBIDDEN']);
      expect(res.text).not.toContain('Bob');
    }
    const bad = await ada.api.get(`/users/${ada.id}/activity`, { query: { source: 'robot' } });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
  });
});
