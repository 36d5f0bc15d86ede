import { pageParams } from '../core/pagination.js';
import {
  createWebhook as create,
  deleteWebhook as remove,
  getWebhook as get,
  listWebhookDeliveries as listDeliveries,
  listWebhooks as list,
  updateWebhook as update,
} from '../domain/webhooks/webhooks.js';
import { caller, type Handler } from '../http/operation.js';

export const listWebhooks: Handler<'listWebhooks'> = async (req, ctx) => {
  return { status: 200, body: await list(ctx.deps.db, caller(ctx).userId, pageParams(req.query)) };
};

export const createWebhook: Handler<'createWebhook'> = async (req, ctx) => {
  const { webhook, replay } = await create(ctx.deps.db, { checkUrl: ctx.deps.webhooks.checkUrl, userId: caller(ctx).userId, input: req.body });
  // An idempotent replay answers the endpoint without its secret: the secret is not kept with the answer.
  return { status: 201, body: { data: webhook }, replayBody: { data: replay } };
};

export const getWebhook: Handler<'getWebhook'> = async (req, ctx) => {
  return { status: 200, body: { data: await get(ctx.deps.db, caller(ctx).userId, req.params.webhook_id) } };
};

export const updateWebhook: Handler<'updateWebhook'> = async (req, ctx) => {
  return { status: 200, body: { data: await update(ctx.deps.db, { checkUrl: ctx.deps.webhooks.checkUrl, userId: caller(ctx).userId, webhookId: req.params.webhook_id, input: req.body }) } };
};

export const deleteWebhook: Handler<'deleteWebhook'> = async (req, ctx) => {
  return { status: 200, body: { data: await remove(ctx.deps.db, caller(ctx).userId, req.params.webhook_id) } };
};

export const listWebhookDeliveries: Handler<'listWebhookDeliveries'> = async (req, ctx) => {
  return { status: 200, body: await listDeliveries(ctx.deps.db, { userId: caller(ctx).userId, webhookId: req.params.webhook_id, page: pageParams(req.query) }) };
};
