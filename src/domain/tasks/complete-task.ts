import type { Executor } from '../../../db/index.js';
import type { Actor } from '../actor.js';
import type { TaskResult } from './create-task.js';
import { updateTask } from './update-task.js';

/**
 * A manual completion without a version, exactly like the frontend's `PATCH {completed: true}`;
 * AI `complete_task` (issue #4) calls it. Completing a completed task changes nothing and raises
 * no second `task.completed`.
 */
export function completeTask(db: Executor, actor: Actor, taskId: string): Promise<TaskResult> {
  return updateTask(db, { actor, taskId, input: { completed: true } });
}
