import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reminderFire } from '../../jobs/tasks/reminder-fire.js';
import { fireDueReminders, fireReminder, type FireOutcome } from '../../src/domain/reminders/fire-reminder.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { activity, inDays, inMinutes, jobs, newTask } from '../tasks/fixtures.js';

let t: TestApp;
let user: TestUser;
let other: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
  other = await signUp(t);
});
afterAll(() => t?.close());

const missing = '0193f1a2-9e60-7dac-9e3f-4a5b6c7d8e9f';
const minutesAfter = (iso: string, minutes: number) => new Date(Date.parse(iso) + minutes * 60_000).toISOString();
const jobOf = async (reminderId: string) => (await jobs(t, 'reminder_fire', `reminder:${reminderId}`))[0];

describe('createTaskReminder', () => {
  it('stores before as a negative offset whichever sign was sent, computes scheduled_at and arms one job', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    for (const offset of [60, -60]) {
      const res = await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: offset, scheduled_at: '2020-01-01T00:00:00Z' });
      expect(res.status).toBe(201);
      expect(res.body.data).toMatchObject({ task_id: task.id, user_id: user.id, type: 'before', offset_minutes: -60, method: 'in_app', fired: false, fired_at: null, scheduled_at: minutesAfter(task.due_date, -60) });
      const job = await jobOf(res.body.data.id);
      expect(job!.run_at.toISOString()).toBe(res.body.data.scheduled_at);
      expect(job!.payload).toEqual({ reminderId: res.body.data.id });
    }
    expect((await activity(t, user.id, 'reminder_created')).length).toBeGreaterThanOrEqual(2);
  });

  it('stores after as a positive offset, and absolute at the given instant with a null offset', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const after = await user.api.post(`/tasks/${task.id}/reminders`, { type: 'after', offset_minutes: -30, method: 'push' });
    expect(after.body.data).toMatchObject({ offset_minutes: 30, method: 'push', scheduled_at: minutesAfter(task.due_date, 30) });
    const at = new Date(Date.now() + 3 * 3_600_000);
    const abs = await user.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', offset_minutes: 0, scheduled_at: at.toISOString().replace('Z', '+00:00') });
    expect(abs.body.data).toMatchObject({ type: 'absolute', offset_minutes: null, scheduled_at: at.toISOString() });
    const noDue = await newTask(user);
    expect((await user.api.post(`/tasks/${noDue.id}/reminders`, { type: 'absolute', scheduled_at: at.toISOString() })).status).toBe(201);
  });

  it('refuses a relative reminder on a task without due date and malformed bodies, creating nothing', async () => {
    const task = await newTask(user);
    const res = await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -15 });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('body.type');
    const dated = await newTask(user, { due_date: inDays(1) });
    for (const body of [{ type: 'absolute', offset_minutes: 5, scheduled_at: inDays(1) }, { type: 'absolute' }, { type: 'before' }, { type: 'relative', offset_minutes: 5 }, { type: 'absolute', scheduled_at: '2026-01-01T10:00:00' }]) {
      expect((await user.api.post(`/tasks/${dated.id}/reminders`, body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await user.api.get(`/tasks/${dated.id}/reminders`)).body.data).toEqual([]);
  });

  it('allows 5 reminders per task, never more, even concurrently', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -(i + 1) })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    const refused = results.filter((r) => r.status === 409);
    expect(refused).toHaveLength(3);
    expect(refused[0]!.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 5 });
    expect((await user.api.get(`/tasks/${task.id}/reminders`)).body.pagination.total).toBe(5);
  });

  it('answers 403 for another user\'s task and 404 for a missing one', async () => {
    const task = await newTask(user, { due_date: inDays(1) });
    expect((await other.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 5 })).status).toBe(403);
    expect((await user.api.get(`/tasks/${task.id}/reminders`)).body.data).toEqual([]);
    expect((await user.api.post(`/tasks/${missing}/reminders`, { type: 'before', offset_minutes: 5 })).status).toBe(404);
  });
});

describe('createReminder (task in the body)', () => {
  it('accepts the production frontend\'s body, 403 for another user\'s task, 404 for a missing one', async () => {
    const task = await newTask(user, { due_date: inDays(1) });
    const body = { task_id: task.id, type: 'before', offset_minutes: -15, scheduled_at: minutesAfter(task.due_date, -15), method: 'in_app' };
    const res = await user.api.post('/reminders', body);
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ task_id: task.id, offset_minutes: -15, scheduled_at: body.scheduled_at });
    expect((await other.api.post('/reminders', body)).status).toBe(403);
    expect((await user.api.post('/reminders', { ...body, task_id: missing })).status).toBe(404);
  });
});

describe('listReminders, listTaskReminders, getReminder', () => {
  it('lists by time with fired and task filters; get answers one; 403 and 404', async () => {
    const u = await signUp(t);
    const a = await newTask(u, { due_date: inDays(2) });
    const b = await newTask(u, { due_date: inDays(1) });
    const r1 = (await u.api.post(`/tasks/${a.id}/reminders`, { type: 'before', offset_minutes: 10 })).body.data;
    const r2 = (await u.api.post(`/tasks/${b.id}/reminders`, { type: 'before', offset_minutes: 10 })).body.data;
    await t.db.updateTable('reminders').set({ fired: true, fired_at: new Date() }).where('id', '=', r2.id).execute();
    expect((await u.api.get('/reminders')).body.data.map((r: any) => r.id)).toEqual([r2.id, r1.id]);
    expect((await u.api.get('/reminders', { query: { fired: false } })).body.data.map((r: any) => r.id)).toEqual([r1.id]);
    expect((await u.api.get('/reminders', { query: { task_id: a.id } })).body.data.map((r: any) => r.id)).toEqual([r1.id]);
    expect((await u.api.get(`/tasks/${b.id}/reminders`, { query: { fired: true } })).body.data.map((r: any) => r.id)).toEqual([r2.id]);
    expect((await u.api.get(`/reminders/${r1.id}`)).body.data).toEqual(r1);
    expect((await other.api.get(`/reminders/${r1.id}`)).status).toBe(403);
    expect((await other.api.get('/reminders', { query: { task_id: a.id } })).status).toBe(403);
    expect((await other.api.get(`/tasks/${a.id}/reminders`)).status).toBe(403);
    expect((await u.api.get(`/reminders/${missing}`)).status).toBe(404);
    expect((await other.api.get('/reminders')).body.data.every((r: any) => r.user_id === other.id)).toBe(true);
    expect((await u.api.get(`/tasks/${a.id}`)).body.data.reminders).toEqual([r1]);
  });
});

describe('updateReminder', () => {
  it('recomputes scheduled_at and replaces the job', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    const res = await user.api.patch(`/reminders/${r.id}`, { offset_minutes: 1440 });
    expect(res.body.data).toMatchObject({ offset_minutes: -1440, scheduled_at: minutesAfter(task.due_date, -1440) });
    const list = await jobs(t, 'reminder_fire', `reminder:${r.id}`);
    expect(list).toHaveLength(1);
    expect(list[0]!.run_at.toISOString()).toBe(res.body.data.scheduled_at);
    const at = inDays(1);
    const abs = await user.api.patch(`/reminders/${r.id}`, { type: 'absolute', scheduled_at: at, method: 'push' });
    expect(abs.body.data).toMatchObject({ type: 'absolute', offset_minutes: null, scheduled_at: at, method: 'push' });
    const back = await user.api.patch(`/reminders/${r.id}`, { type: 'before' });
    expect(back.status).toBe(400);
    expect(back.body.error.details[0].field).toBe('body.offset_minutes');
    expect((await user.api.patch(`/reminders/${r.id}`, { type: 'after', offset_minutes: 5 })).body.data).toMatchObject({ type: 'after', offset_minutes: 5 });
  });

  it('re-arms a fired reminder moved into the future', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inMinutes(-5) })).body.data;
    expect(await fireReminder(t.db, r.id)).toBe('notified');
    expect((await user.api.get(`/reminders/${r.id}`)).body.data.fired).toBe(true);
    const res = await user.api.patch(`/reminders/${r.id}`, { scheduled_at: inDays(1) });
    expect(res.body.data).toMatchObject({ fired: false, fired_at: null });
    expect(await jobOf(r.id)).toBeDefined();
  });

  it('answers 403 and 404 and changes nothing', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    expect((await other.api.patch(`/reminders/${r.id}`, { offset_minutes: 5 })).status).toBe(403);
    expect((await user.api.get(`/reminders/${r.id}`)).body.data).toEqual(r);
    expect((await user.api.patch(`/reminders/${missing}`, { offset_minutes: 5 })).status).toBe(404);
    expect((await user.api.patch(`/reminders/${r.id}`, {})).status).toBe(400);
  });
});

describe('deleteReminder', () => {
  it('deletes the reminder and its job; 403 for another user; 404 after', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    expect((await other.api.delete(`/reminders/${r.id}`)).status).toBe(403);
    expect(await jobOf(r.id)).toBeDefined();
    const res = await user.api.delete(`/reminders/${r.id}`, { headers: { 'content-type': 'application/json' } });
    expect(res.body).toEqual({ data: { id: r.id, deleted: true } });
    expect(await jobOf(r.id)).toBeUndefined();
    expect((await user.api.delete(`/reminders/${r.id}`)).status).toBe(404);
  });
});

describe('due-date changes (FR-026)', () => {
  it('move relative reminders and their jobs, keep absolute ones, and clearing the due date deletes the relative ones', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const before = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    const after = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'after', offset_minutes: 30 })).body.data;
    const absolute = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inDays(1) })).body.data;
    const due = inDays(5);
    const moved = await user.api.patch(`/tasks/${task.id}`, { version: 1, due_date: due });
    expect(moved.status).toBe(200);
    const reminders = Object.fromEntries((await user.api.get(`/tasks/${task.id}`)).body.data.reminders.map((r: any) => [r.id, r]));
    expect(reminders[before.id].scheduled_at).toBe(minutesAfter(due, -60));
    expect(reminders[after.id].scheduled_at).toBe(minutesAfter(due, 30));
    expect(reminders[absolute.id]).toEqual(absolute);
    expect((await jobOf(before.id))!.run_at.toISOString()).toBe(minutesAfter(due, -60));
    expect((await jobOf(after.id))!.run_at.toISOString()).toBe(minutesAfter(due, 30));

    await user.api.patch(`/tasks/${task.id}`, { version: 2, due_date: null });
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.reminders.map((r: any) => r.id)).toEqual([absolute.id]);
    expect(await jobOf(before.id)).toBeUndefined();
    expect(await jobOf(absolute.id)).toBeDefined();
  });

  it('re-arm a fired relative reminder whose new time is in the future', async () => {
    const task = await newTask(user, { due_date: inMinutes(30) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    expect(await fireReminder(t.db, r.id)).toBe('notified');
    await user.api.patch(`/tasks/${task.id}`, { version: 1, due_date: inDays(1) });
    expect((await user.api.get(`/reminders/${r.id}`)).body.data).toMatchObject({ fired: false, fired_at: null });
    expect(await jobOf(r.id)).toBeDefined();
  });
});

describe('reminder_fire', () => {
  it('notifies exactly once under concurrent and repeated runs', async () => {
    const u = await signUp(t);
    const task = await newTask(u, { title: 'Pay the rent', due_date: inMinutes(60) });
    const r = (await u.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inMinutes(-1) })).body.data;
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => fireReminder(t.db, r.id)));
    expect(outcomes.filter((o) => o === 'notified')).toHaveLength(1);
    expect(await fireReminder(t.db, r.id)).toBe('skipped');
    const list = (await u.api.get('/notifications')).body;
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({ type: 'reminder', title: 'Task Reminder', task_id: task.id, action_url: `/tasks/${task.id}`, read: false });
    expect(list.data[0].body).toMatch(/^'Pay the rent' is due in (59 minutes|1 hour)$/);
    expect(list.data[0].message).toBe(list.data[0].body);
    expect((await activity(t, u.id, 'reminder_fired')).filter((a) => a.entity_id === r.id)).toHaveLength(1);
  });

  it('does not fire before its time (a stale job), and marks a reminder of a completed or hidden task fired without notifying', async () => {
    const u = await signUp(t);
    const task = await newTask(u, { due_date: inMinutes(60) });
    const future = (await u.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inMinutes(10) })).body.data;
    expect(await fireReminder(t.db, future.id)).toBe('skipped');
    const due = (await u.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inMinutes(-1) })).body.data;
    await u.api.patch(`/tasks/${task.id}`, { completed: true });
    expect(await fireReminder(t.db, due.id)).toBe('suppressed');
    expect((await u.api.get(`/reminders/${due.id}`)).body.data.fired).toBe(true);
    const hidden = await newTask(u, { due_date: inMinutes(60) });
    const r2 = (await u.api.post(`/tasks/${hidden.id}/reminders`, { type: 'absolute', scheduled_at: inMinutes(-1) })).body.data;
    await u.api.patch(`/tasks/${hidden.id}`, { hidden: true });
    expect(await fireReminder(t.db, r2.id)).toBe('suppressed');
    expect((await u.api.get('/notifications')).body.data).toEqual([]);
  });

  it('fires the other reminders already due in batches: disjoint under concurrency, each once, their waiting jobs removed', async () => {
    const u = await signUp(t);
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) {
      const task = await newTask(u, { title: `Burst ${k}`, due_date: inMinutes(60) });
      for (let i = 0; i < 5; i++) ids.push((await u.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: inMinutes(10) })).body.data.id);
    }
    // Their time passed while their jobs waited (a burst the workers have not reached yet); the
    // oldest time puts them ahead of any other due reminder in this database.
    await t.db.updateTable('reminders').set({ scheduled_at: new Date('2000-01-01T00:00:00Z') }).where('id', 'in', ids).execute();

    const [a, b] = await Promise.all([fireDueReminders(t.db, 5), fireDueReminders(t.db, 5)]);
    const batched = [...a!, ...b!].map((f) => f.reminderId);
    expect(new Set(batched).size).toBe(10);
    expect(batched.every((id) => ids.includes(id))).toBe(true);
    for (const id of batched) expect(await jobOf(id)).toBeUndefined();

    const rest = ids.filter((id) => !batched.includes(id));
    const fired: [string, FireOutcome][] = [];
    expect(await reminderFire({ db: t.db }, { reminderId: rest[0]! }, (id, outcome) => fired.push([id, outcome]))).toBe('notified');
    expect(fired.filter(([id]) => ids.includes(id)).sort()).toEqual(rest.map((id) => [id, 'notified']).sort());
    // the job that ran (called directly here) is the worker's to complete; the others are gone
    for (const id of rest.slice(1)) expect(await jobOf(id)).toBeUndefined();
    expect((await u.api.get('/notifications', { query: { limit: 100 } })).body.data).toHaveLength(15);
    expect((await activity(t, u.id, 'reminder_fired')).map((e) => e.entity_id).sort()).toEqual([...ids].sort());
  });

  it('fires within 60 s of its time with the worker running (SC-012)', async () => {
    const worker = await t.startWorker();
    try {
      const u = await signUp(t);
      const task = await newTask(u, { title: 'Stand-up', due_date: inMinutes(30) });
      const at = new Date(Date.now() + 2_000);
      const r = (await u.api.post('/reminders', { task_id: task.id, type: 'absolute', scheduled_at: at.toISOString(), method: 'in_app' })).body.data;
      await expect.poll(async () => (await u.api.get('/notifications')).body.data.length, { timeout: 20_000, interval: 200 }).toBe(1);
      const fired = (await u.api.get(`/reminders/${r.id}`)).body.data;
      expect(fired.fired).toBe(true);
      const delay = Date.parse(fired.fired_at) - at.getTime();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(60_000);
    } finally {
      await worker.stop();
    }
  });
});

describe('replaceReminder (PUT /reminders/{id}, the frontend’s useUpdateReminder)', () => {
  it('is updateReminder under PUT: the fields sent change, the others stay, scheduled_at and the job follow', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -60, method: 'in_app' })).body.data;
    const res = await user.api.put(`/reminders/${r.id}`, { offset_minutes: -1440 });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ id: r.id, type: 'before', method: 'in_app', offset_minutes: -1440, scheduled_at: minutesAfter(task.due_date, -1440) });
    const list = await jobs(t, 'reminder_fire', `reminder:${r.id}`);
    expect(list.map((j) => j.run_at.toISOString())).toEqual([res.body.data.scheduled_at]);
    const at = inDays(1);
    const abs = await user.api.put(`/reminders/${r.id}`, { type: 'absolute', scheduled_at: at, method: 'push' });
    expect(abs.body.data).toMatchObject({ type: 'absolute', offset_minutes: null, scheduled_at: at, method: 'push' });
    expect((await user.api.get(`/reminders/${r.id}`)).body.data).toEqual(abs.body.data);
  });

  it('answers 403 for another user’s reminder, 404 for a missing one, 400 for an empty or unknown body; nothing changes', async () => {
    const task = await newTask(user, { due_date: inDays(2) });
    const r = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: 60 })).body.data;
    const job = await jobOf(r.id);
    const foreign = await other.api.put(`/reminders/${r.id}`, { offset_minutes: -5 });
    expect([foreign.status, foreign.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const unknown = await user.api.put(`/reminders/${missing}`, { offset_minutes: -5 });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOT_FOUND']);
    for (const body of [{}, { offset_minutes: -5, fired: false }, { type: 'before' as const, offset_minutes: 'soon' }]) {
      const res = await user.api.put(`/reminders/${r.id}`, body);
      expect([res.status, res.body.error.code], JSON.stringify(body)).toEqual([400, 'VALIDATION_ERROR']);
    }
    expect((await user.api.get(`/reminders/${r.id}`)).body.data).toEqual(r);
    expect(await jobOf(r.id)).toEqual(job);
  });
});

describe('dates outside 1970–9999', () => {
  it.each(['0000-01-01T00:00:00Z', '1969-12-31T23:00:00Z', '9999-12-31T23:30:00-01:00'])('refuses scheduled_at %s with 400 naming body.scheduled_at, creating and changing nothing', async (at) => {
    const task = await newTask(user, { due_date: inDays(2) });
    const created = await user.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: at });
    expect(created.status).toBe(400);
    expect(created.body.error.details.map((d: { field: string }) => d.field)).toContain('body.scheduled_at');
    const viaBody = await user.api.post('/reminders', { task_id: task.id, type: 'absolute', scheduled_at: at });
    expect(viaBody.status).toBe(400);
    expect(viaBody.body.error.details.map((d: { field: string }) => d.field)).toContain('body.scheduled_at');
    expect(await t.db.selectFrom('reminders').select('id').where('task_id', '=', task.id).execute()).toEqual([]);

    const reminder = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -15 })).body.data;
    const updated = await user.api.patch(`/reminders/${reminder.id}`, { type: 'absolute', offset_minutes: null, scheduled_at: at });
    expect(updated.status).toBe(400);
    expect(updated.body.error.details.map((d: { field: string }) => d.field)).toContain('body.scheduled_at');
    expect((await user.api.get(`/reminders/${reminder.id}`)).body.data).toMatchObject({ type: 'before', scheduled_at: reminder.scheduled_at });
  });
});
