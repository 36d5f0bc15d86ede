import type { Database } from '../../../db/index.js';
import type { SubscriptionRow } from '../../../db/schema/index.js';
import { AppError } from '../../http/errors.js';
import type { Logger } from '../../http/logging.js';
import type { CheckoutClient } from '../../integrations/checkout.js';
import { addHours } from '../utc-calendar.js';
import type { ProCreditSettings } from './credits.js';
import { lockSubscription } from './queries.js';
import { expireSubscription, startGrace } from './state-machine.js';
import { PRO_PLAN, providerKey, type CheckoutSettings } from './start-checkout.js';

/** A past_due subscription's card is charged again this long after the previous attempt. */
export const RETRY_AFTER_HOURS = 24;

export interface SubscriptionCheckResult {
  expired: number;
  charged: number;
  /** Renewals that could not be attempted (no stored card) and went straight to grace. */
  graceWithoutCard: number;
  /** Charges Checkout.com could not take right now; tried again next hour. */
  deferred: number;
}

const JOB_ACTOR = { source: 'system' as const, requestId: null };

/**
 * The hourly `subscription_check` (FR-049/FR-050), at `now`:
 * 1. grace periods and cancelled periods that have ended expire (tier → free);
 * 2. renewals: an active subscription whose period has ended, and a past_due one 24 h after its
 *    last attempt, has its stored card charged (`POST /payments`). The charge's outcome is applied
 *    only by its webhook (`payment_captured` / `payment_declined`), never here, so it counts once.
 * Every change re-checks its condition under the subscription's lock, so overlapping runs (or a
 * webhook at the same moment) are harmless, and running it twice changes nothing more.
 */
export async function checkSubscriptions(db: Database, checkout: CheckoutClient, settings: CheckoutSettings & ProCreditSettings, log: Logger, now: Date): Promise<SubscriptionCheckResult> {
  const result: SubscriptionCheckResult = { expired: 0, charged: 0, graceWithoutCard: 0, deferred: 0 };

  const ending = await db
    .selectFrom('subscriptions')
    .select('user_id')
    .where((eb) => eb.or([eb.and([eb('status', '=', 'grace'), eb('grace_period_end', '<=', now)]), eb.and([eb('status', '=', 'cancelled'), eb('access_until', '<=', now)])]))
    .execute();
  for (const { user_id } of ending) {
    const done = await db.transaction().execute(async (trx) => {
      const sub = await lockSubscription(trx, user_id);
      const due = sub && ((sub.status === 'grace' && sub.grace_period_end! <= now) || (sub.status === 'cancelled' && sub.access_until! <= now));
      if (!due) return false;
      await expireSubscription(trx, sub, JOB_ACTOR);
      return true;
    });
    if (done) result.expired++;
  }

  const retryBefore = addHours(now, -RETRY_AFTER_HOURS);
  const renewing = await db
    .selectFrom('subscriptions')
    .select('user_id')
    .where('current_period_end', '<=', now)
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'active'), eb.or([eb('last_charge_attempt_at', 'is', null), eb('last_charge_attempt_at', '<', eb.ref('current_period_end'))])]),
        eb.and([eb('status', '=', 'past_due'), eb.or([eb('last_charge_attempt_at', 'is', null), eb('last_charge_attempt_at', '<=', retryBefore)])]),
      ]),
    )
    .execute();
  for (const { user_id } of renewing) {
    // Claim the attempt first, so an overlapping run does not charge it too.
    const claimed = await db.transaction().execute(async (trx) => {
      const sub = await lockSubscription(trx, user_id);
      if (!sub || sub.current_period_end > now) return null;
      const due =
        (sub.status === 'active' && (!sub.last_charge_attempt_at || sub.last_charge_attempt_at < sub.current_period_end)) ||
        (sub.status === 'past_due' && (!sub.last_charge_attempt_at || sub.last_charge_attempt_at <= retryBefore));
      if (!due) return null;
      if (!sub.checkout_source_id) {
        // Nothing to charge: no retries can succeed, so the user gets the grace period to check out again.
        await startGrace(trx, sub, now, sub.failed_payment_count, 'no stored card', JOB_ACTOR);
        result.graceWithoutCard++;
        return null;
      }
      await trx.updateTable('subscriptions').set({ last_charge_attempt_at: now, updated_at: new Date() }).where('id', '=', sub.id).execute();
      return { sub, previousAttempt: sub.last_charge_attempt_at };
    });
    if (!claimed) continue;
    try {
      await chargeRenewal(checkout, settings, claimed.sub);
      result.charged++;
    } catch (err) {
      // Checkout.com is down or refused the call: give the claim back so the next hour tries again.
      await db
        .updateTable('subscriptions')
        .set({ last_charge_attempt_at: claimed.previousAttempt, updated_at: new Date() })
        .where('id', '=', claimed.sub.id)
        .where('last_charge_attempt_at', '=', now)
        .execute();
      result.deferred++;
      const level = err instanceof AppError ? 'warn' : 'error';
      log[level]({ err, job: 'subscription_check', subscription_id: claimed.sub.id }, 'renewal charge not sent; retried next hour');
    }
  }
  return result;
}

/** One renewal attempt; the attempt number is in the idempotency key, so a repeated attempt never charges twice. */
async function chargeRenewal(checkout: CheckoutClient, settings: CheckoutSettings, sub: SubscriptionRow): Promise<void> {
  const attempt = sub.failed_payment_count + 1;
  await checkout.chargeStoredSource(
    {
      sourceId: sub.checkout_source_id!,
      customerId: sub.checkout_customer_id,
      amountMinor: settings.PRO_PRICE_MINOR,
      currency: settings.PRO_PRICE_CURRENCY,
      reference: `pro-${sub.user_id}`,
      description: 'Perpetua Flow Pro, one month (renewal)',
      paymentType: 'Recurring',
      metadata: { user_id: sub.user_id, plan: PRO_PLAN, subscription_id: sub.id },
    },
    providerKey('renewal', sub.id, sub.current_period_end.toISOString(), String(attempt)),
  );
}
