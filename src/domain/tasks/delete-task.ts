import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit } from '../events/bus.js';
import { lockFor } from '../locks.js';
import { writeTombstone } from '../recovery/tombstones.js';
import { disarmReminder } from '../reminders/schedule.js';
import { iso } from '../time.js';
import { inTransaction } from './in-transaction.js';
import { remindersOfTask } from '../reminders/queries.js';
import { subtasksOfTask } from '../subtasks/queries.js';
import { ownedTask } from './queries.js';
import { snapshotOf } from './snapshot.js';

export type TombstoneResult = components['schemas']['TombstoneResult'];

const deleteRow = compileOnce((v: { taskId: string }) => shapeBuilder.deleteFrom('task_instances').where('id', '=', v.taskId));

/**
 * Deletes a task with its subtasks and reminders, leaving a tombstone that restores all three
 * (FR-062); pending reminders are cancelled. Only the user's three newest tombstones are kept.
 */
export async function deleteTask(db: Executor, actor: Actor, taskId: string): Promise<TombstoneResult> {
  return inTransaction(db, async (trx) => {
    await lockFor(trx, 'subtasks', taskId);
    const task = await ownedTask(trx, { userId: actor.userId, taskId, opts: { forUpdate: true } });
    const [subtasks, reminders] = await Promise.all([
      subtasksOfTask(trx, taskId),
      remindersOfTask(trx, taskId),
    ]);
    const tombstone = await writeTombstone(trx, {
      userId: actor.userId,
      entityType: 'task',
      entityId: task.id,
      title: task.title,
      snapshot: snapshotOf(task, subtasks, reminders) as unknown as Record<string, unknown>,
    });
    for (const r of reminders) if (!r.fired) await disarmReminder(trx, r.id);
    await trx.executeQuery(deleteRow({ taskId }));
    await emit(trx, { type: 'task.deleted', taskId, tombstoneId: tombstone.id }, actor);
    await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: taskId, action: 'task_deleted', source: actor.source, requestId: actor.requestId, extra: { tombstone_id: tombstone.id } });
    return { tombstone_id: tombstone.id, recoverable_until: iso(tombstone.recoverable_until) };
  });
}
