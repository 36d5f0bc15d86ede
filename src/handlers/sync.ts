import { userActor } from '../domain/actor.js';
import { applySyncCommands as applyCommands } from '../domain/sync/apply-commands.js';
import { syncChanges as changesSince } from '../domain/sync/sync-changes.js';
import { caller, type Handler } from '../http/operation.js';
import { DEFAULT_LIMIT } from '../core/pagination.js';
import { errorBody, statusOf } from '../http/errors.js';
import { rateLimitHeaders, rateLimitKey } from '../http/rate-limit.js';

export const syncChanges: Handler<'syncChanges'> = async (req, ctx) => {
  return { status: 200, body: { data: await changesSince(ctx.deps.db, { userId: caller(ctx).userId, cursorText: req.query.cursor, limit: req.query.limit ?? DEFAULT_LIMIT }) } };
};

/**
 * Each command counts against the general bucket like its single operation: the pipeline counted
 * the request as one, the rest are counted here before anything is applied (a 429 applies nothing).
 */
export const applySyncCommands: Handler<'applySyncCommands'> = async (req, ctx) => {
  const { commands } = req.body;
  const counted = commands.length > 1 ? await ctx.deps.rateLimits.consume('general', rateLimitKey('general', ctx, caller(ctx).userId), commands.length - 1) : undefined;
  const data = await applyCommands({
    db: ctx.deps.db,
    actor: userActor(ctx),
    commands,
    describeError: (err) => ({ status: statusOf(err), error: errorBody(err, ctx.requestId).error }),
  });
  return { status: 200, body: { data }, ...(counted ? { headers: rateLimitHeaders(counted) } : {}) };
};
