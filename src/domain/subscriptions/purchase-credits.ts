import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { CreditPurchaseRow } from '../../../db/schema/index.js';
import type { Config } from '../../config.js';
import { DomainError, accountGone, limitExceeded, serviceUnavailable } from '../../core/errors.js';
import type { Logger } from '../../core/logging.js';
import { CheckoutRequestRejected, type CheckoutClient } from '../../integrations/checkout.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { creditBalance, grantCredits } from '../credits/ledger.js';
import { lockFor } from '../locks.js';
import { fromProvider, translateProviderFailure } from '../provider-failures.js';
import { findUserById } from '../users/queries.js';
import { addHours, addUtcMonths, startOfUtcMonth } from '../utc-calendar.js';
import { findSubscription } from './queries.js';
import { frontendUrl, providerKey, type CheckoutSettings } from './start-checkout.js';

type CreditPurchase = components['schemas']['CreditPurchase'];

/** FR-040: purchased credits per calendar month (UTC). */
export const MONTHLY_PURCHASE_LIMIT = 500;
/** How long an unpaid hosted-page purchase holds its amount against the monthly limit. */
export const PENDING_PURCHASE_HOURS = 24;

export type PurchaseSettings = CheckoutSettings & Pick<Config, 'CREDIT_PRICE_MINOR'>;

/**
 * Credits of the calendar month (UTC) `month` falls in that count toward its limit: completed
 * purchases, and pending ones whose hold has not lapsed at `now`.
 */
async function purchasedInMonth(trx: Executor, { userId, month, now }: { userId: string; month: Date; now: Date }): Promise<number> {
  const start = startOfUtcMonth(month);
  const row = await trx
    .selectFrom('credit_purchases')
    .select(sql<number>`coalesce(sum(amount), 0)::int`.as('total'))
    .where('user_id', '=', userId)
    .where('created_at', '>=', start)
    .where('created_at', '<', addUtcMonths(start, 1))
    .where((eb) => eb.or([eb('status', '=', 'completed'), eb.and([eb('status', '=', 'pending'), eb('pending_until', '>', now)])]))
    .executeTakeFirstOrThrow();
  return Number(row.total);
}

/**
 * The purchase this request works on: the one an earlier attempt with the same Idempotency-Key
 * created (a retry after a 503 reuses it, and with it Checkout.com's idempotency key), or a new
 * pending one, counted against the monthly limit under the user's lock so concurrent purchases
 * cannot overshoot it.
 */
async function claimPurchase(db: Database, { settings, userId, amount, requestKey, now }: { settings: PurchaseSettings; userId: string; amount: number; requestKey: string; now: Date }): Promise<CreditPurchaseRow> {
  return db.transaction().execute(async (trx) => {
    await lockFor(trx, 'credit_purchases', userId);
    const earlier = await trx.selectFrom('credit_purchases').selectAll().where('user_id', '=', userId).where('request_key', '=', requestKey).executeTakeFirst();
    if (earlier) return earlier;
    const used = await purchasedInMonth(trx, { userId, month: now, now });
    if (used + amount > MONTHLY_PURCHASE_LIMIT) {
      throw limitExceeded(`Monthly purchase limit reached: ${used} of ${MONTHLY_PURCHASE_LIMIT} credits already purchased this month`, MONTHLY_PURCHASE_LIMIT);
    }
    return trx
      .insertInto('credit_purchases')
      .values({
        user_id: userId,
        amount,
        price_minor: amount * settings.CREDIT_PRICE_MINOR,
        currency: settings.PRO_PRICE_CURRENCY,
        status: 'pending',
        request_key: requestKey,
        pending_until: addHours(now, PENDING_PURCHASE_HOURS),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** The activity of a purchase paid but not granted (over the monthly limit): its payment is to be refunded. */
const REFUND_REQUIRED = 'credit_purchase_refund_required';

export type PurchaseCompletion =
  | { userId: string; granted: true }
  /** Paid, but granting it would take its month over the limit: the payment is to be refunded. */
  | { userId: string; granted: false; refund: { purchaseId: string; paymentId: string | null; amount: number; priceMinor: number; currency: string } };

/**
 * A captured payment of a purchase, in the caller's transaction: its credits are granted once. A
 * purchase still holding its place in the month's limit (pending, hold not lapsed) is granted. One
 * that no longer does — it failed (declined) or its 24-hour hold lapsed — and is paid after all is
 * granted only if its month's limit still has room; otherwise nothing is granted, the purchase
 * stays failed and it is recorded as needing a refund (activity entry `credit_purchase_refund_required`;
 * the caller logs it). Counted under the user's purchase lock, like new purchases.
 * Null when there is nothing to do (unknown purchase, another user's, already completed, or this
 * payment's refund already recorded).
 */
export async function completePurchase(
  trx: Executor,
  { purchaseId, claimedUserId, paymentId, actor, now = new Date() }: { purchaseId: string; claimedUserId: string | null; paymentId: string | null; actor: Pick<Actor, 'source' | 'requestId'>; now?: Date },
): Promise<PurchaseCompletion | null> {
  const owner = await trx.selectFrom('credit_purchases').select('user_id').where('id', '=', purchaseId).executeTakeFirst();
  if (!owner || (claimedUserId && claimedUserId !== owner.user_id)) return null;
  // The lock claimPurchase takes, before the row: the limit is counted against concurrent purchases.
  await lockFor(trx, 'credit_purchases', owner.user_id);
  const purchase = await trx.selectFrom('credit_purchases').selectAll().where('id', '=', purchaseId).forUpdate().executeTakeFirst();
  if (!purchase || purchase.status === 'completed') return null;

  const holdsItsPlace = purchase.status === 'pending' && purchase.pending_until > now;
  if (!holdsItsPlace) {
    const used = await purchasedInMonth(trx, { userId: purchase.user_id, month: purchase.created_at, now });
    if (used + purchase.amount > MONTHLY_PURCHASE_LIMIT) {
      if (paymentId && (await refundRecorded(trx, purchase, paymentId))) return null;
      await trx
        .updateTable('credit_purchases')
        .set({ status: 'failed', checkout_payment_id: paymentId ?? purchase.checkout_payment_id, updated_at: now })
        .where('id', '=', purchase.id)
        .execute();
      await recordActivity(trx, {
        userId: purchase.user_id,
        entityType: 'credit',
        entityId: purchase.id,
        action: REFUND_REQUIRED,
        source: actor.source,
        requestId: actor.requestId,
        extra: { amount: purchase.amount, price_minor: purchase.price_minor, currency: purchase.currency, payment_id: paymentId, purchased_in_month: used, limit: MONTHLY_PURCHASE_LIMIT },
      });
      return {
        userId: purchase.user_id,
        granted: false,
        refund: { purchaseId: purchase.id, paymentId, amount: purchase.amount, priceMinor: purchase.price_minor, currency: purchase.currency },
      };
    }
  }

  await trx
    .updateTable('credit_purchases')
    .set({ status: 'completed', completed_at: now, checkout_payment_id: paymentId ?? purchase.checkout_payment_id, updated_at: now })
    .where('id', '=', purchase.id)
    .execute();
  await grantCredits(trx, {
    userId: purchase.user_id,
    kind: 'purchased',
    amount: purchase.amount,
    expiresAt: null,
    description: `Purchased ${purchase.amount} credits`,
    operationRef: `purchase:${purchase.id}`,
  });
  await recordActivity(trx, {
    userId: purchase.user_id,
    entityType: 'credit',
    entityId: purchase.id,
    action: 'credits_purchased',
    source: actor.source,
    requestId: actor.requestId,
    extra: { amount: purchase.amount, price_minor: purchase.price_minor, currency: purchase.currency, payment_id: paymentId },
  });
  return { userId: purchase.user_id, granted: true };
}

/** Whether this payment of the purchase was already recorded as needing a refund (a re-sent capture). */
async function refundRecorded(trx: Executor, purchase: CreditPurchaseRow, paymentId: string): Promise<boolean> {
  const row = await trx
    .selectFrom('activity_logs')
    .select('id')
    .where('user_id', '=', purchase.user_id)
    .where('entity_type', '=', 'credit')
    .where('entity_id', '=', purchase.id)
    .where('action', '=', REFUND_REQUIRED)
    .where(sql<string>`extra_data->>'payment_id'`, '=', paymentId)
    .executeTakeFirst();
  return row !== undefined;
}

/** The log line for money taken that must go back; refunds are issued from Checkout.com's dashboard. */
export function logRefundRequired(log: Logger, completion: Extract<PurchaseCompletion, { granted: false }>): void {
  log.warn(
    { user_id: completion.userId, purchase_id: completion.refund.purchaseId, payment_id: completion.refund.paymentId, amount: completion.refund.amount, price_minor: completion.refund.priceMinor, currency: completion.refund.currency },
    'credit purchase paid after it lapsed or failed, over the monthly limit: not granted; refund the payment',
  );
}

/** A declined payment: the pending purchase fails and stops counting toward the monthly limit. */
export async function failPurchase(trx: Executor, purchaseId: string, claimedUserId: string | null): Promise<string | null> {
  const failed = await trx
    .updateTable('credit_purchases')
    .set({ status: 'failed', updated_at: new Date() })
    .where('id', '=', purchaseId)
    .where('status', '=', 'pending')
    .$if(claimedUserId !== null, (q) => q.where('user_id', '=', claimedUserId!))
    .returning('user_id')
    .executeTakeFirst();
  return failed?.user_id ?? null;
}

async function answer(db: Executor, purchase: CreditPurchaseRow, grantedNow: boolean): Promise<CreditPurchase> {
  const { total } = await creditBalance(db, purchase.user_id);
  const completed = purchase.status === 'completed';
  return {
    success: completed && grantedNow,
    credits_purchased: completed && grantedNow ? purchase.amount : 0,
    new_balance: total,
    status: completed ? 'completed' : 'pending',
    purchase_id: purchase.id,
    checkout_url: completed ? null : purchase.checkout_url,
  };
}

/**
 * After Checkout.com authorised a stored-card charge (with `capture: true`) the capture follows
 * within moments; these are the waits between looks at the payment (`GET /payments/{id}`), about
 * 3 s in all. A capture not seen by then is settled by the `payment_captured` webhook.
 */
export const CAPTURE_CHECKS_MS = [200, 400, 800, 1600];

const paymentDeclined = (summary: string | null) =>
  new DomainError('PAYMENT_DECLINED', summary ? `The payment was declined: ${summary}` : 'The payment was declined by the card issuer');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the payment is captured within the checks above; any failure to look is a "not yet". */
async function awaitCapture(checkout: CheckoutClient, paymentId: string): Promise<boolean> {
  for (const wait of CAPTURE_CHECKS_MS) {
    await sleep(wait);
    try {
      const payment = await checkout.getPayment(paymentId);
      if (payment.captured) return true;
      if (payment.status !== 'Authorized') return false; // declined, voided, …: the webhook says what happened
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * `POST /subscription/purchase-credits` (FR-040): credits only against a payment Checkout.com
 * captured — an authorisation is not money taken. With a card stored from the subscription the
 * server charges it at once and grants the credits when the capture is confirmed (in the answer, or
 * by looking at the payment for a few seconds); otherwise, and for a capture not confirmed by
 * then, the purchase is pending and the `payment_captured` webhook grants the credits. Without a
 * stored card it answers a hosted payment page.
 */
export interface PurchaseCreditsInput {
  db: Database;
  checkout: CheckoutClient;
  settings: PurchaseSettings;
  actor: Actor;
  amount: number;
  /** The request's Idempotency-Key: one purchase (and one payment) per key. */
  requestKey: string;
  log: Logger;
}

export async function purchaseCredits({ db, checkout, settings, actor, amount, requestKey, log }: PurchaseCreditsInput): Promise<CreditPurchase> {
  if (!checkout.configured) throw serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'Payments are not configured: set CHECKOUT_SECRET_KEY');
  const user = await findUserById(db, actor.userId);
  if (!user) throw accountGone(); // its account was deleted meanwhile
  let purchase = await claimPurchase(db, { settings, userId: actor.userId, amount, requestKey, now: new Date() });
  if (purchase.status === 'completed') return answer(db, purchase, true);
  if (purchase.status === 'failed') throw paymentDeclined(null);

  const metadata = { user_id: actor.userId, purchase_id: purchase.id };
  const idempotencyKey = providerKey('purchase', actor.userId, requestKey);
  const description = `${purchase.amount} Perpetua Flow AI credits`;
  const subscription = await findSubscription(db, actor.userId);

  if (subscription?.checkout_source_id) {
    let charge;
    try {
      charge = await checkout.chargeStoredSource(
        {
          sourceId: subscription.checkout_source_id,
          customerId: subscription.checkout_customer_id,
          amountMinor: purchase.price_minor,
          currency: purchase.currency,
          reference: `credits-${purchase.id}`,
          description,
          paymentType: 'Regular',
          metadata,
        },
        idempotencyKey,
      );
    } catch (err) {
      if (!(err instanceof CheckoutRequestRejected)) throw translateProviderFailure(err);
      // Refused outright (e.g. the stored card can no longer be used): no payment was made.
      log.warn({ err, purchase_id: purchase.id }, 'credit purchase charge refused by Checkout.com');
      await db.transaction().execute((trx) => failPurchase(trx, purchase.id, actor.userId));
      throw paymentDeclined('the stored card could not be charged');
    }
    const captured = charge.captured || (charge.approved && (await awaitCapture(checkout, charge.paymentId)));
    if (captured) {
      const settled = await db.transaction().execute(async (trx) => {
        const completion = await completePurchase(trx, { purchaseId: purchase.id, claimedUserId: actor.userId, paymentId: charge.paymentId, actor });
        if (completion && !completion.granted) return completion;
        const row = await trx.selectFrom('credit_purchases').selectAll().where('id', '=', purchase.id).executeTakeFirstOrThrow();
        // Granted by this request, or a moment ago by the webhook of this very payment: either way paid.
        return answer(trx, row, completion !== null || row.status === 'completed');
      });
      if ('refund' in settled) {
        // Only a purchase that lost its place (a retry after its hold lapsed) gets here; the refund is recorded.
        logRefundRequired(log, settled);
        throw limitExceeded('Monthly purchase limit reached; the payment taken for this purchase will be refunded', MONTHLY_PURCHASE_LIMIT);
      }
      return settled;
    }
    if (!charge.approved && charge.status !== 'Pending') {
      await db.transaction().execute((trx) => failPurchase(trx, purchase.id, actor.userId));
      throw paymentDeclined(charge.responseSummary);
    }
    // Authorised but not yet captured, or Pending (the issuer asked for authentication): the
    // purchase keeps its place in the month's limit and the payment_captured webhook grants it.
    purchase = await db.updateTable('credit_purchases').set({ checkout_payment_id: charge.paymentId, updated_at: new Date() }).where('id', '=', purchase.id).returningAll().executeTakeFirstOrThrow();
    return answer(db, purchase, false);
  }

  const page = await fromProvider(() => checkout.createHostedPayment(
    {
      amountMinor: purchase.price_minor,
      currency: purchase.currency,
      reference: `credits-${purchase.id}`,
      description,
      paymentType: 'Regular',
      customer: { email: user.email, name: user.name },
      billingCountry: settings.CHECKOUT_BILLING_COUNTRY,
      successUrl: frontendUrl(settings, `/credits?purchase=${purchase.id}`),
      cancelUrl: frontendUrl(settings, '/credits'),
      failureUrl: frontendUrl(settings, '/credits?payment=failed'),
      metadata,
    },
    idempotencyKey,
  ));
  purchase = await db
    .updateTable('credit_purchases')
    .set({ checkout_session_id: page.id, checkout_url: page.url, updated_at: new Date() })
    .where('id', '=', purchase.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return answer(db, purchase, false);
}
