import { randomUUID } from 'node:crypto';
import type { Executor } from '../../../db/index.js';
import type { NotificationRow, NotificationType } from '../../../db/schema/index.js';
import { enqueuePush } from '../push/deliver-push.js';

export { presentNotification, type Notification } from './present.js';

export interface NewNotification {
  userId: string;
  type: NotificationType;
  title: string;
  body: string;
  /** Where the notification leads in the app, as a path (`/tasks/<id>`). */
  actionUrl?: string | null;
  taskId?: string | null;
  /**
   * Issue #5: also deliver it by Web Push to the user's browsers. Enqueues a `push_deliver` job in
   * the same transaction; the push runs after the commit, and its failure never affects the caller.
   */
  push?: boolean;
}

export const TITLE_MAX = 100;
export const BODY_MAX = 500;

/** Cuts at a code-point boundary and marks the cut with an ellipsis. */
function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * Creates an in-app notification in the caller's transaction, so it exists exactly when the change
 * that caused it commits. Title and body are clipped to the contract's 100 and 500 characters.
 * Delivery beyond the in-app list (Web Push) happens only when the caller asks (`push: true`).
 */
export async function createNotification(trx: Executor, n: NewNotification): Promise<NotificationRow> {
  return (await createNotifications(trx, [n]))[0]!;
}

/** createNotification for many at once (one insert): the rows come back in the order given. */
export async function createNotifications(trx: Executor, list: NewNotification[]): Promise<NotificationRow[]> {
  if (list.length === 0) return [];
  // ids chosen here, so each row is matched to its input whatever order RETURNING gives
  const ids = list.map(() => randomUUID());
  const rows = await trx
    .insertInto('notifications')
    .values(
      list.map((n, i) => ({
        id: ids[i]!,
        user_id: n.userId,
        type: n.type,
        title: clip(n.title.trim(), TITLE_MAX) || 'Notification',
        body: clip(n.body, BODY_MAX),
        action_url: n.actionUrl ?? null,
        task_id: n.taskId ?? null,
      })),
    )
    .returningAll()
    .execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const [i, n] of list.entries()) if (n.push) await enqueuePush(trx, ids[i]!); // issue #5
  return ids.map((id) => byId.get(id)!);
}
