import { sql } from 'kysely';
import { enqueueJob, removeJob } from '../../../jobs/enqueue.js';
import type { Executor } from '../../../db/index.js';
import type { ReminderRow, TaskRow } from '../../../db/schema/index.js';
import { recordActivity } from '../activity/record-activity.js';
import { REMINDER_COLUMNS } from './queries.js';
import type { Actor } from '../actor.js';

// Each pending reminder is exactly one graphile-worker job keyed by its id: arming it again
// replaces the waiting job (a changed time never fires twice), disarming removes it.

export const reminderJobKey = (reminderId: string) => `reminder:${reminderId}`;

/** Schedules (or reschedules) the reminder's job at its time; a time in the past runs at once. */
export async function armReminder(trx: Executor, r: Pick<ReminderRow, 'id' | 'scheduled_at'>): Promise<void> {
  await enqueueJob(trx, { name: 'reminder_fire', payload: { reminderId: r.id }, runAt: r.scheduled_at, jobKey: reminderJobKey(r.id), jobKeyMode: 'replace' });
}

export async function disarmReminder(trx: Executor, reminderId: string): Promise<void> {
  await removeJob(trx, reminderJobKey(reminderId));
}

/** Arms a pending reminder, disarms a fired one: the job queue follows the row. */
export async function syncReminderJob(trx: Executor, r: ReminderRow): Promise<void> {
  if (r.fired) await disarmReminder(trx, r.id);
  else await armReminder(trx, r);
}

/**
 * FR-026: after the task's due date changed, moves its `before`/`after` reminders with it. A reminder
 * whose new time is in the future is re-armed (even if it had fired); a pending one whose new time
 * has passed fires at once. Clearing the due date deletes them; `absolute` reminders stay.
 */
export async function moveRelativeReminders(trx: Executor, { task, actor, now }: { task: TaskRow; actor: Actor; now: Date }): Promise<void> {
  if (task.due_date === null) {
    const gone = await trx
      .deleteFrom('reminders')
      .where('task_id', '=', task.id)
      .where('type', 'in', ['before', 'after'])
      .returning('id')
      .execute();
    for (const r of gone) {
      await disarmReminder(trx, r.id);
      await recordActivity(trx, { userId: task.user_id, entityType: 'reminder', entityId: r.id, action: 'reminder_deleted', source: actor.source, requestId: actor.requestId, extra: { task_id: task.id, reason: 'due_date_cleared' } });
    }
    return;
  }
  const newTime = sql<Date>`${task.due_date}::timestamptz + make_interval(mins => offset_minutes)`;
  const moved = await trx
    .updateTable('reminders')
    .set({
      scheduled_at: newTime,
      fired: sql<boolean>`case when ${newTime} > ${now}::timestamptz then false else fired end`,
      fired_at: sql<Date | null>`case when ${newTime} > ${now}::timestamptz then null else fired_at end`,
      updated_at: now,
    })
    .where('task_id', '=', task.id)
    .where('type', 'in', ['before', 'after'])
    .returning(REMINDER_COLUMNS)
    .execute();
  for (const r of moved) {
    await syncReminderJob(trx, r);
    await recordActivity(trx, { userId: task.user_id, entityType: 'reminder', entityId: r.id, action: 'reminder_rescheduled', source: actor.source, requestId: actor.requestId, extra: { task_id: task.id, scheduled_at: r.scheduled_at.toISOString() } });
  }
}
