import type { Executor } from '../../../db/index.js';
import { forbidden, notFound } from '../../core/errors.js';
import { presentTaskDetail, type TaskDetail } from './present.js';
import { findTaskWithCounts } from './queries.js';

/** The task with its full subtasks and reminders (hidden and archived tasks included). */
export async function getTaskDetail(db: Executor, userId: string, taskId: string): Promise<TaskDetail> {
  const task = await findTaskWithCounts(db, taskId);
  if (!task) throw notFound('Task');
  if (task.user_id !== userId) throw forbidden();
  const [subtasks, reminders] = await Promise.all([
    db.selectFrom('subtasks').selectAll().where('task_id', '=', taskId).orderBy('order_index').execute(),
    db.selectFrom('reminders').selectAll().where('task_id', '=', taskId).orderBy('scheduled_at').orderBy('id').execute(),
  ]);
  return presentTaskDetail(task, subtasks, reminders);
}
