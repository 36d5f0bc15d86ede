import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainEvents, type DomainEvent } from '../../src/domain/events/bus.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { activity, inDays, newSubtask, newTask, seedTasks } from './fixtures.js';

let t: TestApp;
let user: TestUser;
let other: TestUser;

// The rules (limits, versions, archived, completion, force-complete) are fast tests in
// tests/domain/tasks/tasks.test.ts; here one HTTP test per rule maps its code to a status, with the
// contract, ETags, activity request ids, ownership over HTTP and the races, which need a real pool.

// A real handler on the in-process bus: records events and, for tasks named in `unlockFor`,
// answers an unlock the way the achievements domain will.
const events: DomainEvent[] = [];
const unlockFor = new Set<string>();
domainEvents.subscribe('task.completed', async (_trx, e) => {
  events.push(e);
  return unlockFor.has(e.taskId) ? { unlockedAchievements: [{ id: 'tasks_5', name: 'Task Starter', description: 'Complete 5 tasks.', achievement_id: 'tasks_5', achievement_name: 'Task Starter', perk: { type: 'max_tasks', value: 15 } }] } : {};
});
domainEvents.subscribe('task.created', async (_trx, e) => void events.push(e));
domainEvents.subscribe('task.deleted', async (_trx, e) => void events.push(e));
const completions = (taskId: string) => events.filter((e) => e.type === 'task.completed' && e.taskId === taskId);

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
  other = await signUp(t);
});
afterAll(() => t?.close());

describe('createTask', () => {
  it('creates an open, visible task with version 1, an ETag, an event and an activity entry', async () => {
    const due = new Date(Date.now() + 2 * 86_400_000);
    const res = await user.api.post('/tasks', { title: '  Write the report  ', description: 'Numbers first', priority: 'high', due_date: due.toISOString().replace('Z', '+00:00'), estimated_duration: 90 });
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.body.data).toMatchObject({
      user_id: user.id,
      template_id: null,
      title: 'Write the report',
      description: 'Numbers first',
      priority: 'high',
      due_date: due.toISOString(),
      estimated_duration: 90,
      focus_time_seconds: 0,
      completed: false,
      completed_at: null,
      completed_by: null,
      hidden: false,
      archived: false,
      subtask_count: 0,
      subtask_completed_count: 0,
      version: 1,
    });
    expect(events).toContainEqual({ type: 'task.created', taskId: res.body.data.id });
    const log = await activity(t, user.id, 'task_created');
    const entry = log.find((a) => a.entity_id === res.body.data.id)!;
    expect(entry).toMatchObject({ entity_type: 'task', source: 'user' });
    expect(entry.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('defaults description to "" and priority to medium, and accepts a past due date', async () => {
    const task = await newTask(user, { title: 'Old', due_date: '2020-01-01T00:00:00Z' });
    expect(task).toMatchObject({ description: '', priority: 'medium', due_date: '2020-01-01T00:00:00.000Z', estimated_duration: null });
  });

  it.each([
    [{ title: 'x', due_date: inDays(31) }, 'body.due_date'],
    [{ title: 'x', description: 'd'.repeat(1001) }, 'body.description'],
    [{ title: '   ' }, 'body.title'],
    [{ title: 'x', due_date: '2026-01-01T10:00:00' }, 'body.due_date'],
    [{ title: 'x', estimated_duration: 0 }, 'body.estimated_duration'],
    [{ title: 'x', version: 1 }, 'body.version'],
  ])('rejects %j with 400 naming %s and creates nothing', async (body, field) => {
    const before = await user.api.get('/tasks', { query: { limit: 100 } });
    const res = await user.api.post('/tasks', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    const after = await user.api.get('/tasks', { query: { limit: 100 } });
    expect(after.body.pagination.total).toBe(before.body.pagination.total);
  });

  it('refuses the 51st active task of a free user (409 LIMIT_EXCEEDED with limit); hidden and completed tasks do not count', async () => {
    const u = await signUp(t);
    await seedTasks(t, u.id, 49);
    await seedTasks(t, u.id, 3, { hidden: true });
    await seedTasks(t, u.id, 3, { completed: true, completed_at: new Date(), completed_by: 'manual' });
    await newTask(u);
    const res = await u.api.post('/tasks', { title: 'one too many' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 50 });
    expect((await u.api.get('/tasks', { query: { completed: false } })).body.pagination.total).toBe(50);
  });

  it('never passes the limit under concurrent creation', async () => {
    const u = await signUp(t);
    await seedTasks(t, u.id, 47);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => u.api.post('/tasks', { title: `race ${i}` })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.error.code === 'LIMIT_EXCEEDED')).toBe(true);
    expect((await u.api.get('/tasks')).body.pagination.total).toBe(50);
  });
});

describe('getTask', () => {
  it('returns the task with its full subtasks in order and an ETag', async () => {
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'A');
    const b = await newSubtask(user, task.id, 'B');
    await user.api.patch(`/subtasks/${a.id}`, { completed: true });
    const res = await user.api.get(`/tasks/${task.id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.body.data).toMatchObject({ id: task.id, subtask_count: 2, subtask_completed_count: 1, reminders: [] });
    expect(res.body.data.subtasks.map((s: any) => [s.id, s.order_index, s.completed])).toEqual([[a.id, 0, true], [b.id, 1, false]]);
  });

  it('returns hidden tasks too', async () => {
    const task = await newTask(user);
    await user.api.patch(`/tasks/${task.id}`, { hidden: true });
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.hidden).toBe(true);
  });

  it('answers 403 for another user\'s task and 404 for a missing one', async () => {
    const task = await newTask(user);
    expect((await other.api.get(`/tasks/${task.id}`)).body.error.code).toBe('FORBIDDEN');
    const res = await user.api.get('/tasks/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d');
    expect(res.status).toBe(404);
    expect((await user.api.get('/tasks/not-a-uuid')).status).toBe(400);
  });
});

describe('listTasks', () => {
  let u: TestUser;
  const ids = {} as Record<'open' | 'done' | 'hidden' | 'nodue', string>;
  beforeAll(async () => {
    u = await signUp(t);
    ids.open = (await newTask(u, { title: 'open', priority: 'low', due_date: inDays(1) })).id;
    ids.done = (await newTask(u, { title: 'done', priority: 'high', due_date: inDays(5) })).id;
    await u.api.patch(`/tasks/${ids.done}`, { completed: true });
    ids.hidden = (await newTask(u, { title: 'hidden' })).id;
    await u.api.patch(`/tasks/${ids.hidden}`, { hidden: true });
    ids.nodue = (await newTask(u, { title: 'no due' })).id;
    await newSubtask(u, ids.nodue);
  });

  const titles = async (query: Record<string, string | number | boolean>) => {
    const res = await u.api.get('/tasks', { query });
    expect(res.status, res.text).toBe(200);
    return res.body.data.map((x: any) => x.title);
  };

  it('lists visible tasks newest first with subtask counts and pagination', async () => {
    const res = await u.api.get('/tasks');
    expect(res.body.data.map((x: any) => x.title)).toEqual(['no due', 'done', 'open']);
    expect(res.body.data[0]).toMatchObject({ subtask_count: 1, subtask_completed_count: 0 });
    expect(res.body.pagination).toEqual({ offset: 0, limit: 25, total: 3, has_more: false });
    const page = await u.api.get('/tasks', { query: { offset: 1, limit: 1 } });
    expect(page.body.data.map((x: any) => x.title)).toEqual(['done']);
    expect(page.body.pagination).toEqual({ offset: 1, limit: 1, total: 3, has_more: true });
    const past = await u.api.get('/tasks', { query: { offset: 10 } });
    expect(past.body).toEqual({ data: [], pagination: { offset: 10, limit: 25, total: 3, has_more: false } });
  });

  it('filters by completion, priority, hidden and due-date bounds', async () => {
    expect(await titles({ completed: false })).toEqual(['no due', 'open']);
    expect(await titles({ completed: true })).toEqual(['done']);
    expect(await titles({ priority: 'low' })).toEqual(['open']);
    expect(await titles({ hidden: true })).toEqual(['hidden']);
    expect(await titles({ hidden: false })).toEqual(['no due', 'done', 'open']);
    expect(await titles({ due_before: inDays(2) })).toEqual(['open']);
    expect(await titles({ due_after: inDays(2) })).toEqual(['done']);
    expect(await titles({ due_after: inDays(0), due_before: inDays(10) })).toEqual(['done', 'open']);
  });

  it('rejects due_after later than due_before, and out-of-range pagination', async () => {
    expect((await u.api.get('/tasks', { query: { due_after: inDays(3), due_before: inDays(2) } })).status).toBe(400);
    expect((await u.api.get('/tasks', { query: { limit: 101 } })).status).toBe(400);
    expect((await u.api.get('/tasks', { query: { priority: 'urgent' } })).status).toBe(400);
  });

  it('never lists another user\'s tasks', async () => {
    expect((await other.api.get('/tasks', { query: { limit: 100 } })).body.data.every((x: any) => x.user_id === other.id)).toBe(true);
  });
});

describe('updateTask', () => {
  it('edits content fields with the body version, raises the version and answers the ETag', async () => {
    const task = await newTask(user, { due_date: inDays(1) });
    const res = await user.api.patch(`/tasks/${task.id}`, { version: 1, title: ' New title ', priority: 'low', description: 'd', estimated_duration: null, due_date: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"2"');
    expect(res.body.data).toMatchObject({ title: 'New title', priority: 'low', description: 'd', estimated_duration: null, due_date: null, version: 2 });
    expect(res.body).not.toHaveProperty('unlocked_achievements');
    const log = await activity(t, user.id, 'task_updated');
    expect(log.find((a) => a.entity_id === task.id)!.extra_data).toMatchObject({ fields: expect.arrayContaining(['title', 'priority']) });
  });

  it('accepts If-Match instead of a body version', async () => {
    const task = await newTask(user);
    const res = await user.api.patch(`/tasks/${task.id}`, { title: 'via If-Match' }, { headers: { 'if-match': '"1"' } });
    expect(res.status).toBe(200);
    expect(res.body.data.version).toBe(2);
  });

  it('answers 409 CONFLICT with current_version for a stale body version, 412 for a stale If-Match, and changes nothing', async () => {
    const task = await newTask(user);
    await user.api.patch(`/tasks/${task.id}`, { version: 1, title: 'second' });
    const before = (await user.api.get(`/tasks/${task.id}`)).body;
    const stale = await user.api.patch(`/tasks/${task.id}`, { version: 1, title: 'lost' });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'CONFLICT', current_version: 2 });
    const staleTag = await user.api.patch(`/tasks/${task.id}`, { title: 'lost' }, { headers: { 'if-match': '"1"' } });
    expect(staleTag.status).toBe(412);
    expect(staleTag.body.error).toMatchObject({ code: 'PRECONDITION_FAILED', current_version: 2 });
    const both = await user.api.patch(`/tasks/${task.id}`, { version: 1, title: 'lost' }, { headers: { 'if-match': '"2"' } });
    expect(both.status).toBe(409);
    expect((await user.api.get(`/tasks/${task.id}`)).body).toEqual(before);
  });

  it('needs a version for content edits and refuses a body with only a version', async () => {
    const task = await newTask(user);
    const res = await user.api.patch(`/tasks/${task.id}`, { title: 'no version' });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('body.version');
    expect((await user.api.patch(`/tasks/${task.id}`, { version: 1 })).status).toBe(400);
    expect((await user.api.patch(`/tasks/${task.id}`, { version: 1, bogus: true })).status).toBe(400);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ title: task.title, version: 1 });
  });

  it('of 20 concurrent edits based on the same version exactly one wins', async () => {
    const task = await newTask(user);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => user.api.patch(`/tasks/${task.id}`, { version: 1, title: `edit ${i}` })));
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    const final = (await user.api.get(`/tasks/${task.id}`)).body.data;
    expect(final).toMatchObject({ version: 2, title: winners[0]!.body.data.title });
  });

  it('applies concurrent version-less toggles to the current row without undoing an edit', async () => {
    const task = await newTask(user);
    const [edit, hide, complete] = await Promise.all([
      user.api.patch(`/tasks/${task.id}`, { version: 1, title: 'edited concurrently' }),
      user.api.patch(`/tasks/${task.id}`, { hidden: true }),
      user.api.patch(`/tasks/${task.id}`, { completed: true }),
    ]);
    expect(hide.status).toBe(200);
    expect(complete.status).toBe(200);
    const final = (await user.api.get(`/tasks/${task.id}`)).body.data;
    expect(final).toMatchObject({ hidden: true, completed: true });
    if (edit.status === 200) expect(final.title).toBe('edited concurrently');
    else expect(edit.body.error.code).toBe('CONFLICT');
    expect(final.version).toBe(edit.status === 200 ? 4 : 3);
  });

  it('completes without a version (manual), raises task.completed once, and un-completing clears the fields', async () => {
    const task = await newTask(user);
    const done = await user.api.patch(`/tasks/${task.id}`, { completed: true });
    expect(done.body.data).toMatchObject({ completed: true, completed_by: 'manual', version: 2 });
    expect(Date.parse(done.body.data.completed_at)).toBeGreaterThan(Date.now() - 60_000);
    const again = await user.api.patch(`/tasks/${task.id}`, { completed: true });
    expect(again.body.data).toMatchObject({ version: 2, completed_at: done.body.data.completed_at });
    expect(completions(task.id)).toHaveLength(1);
    expect(completions(task.id)[0]).toMatchObject({ completedBy: 'manual' });
    expect((await activity(t, user.id, 'task_completed')).filter((a) => a.entity_id === task.id)).toHaveLength(1);
    const undone = await user.api.patch(`/tasks/${task.id}`, { completed: false });
    expect(undone.body.data).toMatchObject({ completed: false, completed_at: null, completed_by: null, version: 3 });
  });

  it('returns the unlocked achievements beside data when a completion unlocks one', async () => {
    const task = await newTask(user);
    unlockFor.add(task.id);
    const res = await user.api.patch(`/tasks/${task.id}`, { completed: true });
    expect(res.body.unlocked_achievements).toContainEqual({ id: 'tasks_5', name: 'Task Starter', description: 'Complete 5 tasks.', achievement_id: 'tasks_5', achievement_name: 'Task Starter', perk: { type: 'max_tasks', value: 15 } });
  });

  it('answers 409 ARCHIVED for completing an archived task (the rules: tests/domain/tasks)', async () => {
    const task = await newTask(user);
    expect((await user.api.patch(`/tasks/${task.id}`, { version: 1, archived: true })).body.data.archived).toBe(true);
    const complete = await user.api.patch(`/tasks/${task.id}`, { completed: true });
    expect(complete.status).toBe(409);
    expect(complete.body.error.code).toBe('ARCHIVED');
    expect((await user.api.post(`/tasks/${task.id}/force-complete`, { version: 2 })).status).toBe(409);
    expect(completions(task.id)).toHaveLength(0);
  });


  it('answers 403 for another user\'s task without changing it, and 404 for a missing one', async () => {
    const task = await newTask(user);
    expect((await other.api.patch(`/tasks/${task.id}`, { completed: true })).status).toBe(403);
    expect((await other.api.patch(`/tasks/${task.id}`, { version: 1, title: 'mine' })).status).toBe(403);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ completed: false, title: task.title, version: 1 });
    expect((await user.api.patch('/tasks/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', { completed: true })).status).toBe(404);
  });
});

describe('forceCompleteTask', () => {
  it('completes the task and its open subtasks with one timestamp and answers achievements and streak', async () => {
    const u = await signUp(t);
    const task = await newTask(u);
    const a = await newSubtask(u, task.id, 'a');
    const b = await newSubtask(u, task.id, 'b');
    const doneEarlier = (await u.api.patch(`/subtasks/${a.id}`, { completed: true })).body.data;
    const res = await u.api.post(`/tasks/${task.id}/force-complete`, { version: 1 });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"2"');
    // A first completion unlocks nothing; the streak comes from the streaks domain.
    expect(res.body.data).toMatchObject({ unlocked_achievements: [], streak: expect.any(Number) });
    expect(res.body.data.task).toMatchObject({ completed: true, completed_by: 'force', version: 2, subtask_count: 2, subtask_completed_count: 2 });
    const detail = (await u.api.get(`/tasks/${task.id}`)).body.data;
    const byId = Object.fromEntries(detail.subtasks.map((s: any) => [s.id, s]));
    expect(byId[b.id].completed_at).toBe(res.body.data.task.completed_at);
    expect(byId[a.id].completed_at).toBe(doneEarlier.completed_at);
    expect(completions(task.id)).toEqual([expect.objectContaining({ completedBy: 'force' })]);
  });

  it('answers stale version 409, stale If-Match 412, completed 409, and changes nothing', async () => {
    const task = await newTask(user);
    await newSubtask(user, task.id);
    expect((await user.api.post(`/tasks/${task.id}/force-complete`, { version: 2 })).body.error).toMatchObject({ code: 'CONFLICT', current_version: 1 });
    expect((await user.api.post(`/tasks/${task.id}/force-complete`, { version: 1 }, { headers: { 'if-match': '"3"' } })).status).toBe(412);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ completed: false, subtask_completed_count: 0, version: 1 });
    await user.api.patch(`/tasks/${task.id}`, { completed: true });
    const again = await user.api.post(`/tasks/${task.id}/force-complete`, { version: 2 });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already completed/);
    expect(completions(task.id)).toHaveLength(1);
    expect((await user.api.post(`/tasks/${task.id}/force-complete`, {})).status).toBe(400);
  });

  it('always carries unlocked_achievements inside data', async () => {
    const task = await newTask(user);
    unlockFor.add(task.id);
    const res = await user.api.post(`/tasks/${task.id}/force-complete`, { version: 1 });
    expect(res.body.data.unlocked_achievements).toContainEqual(expect.objectContaining({ achievement_id: 'tasks_5' }));
    expect(res.body).not.toHaveProperty('unlocked_achievements');
  });

  it('answers 403 and 404', async () => {
    const task = await newTask(user);
    expect((await other.api.post(`/tasks/${task.id}/force-complete`, { version: 1 })).status).toBe(403);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.completed).toBe(false);
    expect((await user.api.post('/tasks/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d/force-complete', { version: 1 })).status).toBe(404);
  });
});

describe('deleteTask', () => {
  it('deletes the task with its subtasks, answers the tombstone, raises task.deleted and logs it', async () => {
    const task = await newTask(user);
    await newSubtask(user, task.id);
    const res = await user.api.delete(`/tasks/${task.id}`, { headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    const { tombstone_id, recoverable_until } = res.body.data;
    expect(Date.parse(recoverable_until) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect((await user.api.get(`/tasks/${task.id}`)).status).toBe(404);
    expect(await t.db.selectFrom('subtasks').select('id').where('task_id', '=', task.id).execute()).toEqual([]);
    expect(events).toContainEqual({ type: 'task.deleted', taskId: task.id, tombstoneId: tombstone_id });
    expect((await activity(t, user.id, 'task_deleted')).some((a) => a.entity_id === task.id)).toBe(true);
    expect((await user.api.delete(`/tasks/${task.id}`)).status).toBe(404);
  });

  it('answers 403 for another user\'s task and keeps it', async () => {
    const task = await newTask(user);
    expect((await other.api.delete(`/tasks/${task.id}`)).status).toBe(403);
    expect((await user.api.get(`/tasks/${task.id}`)).status).toBe(200);
  });
});

// Instants outside 1970–9999 (UTC) are refused by the contract's date-time format: 0000-01-01 was
// stored and came back as `-000001-12-31T…`, which no client can read as a date-time.
const OUT_OF_RANGE_INSTANTS = ['0000-01-01T00:00:00Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:30:00+01:00', '9999-12-31T23:30:00-01:00'];

describe('dates outside 1970–9999', () => {
  it.each(OUT_OF_RANGE_INSTANTS)('createTask refuses due_date %s with 400 naming body.due_date, creating nothing', async (due) => {
    const before = await t.db.selectFrom('task_instances').select('id').where('user_id', '=', user.id).execute();
    const res = await user.api.post('/tasks', { title: 'Long ago', due_date: due });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(new Set(res.body.error.details.map((d: { field: string }) => d.field))).toEqual(new Set(['body.due_date']));
    expect(await t.db.selectFrom('task_instances').select('id').where('user_id', '=', user.id).execute()).toHaveLength(before.length);
  });

  it.each(OUT_OF_RANGE_INSTANTS)('updateTask refuses due_date %s with 400, leaving the task as it was', async (due) => {
    const task = await newTask(user, { due_date: inDays(1) });
    const res = await user.api.patch(`/tasks/${task.id}`, { due_date: due, version: 1 });
    expect(res.status).toBe(400);
    expect(new Set(res.body.error.details.map((d: { field: string }) => d.field))).toEqual(new Set(['body.due_date']));
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ due_date: task.due_date, version: 1 });
  });

  it('listTasks refuses due_before/due_after outside the range with 400 naming the parameter', async () => {
    for (const name of ['due_before', 'due_after']) {
      const res = await user.api.get('/tasks', { query: { [name]: '0000-01-01T00:00:00Z' } });
      expect(res.status).toBe(400);
      expect(new Set(res.body.error.details.map((d: { field: string }) => d.field))).toEqual(new Set([`query.${name}`]));
    }
  });

  it('accepts the edges: 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z', async () => {
    const task = await newTask(user);
    let version = task.version;
    for (const due of ['1970-01-01T00:00:00.000Z', '1970-01-01T01:00:00+01:00']) {
      const res = await user.api.patch(`/tasks/${task.id}`, { due_date: due, version: version++ });
      expect(res.status, res.text).toBe(200);
      expect(res.body.data.due_date).toBe('1970-01-01T00:00:00.000Z');
    }
    expect((await user.api.get('/tasks', { query: { due_before: '9999-12-31T23:59:59.999Z', due_after: '1970-01-01T00:00:00Z' } })).status).toBe(200);
  });
});
