import type { Executor } from '../../../db/index.js';
import type { Config } from '../../config.js';
import { expireCredits, grantCredits, grantRecorded } from '../credits/ledger.js';
import { perkBonuses } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import { addDays, startOfUtcDay, utcDayKey } from '../utc-calendar.js';
import { creditAllowance } from './present.js';

export type ProCreditSettings = Pick<Config, 'PRO_DAILY_CREDITS' | 'PRO_MONTHLY_CREDITS' | 'MAX_CREDIT_CARRYOVER'>;

/**
 * The subscription credits of a paid month (FR-039/FR-041), in the payment's transaction: unused
 * subscription credits above MAX_CREDIT_CARRYOVER expire, then PRO_MONTHLY_CREDITS are granted.
 * Keyed by the period (`periodRef`: the subscription and the period's start), so one period never
 * carries over or grants twice, whatever delivers its payment (the payment itself is applied once,
 * see applied_payments in handle-webhook.ts).
 */
export async function grantPeriodCredits(trx: Executor, { settings, userId, periodRef }: { settings: ProCreditSettings; userId: string; periodRef: string }): Promise<void> {
  // The period's grant marks it settled: an expiry that had nothing to expire leaves no entry, so
  // without this a second settlement would expire the period's own credits above the carry-over.
  await lockFor(trx, 'credits', userId);
  if (await grantRecorded(trx, { userId, kind: 'subscription', operationRef: `subscription_period:${periodRef}` })) return;
  await expireCredits(trx, {
    userId,
    kind: 'subscription',
    keep: settings.MAX_CREDIT_CARRYOVER,
    description: `Subscription credits above the carry-over of ${settings.MAX_CREDIT_CARRYOVER} expired`,
    operationRef: `subscription_carryover:${periodRef}`,
  });
  if (settings.PRO_MONTHLY_CREDITS > 0) {
    await grantCredits(trx, {
      userId,
      kind: 'subscription',
      amount: settings.PRO_MONTHLY_CREDITS,
      expiresAt: null,
      description: 'Monthly Pro credits',
      operationRef: `subscription_period:${periodRef}`,
    });
  }
}

/**
 * One user's daily credits for the UTC day of `now` (FR-038): what is left of earlier days' daily
 * credits expires, and a Pro user gets PRO_DAILY_CREDITS plus streak perks, spendable until the
 * next 00:00 UTC. Idempotent per user and day: the midnight job and an activation during the day
 * share the operation references. Returns the credits granted (0 when none or already granted).
 */
export async function settleDailyCredits(trx: Executor, { settings, userId, now }: { settings: ProCreditSettings; userId: string; now: Date }): Promise<number> {
  const day = startOfUtcDay(now);
  const key = utcDayKey(day);
  await expireCredits(trx, { userId, kind: 'daily', olderThan: day, description: 'Daily credits expired at 00:00 UTC', operationRef: `daily_expire:${key}` });
  const user = await trx.selectFrom('users').select('tier').where('id', '=', userId).executeTakeFirst();
  if (!user) return 0;
  const amount = creditAllowance(settings, user.tier, await perkBonuses(trx, userId)).daily;
  if (amount <= 0) return 0;
  const { granted } = await grantCredits(trx, {
    userId,
    kind: 'daily',
    amount,
    expiresAt: addDays(day, 1),
    description: 'Daily Pro credits',
    operationRef: `daily_grant:${key}`,
  });
  return granted ? amount : 0;
}
