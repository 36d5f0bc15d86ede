import type { Executor } from '../../../db/index.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { ownedTask } from '../tasks/queries.js';
import { presentReminder, type Reminder } from './present.js';
import { ownedReminder, REMINDER_COLUMNS } from './queries.js';

export interface ReminderFilters {
  taskId?: string;
  fired?: boolean;
}

/** The user's reminders (of one task when `taskId` is given, 403/404 for it), by time. */
export async function listReminders(db: Executor, { userId, filter: f, page }: { userId: string; filter: ReminderFilters; page: PageParams }) {
  if (f.taskId !== undefined) await ownedTask(db, { userId, taskId: f.taskId });
  const filtered = () => {
    let q = f.taskId !== undefined ? db.selectFrom('reminders').where('task_id', '=', f.taskId) : db.selectFrom('reminders').where('user_id', '=', userId);
    if (f.fired !== undefined) q = q.where('fired', '=', f.fired);
    return q;
  };
  const rows = await filtered().select(REMINDER_COLUMNS).orderBy('scheduled_at').orderBy('id').offset(page.offset).limit(page.limit).execute();
  return toPage(rows, page, { present: presentReminder, countAll: async () => Number((await filtered().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n) });
}

export async function getReminder(db: Executor, userId: string, reminderId: string): Promise<Reminder> {
  return presentReminder(await ownedReminder(db, { userId, reminderId }));
}
