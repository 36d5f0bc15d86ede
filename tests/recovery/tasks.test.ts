import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { domainEvents, type DomainEvent } from '../../src/domain/events/bus.js';
import { fireReminder } from '../../src/domain/reminders/fire-reminder.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { activity, inDays, jobs, newSubtask, newTask, seedTasks } from '../tasks/fixtures.js';

let t: TestApp;
let user: TestUser;
let other: TestUser;
const events: DomainEvent[] = [];
domainEvents.subscribe('task.completed', async (_trx, e) => void events.push(e));
domainEvents.subscribe('task.created', async (_trx, e) => void events.push(e));

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
  other = await signUp(t);
});
afterAll(() => t?.close());

const missing = '0193f1a3-2193-70df-9162-7d8e9fa0b1c2';

async function deleted(u: TestUser, body: Record<string, unknown> = {}) {
  const task = await newTask(u, body);
  const res = await u.api.delete(`/tasks/${task.id}`);
  expect(res.status).toBe(200);
  return { task, tombstoneId: res.body.data.tombstone_id as string };
}

describe('listTombstones', () => {
  it('keeps only the 3 newest deletions, newest first', async () => {
    const u = await signUp(t);
    const first = await deleted(u, { title: 'first' });
    await deleted(u, { title: 'second' });
    await deleted(u, { title: 'third' });
    await deleted(u, { title: 'fourth' });
    const res = await u.api.get('/recovery/tombstones');
    expect(res.status).toBe(200);
    expect(res.body.data.map((x: any) => x.title)).toEqual(['fourth', 'third', 'second']);
    expect(res.body.data[0]).toMatchObject({ entity_type: 'task' });
    expect(res.body.pagination.total).toBe(3);
    expect((await u.api.post(`/tasks/recover/${first.tombstoneId}`)).status).toBe(404);
    expect((await other.api.get('/recovery/tombstones')).body.data.every((x: any) => x.title !== 'fourth')).toBe(true);
  });
});

describe('recoverTask', () => {
  it('restores the identical task with its subtasks, original id, version and timestamps, without events', async () => {
    const task = await newTask(user, { title: 'Precious', description: 'keep me', priority: 'high', due_date: inDays(3), estimated_duration: 45 });
    const a = await newSubtask(user, task.id, 'a');
    await newSubtask(user, task.id, 'b');
    await user.api.put(`/subtasks/${a.id}`, { completed: true });
    await user.api.patch(`/tasks/${task.id}`, { version: 1, title: 'Precious v2' });
    await user.api.patch(`/tasks/${task.id}`, { completed: true });
    const before = (await user.api.get(`/tasks/${task.id}`)).body.data;
    const tombstoneId = (await user.api.delete(`/tasks/${task.id}`)).body.data.tombstone_id;
    const eventsBefore = events.length;

    const res = await user.api.post(`/tasks/recover/${tombstoneId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${before.version}"`);
    expect(res.body.data).toEqual(before);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toEqual(before);
    expect(events.length).toBe(eventsBefore);
    expect((await activity(t, user.id, 'task_recovered')).some((e) => e.entity_id === task.id)).toBe(true);
    expect((await user.api.get('/recovery/tombstones')).body.data.some((x: any) => x.id === tombstoneId)).toBe(false);
    expect((await user.api.post(`/tasks/recover/${tombstoneId}`)).status).toBe(404);
  });

  it('answers 409 CONFLICT when a task with the original id exists, keeping the tombstone', async () => {
    const { task, tombstoneId } = await deleted(user, { title: 'twin' });
    await t.db.insertInto('task_instances').values({ id: task.id, user_id: user.id, title: 'impostor', updated_at: new Date(), created_at: new Date() }).execute();
    const res = await user.api.post(`/tasks/recover/${tombstoneId}`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.title).toBe('impostor');
    expect((await user.api.get('/recovery/tombstones')).body.data.some((x: any) => x.id === tombstoneId)).toBe(true);
  });

  it('answers 403 for another user\'s tombstone and 404 for a missing one', async () => {
    const { tombstoneId } = await deleted(user);
    expect((await other.api.post(`/tasks/recover/${tombstoneId}`)).status).toBe(403);
    expect((await user.api.post(`/tasks/recover/${missing}`)).status).toBe(404);
    expect((await user.api.post(`/tasks/recover/${tombstoneId}`)).status).toBe(200);
  });

  it('answers 404 once the recovery window has passed', async () => {
    const { tombstoneId } = await deleted(user);
    await t.db.updateTable('deletion_tombstones').set({ recoverable_until: new Date(Date.now() - 1000) }).where('id', '=', tombstoneId).execute();
    expect((await user.api.post(`/tasks/recover/${tombstoneId}`)).status).toBe(404);
  });

  it('refuses to restore an active task past the active-task limit', async () => {
    const u = await signUp(t);
    const { tombstoneId } = await deleted(u);
    await seedTasks(t, u.id, 50);
    const res = await u.api.post(`/tasks/recover/${tombstoneId}`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
  });

  it('restores reminders: those whose time passed come back fired and never fire, later ones are armed again', async () => {
    const u = await signUp(t);
    const task = await newTask(u, { due_date: inDays(2) });
    const soon = (await u.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inDays(1) })).body.data;
    const later = (await u.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    const tombstoneId = (await u.api.delete(`/tasks/${task.id}`)).body.data.tombstone_id;
    // Deleting cancelled both jobs.
    expect(await jobs(t, 'reminder_fire', `reminder:${soon.id}`)).toEqual([]);
    expect(await jobs(t, 'reminder_fire', `reminder:${later.id}`)).toEqual([]);
    // Time passes while the task is deleted: the first reminder's time is now behind us.
    const past = new Date(Date.now() - 60_000).toISOString();
    await sql`update deletion_tombstones set snapshot = jsonb_set(snapshot, '{reminders,0,scheduled_at}', to_jsonb(${past}::text)) where id = ${tombstoneId}`.execute(t.db);

    const res = await u.api.post(`/tasks/recover/${tombstoneId}`);
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.body.data.reminders.map((r: any) => [r.id, r]));
    expect(byId[soon.id]).toMatchObject({ fired: true, scheduled_at: past });
    expect(Date.parse(byId[soon.id].fired_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(byId[later.id]).toEqual(later);
    expect(await jobs(t, 'reminder_fire', `reminder:${soon.id}`)).toEqual([]);
    const armed = await jobs(t, 'reminder_fire', `reminder:${later.id}`);
    expect(armed.map((j) => j.run_at.toISOString())).toEqual([later.scheduled_at]);
    expect(await fireReminder(t.db, soon.id)).toBe('skipped');
    expect((await u.api.get('/notifications')).body.data).toEqual([]);
  });
});
