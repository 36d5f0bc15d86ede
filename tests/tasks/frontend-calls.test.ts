import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

// The production frontend's task, subtask and reminder calls (frontend-contract.md §4.2–4.4),
// replayed as it sends them: Content-Type on every request, a fresh Idempotency-Key on every
// mutation, version-less toggles, PUT for subtasks, negative reminder offsets.

let t: TestApp;
let user: TestUser;
beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
});
afterAll(() => t?.close());

const json = { 'content-type': 'application/json' };

describe('the production frontend', () => {
  it('creates, lists, toggles, hides, expands, reminds and deletes a task the way the UI does', async () => {
    // NewTaskModal: datetime-local converted to ISO Z; empty fields omitted.
    const due = new Date(Date.now() + 3 * 86_400_000);
    due.setUTCSeconds(0, 0);
    const created = await user.api.post('/tasks', { title: 'Buy milk', priority: 'medium', due_date: due.toISOString(), estimated_duration: 15 }, { headers: json });
    expect(created.status).toBe(201);
    const id = created.body.data.id;
    // TaskForm: description may be "", duration null.
    const other = await user.api.post('/tasks', { title: 'Plan trip', description: '', priority: 'low', due_date: null, estimated_duration: null }, { headers: json });
    expect(other.status).toBe(201);

    // Dashboard / tasks page / focus page.
    const open = await user.api.get('/tasks', { query: { completed: 'false' }, headers: json });
    expect(open.status).toBe(200);
    expect(open.body.data.map((x: any) => x.id)).toContain(id);
    expect(open.body.pagination).toBeDefined();

    // TaskDetailView and the task edit page.
    const detail = await user.api.get(`/tasks/${id}`, { headers: json });
    expect(detail.body.data).toMatchObject({ id, description: '', subtasks: [], reminders: [] });

    // TaskForm edit: version plus all fields.
    const edited = await user.api.patch(`/tasks/${id}`, { version: detail.body.data.version, title: 'Buy oat milk', description: '', priority: 'high', due_date: due.toISOString(), estimated_duration: null }, { headers: json });
    expect(edited.status).toBe(200);

    // AddSubTaskForm, SubTaskList (expanded TaskCard), toggle with PUT.
    const sub = await user.api.post(`/tasks/${id}/subtasks`, { title: 'Check the fridge' }, { headers: json });
    expect(sub.status).toBe(201);
    const subs = await user.api.get(`/tasks/${id}/subtasks`, { headers: json });
    expect(subs.body.data).toHaveLength(1);
    const toggled = await user.api.put(`/subtasks/${sub.body.data.id}`, { completed: true }, { headers: json });
    expect(toggled.status).toBe(200);
    expect(toggled.body.data.completed).toBe(true);
    // The only subtask done: the task auto-completed.
    expect((await user.api.get(`/tasks/${id}`)).body.data).toMatchObject({ completed: true, completed_by: 'auto' });
    // PendingCompletionsBar / TaskDetailView toggle back and forth without a version.
    expect((await user.api.patch(`/tasks/${id}`, { completed: false }, { headers: json })).body.data.completed).toBe(false);
    expect((await user.api.patch(`/tasks/${id}`, { completed: true }, { headers: json })).body.data).toMatchObject({ completed: true, completed_by: 'manual' });
    expect((await user.api.patch(`/tasks/${id}`, { completed: false }, { headers: json })).status).toBe(200);

    // ReminderSection: 15 minutes before, sent as a negative offset with its own scheduled_at.
    const scheduledAt = new Date(due.getTime() - 15 * 60_000).toISOString();
    const reminder = await user.api.post('/reminders', { task_id: id, type: 'before', offset_minutes: -15, scheduled_at: scheduledAt, method: 'in_app' }, { headers: json });
    expect(reminder.status).toBe(201);
    expect(reminder.body.data).toMatchObject({ task_id: id, user_id: user.id, type: 'before', offset_minutes: -15, scheduled_at: scheduledAt, method: 'in_app', fired: false, fired_at: null });
    for (const preset of [-30, -60, -1440]) {
      expect((await user.api.post('/reminders', { task_id: id, type: 'before', offset_minutes: preset, scheduled_at: new Date(due.getTime() + preset * 60_000).toISOString(), method: 'in_app' }, { headers: json })).status).toBe(201);
    }
    // Hooks: the user's reminders, a task's reminders, one reminder.
    expect((await user.api.get('/reminders', { headers: json })).body.data).toHaveLength(4);
    expect((await user.api.get(`/tasks/${id}/reminders`, { headers: json })).body.data).toHaveLength(4);
    expect((await user.api.get(`/reminders/${reminder.body.data.id}`, { headers: json })).body.data.id).toBe(reminder.body.data.id);
    const removed = await user.api.delete(`/reminders/${reminder.body.data.id}`, { headers: json });
    expect(removed.status).toBe(200);
    expect(removed.body.data.deleted).toBe(true);

    // SubTaskList delete: a JSON body the client can parse.
    const subDeleted = await user.api.delete(`/subtasks/${sub.body.data.id}`, { headers: json });
    expect(subDeleted.body).toEqual({ data: { id: sub.body.data.id, deleted: true } });

    // TaskDetailView hide, hidden-tasks page unhide, then delete.
    expect((await user.api.patch(`/tasks/${id}`, { hidden: true }, { headers: json })).body.data.hidden).toBe(true);
    expect((await user.api.get('/tasks', { query: { hidden: true }, headers: json })).body.data.map((x: any) => x.id)).toEqual([id]);
    expect((await user.api.patch(`/tasks/${id}`, { hidden: false }, { headers: json })).body.data.hidden).toBe(false);
    const deleted = await user.api.delete(`/tasks/${id}`, { headers: json, idempotencyKey: randomUUID() });
    expect(deleted.status).toBe(200);
    expect(deleted.body.data).toMatchObject({ tombstone_id: expect.any(String), recoverable_until: expect.stringMatching(/Z$/) });
  });

  it('gets the first answer again when a mutation is repeated with its Idempotency-Key', async () => {
    const key = randomUUID();
    const first = await user.api.post('/tasks', { title: 'Once' }, { idempotencyKey: key });
    const replay = await user.api.post('/tasks', { title: 'Once' }, { idempotencyKey: key });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect((await user.api.get('/tasks', { query: { limit: 100 } })).body.data.filter((x: any) => x.title === 'Once')).toHaveLength(1);
  });
});
