import type { Executor } from '../../../db/index.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { ownedTask } from '../tasks/queries.js';
import { presentSubtask } from './present.js';
import { countSubtasks, SUBTASK_COLUMNS } from './queries.js';

/** A page of the task's subtasks in their order. */
export async function listSubtasks(db: Executor, { userId, taskId, page }: { userId: string; taskId: string; page: PageParams }) {
  await ownedTask(db, { userId, taskId });
  const rows = await db
    .selectFrom('subtasks')
    .select(SUBTASK_COLUMNS)
    .where('task_id', '=', taskId)
    .orderBy('order_index')
    .offset(page.offset)
    .limit(page.limit)
    .execute();
  return toPage(rows, page, { present: presentSubtask, countAll: () => countSubtasks(db, taskId) });
}
