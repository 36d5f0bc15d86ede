import type { Executor } from '../../../db/index.js';
import { forbidden, notFound } from '../../core/errors.js';
import { presentTaskDetail, type TaskDetail } from './present.js';
import { remindersOfTask } from '../reminders/queries.js';
import { subtasksOfTask } from '../subtasks/queries.js';
import { findTaskWithCounts } from './queries.js';

/** The task with its full subtasks and reminders (hidden and archived tasks included). */
export async function getTaskDetail(db: Executor, userId: string, taskId: string): Promise<TaskDetail> {
  const task = await findTaskWithCounts(db, taskId);
  if (!task) throw notFound('Task');
  if (task.user_id !== userId) throw forbidden();
  const [subtasks, reminders] = await Promise.all([
    subtasksOfTask(db, taskId),
    remindersOfTask(db, taskId),
  ]);
  return presentTaskDetail(task, subtasks, reminders);
}
