import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { SubtaskRow, ReminderRow } from '../../../db/schema/index.js';
import { unauthorized } from '../../core/errors.js';
import { presentCreditEntry } from '../credits/history.js';
import { creditBalance } from '../credits/ledger.js';
import { getMyAchievements } from '../achievements/get-my-achievements.js';
import { presentActivity } from '../activity/list-activity.js';
import { presentFocusSession } from '../focus/focus-sessions.js';
import { presentNote } from '../notes/present.js';
import { presentNotification } from '../notifications/present.js';
import { presentPushSubscription } from '../push/push-subscriptions.js';
import type { CreditSettings } from '../subscriptions/present.js';
import { presentTombstone } from '../recovery/tombstones.js';
import { presentTaskDetail } from '../tasks/present.js';
import { presentTemplate } from '../templates/present.js';
import { iso, isoOrNull } from '../time.js';
import { presentUser } from './present.js';

// GET /users/me/export. The document is written piece by piece as it is read: each list is read
// in keyset batches (oldest first) and each batch is written before the next is read, so memory
// stays bounded by one batch whatever the size of the account. All reads run in one read-only
// REPEATABLE READ transaction: the document is one consistent snapshot even while the user (or
// the worker) keeps writing.

type AccountExport = components['schemas']['AccountExport'];

/** Rows read (and written) at a time. */
export const EXPORT_BATCH = 500;

/** Receives the document's text in order; resolves when the consumer can take more (backpressure). */
export type ExportSink = (chunk: string) => Promise<void>;

export const exportFileName = (now: Date) => `perpetua-flow-export-${now.toISOString().slice(0, 10)}.json`;

/**
 * Writes `,"name":[` + every item of every batch + `]` to `out` (every list follows the head object);
 * `next` returns [] when there are no more.
 */
const listWriter =
  (out: ExportSink) =>
  async <R>(name: string, next: (after: R | undefined) => Promise<R[]>, present: (rows: R[]) => unknown[] | Promise<unknown[]>): Promise<void> => {
    await out(`,${JSON.stringify(name)}:[`);
    let after: R | undefined;
    let count = 0;
    for (;;) {
      const rows = await next(after);
      if (rows.length === 0) break;
      const items = await present(rows);
      await out(items.map((item, i) => (count + i === 0 ? '' : ',') + JSON.stringify(item)).join(''));
      count += rows.length;
      after = rows[rows.length - 1];
      if (rows.length < EXPORT_BATCH) break;
    }
    await out(']');
  };

/** Keyset batches of one user-owned table in (created_at, id) order. */
const byCreated =
  <T extends 'task_instances' | 'task_templates' | 'notes' | 'notifications' | 'deletion_tombstones' | 'focus_sessions' | 'voice_sessions' | 'credit_purchases' | 'push_subscriptions' | 'activity_logs'>(
    trx: Executor,
    table: T,
    userId: string,
  ) =>
  async (after: { id: string } | undefined) =>
    (await trx
      .selectFrom(table as 'notes')
      .selectAll()
      .where('user_id', '=', userId)
      // The previous row's own created_at (microseconds; a JS Date would round it to milliseconds).
      .$if(after !== undefined, (q) => q.where(sql<boolean>`(created_at, id) > (select p.created_at, p.id from ${sql.table(table)} p where p.id = ${after!.id})`))
      .orderBy('created_at')
      .orderBy('id')
      .limit(EXPORT_BATCH)
      .execute()) as never[];

/**
 * Streams the user's export to `out`. Throws 401 before writing anything when the account no longer
 * exists (a token that outlived its account).
 */
export async function exportAccount(db: Database, { settings, userId, out, now = new Date() }: { settings: CreditSettings; userId: string; out: ExportSink; now?: Date }): Promise<void> {
  const writeList = listWriter(out);
  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const user = await trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
      if (!user) throw unauthorized('The account no longer exists');

      const head: Pick<AccountExport, 'format' | 'version' | 'exported_at' | 'user'> = {
        format: 'perpetua-flow-export',
        version: 1,
        exported_at: iso(now),
        user: presentUser(user),
      };
      await out(JSON.stringify(head).slice(0, -1));

      await writeList('tasks', byCreated(trx, 'task_instances', userId), async (tasks: any[]) => {
        const ids = tasks.map((t) => t.id as string);
        const [subtasks, reminders] = await Promise.all([
          trx.selectFrom('subtasks').selectAll().where('task_id', 'in', ids).orderBy('task_id').orderBy('order_index').execute(),
          trx.selectFrom('reminders').selectAll().where('task_id', 'in', ids).orderBy('scheduled_at').orderBy('id').execute(),
        ]);
        const subtasksOf = groupBy(subtasks, (s: SubtaskRow) => s.task_id);
        const remindersOf = groupBy(reminders, (r: ReminderRow) => r.task_id);
        return tasks.map((t) => {
          const own = subtasksOf.get(t.id) ?? [];
          return presentTaskDetail({ ...t, subtask_count: own.length, subtask_completed_count: own.filter((s) => s.completed).length }, own, remindersOf.get(t.id) ?? []);
        });
      });
      await writeList('templates', byCreated(trx, 'task_templates', userId), (rows: any[]) => rows.map(presentTemplate));
      await writeList('notes', byCreated(trx, 'notes', userId), (rows: any[]) => rows.map(presentNote));
      await writeList('notifications', byCreated(trx, 'notifications', userId), (rows: any[]) => rows.map(presentNotification));
      await writeList('tombstones', byCreated(trx, 'deletion_tombstones', userId), (rows: any[]) =>
        rows.map((r) => ({ ...presentTombstone(r), snapshot: r.snapshot ?? {} })),
      );

      await out(`,"credits":{"balance":${JSON.stringify(await creditBalance(trx, userId))}`);
      await writeList(
        'ledger',
        async (after: { seq: string } | undefined) =>
          trx
            .selectFrom('ai_credit_ledger')
            .selectAll()
            .where('user_id', '=', userId)
            .$if(after !== undefined, (q) => q.where('seq', '>', after!.seq as never))
            .orderBy('seq')
            .limit(EXPORT_BATCH)
            .execute() as Promise<never[]>,
        (rows: any[]) => rows.map(presentCreditEntry),
      );
      await out('}');

      await out(`,"achievements":${JSON.stringify(await getMyAchievements(trx, { settings, userId, now }))}`);
      const unlocks = await trx.selectFrom('user_achievements').select(['achievement_id', 'unlocked_at']).where('user_id', '=', userId).orderBy('unlocked_at').orderBy('achievement_id').execute();
      await out(`,"achievement_unlocks":${JSON.stringify(unlocks.map((u) => ({ achievement_id: u.achievement_id, unlocked_at: iso(u.unlocked_at) })))}`);

      await writeList('focus_sessions', byCreated(trx, 'focus_sessions', userId), (rows: any[]) => rows.map(presentFocusSession));
      await writeList('voice_sessions', byCreated(trx, 'voice_sessions', userId), (rows: any[]) =>
        rows.map((v) => ({
          id: v.id,
          status: v.status,
          end_reason: v.end_reason,
          transcript: v.transcript,
          duration_seconds: Number(v.duration_seconds),
          credits_used: v.credits_used,
          started_at: iso(v.started_at),
          ended_at: isoOrNull(v.ended_at),
        })),
      );

      // Payment references (Checkout.com source, customer, payment ids and page URLs) stay out: they
      // are the provider's handles on a card, not the user's data.
      const sub = await trx.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).executeTakeFirst();
      const subscription: AccountExport['subscription'] = sub
        ? {
            id: sub.id,
            status: sub.status,
            current_period_start: iso(sub.current_period_start),
            current_period_end: iso(sub.current_period_end),
            failed_payment_count: sub.failed_payment_count,
            grace_period_end: isoOrNull(sub.grace_period_end),
            cancelled_at: isoOrNull(sub.cancelled_at),
            access_until: isoOrNull(sub.access_until),
            last_payment_at: isoOrNull(sub.last_payment_at),
            created_at: iso(sub.created_at),
            updated_at: iso(sub.updated_at),
          }
        : null;
      await out(`,"subscription":${JSON.stringify(subscription)}`);
      await writeList('credit_purchases', byCreated(trx, 'credit_purchases', userId), (rows: any[]) =>
        rows.map((p) => ({
          id: p.id,
          amount: p.amount,
          price_minor: p.price_minor,
          currency: p.currency,
          status: p.status,
          completed_at: isoOrNull(p.completed_at),
          created_at: iso(p.created_at),
          updated_at: iso(p.updated_at),
        })),
      );
      // Endpoints only: the keys are secrets of the browser's subscription.
      await writeList('push_subscriptions', byCreated(trx, 'push_subscriptions', userId), (rows: any[]) => rows.map(presentPushSubscription));
      await writeList('activity', byCreated(trx, 'activity_logs', userId), (rows: any[]) => rows.map(presentActivity));
      await out('}');
    });
}

function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}
