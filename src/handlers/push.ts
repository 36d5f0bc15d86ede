import { presentPushSubscription, registerPushSubscription as register, removePushSubscription as remove } from '../domain/push/push-subscriptions.js';
import { caller, type Handler } from '../http/operation.js';

export const registerPushSubscription: Handler<'registerPushSubscription'> = async (req, ctx) => {
  const { subscription, created } = await register(ctx.deps.db, { push: ctx.deps.push, userId: caller(ctx).userId, keys: { endpoint: req.body.endpoint, p256dh: req.body.p256dh_key, auth: req.body.auth_key } });
  return { status: created ? 201 : 200, body: { data: presentPushSubscription(subscription) } };
};

export const removePushSubscription: Handler<'removePushSubscription'> = async (req, ctx) => {
  const id = await remove(ctx.deps.db, caller(ctx).userId, req.query.endpoint);
  return { status: 200, body: { data: { id, deleted: true } } };
};
