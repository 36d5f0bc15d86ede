import { sql } from 'kysely';
import type { Database, Executor } from '../../../db/index.js';
import { lockFor } from '../locks.js';

// The open event streams of every API process, counted per user in PostgreSQL so the limit holds
// across processes. A process deletes a stream's row when the stream ends and renews the lease of
// its open streams; the rows of a process that died expire with their lease.

/** At most this many open streams per user: opening one more ends the oldest. */
export const MAX_STREAMS_PER_USER = 10;
/** A stream's row counts this long after its process last renewed it. */
export const STREAM_LEASE_SECONDS = 90;
/** Notified with the id of a stream ended by a newer one; its process closes it. */
export const STREAM_REPLACED_CHANNEL = 'event_stream_replaced';

/**
 * Registers stream `id` of the user, first ending (deleting, and notifying on
 * STREAM_REPLACED_CHANNEL) as many of the oldest live ones as leave room for it. Returns the ended
 * ids. Under the user's 'event-streams' lock, so concurrent opens cannot both see nine.
 */
export async function registerStream(db: Database, stream: { id: string; userId: string }): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await lockFor(trx, 'event-streams', stream.userId);
    await trx.deleteFrom('event_streams').where('user_id', '=', stream.userId).where('lease_until', '<', sql<Date>`now()`).execute();
    const open = await trx.selectFrom('event_streams').select('id').where('user_id', '=', stream.userId).orderBy('opened_at').orderBy('id').execute();
    const ended = open.slice(0, Math.max(0, open.length - (MAX_STREAMS_PER_USER - 1))).map((r) => r.id);
    if (ended.length) {
      await trx.deleteFrom('event_streams').where('id', 'in', ended).execute();
      await sql`select pg_notify(${STREAM_REPLACED_CHANNEL}, id) from unnest(${ended}::text[]) as id`.execute(trx);
    }
    await trx
      .insertInto('event_streams')
      .values({ id: stream.id, user_id: stream.userId, opened_at: sql<Date>`clock_timestamp()`, lease_until: sql<Date>`now() + make_interval(secs => ${STREAM_LEASE_SECONDS})` })
      .execute();
    return ended;
  });
}

/** Renews the leases of `ids`; returns those still registered (the others were ended meanwhile). */
export async function renewStreams(db: Executor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .updateTable('event_streams')
    .set({ lease_until: sql<Date>`now() + make_interval(secs => ${STREAM_LEASE_SECONDS})` })
    .where('id', 'in', ids)
    .returning('id')
    .execute();
  return new Set(rows.map((r) => r.id));
}

export async function unregisterStream(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('event_streams').where('id', '=', id).execute();
}
