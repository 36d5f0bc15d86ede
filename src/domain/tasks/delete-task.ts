import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit } from '../events/bus.js';
import { lockFor } from '../locks.js';
import { writeTombstone } from '../recovery/tombstones.js';
import { disarmReminder } from '../reminders/schedule.js';
import { iso } from '../time.js';
import { inTransaction } from './in-transaction.js';
import { REMINDER_COLUMNS } from '../reminders/queries.js';
import { SUBTASK_COLUMNS } from '../subtasks/queries.js';
import { ownedTask } from './queries.js';
import { snapshotOf } from './snapshot.js';

export type TombstoneResult = components['schemas']['TombstoneResult'];

/**
 * Deletes a task with its subtasks and reminders, leaving a tombstone that restores all three
 * (FR-062); pending reminders are cancelled. Only the user's three newest tombstones are kept.
 */
export async function deleteTask(db: Executor, actor: Actor, taskId: string): Promise<TombstoneResult> {
  return inTransaction(db, async (trx) => {
    await lockFor(trx, 'subtasks', taskId);
    const task = await ownedTask(trx, { userId: actor.userId, taskId, opts: { forUpdate: true } });
    const [subtasks, reminders] = await Promise.all([
      trx.selectFrom('subtasks').select(SUBTASK_COLUMNS).where('task_id', '=', taskId).orderBy('order_index').execute(),
      trx.selectFrom('reminders').select(REMINDER_COLUMNS).where('task_id', '=', taskId).orderBy('scheduled_at').orderBy('id').execute(),
    ]);
    const tombstone = await writeTombstone(trx, {
      userId: actor.userId,
      entityType: 'task',
      entityId: task.id,
      title: task.title,
      snapshot: snapshotOf(task, subtasks, reminders) as unknown as Record<string, unknown>,
    });
    for (const r of reminders) if (!r.fired) await disarmReminder(trx, r.id);
    await trx.deleteFrom('task_instances').where('id', '=', taskId).execute();
    await emit(trx, { type: 'task.deleted', taskId, tombstoneId: tombstone.id }, actor);
    await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: taskId, action: 'task_deleted', source: actor.source, requestId: actor.requestId, extra: { tombstone_id: tombstone.id } });
    return { tombstone_id: tombstone.id, recoverable_until: iso(tombstone.recoverable_until) };
  });
}
