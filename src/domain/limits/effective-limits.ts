import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import { accountGone } from '../../core/errors.js';
import { unlockedPerkTotals } from '../achievements/perks.js';

export type Tier = 'free' | 'pro';

/** Base limits per tier (SPEC §4). Achievement perks add to max_tasks, max_notes and daily credits. */
export const TIER_LIMITS = {
  free: { maxTasks: 50, maxSubtasksPerTask: 4, maxDescriptionLength: 1000, maxNotes: 10, maxRemindersPerTask: 5, dailyCredits: 0, monthlyCredits: 0, voice: false },
  pro: { maxTasks: 200, maxSubtasksPerTask: 10, maxDescriptionLength: 2000, maxNotes: 25, maxRemindersPerTask: 5, dailyCredits: 10, monthlyCredits: 100, voice: true },
} as const satisfies Record<Tier, Record<string, number | boolean>>;

export interface EffectiveLimits {
  tier: Tier;
  maxTasks: number;
  maxSubtasksPerTask: number;
  maxDescriptionLength: number;
  maxNotes: number;
  maxRemindersPerTask: number;
  /** Daily AI credits granted at 00:00 UTC (Pro only; perks add to it). */
  dailyCredits: number;
  monthlyCredits: number;
  voice: boolean;
}

export interface PerkBonuses {
  maxTasks: number;
  maxNotes: number;
  dailyCredits: number;
}

/** Sum of the perks of the user's unlocked achievements (issue #5): permanent, never revoked. */
export async function perkBonuses(db: Executor, userId: string): Promise<PerkBonuses> {
  return unlockedPerkTotals(db, userId);
}

export function limitsFor(tier: Tier, perks: PerkBonuses): EffectiveLimits {
  const base = TIER_LIMITS[tier];
  return {
    tier,
    ...base,
    maxTasks: base.maxTasks + perks.maxTasks,
    maxNotes: base.maxNotes + perks.maxNotes,
    // Daily credits are a Pro grant; a free user's streak perk waits until they upgrade.
    dailyCredits: tier === 'pro' ? base.dailyCredits + perks.dailyCredits : 0,
  };
}

const perk = (type: 'max_tasks' | 'max_notes' | 'daily_credits') => sql<number>`coalesce(sum(d.perk_value) filter (where d.perk_type = ${sql.lit(type)}), 0)::int`;
const tierAndPerks = compileOnce((v: { userId: string }) =>
  shapeBuilder
    .selectFrom('users as u')
    .leftJoin('user_achievements as a', 'a.user_id', 'u.id')
    .leftJoin('achievement_definitions as d', 'd.id', 'a.achievement_id')
    .select(['u.tier', perk('max_tasks').as('max_tasks'), perk('max_notes').as('max_notes'), perk('daily_credits').as('daily_credits')])
    .where('u.id', '=', v.userId)
    .groupBy('u.id'),
);

/**
 * The one place limits are computed (FR-046): the tier from the users row (never the token's claim,
 * which may be up to 15 minutes old) plus permanent perks.
 */
export async function effectiveLimits(db: Executor, userId: string): Promise<EffectiveLimits> {
  // One round trip for both: most writes check a limit first.
  const [row] = (await db.executeQuery(tierAndPerks({ userId }))).rows;
  if (!row) throw accountGone(); // its account was deleted meanwhile
  return limitsFor(row.tier, { maxTasks: row.max_tasks, maxNotes: row.max_notes, dailyCredits: row.daily_credits });
}
