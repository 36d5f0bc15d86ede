import { sql } from 'kysely';
import type { Executor } from '../../db/index.js';

/**
 * Serialises, until the end of the current transaction, every transaction that takes the same
 * (purpose, key) lock. Used to count a limit and insert under it without a race: two concurrent
 * creates cannot both see "49 of 50". Always take it inside a transaction, before reading the count.
 */
export async function lockFor(trx: Executor, purpose: string, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`${purpose}:${key}`}, 0))`.execute(trx);
}
