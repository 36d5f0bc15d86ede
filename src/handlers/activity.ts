import { listActivity as listActivityEntries } from '../domain/activity/list-activity.js';
import { pageParams } from '../http/pagination.js';
import { caller, type Handler } from '../http/operation.js';

export const listActivity: Handler<'listActivity'> = async (req, ctx) => {
  const { entity_type, entity_id, action, source } = req.query;
  const page = await listActivityEntries(ctx.deps.db, caller(ctx).userId, { entityType: entity_type, entityId: entity_id, action, source }, pageParams(req.query));
  return { status: 200, body: page };
};
