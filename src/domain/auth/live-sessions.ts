import type { Executor } from '../../../db/index.js';
import type { LiveKeyCache, LiveKeys } from '../live-keys.js';

/**
 * Notified by triggers on refresh_tokens (db/migrations/0017) with the session (family) id whenever
 * a session ends: a logout, a refresh token reused after the grace, a newer sign-in, or a live
 * token deleted (with its account, or by hand).
 */
export const SESSION_ENDED_CHANNEL = 'session_ended';

/** A session is live while one of its refresh tokens is neither revoked nor rotated away. */
export const sessionIsLive = async (db: Executor, sessionId: string): Promise<boolean> =>
  (await db.selectFrom('refresh_tokens').select('id').where('family_id', '=', sessionId).where('revoked_at', 'is', null).limit(1).executeTakeFirst()) !== undefined;

/** Which sessions are live, asked for every access token (its `sid`): an ended session's tokens stop at once. */
export const defineLiveSessions = (cache: LiveKeyCache, db: Executor): LiveKeys =>
  cache.define(SESSION_ENDED_CHANNEL, (sessionId) => sessionIsLive(db, sessionId));
