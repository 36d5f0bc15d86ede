import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { SubtaskSource } from '../../../db/schema/index.js';
import { archived as archivedError, invalidField } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import type { AchievementUnlock } from '../tasks/completion.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { ownedTask } from '../tasks/queries.js';
import { presentSubtask, type Subtask } from './present.js';
import { countSubtasks, SUBTASK_COLUMNS, subtaskLimitExceeded } from './queries.js';

export interface SubtasksResult {
  subtasks: Subtask[];
  /** Creating subtasks raises no completion; kept so every use case answers the same way. */
  unlockedAchievements: AchievementUnlock[];
}

/**
 * Adds subtasks to a task, all or nothing (FR-019/021): the tier's per-task limit is counted under
 * the task's subtask lock, so concurrent additions can never pass it. `at` inserts the first one at
 * that position (the rest follow it); omitted or beyond the end, they are appended. Positions stay
 * gapless 0..n-1. `source` records who proposed them (`ai` for confirmed AI suggestions).
 */
const insertOne = compileOnce((v: { taskId: string; title: string; orderIndex: number; source: SubtaskSource; now: Date }) =>
  shapeBuilder.insertInto('subtasks').values({ task_id: v.taskId, title: v.title, order_index: v.orderIndex, source: v.source, created_at: v.now, updated_at: v.now }).returning(SUBTASK_COLUMNS),
);

export async function insertSubtasks(db: Executor, { actor, taskId, titles, source, at }: { actor: Actor; taskId: string; titles: string[]; source: SubtaskSource; at?: number }): Promise<SubtasksResult> {
  const clean = titles.map((t, i) => {
    const title = t.trim();
    if (!title || [...title].length > 200) throw invalidField(titles.length === 1 ? 'body.title' : `subtasks.${i}.title`, 'must have 1 to 200 characters after trimming');
    return title;
  });
  if (clean.length === 0) throw invalidField('subtasks', 'must name at least one subtask');
  const now = new Date();
  return inTransaction(db, async (trx) => {
    await lockFor(trx, 'subtasks', taskId);
    const task = await ownedTask(trx, { userId: actor.userId, taskId });
    if (task.archived) throw archivedError();
    const limits = await effectiveLimits(trx, actor.userId);
    const existing = await countSubtasks(trx, taskId);
    if (existing + clean.length > limits.maxSubtasksPerTask) throw subtaskLimitExceeded(limits);
    const position = Math.min(at ?? existing, existing);
    if (position < existing) {
      await trx
        .updateTable('subtasks')
        .set({ order_index: sql<number>`order_index + ${clean.length}`, updated_at: now })
        .where('task_id', '=', taskId)
        .where('order_index', '>=', position)
        .execute();
    }
    const rows =
      clean.length === 1
        ? (await trx.executeQuery(insertOne({ taskId, title: clean[0]!, orderIndex: position, source, now }))).rows
        : await trx
            .insertInto('subtasks')
            .values(clean.map((title, i) => ({ task_id: taskId, title, order_index: position + i, source, created_at: now, updated_at: now })))
            .returning(SUBTASK_COLUMNS)
            .execute();
    rows.sort((a, b) => a.order_index - b.order_index);
    for (const r of rows) {
      await recordActivity(trx, { userId: actor.userId, entityType: 'subtask', entityId: r.id, action: 'subtask_created', source: actor.source, requestId: actor.requestId, extra: { task_id: taskId, source } });
    }
    return { subtasks: rows.map(presentSubtask), unlockedAchievements: [] };
  });
}

/** For AI `create_subtasks` (issue #4): appends the titles in order, all or nothing, under the limit. */
export function createSubtasks(db: Executor, { actor, taskId, titles, source }: { actor: Actor; taskId: string; titles: string[]; source: SubtaskSource }): Promise<SubtasksResult> {
  return insertSubtasks(db, { actor, taskId, titles, source });
}
