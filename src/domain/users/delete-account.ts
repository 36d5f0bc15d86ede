import { sql } from 'kysely';
import type { Database, Executor } from '../../../db/index.js';
import { DomainError, unauthorized } from '../../core/errors.js';
import { lockFor } from '../locks.js';
import { lockSubscription } from '../subscriptions/queries.js';

// DELETE /users/me: the account and every row of its data go in one transaction, leaving one
// anonymous audit entry (account_deletions, no user id, email or name: see its migration).
//
// Concurrency. Every table of the user's data references users (ON DELETE CASCADE), and inserting
// such a row takes a KEY SHARE lock on the user row. The user row is deleted last, after the rows
// of the lock order (src/domain/locks.ts) were deleted in that order, so:
//   * a write of the user still in flight holds its KEY SHARE lock: the final DELETE of the user row
//     waits for it to commit and its rows then go with the cascade;
//   * a write that starts later fails on the foreign key once the deletion commits (a 401: the
//     dispatcher maps it when the caller's account is gone); the auth check finds no user (401).
// Queued jobs are removed at the end, when every such writer has finished, so none is missed.

export interface DeletionCounts {
  [kind: string]: number;
}

const confirmationMismatch = () =>
  new DomainError('CONFIRMATION_MISMATCH', 'To delete the account, send its email address in confirm', {
    details: [{ field: 'body.confirm', message: "is not the account's email address" }],
  });

/** Rows of each kind of data the user has, for the audit entry (numbers only). */
async function countData(trx: Executor, userId: string): Promise<DeletionCounts> {
  const { rows } = await sql<Record<string, string>>`
    select
      (select count(*) from task_instances where user_id = ${userId}) as tasks,
      (select count(*) from subtasks s join task_instances t on t.id = s.task_id where t.user_id = ${userId}) as subtasks,
      (select count(*) from reminders where user_id = ${userId}) as reminders,
      (select count(*) from task_templates where user_id = ${userId}) as templates,
      (select count(*) from notes where user_id = ${userId}) as notes,
      (select count(*) from notifications where user_id = ${userId}) as notifications,
      (select count(*) from deletion_tombstones where user_id = ${userId}) as tombstones,
      (select count(*) from ai_credit_ledger where user_id = ${userId}) as credit_entries,
      (select count(*) from credit_purchases where user_id = ${userId}) as credit_purchases,
      (select count(*) from focus_sessions where user_id = ${userId}) as focus_sessions,
      (select count(*) from voice_sessions where user_id = ${userId}) as voice_sessions,
      (select count(*) from push_subscriptions where user_id = ${userId}) as push_subscriptions,
      (select count(*) from webhooks where user_id = ${userId}) as webhooks,
      (select count(*) from user_achievements where user_id = ${userId}) as achievements,
      (select count(*) from activity_logs where user_id = ${userId}) as activity_entries,
      (select count(*) from refresh_tokens where user_id = ${userId}) as refresh_tokens`.execute(trx);
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
}

/**
 * Removes the user's waiting jobs: reminders to fire, next recurring instances to generate, Web Push
 * deliveries. complete_jobs deletes waiting jobs; one a worker is running right now finishes and
 * finds its rows gone (or fails on the foreign key), and is not retried after that.
 */
async function removeQueuedJobs(trx: Executor, ids: { reminders: string[]; tasks: string[]; templates: string[]; notifications: string[]; webhookDeliveries: string[] }): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    select j.id from graphile_worker._private_jobs j
      join graphile_worker._private_tasks t on t.id = j.task_id
     where (t.identifier = 'reminder_fire' and j.payload->>'reminderId' = any(${ids.reminders}::text[]))
        or (t.identifier = 'recurring_task_generate'
            and (j.payload->>'completedTaskId' = any(${ids.tasks}::text[]) or j.payload->>'templateId' = any(${ids.templates}::text[])))
        or (t.identifier = 'push_deliver' and j.payload->>'notificationId' = any(${ids.notifications}::text[]))
        or (t.identifier = 'webhook_deliver' and j.payload->>'deliveryId' = any(${ids.webhookDeliveries}::text[]))`.execute(trx);
  if (rows.length === 0) return 0;
  await sql`select graphile_worker.complete_jobs(${rows.map((r) => r.id)}::bigint[])`.execute(trx);
  return rows.length;
}

/**
 * Deletes the account when `confirm` is its email (case-insensitive); otherwise 400
 * CONFIRMATION_MISMATCH and nothing changes. Returns the id the account had.
 */
export async function deleteAccount(db: Database, { userId, confirm, now = new Date() }: { userId: string; confirm: string; now?: Date }): Promise<{ id: string; counts: DeletionCounts }> {
  return db.transaction().execute(async (trx) => {
    // Two deletions of one account (a double click) run one after the other; the second finds no user.
    await lockFor(trx, 'account', userId);
    const user = await trx.selectFrom('users').select(['id', 'email']).where('id', '=', userId).executeTakeFirst();
    if (!user) throw unauthorized('The account no longer exists');
    if (confirm.trim().toLowerCase() !== user.email.toLowerCase()) throw confirmationMismatch();

    // The subscription lock first (advisory, like the other per-user locks): a webhook or the hourly
    // renewal job working on it finishes before, and finds no subscription after. Its row goes
    // with the cascade, so no renewal is ever charged again (Checkout.com keeps no schedule of its
    // own: renewals are charges the hourly job makes).
    const subscription = await lockSubscription(trx, userId);
    const counts = await countData(trx, userId);

    // Rows of the lock order, in that order: templates, tasks and notes, their children, tombstones.
    const templates = await trx.deleteFrom('task_templates').where('user_id', '=', userId).returning('id').execute();
    const tasks = await trx.selectFrom('task_instances').select('id').where('user_id', '=', userId).orderBy('id').forUpdate().execute();
    await trx.selectFrom('notes').select('id').where('user_id', '=', userId).orderBy('id').forUpdate().execute();
    const reminders = await trx.deleteFrom('reminders').where('user_id', '=', userId).returning('id').execute();
    await trx.deleteFrom('focus_sessions').where('user_id', '=', userId).execute();
    await trx.deleteFrom('task_instances').where('user_id', '=', userId).execute(); // subtasks by cascade
    await trx.deleteFrom('notes').where('user_id', '=', userId).execute();
    await lockFor(trx, 'tombstones', userId);
    await trx.deleteFrom('deletion_tombstones').where('user_id', '=', userId).execute();
    const notifications = await trx.deleteFrom('notifications').where('user_id', '=', userId).returning('id').execute();
    // Outgoing webhook deliveries still to be sent (their rows go with the cascade below).
    const webhookDeliveries = await trx
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .select('d.id')
      .where('w.user_id', '=', userId)
      .where('d.status', '=', 'pending')
      .execute();

    // Everything else by the cascade: refresh tokens (so no session can be refreshed), the credit
    // ledger and lots, the subscription, purchases, push subscriptions, webhooks and their
    // deliveries, achievements, activity, idempotency keys, and rows written meanwhile by requests
    // that were already running.
    await trx.deleteFrom('users').where('id', '=', userId).execute();

    const jobs = await removeQueuedJobs(trx, {
      reminders: reminders.map((r) => r.id),
      tasks: tasks.map((t) => t.id),
      templates: templates.map((t) => t.id),
      notifications: notifications.map((n) => n.id),
      webhookDeliveries: webhookDeliveries.map((d) => d.id),
    });

    await trx
      .insertInto('account_deletions')
      .values({
        deleted_at: now,
        source: 'user_request',
        subscription_status: subscription?.status ?? 'none',
        counts: JSON.stringify({ ...counts, queued_jobs: jobs }),
      })
      .execute();
    return { id: userId, counts };
  });
}
