import { cancelSubscription as cancel } from '../domain/subscriptions/cancel-subscription.js';
import { getSubscription as findSubscriptionState } from '../domain/subscriptions/get-subscription.js';
import { handleCheckoutEvent, verifyWebhookSignature, type CheckoutEvent } from '../domain/subscriptions/handle-webhook.js';
import { purchaseCredits as purchase } from '../domain/subscriptions/purchase-credits.js';
import { startCheckout } from '../domain/subscriptions/start-checkout.js';
import { userActor } from '../domain/actor.js';
import { caller, type Handler } from '../http/operation.js';

/** Required by the contract on these operations, so validation guarantees it. */
const idempotencyKey = (headers: Record<string, string | undefined>) => headers['idempotency-key']!;

export const getSubscription: Handler<'getSubscription'> = async (_req, ctx) => {
  const data = await findSubscriptionState(ctx.deps.db, ctx.deps.config, caller(ctx).userId);
  return { status: 200, body: { data } };
};

export const createCheckoutSession: Handler<'createCheckoutSession'> = async (req, ctx) => {
  const page = await startCheckout(ctx.deps.db, { checkout: ctx.deps.checkout, settings: ctx.deps.config, userId: caller(ctx).userId, requestKey: idempotencyKey(req.headers) });
  return { status: 201, body: { data: { checkout_url: page.url, session_id: page.id } } };
};

export const upgradeSubscription: Handler<'upgradeSubscription'> = async (req, ctx) => {
  const userId = caller(ctx).userId;
  const page = await startCheckout(ctx.deps.db, { checkout: ctx.deps.checkout, settings: ctx.deps.config, userId, requestKey: idempotencyKey(req.headers) });
  const current = await findSubscriptionState(ctx.deps.db, ctx.deps.config, userId);
  return { status: 200, body: { data: { ...current, checkout_url: page.url, session_id: page.id } } };
};

export const cancelSubscription: Handler<'cancelSubscription'> = async (_req, ctx) => {
  const data = await cancel(ctx.deps.db, userActor(ctx));
  return { status: 200, body: { data } };
};

export const purchaseCredits: Handler<'purchaseCredits'> = async (req, ctx) => {
  const data = await purchase({
    db: ctx.deps.db,
    checkout: ctx.deps.checkout,
    settings: ctx.deps.config,
    actor: userActor(ctx),
    amount: req.body.amount,
    requestKey: idempotencyKey(req.headers),
    log: ctx.log,
  });
  return { status: 200, body: { data } };
};

export const handleCheckoutWebhook: Handler<'handleCheckoutWebhook'> = async (req, ctx) => {
  // The signature first: nothing of an unsigned delivery is read or stored.
  verifyWebhookSignature(ctx.deps.config.CHECKOUT_WEBHOOK_SECRET, req.rawBody, req.headers['cko-signature']);
  const ack = await handleCheckoutEvent(ctx.deps.db, { settings: ctx.deps.config, event: req.body as CheckoutEvent, requestId: ctx.requestId, log: ctx.log });
  return { status: 200, body: ack };
};
