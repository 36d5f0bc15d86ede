import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubtasks } from '../../src/domain/tasks/index.js';
import { domainEvents, type DomainEvent } from '../../src/domain/events/bus.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { activity, newSubtask, newTask } from '../tasks/fixtures.js';

let t: TestApp;
let user: TestUser;
let other: TestUser;
const events: DomainEvent[] = [];
domainEvents.subscribe('task.completed', async (_trx, e) => void events.push(e));
domainEvents.subscribe('subtask.completed', async (_trx, e) => void events.push(e));

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
  other = await signUp(t);
});
afterAll(() => t?.close());

const order = async (taskId: string) => (await user.api.get(`/tasks/${taskId}/subtasks`)).body.data.map((s: any) => [s.title, s.order_index]);
const missing = '0193f1a2-8d5f-7c9b-8d2e-3f4a5b6c7d8e';

describe('createSubtask', () => {
  it('appends an open user subtask and logs it, leaving the task version alone', async () => {
    const task = await newTask(user);
    const res = await user.api.post(`/tasks/${task.id}/subtasks`, { title: '  First  ' });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ task_id: task.id, title: 'First', completed: false, completed_at: null, order_index: 0, source: 'user' });
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.version).toBe(1);
    expect((await activity(t, user.id, 'subtask_created')).some((a) => a.entity_id === res.body.data.id)).toBe(true);
  });

  it('inserts at order_index and keeps positions gapless', async () => {
    const task = await newTask(user);
    await newSubtask(user, task.id, 'b');
    await newSubtask(user, task.id, 'c');
    await user.api.post(`/tasks/${task.id}/subtasks`, { title: 'a', order_index: 0 });
    await user.api.post(`/tasks/${task.id}/subtasks`, { title: 'd', order_index: 99 });
    expect(await order(task.id)).toEqual([['a', 0], ['b', 1], ['c', 2], ['d', 3]]);
  });

  it('refuses the 5th subtask on the free tier with LIMIT_EXCEEDED and creates nothing', async () => {
    const task = await newTask(user);
    for (const n of [1, 2, 3, 4]) await newSubtask(user, task.id, `s${n}`);
    const res = await user.api.post(`/tasks/${task.id}/subtasks`, { title: 'fifth' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 4 });
    expect((await order(task.id)).length).toBe(4);
  });

  it('never passes the limit under 10 concurrent creations (Pro: 10)', async () => {
    const pro = await signUp(t, { tier: 'pro' });
    const task = await newTask(pro);
    for (const n of [1, 2, 3, 4, 5, 6, 7]) await newSubtask(pro, task.id, `s${n}`);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => pro.api.post(`/tasks/${task.id}/subtasks`, { title: `race ${i}` })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 409)).toHaveLength(7);
    const list = (await pro.api.get(`/tasks/${task.id}/subtasks`)).body.data;
    expect(list.map((s: any) => s.order_index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses subtasks on an archived task (409 ARCHIVED), another user\'s task (403) and a missing one (404)', async () => {
    const task = await newTask(user);
    await user.api.patch(`/tasks/${task.id}`, { version: 1, archived: true });
    expect((await user.api.post(`/tasks/${task.id}/subtasks`, { title: 'x' })).body.error.code).toBe('ARCHIVED');
    const mine = await newTask(user);
    expect((await other.api.post(`/tasks/${mine.id}/subtasks`, { title: 'x' })).status).toBe(403);
    expect(await order(mine.id)).toEqual([]);
    expect((await user.api.post(`/tasks/${missing}/subtasks`, { title: 'x' })).status).toBe(404);
    expect((await user.api.post(`/tasks/${mine.id}/subtasks`, { title: '  ' })).status).toBe(400);
  });
});

describe('createSubtasks (AI confirm-action)', () => {
  it('creates all titles in order with source ai, or nothing when they would pass the limit', async () => {
    const task = await newTask(user);
    await newSubtask(user, task.id, 'existing');
    const actor = { userId: user.id, source: 'ai' as const, requestId: null };
    const r = await createSubtasks(t.db, { actor, taskId: task.id, titles: ['one', 'two'], source: 'ai' });
    expect(r.subtasks.map((s) => [s.title, s.order_index, s.source])).toEqual([['one', 1, 'ai'], ['two', 2, 'ai']]);
    await expect(createSubtasks(t.db, { actor, taskId: task.id, titles: ['x', 'y'], source: 'ai' })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect((await order(task.id)).length).toBe(3);
    const log = (await activity(t, user.id, 'subtask_created')).filter((a) => a.entity_id === r.subtasks[0]!.id);
    expect(log[0]).toMatchObject({ source: 'ai' });
  });
});

describe('listSubtasks', () => {
  it('lists in order with pagination; 403 and 404', async () => {
    const task = await newTask(user);
    for (const n of ['a', 'b', 'c']) await newSubtask(user, task.id, n);
    const page = await user.api.get(`/tasks/${task.id}/subtasks`, { query: { offset: 1, limit: 1 } });
    expect(page.body.data.map((s: any) => s.title)).toEqual(['b']);
    expect(page.body.pagination).toEqual({ offset: 1, limit: 1, total: 3, has_more: true });
    expect((await other.api.get(`/tasks/${task.id}/subtasks`)).status).toBe(403);
    expect((await user.api.get(`/tasks/${missing}/subtasks`)).status).toBe(404);
  });
});

describe('reorderSubtasks', () => {
  it('sets the order given by exactly the task\'s subtasks', async () => {
    const task = await newTask(user);
    const [a, b, c] = [await newSubtask(user, task.id, 'a'), await newSubtask(user, task.id, 'b'), await newSubtask(user, task.id, 'c')];
    const res = await user.api.put(`/tasks/${task.id}/subtasks/reorder`, { subtask_ids: [c.id, a.id, b.id] });
    expect(res.status).toBe(200);
    expect(res.body.data.map((s: any) => [s.title, s.order_index])).toEqual([['c', 0], ['a', 1], ['b', 2]]);
    expect(res.body.pagination).toEqual({ offset: 0, limit: 100, total: 3, has_more: false });
    expect(await order(task.id)).toEqual([['c', 0], ['a', 1], ['b', 2]]);
  });

  it('refuses a missing, extra, foreign or repeated id with 400 and changes nothing', async () => {
    const task = await newTask(user);
    const [a, b] = [await newSubtask(user, task.id, 'a'), await newSubtask(user, task.id, 'b')];
    const elsewhere = await newSubtask(user, (await newTask(user)).id, 'elsewhere');
    for (const ids of [[b.id], [b.id, a.id, elsewhere.id], [b.id, elsewhere.id], [b.id, a.id, a.id], [b.id, missing]]) {
      const res = await user.api.put(`/tasks/${task.id}/subtasks/reorder`, { subtask_ids: ids });
      expect(res.status, JSON.stringify(ids)).toBe(400);
      expect(res.body.error.details[0].field).toMatch(/^body\.subtask_ids/);
    }
    expect(await order(task.id)).toEqual([['a', 0], ['b', 1]]);
  });

  it('answers 409 ARCHIVED, 403 and 404', async () => {
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'a');
    expect((await other.api.put(`/tasks/${task.id}/subtasks/reorder`, { subtask_ids: [a.id] })).status).toBe(403);
    expect((await user.api.put(`/tasks/${missing}/subtasks/reorder`, { subtask_ids: [a.id] })).status).toBe(404);
    await user.api.patch(`/tasks/${task.id}`, { version: 1, archived: true });
    expect((await user.api.put(`/tasks/${task.id}/subtasks/reorder`, { subtask_ids: [a.id] })).body.error.code).toBe('ARCHIVED');
  });
});

describe('updateSubtask and replaceSubtask', () => {
  it('renames, completes and re-opens; moves keep the order gapless', async () => {
    const task = await newTask(user);
    const [a, , c] = [await newSubtask(user, task.id, 'a'), await newSubtask(user, task.id, 'b'), await newSubtask(user, task.id, 'c')];
    const renamed = await user.api.patch(`/subtasks/${a.id}`, { title: ' A ' });
    expect(renamed.body.data).toMatchObject({ title: 'A', completed: false });
    const done = await user.api.patch(`/subtasks/${a.id}`, { completed: true });
    expect(done.body.data.completed).toBe(true);
    expect(Date.parse(done.body.data.completed_at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await user.api.patch(`/subtasks/${a.id}`, { completed: false })).body.data).toMatchObject({ completed: false, completed_at: null });
    await user.api.patch(`/subtasks/${c.id}`, { order_index: 0 });
    expect(await order(task.id)).toEqual([['c', 0], ['A', 1], ['b', 2]]);
    await user.api.patch(`/subtasks/${c.id}`, { order_index: 50 });
    expect(await order(task.id)).toEqual([['A', 0], ['b', 1], ['c', 2]]);
  });

  it('auto-completes the task when its last open subtask completes, once, and re-opening a subtask keeps the task completed', async () => {
    // A new user: a first completion unlocks no achievement.
    const user = await signUp(t);
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'a');
    const b = await newSubtask(user, task.id, 'b');
    await user.api.put(`/subtasks/${a.id}`, { completed: true });
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.completed).toBe(false);
    const last = await user.api.put(`/subtasks/${b.id}`, { completed: true });
    expect(last.status).toBe(200);
    expect(last.body).not.toHaveProperty('unlocked_achievements');
    const after = (await user.api.get(`/tasks/${task.id}`)).body.data;
    expect(after).toMatchObject({ completed: true, completed_by: 'auto', version: 2, completed_at: last.body.data.completed_at });
    expect(events.filter((e) => e.type === 'task.completed' && e.taskId === task.id)).toEqual([expect.objectContaining({ completedBy: 'auto' })]);
    expect(events.filter((e) => e.type === 'subtask.completed' && e.taskId === task.id)).toHaveLength(2);
    await user.api.put(`/subtasks/${b.id}`, { completed: false });
    await user.api.put(`/subtasks/${b.id}`, { completed: true });
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ completed: true, version: 2 });
    expect(events.filter((e) => e.type === 'task.completed' && e.taskId === task.id)).toHaveLength(1);
  });

  it('refuses changes on an archived task and for another user, changing nothing', async () => {
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'a');
    expect((await other.api.put(`/subtasks/${a.id}`, { completed: true })).status).toBe(403);
    expect((await other.api.patch(`/subtasks/${a.id}`, { title: 'x' })).status).toBe(403);
    await user.api.patch(`/tasks/${task.id}`, { version: 1, archived: true });
    expect((await user.api.patch(`/subtasks/${a.id}`, { completed: true })).body.error.code).toBe('ARCHIVED');
    expect((await user.api.get(`/tasks/${task.id}/subtasks`)).body.data[0]).toMatchObject({ title: 'a', completed: false });
    expect((await user.api.patch(`/subtasks/${missing}`, { completed: true })).status).toBe(404);
    expect((await user.api.patch(`/subtasks/${a.id}`, {})).status).toBe(400);
  });
});

describe('deleteSubtask', () => {
  it('deletes, closes the gap, never completes the task, and answers {id, deleted}', async () => {
    const task = await newTask(user);
    const [a, b] = [await newSubtask(user, task.id, 'a'), await newSubtask(user, task.id, 'b')];
    await newSubtask(user, task.id, 'c');
    await user.api.patch(`/subtasks/${a.id}`, { completed: true });
    await user.api.patch(`/subtasks/${b.id}`, { completed: true });
    const res = await user.api.delete(`/subtasks/${a.id}`, { headers: { 'content-type': 'application/json' } });
    expect(res.body).toEqual({ data: { id: a.id, deleted: true } });
    expect(await order(task.id)).toEqual([['b', 0], ['c', 1]]);
    const c = (await user.api.get(`/tasks/${task.id}/subtasks`)).body.data[1];
    await user.api.delete(`/subtasks/${c.id}`);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.completed).toBe(false);
    expect((await user.api.delete(`/subtasks/${a.id}`)).status).toBe(404);
  });

  it('answers 403 for another user\'s subtask and 409 on an archived task', async () => {
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'a');
    expect((await other.api.delete(`/subtasks/${a.id}`)).status).toBe(403);
    await user.api.patch(`/tasks/${task.id}`, { version: 1, archived: true });
    expect((await user.api.delete(`/subtasks/${a.id}`)).body.error.code).toBe('ARCHIVED');
    expect(await order(task.id)).toEqual([['a', 0]]);
  });
});

describe('completeSubtask (POST /subtasks/{id}/complete, the frontend’s useCompleteSubtask)', () => {
  it('completes the subtask; completing the last open one auto-completes the task and returns the unlocks; again changes nothing', async () => {
    const user = await signUp(t);
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'a');
    const b = await newSubtask(user, task.id, 'b');
    const first = await user.api.post(`/subtasks/${a.id}/complete`, {});
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({ id: a.id, completed: true, completed_at: expect.stringMatching(/Z$/) });
    // Without a body too.
    const last = await user.api.post(`/subtasks/${b.id}/complete`);
    expect(last.status).toBe(200);
    expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ completed: true, completed_by: 'auto', completed_at: last.body.data.completed_at });
    const again = await user.api.post(`/subtasks/${a.id}/complete`, {});
    expect(again.body.data).toEqual(first.body.data);
  });

  it('answers 403 for another user’s subtask, 404 for a missing one, 409 ARCHIVED, 400 for a body other than {}; nothing changes', async () => {
    const task = await newTask(user);
    const a = await newSubtask(user, task.id, 'a');
    const foreign = await other.api.post(`/subtasks/${a.id}/complete`, {});
    expect([foreign.status, foreign.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const unknown = await user.api.post(`/subtasks/${missing}/complete`, {});
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const withBody = await user.api.post(`/subtasks/${a.id}/complete`, { completed: false });
    expect([withBody.status, withBody.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    await user.api.patch(`/tasks/${task.id}`, { version: 1, archived: true });
    const archived = await user.api.post(`/subtasks/${a.id}/complete`, {});
    expect([archived.status, archived.body.error.code]).toEqual([409, 'ARCHIVED']);
    expect((await user.api.get(`/tasks/${task.id}/subtasks`)).body.data[0]).toMatchObject({ id: a.id, completed: false, completed_at: null });
  });
});
