import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { NotificationRow } from '../../../db/schema/index.js';
import { forbidden, notFound } from '../../core/errors.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { presentNotification, type Notification } from './present.js';

async function ownedNotification(db: Executor, userId: string, id: string): Promise<NotificationRow> {
  const row = await db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('Notification');
  if (row.user_id !== userId) throw forbidden();
  return row;
}

const countUnread = async (db: Executor, userId: string) =>
  Number((await db.selectFrom('notifications').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('read', '=', false).executeTakeFirstOrThrow()).n);

/** A page of the user's notifications, newest first, with the count of all unread ones (FR-055). */
export async function listNotifications(db: Executor, { userId, unreadOnly, page }: { userId: string; unreadOnly: boolean; page: PageParams }) {
  const filtered = () => {
    const q = db.selectFrom('notifications').where('user_id', '=', userId);
    return unreadOnly ? q.where('read', '=', false) : q;
  };
  const [rows, unread] = await Promise.all([
    filtered().selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute(),
    countUnread(db, userId),
  ]);
  const pageOf = await toPage(rows, page, { present: presentNotification, countAll: async () => Number((await filtered().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n) });
  return { ...pageOf, unread_count: unread };
}

/** Marks one notification read; `read_at` keeps its first value when it already was. */
export async function markNotificationRead(db: Executor, userId: string, id: string): Promise<Notification> {
  await ownedNotification(db, userId, id);
  const now = new Date();
  const row = await db
    .updateTable('notifications')
    .set({ read: true, read_at: sql<Date>`coalesce(read_at, ${now}::timestamptz)`, updated_at: sql<Date>`case when read then updated_at else ${now}::timestamptz end` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound('Notification');
  return presentNotification(row);
}

/** Marks every unread notification of the user read with one `read_at`; answers how many changed. */
export async function markAllNotificationsRead(db: Executor, userId: string): Promise<{ marked_count: number }> {
  const now = new Date();
  const r = await db.updateTable('notifications').set({ read: true, read_at: now, updated_at: now }).where('user_id', '=', userId).where('read', '=', false).executeTakeFirst();
  return { marked_count: Number(r.numUpdatedRows) };
}

export async function deleteNotification(db: Executor, userId: string, id: string): Promise<{ id: string; deleted: true }> {
  await ownedNotification(db, userId, id);
  await db.deleteFrom('notifications').where('id', '=', id).execute();
  return { id, deleted: true };
}
