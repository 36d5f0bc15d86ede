import type { Database, Executor } from '../../../db/index.js';
import { enqueueJob } from '../../../jobs/enqueue.js';
import type { PushSender } from '../../integrations/web-push.js';
import type { Logger } from '../../core/logging.js';

/** How often one subscription's delivery is tried before it is given up (graphile-worker backs off). */
export const PUSH_MAX_ATTEMPTS = 5;

export const pushJobKey = (notificationId: string, subscriptionId: string) => `push:${notificationId}:${subscriptionId}`;

/**
 * Asks for a Web Push of a notification, in the caller's transaction: the job exists exactly when
 * the notification does, and its delivery (or failure) never blocks or undoes the caller.
 */
export async function enqueuePush(trx: Executor, notificationId: string): Promise<void> {
  await enqueueJob(trx, { name: 'push_deliver', payload: { notificationId }, maxAttempts: PUSH_MAX_ATTEMPTS });
}

/** The JSON a service worker receives (decrypted by the browser). */
export function pushPayload(n: { id: string; type: string; title: string; body: string; action_url: string | null; task_id: string | null }): string {
  return JSON.stringify({ notification_id: n.id, type: n.type, title: n.title, body: n.body, url: n.action_url, task_id: n.task_id, tag: n.id });
}

export type PushDeliveryResult = 'fanned_out' | 'delivered' | 'gone' | 'skipped' | 'failed' | 'refused';

/**
 * The `push_deliver` job. Without a subscription it enqueues one job per subscription of the user,
 * so a slow or failing endpoint is retried alone and never re-sends to the others. With one, it
 * sends: a subscription the push service reports gone (404/410) is deleted (FR-028b); a transient
 * failure (429, 5xx, network) throws so the worker retries it; any other failure is logged.
 * An endpoint whose host now resolves to a non-public address is not connected to: the push is
 * dropped with a warning, not retried, and the subscription is kept — only the push service can
 * say a subscription is gone, and the address is checked again at every delivery.
 */
export async function deliverPush(db: Database, { push, log, payload }: { push: PushSender; log: Logger; payload: { notificationId: string; subscriptionId?: string } }): Promise<PushDeliveryResult> {
  const notification = await db
    .selectFrom('notifications')
    .select(['id', 'user_id', 'type', 'title', 'body', 'action_url', 'task_id'])
    .where('id', '=', payload.notificationId)
    .executeTakeFirst();
  if (!notification) return 'skipped'; // deleted meanwhile, with its user or by them

  if (!payload.subscriptionId) {
    const subscriptions = await db.selectFrom('push_subscriptions').select('id').where('user_id', '=', notification.user_id).execute();
    await db.transaction().execute(async (trx) => {
      for (const s of subscriptions) {
        await enqueueJob(trx, { name: 'push_deliver', payload: { notificationId: notification.id, subscriptionId: s.id }, jobKey: pushJobKey(notification.id, s.id), jobKeyMode: 'preserve_run_at', maxAttempts: PUSH_MAX_ATTEMPTS });
      }
    });
    return subscriptions.length ? 'fanned_out' : 'skipped';
  }

  const subscription = await db.selectFrom('push_subscriptions').selectAll().where('id', '=', payload.subscriptionId).where('user_id', '=', notification.user_id).executeTakeFirst();
  if (!subscription) return 'skipped';
  if (!push.configured) {
    log.warn({ job: 'push_deliver', notification_id: notification.id }, 'Web Push is not configured (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY); push skipped');
    return 'skipped';
  }
  const result = await push.send({ endpoint: subscription.endpoint, p256dh: subscription.p256dh_key, auth: subscription.auth_key }, pushPayload(notification), {
    // A reminder an hour late is noise; an achievement can wait a day for the browser to come online.
    ttlSeconds: notification.type === 'reminder' ? 3600 : 24 * 3600,
    topic: notification.id.replace(/-/g, ''),
  });
  switch (result.outcome) {
    case 'delivered':
      await db.updateTable('push_subscriptions').set({ last_delivered_at: new Date(), updated_at: new Date() }).where('id', '=', subscription.id).execute();
      return 'delivered';
    case 'gone':
      // Only this row: the browser may have re-registered the endpoint with new keys meanwhile.
      await db.deleteFrom('push_subscriptions').where('id', '=', subscription.id).where('p256dh_key', '=', subscription.p256dh_key).execute();
      log.info({ job: 'push_deliver', subscription_id: subscription.id, status: result.statusCode }, 'push subscription gone; deleted');
      return 'gone';
    case 'refused':
      log.warn({ job: 'push_deliver', subscription_id: subscription.id, err: result.message }, 'push endpoint is not a public address; not sent');
      return 'refused';
    case 'failed':
      if (result.retryable) throw new Error(`push delivery failed (${result.statusCode ?? 'network'}): ${result.message}`);
      log.warn({ job: 'push_deliver', subscription_id: subscription.id, status: result.statusCode, err: result.message }, 'push delivery refused; not retried');
      return 'failed';
  }
}
