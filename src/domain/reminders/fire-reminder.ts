import { sql } from 'kysely';
import type { Database, Executor } from '../../../db/index.js';
import type { ReminderRow } from '../../../db/schema/index.js';
import { recordActivities } from '../activity/record-activity.js';
import { emit } from '../events/bus.js';
import { createNotifications } from '../notifications/create-notification.js';
import { REMINDER_COLUMNS } from './queries.js';
import { reminderJobKey } from './schedule.js';

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
    const claimed = await trx
      .updateTable('reminders')
      .set({ fired: true, fired_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
      .where('id', '=', reminderId)
      .where('fired', '=', false)
      .where('scheduled_at', '<=', sql<Date>`now()`)
      .returning(REMINDER_COLUMNS)
      .execute();
    return (await notifyFired(trx, claimed))[0]?.outcome ?? 'skipped';
  });
}

/**
 * Fires up to `limit` other reminders that are due, in one transaction, and removes their waiting
 * jobs: when thousands fall due in the same minute, each job that runs takes a batch, instead of
 * each reminder waiting for its own job's turn and commit (bench: 10 000 at one instant). Rows
 * another transaction holds are skipped, never waited for; each is fired exactly as fireReminder
 * fires it. Returns what it fired; fewer than `limit` means none was left.
 */
export async function fireDueReminders(db: Database, limit: number): Promise<{ reminderId: string; outcome: FireOutcome }[]> {
  return db.transaction().execute(async (trx) => {
    const { rows: claimed } = await sql<ReminderRow>`
      with due as (
        select id from reminders where not fired and scheduled_at <= now()
         order by scheduled_at, id limit ${limit} for update skip locked)
      update reminders r set fired = true, fired_at = now(), updated_at = now()
        from due where r.id = due.id
      returning r.*`.execute(trx);
    if (claimed.length > 0) await sql`select graphile_worker.remove_job(k) from unnest(${claimed.map((r) => reminderJobKey(r.id))}::text[]) as k`.execute(trx);
    return notifyFired(trx, claimed);
  });
}

/** The effects of reminders just marked fired, a few statements for any number of them. */
async function notifyFired(trx: Executor, fired: ReminderRow[]): Promise<{ reminderId: string; outcome: FireOutcome }[]> {
  if (fired.length === 0) return [];
  const tasks = new Map(
    (await trx.selectFrom('task_instances').select(['id', 'title', 'due_date', 'completed', 'hidden']).where('id', 'in', [...new Set(fired.map((r) => r.task_id))]).execute()).map((t) => [t.id, t]),
  );
  const notify = fired.filter((r) => {
    const task = tasks.get(r.task_id);
    return task && !task.completed && !task.hidden;
  });
  const notifications = await createNotifications(
    trx,
    notify.map((r) => {
      const task = tasks.get(r.task_id)!;
      return { userId: r.user_id, type: 'reminder', title: 'Task Reminder', body: reminderText(task.title, task.due_date, r.fired_at!), actionUrl: `/tasks/${task.id}`, taskId: task.id, push: r.method === 'push' };
    }),
  );
  const notificationOf = new Map(notify.map((r, i) => [r.id, notifications[i]!.id]));
  await recordActivities(
    trx,
    fired.map((r) => {
      const notificationId = notificationOf.get(r.id);
      return {
        userId: r.user_id,
        entityType: 'reminder',
        entityId: r.id,
        action: 'reminder_fired',
        source: 'system' as const,
        requestId: null,
        extra: notificationId ? { task_id: r.task_id, method: r.method, notified: true, notification_id: notificationId } : { task_id: r.task_id, method: r.method, notified: false },
      };
    }),
  );
  // One event for the batch (outgoing webhooks read the owners of all of them in one query).
  if (notify.length > 0) {
    const reminders = notify.map((r) => ({ reminderId: r.id, userId: r.user_id }));
    await emit(trx, { type: 'reminder.fired', reminders }, { userId: notify[0]!.user_id, source: 'system', requestId: null });
  }
  return fired.map((r) => ({ reminderId: r.id, outcome: notificationOf.has(r.id) ? 'notified' : 'suppressed' }));
}
