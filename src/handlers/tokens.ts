import * as tokens from '../domain/auth/personal-tokens.js';
import { caller, type Handler } from '../http/operation.js';

export const listPersonalTokens: Handler<'listPersonalTokens'> = async (_req, ctx) => {
  return { status: 200, body: { data: await tokens.listPersonalTokens(ctx.deps.db, caller(ctx).userId) } };
};

export const createPersonalToken: Handler<'createPersonalToken'> = async (req, ctx) => {
  const { name, scopes, expires_at } = req.body;
  const { created, replay } = await tokens.createPersonalToken(ctx.deps.db, { userId: caller(ctx).userId, name, scopes, expiresAt: expires_at });
  // The secret is shown once: an idempotent replay answers the same token without it.
  return { status: 201, body: { data: created }, replayBody: { data: replay } };
};

export const deletePersonalToken: Handler<'deletePersonalToken'> = async (req, ctx) => {
  const { id } = await tokens.deletePersonalToken(ctx.deps.db, caller(ctx).userId, req.params.token_id);
  // other processes hear of it from the database; this one must not wait for that
  ctx.deps.personalTokens.forget(id);
  return { status: 200, body: { data: { id, deleted: true } } };
};
