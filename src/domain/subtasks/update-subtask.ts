import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { SubtaskRow } from '../../../db/schema/index.js';
import { archived as archivedError } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit } from '../events/bus.js';
import { lockFor } from '../locks.js';
import { afterCompletion, type AchievementUnlock } from '../tasks/completion.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { presentSubtask, type Subtask } from './present.js';
import { TASK_COLUMNS } from '../tasks/queries.js';
import { countSubtasks, ownedSubtask, SUBTASK_COLUMNS } from './queries.js';

export interface UpdateSubtaskInput {
  title?: string;
  completed?: boolean;
  order_index?: number;
}

export interface SubtaskResult {
  subtask: Subtask;
  unlockedAchievements: AchievementUnlock[];
}

/**
 * PATCH/PUT /subtasks/{id} (FR-020): rename, (un)complete or move. Completing the last open subtask
 * completes the task (`completed_by: auto`, FR-009) in the same transaction.
 */
export async function updateSubtask(db: Executor, { actor, subtaskId, input }: { actor: Actor; subtaskId: string; input: UpdateSubtaskInput }): Promise<SubtaskResult> {
  const now = new Date();
  const title = input.title?.trim();
  return inTransaction(db, async (trx) => {
    const first = await ownedSubtask(trx, actor.userId, subtaskId);
    await lockFor(trx, 'subtasks', first.task.id);
    // Read again under the lock: the subtask may have moved or gone meanwhile.
    const { subtask, task } = await ownedSubtask(trx, actor.userId, subtaskId);
    if (task.archived) throw archivedError();

    const set: Partial<Pick<SubtaskRow, 'title' | 'completed' | 'completed_at' | 'order_index'>> = {};
    const changed: string[] = [];
    if (title !== undefined && title !== subtask.title) {
      set.title = title;
      changed.push('title');
    }
    const completing = input.completed === true && !subtask.completed;
    const reopening = input.completed === false && subtask.completed;
    if (completing) Object.assign(set, { completed: true, completed_at: now });
    if (reopening) Object.assign(set, { completed: false, completed_at: null });
    if (input.order_index !== undefined) {
      const last = (await countSubtasks(trx, task.id)) - 1;
      const to = Math.min(input.order_index, last);
      const from = subtask.order_index;
      if (to !== from) {
        // Shift the ones between the old and the new position by one, toward the gap.
        await trx
          .updateTable('subtasks')
          .set({ order_index: to < from ? sql<number>`order_index + 1` : sql<number>`order_index - 1`, updated_at: now })
          .where('task_id', '=', task.id)
          .where('order_index', '>=', Math.min(from, to) + (to < from ? 0 : 1))
          .where('order_index', '<=', Math.max(from, to) - (to < from ? 1 : 0))
          .execute();
        set.order_index = to;
        changed.push('order_index');
      }
    }
    if (!completing && !reopening && changed.length === 0) return { subtask: presentSubtask(subtask), unlockedAchievements: [] };

    const row = await trx.updateTable('subtasks').set({ ...set, updated_at: now }).where('id', '=', subtask.id).returning(SUBTASK_COLUMNS).executeTakeFirstOrThrow();
    const unlocked: AchievementUnlock[] = [];
    if (changed.length > 0) {
      await recordActivity(trx, { userId: actor.userId, entityType: 'subtask', entityId: row.id, action: 'subtask_updated', source: actor.source, requestId: actor.requestId, extra: { task_id: task.id, fields: changed } });
    }
    if (reopening) {
      await recordActivity(trx, { userId: actor.userId, entityType: 'subtask', entityId: row.id, action: 'subtask_reopened', source: actor.source, requestId: actor.requestId, extra: { task_id: task.id } });
    }
    if (completing) {
      unlocked.push(...(await emit(trx, { type: 'subtask.completed', taskId: task.id, subtaskId: row.id }, actor)).unlockedAchievements);
      await recordActivity(trx, { userId: actor.userId, entityType: 'subtask', entityId: row.id, action: 'subtask_completed', source: actor.source, requestId: actor.requestId, extra: { task_id: task.id } });
      unlocked.push(...(await autoCompleteTask(trx, { actor, taskId: task.id, now })));
    }
    return { subtask: presentSubtask(row), unlockedAchievements: unlocked };
  });
}

/** FR-009: when no open subtask is left, completes the task with `completed_by: auto` (once). */
async function autoCompleteTask(trx: Executor, { actor, taskId, now }: { actor: Actor; taskId: string; now: Date }): Promise<AchievementUnlock[]> {
  const open = await trx.selectFrom('subtasks').select('id').where('task_id', '=', taskId).where('completed', '=', false).limit(1).executeTakeFirst();
  if (open) return [];
  const task = await trx
    .updateTable('task_instances')
    .set({ completed: true, completed_at: now, completed_by: 'auto', version: sql<number>`version + 1`, updated_at: now })
    .where('id', '=', taskId)
    .where('completed', '=', false)
    .where('archived', '=', false)
    .returning(TASK_COLUMNS)
    .executeTakeFirst();
  if (!task) return [];
  return afterCompletion(trx, { actor, task, completedBy: 'auto' });
}
