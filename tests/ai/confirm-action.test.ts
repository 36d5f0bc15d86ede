import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { balanceOf } from '../helpers/credits.js';
import { signUp, type TestUser } from '../helpers/users.js';

// POST /ai/confirm-action runs a confirmed suggestion through the task use cases, as source `ai`.

let t: TestApp;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  ada = await signUp(t);
  bob = await signUp(t);
});
afterAll(() => t?.close());

const newTask = async (u: TestUser, title = 'Write the quarterly report') => {
  const res = await u.api.post('/tasks', { title });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; version: number; title: string };
};
const confirm = (u: TestUser, action_type: string, action_data: Record<string, unknown>) => u.api.post('/ai/confirm-action', { action_type, action_data });
const taskOf = async (u: TestUser, id: string) => (await u.api.get(`/tasks/${id}`)).body.data;
const activity = (userId: string, entityId: string) =>
  t.db.selectFrom('activity_logs').select(['action', 'source', 'entity_type']).where('user_id', '=', userId).where('entity_id', '=', entityId).orderBy('created_at').execute();

describe('confirmAiAction', () => {
  it('create_task: creates the task as the AI source, with an ETag, charging nothing', async () => {
    const res = await confirm(ada, 'create_task', { title: 'Ask Finance for the Q4 figures', priority: 'high', due_date: new Date(Date.now() + 86_400_000).toISOString() });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ action_type: 'create_task', task: { title: 'Ask Finance for the Q4 figures', priority: 'high', version: 1, user_id: ada.id }, subtasks: [] });
    expect(res.headers.get('etag')).toBe('"1"');
    const log = await activity(ada.id, res.body.data.task.id);
    expect(log).toEqual(expect.arrayContaining([
      { action: 'task_created', source: 'ai', entity_type: 'task' },
      { action: 'ai_action_confirmed', source: 'ai', entity_type: 'ai_chat' },
    ]));
    expect((await balanceOf(t, ada.id)).total).toBe(5);
  });

  it('create_task: applies the same rules as POST /tasks (30-day due date, active-task limit)', async () => {
    const u = await signUp(t);
    const far = await confirm(u, 'create_task', { title: 'Later', due_date: new Date(Date.now() + 40 * 86_400_000).toISOString() });
    expect(far.status).toBe(400);
    const now = new Date();
    await t.db.insertInto('task_instances').values(Array.from({ length: 50 }, (_, i) => ({ user_id: u.id, title: `t${i}`, created_at: now, updated_at: now }))).execute();
    const full = await confirm(u, 'create_task', { title: 'One too many' });
    expect(full.status).toBe(409);
    expect(full.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 50 });
    expect((await u.api.get('/tasks')).body.pagination.total).toBe(50);
  });

  it('update_task: applies the change with the version the assistant saw', async () => {
    const task = await newTask(ada);
    const res = await confirm(ada, 'update_task', { task_id: task.id, version: task.version, priority: 'high', title: 'Write the Q4 report' });
    expect(res.status).toBe(200);
    expect(res.body.data.task).toMatchObject({ id: task.id, priority: 'high', title: 'Write the Q4 report', version: task.version + 1 });
    expect(res.headers.get('etag')).toBe(`"${task.version + 1}"`);
    expect(await activity(ada.id, task.id)).toEqual(expect.arrayContaining([
      { action: 'task_updated', source: 'ai', entity_type: 'task' },
      { action: 'ai_action_confirmed', source: 'ai', entity_type: 'ai_chat' },
    ]));
  });

  it('update_task: a stale version is a 409 CONFLICT with current_version, nothing changed', async () => {
    const task = await newTask(ada);
    await ada.api.patch(`/tasks/${task.id}`, { title: 'Changed by the user', version: task.version });
    const res = await confirm(ada, 'update_task', { task_id: task.id, version: task.version, priority: 'low' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'CONFLICT', current_version: task.version + 1 });
    expect(await taskOf(ada, task.id)).toMatchObject({ priority: 'medium', title: 'Changed by the user' });
  });

  it('update_task: an archived task is a 409 ARCHIVED', async () => {
    const task = await newTask(ada);
    await ada.api.patch(`/tasks/${task.id}`, { archived: true, version: task.version });
    const res = await confirm(ada, 'update_task', { task_id: task.id, version: task.version + 1, priority: 'low' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('ARCHIVED');
  });

  it('complete_task: completes the task; a second confirmation is a 409 CONFLICT', async () => {
    const task = await newTask(ada);
    const res = await confirm(ada, 'complete_task', { task_id: task.id });
    expect(res.status).toBe(200);
    expect(res.body.data.task).toMatchObject({ id: task.id, completed: true, completed_by: 'manual' });
    const again = await confirm(ada, 'complete_task', { task_id: task.id });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'CONFLICT', message: 'The task is already completed' });
  });

  it('create_subtasks: adds them in order with source ai, all or nothing under the limit', async () => {
    const task = await newTask(ada);
    const res = await confirm(ada, 'create_subtasks', { task_id: task.id, subtasks: [{ title: 'Collect the sales figures' }, { title: 'Draft the summary' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBeNull();
    expect(res.body.data.task).toBeNull();
    expect(res.body.data.subtasks.map((s: any) => [s.title, s.order_index, s.source])).toEqual([
      ['Collect the sales figures', 0, 'ai'],
      ['Draft the summary', 1, 'ai'],
    ]);
    const tooMany = await confirm(ada, 'create_subtasks', { task_id: task.id, subtasks: [{ title: 'a' }, { title: 'b' }, { title: 'c' }] });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 4 });
    expect((await taskOf(ada, task.id)).subtasks).toHaveLength(2);
  });

  describe('another user’s task: 403 and nothing changed', () => {
    it.each([
      ['update_task', (id: string, v: number) => ({ task_id: id, version: v, title: 'Hijacked' })],
      ['complete_task', (id: string) => ({ task_id: id })],
      ['create_subtasks', (id: string) => ({ task_id: id, subtasks: [{ title: 'Injected' }] })],
    ])('%s', async (type, data) => {
      const task = await newTask(bob, 'Bob’s task');
      const before = await taskOf(bob, task.id);
      const res = await confirm(ada, type, data(task.id, task.version));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
      expect(await taskOf(bob, task.id)).toEqual(before);
      expect(await t.db.selectFrom('activity_logs').select('id').where('user_id', '=', ada.id).where('entity_id', '=', task.id).execute()).toEqual([]);
    });
  });

  it.each(['update_task', 'complete_task', 'create_subtasks'])('%s on a missing task is a 404', async (type) => {
    const data = type === 'update_task' ? { task_id: randomUUID(), version: 1, title: 'x' } : type === 'complete_task' ? { task_id: randomUUID() } : { task_id: randomUUID(), subtasks: [{ title: 'x' }] };
    expect((await confirm(ada, type, data)).status).toBe(404);
  });

  it.each([
    [{ action_type: 'delete_task', action_data: { task_id: randomUUID() } }],
    [{ action_type: 'complete_task', action_data: {} }],
    [{ action_type: 'update_task', action_data: { task_id: randomUUID(), version: 1 } }],
    [{ action_type: 'create_subtasks', action_data: { task_id: randomUUID(), subtasks: [] } }],
    [{ action_type: 'create_task', action_data: { title: 'x', user_id: randomUUID() } }],
  ])('rejects %j with 400', async (body) => {
    const res = await ada.api.post('/ai/confirm-action', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
  });

  it('needs a token', async () => {
    expect((await t.api.post('/ai/confirm-action', { action_type: 'create_task', action_data: { title: 'x' } })).status).toBe(401);
  });
});
