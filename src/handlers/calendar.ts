import { createFeed, getFeedStatus, revokeFeed } from '../domain/calendar/feed-tokens.js';
import { renderFeed } from '../domain/calendar/render-feed.js';
import { caller, type Handler } from '../http/operation.js';

export const getCalendarFeed: Handler<'getCalendarFeed'> = async (_req, ctx) => {
  return { status: 200, body: { data: await getFeedStatus(ctx.deps.db, caller(ctx).userId) } };
};

export const createCalendarFeed: Handler<'createCalendarFeed'> = async (_req, ctx) => {
  // Never from the request's Host header: a client could put any address (or markup) in it.
  const { feed, replay } = await createFeed(ctx.deps.db, caller(ctx).userId, ctx.deps.config.PUBLIC_API_URL);
  return { status: 201, body: { data: feed }, replayBody: { data: replay } };
};

export const revokeCalendarFeed: Handler<'revokeCalendarFeed'> = async (_req, ctx) => {
  return { status: 200, body: { data: await revokeFeed(ctx.deps.db, caller(ctx).userId) } };
};

export const getCalendarFeedIcs: Handler<'getCalendarFeedIcs'> = async (req, ctx) => {
  const feed = await renderFeed(ctx.deps.db, req.params.token);
  // Clients may keep a copy but revalidate every time, and shared caches never store a secret URL's answer.
  const headers = { ETag: feed.etag, 'Cache-Control': 'private, no-cache' };
  const held = req.headers['if-none-match'];
  if (held && held.split(',').some((tag) => tag.trim().replace(/^W\//, '') === feed.etag)) return { status: 304, body: undefined, headers };
  return {
    status: 200,
    body: feed.body,
    contentType: 'text/calendar; charset=utf-8',
    headers: { ...headers, 'Content-Disposition': 'inline; filename="perpetua-flow.ics"' },
  };
};
