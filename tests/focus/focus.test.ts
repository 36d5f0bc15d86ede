import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userActor } from '../../src/domain/actor.js';
import { endFocusSession, startFocusSession } from '../../src/domain/focus/focus-sessions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const actorOf = (user: TestUser) => userActor({ auth: { userId: user.id }, requestId: '3f1c2b7e-9a4d-4c1e-8b2f-6d5e4c3b2a10' });
const newTask = async (user: TestUser, body: Record<string, unknown> = {}) => (await user.api.post('/tasks', { title: 'Deep work', ...body })).body.data;
const taskRow = (id: string) => t.db.selectFrom('task_instances').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const sessionsOf = (user: TestUser) => t.db.selectFrom('focus_sessions').selectAll().where('user_id', '=', user.id).orderBy('created_at').execute();

/** A session of a chosen length, measured by the server's own code (start and end at chosen instants). */
async function focus(user: TestUser, taskId: string, seconds: number) {
  const start = new Date(Date.now() - seconds * 1000);
  await startFocusSession(t.db, { actor: actorOf(user), taskId, now: start });
  return endFocusSession(t.db, { actor: actorOf(user), taskId, now: new Date(start.getTime() + seconds * 1000) });
}

describe('startFocusSession', () => {
  it('opens a session at the server’s time', async () => {
    const ada = await signUp(t);
    const task = await newTask(ada);
    const before = Date.now();
    const res = await ada.api.post('/focus/start', { task_id: task.id });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ user_id: ada.id, task_id: task.id, ended_at: null, duration_seconds: null });
    expect(Date.parse(res.body.data.started_at)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('allows one open session per user: a second start is a 409 naming the open one, even in parallel', async () => {
    const bob = await signUp(t);
    const a = await newTask(bob);
    const b = await newTask(bob);
    const results = await Promise.all([bob.api.post('/focus/start', { task_id: a.id }), bob.api.post('/focus/start', { task_id: b.id })]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const open = (await sessionsOf(bob)).filter((s) => s.ended_at === null);
    expect(open).toHaveLength(1);
    const refused = results.find((r) => r.status === 409)!;
    expect(refused.body.error.message).toContain(open[0]!.task_id);
  });

  it('refuses a completed task (409 CONFLICT) and an archived one (409 ARCHIVED)', async () => {
    const cleo = await signUp(t);
    const done = await newTask(cleo);
    await cleo.api.patch(`/tasks/${done.id}`, { completed: true });
    const r1 = await cleo.api.post('/focus/start', { task_id: done.id });
    expect(r1.status).toBe(409);
    expect(r1.body.error.code).toBe('CONFLICT');
    const shelved = await newTask(cleo);
    await cleo.api.patch(`/tasks/${shelved.id}`, { archived: true, version: 1 });
    const r2 = await cleo.api.post('/focus/start', { task_id: shelved.id });
    expect(r2.status).toBe(409);
    expect(r2.body.error.code).toBe('ARCHIVED');
    expect(await sessionsOf(cleo)).toEqual([]);
  });

  it('answers 404 for a missing task and 403 for another user’s, opening nothing', async () => {
    const dan = await signUp(t);
    const eve = await signUp(t);
    const evesTask = await newTask(eve);
    expect((await dan.api.post('/focus/start', { task_id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d' })).status).toBe(404);
    const res = await dan.api.post('/focus/start', { task_id: evesTask.id });
    expect(res.status).toBe(403);
    expect(await sessionsOf(dan)).toEqual([]);
    expect(await sessionsOf(eve)).toEqual([]);
  });

  it('validates the body', async () => {
    const fay = await signUp(t);
    expect((await fay.api.post('/focus/start', { task_id: 'nope' })).status).toBe(400);
    expect((await fay.api.post('/focus/start', { task_id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', duration_seconds: 60 })).status).toBe(400);
  });
});

describe('endFocusSession', () => {
  it('closes the session, measures it and adds it to the task’s focus time', async () => {
    const gus = await signUp(t);
    const task = await newTask(gus);
    await gus.api.post('/focus/start', { task_id: task.id });
    const res = await gus.api.post('/focus/end', { task_id: task.id });
    expect(res.status).toBe(200);
    expect(res.body.data.ended_at).not.toBeNull();
    expect(res.body.data.duration_seconds).toBeGreaterThanOrEqual(0);
    const session = await focus(gus, task.id, 600);
    expect(session.duration_seconds).toBe(600);
    expect((await taskRow(task.id)).focus_time_seconds).toBe(600 + res.body.data.duration_seconds);
    // the task's version is untouched: focus time is no edit of its content
    expect((await taskRow(task.id)).version).toBe(1);
  });

  it('caps a session at 4 hours', async () => {
    const hal = await signUp(t);
    const task = await newTask(hal);
    expect((await focus(hal, task.id, 6 * 3600)).duration_seconds).toBe(14_400);
    expect((await taskRow(task.id)).focus_time_seconds).toBe(14_400);
  });

  it('answers 404 without an open session, 403 for another user’s task, and changes nothing', async () => {
    const ivy = await signUp(t);
    const jon = await signUp(t);
    const task = await newTask(ivy);
    const none = await ivy.api.post('/focus/end', { task_id: task.id });
    expect(none.status).toBe(404);
    expect(none.body.error.message).toBe('There is no open focus session on this task');
    await ivy.api.post('/focus/start', { task_id: task.id });
    const foreign = await jon.api.post('/focus/end', { task_id: task.id });
    expect(foreign.status).toBe(403);
    expect((await sessionsOf(ivy)).map((s) => s.ended_at)).toEqual([null]);
    expect((await taskRow(task.id)).focus_time_seconds).toBe(0);
  });
});

describe('focus completions (FR-045)', () => {
  it('counts a completion with focus of 50 % of the estimate, not 49 %', async () => {
    const kim = await signUp(t);
    const short = await newTask(kim, { estimated_duration: 100 });
    const enough = await newTask(kim, { estimated_duration: 100 });
    await focus(kim, short.id, 2940); // 49 % of 100 minutes
    await focus(kim, enough.id, 3000); // 50 %
    await kim.api.patch(`/tasks/${short.id}`, { completed: true });
    expect((await kim.api.get('/achievements/me')).body.data.stats.focus_completions).toBe(0);
    await kim.api.patch(`/tasks/${enough.id}`, { completed: true });
    expect((await kim.api.get('/achievements/me')).body.data.stats).toMatchObject({ focus_completions: 1, lifetime_tasks_completed: 2 });
  });

  it('adds up several sessions on one task', async () => {
    const lea = await signUp(t);
    const task = await newTask(lea, { estimated_duration: 30 });
    await focus(lea, task.id, 400);
    await focus(lea, task.id, 500);
    await lea.api.patch(`/tasks/${task.id}`, { completed: true });
    expect((await lea.api.get('/achievements/me')).body.data.stats.focus_completions).toBe(1);
  });
});
