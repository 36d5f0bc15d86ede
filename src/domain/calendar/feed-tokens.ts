import { createHash, randomBytes } from 'node:crypto';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { CalendarFeedRow } from '../../../db/schema/index.js';
import { notFound } from '../../core/errors.js';
import { isoOrNull } from '../time.js';

// The secret URL of a user's calendar feed. The token is shown once, in the answer that makes it;
// only its SHA-256 is stored (as for refresh tokens), and a feed is found by that hash, so the
// lookup compares no secret byte by byte. One feed per user: making a new one replaces the hash,
// so the previous URL stops working in the same commit.

export type CalendarFeed = components['schemas']['CalendarFeed'];

const PREFIX = 'pfcal_';
export const hashFeedToken = (token: string): string => createHash('sha256').update(token).digest('hex');
const newFeedToken = () => `${PREFIX}${randomBytes(32).toString('base64url')}`;

/** `https://…/api/v1/calendar/<token>.ics` and the same as `webcal://` (which subscribes in Apple Calendar and Outlook). */
export function feedUrls(apiBaseUrl: string, token: string): { url: string; webcal_url: string } {
  const url = `${apiBaseUrl.replace(/\/+$/, '')}/calendar/${token}.ics`;
  return { url, webcal_url: url.replace(/^https?:/, 'webcal:') };
}

const present = (row: CalendarFeedRow | undefined, urls: { url: string; webcal_url: string } | null): CalendarFeed => ({
  active: row !== undefined,
  url: urls?.url ?? null,
  webcal_url: urls?.webcal_url ?? null,
  created_at: isoOrNull(row?.created_at),
  last_fetched_at: isoOrNull(row?.last_fetched_at),
});

/**
 * Makes the user's feed, or rotates it: a new secret each time, the old URL answers 404 from the
 * commit on. `replay` is the same answer without the URL, for the idempotency store.
 */
export async function createFeed(db: Executor, userId: string, apiBaseUrl: string): Promise<{ feed: CalendarFeed; replay: CalendarFeed }> {
  const token = newFeedToken();
  const now = new Date();
  const row = await db
    .insertInto('calendar_feeds')
    .values({ user_id: userId, token_hash: hashFeedToken(token), created_at: now, updated_at: now, last_fetched_at: null })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ token_hash: hashFeedToken(token), created_at: now, updated_at: now, last_fetched_at: null }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return { feed: present(row, feedUrls(apiBaseUrl, token)), replay: present(row, null) };
}

/** Whether the user has a feed, since when, and when a client last fetched it (never the URL: it is not stored). */
export async function getFeedStatus(db: Executor, userId: string): Promise<CalendarFeed> {
  const row = await db.selectFrom('calendar_feeds').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return present(row, null);
}

/** Revokes the feed: its URL answers 404 from now on. 404 when the user has none. */
export async function revokeFeed(db: Executor, userId: string): Promise<CalendarFeed> {
  const gone = await db.deleteFrom('calendar_feeds').where('user_id', '=', userId).returning('user_id').executeTakeFirst();
  if (!gone) throw notFound('Calendar feed');
  return present(undefined, null);
}

/** Clients poll; the fetch time is written at most once a minute. */
const FETCH_NOTE_MS = 60_000;

/** The owner of a feed token, noting the fetch; null for an unknown or revoked token. */
export async function feedOwner(db: Executor, token: string, now = new Date()): Promise<string | null> {
  if (!token.startsWith(PREFIX) || token.length > 100) return null;
  const row = await db.selectFrom('calendar_feeds').select(['user_id', 'last_fetched_at']).where('token_hash', '=', hashFeedToken(token)).executeTakeFirst();
  if (!row) return null;
  if (!row.last_fetched_at || now.getTime() - row.last_fetched_at.getTime() >= FETCH_NOTE_MS) {
    await db.updateTable('calendar_feeds').set({ last_fetched_at: now }).where('user_id', '=', row.user_id).execute();
  }
  return row.user_id;
}
