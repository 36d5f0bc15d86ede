import { sql } from 'kysely';
import type { Database, Executor } from '../../../db/index.js';
import { compileOnce } from '../../../db/query-shapes.js';
import { addDays, daysBetween, startOfUtcDay, utcDayKey } from '../utc-calendar.js';

// A streak is a run of consecutive UTC days with at least one counted completion (FR-043). The days
// come from achievement_task_completions, where each task counts once, so re-completing or
// recovering a task never adds a day twice. The stored current_streak is the run ending on
// last_completion_date; whether it is still alive depends on today, so readers ask currentStreak().

export interface StreakRuns {
  /** The run ending on the newest completion day. */
  current: number;
  /** The longest run ever. */
  longest: number;
  /** The newest completion day, `YYYY-MM-DD`. */
  lastDay: string | null;
}

const runsOfDays = compileOnce(
  (v: { userId: string }) => sql<{ last: string; length: number }>`
    with days as (
      select distinct completed_day as day from achievement_task_completions where user_id = ${v.userId}
    ), runs as (
      select day, day - (row_number() over (order by day))::int as grp from days
    )
    select max(day)::text as last, count(*)::int as length from runs group by grp order by last desc
  `,
);

/** The user's runs of consecutive days (gaps and islands over the distinct completion days). */
export async function streakRuns(db: Executor, userId: string): Promise<StreakRuns> {
  const { rows } = await db.executeQuery(runsOfDays({ userId }));
  if (rows.length === 0) return { current: 0, longest: 0, lastDay: null };
  return { current: Number(rows[0]!.length), longest: Math.max(...rows.map((r) => Number(r.length))), lastDay: rows[0]!.last };
}

/** A stored streak is alive while its last day is today or yesterday (UTC). */
export const liveStreak = (stored: number, lastDay: string | null, now: Date): number =>
  lastDay !== null && daysBetween(lastDay, utcDayKey(now)) <= 1 ? stored : 0;

/** The user's current streak in days: 0 when the newest completion is older than yesterday. */
export async function currentStreak(db: Executor, userId: string, now = new Date()): Promise<number> {
  const row = await db
    .selectFrom('user_achievement_states')
    .select(['current_streak', sql<string | null>`last_completion_date::text`.as('last_day')])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row ? liveStreak(row.current_streak, row.last_day, now) : 0;
}

/**
 * The midnight `streak_calculate` job: streaks whose last completion is before yesterday (UTC, as
 * of `now`) are broken and become 0. It never adds days — completions do that — so it cannot
 * double count, and running it again changes nothing.
 */
export async function resetBrokenStreaks(db: Database, now: Date): Promise<number> {
  const yesterday = utcDayKey(addDays(startOfUtcDay(now), -1));
  const res = await db
    .updateTable('user_achievement_states')
    .set({ current_streak: 0, updated_at: new Date() })
    .where('current_streak', '>', 0)
    .where('last_completion_date', '<', yesterday)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
