import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { archived as archivedError } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { lockFor } from '../locks.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { ownedSubtask } from './queries.js';

/** Deletes a subtask for good and closes the gap in the order. Never completes the task. */
export async function deleteSubtask(db: Executor, actor: Actor, subtaskId: string): Promise<{ id: string; deleted: true }> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    const first = await ownedSubtask(trx, actor.userId, subtaskId);
    await lockFor(trx, 'subtasks', first.task.id);
    const { subtask, task } = await ownedSubtask(trx, actor.userId, subtaskId);
    if (task.archived) throw archivedError();
    await trx.deleteFrom('subtasks').where('id', '=', subtask.id).execute();
    await trx
      .updateTable('subtasks')
      .set({ order_index: sql<number>`order_index - 1`, updated_at: now })
      .where('task_id', '=', task.id)
      .where('order_index', '>', subtask.order_index)
      .execute();
    await recordActivity(trx, { userId: actor.userId, entityType: 'subtask', entityId: subtask.id, action: 'subtask_deleted', source: actor.source, requestId: actor.requestId, extra: { task_id: task.id } });
    return { id: subtask.id, deleted: true as const };
  });
}
