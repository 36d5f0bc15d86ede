import { userActor } from '../domain/actor.js';
import { applySyncCommands as applyCommands } from '../domain/sync/apply-commands.js';
import type { EndReason } from '../domain/live-updates/hub.js';
import { issueEventTicket } from '../domain/live-updates/tickets.js';
import { syncChanges as changesSince } from '../domain/sync/sync-changes.js';
import { caller, type Handler } from '../http/operation.js';
import { openEventStream } from '../http/sse.js';
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

const END_MESSAGES: Record<EndReason, string> = {
  replaced: 'An eleventh stream of this user opened; this was the oldest',
  session_ended: 'The session ended; sign in again',
  account_deleted: 'The account no longer exists',
};

/**
 * GET /events: sync pages as server-sent events (`changes`, its id the cursor), a heartbeat
 * comment, and `end` when the server ends the stream. Written straight to the response: no
 * buffered write, no JSON body, no idempotency (see StreamReply).
 */
export const streamEvents: Handler<'streamEvents'> = async (req, ctx) => {
  const auth = caller(ctx);
  const lastEventId = req.headers['last-event-id'];
  const cursor = lastEventId ?? req.query.cursor;
  const heartbeat = { keepAliveMs: ctx.deps.config.EVENTS_HEARTBEAT_MS, comment: 'heartbeat' };
  if (ctx.method === 'HEAD') {
    // The headers of a stream, and nothing held open: no ticket spent, no stream counted.
    return {
      status: 'stream',
      write: async (res) => {
        openEventStream(res, heartbeat).end();
        return null;
      },
    };
  }
  const follower = await ctx.deps.liveUpdates.open({
    userId: auth.userId,
    sessionId: auth.sessionId,
    cursor,
    cursorField: lastEventId !== undefined ? 'header.last-event-id' : 'query.cursor',
    ticket: auth.eventTicket,
  });
  return {
    status: 'stream',
    async write(res) {
      const events = openEventStream(res, heartbeat);
      await new Promise<void>((resolve) => {
        events.onDisconnect(() => {
          follower.disconnected();
          resolve();
        });
        follower.start({
          page: async (changes) => {
            if (!events.send('changes', changes, changes.cursor)) await events.drained();
          },
          end: (reason) => {
            events.send('end', { reason, message: END_MESSAGES[reason] });
            events.end();
            resolve();
          },
          abort: () => {
            events.finish();
            res.destroy(); // cut, not ended: the client reconnects with its last id
            resolve();
          },
        });
      });
      return null;
    },
  };
};

export const createEventTicket: Handler<'createEventTicket'> = async (_req, ctx) => {
  const { userId, sessionId, email, tier } = caller(ctx);
  const data = await issueEventTicket(ctx.deps.db, { userId, sessionId, email, tier });
  // The secret is not kept for replays (as for the calendar feed's URL).
  return { status: 201, body: { data }, replayBody: { data: { ticket: null, expires_at: data.expires_at } } };
};
