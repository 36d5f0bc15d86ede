import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import type { Database } from '../../../db/index.js';
import { streakCalculate } from '../../../jobs/tasks/streak-calculate.js';
import { getMyAchievements } from '../../../src/domain/achievements/get-my-achievements.js';
import { currentStreak } from '../../../src/domain/achievements/streaks.js';
import { completeTaskAt, daysAgo, plusDays } from '../../achievements/helpers.js';
import { domainTest as test, newUser } from '../../helpers/domain-tx.js';

// A streak is a run of consecutive UTC days with at least one completion; each task counts once
// (FR-043). Completions are placed on chosen days through the domain's completion event.
// tests/achievements/streaks.test.ts keeps the paths through the API (toggles, recovery, GET /achievements/me).

const stored = (db: Database, userId: string) =>
  db
    .selectFrom('user_achievement_states')
    .select(['lifetime_tasks_completed', 'current_streak', 'longest_streak', sql<string>`last_completion_date::text`.as('last_day')])
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
const nightly = (db: Database, at: Date) => streakCalculate({ db }, { now: at.toISOString() });

describe('streaks', () => {
  test('continue across UTC midnight: 23:59:59 and 00:00:01 are two days', async ({ db }) => {
    const ada = await newUser(db);
    const day = daysAgo(10, new Date());
    await completeTaskAt({ db }, ada, new Date(day.getTime() - 1000));
    await completeTaskAt({ db }, ada, new Date(day.getTime() + 1000));
    expect(await stored(db, ada.id)).toMatchObject({ current_streak: 2, longest_streak: 2, last_day: day.toISOString().slice(0, 10) });
    expect(await currentStreak(db, ada.id, plusDays(day, 1))).toBe(2); // still alive the next day
    expect(await currentStreak(db, ada.id, plusDays(day, 2))).toBe(0); // broken after a day without completion
  });

  test('restart after a gap but keep the longest run', async ({ db }) => {
    const bob = await newUser(db);
    const d = daysAgo(20, new Date());
    for (const offset of [0, 1, 2, 4]) await completeTaskAt({ db }, bob, plusDays(d, offset));
    expect(await stored(db, bob.id)).toMatchObject({ current_streak: 1, longest_streak: 3, lifetime_tasks_completed: 4 });
    expect((await getMyAchievements(db, { settings: { PRO_DAILY_CREDITS: 10, PRO_MONTHLY_CREDITS: 100 }, userId: bob.id, now: plusDays(d, 4) })).stats).toMatchObject({ current_streak: 1, longest_streak: 3 });
  });

  test('count two completions on one day as one day of streak and two tasks', async ({ db }) => {
    const cleo = await newUser(db);
    const d = daysAgo(5, new Date());
    await completeTaskAt({ db }, cleo, new Date(d.getTime() + 3_600_000));
    await completeTaskAt({ db }, cleo, new Date(d.getTime() + 7_200_000));
    expect(await stored(db, cleo.id)).toMatchObject({ current_streak: 1, longest_streak: 1, lifetime_tasks_completed: 2 });
  });

  test('do not depend on the order completions are recorded in', async ({ db }) => {
    const dan = await newUser(db);
    const d = daysAgo(8, new Date());
    for (const offset of [2, 0, 1]) await completeTaskAt({ db }, dan, plusDays(d, offset));
    expect(await stored(db, dan.id)).toMatchObject({ current_streak: 3, longest_streak: 3 });
  });

  test('the nightly job only breaks streaks and never adds a day: no double counting however often it runs', async ({ db }) => {
    const eve = await newUser(db);
    const d1 = daysAgo(30, new Date());
    await completeTaskAt({ db }, eve, plusDays(d1, 0));
    await completeTaskAt({ db }, eve, plusDays(d1, 1));
    // midnight after day 2: the streak is alive (the last completion was yesterday)
    await nightly(db, plusDays(d1, 2));
    await nightly(db, plusDays(d1, 2));
    expect(await stored(db, eve.id)).toMatchObject({ current_streak: 2, longest_streak: 2 });
    await completeTaskAt({ db }, eve, new Date(plusDays(d1, 2).getTime() + 60_000));
    await nightly(db, plusDays(d1, 3));
    expect(await stored(db, eve.id)).toMatchObject({ current_streak: 3, longest_streak: 3 });
    // two midnights without a completion: broken, longest kept
    await nightly(db, plusDays(d1, 5));
    expect(await stored(db, eve.id)).toMatchObject({ current_streak: 0, longest_streak: 3 });
    await nightly(db, plusDays(d1, 6));
    expect(await stored(db, eve.id)).toMatchObject({ current_streak: 0, longest_streak: 3, lifetime_tasks_completed: 3 });
  });

  test('a completion event for an already counted task on a later day counts nothing', async ({ db }) => {
    const fay = await newUser(db);
    const d = daysAgo(3, new Date());
    await completeTaskAt({ db }, fay, d);
    const [task] = await db.selectFrom('task_instances').select('id').where('user_id', '=', fay.id).execute();
    await completeTaskAt({ db }, fay, plusDays(d, 1), { taskId: task!.id });
    expect(await stored(db, fay.id)).toMatchObject({ lifetime_tasks_completed: 1, current_streak: 1 });
  });
});
