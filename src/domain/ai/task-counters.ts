import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { DomainError } from '../../core/errors.js';

// FR-035: AI requests about one task are counted per session, which the seed plan ends with every
// new access token (a sign-in or a refresh): the session id here is the access token's jti.
// The 5th to the 10th successful request carry a warning; the 11th is refused. Only successful
// (charged) requests count, and they are counted in the transaction that reserves their credit
// before the provider is asked; releaseTaskRequest gives the slot back with the refund when the
// request fails.

export const TASK_REQUESTS_WARN_FROM = 5;
export const TASK_REQUESTS_MAX = 10;

export const taskLimitReached = () =>
  new DomainError('AI_TASK_LIMIT_REACHED', `You have used the ${TASK_REQUESTS_MAX} AI requests for this task in this session`);

export interface TaskCounterKey {
  userId: string;
  sessionId: string;
  taskId: string;
}

/** Refuses before the provider is called when the task's requests in this session are used up. */
export async function assertTaskQuota(db: Executor, k: TaskCounterKey): Promise<void> {
  const row = await db
    .selectFrom('ai_task_counters')
    .select('count')
    .where('user_id', '=', k.userId)
    .where('session_id', '=', k.sessionId)
    .where('task_id', '=', k.taskId)
    .executeTakeFirst();
  if ((row?.count ?? 0) >= TASK_REQUESTS_MAX) throw taskLimitReached();
}

/**
 * The task's successful requests in this session so far, with its counter row locked until the end
 * of the transaction, so concurrent reservations count one after the other (the row is created at
 * 0 on first use). The reserving transaction then adds its own with addTaskRequests.
 */
export async function lockTaskCounter(trx: Executor, k: TaskCounterKey): Promise<number> {
  const row = await trx
    .insertInto('ai_task_counters')
    .values({ user_id: k.userId, session_id: k.sessionId, task_id: k.taskId, count: 0 })
    .onConflict((oc) => oc.columns(['user_id', 'session_id', 'task_id']).doUpdateSet({ updated_at: new Date() }))
    .returning('count')
    .executeTakeFirstOrThrow();
  return row.count;
}

/** Counts `n` more successful requests on a counter this transaction locked (lockTaskCounter). */
export async function addTaskRequests(trx: Executor, { key: k, n }: { key: TaskCounterKey; n: number }): Promise<void> {
  await trx
    .updateTable('ai_task_counters')
    .set({ count: sql`count + ${n}`, updated_at: new Date() })
    .where('user_id', '=', k.userId)
    .where('session_id', '=', k.sessionId)
    .where('task_id', '=', k.taskId)
    .execute();
}

/** Gives back the slot of a reserved request that failed (in the transaction of its refund). */
export async function releaseTaskRequest(trx: Executor, k: TaskCounterKey): Promise<void> {
  await trx
    .updateTable('ai_task_counters')
    .set({ count: sql`count - 1`, updated_at: new Date() })
    .where('user_id', '=', k.userId)
    .where('session_id', '=', k.sessionId)
    .where('task_id', '=', k.taskId)
    .where('count', '>', 0)
    .execute();
}
