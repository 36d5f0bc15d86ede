import { sql } from 'kysely';
import type { Database } from '../../../db/index.js';
import { recordActivity } from '../activity/record-activity.js';
import { createNotification } from '../notifications/create-notification.js';
import { enqueuePush } from '../push/deliver-push.js';

export type FireOutcome = 'notified' | 'suppressed' | 'skipped';

const clipTitle = (title: string) => ([...title].length > 50 ? `${[...title].slice(0, 49).join('')}…` : title);

function span(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.round(hours / 24);
  return `${days} days`;
}

/** "'Report' is due in 1 hour", "'Report' was due 2 hours ago", "'Report' is due now", "Reminder: 'Report'". */
export function reminderText(title: string, due: Date | null, now: Date): string {
  const t = `'${clipTitle(title)}'`;
  if (!due) return `Reminder: ${t}`;
  const ms = due.getTime() - now.getTime();
  if (Math.abs(ms) < 60_000) return `${t} is due now`;
  return ms > 0 ? `${t} is due in ${span(ms)}` : `${t} was due ${span(-ms)} ago`;
}

/**
 * The `reminder_fire` job (FR-027, SC-012). Marks the reminder fired with a conditional update and
 * creates its in-app notification only when that update won, in one transaction: a retried or
 * concurrently run job notifies exactly once. A job that finds the reminder deleted, fired or moved
 * to a later time does nothing. A reminder whose task is completed or hidden is marked fired
 * without notifying. `push` reminders also get a Web Push job.
 */
export async function fireReminder(db: Database, reminderId: string): Promise<FireOutcome> {
  return db.transaction().execute(async (trx) => {
    const reminder = await trx
      .updateTable('reminders')
      .set({ fired: true, fired_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
      .where('id', '=', reminderId)
      .where('fired', '=', false)
      .where('scheduled_at', '<=', sql<Date>`now()`)
      .returningAll()
      .executeTakeFirst();
    if (!reminder) return 'skipped';
    const task = await trx.selectFrom('task_instances').select(['id', 'title', 'due_date', 'completed', 'hidden']).where('id', '=', reminder.task_id).executeTakeFirst();
    const base = { userId: reminder.user_id, entityType: 'reminder', entityId: reminder.id, action: 'reminder_fired', source: 'system' as const, requestId: null };
    if (!task || task.completed || task.hidden) {
      await recordActivity(trx, { ...base, extra: { task_id: reminder.task_id, method: reminder.method, notified: false } });
      return 'suppressed';
    }
    const notification = await createNotification(trx, {
      userId: reminder.user_id,
      type: 'reminder',
      title: 'Task Reminder',
      body: reminderText(task.title, task.due_date, reminder.fired_at!),
      actionUrl: `/tasks/${task.id}`,
      taskId: task.id,
    });
    if (reminder.method === 'push') await enqueuePush(trx, notification.id);
    await recordActivity(trx, { ...base, extra: { task_id: task.id, method: reminder.method, notified: true, notification_id: notification.id } });
    return 'notified';
  });
}
