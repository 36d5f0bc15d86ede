import type { Executor } from '../../../db/index.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { ownedReminder } from './queries.js';
import { disarmReminder } from './schedule.js';

/** Deletes the reminder and removes its pending job in the same transaction. */
export async function deleteReminder(db: Executor, actor: Actor, reminderId: string): Promise<{ id: string; deleted: true }> {
  return inTransaction(db, async (trx) => {
    const r = await ownedReminder(trx, { userId: actor.userId, reminderId, opts: { forUpdate: true } });
    await trx.deleteFrom('reminders').where('id', '=', r.id).execute();
    await disarmReminder(trx, r.id);
    await recordActivity(trx, { userId: actor.userId, entityType: 'reminder', entityId: r.id, action: 'reminder_deleted', source: actor.source, requestId: actor.requestId, extra: { task_id: r.task_id } });
    return { id: r.id, deleted: true as const };
  });
}
