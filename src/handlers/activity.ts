import { listActivity as listActivityEntries } from '../domain/activity/list-activity.js';
import { assertOwnUser } from '../domain/users/own-user.js';
import { pageParams } from '../core/pagination.js';
import { caller, type Handler } from '../http/operation.js';

export const listActivity: Handler<'listActivity'> = async (req, ctx) => {
  const { entity_type, entity_id, action, source } = req.query;
  const page = await listActivityEntries(ctx.deps.db, { userId: caller(ctx).userId, filter: { entityType: entity_type, entityId: entity_id, action, source }, page: pageParams(req.query) });
  return { status: 200, body: page };
};

/** The production frontend's path for listActivity: the caller's own id only. */
export const listUserActivity: Handler<'listUserActivity'> = async (req, ctx) => {
  assertOwnUser(caller(ctx).userId, req.params.user_id);
  const { entity_type, entity_id, action, source } = req.query;
  const page = await listActivityEntries(ctx.deps.db, { userId: caller(ctx).userId, filter: { entityType: entity_type, entityId: entity_id, action, source }, page: pageParams(req.query) });
  return { status: 200, body: page };
};
