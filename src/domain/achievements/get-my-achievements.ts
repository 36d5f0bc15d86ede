import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { accountGone } from '../../core/errors.js';
import { limitsFor, perkBonuses } from '../limits/effective-limits.js';
import { creditAllowance, type CreditSettings } from '../subscriptions/present.js';
import { allDefinitions } from './definitions.js';
import { liveStreak } from './streaks.js';

type UserAchievements = components['schemas']['UserAchievements'];

/** `GET /achievements/me`: the counters, the unlocked ids and progress in catalogue order, and the effective limits. */
export async function getMyAchievements(db: Executor, { settings, userId, now = new Date() }: { settings: CreditSettings; userId: string; now?: Date }): Promise<UserAchievements> {
  const [user, state, unlockedRows, definitions, perks] = await Promise.all([
    db.selectFrom('users').select('tier').where('id', '=', userId).executeTakeFirst(),
    db
      .selectFrom('user_achievement_states')
      .select(['lifetime_tasks_completed', 'current_streak', 'longest_streak', 'focus_completions', 'notes_converted', sql<string | null>`last_completion_date::text`.as('last_day')])
      .where('user_id', '=', userId)
      .executeTakeFirst(),
    db.selectFrom('user_achievements').select('achievement_id').where('user_id', '=', userId).execute(),
    allDefinitions(db),
    perkBonuses(db, userId),
  ]);
  if (!user) throw accountGone(); // its account was deleted meanwhile
  const stats = {
    lifetime_tasks_completed: state?.lifetime_tasks_completed ?? 0,
    current_streak: state ? liveStreak(state.current_streak, state.last_day, now) : 0,
    longest_streak: state?.longest_streak ?? 0,
    focus_completions: state?.focus_completions ?? 0,
    notes_converted: state?.notes_converted ?? 0,
  };
  const counterOf = { tasks: stats.lifetime_tasks_completed, streaks: stats.longest_streak, focus: stats.focus_completions, notes: stats.notes_converted };
  const unlocked = new Set(unlockedRows.map((r) => r.achievement_id));
  const limits = limitsFor(user.tier, perks);
  return {
    stats,
    unlocked: definitions.filter((d) => unlocked.has(d.id)).map((d) => d.id),
    progress: definitions.map((d) => ({ id: d.id, name: d.name, current: counterOf[d.category], threshold: d.threshold, unlocked: unlocked.has(d.id) })),
    effective_limits: { max_tasks: limits.maxTasks, max_notes: limits.maxNotes, daily_ai_credits: creditAllowance(settings, user.tier, perks).daily },
  };
}
