import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotification } from '../../src/domain/notifications/create-notification.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let other: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  other = await signUp(t);
});
afterAll(() => t?.close());

const missing = '0193f1a3-32a4-71e0-a273-8e9fa0b1c2d3';

/** A user with `n` notifications, created oldest first. */
async function withNotifications(n: number) {
  const u = await signUp(t);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = await createNotification(t.db, { userId: u.id, type: i % 2 ? 'system' : 'achievement', title: `N${i}`, body: `Body ${i}`, actionUrl: '/achievements' });
    ids.push(row.id);
  }
  return { u, ids };
}

describe('createNotification', () => {
  it('clips the title to 100 and the body to 500 characters', async () => {
    const u = await signUp(t);
    const row = await createNotification(t.db, { userId: u.id, type: 'system', title: 't'.repeat(150), body: 'b'.repeat(600) });
    expect([...row.title]).toHaveLength(100);
    expect([...row.body]).toHaveLength(500);
    const list = (await u.api.get('/notifications')).body.data;
    expect(list[0]).toMatchObject({ action_url: null, task_id: null, read: false, read_at: null });
  });
});

describe('listNotifications', () => {
  it('lists newest first with pagination, the unread filter and unread_count', async () => {
    const { u, ids } = await withNotifications(4);
    await u.api.patch(`/notifications/${ids[3]}/read`);
    const all = await u.api.get('/notifications', { query: { limit: 2 } });
    expect(all.status).toBe(200);
    expect(all.body.data.map((n: any) => n.title)).toEqual(['N3', 'N2']);
    expect(all.body.pagination).toEqual({ offset: 0, limit: 2, total: 4, has_more: true });
    expect(all.body.unread_count).toBe(3);
    expect(all.body.data[0]).toMatchObject({ user_id: u.id, type: 'system', body: 'Body 3', message: 'Body 3', action_url: '/achievements', read: true });
    const unread = await u.api.get('/notifications', { query: { unread_only: true, offset: 2 } });
    expect(unread.body.data.map((n: any) => n.title)).toEqual(['N0']);
    expect(unread.body.pagination.total).toBe(3);
    expect(unread.body.unread_count).toBe(3);
    expect((await other.api.get('/notifications')).body).toMatchObject({ data: [], unread_count: 0 });
  });
});

describe('markNotificationRead', () => {
  it('marks read once (read_at keeps its first value) and accepts an empty JSON body', async () => {
    const { u, ids } = await withNotifications(1);
    const first = await u.api.patch(`/notifications/${ids[0]}/read`, undefined, { headers: { 'content-type': 'application/json' } });
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({ read: true });
    expect(Date.parse(first.body.data.read_at)).toBeGreaterThan(Date.now() - 60_000);
    const again = await u.api.patch(`/notifications/${ids[0]}/read`);
    expect(again.body.data).toEqual(first.body.data);
  });

  it('answers 403 for another user\'s notification (unchanged) and 404 for a missing one', async () => {
    const { u, ids } = await withNotifications(1);
    expect((await other.api.patch(`/notifications/${ids[0]}/read`)).status).toBe(403);
    expect((await u.api.get('/notifications')).body.unread_count).toBe(1);
    expect((await u.api.patch(`/notifications/${missing}/read`)).status).toBe(404);
  });
});

describe('markAllNotificationsRead', () => {
  it('marks every unread notification of the user read and answers the count', async () => {
    const { u, ids } = await withNotifications(3);
    const { ids: othersIds } = await withNotifications(1);
    await u.api.patch(`/notifications/${ids[0]}/read`);
    const res = await u.api.post('/notifications/read-all');
    expect(res.body).toEqual({ data: { marked_count: 2 } });
    expect((await u.api.get('/notifications')).body.unread_count).toBe(0);
    expect((await u.api.post('/notifications/read-all')).body.data.marked_count).toBe(0);
    const theirs = await t.db.selectFrom('notifications').select('read').where('id', '=', othersIds[0]!).executeTakeFirstOrThrow();
    expect(theirs.read).toBe(false);
  });
});

describe('deleteNotification', () => {
  it('deletes for good; 403 for another user\'s; 404 for a missing one', async () => {
    const { u, ids } = await withNotifications(2);
    expect((await other.api.delete(`/notifications/${ids[0]}`)).status).toBe(403);
    const res = await u.api.delete(`/notifications/${ids[0]}`, { headers: { 'content-type': 'application/json' } });
    expect(res.body).toEqual({ data: { id: ids[0], deleted: true } });
    expect((await u.api.get('/notifications')).body.data.map((n: any) => n.id)).toEqual([ids[1]]);
    expect((await u.api.delete(`/notifications/${ids[0]}`)).status).toBe(404);
  });
});
