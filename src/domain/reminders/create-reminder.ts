import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { ReminderMethod, ReminderType } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { ownedTask } from '../tasks/queries.js';
import { parseInstant } from '../tasks/rules.js';
import { presentReminder, type Reminder } from './present.js';
import { countReminders, REMINDER_COLUMNS, reminderLimitExceeded } from './queries.js';
import { armReminder } from './schedule.js';
import { relativeTime, signedOffset } from './timing.js';

export interface CreateReminderInput {
  type: ReminderType;
  offset_minutes?: number | null;
  /** Ignored for `before`/`after`: the server computes it from the due date. */
  scheduled_at?: string;
  method?: ReminderMethod;
}

const insertReminder = compileOnce(
  (v: { userId: string; taskId: string; type: ReminderType; offset: number | null; method: ReminderMethod; scheduledAt: Date; now: Date }) =>
    shapeBuilder
      .insertInto('reminders')
      .values({ user_id: v.userId, task_id: v.taskId, type: v.type, offset_minutes: v.offset, method: v.method, scheduled_at: v.scheduledAt, created_at: v.now, updated_at: v.now })
      .returning(REMINDER_COLUMNS),
);

/**
 * FR-025: adds a reminder to the caller's task and arms its job. At most 5 per task, fired or not,
 * counted under the task's reminder lock; the task row is locked so its due date cannot move between
 * the computation and the commit.
 */
export async function createReminder(db: Executor, { actor, taskId, input }: { actor: Actor; taskId: string; input: CreateReminderInput }): Promise<Reminder> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    await lockFor(trx, 'reminders', taskId);
    const task = await ownedTask(trx, { userId: actor.userId, taskId, opts: { forUpdate: true } });
    const limits = await effectiveLimits(trx, actor.userId);
    if ((await countReminders(trx, taskId)) >= limits.maxRemindersPerTask) throw reminderLimitExceeded(limits.maxRemindersPerTask);

    let offset: number | null = null;
    let scheduledAt: Date;
    if (input.type === 'absolute') {
      if (input.offset_minutes) throw invalidField('body.offset_minutes', 'must be omitted, null or 0 for an absolute reminder');
      if (input.scheduled_at === undefined) throw invalidField('body.scheduled_at', 'is required for an absolute reminder');
      scheduledAt = parseInstant(input.scheduled_at, 'body.scheduled_at');
    } else {
      if (input.offset_minutes == null) throw invalidField('body.offset_minutes', 'is required for before and after reminders');
      offset = signedOffset(input.type, input.offset_minutes);
      scheduledAt = relativeTime(task.due_date, offset);
    }
    const row = (await trx.executeQuery(insertReminder({ userId: actor.userId, taskId, type: input.type, offset, method: input.method ?? 'in_app', scheduledAt, now }))).rows[0]!;
    await armReminder(trx, row);
    await recordActivity(trx, { userId: actor.userId, entityType: 'reminder', entityId: row.id, action: 'reminder_created', source: actor.source, requestId: actor.requestId, extra: { task_id: taskId, type: row.type, method: row.method } });
    return presentReminder(row);
  });
}
