import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { CreditPurchaseRow } from '../../../db/schema/index.js';
import type { Config } from '../../config.js';
import { limitExceeded, notFound, serviceUnavailable } from '../../http/errors.js';
import { paymentDeclined, type CheckoutClient } from '../../integrations/checkout.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { creditBalance, grantCredits } from '../credits/ledger.js';
import { lockFor } from '../locks.js';
import { findUserById } from '../users/queries.js';
import { addHours, startOfUtcMonth } from '../utc-calendar.js';
import { findSubscription } from './queries.js';
import { frontendUrl, providerKey, type CheckoutSettings } from './start-checkout.js';

type CreditPurchase = components['schemas']['CreditPurchase'];

/** FR-040: purchased credits per calendar month (UTC). */
export const MONTHLY_PURCHASE_LIMIT = 500;
/** How long an unpaid hosted-page purchase holds its amount against the monthly limit. */
export const PENDING_PURCHASE_HOURS = 24;

export type PurchaseSettings = CheckoutSettings & Pick<Config, 'CREDIT_PRICE_MINOR'>;

/** Credits of this month that count toward the limit: completed, and pending ones not yet lapsed. */
async function purchasedThisMonth(trx: Executor, userId: string, now: Date): Promise<number> {
  const row = await trx
    .selectFrom('credit_purchases')
    .select(sql<number>`coalesce(sum(amount), 0)::int`.as('total'))
    .where('user_id', '=', userId)
    .where('created_at', '>=', startOfUtcMonth(now))
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
async function claimPurchase(db: Database, settings: PurchaseSettings, userId: string, amount: number, requestKey: string, now: Date): Promise<CreditPurchaseRow> {
  return db.transaction().execute(async (trx) => {
    await lockFor(trx, 'credit_purchases', userId);
    const earlier = await trx.selectFrom('credit_purchases').selectAll().where('user_id', '=', userId).where('request_key', '=', requestKey).executeTakeFirst();
    if (earlier) return earlier;
    const used = await purchasedThisMonth(trx, userId, now);
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

/**
 * Grants a pending (or failed, but now paid) purchase's credits, once; in the caller's transaction.
 * Returns the purchase's user, or null when there was nothing to grant (unknown purchase, another
 * user's, or already completed).
 */
export async function completePurchase(trx: Executor, purchaseId: string, claimedUserId: string | null, paymentId: string | null, actor: Pick<Actor, 'source' | 'requestId'>): Promise<string | null> {
  const purchase = await trx.selectFrom('credit_purchases').selectAll().where('id', '=', purchaseId).forUpdate().executeTakeFirst();
  if (!purchase || purchase.status === 'completed' || (claimedUserId && claimedUserId !== purchase.user_id)) return null;
  const now = new Date();
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
  return purchase.user_id;
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
 * `POST /subscription/purchase-credits` (FR-040): credits only against a payment Checkout.com
 * confirms. With a card stored from the subscription the server charges it at once; otherwise it
 * answers a hosted payment page and the `payment_captured` webhook grants the credits.
 */
export async function purchaseCredits(db: Database, checkout: CheckoutClient, settings: PurchaseSettings, actor: Actor, amount: number, requestKey: string): Promise<CreditPurchase> {
  if (!checkout.configured) throw serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'Payments are not configured: set CHECKOUT_SECRET_KEY');
  const user = await findUserById(db, actor.userId);
  if (!user) throw notFound('User');
  let purchase = await claimPurchase(db, settings, actor.userId, amount, requestKey, new Date());
  if (purchase.status === 'completed') return answer(db, purchase, true);
  if (purchase.status === 'failed') throw paymentDeclined(null);

  const metadata = { user_id: actor.userId, purchase_id: purchase.id };
  const idempotencyKey = providerKey('purchase', actor.userId, requestKey);
  const description = `${purchase.amount} Perpetua Flow AI credits`;
  const subscription = await findSubscription(db, actor.userId);

  if (subscription?.checkout_source_id) {
    const charge = await checkout.chargeStoredSource(
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
    if (charge.approved) {
      return db.transaction().execute(async (trx) => {
        const granted = (await completePurchase(trx, purchase.id, actor.userId, charge.paymentId, actor)) !== null;
        const row = await trx.selectFrom('credit_purchases').selectAll().where('id', '=', purchase.id).executeTakeFirstOrThrow();
        // Granted by this request, or a moment ago by the webhook of this very payment: either way paid.
        return answer(trx, row, granted || row.status === 'completed');
      });
    }
    if (charge.status !== 'Pending') {
      await db.transaction().execute((trx) => failPurchase(trx, purchase.id, actor.userId));
      throw paymentDeclined(charge.responseSummary);
    }
    // Pending (the issuer asked for authentication): the webhook settles it.
    purchase = await db.updateTable('credit_purchases').set({ checkout_payment_id: charge.paymentId, updated_at: new Date() }).where('id', '=', purchase.id).returningAll().executeTakeFirstOrThrow();
    return answer(db, purchase, false);
  }

  const page = await checkout.createHostedPayment(
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
  );
  purchase = await db
    .updateTable('credit_purchases')
    .set({ checkout_session_id: page.id, checkout_url: page.url, updated_at: new Date() })
    .where('id', '=', purchase.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return answer(db, purchase, false);
}
