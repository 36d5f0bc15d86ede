import { syncChanges as changesSince } from '../domain/sync/sync-changes.js';
import { caller, type Handler } from '../http/operation.js';
import { DEFAULT_LIMIT } from '../core/pagination.js';

export const syncChanges: Handler<'syncChanges'> = async (req, ctx) => {
  return { status: 200, body: { data: await changesSince(ctx.deps.db, { userId: caller(ctx).userId, cursorText: req.query.cursor, limit: req.query.limit ?? DEFAULT_LIMIT }) } };
};
