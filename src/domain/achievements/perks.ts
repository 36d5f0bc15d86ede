import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';

export interface PerkTotals {
  maxTasks: number;
  maxNotes: number;
  dailyCredits: number;
}

/** The sum of the perks of the user's unlocked achievements, by type (FR-046). Unlocks are permanent, so perks are too. */
export async function unlockedPerkTotals(db: Executor, userId: string): Promise<PerkTotals> {
  const rows = await db
    .selectFrom('user_achievements as u')
    .innerJoin('achievement_definitions as d', 'd.id', 'u.achievement_id')
    .select(['d.perk_type', sql<number>`coalesce(sum(d.perk_value), 0)::int`.as('total')])
    .where('u.user_id', '=', userId)
    .where('d.perk_type', 'is not', null)
    .groupBy('d.perk_type')
    .execute();
  const totals: PerkTotals = { maxTasks: 0, maxNotes: 0, dailyCredits: 0 };
  for (const r of rows) {
    if (r.perk_type === 'max_tasks') totals.maxTasks = Number(r.total);
    else if (r.perk_type === 'max_notes') totals.maxNotes = Number(r.total);
    else if (r.perk_type === 'daily_credits') totals.dailyCredits = Number(r.total);
  }
  return totals;
}
