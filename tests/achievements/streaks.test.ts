import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { completeTaskAt, plusDays } from './helpers.js';

// A streak is a run of consecutive UTC days with at least one completion; each task counts once.
// The day arithmetic and the nightly job are fast tests (tests/domain/achievements/streaks.test.ts);
// here the paths through the API.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const stored = (user: TestUser) =>
  t.db
    .selectFrom('user_achievement_states')
    .select(['lifetime_tasks_completed', 'current_streak', 'longest_streak', sql<string>`last_completion_date::text`.as('last_day')])
    .where('user_id', '=', user.id)
    .executeTakeFirstOrThrow();

describe('streaks', () => {
  it('a completion today through the API continues yesterday’s streak, visible in GET /achievements/me', async () => {
    const dan = await signUp(t);
    const task = await dan.api.post('/tasks', { title: 'Today' });
    const done = await dan.api.patch(`/tasks/${task.body.data.id}`, { completed: true });
    // "yesterday" is the day before the server's completion, whatever the time of day: runs are
    // computed from all completion days, so the order they are recorded in does not matter
    const today = new Date(done.body.data.completed_at);
    await completeTaskAt(t, dan, plusDays(today, -1));
    expect((await dan.api.get('/achievements/me')).body.data.stats).toMatchObject({ current_streak: 2, longest_streak: 2, lifetime_tasks_completed: 2 });
  });

  it('never counts a re-completed task twice', async () => {
    const fay = await signUp(t);
    const task = await fay.api.post('/tasks', { title: 'Toggle me' });
    const id = task.body.data.id;
    const first = await fay.api.patch(`/tasks/${id}`, { completed: true });
    const completedAt = new Date(first.body.data.completed_at);
    await fay.api.patch(`/tasks/${id}`, { completed: false });
    await fay.api.patch(`/tasks/${id}`, { completed: true });
    expect((await fay.api.get('/achievements/me')).body.data.stats.lifetime_tasks_completed).toBe(1);
    // even a completion event for it on a later day counts nothing
    await completeTaskAt(t, fay, plusDays(completedAt, 1), { taskId: id });
    expect(await stored(fay)).toMatchObject({ lifetime_tasks_completed: 1, current_streak: 1 });
  });

  it('never counts a recovered task again', async () => {
    const gus = await signUp(t);
    const task = await gus.api.post('/tasks', { title: 'Delete and recover me' });
    const id = task.body.data.id;
    await gus.api.patch(`/tasks/${id}`, { completed: true });
    const deleted = await gus.api.delete(`/tasks/${id}`);
    const recovered = await gus.api.post(`/tasks/recover/${deleted.body.data.tombstone_id}`);
    expect(recovered.status).toBe(200);
    expect((await gus.api.get('/achievements/me')).body.data.stats.lifetime_tasks_completed).toBe(1);
    const current = (await gus.api.get(`/tasks/${id}`)).body.data;
    if (current.completed) await gus.api.patch(`/tasks/${id}`, { completed: false });
    await gus.api.patch(`/tasks/${id}`, { completed: true });
    expect((await gus.api.get('/achievements/me')).body.data.stats.lifetime_tasks_completed).toBe(1);
  });
});
