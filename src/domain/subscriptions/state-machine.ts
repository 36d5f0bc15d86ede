import type { Executor } from '../../../db/index.js';
import type { SubscriptionRow } from '../../../db/schema/index.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { createNotification } from '../notifications/create-notification.js';
import { addDays, addUtcMonths } from '../utc-calendar.js';
import { grantPeriodCredits, settleDailyCredits, type ProCreditSettings } from './credits.js';
import { setUserTier } from './queries.js';

// The subscription state machine (FR-047–FR-050). Every transition runs in the caller's
// transaction after lockSubscription(), and records its activity entry there.
//
//   (none), expired, cancelled ──payment──▶ active ──decline 1, 2──▶ past_due ──decline 3──▶ grace
//   past_due, grace ──payment──▶ active;   grace ──3 days──▶ expired (tier free)
//   active, past_due, grace ──cancel──▶ cancelled ──paid time ends──▶ expired (tier free)
// A "decline" is Checkout.com's payment_declined, a charge it refused outright, or a renewal
// attempt with no outcome within 24 hours (check-subscriptions.ts); any outcome ends the attempt.

/** FR-049: the grace period after the third failed payment. */
export const GRACE_PERIOD_DAYS = 3;
/** The failed payment that starts the grace period. */
export const FAILURES_BEFORE_GRACE = 3;

type SystemActor = Pick<Actor, 'source' | 'requestId'>;

async function log(trx: Executor, { sub, action, actor, extra = {} }: { sub: SubscriptionRow; action: string; actor: SystemActor; extra?: Record<string, unknown> }) {
  await recordActivity(trx, { userId: sub.user_id, entityType: 'subscription', entityId: sub.id, action, source: actor.source, requestId: actor.requestId, extra });
}

const dateLabel = (d: Date) => d.toISOString().slice(0, 10);

export interface CapturedPayment {
  paymentId: string;
  paidAt: Date;
  sourceId: string | null;
  customerId: string | null;
}

/**
 * A captured subscription payment: the subscription becomes active for one more month. A payment
 * that continues a subscription (a renewal, a late payment while past_due or in grace, a second
 * payment while active) starts its month where the paid time ended; any other starts it now. The
 * user becomes Pro and gets the month's subscription credits (and today's daily credits).
 */
export async function applyCapturedPayment(
  trx: Executor,
  { settings, userId, current, payment, actor }: { settings: ProCreditSettings; userId: string; current: SubscriptionRow | undefined; payment: CapturedPayment; actor: SystemActor },
): Promise<SubscriptionRow> {
  const continues =
    current !== undefined &&
    (['active', 'past_due', 'grace'].includes(current.status) || (current.status === 'cancelled' && current.current_period_end > payment.paidAt));
  const periodStart = continues ? current.current_period_end : payment.paidAt;
  const periodEnd = addUtcMonths(periodStart, 1);
  const now = new Date();
  const values = {
    status: 'active' as const,
    current_period_start: periodStart,
    current_period_end: periodEnd,
    failed_payment_count: 0,
    grace_period_end: null,
    cancelled_at: null,
    access_until: null,
    last_payment_at: payment.paidAt,
    last_charge_attempt_at: null,
    charge_outcome_due_at: null,
    updated_at: now,
  };
  const sub = current
    ? await trx
        .updateTable('subscriptions')
        .set({
          ...values,
          // A hosted payment may be a wallet Checkout.com does not store; keep the card we have then.
          checkout_source_id: payment.sourceId ?? current.checkout_source_id,
          checkout_customer_id: payment.customerId ?? current.checkout_customer_id,
        })
        .where('id', '=', current.id)
        .returningAll()
        .executeTakeFirstOrThrow()
    : await trx
        .insertInto('subscriptions')
        .values({ user_id: userId, ...values, checkout_source_id: payment.sourceId, checkout_customer_id: payment.customerId })
        .returningAll()
        .executeTakeFirstOrThrow();
  await setUserTier(trx, userId, 'pro');
  await grantPeriodCredits(trx, { settings, userId, periodRef: `${sub.id}:${periodStart.toISOString()}` });
  await settleDailyCredits(trx, { settings, userId, now });
  await log(trx, { sub, action: continues ? 'subscription_renewed' : 'subscription_activated', actor, extra: {
    payment_id: payment.paymentId,
    previous_status: current?.status ?? null,
    current_period_end: periodEnd.toISOString(),
  } });
  return sub;
}

/**
 * A declined subscription payment: the 1st and 2nd move the subscription to past_due, the 3rd
 * starts the 3-day grace period. Only an active or past_due subscription is charged, so a decline
 * in any other state changes nothing (null).
 */
export async function applyDeclinedPayment(trx: Executor, { sub, declinedAt, reason, actor }: { sub: SubscriptionRow; declinedAt: Date; reason: string | null; actor: SystemActor }): Promise<SubscriptionRow | null> {
  if (sub.status !== 'active' && sub.status !== 'past_due') return null;
  const failures = sub.failed_payment_count + 1;
  if (failures < FAILURES_BEFORE_GRACE) {
    const updated = await trx
      .updateTable('subscriptions')
      .set({ status: 'past_due', failed_payment_count: failures, charge_outcome_due_at: null, updated_at: new Date() })
      .where('id', '=', sub.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await log(trx, { sub: updated, action: 'subscription_payment_failed', actor, extra: { failures, reason } });
    return updated;
  }
  return startGrace(trx, { sub, from: declinedAt, failures, reason, actor });
}

/** Pro stays until `grace_period_end`; then the hourly job expires the subscription. */
export async function startGrace(trx: Executor, { sub, from, failures, reason, actor }: { sub: SubscriptionRow; from: Date; failures: number; reason: string | null; actor: SystemActor }): Promise<SubscriptionRow> {
  const graceEnd = addDays(from, GRACE_PERIOD_DAYS);
  const updated = await trx
    .updateTable('subscriptions')
    .set({ status: 'grace', failed_payment_count: failures, grace_period_end: graceEnd, charge_outcome_due_at: null, updated_at: new Date() })
    .where('id', '=', sub.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await log(trx, { sub: updated, action: 'subscription_grace_started', actor, extra: { failures, reason, grace_period_end: graceEnd.toISOString() } });
  await createNotification(trx, {
    userId: sub.user_id,
    type: 'subscription',
    title: 'Payment failed: your Pro grace period has started',
    body: `We could not charge your card for Perpetua Flow Pro. Pro stays active until ${dateLabel(graceEnd)}; check out again before then to keep it.`,
    actionUrl: '/pricing',
  });
  return updated;
}

/** The instant Pro ends when `sub` is cancelled at `now`: the grace period, or the paid time. */
export const accessUntilOnCancel = (sub: SubscriptionRow, now: Date): Date =>
  sub.status === 'grace' && sub.grace_period_end ? sub.grace_period_end : sub.current_period_end > now ? sub.current_period_end : now;

/** Cancels an active, past_due or grace subscription (null in any other state): no renewal is charged; Pro until `access_until`. */
export async function applyCancellation(trx: Executor, { sub, now, actor }: { sub: SubscriptionRow; now: Date; actor: SystemActor }): Promise<SubscriptionRow | null> {
  if (sub.status !== 'active' && sub.status !== 'past_due' && sub.status !== 'grace') return null;
  const accessUntil = accessUntilOnCancel(sub, now);
  const updated = await trx
    .updateTable('subscriptions')
    .set({ status: 'cancelled', cancelled_at: now, access_until: accessUntil, grace_period_end: null, charge_outcome_due_at: null, updated_at: new Date() })
    .where('id', '=', sub.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await log(trx, { sub: updated, action: 'subscription_cancelled', actor, extra: { previous_status: sub.status, access_until: accessUntil.toISOString() } });
  return updated;
}

/** FR-050: the subscription ends and the user returns to free (perks and unspent credits stay). */
export async function expireSubscription(trx: Executor, sub: SubscriptionRow, actor: SystemActor): Promise<SubscriptionRow> {
  const updated = await trx
    .updateTable('subscriptions')
    .set({ status: 'expired', grace_period_end: null, access_until: null, charge_outcome_due_at: null, updated_at: new Date() })
    .where('id', '=', sub.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await setUserTier(trx, sub.user_id, 'free');
  await log(trx, { sub: updated, action: 'subscription_expired', actor, extra: { previous_status: sub.status } });
  await createNotification(trx, {
    userId: sub.user_id,
    type: 'subscription',
    title: 'Your Pro subscription has ended',
    body: 'Your account is back on the free plan. Your achievements and unspent credits stay with you; upgrade again any time.',
    actionUrl: '/pricing',
  });
  return updated;
}
