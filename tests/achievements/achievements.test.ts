import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dailyCreditGrant } from '../../jobs/tasks/daily-credit-grant.js';
import { creditBalance } from '../../src/domain/credits/ledger.js';
import { effectiveLimits } from '../../src/domain/limits/effective-limits.js';
import { addDays, startOfUtcDay } from '../../src/domain/utc-calendar.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { completeTaskAt, convertNote, daysAgo, plusDays } from './helpers.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const me = async (user: TestUser) => (await user.api.get('/achievements/me')).body.data;
const ids = (unlocks: { achievement_id: string }[]) => unlocks.map((u) => u.achievement_id);

async function completeViaApi(user: TestUser, body: Record<string, unknown> = {}) {
  const task = await user.api.post('/tasks', { title: 'Write the report', ...body });
  const res = await user.api.patch(`/tasks/${task.body.data.id}`, { completed: true });
  expect(res.status).toBe(200);
  return res;
}

describe('listAchievements', () => {
  it('lists the seven definitions in catalogue order, the same for everyone', async () => {
    const ada = await signUp(t);
    const res = await ada.api.get('/achievements');
    expect(res.status).toBe(200);
    expect(res.body.data.map((d: { id: string }) => d.id)).toEqual(['tasks_5', 'tasks_25', 'tasks_100', 'streak_7', 'streak_30', 'focus_10', 'notes_10']);
    expect(res.body.data[3]).toEqual({
      id: 'streak_7',
      name: 'Week Warrior',
      description: 'Complete at least one task a day for 7 days in a row.',
      message: 'Complete at least one task a day for 7 days in a row.',
      category: 'streaks',
      threshold: 7,
      perk_type: 'daily_credits',
      perk_value: 2,
    });
    const page = await ada.api.get('/achievements', { query: { offset: 5, limit: 5 } });
    expect(page.body.data.map((d: { id: string }) => d.id)).toEqual(['focus_10', 'notes_10']);
    expect(page.body.pagination).toEqual({ offset: 5, limit: 5, total: 7, has_more: false });
  });

  it('needs a token and valid paging', async () => {
    expect((await t.api.get('/achievements')).status).toBe(401);
    const ada = await signUp(t);
    expect((await ada.api.get('/achievements', { query: { limit: 101 } })).status).toBe(400);
  });
});

describe('getMyAchievements', () => {
  it('starts at zero with every definition in progress and the free limits', async () => {
    const ada = await signUp(t);
    expect(await me(ada)).toEqual({
      stats: { lifetime_tasks_completed: 0, current_streak: 0, longest_streak: 0, focus_completions: 0, notes_converted: 0 },
      unlocked: [],
      progress: expect.arrayContaining([{ id: 'tasks_5', name: 'Task Starter', current: 0, threshold: 5, unlocked: false }]),
      effective_limits: { max_tasks: 50, max_notes: 10, daily_ai_credits: 0 },
    });
    expect((await me(ada)).progress).toHaveLength(7);
  });
});

describe('getUserAchievements (GET /users/{id}/achievements, the frontend’s hook)', () => {
  it('is /achievements/me for the caller’s own id', async () => {
    const ada = await signUp(t);
    await completeViaApi(ada);
    const res = await ada.api.get(`/users/${ada.id}/achievements`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual((await ada.api.get('/achievements/me')).body);
    expect(res.body.data.stats.lifetime_tasks_completed).toBe(1);
  });

  it('refuses another user’s id and a nobody’s id with 403, without their data; a malformed id is 400', async () => {
    const ada = await signUp(t);
    const bob = await signUp(t);
    await completeViaApi(bob);
    for (const id of [bob.id, randomUUID()]) {
      const res = await ada.api.get(`/users/${id}/achievements`);
      expect([res.status, res.body.error.code]).toEqual([403, 'FORBIDDEN']);
      expect(res.body).not.toHaveProperty('data');
    }
    const bad = await ada.api.get('/users/me/achievements');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
  });
});

describe('tasks_5, tasks_25, tasks_100', () => {
  it('unlocks tasks_5 with the 5th completion, not before, and reports it in the response that caused it', async () => {
    const ada = await signUp(t);
    for (let i = 0; i < 4; i++) expect((await completeViaApi(ada)).body.unlocked_achievements).toBeUndefined();
    expect((await me(ada)).unlocked).toEqual([]);
    const fifth = await completeViaApi(ada);
    // US9-AS4: the seed's {id, name, description, perk} beside the frontend's {achievement_id, achievement_name, perk}.
    expect(fifth.body.unlocked_achievements).toEqual([
      { id: 'tasks_5', name: 'Task Starter', description: 'Complete 5 tasks.', achievement_id: 'tasks_5', achievement_name: 'Task Starter', perk: { type: 'max_tasks', value: 15 } },
    ]);

    const state = await me(ada);
    expect(state.unlocked).toEqual(['tasks_5']);
    expect(state.stats.lifetime_tasks_completed).toBe(5);
    expect(state.effective_limits.max_tasks).toBe(65);
    expect((await ada.api.get('/subscription')).body.data.features.max_tasks).toBe(65);
    expect((await effectiveLimits(t.db, ada.id)).maxTasks).toBe(65);

    const notifications = await ada.api.get('/notifications');
    expect(notifications.body.data).toEqual([expect.objectContaining({ type: 'achievement', title: 'Achievement unlocked: Task Starter', action_url: '/achievements' })]);
    expect(notifications.body.data[0].body).toBe('You completed 5 tasks. You can now keep 15 more active tasks.');
    const activity = await ada.api.get('/activity', { query: { entity_type: 'achievement' } });
    expect(activity.body.data).toEqual([expect.objectContaining({ action: 'achievement_unlocked', entity_id: ada.id, extra_data: expect.objectContaining({ achievement_id: 'tasks_5' }) })]);
    // the 6th completion unlocks nothing again
    expect((await completeViaApi(ada)).body.unlocked_achievements).toBeUndefined();
  });

  it('reports an unlock by force-complete inside data, with the current streak', async () => {
    const bob = await signUp(t);
    // four completions well before today, so the streak the API reports is 1 whatever the time of day
    const earlier = daysAgo(10, new Date());
    for (let i = 0; i < 4; i++) await completeTaskAt(t, bob, earlier);
    const task = await bob.api.post('/tasks', { title: 'The fifth' });
    const res = await bob.api.post(`/tasks/${task.body.data.id}/force-complete`, { version: 1 });
    expect(res.status).toBe(200);
    expect(ids(res.body.data.unlocked_achievements)).toEqual(['tasks_5']);
    expect(res.body.data.streak).toBe(1);
  });

  it('unlocks tasks_25 at 25 and tasks_100 at 100, adding up the task perks', async () => {
    const cleo = await signUp(t);
    const unlocked: string[] = [];
    for (let i = 1; i <= 100; i++) {
      const got = ids(await completeTaskAt(t, cleo, new Date()));
      if (i === 24 || i === 99) expect(got).toEqual([]);
      unlocked.push(...got);
      if (i === 25) expect(unlocked).toEqual(['tasks_5', 'tasks_25']);
    }
    expect(unlocked).toEqual(['tasks_5', 'tasks_25', 'tasks_100']);
    expect((await me(cleo)).effective_limits.max_tasks).toBe(50 + 15 + 25 + 50);
  });
});

describe('streak_7 and streak_30', () => {
  it('unlocks streak_7 on the 7th consecutive day and streak_30 on the 30th; the perk adds to the daily grant of a Pro user only', async () => {
    const dan = await signUp(t, { tier: 'pro' });
    const free = await signUp(t);
    const now = new Date();
    const start = daysAgo(40, now);
    for (let day = 0; day < 30; day++) {
      const got = ids(await completeTaskAt(t, dan, plusDays(start, day)));
      const freeGot = ids(await completeTaskAt(t, free, plusDays(start, day)));
      if (day === 5) expect(got).toEqual([]);
      if (day === 6) expect(got).toEqual(['streak_7']);
      if (day === 28) expect(got).toEqual([]);
      if (day === 29) expect(got).toEqual(['streak_30']);
      if (day === 29) expect(freeGot).toEqual(['streak_30']);
    }
    const state = await me(dan);
    expect(state.stats).toMatchObject({ longest_streak: 30, current_streak: 0 }); // the run ended 11 days ago
    expect(state.unlocked).toEqual(expect.arrayContaining(['streak_7', 'streak_30']));
    expect(state.effective_limits.daily_ai_credits).toBe(10 + 2 + 5);
    expect((await me(free)).effective_limits.daily_ai_credits).toBe(0);

    // the coming midnight's grant: spendable for a day after it, so no real midnight can expire it during the test
    await dailyCreditGrant({ db: t.db, config: t.config }, { now: addDays(startOfUtcDay(now), 1).toISOString() });
    expect((await creditBalance(t.db, dan.id)).daily).toBe(17);
    expect((await creditBalance(t.db, free.id)).daily).toBe(0);
  });
});

describe('focus_10', () => {
  it('counts completions with focus of at least half the estimate, and unlocks at the 10th', async () => {
    const eve = await signUp(t);
    // without enough focus, or without an estimate, a completion is no focus completion
    await completeTaskAt(t, eve, new Date(), { estimatedMinutes: 60, focusSeconds: 1799 });
    await completeTaskAt(t, eve, new Date(), { focusSeconds: 5000 });
    for (let i = 1; i <= 10; i++) {
      const got = ids(await completeTaskAt(t, eve, new Date(), { estimatedMinutes: 60, focusSeconds: 1800 }));
      if (i === 9) expect(got).not.toContain('focus_10');
      if (i === 10) expect(got).toContain('focus_10');
    }
    const state = await me(eve);
    expect(state.stats.focus_completions).toBe(10);
    expect(state.effective_limits.max_notes).toBe(15);
  });
});

describe('notes_10', () => {
  it('counts the first conversion of each note once and unlocks at the 10th note', async () => {
    const fay = await signUp(t);
    const notes = Array.from({ length: 10 }, () => randomUUID());
    for (let i = 0; i < 9; i++) expect(await convertNote(t, fay, notes[i]!)).toEqual([]);
    expect(await convertNote(t, fay, notes[0]!)).toEqual([]); // again: no second count
    expect((await me(fay)).stats.notes_converted).toBe(9);
    expect(ids(await convertNote(t, fay, notes[9]!))).toEqual(['notes_10']);
    expect((await me(fay)).effective_limits.max_notes).toBe(15);
  });

  it('adds both note perks together', async () => {
    const gus = await signUp(t, { tier: 'pro' });
    for (let i = 0; i < 10; i++) await convertNote(t, gus, randomUUID());
    for (let i = 0; i < 10; i++) await completeTaskAt(t, gus, new Date(), { estimatedMinutes: 10, focusSeconds: 600 });
    expect((await me(gus)).effective_limits.max_notes).toBe(25 + 5 + 5);
    expect((await gus.api.get('/subscription')).body.data.features.max_notes).toBe(35);
  });
});
