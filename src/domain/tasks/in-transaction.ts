import type { Transaction } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { DB } from '../../../db/schema/index.js';

/**
 * Runs `fn` in a transaction: the caller's when `db` already is one (so a caller such as AI
 * confirm-action can add its own writes to the same commit), a new one otherwise.
 */
export function inTransaction<T>(db: Executor, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<DB>);
  return db.transaction().execute(fn);
}
