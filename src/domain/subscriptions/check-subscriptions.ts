import type { Database } from '../../../db/index.js';
import type { SubscriptionRow } from '../../../db/schema/index.js';
import { DomainError } from '../../core/errors.js';
import type { Logger } from '../../core/logging.js';
import { CheckoutRequestRejected, type CheckoutClient } from '../../integrations/checkout.js';
import { ProviderUnavailable } from '../../integrations/failures.js';
import { addHours } from '../utc-calendar.js';
import type { ProCreditSettings } from './credits.js';
import { lockSubscription } from './queries.js';
import { applyDeclinedPayment, expireSubscription, startGrace } from './state-machine.js';
import { PRO_PLAN, providerKey, type CheckoutSettings } from './start-checkout.js';

/** A past_due subscription's card is charged again this long after the previous attempt. */
export const RETRY_AFTER_HOURS = 24;
/**
 * A renewal attempt must have an outcome (Checkout.com's `payment_captured` or `payment_declined`)
 * within this many hours of the job first trying it — sent, or retried while Checkout.com was
 * unreachable. Without one it counts as a declined payment, so a lost webhook (or a Checkout.com
 * that cannot be reached) never leaves a user on Pro unpaid: the first renewal of a period is
 * decided at most this long after the first hourly run at or after `current_period_end`.
 */
export const OUTCOME_WITHIN_HOURS = 24;

export interface SubscriptionCheckResult {
  expired: number;
  charged: number;
  /** Renewals that could not be attempted (no stored card) and went straight to grace. */
  graceWithoutCard: number;
  /** Charges Checkout.com could not take right now; tried again next hour with the same idempotency key. */
  deferred: number;
  /** Charges Checkout.com refused outright (a 4xx other than 401, 403, 429): each a failed payment. */
  refused: number;
  /** Attempts without an outcome OUTCOME_WITHIN_HOURS after they were first tried: each a failed payment. */
  unanswered: number;
}

const JOB_ACTOR = { source: 'system' as const, requestId: null };
const CHARGEABLE = ['active', 'past_due'] as const;
const isChargeable = (sub: SubscriptionRow) => sub.status === 'active' || sub.status === 'past_due';

/** The renewal attempt a charge of `sub` now is: 1 at the period end, then one per failure. */
const attemptOf = (sub: SubscriptionRow) => sub.failed_payment_count + 1;

/**
 * Put in the metadata of a renewal charge (and so in its webhooks): which period and attempt the
 * payment is. A decline counts only for the attempt still open (see `isOpenRenewalAttempt`).
 */
export const renewalMetadata = (sub: SubscriptionRow): Record<string, string> => ({
  user_id: sub.user_id,
  plan: PRO_PLAN,
  subscription_id: sub.id,
  renewal_period_end: sub.current_period_end.toISOString(),
  renewal_attempt: String(attemptOf(sub)),
});

/**
 * Whether a declined payment is the renewal attempt `sub` is waiting for. A decline of an attempt
 * already counted (by the watchdog, or a refusal) or of an earlier period is not counted again.
 * A decline without renewal metadata (e.g. of a hosted payment) counts, as it always did.
 */
export function isOpenRenewalAttempt(sub: SubscriptionRow, metadata: Record<string, unknown>): boolean {
  const { renewal_period_end: periodEnd, renewal_attempt: attempt } = metadata;
  if (typeof periodEnd !== 'string' || typeof attempt !== 'string') return true;
  return Date.parse(periodEnd) === sub.current_period_end.getTime() && Number(attempt) === attemptOf(sub);
}

/**
 * The hourly `subscription_check` (FR-049/FR-050), at `now`:
 * 1. grace periods and cancelled periods that have ended expire (tier → free);
 * 2. the watchdog: a renewal attempt still without an outcome at its `charge_outcome_due_at`
 *    (OUTCOME_WITHIN_HOURS after the job first tried it) counts as one failed payment;
 * 3. renewals: an active subscription whose period has ended, and a past_due one 24 h after its
 *    last attempt, has its stored card charged (`POST /payments`). The charge's outcome is applied
 *    by its webhook (`payment_captured` / `payment_declined`), so it counts once; only a charge
 *    Checkout.com refuses outright (a non-retryable 4xx: no payment, no webhook) is a failed
 *    payment here and now. A call that fails retryably (network, 5xx, 429, 401/403) is tried again
 *    next hour with the same idempotency key.
 * Every change re-checks its condition under the subscription's lock, so overlapping runs (or a
 * webhook at the same moment) are harmless, and running it twice changes nothing more.
 */
export async function checkSubscriptions(db: Database, { checkout, settings, log, now }: { checkout: CheckoutClient; settings: CheckoutSettings & ProCreditSettings; log: Logger; now: Date }): Promise<SubscriptionCheckResult> {
  const result: SubscriptionCheckResult = { expired: 0, charged: 0, graceWithoutCard: 0, deferred: 0, refused: 0, unanswered: 0 };

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

  const unanswered = await db.selectFrom('subscriptions').select('user_id').where('charge_outcome_due_at', '<=', now).where('status', 'in', CHARGEABLE).execute();
  for (const { user_id } of unanswered) {
    const counted = await db.transaction().execute(async (trx) => {
      const sub = await lockSubscription(trx, user_id);
      if (!sub || !isChargeable(sub) || !sub.charge_outcome_due_at || sub.charge_outcome_due_at > now) return false;
      await applyDeclinedPayment(trx, { sub, declinedAt: now, reason: `no outcome from Checkout.com within ${OUTCOME_WITHIN_HOURS} hours of renewal attempt ${attemptOf(sub)}`, actor: JOB_ACTOR });
      return true;
    });
    if (counted) {
      result.unanswered++;
      log.warn({ job: 'subscription_check', user_id }, 'renewal charge without an outcome; counted as a failed payment');
    }
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
        await startGrace(trx, { sub, from: now, failures: sub.failed_payment_count, reason: 'no stored card', actor: JOB_ACTOR });
        result.graceWithoutCard++;
        return null;
      }
      // The outcome is due OUTCOME_WITHIN_HOURS after the attempt is first tried; retries of the same call keep that time.
      await trx
        .updateTable('subscriptions')
        .set({ last_charge_attempt_at: now, charge_outcome_due_at: sub.charge_outcome_due_at ?? addHours(now, OUTCOME_WITHIN_HOURS), updated_at: new Date() })
        .where('id', '=', sub.id)
        .execute();
      return { sub, previousAttempt: sub.last_charge_attempt_at };
    });
    if (!claimed) continue;
    try {
      await chargeRenewal(checkout, settings, claimed.sub);
      result.charged++;
    } catch (err) {
      if (err instanceof CheckoutRequestRejected) {
        // Refused outright: no payment exists and no webhook will come; asking again gets the same answer.
        const reason = `Checkout.com refused the charge: ${err.message}`;
        const counted = await db.transaction().execute(async (trx) => {
          const sub = await lockSubscription(trx, user_id);
          const stillOurs =
            sub && isChargeable(sub) && sub.last_charge_attempt_at?.getTime() === now.getTime() && sub.current_period_end.getTime() === claimed.sub.current_period_end.getTime() && sub.failed_payment_count === claimed.sub.failed_payment_count;
          if (!stillOurs) return false;
          await applyDeclinedPayment(trx, { sub, declinedAt: now, reason, actor: JOB_ACTOR });
          return true;
        });
        if (counted) result.refused++;
        log.warn({ err, job: 'subscription_check', subscription_id: claimed.sub.id }, 'renewal charge refused by Checkout.com; counted as a failed payment');
        continue;
      }
      // Checkout.com is down or refused our credentials: give the claim back so the next hour tries
      // again (same attempt, same idempotency key); the outcome's due time stays.
      await db
        .updateTable('subscriptions')
        .set({ last_charge_attempt_at: claimed.previousAttempt, updated_at: new Date() })
        .where('id', '=', claimed.sub.id)
        .where('last_charge_attempt_at', '=', now)
        .execute();
      result.deferred++;
      const level = err instanceof ProviderUnavailable || err instanceof DomainError ? 'warn' : 'error';
      log[level]({ err, job: 'subscription_check', subscription_id: claimed.sub.id }, 'renewal charge not sent; retried next hour');
    }
  }
  return result;
}

/** One renewal attempt; the attempt number is in the idempotency key, so a repeated attempt never charges twice. */
async function chargeRenewal(checkout: CheckoutClient, settings: CheckoutSettings, sub: SubscriptionRow): Promise<void> {
  await checkout.chargeStoredSource(
    {
      sourceId: sub.checkout_source_id!,
      customerId: sub.checkout_customer_id,
      amountMinor: settings.PRO_PRICE_MINOR,
      currency: settings.PRO_PRICE_CURRENCY,
      reference: `pro-${sub.user_id}`,
      description: 'Perpetua Flow Pro, one month (renewal)',
      paymentType: 'Recurring',
      metadata: renewalMetadata(sub),
    },
    providerKey('renewal', sub.id, sub.current_period_end.toISOString(), String(attemptOf(sub))),
  );
}
