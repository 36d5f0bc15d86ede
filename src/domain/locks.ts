// Lock order. A transaction that needs several of these locks takes them in this order (skipping
// those it does not need), so two paths never wait on each other in a cycle (PostgreSQL would
// abort one of them with a deadlock error):
//   1. advisory locks (lockFor): the per-user limit locks ('focus', 'active-tasks', 'notes'), then
//      the per-task ones ('subtasks', 'reminders');
//   2. template rows (task_templates);
//   3. task rows (task_instances) and note rows;
//   4. their child rows: subtasks, reminders, focus sessions. Deleting a task locks them after its
//      row (the cascade), so a path holding a child row must not then wait for the task row
//      (subtask changes may: they, like deleteTask, hold the task's 'subtasks' lock first);
//   5. tombstones last: the 'tombstones' lock and deletion_tombstones rows.
//   6. the user row (users), only ever locked by deleting it (account deletion, which takes the
//      'account' and 'subscription' locks first, then deletes rows 2–5 in this order). Inserting
//      any user-owned row takes a KEY SHARE lock on it, so it must come after everything else.
// The 'event-streams' lock (registering a GET /events stream) is taken alone, then its row's
// insert takes the KEY SHARE on the user row (6).
// Event handlers' own locks ('achievements', ...) come after all of these. A path that must read a
// row to learn which lock it needs reads it without a lock, takes the locks in order, then reads it
// again under them. Inserting a row that references a template or task takes a KEY SHARE lock on
// the referenced row: take the referenced row in its place first when it may be deleted meanwhile.

import { sql } from 'kysely';
import type { Executor } from '../../db/index.js';
import { compileOnce } from '../../db/query-shapes.js';

const advisoryLock = compileOnce((v: { name: string }) => sql`select pg_advisory_xact_lock(hashtextextended(${v.name}, 0))`);

/**
 * Serialises, until the end of the current transaction, every transaction that takes the same
 * (purpose, key) lock. Used to count a limit and insert under it without a race: two concurrent
 * creates cannot both see "49 of 50". Always take it inside a transaction, before reading the count.
 */
export async function lockFor(trx: Executor, purpose: string, key: string): Promise<void> {
  await trx.executeQuery(advisoryLock({ name: `${purpose}:${key}` }));
}
