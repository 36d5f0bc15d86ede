import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { signUp, type TestUser } from '../helpers/users.js';

// The production frontend's focus hooks (frontend-contract §4.7, #48–52): the same sessions as
// POST /focus/start and /focus/end, under /focus-sessions.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const newTask = async (user: TestUser, body: Record<string, unknown> = {}) => (await user.api.post('/tasks', { title: 'Deep work', estimated_duration: 30, ...body })).body.data;
const taskRow = (id: string) => t.db.selectFrom('task_instances').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function expectUnchanged(what: string, act: () => Promise<unknown>) {
  const before = await snapshotDatabase(t);
  await act();
  expect(diffSnapshots(before, await snapshotDatabase(t)), `${what} changed the database`).toEqual({});
}

describe('POST /focus-sessions, GET /focus-sessions/active, POST /focus-sessions/{id}/end', () => {
  it('start, find it active, end it by its id: the same session and duration as /focus/start|end', async () => {
    const ada = await signUp(t);
    const task = await newTask(ada);
    const started = await ada.api.post('/focus-sessions', { task_id: task.id });
    expect(started.status).toBe(201);
    expect(started.body.data).toMatchObject({ user_id: ada.id, task_id: task.id, ended_at: null, duration_seconds: null });
    const id = started.body.data.id as string;

    const active = await ada.api.get('/focus-sessions/active');
    expect(active.status).toBe(200);
    expect(active.body.data).toEqual(started.body.data);

    // The open session is the one /focus/start would have opened: starting again is refused.
    expect((await ada.api.post('/focus/start', { task_id: task.id })).status).toBe(409);

    // Pretend it started 90 s ago, so that the measured duration is visible.
    await t.db.updateTable('focus_sessions').set({ started_at: new Date(Date.now() - 90_000) }).where('id', '=', id).execute();
    const ended = await ada.api.post(`/focus-sessions/${id}/end`, {});
    expect(ended.status).toBe(200);
    expect(ended.body.data).toMatchObject({ id, task_id: task.id, ended_at: expect.stringMatching(/Z$/) });
    expect(ended.body.data.duration_seconds).toBeGreaterThanOrEqual(90);
    expect((await taskRow(task.id)).focus_time_seconds).toBe(ended.body.data.duration_seconds);

    const none = await ada.api.get('/focus-sessions/active');
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe('NOT_FOUND');
  });

  it('ends without a body too (the body is optional and may only be {})', async () => {
    const ada = await signUp(t);
    const task = await newTask(ada);
    const id = (await ada.api.post('/focus-sessions', { task_id: task.id })).body.data.id;
    const ended = await ada.api.post(`/focus-sessions/${id}/end`);
    expect(ended.status).toBe(200);
    expect(ended.body.data.id).toBe(id);
  });

  it('refuses what /focus/start refuses: a second open session (409, on any task), another user’s task (403), an unknown task (404); nothing changes', async () => {
    const ada = await signUp(t);
    const bob = await signUp(t);
    const open = await newTask(ada);
    const other = await newTask(ada);
    const done = await newTask(ada);
    await ada.api.patch(`/tasks/${done.id}`, { completed: true });
    await ada.api.post('/focus-sessions', { task_id: open.id });
    const bobs = await newTask(bob);
    await expectUnchanged('refused starts', async () => {
      const second = await ada.api.post('/focus-sessions', { task_id: other.id });
      expect([second.status, second.body.error.code]).toEqual([409, 'CONFLICT']);
      expect(second.body.error.message).toContain(open.id);
      const completed = await ada.api.post('/focus-sessions', { task_id: done.id });
      expect(completed.status).toBe(409);
    });
    await expectUnchanged('starts on someone else’s or nobody’s task', async () => {
      const foreign = await ada.api.post('/focus-sessions', { task_id: bobs.id });
      expect([foreign.status, foreign.body.error.code]).toEqual([403, 'FORBIDDEN']);
      const unknown = await ada.api.post('/focus-sessions', { task_id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d' });
      expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOT_FOUND']);
      const unknownField = await ada.api.post('/focus-sessions', { task_id: other.id, duration_seconds: 3600 });
      expect([unknownField.status, unknownField.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    });
  });

  it('ending: another user’s session is 403 and stays open, an ended one 409, an unknown one 404, a body other than {} 400; nothing changes', async () => {
    const ada = await signUp(t);
    const bob = await signUp(t);
    const task = await newTask(ada);
    const first = (await ada.api.post('/focus-sessions', { task_id: task.id })).body.data;
    await ada.api.post(`/focus-sessions/${first.id}/end`, {});
    const second = (await ada.api.post('/focus-sessions', { task_id: task.id })).body.data;
    await expectUnchanged('refused ends', async () => {
      const foreign = await bob.api.post(`/focus-sessions/${second.id}/end`, {});
      expect([foreign.status, foreign.body.error.code]).toEqual([403, 'FORBIDDEN']);
      expect(foreign.text).not.toContain(ada.id);
      const again = await ada.api.post(`/focus-sessions/${first.id}/end`, {});
      expect([again.status, again.body.error.code]).toEqual([409, 'CONFLICT']);
      const unknown = await ada.api.post('/focus-sessions/0193f1b0-3d4e-7f5a-8b6c-7d8e9f0a1b2c/end', {});
      expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOT_FOUND']);
      const withBody = await ada.api.post(`/focus-sessions/${second.id}/end`, { duration_seconds: 10 });
      expect([withBody.status, withBody.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    });
    expect((await ada.api.get('/focus-sessions/active')).body.data.id).toBe(second.id);
    // Bob has no open session of his own: Ada's is not his.
    expect((await bob.api.get('/focus-sessions/active')).status).toBe(404);
  });
});

describe('GET /focus-sessions and GET /tasks/{id}/focus-sessions', () => {
  it('list the caller’s sessions newest first, all or one task’s, paginated; never another user’s', async () => {
    const ada = await signUp(t);
    const bob = await signUp(t);
    const a = await newTask(ada);
    const b = await newTask(ada);
    const ids: string[] = [];
    for (const task of [a, b, a]) {
      const s = (await ada.api.post('/focus-sessions', { task_id: task.id })).body.data;
      await ada.api.post(`/focus-sessions/${s.id}/end`, {});
      ids.push(s.id);
    }
    const bobsTask = await newTask(bob);
    await bob.api.post('/focus-sessions', { task_id: bobsTask.id });

    const all = await ada.api.get('/focus-sessions');
    expect(all.status).toBe(200);
    expect(all.body.data.map((s: { id: string }) => s.id)).toEqual([...ids].reverse());
    expect(all.body.pagination).toEqual({ offset: 0, limit: 25, total: 3, has_more: false });
    const page = await ada.api.get('/focus-sessions', { query: { offset: 1, limit: 1 } });
    expect(page.body.data.map((s: { id: string }) => s.id)).toEqual([ids[1]]);
    expect(page.body.pagination).toEqual({ offset: 1, limit: 1, total: 3, has_more: true });

    const ofA = await ada.api.get(`/tasks/${a.id}/focus-sessions`);
    expect(ofA.status).toBe(200);
    expect(ofA.body.data.map((s: { id: string }) => s.id)).toEqual([ids[2], ids[0]]);
    expect(ofA.body.pagination.total).toBe(2);
  });

  it('another user’s task is 403, an unknown one 404, a bad page 400', async () => {
    const ada = await signUp(t);
    const bob = await signUp(t);
    const task = await newTask(ada);
    await ada.api.post('/focus-sessions', { task_id: task.id });
    const foreign = await bob.api.get(`/tasks/${task.id}/focus-sessions`);
    expect([foreign.status, foreign.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const unknown = await ada.api.get('/tasks/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d/focus-sessions');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const badPage = await ada.api.get('/focus-sessions', { query: { limit: 101 } });
    expect([badPage.status, badPage.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
  });
});
