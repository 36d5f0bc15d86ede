import type { Executor } from '../../../db/index.js';
import type { ReminderMethod, ReminderType } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { parseInstant } from '../tasks/rules.js';
import { presentReminder, type Reminder } from './present.js';
import { ownedReminder, REMINDER_COLUMNS } from './queries.js';
import { syncReminderJob } from './schedule.js';
import { isRelative, relativeTime, signedOffset } from './timing.js';

export interface UpdateReminderInput {
  type?: ReminderType;
  offset_minutes?: number | null;
  scheduled_at?: string;
  method?: ReminderMethod;
}

/**
 * PATCH /reminders/{id} (FR-025): the result obeys the rules of creation and the server recomputes
 * `scheduled_at`. Moving a fired reminder into the future re-arms it; the job is replaced, so it
 * fires once.
 */
export async function updateReminder(db: Executor, { actor, reminderId, input }: { actor: Actor; reminderId: string; input: UpdateReminderInput }): Promise<Reminder> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    const first = await ownedReminder(trx, { userId: actor.userId, reminderId });
    // The task row first (as a due-date change does), then the reminder.
    const task = await trx.selectFrom('task_instances').select(['id', 'due_date']).where('id', '=', first.task_id).forShare().executeTakeFirstOrThrow();
    const current = await ownedReminder(trx, { userId: actor.userId, reminderId, opts: { forUpdate: true } });

    const type = input.type ?? current.type;
    let offset: number | null;
    let scheduledAt: Date;
    if (isRelative(type)) {
      if (input.offset_minutes === null) throw invalidField('body.offset_minutes', 'may be null only for an absolute reminder');
      const minutes = input.offset_minutes ?? (isRelative(current.type) ? current.offset_minutes : null);
      if (minutes == null) throw invalidField('body.offset_minutes', 'is required when changing an absolute reminder to before or after');
      offset = signedOffset(type, minutes);
      scheduledAt = relativeTime(task.due_date, offset);
    } else {
      if (input.offset_minutes) throw invalidField('body.offset_minutes', 'must be omitted, null or 0 for an absolute reminder');
      offset = null;
      scheduledAt = input.scheduled_at !== undefined ? parseInstant(input.scheduled_at, 'body.scheduled_at') : current.scheduled_at;
    }
    const rearm = current.fired && scheduledAt.getTime() > now.getTime();
    const row = await trx
      .updateTable('reminders')
      .set({
        type,
        offset_minutes: offset,
        scheduled_at: scheduledAt,
        method: input.method ?? current.method,
        ...(rearm ? { fired: false, fired_at: null } : {}),
        updated_at: now,
      })
      .where('id', '=', current.id)
      .returning(REMINDER_COLUMNS)
      .executeTakeFirstOrThrow();
    await syncReminderJob(trx, row);
    await recordActivity(trx, { userId: actor.userId, entityType: 'reminder', entityId: row.id, action: 'reminder_updated', source: actor.source, requestId: actor.requestId, extra: { task_id: row.task_id, fields: Object.keys(input) } });
    return presentReminder(row);
  });
}
