import { everyColumn } from '../../../db/columns.js';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { SubtaskRow, TaskRow } from '../../../db/schema/index.js';
import { DomainError, forbidden, notFound } from '../../core/errors.js';
import type { EffectiveLimits } from '../limits/effective-limits.js';
import { TASK_COLUMNS } from '../tasks/queries.js';

/** Every column of a subtask row, for statements that must not read `*` (db/columns.ts). */
export const SUBTASK_COLUMNS = everyColumn<SubtaskRow>()(['id', 'task_id', 'title', 'completed', 'completed_at', 'order_index', 'source', 'created_at', 'updated_at']);

const ofTask = compileOnce((v: { taskId: string }) => shapeBuilder.selectFrom('subtasks').select(SUBTASK_COLUMNS).where('task_id', '=', v.taskId).orderBy('order_index'));

/** A task's subtasks, in their order. */
export async function subtasksOfTask(db: Executor, taskId: string): Promise<SubtaskRow[]> {
  return (await db.executeQuery(ofTask({ taskId }))).rows;
}

/** A subtask with the task it belongs to: 404 when there is none, 403 when it is another user's. */
export async function ownedSubtask(db: Executor, userId: string, subtaskId: string): Promise<{ subtask: SubtaskRow; task: TaskRow }> {
  const subtask = await db.selectFrom('subtasks').select(SUBTASK_COLUMNS).where('id', '=', subtaskId).executeTakeFirst();
  if (!subtask) throw notFound('Subtask');
  const task = await db.selectFrom('task_instances').select(TASK_COLUMNS).where('id', '=', subtask.task_id).executeTakeFirst();
  if (!task) throw notFound('Subtask');
  if (task.user_id !== userId) throw forbidden();
  return { subtask, task };
}

export const subtasksOf = (db: Executor, taskId: string): Promise<SubtaskRow[]> =>
  db.selectFrom('subtasks').select(SUBTASK_COLUMNS).where('task_id', '=', taskId).orderBy('order_index').execute();

const countOfTask = compileOnce((v: { taskId: string }) => shapeBuilder.selectFrom('subtasks').select((eb) => eb.fn.countAll<number>().as('n')).where('task_id', '=', v.taskId));

export async function countSubtasks(db: Executor, taskId: string): Promise<number> {
  return Number((await db.executeQuery(countOfTask({ taskId }))).rows[0]!.n);
}

export const subtaskLimitExceeded = (limits: EffectiveLimits) =>
  new DomainError('LIMIT_EXCEEDED', `This task already has the ${limits.maxSubtasksPerTask} subtasks the ${limits.tier} tier allows`, { extras: { limit: limits.maxSubtasksPerTask } });
