import type { Executor } from '../../../db/index.js';
import { QueryShapes, rowOf, rowShape, shapeBuilder } from '../../../db/query-shapes.js';
import type { NewTask, Priority, TaskRow } from '../../../db/schema/index.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit } from '../events/bus.js';
import { effectiveLimits, type EffectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import type { AchievementUnlock } from './completion.js';
import { inTransaction } from './in-transaction.js';
import { presentTask, type Task } from './present.js';
import { countActiveTasks, TASK_COLUMNS } from './queries.js';
import { requestedDue } from './due-string.js';
import { checkDescription, checkDueDate, cleanTitle, taskLimitExceeded } from './rules.js';

export interface CreateTaskInput {
  title: string;
  description?: string;
  priority?: Priority;
  due_date?: string | null;
  /** Natural language ("tomorrow 5pm") in the user's time zone, instead of `due_date`. */
  due_string?: string;
  estimated_duration?: number | null;
}

export interface TaskResult {
  task: Task;
  /** From the event bus; empty when the change unlocked nothing. */
  unlockedAchievements: AchievementUnlock[];
}

/** Takes the user's active-task lock and refuses when one more active task would pass the limit. */
export async function reserveActiveTaskSlot(trx: Executor, userId: string, limits: EffectiveLimits): Promise<void> {
  await lockFor(trx, 'active-tasks', userId);
  if ((await countActiveTasks(trx, userId)) >= limits.maxTasks) throw taskLimitExceeded(limits.maxTasks);
}

const taskInserts = new QueryShapes<NewTask, TaskRow>((v, shape) => shapeBuilder.insertInto('task_instances').values(rowOf<NewTask>(v, shape)).returning(TASK_COLUMNS));

/**
 * Inserts an active task under the active-task limit (FR-046) and raises `task.created` with its
 * activity entry. Validation of the fields is the caller's; used by createTask and by template
 * instance generation.
 */
export async function insertActiveTask(trx: Executor, { actor, values, limits, extra = {} }: { actor: Actor; values: Omit<NewTask, 'user_id'>; limits: EffectiveLimits; extra?: Record<string, unknown> }): Promise<{ row: TaskRow; unlockedAchievements: AchievementUnlock[] }> {
  await reserveActiveTaskSlot(trx, actor.userId, limits);
  const newRow = { ...values, user_id: actor.userId };
  const row = (await trx.executeQuery(taskInserts.query(rowShape(newRow), newRow))).rows[0]!;
  const outcome = await emit(trx, { type: 'task.created', taskId: row.id }, actor);
  await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: row.id, action: 'task_created', source: actor.source, requestId: actor.requestId, extra });
  return { row, unlockedAchievements: outcome.unlockedAchievements };
}

/** FR-007: creates a task (version 1, open, visible) for the actor — from the API or a confirmed AI action. */
export async function createTask(db: Executor, actor: Actor, input: CreateTaskInput): Promise<TaskResult> {
  const now = new Date();
  const title = cleanTitle(input.title);
  return inTransaction(db, async (trx) => {
    const requested = await requestedDue(trx, { userId: actor.userId, input, now });
    const due = requested.due ? checkDueDate(requested.due, now, requested.field) : null;
    const limits = await effectiveLimits(trx, actor.userId);
    const description = checkDescription(input.description ?? '', limits);
    const { row, unlockedAchievements } = await insertActiveTask(
      trx,
      {
        actor,
        values: {
          title,
          description,
          priority: input.priority ?? 'medium',
          due_date: due,
          estimated_duration: input.estimated_duration ?? null,
          created_at: now,
          updated_at: now,
        },
        limits,
      },
    );
    return { task: presentTask({ ...row, subtask_count: 0, subtask_completed_count: 0 }), unlockedAchievements };
  });
}
