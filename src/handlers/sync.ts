import { syncChanges as changesSince } from '../domain/sync/sync-changes.js';
import { caller, type Handler } from '../http/operation.js';
import { DEFAULT_LIMIT } from '../core/pagination.js';

export const syncChanges: Handler<'syncChanges'> = async (req, ctx) => {
  return { status: 200, body: { data: await changesSince(ctx.deps.db, caller(ctx).userId, req.query.cursor, req.query.limit ?? DEFAULT_LIMIT) } };
};
