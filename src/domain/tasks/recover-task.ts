import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { conflict } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import { takeTombstone } from '../recovery/tombstones.js';
import { armReminder } from '../reminders/schedule.js';
import { reserveActiveTaskSlot } from './create-task.js';
import { inTransaction } from './in-transaction.js';
import { presentTaskDetail, type TaskDetail } from './present.js';
import { reminderFromSnapshot, subtaskFromSnapshot, taskFromSnapshot, type TaskSnapshot } from './snapshot.js';

/**
 * FR-063/064: restores a deleted task from its tombstone with its original id, fields, version and
 * timestamps, its subtasks and its reminders. No event is raised, so no achievement, streak or
 * recurring generation follows. Reminders whose time has passed come back fired and never fire;
 * later ones are armed again.
 */
export async function recoverTask(db: Executor, actor: Actor, tombstoneId: string): Promise<TaskDetail> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    // Lock order (locks.ts): the active-task lock (also taken by generation, which may be creating
    // this task's successor), then the template the restored row references (so it cannot be
    // deleted before our insert), and the tombstone last.
    await lockFor(trx, 'active-tasks', actor.userId);
    const template = await trx
      .selectFrom('task_templates')
      .select('id')
      .where('id', '=', (eb) =>
        eb.selectFrom('deletion_tombstones').select(sql<string>`(snapshot -> 'task' ->> 'template_id')::uuid`.as('template_id')).where('id', '=', tombstoneId).where('user_id', '=', actor.userId),
      )
      .forKeyShare()
      .executeTakeFirst();
    const tombstone = await takeTombstone(trx, { userId: actor.userId, tombstoneId, entityType: 'task', now });
    const snap = tombstone.snapshot as unknown as TaskSnapshot;
    const task = taskFromSnapshot(snap.task);
    const taken = await trx.selectFrom('task_instances').select('id').where('id', '=', task.id).executeTakeFirst();
    if (taken) throw conflict('A task with this id already exists');
    if (!task.completed && !task.hidden) await reserveActiveTaskSlot(trx, actor.userId, await effectiveLimits(trx, actor.userId));

    if (task.template_id !== null && task.template_id !== template?.id) task.template_id = null;
    if (task.previous_instance_id) {
      // A retried generation may have produced the successor again while this one was deleted.
      const successor = await trx.selectFrom('task_instances').select('id').where('previous_instance_id', '=', task.previous_instance_id).executeTakeFirst();
      if (successor) task.previous_instance_id = null;
    }
    await trx.insertInto('task_instances').values(task).execute();

    const subtasks = snap.subtasks.map(subtaskFromSnapshot);
    if (subtasks.length) await trx.insertInto('subtasks').values(subtasks).execute();

    const reminders = snap.reminders.map(reminderFromSnapshot).map((r) =>
      !r.fired && r.scheduled_at.getTime() <= now.getTime() ? { ...r, fired: true, fired_at: now, updated_at: now } : r,
    );
    if (reminders.length) await trx.insertInto('reminders').values(reminders).execute();
    for (const r of reminders) if (!r.fired) await armReminder(trx, r);

    await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: task.id, action: 'task_recovered', source: actor.source, requestId: actor.requestId, extra: { tombstone_id: tombstone.id } });
    const counts = { subtask_count: subtasks.length, subtask_completed_count: subtasks.filter((s) => s.completed).length };
    return presentTaskDetail({ ...task, ...counts }, [...subtasks].sort((a, b) => a.order_index - b.order_index), [...reminders].sort((a, b) => a.scheduled_at.getTime() - b.scheduled_at.getTime() || (a.id < b.id ? -1 : 1)));
  });
}
