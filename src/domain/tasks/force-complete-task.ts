import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { archived as archivedError, conflict } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit } from '../events/bus.js';
import { lockFor } from '../locks.js';
import { completionEvent, type AchievementUnlock } from './completion.js';
import { inTransaction } from './in-transaction.js';
import { presentTask, type Task } from './present.js';
import { ownedTask, TASK_COLUMNS, withCounts } from './queries.js';
import { checkVersions } from './rules.js';
import { staleVersionError } from './update-task.js';

export interface ForceCompleteResult {
  task: Task;
  unlockedAchievements: AchievementUnlock[];
  streak: number;
}

/**
 * FR-010: completes the task and all its open subtasks with one timestamp (`completed_by: force`).
 * Needs the current version; a completed task is a 409 so nothing is counted twice.
 */
export async function forceCompleteTask(db: Executor, { actor, taskId, version, ifMatch }: { actor: Actor; taskId: string; version: number; ifMatch?: number }): Promise<ForceCompleteResult> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    // Subtask changes of this task wait for us, so no subtask is added while we cascade.
    await lockFor(trx, 'subtasks', taskId);
    const current = await ownedTask(trx, { userId: actor.userId, taskId });
    checkVersions(current.version, version, ifMatch);
    if (current.archived) throw archivedError();
    if (current.completed) throw conflict('The task is already completed');

    const row = await trx
      .updateTable('task_instances')
      .set({ completed: true, completed_at: now, completed_by: 'force', version: sql<number>`version + 1`, updated_at: now })
      .where('id', '=', taskId)
      .where('version', '=', version)
      .returning(TASK_COLUMNS)
      .executeTakeFirst();
    if (!row) throw await staleVersionError(trx, { taskId, expected: version, viaIfMatch: ifMatch !== undefined });

    const cascaded = await trx
      .updateTable('subtasks')
      .set({ completed: true, completed_at: now, updated_at: now })
      .where('task_id', '=', taskId)
      .where('completed', '=', false)
      .returning('id')
      .execute();
    const unlocked: AchievementUnlock[] = [];
    for (const s of cascaded) {
      unlocked.push(...(await emit(trx, { type: 'subtask.completed', taskId, subtaskId: s.id }, actor)).unlockedAchievements);
      await recordActivity(trx, { userId: actor.userId, entityType: 'subtask', entityId: s.id, action: 'subtask_completed', source: actor.source, requestId: actor.requestId, extra: { task_id: taskId, via: 'force_complete' } });
    }
    const completion = await completionEvent(trx, { actor, task: row, completedBy: 'force' });
    unlocked.push(...completion.unlockedAchievements);
    // The streak as the achievements domain reported it on the bus, after counting this completion.
    if (completion.streak === undefined) throw new Error('No task.completed subscriber reported the streak');
    return { task: presentTask(await withCounts(trx, row)), unlockedAchievements: unlocked, streak: completion.streak };
  });
}
