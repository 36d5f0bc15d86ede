import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { SubscriptionRow } from '../../../db/schema/index.js';
import type { Config } from '../../config.js';
import { accountGone } from '../../core/errors.js';
import { limitsFor, perkBonuses, type PerkBonuses, type Tier } from '../limits/effective-limits.js';
import { iso, isoOrNull } from '../time.js';

type SubscriptionResponse = components['schemas']['SubscriptionResponse'];
type SubscriptionFeatures = components['schemas']['SubscriptionFeatures'];

export type CreditSettings = Pick<Config, 'PRO_DAILY_CREDITS' | 'PRO_MONTHLY_CREDITS'>;

/**
 * The AI credits a tier is granted: daily (PRO_DAILY_CREDITS plus streak perks, Pro only; a free
 * user's perk waits until they upgrade) and monthly (PRO_MONTHLY_CREDITS per paid Pro month).
 */
export const creditAllowance = (settings: CreditSettings, tier: Tier, perks: PerkBonuses) => ({
  daily: tier === 'pro' ? settings.PRO_DAILY_CREDITS + perks.dailyCredits : 0,
  monthly: tier === 'pro' ? settings.PRO_MONTHLY_CREDITS : 0,
});

/** The current tier's features with the perks of unlocked achievements included. */
export async function tierFeatures(db: Executor, settings: CreditSettings, userId: string): Promise<{ tier: Tier; features: SubscriptionFeatures }> {
  const user = await db.selectFrom('users').select('tier').where('id', '=', userId).executeTakeFirst();
  if (!user) throw accountGone(); // its account was deleted meanwhile
  const perks = await perkBonuses(db, userId);
  const limits = limitsFor(user.tier, perks);
  const credits = creditAllowance(settings, user.tier, perks);
  return {
    tier: user.tier,
    features: {
      max_tasks: limits.maxTasks,
      max_notes: limits.maxNotes,
      max_subtasks: limits.maxSubtasksPerTask,
      max_description_length: limits.maxDescriptionLength,
      voice_notes: limits.voice,
      daily_credits: credits.daily,
      monthly_credits: credits.monthly,
    },
  };
}

export const presentSubscription = (tier: Tier, row: SubscriptionRow | undefined, features: SubscriptionFeatures): SubscriptionResponse => ({
  tier,
  status: row?.status ?? null,
  current_period_end: isoOrNull(row?.current_period_end),
  cancel_at_period_end: row?.status === 'cancelled',
  grace_period_end: row?.status === 'grace' && row.grace_period_end ? iso(row.grace_period_end) : null,
  features,
});
