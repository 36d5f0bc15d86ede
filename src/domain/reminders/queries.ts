import { everyColumn } from '../../../db/columns.js';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { ReminderRow } from '../../../db/schema/index.js';
import { DomainError, forbidden, notFound } from '../../core/errors.js';

/** Every column of a reminder row, for statements that must not read `*` (db/columns.ts). */
export const REMINDER_COLUMNS = everyColumn<ReminderRow>()(['id', 'user_id', 'task_id', 'type', 'offset_minutes', 'scheduled_at', 'method', 'fired', 'fired_at', 'created_at', 'updated_at']);

const ofTask = compileOnce((v: { taskId: string }) => shapeBuilder.selectFrom('reminders').select(REMINDER_COLUMNS).where('task_id', '=', v.taskId).orderBy('scheduled_at').orderBy('id'));

/** A task's reminders, soonest first. */
export async function remindersOfTask(db: Executor, taskId: string): Promise<ReminderRow[]> {
  return (await db.executeQuery(ofTask({ taskId }))).rows;
}

/** The caller's reminder: 404 when there is none, 403 when it is another user's. */
export async function ownedReminder(db: Executor, { userId, reminderId, opts = {} }: { userId: string; reminderId: string; opts?: { forUpdate?: boolean } }): Promise<ReminderRow> {
  let q = db.selectFrom('reminders').select(REMINDER_COLUMNS).where('id', '=', reminderId);
  if (opts.forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (!row) throw notFound('Reminder');
  if (row.user_id !== userId) throw forbidden();
  return row;
}

const countOfTask = compileOnce((v: { taskId: string }) => shapeBuilder.selectFrom('reminders').select((eb) => eb.fn.countAll<number>().as('n')).where('task_id', '=', v.taskId));

export async function countReminders(db: Executor, taskId: string): Promise<number> {
  return Number((await db.executeQuery(countOfTask({ taskId }))).rows[0]!.n);
}

export const reminderLimitExceeded = (limit: number) =>
  new DomainError('LIMIT_EXCEEDED', `A task can have at most ${limit} reminders`, { extras: { limit } });
