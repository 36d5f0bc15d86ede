import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { archived as archivedError, invalidField } from '../../core/errors.js';
import { paginationOf } from '../../core/pagination.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { lockFor } from '../locks.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { ownedTask } from '../tasks/queries.js';
import { presentSubtask } from './present.js';
import { subtasksOf } from './queries.js';

/**
 * Sets the order of a task's subtasks. The list must be exactly the task's subtasks, each once
 * (a partial or padded list would leave duplicate or missing positions); nothing changes otherwise.
 */
export async function reorderSubtasks(db: Executor, { actor, taskId, subtaskIds }: { actor: Actor; taskId: string; subtaskIds: string[] }) {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    await lockFor(trx, 'subtasks', taskId);
    const task = await ownedTask(trx, { userId: actor.userId, taskId });
    if (task.archived) throw archivedError();
    const existing = new Set((await subtasksOf(trx, taskId)).map((s) => s.id));
    const listed = new Set(subtaskIds.map((id) => id.toLowerCase()));
    if (listed.size !== subtaskIds.length || listed.size !== existing.size || [...listed].some((id) => !existing.has(id))) {
      throw invalidField('body.subtask_ids', 'must list every subtask of the task exactly once');
    }
    const ids = subtaskIds.map((id) => id.toLowerCase());
    await sql`update subtasks s set order_index = (v.position - 1)::int, updated_at = ${now}
      from unnest(${ids}::uuid[]) with ordinality as v(id, position)
      where s.id = v.id and s.task_id = ${taskId} and s.order_index <> (v.position - 1)::int`.execute(trx);
    await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: taskId, action: 'subtasks_reordered', source: actor.source, requestId: actor.requestId, extra: { subtask_ids: ids } });
    const rows = await subtasksOf(trx, taskId);
    return { data: rows.map(presentSubtask), pagination: paginationOf({ offset: 0, limit: 100 }, rows.length) };
  });
}
