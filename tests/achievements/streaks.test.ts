import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streakCalculate } from '../../jobs/tasks/streak-calculate.js';
import { getMyAchievements } from '../../src/domain/achievements/get-my-achievements.js';
import { currentStreak } from '../../src/domain/achievements/streaks.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { completeTaskAt, daysAgo, plusDays } from './helpers.js';

// A streak is a run of consecutive UTC days with at least one completion; each task counts once.

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
const nightly = (at: Date) => streakCalculate({ db: t.db }, { now: at.toISOString() });
const stats = async (user: TestUser, now: Date) => (await getMyAchievements(t.db, { settings: t.config, userId: user.id, now })).stats;

describe('streaks', () => {
  it('continues across UTC midnight: 23:59:59 and 00:00:01 are two days', async () => {
    const ada = await signUp(t);
    const day = daysAgo(10, new Date());
    await completeTaskAt(t, ada, new Date(day.getTime() - 1000));
    await completeTaskAt(t, ada, new Date(day.getTime() + 1000));
    expect(await stored(ada)).toMatchObject({ current_streak: 2, longest_streak: 2, last_day: day.toISOString().slice(0, 10) });
    expect(await currentStreak(t.db, ada.id, plusDays(day, 1))).toBe(2); // still alive the next day
    expect(await currentStreak(t.db, ada.id, plusDays(day, 2))).toBe(0); // broken after a day without completion
  });

  it('restarts after a gap but keeps the longest run', async () => {
    const bob = await signUp(t);
    const d = daysAgo(20, new Date());
    for (const offset of [0, 1, 2, 4]) await completeTaskAt(t, bob, plusDays(d, offset));
    expect(await stored(bob)).toMatchObject({ current_streak: 1, longest_streak: 3, lifetime_tasks_completed: 4 });
    expect(await stats(bob, plusDays(d, 4))).toMatchObject({ current_streak: 1, longest_streak: 3 });
  });

  it('counts two completions on one day as one day of streak and two tasks', async () => {
    const cleo = await signUp(t);
    const d = daysAgo(5, new Date());
    await completeTaskAt(t, cleo, new Date(d.getTime() + 3_600_000));
    await completeTaskAt(t, cleo, new Date(d.getTime() + 7_200_000));
    expect(await stored(cleo)).toMatchObject({ current_streak: 1, longest_streak: 1, lifetime_tasks_completed: 2 });
  });

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

  it('the nightly job only breaks streaks and never adds a day: no double counting however often it runs', async () => {
    const eve = await signUp(t);
    const d1 = daysAgo(30, new Date());
    await completeTaskAt(t, eve, plusDays(d1, 0));
    await completeTaskAt(t, eve, plusDays(d1, 1));
    // midnight after day 2: the streak is alive (the last completion was yesterday)
    await nightly(plusDays(d1, 2));
    await nightly(plusDays(d1, 2));
    expect(await stored(eve)).toMatchObject({ current_streak: 2, longest_streak: 2 });
    await completeTaskAt(t, eve, new Date(plusDays(d1, 2).getTime() + 60_000));
    await nightly(plusDays(d1, 3));
    expect(await stored(eve)).toMatchObject({ current_streak: 3, longest_streak: 3 });
    // two midnights without a completion: broken, longest kept
    await nightly(plusDays(d1, 5));
    expect(await stored(eve)).toMatchObject({ current_streak: 0, longest_streak: 3 });
    await nightly(plusDays(d1, 6));
    expect(await stored(eve)).toMatchObject({ current_streak: 0, longest_streak: 3, lifetime_tasks_completed: 3 });
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
