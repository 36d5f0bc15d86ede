import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { AppliedPaymentKind } from '../../../db/schema/index.js';
import { DomainError, serviceUnavailable } from '../../core/errors.js';
import type { Logger } from '../../core/logging.js';
import { isValidWebhookSignature } from '../../integrations/checkout.js';
import { isOpenRenewalAttempt } from './check-subscriptions.js';
import type { ProCreditSettings } from './credits.js';
import { completePurchase, failPurchase, logRefundRequired, type PurchaseCompletion } from './purchase-credits.js';
import { lockSubscription } from './queries.js';
import { applyCancellation, applyCapturedPayment, applyDeclinedPayment } from './state-machine.js';

type WebhookAck = components['schemas']['WebhookAck'];
type Reason = WebhookAck['reason'];

export interface CheckoutEvent {
  id: string;
  type: string;
  created_on?: string;
  data: Record<string, any>;
}

/** The event types this service acts on; others are acknowledged and ignored. */
const HANDLED_TYPES = new Set(['payment_captured', 'payment_declined', 'subscription_cancelled']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuidOrNull = (v: unknown): string | null => (typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : null);
const stringOrNull = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 && v.length <= 255 ? v : null);

/**
 * Checked before anything else: the `Cko-Signature` header must be the hex HMAC-SHA256 of the exact
 * bytes received, keyed with CHECKOUT_WEBHOOK_SECRET, compared in constant time.
 */
export function verifyWebhookSignature(secret: string | undefined, rawBody: Buffer | undefined, signature: string | undefined): void {
  if (!secret) throw serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'Webhooks are not configured: set CHECKOUT_WEBHOOK_SECRET');
  if (!rawBody || !isValidWebhookSignature(secret, rawBody, signature)) throw new DomainError('UNAUTHORIZED', 'Invalid webhook signature');
}

const ack = (processed: boolean, reason: Reason): WebhookAck => ({ received: true, processed, reason });

/**
 * Applies one verified Checkout.com event exactly once: its id is inserted (`on conflict do
 * nothing`) in the same transaction as its effects, so a concurrent second delivery waits for the
 * first and then finds the id, and a failure records nothing (Checkout.com's retry runs again).
 * Beyond the event id, each payment is applied once per outcome (applied_payments, keyed by the
 * payment id and kept with the user): the same payment under another event id, or an old body
 * replayed after its event id was purged, is a duplicate too.
 */
export async function handleCheckoutEvent(db: Database, { settings, event, requestId, log }: { settings: ProCreditSettings; event: CheckoutEvent; requestId: string; log: Logger }): Promise<WebhookAck> {
  if (!HANDLED_TYPES.has(event.type)) return ack(false, 'unknown_event_type');
  const createdOn = event.created_on ? new Date(event.created_on) : null;
  const at = createdOn && !Number.isNaN(createdOn.getTime()) ? createdOn : new Date();
  const actor = { source: 'system' as const, requestId };

  const outcome = await db.transaction().execute(async (trx) => {
    const recorded = await trx
      .insertInto('webhook_events')
      .values({ event_id: event.id, type: event.type, processed: false })
      .onConflict((oc) => oc.column('event_id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!recorded) return null;

    const applied = await applyEvent(trx, { settings, event, at, actor });
    if (applied.duplicate) return applied;
    await trx
      .updateTable('webhook_events')
      .set({ processed: applied.processed, user_id: applied.userId, updated_at: new Date() })
      .where('id', '=', recorded.id)
      .execute();
    return applied;
  });
  if (!outcome || outcome.duplicate) return ack(false, 'duplicate');
  // Logged once committed: money Checkout.com took that we did not grant.
  if (outcome.refund) logRefundRequired(log, outcome.refund);
  return ack(outcome.processed, outcome.processed ? null : 'ignored');
}

interface Outcome {
  processed: boolean;
  /** The user the event turned out to be about (null when none of ours). */
  userId: string | null;
  /** A captured purchase that was not granted and must be refunded. */
  refund?: Extract<PurchaseCompletion, { granted: false }>;
  /** The payment was already applied (under another event id); nothing was done. */
  duplicate?: true;
}

const DUPLICATE = { processed: false, userId: null, duplicate: true } as const;

/**
 * Records that this payment's outcome is applied, in the transaction that applies it. False when it
 * already was: the unique (payment_id, kind) makes a concurrent second delivery wait for the first
 * and then find it.
 */
async function claimPayment(trx: Executor, { paymentId, kind, userId, eventId }: { paymentId: string; kind: AppliedPaymentKind; userId: string; eventId: string }): Promise<boolean> {
  const row = await trx
    .insertInto('applied_payments')
    .values({ payment_id: paymentId, kind, user_id: userId, event_id: eventId })
    .onConflict((oc) => oc.columns(['payment_id', 'kind']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

async function paymentApplied(trx: Executor, paymentId: string, kind: AppliedPaymentKind): Promise<boolean> {
  const row = await trx.selectFrom('applied_payments').select('id').where('payment_id', '=', paymentId).where('kind', '=', kind).executeTakeFirst();
  return row !== undefined;
}

async function applyEvent(trx: Executor, { settings, event, at, actor }: { settings: ProCreditSettings; event: CheckoutEvent; at: Date; actor: { source: 'system'; requestId: string } }): Promise<Outcome> {
  const data = event.data ?? {};
  const metadata = (data.metadata && typeof data.metadata === 'object' ? data.metadata : {}) as Record<string, unknown>;
  const claimedUserId = uuidOrNull(metadata.user_id);
  const purchaseId = uuidOrNull(metadata.purchase_id);
  const paymentId = stringOrNull(data.id) ?? event.id;

  // A credit purchase: granted once, by whichever confirmation arrives first (completePurchase and
  // failPurchase serialise on the purchase and are idempotent by its status); the payment is also
  // recorded, so a replay after the activity that marks a refund is purged stays a duplicate.
  if (purchaseId) {
    if (event.type === 'payment_captured') {
      if (await paymentApplied(trx, paymentId, 'captured')) return DUPLICATE;
      const completion = await completePurchase(trx, { purchaseId, claimedUserId, paymentId, actor });
      if (!completion) return { processed: false, userId: null };
      await claimPayment(trx, { paymentId, kind: 'captured', userId: completion.userId, eventId: event.id });
      return { processed: true, userId: completion.userId, ...(completion.granted ? {} : { refund: completion }) };
    }
    if (event.type === 'payment_declined') {
      if (await paymentApplied(trx, paymentId, 'declined')) return DUPLICATE;
      const userId = await failPurchase(trx, purchaseId, claimedUserId);
      if (userId) await claimPayment(trx, { paymentId, kind: 'declined', userId, eventId: event.id });
      return { processed: userId !== null, userId };
    }
    return { processed: false, userId: null };
  }

  if (!claimedUserId) return { processed: false, userId: null };
  const user = await trx.selectFrom('users').select('id').where('id', '=', claimedUserId).executeTakeFirst();
  if (!user) return { processed: false, userId: null }; // the account was deleted
  const userId = user.id;
  const sub = await lockSubscription(trx, userId);

  // Under the subscription's lock: a concurrent delivery of the same payment waits here, then finds it.
  if (event.type === 'payment_captured' || event.type === 'payment_declined') {
    const kind = event.type === 'payment_captured' ? 'captured' : 'declined';
    if (!(await claimPayment(trx, { paymentId, kind, userId, eventId: event.id }))) return { ...DUPLICATE, userId };
  }

  switch (event.type) {
    case 'payment_captured': {
      const source = data.source && typeof data.source === 'object' ? (data.source as Record<string, unknown>) : {};
      const customer = data.customer && typeof data.customer === 'object' ? (data.customer as Record<string, unknown>) : {};
      await applyCapturedPayment(trx, { settings, userId, current: sub, payment: { paymentId, paidAt: at, sourceId: stringOrNull(source.id), customerId: stringOrNull(customer.id) }, actor });
      return { processed: true, userId };
    }
    case 'payment_declined': {
      // A renewal attempt the hourly job already counted (no outcome in time) is not counted twice.
      if (!sub || !isOpenRenewalAttempt(sub, metadata)) return { processed: false, userId };
      const changed = await applyDeclinedPayment(trx, { sub, declinedAt: at, reason: stringOrNull(data.response_summary), actor });
      return { processed: changed !== null, userId };
    }
    default: {
      const changed = sub ? await applyCancellation(trx, { sub, now: at, actor }) : null;
      return { processed: changed !== null, userId };
    }
  }
}
